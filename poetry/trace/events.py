"""
Trace events: one L{TraceEvent} per client callback, its one-line text, and
the log observer writing those lines.

A trace event travels as an ordinary C{twisted.logger} event (namespace
L{TRACE_NAMESPACE}) whose fields are the event's own (C{trace_time},
C{trace_task}, ...) and whose format is L{TRACE_FORMAT}: the details are
rendered only when an observer asks for text.  L{trace_observer} is that
observer for C{get-poetry --trace}; L{format_trace_line} gives the same line
for one event without the logging system.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

from twisted.internet.interfaces import IAddress
from twisted.logger import FileLogObserver, ILogObserver, LogEvent, formatEvent
from twisted.python.failure import Failure

from poetry.addresses import format_address

__all__ = [
    "MAX_VALUE_LENGTH",
    "SOURCES",
    "TRACE_FORMAT",
    "TRACE_NAMESPACE",
    "TraceEvent",
    "describe_value",
    "format_trace_line",
    "log_fields",
    "plain_value",
    "trace_observer",
]

SOURCES = ("factory", "protocol", "timeout", "connector", "retry")
"""The objects whose callbacks are traced: the client factory, the protocol,
the download's timeout DelayedCall, the connector (a host name's lookup:
C{resolving}, C{resolved}) and the retries (C{scheduled}, C{started})."""

TRACE_NAMESPACE = "poetry.trace"
"""The C{twisted.logger} namespace of the events a L{poetry.trace.Tracer}
emits."""

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


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """
    One callback of one download, as recorded by a L{poetry.trace.Tracer}.

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


def _exception_text(exception: BaseException) -> str:
    name = type(exception).__name__
    message = " ".join(str(exception).split())
    return f"{name}: {message}" if message else name


def plain_value(value: object) -> str:
    """
    A short, readable rendering of a detail value, without quoting: an
    address (any L{IAddress}) as L{format_address} shows it, a failure or an
    exception as C{Class: message}, a float in its shortest form, anything
    else with C{str}.
    """
    if IAddress.providedBy(value):
        return format_address(value)
    if isinstance(value, Failure):
        value = value.value
    if isinstance(value, BaseException):
        return _exception_text(value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def describe_value(value: object) -> str:
    """
    Render one detail value for a trace line: L{plain_value}'s text
    (addresses as C{host:port}, C{[host]:port} for IPv6; failures as
    C{Class: message}...), cut to L{MAX_VALUE_LENGTH} characters, and quoted
    (JSON style, as logfmt does) if it is empty or holds spaces, quotes, C{=}
    or unprintable characters, so a line always stays one line of
    C{key=value} pairs.
    """
    text = plain_value(value)
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


def log_fields(event: TraceEvent) -> dict[str, object]:
    """
    The fields of the log event carrying C{event}: the event itself
    (C{trace_event}), its time, task, source and name, and its details
    (C{trace_details}), rendered by L{TRACE_FORMAT} only when formatted.
    """
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
    L{trace_observer} writes, e.g.::

        +0.003s task 2 factory.startedConnecting destination=127.0.0.1:10001
    """
    return TRACE_FORMAT.format(**log_fields(event))


def _format_trace_log_event(event: LogEvent) -> str | None:
    if not isinstance(event.get("trace_event"), TraceEvent):
        return None
    return formatEvent(event) + "\n"


def trace_observer(stream: IO[Any]) -> ILogObserver:
    """
    A log observer writing trace events, and nothing else, to C{stream}: one
    line each, flushed at once, in the format of L{format_trace_line}.
    Trace events are the ones a L{poetry.trace.Tracer} emits, whatever its
    logger's namespace.  For example::

        globalLogBeginner.beginLoggingTo(
            [trace_observer(sys.stderr), ...], redirectStandardIO=False
        )

    (without C{redirectStandardIO=False}, whatever else the program writes
    to C{sys.stderr} becomes log events, which this observer drops).
    """
    return FileLogObserver(stream, _format_trace_log_event)
