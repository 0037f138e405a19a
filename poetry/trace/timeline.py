"""
The timeline's row model: one L{TaskRow} per download, made from trace
events by L{timeline_from_events}, and the time-axis arithmetic every
renderer of the rows shares (L{timeline_span}, L{axis_ticks},
L{format_seconds}).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from poetry.client.results import DownloadStatus
from poetry.trace.events import TraceEvent, plain_value

__all__ = [
    "OUTCOMES",
    "TaskRow",
    "axis_ticks",
    "format_seconds",
    "timeline_from_events",
    "timeline_span",
]

OUTCOMES = (*(status.value for status in DownloadStatus), "unfinished")
"""How a download ended, as drawn on a timeline: a L{DownloadStatus} value,
or C{"unfinished"}: its events stop before any end (a chart drawn while
downloads still run)."""


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
    @ivar attempts: when each connection attempt after the first started
        (the next address of a host name, or a retry).
    """

    task: int
    label: str
    start: float
    connected: float | None
    arrivals: tuple[tuple[float, int], ...]
    end: float | None
    outcome: str
    attempts: tuple[float, ...] = ()

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


def _is_clean(event: TraceEvent) -> bool:
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
    attempts: list[float] = []
    started = False
    for event in events:
        key = (event.source, event.name)
        if key == ("factory", "startedConnecting"):
            if started:
                # Another attempt: the download goes on, its end is later.
                attempts.append(event.time)
                end, inferred = None, "unfinished"
            started = True
            destination = event.get("address", event.get("destination"))
            if destination is not None and not label:
                label = plain_value(destination)
        elif key in {("protocol", "makeConnection"), ("protocol", "connectionMade")}:
            if connected is None:
                connected = event.time
        elif key == ("protocol", "dataReceived"):
            arrivals.append((event.time, _size(event.get("bytes"))))
        elif end is None and key == ("protocol", "connectionLost"):
            end, inferred = event.time, "ok" if _is_clean(event) else "failed"
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
        attempts=tuple(attempts),
    )


def timeline_from_events(
    events: Iterable[TraceEvent], *, outcomes: Mapping[int, str] | None = None
) -> list[TaskRow]:
    """
    One row per task that has events, in task order.

    A task connected at its first C{makeConnection}/C{connectionMade}; its
    arrivals are its C{dataReceived} events (detail C{bytes}: a count, or the
    data); each C{startedConnecting} after the first is one more attempt
    (L{TaskRow.attempts}), its label the first one's C{address} (the
    address asked for) or C{destination}; it ended at the first ending
    event of its last attempt, which also gives its outcome:
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
    by_task: dict[int, list[TraceEvent]] = {}
    for event in sorted(events, key=lambda event: event.time):
        by_task.setdefault(event.task, []).append(event)
    return [_row(task, by_task[task], known.get(task)) for task in sorted(by_task)]


def timeline_span(rows: Sequence[TaskRow]) -> float:
    """
    The seconds a chart of C{rows} shows: from 0 to the last row's
    L{TaskRow.last}; 0 for no rows.
    """
    return max((row.last for row in rows), default=0.0)


def axis_ticks(span: float, length: float, spacing: float) -> tuple[float, list[float]]:
    """
    A "nice" step (1, 2 or 5 times a power of ten) putting ticks at least
    C{spacing} apart on an axis C{length} long showing C{span} seconds, and
    the tick times from 0 to C{span}.  An empty span or axis has one tick,
    at 0.
    """
    if span <= 0 or length <= 0:
        return 1.0, [0.0]
    raw = span * spacing / length
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    count = int(span / step + 1e-9)
    return step, [k * step for k in range(count + 1)]


def format_seconds(time: float) -> str:
    """
    The label of a tick at C{time}: its shortest form in seconds (C{"0s"},
    C{"0.5s"}, C{"2s"}), free of float noise (C{0.1 * 3} is C{"0.3s"}).
    """
    return f"{round(time, 9):g}s"
