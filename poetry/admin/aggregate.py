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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poetry.admin.control import BehaviourControl
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome
from poetry.server.view import LiveConnection, ServerView
from poetry.service.behaviour import Behaviour

if TYPE_CHECKING:
    from poetry.server.factory import PoetryServerFactory
    from poetry.service.supervisor import WorkerProcess, WorkerSupervisor

__all__ = [
    "WORKER_LIVE_LIMIT",
    "AggregateView",
    "WorkerStatus",
    "WorkersBehaviourControl",
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


def status_snapshot(view: ServerView, limit: int = WORKER_LIVE_LIMIT) -> dict[str, Any]:
    """
    What the parent's admin endpoint needs of one worker, beyond its
    counts, read from the worker's C{view}: plain JSON, at most C{limit}
    live connections.
    """
    shown, total = view.live(limit)
    return {
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
            return cls(
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
    observer: the duration histogram and the timeline's ended connections
    stay empty with workers.

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

    def observe(self, observer: Callable[[BaseServerProtocol], object]) -> None:
        """No connection ends in the parent: C{observer} is never called."""


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
