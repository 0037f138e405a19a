"""
The server's log file under C{twistd --logfile}: opened for append, reopened
on request, never rotated by the server itself; and the buffered observer
that writes twistd's log to it (L{BufferedFileLogObserver}).

twistd's own L{twisted.python.logfile.LogFile} fits neither way logrotate
works: it opens an existing file without C{O_APPEND} (after C{copytruncate}
every write lands at the old offset, leaving a hole of NUL bytes at the head),
its C{SIGUSR1} handler renames the file only if the old name still exists (so
after C{create}'s C{mv} it keeps writing the moved file), and every 1 MB it
rotates by listing the directory and renaming every old log in the reactor
thread (with 20,000 old logs, over a second with no poem served).
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from typing import IO, Any, BinaryIO, cast

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import (
    ILogObserver,
    LogEvent,
    formatEventAsClassicLogText,
    formatTime,
    timeFormatRFC3339,
)
from twisted.python import logfile
from zope.interface import implementer

__all__ = ["BufferedFileLogObserver", "ReopeningLogFile"]


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


@implementer(ILogObserver)
class BufferedFileLogObserver:
    """
    A text log observer, like L{twisted.logger.textFileLogObserver} (the
    same lines: C{formatEventAsClassicLogText} with RFC 3339 timestamps),
    that buffers the events of busy namespaces and writes them in one
    C{write} and C{flush}, as nginx's C{access_log ... buffer=} does.

    Writing each line at once costs a write and a flush per event: at
    thousands of connections a second, more than serving a small poem.
    So an event of one of C{namespaces} (the access log, the lifecycle
    trace) is formatted at once (its own C{log_time}: the line says when
    it happened, not when it was written) and its text waits.  Waiting
    text is written:

      - once it passes L{MAX_BUFFER} bytes;
      - L{FLUSH_DELAY} seconds after the first of it began to wait (one
        timer on C{clock}, armed only while text waits);
      - at once before any other event (start-up and stop lines,
        warnings, errors, twistd's own "Server Shut Down."), so the file
        keeps the events' order and the last lines of a stopping or
        failing server are never held back;
      - on L{flush} (before the log file is reopened).

    A process killed outright (C{SIGKILL}, a crash of the interpreter)
    loses what waits: at most L{MAX_BUFFER} bytes, at most L{FLUSH_DELAY}
    seconds of access lines.

    @cvar MAX_BUFFER: the most text, in bytes (roughly: characters), held
        before it is written; it bounds the memory held and what a crash
        loses.
    @cvar FLUSH_DELAY: the longest, in seconds, text waits.
    """

    MAX_BUFFER = 64 * 1024
    FLUSH_DELAY = 0.5

    def __init__(
        self,
        out: IO[Any],
        clock: IReactorTime,
        namespaces: Collection[str],
        *,
        time_format: str | None = timeFormatRFC3339,
    ) -> None:
        """
        @param out: where the text goes: a file opened for binary writing
            (UTF-8 is written), such as a L{ReopeningLogFile}.
        @param clock: what runs the flush timer.
        @param namespaces: the C{log_namespace}s whose events are buffered.
        @param time_format: the timestamps' C{strftime} format, to the
            second (as twistd's default, RFC 3339): a timestamp is
            computed once per second.
        """
        self.out = out
        self.clock = clock
        self.namespaces = frozenset(namespaces)
        self._time_format = time_format
        self._waiting: list[str] = []
        self._size = 0
        self._timer: IDelayedCall | None = None
        # The timestamp of the second [_second, _second_end) (0 and 0 when
        # none is cached yet).
        self._second = 0.0
        self._second_end = 0.0
        self._stamp = ""
        # The head of a line ("{stamp} [{namespace}#{level}] ") of the last
        # namespace and level, and its second [_head_start, _head_end).
        self._head = ""
        self._head_start = 0.0
        self._head_end = 0.0
        self._head_namespace: object = None
        self._head_level: object = None

    def _format_time(self, when: float | None) -> str:
        """C{formatTime}, computed once per second (its resolution)."""
        if when is None or self._time_format is None:
            return formatTime(when, self._time_format)
        if not self._second <= when < self._second_end:
            # floor, not int: -0.5 is in the second that began at -1.
            second = math.floor(when)
            self._stamp = formatTime(second, self._time_format)
            self._second, self._second_end = float(second), float(second + 1)
        return self._stamp

    def _head_for(self, when: float | None, namespace: object, level: Any) -> str:
        """
        The head of the line of an event at C{when} of C{namespace} and
        C{level} (the timestamp and C{[namespace#level]}), its newlines
        indented as twistd indents them; cached for the rest of the second
        if C{namespace} is a L{str}.
        """
        stamp = self._format_time(when)
        head = f"{stamp} [{namespace}#{level.name}] ".replace("\n", "\n\t")
        if when is not None and type(namespace) is str:
            # Only a str: another object's format() may change.
            self._head = head
            self._head_start, self._head_end = self._second, self._second_end
            self._head_namespace = namespace
            self._head_level = level
        return head

    def _format(self, event: LogEvent) -> str | None:
        """
        C{formatEventAsClassicLogText(event)}, the text twistd writes, with
        this observer's timestamps: what L{__call__} does not format itself.
        """
        return formatEventAsClassicLogText(event, formatTime=self._format_time)

    def __call__(self, event: LogEvent) -> None:
        """
        Format C{event}; write it now or let it wait (see above).

        The text is C{formatEventAsClassicLogText(event)}'s.  The common
        event (a text format without calls, no C{log_system}, traceback or
        flattened fields: every access event) is formatted here, in this
        one call, by C{str.format_map}: the same text as C{twisted.logger}'s own
        formatter (a C{string.Formatter} that adds the C{{name()}} call
        syntax) at a tenth of its cost.  Any other event, or one whose
        format fails, goes to C{twisted.logger}'s formatter (L{_format}).
        """
        fmt = event.get("log_format")
        level = event.get("log_level")
        text: str | None = None
        if (
            type(fmt) is str
            and level is not None
            and "()" not in fmt
            and "log_system" not in event
            and "log_failure" not in event
            and "log_flattened" not in event
        ):
            try:
                text = fmt.format_map(event)
            except Exception:
                pass  # twisted.logger's formatter tells what went wrong
            else:
                if not text:
                    return
                if "\n" in text:
                    text = text.replace("\n", "\n\t")
                when = event.get("log_time")
                namespace = event.get("log_namespace", "-")
                # Identity and two float comparisons, not a call or an
                # f-string: most events are of the last namespace and level,
                # in the second whose head is cached.
                if (
                    namespace is self._head_namespace
                    and level is self._head_level
                    and when is not None
                    and self._head_start <= when < self._head_end
                ):
                    text = self._head + text + "\n"
                else:
                    text = self._head_for(when, namespace, level) + text + "\n"
        if text is None:
            text = self._format(event)
            if not text:
                return
        self._waiting.append(text)
        if event.get("log_namespace") not in self.namespaces:
            self.flush()
            return
        self._size = size = self._size + len(text)
        if size >= self.MAX_BUFFER:
            self.flush()
        elif self._timer is None:
            self._timer = self.clock.callLater(self.FLUSH_DELAY, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every waiting line now, and flush the file."""
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        waiting, self._waiting, self._size = self._waiting, [], 0
        self.out.write("".join(waiting).encode("utf-8"))
        self.out.flush()
