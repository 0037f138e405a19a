"""
Making the reactor visible: a trace of every client callback, and a timeline
picture of concurrent downloads.

A L{Tracer} records each factory, protocol and timeout callback of a download
as a L{TraceEvent} and, as it happens, emits it as one structured
C{twisted.logger} event (namespace C{"poetry.trace"}).  L{traceObserver}
writes those events, one line each, to a stream: C{get-poetry --trace}.

L{timeline_from_events} turns recorded events into one L{TaskRow} per
download; L{render_timeline_text} draws the rows for a terminal
(C{--timeline}) and L{render_timeline_svg} as a standalone SVG picture
(C{--timeline-svg FILE}).  Both renderers are plain functions of the rows, so
a chart can be drawn from any list of events, recorded live or made by hand.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from twisted.internet.address import HostnameAddress, IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IReactorTime
from twisted.logger import (
    FileLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    formatEvent,
)
from twisted.python.failure import Failure

from poetry.client.results import DownloadStatus

__all__ = [
    "OUTCOMES",
    "SOURCES",
    "TRACE_FORMAT",
    "TRACE_NAMESPACE",
    "TaskRow",
    "TraceEvent",
    "Tracer",
    "describe_value",
    "format_trace_line",
    "render_timeline_svg",
    "render_timeline_text",
    "timeline_from_events",
    "traceObserver",
]

SOURCES = ("factory", "protocol", "timeout")
"""The objects whose callbacks are traced: the client factory, the protocol,
and the download's timeout DelayedCall."""

OUTCOMES = (*(status.value for status in DownloadStatus), "unfinished")
"""How a download ended, as drawn on a timeline: a L{DownloadStatus} value,
or C{"unfinished"}: its events stop before any end (a chart drawn while
downloads still run)."""

TRACE_NAMESPACE = "poetry.trace"
"""The C{twisted.logger} namespace of the events a L{Tracer} emits."""

TRACE_FORMAT = (
    "+{trace_time:.3f}s task {trace_task} {trace_source}.{trace_name}{trace_details}"
)
"""The log format of a trace event: formatted by the logging system only when
an observer asks for text."""

MAX_VALUE_LENGTH = 200
"""
The longest rendering of one detail value in a trace line, in characters.
Protects the one-line-per-callback trace from a huge value (a long failure
message, a repr of a large object) flooding the terminal.
"""


# --- trace events -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """
    One callback of one download, as recorded by a L{Tracer}.

    @ivar time: seconds since the tracer started.
    @ivar task: the download's number, from 1.
    @ivar source: C{"factory"}, C{"protocol"} or C{"timeout"} (see L{SOURCES}).
    @ivar name: the callback's name (C{"startedConnecting"},
        C{"dataReceived"}, ...), or for the timeout C{"scheduled"},
        C{"cancelled"} or C{"fired"}.
    @ivar detail: the callback's details as C{(key, value)} pairs in the order
        given: C{destination}, C{address}, C{reason}, C{peer}, C{host},
        C{bytes}, C{clean}, C{seconds}...
    """

    time: float
    task: int
    source: str
    name: str
    detail: tuple[tuple[str, object], ...] = ()

    def get(self, key: str, default: object = None) -> object:
        """
        The value of the detail C{key}, or C{default} if it has none.
        """
        for item, value in self.detail:
            if item == key:
                return value
        return default


def _exceptionText(exception: BaseException) -> str:
    name = type(exception).__name__
    message = " ".join(str(exception).split())
    return f"{name}: {message}" if message else name


def _plainText(value: object) -> str:
    """
    A short, readable rendering of a detail value, without quoting.
    """
    if isinstance(value, IPv6Address):
        return f"[{value.host}]:{value.port}"
    if isinstance(value, IPv4Address):
        return f"{value.host}:{value.port}"
    if isinstance(value, HostnameAddress):
        return f"{value.hostname.decode('ascii', 'replace')}:{value.port}"
    if isinstance(value, Failure):
        value = value.value
    if isinstance(value, BaseException):
        return _exceptionText(value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def describe_value(value: object) -> str:
    """
    Render one detail value for a trace line: addresses as C{host:port}
    (C{[host]:port} for IPv6), failures and exceptions as C{Class: message},
    floats in their shortest form, anything else with C{str}.  The text is
    cut to L{MAX_VALUE_LENGTH} characters, and quoted (JSON style, as logfmt
    does) if it is empty or holds spaces, quotes, C{=} or unprintable
    characters, so a line always stays one line of C{key=value} pairs.
    """
    text = _plainText(value)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 3] + "..."
    if (
        not text
        or not text.isprintable()
        or any(c.isspace() or c in '"=\\' for c in text)
    ):
        return json.dumps(text, ensure_ascii=False)
    return text


class _DetailText:
    """
    The details of a trace event, rendered as C{" key=value key=value"} only
    when the logging system formats the event.
    """

    __slots__ = ("_detail",)

    def __init__(self, detail: tuple[tuple[str, object], ...]) -> None:
        self._detail = detail

    def __str__(self) -> str:
        return "".join(f" {key}={describe_value(value)}" for key, value in self._detail)

    def __repr__(self) -> str:
        return f"<trace details{self}>"


def _logFields(event: TraceEvent) -> dict[str, object]:
    return {
        "trace_event": event,
        "trace_time": event.time,
        "trace_task": event.task,
        "trace_source": event.source,
        "trace_name": event.name,
        "trace_details": _DetailText(event.detail),
    }


def format_trace_line(event: TraceEvent) -> str:
    """
    The trace line of one event, without a newline: the same text
    L{traceObserver} writes, e.g.::

        +0.003s task 2 factory.startedConnecting destination=127.0.0.1:10001
    """
    return TRACE_FORMAT.format(**_logFields(event))


class Tracer:
    """
    Records the lifecycle of downloads: the client calls
    C{tracer.record(task, source, name, **detail)} from each callback when it
    was given a tracer, and never otherwise, so tracing costs nothing when
    off.

    @ivar events: every recorded L{TraceEvent}, in the order of the calls.
    @ivar start: C{clock.seconds()} when the tracer was made; event times
        count from it.
    @ivar level: the L{LogLevel} of the emitted log events.  Debug, so an
        ordinary info-level log observer does not repeat the trace; use
        L{traceObserver} to show it.
    """

    level = LogLevel.debug

    def __init__(
        self,
        *,
        clock: IReactorTime,
        log: Logger | None = None,
        emit: bool = True,
    ) -> None:
        """
        @param clock: where time comes from: the reactor, or a
            L{twisted.internet.task.Clock} in tests.
        @param log: the logger events are emitted to; by default one in the
            L{TRACE_NAMESPACE} namespace, observed by the global publisher.
        @param emit: if false, only record events, emit no log events.
        """
        self.clock = clock
        self.log = log if log is not None else Logger(namespace=TRACE_NAMESPACE)
        self.emit = emit
        self.start = clock.seconds()
        self.events: list[TraceEvent] = []

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        """
        Record one callback now, and (if emitting) emit it as one log event
        at once, so observers see events in the real order of the calls.

        @param task: the download's number, from 1.
        @param source: one of L{SOURCES}.
        @param name: the callback's name.
        @param detail: the callback's details (C{destination=}, C{reason=},
            C{bytes=}...): kept as given; rendered only when formatted.
        @raise ValueError: C{source} is not one of L{SOURCES}.
        """
        if source not in SOURCES:
            raise ValueError(f"trace source must be one of {SOURCES}, not {source!r}")
        event = TraceEvent(
            self.clock.seconds() - self.start, task, source, name, tuple(detail.items())
        )
        self.events.append(event)
        if self.emit:
            self.log.emit(self.level, TRACE_FORMAT, **_logFields(event))

    def timeline(self, outcomes: Mapping[int, str] | None = None) -> list[TaskRow]:
        """
        The timeline rows of the events recorded so far: see
        L{timeline_from_events}.
        """
        return timeline_from_events(self.events, outcomes=outcomes)


def _formatTraceLogEvent(event: LogEvent) -> str | None:
    if not isinstance(event.get("trace_event"), TraceEvent):
        return None
    return formatEvent(event) + "\n"


def traceObserver(stream: IO[Any]) -> ILogObserver:
    """
    A log observer writing trace events, and nothing else, to C{stream}: one
    line each, flushed at once, in the format of L{format_trace_line}.
    Trace events are the ones a L{Tracer} emits, whatever its logger's
    namespace.  For example::

        globalLogBeginner.beginLoggingTo(
            [traceObserver(sys.stderr), ...], redirectStandardIO=False
        )

    (without C{redirectStandardIO=False}, whatever else the program writes
    to C{sys.stderr} becomes log events, which this observer drops).
    """
    return FileLogObserver(stream, _formatTraceLogEvent)


# --- timeline rows ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRow:
    """
    One download on a timeline.  Times are seconds since the tracer started.

    @ivar task: the download's number.
    @ivar label: where it went (the factory's C{startedConnecting}
        destination), or C{""}.
    @ivar start: its first event.
    @ivar connected: when the protocol was connected, or L{None}.
    @ivar arrivals: C{(time, size)} of each C{dataReceived}.
    @ivar end: when it finished, failed or timed out, or L{None}.
    @ivar outcome: one of L{OUTCOMES}.
    """

    task: int
    label: str
    start: float
    connected: float | None
    arrivals: tuple[tuple[float, int], ...]
    end: float | None
    outcome: str

    @property
    def received(self) -> int:
        """The number of bytes received."""
        return sum(size for _, size in self.arrivals)

    @property
    def last(self) -> float:
        """The end, or for an unfinished download the last event's time."""
        if self.end is not None:
            return self.end
        times = [self.start, *(time for time, _ in self.arrivals)]
        if self.connected is not None:
            times.append(self.connected)
        return max(times)


def _isClean(event: TraceEvent) -> bool:
    clean = event.get("clean")
    if clean is not None:
        return bool(clean)
    reason = event.get("reason")
    if isinstance(reason, Failure):
        return reason.check(ConnectionDone) is not None
    return isinstance(reason, ConnectionDone)


def _size(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        return len(value)
    return 0


_ENDS = {
    ("timeout", "fired"): "timeout",
    ("factory", "clientConnectionFailed"): "failed",
    ("factory", "clientConnectionLost"): "failed",
}


def _row(task: int, events: Sequence[TraceEvent], outcome: str | None) -> TaskRow:
    label = ""
    connected: float | None = None
    arrivals: list[tuple[float, int]] = []
    end: float | None = None
    inferred = "unfinished"
    for event in events:
        key = (event.source, event.name)
        if key == ("factory", "startedConnecting"):
            destination = event.get("destination")
            if destination is not None and not label:
                label = _plainText(destination)
        elif key in {("protocol", "makeConnection"), ("protocol", "connectionMade")}:
            if connected is None:
                connected = event.time
        elif key == ("protocol", "dataReceived"):
            arrivals.append((event.time, _size(event.get("bytes"))))
        elif end is None and key == ("protocol", "connectionLost"):
            end, inferred = event.time, "ok" if _isClean(event) else "failed"
        elif end is None and key in _ENDS:
            end, inferred = event.time, _ENDS[key]
    return TaskRow(
        task=task,
        label=label,
        start=events[0].time,
        connected=connected,
        arrivals=tuple(arrivals),
        end=end,
        outcome=inferred if outcome is None else outcome,
    )


def timeline_from_events(
    events: Iterable[TraceEvent], *, outcomes: Mapping[int, str] | None = None
) -> list[TaskRow]:
    """
    One row per task that has events, in task order.

    A task connected at its first C{makeConnection}/C{connectionMade}; its
    arrivals are its C{dataReceived} events (detail C{bytes}: a count, or the
    data); it ended at its first ending event, which also gives its outcome:
    the timeout C{fired} (C{"timeout"}), C{connectionLost} (C{"ok"} if
    clean: detail C{clean=True}, or a C{reason} that is a
    L{ConnectionDone}; C{"failed"} otherwise), C{clientConnectionFailed} or
    C{clientConnectionLost} (C{"failed"}).  A task with no ending event is
    C{"unfinished"}.

    @param outcomes: outcomes the caller knows better (an empty poem closed
        cleanly is still a failure), by task number; they override the
        inferred ones.
    @raise ValueError: an outcome that is not one of L{OUTCOMES}.
    """
    known = dict(outcomes or {})
    for task, outcome in known.items():
        if outcome not in OUTCOMES:
            raise ValueError(
                f"outcome of task {task} must be one of {OUTCOMES}, not {outcome!r}"
            )
    byTask: dict[int, list[TraceEvent]] = {}
    for event in sorted(events, key=lambda event: event.time):
        byTask.setdefault(event.task, []).append(event)
    return [_row(task, byTask[task], known.get(task)) for task in sorted(byTask)]


# --- shared by both renderers -----------------------------------------------


def _span(rows: Sequence[TaskRow]) -> float:
    return max((row.last for row in rows), default=0.0)


def _ticks(span: float, length: float, spacing: float) -> tuple[float, list[float]]:
    """
    A "nice" step (1, 2 or 5 times a power of ten) putting ticks at least
    C{spacing} apart on an axis C{length} long showing C{span} seconds, and
    the tick times from 0 to C{span}.
    """
    if span <= 0 or length <= 0:
        return 1.0, [0.0]
    raw = span * spacing / length
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    count = int(span / step + 1e-9)
    return step, [k * step for k in range(count + 1)]


def _seconds(time: float) -> str:
    return f"{round(time, 9):g}s"


# --- text timeline ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Glyphs:
    connecting: str
    connected: str
    waiting: str
    data: str
    ok: str
    failed: str
    timeout: str
    border: str
    axis: str
    tick: str
    left: str
    right: str
    ellipsis: str

    def end(self, outcome: str) -> str | None:
        return {"ok": self.ok, "failed": self.failed, "timeout": self.timeout}.get(
            outcome
        )

    def legend(self) -> list[str]:
        return [
            f"{self.connecting} connecting",
            f"{self.connected} connected",
            f"{self.waiting} waiting",
            f"{self.data} bytes arrived",
            f"{self.ok} ok",
            f"{self.failed} failed",
            f"{self.timeout} timed out",
        ]


_ASCII = _Glyphs("-", "c", ".", "#", "*", "X", "T", "|", "-", "+", " ", " ", "~")
_UNICODE = _Glyphs("┄", "├", "─", "█", "✓", "✗", "◔", "│", "─", "┬", "└", "┘", "…")

MIN_CHART_WIDTH = 10
"""The narrowest chart drawn, in columns, however narrow the terminal."""


def _isUTF8(stream: object) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return False
    try:
        return codecs.lookup(encoding).name.startswith("utf-8")
    except LookupError:
        return False


def _terminalWidth(stream: object) -> int:
    columns = shutil.get_terminal_size((0, 0)).columns
    if columns > 0:
        return columns
    try:
        fileno = stream.fileno  # type: ignore[attr-defined]
        return os.get_terminal_size(fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: width - 1] + ellipsis


def _wrap(
    prefix: str, items: Sequence[str], width: int, separator: str = "  "
) -> list[str]:
    """
    C{items} after C{prefix}, joined by C{separator}, in lines of at most
    C{width} (unless one item is longer), continuation lines indented.
    """
    lines: list[str] = []
    line = prefix + items[0]
    for item in items[1:]:
        if len(line) + len(separator) + len(item) > width:
            lines.append(line)
            line = " " * len(prefix) + item
        else:
            line += separator + item
    lines.append(line)
    return lines


def render_timeline_text(
    rows: Sequence[TaskRow],
    *,
    width: int | None = None,
    unicode: bool | None = None,
    stream: IO[Any] | None = None,
) -> str:
    """
    Draw C{rows} for a terminal: one line per task, time running left to
    right from 0 to the last event, marking when the task was connecting,
    connected, received bytes, and finished, failed or timed out; then a time
    axis in seconds and a legend.  Several marks in one column: the end wins
    over bytes, bytes over the connection mark.

    @param width: the width in columns; by default the terminal's
        (C{shutil.get_terminal_size}, then C{stream}'s terminal, else 80).
    @param unicode: draw with box-drawing characters; by default only if
        C{stream}'s encoding is UTF-8, else plain ASCII.
    @param stream: where the chart will be written, to guess C{width} and
        C{unicode}; by default L{sys.stderr}.
    @return: the chart, lines ending in a newline.
    """
    if stream is None:
        stream = sys.stderr
    if width is None:
        width = _terminalWidth(stream)
    glyphs = _UNICODE if (_isUTF8(stream) if unicode is None else unicode) else _ASCII
    if not rows:
        return "timeline: no downloads\n"

    lefts = [
        f"task {row.task}" + (f" {row.label}" if row.label else "") for row in rows
    ]
    shortest = max(len(f"task {row.task}") for row in rows)
    leftWidth = min(max(map(len, lefts)), max(shortest, width // 3))
    outcomeWidth = max(len(row.outcome) for row in rows)
    sizeWidth = max(len(str(row.received)) for row in rows)
    rights = [
        f"{row.outcome:<{outcomeWidth}} {row.received:>{sizeWidth}} B" for row in rows
    ]
    rightWidth = outcomeWidth + sizeWidth + 3
    chartWidth = max(MIN_CHART_WIDTH, width - leftWidth - rightWidth - 4)

    span = _span(rows)
    scale = (chartWidth - 1) / span if span > 0 else 0.0

    def column(time: float) -> int:
        return min(chartWidth - 1, max(0, math.floor(time * scale + 0.5)))

    perColumn = f"{span / (chartWidth - 1):.3g}s" if span > 0 else "0s"
    tasks = f"{len(rows)} task" + ("s" if len(rows) != 1 else "")
    lines = _wrap(
        "timeline: ",
        [f"{tasks} in {span:.3f}s,", f"one column = {perColumn}"],
        width,
        " ",
    )

    for row, left, right in zip(rows, lefts, rights, strict=True):
        cells = [" "] * chartWidth
        first, last = column(row.start), column(row.last)
        connected = last + 1 if row.connected is None else column(row.connected)
        for index in range(first, last + 1):
            cells[index] = glyphs.connecting if index < connected else glyphs.waiting
        if row.connected is not None:
            cells[connected] = glyphs.connected
        for time, _ in row.arrivals:
            cells[column(time)] = glyphs.data
        mark = glyphs.end(row.outcome)
        if row.end is not None and mark is not None:
            cells[column(row.end)] = mark
        name = _cut(left, leftWidth, glyphs.ellipsis)
        chart = "".join(cells)
        lines.append(
            f"{name:<{leftWidth}} {glyphs.border}{chart}{glyphs.border} {right}"
        )

    _, times = _ticks(span, chartWidth - 1, 8)
    axis = [glyphs.axis] * chartWidth
    labels = [" "] * (chartWidth + rightWidth + 1)
    free = 0
    for time in times:
        index = column(time)
        axis[index] = glyphs.tick
        text = _seconds(time)
        if index >= free and index + len(text) <= len(labels):
            labels[index : index + len(text)] = text
            free = index + len(text) + 1
    indent = " " * (leftWidth + 1)
    lines.append(f"{indent}{glyphs.left}{''.join(axis)}{glyphs.right}".rstrip())
    lines.append(f"{indent} {''.join(labels)}".rstrip())
    lines.extend(_wrap("legend: ", glyphs.legend(), width))
    return "".join(line + "\n" for line in lines)


# --- SVG timeline -----------------------------------------------------------

_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_COLOURS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "unfinished": "#757575",
}


def _xml(text: str) -> str:
    """
    C{text} safe inside an XML element or a double-quoted attribute: markup
    characters escaped, characters XML cannot hold replaced by U+FFFD.
    """
    text = _INVALID_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _n(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def _mark(outcome: str, x: float, y: float, colour: str) -> str:
    """The shape ending a task: a dot for ok, a cross for failed, a square
    for a timeout (so the outcome shows without colour too)."""
    if outcome == "ok":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="5" fill="{colour}"/>'
    if outcome == "failed":
        a, b = 4.5, 4.5
        path = (
            f"M{_n(x - a)} {_n(y - b)}L{_n(x + a)} {_n(y + b)}"
            f"M{_n(x - a)} {_n(y + b)}L{_n(x + a)} {_n(y - b)}"
        )
        return f'<path d="{path}" stroke="{colour}" stroke-width="2.5"/>'
    if outcome == "timeout":
        return (
            f'<rect x="{_n(x - 4.5)}" y="{_n(y - 4.5)}" width="9" height="9"'
            f' fill="{colour}"/>'
        )
    return ""


def render_timeline_svg(
    rows: Sequence[TaskRow], *, width: int = 800, title: str = "poetry downloads"
) -> str:
    """
    Draw C{rows} as a standalone SVG document: one C{<g class="task">} per
    task (its label, a dashed line while connecting, a bar while connected,
    a tick per C{dataReceived}, an end mark coloured and shaped by outcome),
    a time axis in seconds, and a legend (ok, failed, timeout, connecting,
    connected, bytes arrived).  Write it to a file as UTF-8.

    @param width: the picture's width in pixels.
    @param title: the heading above the chart.
    """
    rowHeight, barHeight, charWidth = 26, 12, 7
    labels = [
        f"task {row.task}" + (f"  {row.label}" if row.label else "") for row in rows
    ]
    left = min(max(90, 16 + charWidth * max(map(len, labels), default=0)), width // 3)
    rightText = [f"{row.outcome}, {row.received} B" for row in rows]
    right = 40 + charWidth * max(map(len, rightText), default=0)
    x0, x1 = left, max(left + 100, width - right)
    top = 44
    axisY = top + rowHeight * len(rows) + 6
    legendY = axisY + 52
    height = legendY + 24
    span = _span(rows)
    scale = (x1 - x0) / span if span > 0 else 0.0

    def x(time: float) -> float:
        return x0 + time * scale

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{_xml(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{x0}" y="24" font-size="14" font-weight="bold">{_xml(title)}:'
        f" {len(rows)} task{'s' if len(rows) != 1 else ''} in {span:.3f}s</text>",
    ]
    for index, (row, label, summary) in enumerate(
        zip(rows, labels, rightText, strict=True)
    ):
        y = top + rowHeight * index + rowHeight / 2
        colour = _COLOURS.get(row.outcome, _COLOURS["unfinished"])
        connected = row.last if row.connected is None else row.connected
        out.append(
            f'<g class="task" data-task="{row.task}"'
            f' data-outcome="{_xml(row.outcome)}">'
        )
        out.append(f"<title>{_xml(label)}: {_xml(summary)}</title>")
        out.append(
            f'<text x="{x0 - 10}" y="{_n(y + 4)}" text-anchor="end">'
            f"{_xml(label)}</text>"
        )
        if connected > row.start:
            out.append(
                f'<line x1="{_n(x(row.start))}" y1="{_n(y)}" x2="{_n(x(connected))}"'
                f' y2="{_n(y)}" stroke="#9e9e9e" stroke-width="2"'
                ' stroke-dasharray="4 3"/>'
            )
        if row.connected is not None:
            out.append(
                f'<rect x="{_n(x(connected))}" y="{_n(y - barHeight / 2)}"'
                f' width="{_n(max(x(row.last) - x(connected), 1))}"'
                f' height="{barHeight}" fill="{colour}" fill-opacity="0.25"/>'
            )
        # One tick per pixel column: a fast download may have thousands.
        for pixel in sorted({round(x(time)) for time, _ in row.arrivals}):
            out.append(
                f'<rect x="{pixel - 1}" y="{_n(y - barHeight / 2)}" width="2"'
                f' height="{barHeight}" fill="{colour}"/>'
            )
        if row.end is not None:
            out.append(_mark(row.outcome, x(row.end), y, colour))
        out.append(
            f'<text x="{x1 + 12}" y="{_n(y + 4)}" fill="{colour}">'
            f"{_xml(summary)}</text>"
        )
        out.append("</g>")

    out.append('<g class="axis" stroke="#424242">')
    out.append(f'<line x1="{x0}" y1="{axisY}" x2="{x1}" y2="{axisY}"/>')
    _, times = _ticks(span, x1 - x0, 70)
    for time in times:
        tx = _n(x(time))
        out.append(f'<line x1="{tx}" y1="{axisY}" x2="{tx}" y2="{axisY + 5}"/>')
        out.append(
            f'<text x="{tx}" y="{axisY + 18}" text-anchor="middle" stroke="none"'
            f' fill="#424242">{_seconds(time)}</text>'
        )
    out.append(
        f'<text x="{x1}" y="{axisY + 34}" text-anchor="end" stroke="none"'
        ' fill="#424242">seconds since start</text>'
    )
    out.append("</g>")

    out.append('<g class="legend">')
    lx = x0
    for outcome in ("ok", "failed", "timeout"):
        out.append(_mark(outcome, lx + 5, legendY, _COLOURS[outcome]))
        out.append(f'<text x="{lx + 16}" y="{legendY + 4}">{outcome}</text>')
        lx += 90
    out.append(
        f'<line x1="{lx}" y1="{legendY}" x2="{lx + 24}" y2="{legendY}"'
        ' stroke="#9e9e9e" stroke-width="2" stroke-dasharray="4 3"/>'
    )
    out.append(f'<text x="{lx + 30}" y="{legendY + 4}">connecting</text>')
    lx += 110
    out.append(
        f'<rect x="{lx}" y="{_n(legendY - barHeight / 2)}" width="24"'
        f' height="{barHeight}" fill="#424242" fill-opacity="0.25"/>'
    )
    out.append(f'<text x="{lx + 30}" y="{legendY + 4}">connected</text>')
    lx += 105
    out.append(
        f'<rect x="{lx}" y="{_n(legendY - barHeight / 2)}" width="2"'
        f' height="{barHeight}"'
        ' fill="#424242"/>'
    )
    out.append(f'<text x="{lx + 8}" y="{legendY + 4}">bytes arrived</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
