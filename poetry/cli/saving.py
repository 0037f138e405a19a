"""
C{get-poetry --output-dir}: each poem saved to a file of its own, whole or
not at all.

A poem is written to a temporary name in the target directory and given its
final name only once every byte is written and the file closed, with
C{os.link}, which never replaces an existing file.  A full disk, a quota
or an I/O error therefore never leaves a truncated or empty file under a
poem's name: the temporary file is removed and L{SaveError} says why.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from poetry.addresses import Address

__all__ = ["MAX_NAME_BYTES", "SaveError", "Saver", "file_stem"]

MAX_NAME_BYTES = 200
"""
The longest file name (in bytes, suffixes included) the saver makes.
File systems allow 255; a host name may be 253 characters, so a long one
is cut and a short hash of the whole name keeps it unique.
"""

_SUFFIX_ROOM = len("-1000.txt")


class SaveError(Exception):
    """A poem could not be saved; C{str()} is one line naming the file."""


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("._") or "host"


def file_stem(task: int, width: int, address: Address) -> str:
    """
    The name of task C{task}'s file without C{.txt}: C{TASK-HOST-PORT},
    the task zero-padded to C{width} digits, never longer than
    L{MAX_NAME_BYTES} with its suffixes (the host is then cut and followed
    by 8 hex digits of its SHA-256).
    """
    host = _safe_name(address.host)
    stem = f"{task:0{width}d}-{host}-{address.port}"
    if len(stem) + _SUFFIX_ROOM <= MAX_NAME_BYTES:
        return stem
    digest = hashlib.sha256(address.host.encode("utf-8")).hexdigest()[:8]
    fixed = len(f"{task:0{width}d}--{digest}-{address.port}")
    host = host[: MAX_NAME_BYTES - _SUFFIX_ROOM - fixed]
    return f"{task:0{width}d}-{host}-{digest}-{address.port}"


class Saver:
    """
    Saves poems into C{directory}.

    @ivar width: digits of the task numbers in file names.
    """

    ATTEMPTS = 1000
    """Names tried (C{NAME.txt}, C{NAME-2.txt}, ...) before giving up."""

    def __init__(self, directory: Path, width: int) -> None:
        self.directory = directory
        self.width = width

    def write_all(self, fd: int, data: bytes) -> None:
        """
        Write all of C{data} to the open file C{fd}: the seam where a test
        injects a full disk.

        @raise OSError: if the file system refuses.
        """
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def save(self, task: int, address: Address, data: bytes) -> Path:
        """
        Save C{data} as task C{task}'s poem; return the file's path.

        @raise SaveError: if it could not be written whole; nothing is left
            under a poem's name then.
        """
        stem = file_stem(task, self.width, address)
        try:
            fd, temporary = tempfile.mkstemp(
                prefix=f".{stem}.", suffix=".part", dir=self.directory
            )
        except OSError as e:
            raise SaveError(
                f"cannot write in {self.directory}: {e.strerror or e}"
            ) from None
        try:
            try:
                self.write_all(fd, data)
            finally:
                os.close(fd)
            return self._publish(Path(temporary), stem)
        except OSError as e:
            raise SaveError(
                f"cannot write {self.directory / (stem + '.txt')}: {e.strerror or e}"
            ) from None
        finally:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass

    def _publish(self, temporary: Path, stem: str) -> Path:
        """Give the complete file at C{temporary} its first free final name."""
        for attempt in range(1, self.ATTEMPTS + 1):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = self.directory / f"{stem}{suffix}.txt"
            try:
                os.link(temporary, path)
            except FileExistsError:
                continue
            return path
        raise SaveError(f"no free file name for {stem}.txt")
