"""
The L{Tracer}: records each callback of a download as a L{TraceEvent} and,
as it happens, emits it as one C{twisted.logger} event.
"""

from __future__ import annotations

from collections.abc import Mapping

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger, LogLevel

from poetry.trace.events import (
    SOURCES,
    TRACE_FORMAT,
    TRACE_NAMESPACE,
    TraceEvent,
    log_fields,
)
from poetry.trace.timeline import TaskRow, timeline_from_events

__all__ = ["Tracer"]


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
        L{poetry.trace.trace_observer} to show it.
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
            self.log.emit(self.level, TRACE_FORMAT, **log_fields(event))

    def timeline(self, outcomes: Mapping[int, str] | None = None) -> list[TaskRow]:
        """
        The timeline rows of the events recorded so far: see
        L{timeline_from_events}.
        """
        return timeline_from_events(self.events, outcomes=outcomes)
