"""
C{--trace}, C{--timeline} and C{--timeline-svg}: the L{Tracer} a run gives
the client, the recorders beside it, and the timeline outputs as sinks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger, LogPublisher

from poetry.cli.sinks import Sink
from poetry.cli.summary import TaskResult
from poetry.client import TraceRecorder
from poetry.trace import (
    TRACE_NAMESPACE,
    TaskRow,
    Tracer,
    render_timeline_svg,
    render_timeline_text,
    trace_observer,
)

_T = TypeVar("_T")

__all__ = [
    "FactoryWatch",
    "TimelineChart",
    "TimelineSVG",
    "Tracing",
    "fan_out",
    "new_tracer",
    "timeline_rows",
]


def new_tracer(clock: Any, trace_to: IO[str] | None) -> Tracer:
    """
    A L{Tracer} recording every callback; with C{trace_to} (C{--trace}),
    also logging each one there at once.
    """
    log = None
    if trace_to is not None:
        # A publisher of its own: trace lines reach this run's stderr
        # whatever the global log observers are, and a broken stderr
        # cannot raise into the client's callbacks.
        log = Logger(
            namespace=TRACE_NAMESPACE, observer=LogPublisher(trace_observer(trace_to))
        )
    return Tracer(clock=clock, log=log, emit=trace_to is not None)


def timeline_rows(tracer: Tracer, results: Sequence[TaskResult]) -> list[TaskRow]:
    """The timeline's rows: C{tracer}'s events, each task drawn as it ended."""
    return tracer.timeline({r.task: r.status.value for r in results})


class TimelineChart(Sink):
    """C{--timeline}: once the downloads end, the chart on a text stream."""

    def __init__(self, tracer: Tracer, text: Callable[[], IO[str]]) -> None:
        self._tracer = tracer
        self._text = text

    def on_end(self, results: Sequence[TaskResult]) -> None:
        text = self._text()
        rows = timeline_rows(self._tracer, results)
        text.write(render_timeline_text(rows, stream=text))


class TimelineSVG(Sink):
    """
    C{--timeline-svg FILE}: once the downloads end, the chart as an SVG
    file.  A failure to write it is given to C{failed} as one message;
    everything else carries on.
    """

    def __init__(
        self, tracer: Tracer, path: Path, failed: Callable[[str], object]
    ) -> None:
        self._tracer = tracer
        self._path = path
        self._failed = failed

    def on_end(self, results: Sequence[TaskResult]) -> None:
        svg = render_timeline_svg(timeline_rows(self._tracer, results))
        try:
            with open(self._path, "w", encoding="utf-8") as f:
                f.write(svg)
        except OSError as e:
            self._failed(
                f"cannot write timeline SVG {str(self._path)!r}: {e.strerror or e}"
            )


class FactoryWatch:
    """
    A L{TraceRecorder} counting the client factories started
    (C{factory.doStart}) and not yet stopped (C{factory.doStop}).

    @ivar live: how many are started and not stopped.
    """

    def __init__(self) -> None:
        self.live = 0
        self._waiting: list[Deferred[None]] = []

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        if source != "factory":
            return
        if name == "doStart":
            self.live += 1
        elif name == "doStop":
            self.live -= 1
            if self.live <= 0:
                waiting, self._waiting = self._waiting, []
                for d in waiting:
                    d.callback(None)

    def when_stopped(self) -> Deferred[None]:
        """A L{Deferred} firing once no factory is live (at once if none)."""
        if self.live <= 0:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d


class _FanOut:
    """A L{TraceRecorder} passing each event to several recorders."""

    def __init__(self, recorders: Sequence[TraceRecorder]) -> None:
        self.recorders = tuple(recorders)

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        for recorder in self.recorders:
            recorder.record(task, source, name, **detail)


def fan_out(recorders: Sequence[TraceRecorder]) -> TraceRecorder | None:
    """One recorder for C{recorders}: L{None} for none (no tracing, no cost)."""
    if not recorders:
        return None
    if len(recorders) == 1:
        return recorders[0]
    return _FanOut(recorders)


class Tracing:
    """
    C{--trace}, C{--timeline} and C{--timeline-svg} for one run: one
    L{Tracer} recording every callback (and, for C{--trace}, logging each
    one to stderr at once), a L{FactoryWatch}, and the timeline sinks.

    @ivar recorders: what to give the client (L{tracer} and the watch).
    @ivar sinks: the timeline outputs the options ask for.
    """

    FACTORY_STOP_GRACE = 1.0
    """
    The longest the end of a run waits, in seconds, for Twisted to stop
    the last client factories.  A download's result fires before its
    factory's C{clientConnectionLost} and C{doStop} (at once after a clean
    close, one reactor turn later after an abort), and waiting for them
    keeps their trace lines above the timeline and the summary.  The limit
    protects the run from hanging on a connector that never reports.
    """

    @classmethod
    def build(
        cls,
        options: argparse.Namespace,
        clock: Any,
        text_err: Callable[[], IO[str]],
        failed: Callable[[str], object],
    ) -> Tracing | None:
        """A L{Tracing} if C{options} ask for any of it, else L{None}."""
        return cls(options, clock, text_err, failed) if cls.wanted(options) else None

    @staticmethod
    def wanted(options: argparse.Namespace) -> bool:
        """Whether C{options} ask for any of it (else: no tracer, no cost)."""
        return bool(
            options.trace or options.timeline or options.timeline_svg is not None
        )

    def __init__(
        self,
        options: argparse.Namespace,
        clock: Any,
        text_err: Callable[[], IO[str]],
        failed: Callable[[str], object],
    ) -> None:
        """
        @param text_err: stderr as a new text file.
        @param failed: given the message when an output cannot be written.
        """
        self._clock = clock
        self.tracer = new_tracer(clock, text_err() if options.trace else None)
        self.factories = FactoryWatch()
        self.recorders: list[TraceRecorder] = [self.tracer, self.factories]
        self.sinks: list[Sink] = []
        if options.timeline:
            self.sinks.append(TimelineChart(self.tracer, text_err))
        if options.timeline_svg is not None:
            self.sinks.append(TimelineSVG(self.tracer, options.timeline_svg, failed))

    def when_factories_stopped(self, result: _T) -> Deferred[_T]:
        """
        Fires with C{result} once every started factory has stopped, or
        after L{FACTORY_STOP_GRACE} seconds (or when cancelled: Ctrl-C), so
        that their trace lines come before the timeline and the summary.
        """
        stopped = self.factories.when_stopped()
        if not stopped.called:
            stopped.addTimeout(self.FACTORY_STOP_GRACE, self._clock)
        return stopped.addBoth(lambda _: result)
