"""
The admin endpoint over C{--workers N}: the parent runs the admin
endpoint, and L{AggregateView} (the methods of L{ServerView}) reads what
every worker last reported instead of one factory.

A worker with an admin endpoint configured adds a L{status_snapshot} to
the counts it sends the parent once a second (L{poetry.service.worker});
the parent keeps each worker's latest one (L{WorkerProcess.status}), and
L{WorkerStatus.parse} reads it back, bounded.  L{WorkersBehaviourControl}
checks a behaviour change once in the parent, then hands the document to
the supervisor, which sends it to every worker (and to each one started
later).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric

from poetry.admin.control import BehaviourControl
from poetry.admin.metrics import DURATION_BUCKETS, ServerMetrics
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome
from poetry.server.view import LiveConnection, ServerView, fault_mode
from poetry.service.behaviour import Behaviour

if TYPE_CHECKING:
    from poetry.server.factory import PoetryServerFactory
    from poetry.service.supervisor import WorkerProcess, WorkerSupervisor

__all__ = [
    "WORKER_LIVE_LIMIT",
    "AggregateView",
    "EndedTally",
    "WorkerStatus",
    "WorkersBehaviourControl",
    "WorkersMetrics",
    "status_snapshot",
]

WORKER_LIVE_LIMIT = 100
"""
The most live connections one worker describes in each snapshot (the
oldest ones; its total is always given).  It keeps the line a worker
writes every second, and the parent's memory per worker, small and
bounded however many connections the worker serves.
"""

_ROW_FIELDS: dict[str, type | tuple[type, ...]] = {
    "peer": str,
    "poem": str,
    "bytes_sent": int,
    "size": int,
    "seconds_open": (int, float),
    "state": str,
}


class EndedTally:
    """
    In a worker, what only the end of a connection knows and the parent's
    metrics need (L{ServerMetrics} keeps it in one process): the ended
    connections that played a fault mode, by mode, and how long each
    lasted, counted in L{DURATION_BUCKETS} (the last slot: longer).
    """

    def __init__(self, view: ServerView) -> None:
        self.view = view
        self.faults: dict[str, int] = {}
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.seconds = 0.0
        view.observe(self.connection_ended)

    def connection_ended(self, protocol: BaseServerProtocol) -> None:
        """Count C{protocol}'s connection."""
        seconds = max(0.0, self.view.now() - protocol.started)
        self.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.seconds += seconds
        mode = fault_mode(protocol)
        if mode is not None:
            self.faults[mode] = self.faults.get(mode, 0) + 1


def status_snapshot(
    view: ServerView, tally: EndedTally, limit: int = WORKER_LIVE_LIMIT
) -> dict[str, Any]:
    """
    What the parent's admin endpoint needs of one worker, beyond its
    counts, read from the worker's C{view} and C{tally}: plain JSON, at
    most C{limit} live connections.
    """
    shown, total = view.live(limit)
    return {
        "faults_ended": dict(tally.faults),
        "durations": list(tally.buckets),
        "duration_sum": round(tally.seconds, 6),
        "time": view.now(),
        "live": [c.as_dict() for c in shown],
        "live_total": total,
        "bytes_sent_live": view.bytes_sent_live(),
        "live_faults": view.live_faults(),
        "ended": {outcome.name: n for outcome, n in view.ended().items()},
    }


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(value)
    return {str(k): _count(v) for k, v in value.items()}


@dataclass(frozen=True)
class WorkerStatus:
    """
    One worker's latest L{status_snapshot}, read back.

    @ivar time: the worker's clock when it was taken.
    @ivar live: its oldest live connections (at most L{WORKER_LIVE_LIMIT}).
    @ivar live_total: how many connections it had live.
    """

    time: float
    live: tuple[LiveConnection, ...]
    live_total: int
    bytes_sent_live: int
    live_faults: dict[str, int]
    ended: dict[ConnectionOutcome, int]
    faults_ended: dict[str, int]
    durations: tuple[int, ...]
    duration_sum: float

    @classmethod
    def parse(cls, raw: Any) -> WorkerStatus | None:
        """
        The status a worker sent, or L{None} if it is not one (a field
        missing or of the wrong type): nothing half-read is shown.  At most
        L{WORKER_LIVE_LIMIT} rows are kept.
        """
        try:
            if not isinstance(raw, dict):
                raise ValueError(raw)
            time = raw["time"]
            if isinstance(time, bool) or not isinstance(time, (int, float)):
                raise ValueError(time)
            rows = raw["live"]
            if not isinstance(rows, list):
                raise ValueError(rows)
            live = []
            for row in rows[:WORKER_LIVE_LIMIT]:
                if not isinstance(row, dict):
                    raise ValueError(row)
                for name, kind in _ROW_FIELDS.items():
                    if isinstance(row.get(name), bool) or not isinstance(
                        row.get(name), kind
                    ):
                        raise ValueError(name)
                live.append(LiveConnection(**{n: row[n] for n in _ROW_FIELDS}))
            ended = {
                ConnectionOutcome[name]: n for name, n in _counts(raw["ended"]).items()
            }
            durations = raw["durations"]
            if (
                not isinstance(durations, list)
                or len(durations) != len(DURATION_BUCKETS) + 1
            ):
                raise ValueError(durations)
            duration_sum = raw["duration_sum"]
            if isinstance(duration_sum, bool) or not isinstance(
                duration_sum, (int, float)
            ):
                raise ValueError(duration_sum)
            return cls(
                faults_ended=_counts(raw["faults_ended"]),
                durations=tuple(_count(n) for n in durations),
                duration_sum=float(duration_sum),
                time=float(time),
                live=tuple(live),
                live_total=_count(raw["live_total"]),
                bytes_sent_live=_count(raw["bytes_sent_live"]),
                live_faults=_counts(raw["live_faults"]),
                ended=ended,
            )
        except (KeyError, ValueError, TypeError):
            return None


class AggregateView(ServerView):
    """
    L{ServerView}'s read-only methods over every worker of a
    L{WorkerSupervisor}: counters summed (the workers that have exited
    included, from their last counts), live connections merged (the
    oldest L{LIVE_LIMIT}), the behaviour and limits the parent's factory
    holds (the same as every worker's: changes reach both).

    No connection ends in the parent, so L{observe} never calls its
    observer: the workers' L{EndedTally} reports stand in for it
    (L{faults_ended}, L{durations}, read by L{WorkersMetrics}); the
    timeline's rows stay empty with workers.

    @ivar factory: the parent's factory (its behaviour and limits).
    @ivar supervisor: the workers' supervisor.
    """

    def __init__(
        self, factory: PoetryServerFactory, supervisor: WorkerSupervisor
    ) -> None:
        super().__init__(factory)
        self.supervisor = supervisor
        #: The counts of the workers that have exited, summed.
        self.retired_counts: dict[str, int] = {}
        #: Their ended connections by outcome, summed.
        self.retired_ended: dict[ConnectionOutcome, int] = {}
        #: Their ended fault connections by mode, summed.
        self.retired_faults: dict[str, int] = {}
        #: Their duration bucket counts and seconds, summed.
        self.retired_durations = [0] * (len(DURATION_BUCKETS) + 1)
        self.retired_seconds = 0.0
        supervisor.ended_observers.append(self.worker_ended)

    def worker_ended(self, process: WorkerProcess) -> None:
        """Keep the last counts of a worker that exited."""
        for name, value in (process.counts or {}).items():
            if isinstance(value, int):
                self.retired_counts[name] = self.retired_counts.get(name, 0) + value
        status = WorkerStatus.parse(process.status)
        if status is not None:
            for outcome, n in status.ended.items():
                self.retired_ended[outcome] = self.retired_ended.get(outcome, 0) + n
            for mode, n in status.faults_ended.items():
                self.retired_faults[mode] = self.retired_faults.get(mode, 0) + n
            for index, n in enumerate(status.durations):
                self.retired_durations[index] += n
            self.retired_seconds += status.duration_sum

    def statuses(self) -> list[WorkerStatus]:
        """The running workers' latest statuses (those that sent one)."""
        parsed = (WorkerStatus.parse(p.status) for p in self._running())
        return [s for s in parsed if s is not None]

    def _running(self) -> list[WorkerProcess]:
        return [self.supervisor.workers[n] for n in sorted(self.supervisor.workers)]

    def counts(self) -> dict[str, int]:
        """Every counter, summed over the workers (C{live}: the live total)."""
        totals = dict.fromkeys(self.factory.counts(), 0)
        sources = [self.retired_counts]
        sources += [p.counts for p in self._running() if p.counts is not None]
        for counts in sources:
            for name, value in counts.items():
                if name in totals and isinstance(value, int):
                    totals[name] += value
        totals["live"] = self.live_total()
        return totals

    def ended(self) -> dict[ConnectionOutcome, int]:
        """Ended connections by outcome, summed over the workers."""
        totals = dict.fromkeys(ConnectionOutcome, 0)
        for ended in [self.retired_ended, *(s.ended for s in self.statuses())]:
            for outcome, n in ended.items():
                totals[outcome] += n
        return totals

    def live_total(self) -> int:
        """How many connections are live, in every worker."""
        return sum(s.live_total for s in self.statuses())

    def live_protocols(self, limit: int | None = None) -> list[BaseServerProtocol]:
        """None: the connections live in the workers, not here."""
        return []

    def newest_protocols(self, limit: int) -> list[BaseServerProtocol]:
        """None: the connections live in the workers, not here."""
        return []

    def live(self, limit: int | None = None) -> tuple[list[LiveConnection], int]:
        """
        The oldest C{limit} (default L{LIVE_LIMIT}) live connections the
        workers described, their ages brought up to now, and the live total.
        """
        if limit is None:
            limit = self.LIVE_LIMIT
        now = self.now()
        rows = []
        for status in self.statuses():
            age = max(0.0, now - status.time)
            for row in status.live:
                seconds = round(row.seconds_open + age, 3)
                rows.append(
                    LiveConnection(
                        row.peer, row.poem, row.bytes_sent, row.size, seconds, row.state
                    )
                )
        shown = heapq.nlargest(limit, rows, key=lambda c: c.seconds_open)
        return shown, self.live_total()

    def bytes_sent_live(self) -> int:
        """Bytes sent on the workers' live connections, when they reported."""
        return sum(s.bytes_sent_live for s in self.statuses())

    def live_faults(self) -> dict[str, int]:
        """The workers' live connections playing a fault mode, by mode."""
        modes: dict[str, int] = {}
        for status in self.statuses():
            for mode, n in status.live_faults.items():
                modes[mode] = modes.get(mode, 0) + n
        return modes

    def faults_ended(self) -> dict[str, int]:
        """The workers' ended connections that played a fault, by mode."""
        modes = dict(self.retired_faults)
        for status in self.statuses():
            for mode, n in status.faults_ended.items():
                modes[mode] = modes.get(mode, 0) + n
        return modes

    def durations(self) -> tuple[list[int], float]:
        """
        The workers' ended connections counted by duration bucket
        (L{DURATION_BUCKETS}, then longer), and their seconds in all.
        """
        buckets = list(self.retired_durations)
        seconds = self.retired_seconds
        for status in self.statuses():
            for index, n in enumerate(status.durations):
                buckets[index] += n
            seconds += status.duration_sum
        return buckets, seconds

    def observe(self, observer: Callable[[BaseServerProtocol], object]) -> None:
        """
        No connection ends in the parent: C{observer} is never called (the
        workers count what their ends tell: L{faults_ended}, L{durations}).
        """


class WorkersMetrics(ServerMetrics):
    """
    L{ServerMetrics} over an L{AggregateView}: the same metrics, the
    duration histogram and the ended fault activations summed from the
    workers' reports instead of observed here.
    """

    def __init__(self, view: AggregateView) -> None:
        self.view = view
        self.aggregate = view
        self.registry = CollectorRegistry(auto_describe=False)
        self.faults_ended = {}
        self.registry.register(self)

    def ended_faults(self) -> dict[str, int]:
        return self.aggregate.faults_ended()

    def collect(self) -> Iterator[Metric]:
        yield from super().collect()
        buckets, seconds = self.aggregate.durations()
        cumulative, rows = 0, []
        for bound, n in zip([*DURATION_BUCKETS, float("inf")], buckets, strict=True):
            cumulative += n
            rows.append((_bound(bound), cumulative))
        yield HistogramMetricFamily(
            "poetry_connection_duration_seconds",
            "How long server connections lasted, in seconds.",
            buckets=rows,
            sum_value=seconds,
        )


def _bound(bound: float) -> str:
    """A bucket's C{le} label as C{prometheus_client} writes it."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class WorkersBehaviourControl(BehaviourControl):
    """
    A L{BehaviourControl} for C{--workers}: a change is checked and applied
    in the parent's factory (so the status shows it), then its document
    goes to every worker through the supervisor, which applies it there.
    """

    def __init__(
        self, factory: PoetryServerFactory, supervisor: WorkerSupervisor
    ) -> None:
        super().__init__(factory)
        self.supervisor = supervisor

    def _apply(self, behaviour: Behaviour, peer: str, change: str) -> Behaviour:
        applied = super()._apply(behaviour, peer, change)
        self.supervisor.set_behaviour(applied.as_document())
        return applied
