"""
The server's log file under C{twistd --logfile}: opened for append, reopened
on request, never rotated by the server itself.

twistd's own L{twisted.python.logfile.LogFile} fits neither way logrotate
works: it opens an existing file without C{O_APPEND} (after C{copytruncate}
every write lands at the old offset, leaving a hole of NUL bytes at the head),
its C{SIGUSR1} handler renames the file only if the old name still exists (so
after C{create}'s C{mv} it keeps writing the moved file), and every 1 MB it
rotates by listing the directory and renaming every old log in the reactor
thread (with 20,000 old logs, over a second with no poem served).
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, cast

from twisted.python import logfile

__all__ = ["ReopeningLogFile"]


class ReopeningLogFile(logfile.LogFile):
    """
    A log file that leaves rotation to an external tool (logrotate): it is
    opened in append mode, L{reopen} opens the name again (after the tool
    moved the file away), and it never rotates on its own, so writing never
    lists the directory or renames anything.
    """

    def __init__(self, name: str, directory: str, **kw: Any) -> None:
        kw["rotateLength"] = None
        super().__init__(name, directory, **kw)

    def _openFile(self) -> None:
        """
        Open (or create) the file with C{O_APPEND}, so every write goes to the
        current end even after another process truncated it.
        """
        self.closed = False
        self._file = cast(BinaryIO, open(self.path, "ab", 0))
        if self.defaultMode is not None:
            try:
                os.chmod(self.path, self.defaultMode)
            except OSError:
                pass
        self.size = os.fstat(self._file.fileno()).st_size

    def shouldRotate(self) -> bool:
        """Never: rotation is the external tool's job."""
        return False

    def rotate(self) -> None:
        """
        Rotation is left to logrotate: this only reopens the file (so code
        that asks a twistd log file to rotate gets the behaviour logrotate
        needs, without a directory scan).
        """
        self.reopen()
