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

import os
from collections.abc import Callable, Collection
from typing import IO, Any, BinaryIO, cast

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import (
    ILogObserver,
    LogEvent,
    formatEventAsClassicLogText,
    timeFormatRFC3339,
)
from twisted.python import logfile
from zope.interface import implementer

from poetry.logline import LineHeads, Rendering, line_format

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
    @cvar MAX_FORMATS: the most formats whose rendering is kept (a program
        that puts its values in its formats makes a new one per event):
        it bounds the memory they hold.
    """

    MAX_BUFFER = 64 * 1024
    FLUSH_DELAY = 0.5
    MAX_FORMATS = 256

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
        self._waiting: list[str] = []
        #: How many more bytes (roughly: characters) of text may wait
        #: before they are written; 0 while nothing waits (L{_waited}).
        self._room = 0
        self._timer: IDelayedCall | None = None
        #: The kept line (L{__call__}): no format's yet.
        self._line: _Line = _NO_LINE
        self._formats: dict[str, Rendering] = {}
        self._heads = LineHeads(time_format, self.namespaces)

    def _format(self, event: LogEvent) -> str | None:
        """
        C{formatEventAsClassicLogText(event)}, the text twistd writes, with
        this observer's timestamps: what L{__call__} does not format itself.
        """
        return formatEventAsClassicLogText(event, formatTime=self._heads.format_time)

    def __call__(self, event: LogEvent) -> None:
        """
        Format C{event}; write it now or let it wait (see above).

        The text is C{formatEventAsClassicLogText(event)}'s.  An event of
        the last line kept (L{_line}: an access event, mostly) is formatted
        here, in this one call: its format's rendering and the head of its
        second, namespace and level, kept with it, when the event is of the
        same format, namespace and level (identities), of the same second
        (two comparisons) and has nothing else that changes its text (a
        traceback, flattened fields, a C{log_system}).  Any other event
        goes to L{_observe}.
        """
        fmt, namespace, level, start, end, render, fields, head, extra = self._line
        try:
            if (
                event["log_format"] is fmt
                and event["log_namespace"] is namespace
                and event["log_level"] is level
                and start <= event["log_time"] < end
                and "log_failure" not in event
                and "log_flattened" not in event
                and "log_system" not in event
            ):
                text = render(*fields(event))
            else:
                text = None
        except Exception:
            text = None  # _observe shows what went wrong
        if not text:
            if text is None:
                self._observe(event)
            return
        if "\n" in text:
            text = text.replace("\n", "\n\t")
        self._waiting.append(f"{head}{text}\n")
        self._room = room = self._room - extra - len(text)
        if room <= 0:
            self._waited()

    def _observe(self, event: LogEvent) -> None:
        """
        Format C{event} (L{__call__}'s, when it is not of the kept line);
        write it now or let it wait.

        The common event (no traceback or flattened fields, a format
        L{line_format} renders) is formatted here by its format's
        rendering (looked up in a dict) and its head (L{LineHeads}); if
        its rendering is positional, its namespace waits and its head is
        kept for the rest of the second, it becomes the kept line
        (L{_line}).  Any other event, or one whose format fails, goes to
        C{twisted.logger}'s formatter (L{_format}).
        """
        text: str | None = None
        fmt = event.get("log_format")
        if (
            type(fmt) is str
            and "log_failure" not in event
            and "log_flattened" not in event
        ):
            # Decided once per format: what the event's text needs.
            render, fields = self._formats.get(fmt) or self._learn(fmt)
            if render is not None:
                try:
                    if fields is None:
                        text = render(event)
                    else:
                        text = render(*fields(event))
                    # Subscripts, not get(): an event without them is
                    # twisted.logger's formatter's, as any that fails here.
                    level = event["log_level"]
                    namespace = event["log_namespace"]
                    when = event["log_time"]
                except Exception:
                    text = None  # twisted.logger's formatter tells what went wrong
                else:
                    if not text:
                        return
                    if "\n" in text:
                        text = text.replace("\n", "\n\t")
                    heads = self._heads
                    if "log_system" in event:
                        head, buffered = heads.system_head(
                            when, event["log_system"], namespace, level
                        )
                    else:
                        head, buffered = heads.head_for(when, namespace, level)
                        # Kept (head_for keeps the head of a str namespace
                        # and a known level, for the rest of the second).
                        if (
                            buffered
                            and fields is not None
                            and when is not None
                            and heads.namespace is namespace
                            and heads.level is level
                        ):
                            self._line = (fmt, namespace, level, heads.start,
                                          heads.end, render, fields, head,
                                          len(head) + 1)  # fmt: skip
                    text = f"{head}{text}\n"
        if text is None:
            text = self._format(event)
            if not text:
                return
            buffered = event.get("log_namespace") in self.namespaces
        self._waiting.append(text)
        if not buffered:
            self.flush()
            return
        self._room = room = self._room - len(text)
        if room <= 0:
            self._waited()

    def _waited(self) -> None:
        """
        The waiting text has no L{_room} left: text has begun to wait (arm
        the timer; the room is what L{MAX_BUFFER} leaves), or it has filled
        the buffer (write it).  So an event checks one number, not the
        size, the bound and the timer.
        """
        if self._timer is None:
            self._room += self.MAX_BUFFER
            if self._room > 0:
                self._timer = self.clock.callLater(self.FLUSH_DELAY, self._expired)
                return
        self.flush()

    def _learn(self, fmt: str) -> Rendering:
        """
        How to render C{fmt} (L{line_format}), kept for its next events;
        the kept renderings are forgotten once there are L{MAX_FORMATS}.
        """
        rendering = line_format(fmt)
        if len(self._formats) >= self.MAX_FORMATS:
            self._formats.clear()
        self._formats[fmt] = rendering
        return rendering

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
        waiting, self._waiting, self._room = self._waiting, [], 0
        self.out.write("".join(waiting).encode("utf-8"))
        self.out.flush()


#: The line L{BufferedFileLogObserver} keeps: C{(format, namespace, level,
#: start, end, render, fields, head, extra)}: an event of that format,
#: namespace and level at C{[start, end)} is C{head}, C{render(*fields(
#: event))} and a newline, C{extra} the size of the head and the newline.
#: A tuple, unpacked at once: nine names cost less than nine attributes.
_Line = tuple[
    object,
    object,
    object,
    float,
    float,
    Callable[..., str],
    Callable[[LogEvent], tuple[Any, ...]],
    str,
    int,
]

#: No line kept: its format is no event's.
_NO_LINE: _Line = (object(), None, None, 0.0, 0.0, str, tuple, "", 0)
