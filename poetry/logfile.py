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
import re
from collections.abc import Callable, Collection
from operator import itemgetter
from string import Formatter
from typing import IO, Any, BinaryIO, cast

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import (
    ILogObserver,
    LogEvent,
    LogLevel,
    formatEventAsClassicLogText,
    formatTime,
    timeFormatRFC3339,
)
from twisted.python import logfile
from zope.interface import implementer

__all__ = [
    "BufferedFileLogObserver",
    "LineHeads",
    "ReopeningLogFile",
    "line_format",
    "positional_format",
]

_FORMATTER = Formatter()

#: The name a format field looks up: what str.format reads up to the
#: first attribute (C{.}) or index (C{[}).
_FIELD_NAME = re.compile(r"[^.\[]*")


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
        self._formats: dict[str, _Rendering] = {}
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

    def _learn(self, fmt: str) -> _Rendering:
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


class LineHeads:
    """
    The heads of L{BufferedFileLogObserver}'s lines (C{"{stamp} [{system}]
    "}, newlines indented, as C{formatEventAsClassicLogText} writes them)
    and whether their events wait, computed once per second: the
    timestamp of the second, the head of the last namespace and level
    (its attributes read by the observer itself: a call costs more than
    the whole check) and the head of the last C{log_system}.

    @ivar head: the last namespace and level's head, for events at
        C{[start, end)} of C{namespace} and C{level}; C{buffered}: whether
        they wait.
    """

    def __init__(self, time_format: str | None, namespaces: frozenset[str]) -> None:
        """
        @param time_format: the timestamps' C{strftime} format, to the
            second.
        @param namespaces: the namespaces whose events wait.
        """
        self.time_format = time_format
        self.namespaces = namespaces
        # The timestamp of the second [_second, _second_end).
        self._second = self._second_end = 0.0
        self._stamp = ""
        self.head, self.buffered = "", False
        self.start = self.end = 0.0
        self.namespace: object = None
        self.level: object = None
        self._system = ""
        self._system_head = ""
        self._system_start = self._system_end = 0.0

    def format_time(self, when: float | None) -> str:
        """C{formatTime}, computed once per second (its resolution)."""
        if when is None or self.time_format is None:
            return formatTime(when, self.time_format)
        if not self._second <= when < self._second_end:
            # floor, not int: -0.5 is in the second that began at -1.
            second = math.floor(when)
            self._stamp = formatTime(second, self.time_format)
            self._second, self._second_end = float(second), float(second + 1)
        return self._stamp

    def head_for(
        self, when: float | None, namespace: object, level: Any
    ) -> tuple[str, bool]:
        """
        The head of an event at C{when} of C{namespace} and C{level}
        (C{[namespace#level]}) and whether it waits; kept for the rest of
        the second if C{namespace} is a L{str} and C{level} a L{LogLevel}.
        """
        stamp = self.format_time(when)
        name = "-" if level is None else level.name
        head = f"{stamp} [{namespace}#{name}] ".replace("\n", "\n\t")
        buffered = namespace in self.namespaces
        # Only for these, whose text never changes: another namespace's
        # format() or another level's name may.
        if (
            when is not None
            and type(namespace) is str
            and any(level is known for known in _LEVELS)
        ):
            self.head, self.buffered = head, buffered
            self.start, self.end = self._second, self._second_end
            self.namespace, self.level = namespace, level
        return head, buffered

    def system_head(
        self, when: float | None, system: object, namespace: object, level: Any
    ) -> tuple[str, bool]:
        """
        The head of an event at C{when} of C{system} (its C{log_system}, as
        a worker's events have: C{[system]}; L{None} is none), C{namespace}
        and C{level}, and whether it waits; the last L{str} C{system}'s
        is kept for the rest of its second.
        """
        if system is None:
            return self.head_for(when, namespace, level)
        buffered = namespace in self.namespaces
        if type(system) is str:
            if (
                system == self._system
                and when is not None
                and self._system_start <= when < self._system_end
            ):
                return self._system_head, buffered
        else:
            try:
                system = str(system)
            except Exception:
                system = "UNFORMATTABLE"  # as twisted.logger shows it
        head = f"{self.format_time(when)} [{system}] ".replace("\n", "\n\t")
        if when is not None and type(system) is str:
            self._system, self._system_head = system, head
            self._system_start, self._system_end = self._second, self._second_end
        return head, buffered

#: Every log level: a line's head is kept only for these (and no level),
#: whose names never change.
_LEVELS: tuple[LogLevel | None, ...] = (None, *LogLevel.iterconstants())

#: How L{BufferedFileLogObserver} renders the text of a format: C{(render,
#: fields)}: C{render(*fields(event))} (a positional format and the
#: getter of its values), C{render(event)} (C{fields} L{None}: the format's
#: own C{format_map}), or (L{None}, L{None}): twisted.logger's formatter.
_Rendering = tuple[
    Callable[..., str] | None, Callable[[LogEvent], tuple[Any, ...]] | None
]

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


def positional_format(fmt: str) -> tuple[str, tuple[str, ...]] | None:
    """
    C{fmt}, a PEP 3101 format of named fields, as a format of automatically
    numbered ones and the names of their values, in order: C{"{peer}
    {seconds:.3f}"} is C{("{} {:.3f}", ("peer", "seconds"))}, and
    C{template.format(*(event[name] for name in names))} is
    C{fmt.format_map(event)} for any event (each field keeps its
    attributes, index, conversion and spec, formatted by the same
    C{format()}; only the lookup of the name moves, and an exception
    raised either way is raised the other way too).

    L{None} when C{fmt} cannot be parsed, or has a field that is
    positional (C{{}}, C{{0}}), has a nested field in its spec, or
    reaches anything else by a name (C{{a[{b}]}}).
    """
    parts = []
    names = []
    try:
        parsed = list(_FORMATTER.parse(fmt))
    except ValueError:
        return None
    for literal, field, spec, conversion in parsed:
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        name = _FIELD_NAME.match(field).group()  # type: ignore[union-attr]
        if not name or name.isdecimal() or "{" in field or "{" in (spec or ""):
            return None
        names.append(name)
        parts.append("{" + field[len(name) :])
        if conversion is not None:
            parts.append("!" + conversion)
        if spec:
            parts.append(":" + spec)
        parts.append("}")
    return "".join(parts), tuple(names)


def line_format(fmt: str) -> _Rendering:
    """
    How L{BufferedFileLogObserver} renders the text of events of C{fmt}
    (see L{_Rendering}) so it is the text C{twisted.logger}'s formatter
    gives (C{formatEvent}: C{string.Formatter}, each value wrapped in a
    C{PotentialCallWrapper} for the C{{name()}} call syntax):

      - a format with a call (C{"()"}) or an attribute of a name
        beginning with C{_} (the wrapper's own, such as C{__class__}; any
        C{"._"} in the format, to be sure): C{twisted.logger}'s formatter;
      - a format of two fields or more that L{positional_format}
        translates: that format's C{format} and an C{itemgetter} of its
        names (a third less than C{format_map}, which slices and hashes
        each field's name anew for every event);
      - any other: C{fmt.format_map} (a format it fails, such as one
        with a positional field, goes on to C{twisted.logger}'s formatter
        at each event).
    """
    if "()" in fmt or "._" in fmt:
        return None, None
    positional = positional_format(fmt)
    if positional is None or len(positional[1]) < 2:
        return fmt.format_map, None
    template, names = positional
    return template.format, itemgetter(*names)
