"""
Where C{get-poetry} writes: standard output and standard error as streams
that deliver every byte or say why they could not.

A program's stdout may be a terminal, a file, a full disk (C{/dev/full}), a
pipe that is read late or closed early (C{| head -c 10}), or not open at
all (C{>&-}).  Writing to it through a Python file object blocks the reactor
on a slow reader (so every download and timeout stalls with it) and, on a
non-blocking pipe, silently drops what a short write did not take.
L{FDStream} writes through Twisted's non-blocking write path instead (the
L{twisted.internet.process.ProcessWriter} under
L{twisted.internet.stdio.StandardIO}, without StandardIO's reading of stdin,
which would steal input meant for the shell): writes are buffered by the
reactor, a reader that goes away is noticed at once, and L{close} fires
only once the last byte has reached the file descriptor, or with the error
that stopped it.

L{FileStream} gives the same interface over an ordinary Python file object,
for tests and embedding.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Callable
from typing import IO, Any

from twisted.internet import process
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionAborted, ConnectionDone
from twisted.python.failure import Failure

__all__ = [
    "ClosedStream",
    "FDStream",
    "FileStream",
    "OutputStream",
    "TextWriter",
    "as_stream",
    "describe_error",
    "fd_kind",
    "reserve_standard_fds",
    "same_terminal",
]


def fd_kind(fd: int) -> str:
    """
    What file descriptor C{fd} is: C{"tty"}, C{"fifo"}, C{"socket"},
    C{"file"} (a regular file), C{"device"} (another character or block
    device, such as C{/dev/null} or C{/dev/full}), C{"other"}, or
    C{"closed"}.
    """
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return "closed"
    if os.isatty(fd):
        return "tty"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def reserve_standard_fds() -> set[int]:
    """
    Open C{/dev/null} on each of the standard file descriptors 0, 1 and 2
    that is closed, and return the ones that were.

    A program started with C{>&-} or C{2>&-} would otherwise hand those
    numbers to the next file or socket it opens, and then "write to stdout"
    would write into that socket.  Call it first thing in a program's entry
    point.
    """
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    for fd in sorted(closed):
        opened = os.open(os.devnull, os.O_RDWR)
        if opened != fd:  # pragma: no cover (a lower one was free)
            os.dup2(opened, fd)
            os.close(opened)
    return closed


def describe_error(error: BaseException) -> str:
    """A one-line reason for a failed write: C{No space left on device}."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class OutputStream:
    """
    A byte stream to write to without blocking the reactor.

    @ivar name: what it is, for messages (C{"stdout"}).
    @ivar kind: see L{fd_kind}.
    @ivar error: why writing stopped (an L{OSError}, errno kept), or
        L{None}.
    @ivar written: bytes handed to the stream so far.
    """

    name = "output"
    kind = "other"
    encoding: str | None = "utf-8"
    error: BaseException | None = None

    def __init__(self) -> None:
        self.written = 0
        self._failure_observers: list[Callable[[BaseException], object]] = []

    @property
    def isatty(self) -> bool:
        return self.kind == "tty"

    @property
    def broken(self) -> bool:
        """Whether a write failed (the rest of what is written is dropped)."""
        return self.error is not None

    @property
    def broken_pipe(self) -> bool:
        """Whether the reader went away (EPIPE), as with C{| head}."""
        return isinstance(self.error, BrokenPipeError) or (
            isinstance(self.error, OSError) and self.error.errno == errno.EPIPE
        )

    def on_failure(self, observer: Callable[[BaseException], object]) -> None:
        """Call C{observer(error)} once, if and when a write fails."""
        self._failure_observers.append(observer)

    def _failed(self, error: BaseException) -> None:
        if self.error is not None:
            return
        self.error = error
        observers, self._failure_observers = self._failure_observers, []
        for observer in observers:
            observer(error)

    def write(self, data: bytes) -> None:
        raise NotImplementedError()

    def close(self) -> Deferred[None]:
        """
        No more writes: a L{Deferred} firing (never failing) once every byte
        written has been delivered, or once delivering them failed
        (L{error} then says why).
        """
        return succeed(None)

    def abort(self) -> None:
        """Give up on what is not yet delivered (a second Ctrl-C)."""


class FileStream(OutputStream):
    """
    An L{OutputStream} over a Python file object, written synchronously:
    bytes to a binary file, UTF-8 text to a text one.
    """

    def __init__(self, file: IO[Any], name: str = "output") -> None:
        super().__init__()
        self.file = file
        self.name = name
        self._text = isinstance(file, io.TextIOBase)
        self.encoding = getattr(file, "encoding", None) if self._text else None
        try:
            self.kind = "tty" if file.isatty() else "file"
        except (AttributeError, ValueError, OSError):
            self.kind = "file"

    def write(self, data: bytes) -> None:
        if self.error is not None:
            return
        try:
            if self._text:
                self.file.write(data.decode("utf-8", "replace"))
            else:
                self.file.write(data)
            self.file.flush()
        except OSError as e:
            self._failed(e)
            return
        self.written += len(data)


class ClosedStream(OutputStream):
    """A standard stream that was not open when the program started."""

    kind = "closed"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def write(self, data: bytes) -> None:
        pass


class _NonBlockingWriter(process.ProcessWriter):
    """
    L{process.ProcessWriter} (the writer of L{twisted.internet.stdio}) that
    reports the L{OSError} a write failed with, errno and all, instead of a
    bare C{ConnectionLost}: C{ENOSPC} and C{EPIPE} call for different
    messages and exit statuses.
    """

    def writeSomeData(self, data: bytes) -> int | BaseException:
        try:
            written = os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            return e
        if written == len(data) and self.enableReadHack:
            self.startReading()
        return written


class FDStream(OutputStream):
    """
    An L{OutputStream} on a file descriptor (1 or 2), through Twisted's
    non-blocking writer.  The descriptor is made non-blocking while the
    stream is open and blocking again once it is closed.
    """

    def __init__(
        self, reactor: Any, fd: int, name: str, encoding: str | None = "utf-8"
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.fd = fd
        self.name = name
        self.kind = fd_kind(fd)
        self.delivered = False
        self._closed: list[Deferred[None]] = []
        self._ended = False
        self._writer: _NonBlockingWriter | None = _NonBlockingWriter(
            reactor, self, name, fd
        )

    # The "process" side of ProcessWriter.
    def childConnectionLost(self, name: str, reason: Failure) -> None:
        self._writer = None
        self._ended = True
        if not reason.check(ConnectionDone):
            error = reason.value
            if not isinstance(error, (OSError, ConnectionAborted)):
                # The reader of a pipe went away (seen by readability).
                error = OSError(errno.EPIPE, os.strerror(errno.EPIPE))
            self._failed(error)
        else:
            self.delivered = True
        waiting, self._closed = self._closed, []
        for d in waiting:
            d.callback(None)

    def write(self, data: bytes) -> None:
        if self._writer is None or self.error is not None:
            return
        self.written += len(data)
        self._writer.write(data)

    def close(self) -> Deferred[None]:
        if self._ended:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._closed.append(d)
        if self._writer is not None and not self._writer.disconnecting:
            self._writer.loseConnection()
        return d

    def abort(self) -> None:
        writer = self._writer
        if writer is None:
            return
        writer.stopReading()
        writer.stopWriting()
        writer.connectionLost(Failure(ConnectionAborted()))

    def restore_blocking(self) -> None:
        """Put the descriptor back in blocking mode (before C{os._exit})."""
        from twisted.internet import fdesc

        try:
            fdesc.setBlocking(self.fd)
        except OSError:
            pass


def as_stream(stream: OutputStream | IO[Any] | None, name: str) -> OutputStream:
    """C{stream} as an L{OutputStream}: a file is wrapped, L{None} is closed."""
    if isinstance(stream, OutputStream):
        return stream
    if stream is None:
        return ClosedStream(name)
    return FileStream(stream, name)


def same_terminal(a: OutputStream, b: OutputStream) -> bool:
    """Whether C{a} and C{b} are both the same terminal."""
    if not (a.isatty and b.isatty):
        return False
    fa, fb = getattr(a, "fd", None), getattr(b, "fd", None)
    if fa is not None and fb is not None:
        try:
            return os.fstat(fa).st_rdev == os.fstat(fb).st_rdev
        except OSError:
            return False
    return getattr(a, "file", a) is getattr(b, "file", b)


class TextWriter:
    """
    A text file writing through C{write} (UTF-8, unencodable characters
    replaced), and answering C{isatty} and C{fileno} as C{stream} does: how
    the trace observer and the text timeline write to an L{OutputStream}.
    """

    def __init__(self, write: Callable[[bytes], object], stream: OutputStream) -> None:
        self._write = write
        self._stream = stream
        self.encoding = stream.encoding

    def write(self, text: str) -> int:
        self._write(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._stream.isatty

    def fileno(self) -> int:
        fd = getattr(self._stream, "fd", None)
        if fd is None:
            raise OSError("no file descriptor")
        return int(fd)
