"""
The poem library: loading and validating poems, and choosing which poem the
next connection gets.

A L{PoemLibrary} holds every poem as C{bytes} in memory, read once at start-up,
so serving a poem never touches the disk and never re-encodes anything.
"""

from __future__ import annotations

import os
import random as _random
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from itertools import cycle
from pathlib import Path

__all__ = ["LibraryError", "PoemFile", "PoemLibrary"]


class LibraryError(ValueError):
    """
    A poem file or directory cannot be used: missing, unreadable, empty, not a
    regular file, larger than L{PoemFile.MAX_SIZE}, or a directory holding no
    poems.  The message is one line, fit for a usage
    error.
    """


@dataclass(frozen=True, slots=True)
class PoemFile:
    """
    One poem as the server sends it.

    @ivar name: a short name for logs (the file's stem, e.g. C{"tide"}).
    @ivar data: the exact bytes sent on the wire.
    """

    name: str
    data: bytes

    #: The largest poem file accepted, in bytes.  Every poem is held in
    #: memory for the server's lifetime, so this guards against a file that
    #: would exhaust it (or a device like C{/dev/zero} that never ends).
    MAX_SIZE = 16 * 1024 * 1024

    @classmethod
    def from_path(cls, path: str | Path) -> PoemFile:
        """
        Read a poem file.

        The file is opened without blocking and checked before it is read: a
        FIFO, a device or a socket is refused (reading one could block the
        start-up for ever or never end), and so is a file over L{MAX_SIZE}.

        @raise LibraryError: if the file is missing, unreadable, not a regular
            file, larger than L{MAX_SIZE}, or empty.
        """
        p = Path(path)
        name = repr(str(p))
        if p.is_dir():
            raise LibraryError(f"poem file {name} is a directory")
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise LibraryError(f"poem file {name} does not exist") from None
        except OSError as e:
            raise LibraryError(
                f"cannot read poem file {name}: {e.strerror or e}"
            ) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise LibraryError(f"poem file {name} is not a regular file")
            if info.st_size > cls.MAX_SIZE:
                raise LibraryError(
                    f"poem file {name} is larger than {cls.MAX_SIZE} bytes"
                )
            try:
                data = f.read(cls.MAX_SIZE + 1)
            except OSError as e:
                raise LibraryError(
                    f"cannot read poem file {name}: {e.strerror or e}"
                ) from None
        if len(data) > cls.MAX_SIZE:  # it grew while we read it
            raise LibraryError(f"poem file {name} is larger than {cls.MAX_SIZE} bytes")
        if not data:
            raise LibraryError(f"poem file {name} is empty")
        return cls(p.stem, data)


def _bundled_files() -> list[PoemFile]:
    """
    The poems shipped inside the package (C{poetry.poems} in a wheel), or,
    when running from a checkout that was not installed, the C{poems/}
    directory beside the package.
    """
    try:
        root = resources.files("poetry.poems")
        entries = [e for e in root.iterdir() if e.name.endswith(".txt")]
    except ModuleNotFoundError:
        entries = []
    if entries:
        return [
            PoemFile(e.name[: -len(".txt")], e.read_bytes())
            for e in sorted(entries, key=lambda e: e.name)
        ]
    checkout = Path(__file__).resolve().parent.parent / "poems"
    return [PoemFile.from_path(p) for p in sorted(checkout.glob("*.txt"))]


class PoemLibrary:
    """
    An ordered, non-empty collection of poems, handed out one per connection.

    By default poems are handed out round-robin, in the order given; with
    C{random=True} each pick is independent and uniform.

    @ivar poems: the poems, in order.
    """

    #: C{next()}: the poem for the next connection.  A C callable (an
    #: C{itertools.cycle}'s C{__next__}, or C{rng.choice} on the poems), so
    #: that the pick made for every connection costs no Python frame.
    next: Callable[[], PoemFile]

    def __init__(
        self,
        poems: Iterable[PoemFile],
        *,
        random: bool = False,
        rng: _random.Random | None = None,
    ) -> None:
        self.poems: Sequence[PoemFile] = tuple(poems)
        if not self.poems:
            raise LibraryError("the poem library is empty")
        self.random = random
        self._rng = rng if rng is not None else _random.Random()
        if random:
            self.next = partial(self._rng.choice, self.poems)
        else:
            self.next = cycle(self.poems).__next__

    @classmethod
    def bundled(cls, *, random: bool = False) -> PoemLibrary:
        """The poems that ship with the package."""
        return cls(_bundled_files(), random=random)

    @classmethod
    def from_paths(
        cls,
        files: Iterable[str | Path] = (),
        dirs: Iterable[str | Path] = (),
        *,
        random: bool = False,
    ) -> PoemLibrary:
        """
        Load poems from files and from every C{*.txt} file in directories.

        @raise LibraryError: for any unusable file, a missing directory, or a
            directory with no poems in it.
        """
        poems = [PoemFile.from_path(f) for f in files]
        for d in dirs:
            p = Path(d)
            if not p.exists():
                raise LibraryError(f"poem directory {str(p)!r} does not exist")
            if not p.is_dir():
                raise LibraryError(f"poem directory {str(p)!r} is not a directory")
            found = sorted(q for q in p.glob("*.txt") if q.is_file())
            if not found:
                raise LibraryError(f"poem directory {str(p)!r} holds no *.txt poems")
            poems.extend(PoemFile.from_path(q) for q in found)
        return cls(poems, random=random)

    def __len__(self) -> int:
        return len(self.poems)
