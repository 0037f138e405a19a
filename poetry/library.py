"""
The poem library: loading and validating poems, and choosing which poem the
next connection gets.

A L{PoemLibrary} holds every poem as C{bytes} in memory, read once at start-up,
so serving a poem never touches the disk and never re-encodes anything.
"""

from __future__ import annotations

import random as _random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["LibraryError", "PoemFile", "PoemLibrary"]


class LibraryError(ValueError):
    """
    A poem file or directory cannot be used: missing, unreadable, empty, or a
    directory holding no poems.  The message is one line, fit for a usage
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

    @classmethod
    def fromPath(cls, path: str | Path) -> PoemFile:
        """
        Read a poem file.

        @raise LibraryError: if the file is missing, unreadable, not a regular
            file, or empty.
        """
        p = Path(path)
        if p.is_dir():
            raise LibraryError(f"poem file {str(p)!r} is a directory")
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise LibraryError(f"poem file {str(p)!r} does not exist") from None
        except OSError as e:
            raise LibraryError(
                f"cannot read poem file {str(p)!r}: {e.strerror or e}"
            ) from None
        if not data:
            raise LibraryError(f"poem file {str(p)!r} is empty")
        return cls(p.stem, data)


def _bundledFiles() -> list[PoemFile]:
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
    return [PoemFile.fromPath(p) for p in sorted(checkout.glob("*.txt"))]


class PoemLibrary:
    """
    An ordered, non-empty collection of poems, handed out one per connection.

    By default poems are handed out round-robin, in the order given; with
    C{random=True} each pick is independent and uniform.

    @ivar poems: the poems, in order.
    """

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
        self._next = 0

    @classmethod
    def bundled(cls, *, random: bool = False) -> PoemLibrary:
        """The poems that ship with the package."""
        return cls(_bundledFiles(), random=random)

    @classmethod
    def fromPaths(
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
        poems = [PoemFile.fromPath(f) for f in files]
        for d in dirs:
            p = Path(d)
            if not p.is_dir():
                raise LibraryError(f"poem directory {str(p)!r} does not exist")
            found = sorted(q for q in p.glob("*.txt") if q.is_file())
            if not found:
                raise LibraryError(f"poem directory {str(p)!r} holds no *.txt poems")
            poems.extend(PoemFile.fromPath(q) for q in found)
        return cls(poems, random=random)

    def next(self) -> PoemFile:
        """The poem for the next connection."""
        if self.random:
            return self._rng.choice(self.poems)
        poem = self.poems[self._next]
        self._next = (self._next + 1) % len(self.poems)
        return poem

    def __len__(self) -> int:
        return len(self.poems)
