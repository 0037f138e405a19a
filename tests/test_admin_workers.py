"""
The admin endpoint over C{--workers}: L{status_snapshot} and
L{WorkerStatus.parse} (a worker's report and the parent reading it back),
L{AggregateView} over a supervisor's workers, L{WorkersBehaviourControl}
and the worker's C{behaviour} command.  The real processes are in
L{tests.test_workers.RealWorkersTests.test_adminOverWorkers}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel, eventAsJSON
from twisted.trial.unittest import SynchronousTestCase

from poetry.admin.aggregate import (
    WORKER_LIVE_LIMIT,
    AggregateView,
    EndedTally,
    WorkersBehaviourControl,
    WorkersMetrics,
    WorkerStatus,
    status_snapshot,
)
from poetry.admin.metrics import DURATION_BUCKETS, ServerMetrics
from poetry.admin.resources import StatusResource
from poetry.faults import parse_fault
from poetry.server import ConnectionOutcome, PoetryServerFactory
from poetry.server.rules import ConfigError
from poetry.server.view import ServerView
from poetry.service import PoetryService
from poetry.service.reports import WORKER_REPORT_NAMESPACE
from poetry.service.supervisor import WorkerProcess, WorkerSupervisor
from poetry.service.worker import Worker, WorkerControl
from tests.helpers import lose
from tests.test_admin_parts import connect, make_factory
from tests.test_workers import FakeProcess, ProcessClock, ended, make_supervisor


def status(
    time: float = 100.0,
    live: list[dict[str, Any]] | None = None,
    live_total: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A worker's status document, as L{status_snapshot} writes it."""
    rows = live or []
    document = {
        "time": time,
        "live": rows,
        "live_total": len(rows) if live_total is None else live_total,
        "bytes_sent_live": 0,
        "live_faults": {},
        "ended": {},
        "faults_ended": {},
        "durations": [0] * (len(DURATION_BUCKETS) + 1),
        "duration_sum": 0.0,
    }
    document.update(kw)
    return document


def row(peer: str, seconds_open: float, sent: int = 10) -> dict[str, Any]:
    return {"peer": peer, "poem": "verse", "bytes_sent": sent, "size": 100,
            "seconds_open": seconds_open, "state": "sending"}  # fmt: skip


def counts_line(number: int, counts: dict[str, int], status: Any) -> bytes:
    """The counts event a worker writes on its stdout."""
    event = {
        "log_namespace": WORKER_REPORT_NAMESPACE,
        "log_format": "Worker {worker} counts",
        "log_level": LogLevel.info,
        "worker": number,
        "counts": counts,
        "status": status,
    }
    return eventAsJSON(event).encode() + b"\n"


def two_workers() -> tuple[WorkerSupervisor, ProcessClock, PoetryServerFactory]:
    """
    A supervisor of two started (pretend) workers, its log discarded, and
    a parent's factory on the same clock.
    """
    supervisor, clock, _ = make_supervisor(count=2)
    supervisor.log = Logger(observer=lambda e: None)
    supervisor.startService()
    return supervisor, clock, make_factory(clock)  # type: ignore[arg-type]


class WorkerStatusTests(SynchronousTestCase):
    """A worker's L{status_snapshot}, and the parent reading it back."""

    def test_roundTrip(self) -> None:
        """
        What a worker's view shows (its live connections, bytes, ended
        outcomes) survives JSON and L{WorkerStatus.parse} unchanged.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock)
        view = ServerView(factory)
        tally = EndedTally(view)
        first = connect(factory, 40001)
        clock.advance(2)
        connect(factory, 40002)
        lose(first)
        factory.ended[ConnectionOutcome.COMPLETE] += 3
        snapshot = json.loads(json.dumps(status_snapshot(view, tally)))
        parsed = WorkerStatus.parse(snapshot)
        assert parsed is not None
        shown, total = view.live()
        self.assertEqual(list(parsed.live), shown)
        self.assertEqual(parsed.live_total, total)
        self.assertEqual(parsed.live_total, 1)
        self.assertEqual(parsed.time, clock.seconds())
        self.assertEqual(parsed.ended, view.ended())
        self.assertEqual(parsed.bytes_sent_live, view.bytes_sent_live())
        self.assertEqual(list(parsed.durations), tally.buckets)
        self.assertEqual(sum(parsed.durations), 1)
        self.assertEqual(parsed.duration_sum, 2.0)

    def test_tallyBucketsAndFaults(self) -> None:
        """
        A connection open 3 s counts in the 5 s bucket (not 2.5 s), one
        open exactly 5 s too (le); a fault connection counts by mode.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, fault=parse_fault("stall"))
        view = ServerView(factory)
        tally = EndedTally(view)
        first, second = connect(factory, 40001), connect(factory, 40002)
        clock.advance(3)
        lose(first)
        clock.advance(2)
        lose(second)
        five = DURATION_BUCKETS.index(5)
        self.assertEqual(tally.buckets[five], 2)
        self.assertEqual(sum(tally.buckets), 2)
        self.assertEqual(tally.seconds, 8.0)
        self.assertEqual(tally.faults, {"stall": 2})

    def test_snapshotBounded(self) -> None:
        """A worker describes at most WORKER_LIVE_LIMIT connections, all counted."""
        factory = make_factory(MemoryReactorClock())
        view = ServerView(factory)
        for port in range(WORKER_LIVE_LIMIT + 5):
            connect(factory, 40000 + port)
        snapshot = status_snapshot(view, EndedTally(view))
        self.assertEqual(len(snapshot["live"]), WORKER_LIVE_LIMIT)
        self.assertEqual(snapshot["live_total"], WORKER_LIVE_LIMIT + 5)
        snapshot["live"] = snapshot["live"] * 3
        parsed = WorkerStatus.parse(snapshot)
        assert parsed is not None
        self.assertEqual(len(parsed.live), WORKER_LIVE_LIMIT)

    def test_malformed(self) -> None:
        """Anything not a whole status reads as None, never half of one."""
        self.assertIsNotNone(WorkerStatus.parse(status(live=[row("a", 1)])))
        bad: list[Any] = [
            None,
            [],
            "status",
            {k: v for k, v in status().items() if k != "ended"},
            status(time="now"),
            status(time=True),
            status(live="rows"),
            status(live=[["a"]]),
            status(live=[{**row("a", 1), "bytes_sent": "ten"}]),
            status(live=[{**row("a", 1), "size": False}]),
            status(live=[{k: v for k, v in row("a", 1).items() if k != "state"}]),
            status(live_total=-1),
            status(bytes_sent_live=1.5),
            status(live_faults={"reset": "x"}),
            status(ended={"NO_SUCH_OUTCOME": 1}),
            status(ended=[1]),
            status(durations=[0, 1]),
            status(durations="none"),
            status(duration_sum="1"),
            status(faults_ended={"reset": -1}),
        ]
        for document in bad:
            self.assertIsNone(WorkerStatus.parse(document), document)


class AggregateViewTests(SynchronousTestCase):
    """L{AggregateView}: every worker's latest report, as one server's view."""

    def setUp(self) -> None:
        self.supervisor, self.clock, self.factory = two_workers()
        self.view = AggregateView(self.factory, self.supervisor)
        self.clock.advance(103)

    def worker(self, number: int) -> WorkerProcess:
        return self.supervisor.workers[number]

    def report(self, number: int, counts: dict[str, int], document: Any) -> None:
        self.worker(number).outReceived(counts_line(number, counts, document))

    def test_countsSummed(self) -> None:
        """
        The counters are every worker's summed (those not reported yet
        count nothing); live is the workers' live totals.
        """
        names = self.factory.counts()
        zero = dict.fromkeys(names, 0)
        zero.pop("live")
        self.assertEqual(self.view.counts(), dict.fromkeys(names, 0))
        self.report(1, zero | {"served": 3, "bytes_sent": 300}, status(live_total=2))
        self.assertEqual(self.view.counts()["served"], 3)
        self.report(2, zero | {"served": 4, "bytes_sent": 50}, status(live_total=5))
        counts = self.view.counts()
        self.assertEqual(set(counts), set(names))
        self.assertEqual(counts["served"], 7)
        self.assertEqual(counts["bytes_sent"], 350)
        self.assertEqual(counts["live"], 7)
        self.assertEqual(self.view.live_total(), 7)

    def test_exitedWorkerStillCounts(self) -> None:
        """
        A worker that exits (and its replacement) keep counting: its last
        counts and outcomes stay in the sums, its live connections do not.
        """
        zero = dict.fromkeys(self.factory.counts(), 0)
        zero.pop("live")
        ended_one = {"COMPLETE": 2, "CLIENT_GONE": 1}
        self.report(1, zero | {"served": 2}, status(live_total=4, ended=ended_one))
        self.report(2, zero | {"served": 5}, status(ended={"COMPLETE": 5}))
        old = self.worker(1)
        old.processEnded(ended(None, 9))
        self.assertNotIn(1, self.supervisor.workers)
        counts = self.view.counts()
        self.assertEqual(counts["served"], 7)
        self.assertEqual(counts["live"], 0)
        self.clock.advance(1)  # the restart
        self.assertIsNot(self.worker(1), old)
        self.report(1, zero | {"served": 1}, status(ended={"COMPLETE": 1}))
        self.assertEqual(self.view.counts()["served"], 8)
        view_ended = self.view.ended()
        self.assertEqual(set(view_ended), set(ConnectionOutcome))
        self.assertEqual(view_ended[ConnectionOutcome.COMPLETE], 8)
        self.assertEqual(view_ended[ConnectionOutcome.CLIENT_GONE], 1)

    def test_liveMerged(self) -> None:
        """
        The live connections are merged oldest first, their ages brought
        up to now from when each worker reported, bounded by the limit;
        the total counts them all.
        """
        now = self.clock.seconds()
        self.report(1, {}, status(now - 2, [row("a", 1.0), row("b", 0.25)], 40))
        self.report(2, {}, status(now, [row("c", 2.5)], 3))
        shown, total = self.view.live()
        self.assertEqual(total, 43)
        self.assertEqual([c.peer for c in shown], ["a", "c", "b"])
        self.assertEqual([c.seconds_open for c in shown], [3.0, 2.5, 2.25])
        shown, total = self.view.live(limit=1)
        self.assertEqual([c.peer for c in shown], ["a"])
        self.assertEqual(total, 43)
        self.assertEqual(self.view.live_protocols(), [])
        self.assertEqual(self.view.newest_protocols(5), [])

    def test_bytesAndFaults(self) -> None:
        """Bytes sent live and live faults by mode are summed."""
        self.report(1, {}, status(bytes_sent_live=10, live_faults={"reset": 2}))
        self.report(
            2, {}, status(bytes_sent_live=5, live_faults={"reset": 1, "stall": 4})
        )
        self.assertEqual(self.view.bytes_sent_live(), 15)
        self.assertEqual(self.view.live_faults(), {"reset": 3, "stall": 4})

    def test_badStatusIgnored(self) -> None:
        """A worker whose status does not parse shows nothing, the others do."""
        self.report(1, {}, status(live_total=2))
        self.report(2, {}, {"live_total": "many"})
        self.assertEqual(self.view.live_total(), 2)
        self.assertEqual(len(self.view.statuses()), 1)

    def test_statusAndMetrics(self) -> None:
        """
        The admin's status document and metrics, over the aggregate view,
        show the workers' sums and the parent's behaviour and limits.
        """
        zero = dict.fromkeys(self.factory.counts(), 0)
        zero.pop("live")
        one = status(live=[row("a", 1.0, sent=7)], bytes_sent_live=7)
        self.report(1, zero | {"served": 2, "bytes_sent": 20}, one)
        self.report(2, zero | {"served": 1, "bytes_sent": 10},
                    status(ended={"COMPLETE": 3}))  # fmt: skip
        control = WorkersBehaviourControl(self.factory, self.supervisor)
        document = StatusResource(self.view, control).get(None)
        self.assertEqual(document["counters"]["served"], 3)
        self.assertEqual(document["counters"]["bytes_sent_live"], 7)
        self.assertEqual(document["live"]["total"], 1)
        self.assertEqual(document["live"]["connections"][0]["peer"], "a")
        self.assertEqual(document["mode"], "fast")
        self.assertEqual(document["limits"], ServerView(self.factory).limits())
        text = WorkersMetrics(self.view).exposition().decode()
        self.assertIn("poetry_bytes_sent_total 37.0", text)
        self.assertIn('poetry_connections_ended_total{outcome="complete"} 3.0', text)
        self.assertIn("poetry_live_connections 1.0", text)

    def test_metricsHistogramAndFaults(self) -> None:
        """
        The duration histogram and the ended fault activations sum every
        worker's, an exited one's too, in the same format as one process's.
        """
        one = [0] * (len(DURATION_BUCKETS) + 1)
        one[0], one[-1] = 2, 1
        two = [0] * (len(DURATION_BUCKETS) + 1)
        two[DURATION_BUCKETS.index(5)] = 3
        zero = dict.fromkeys(self.factory.counts(), 0)
        zero.pop("live")
        self.report(1, zero, status(durations=one, duration_sum=700.0,
                                  faults_ended={"reset": 2}))  # fmt: skip
        self.report(2, zero, status(durations=two, duration_sum=12.0,
                                  faults_ended={"reset": 1, "stall": 1},
                                  live_faults={"stall": 4}))  # fmt: skip
        self.worker(1).processEnded(ended(0))
        metrics = WorkersMetrics(self.view)
        text = metrics.exposition().decode()
        name = "poetry_connection_duration_seconds"
        self.assertIn(f'{name}_bucket{{le="0.001"}} 2.0', text)
        self.assertIn(f'{name}_bucket{{le="2.5"}} 2.0', text)
        self.assertIn(f'{name}_bucket{{le="5.0"}} 5.0', text)
        self.assertIn(f'{name}_bucket{{le="+Inf"}} 6.0', text)
        self.assertIn(f"{name}_count 6.0", text)
        self.assertIn(f"{name}_sum 712.0", text)
        faults = "poetry_fault_activations_total"
        self.assertIn(f'{faults}{{mode="reset"}} 3.0', text)
        self.assertIn(f'{faults}{{mode="stall"}} 5.0', text)
        # One process's exposition names the same bucket labels.
        single = ServerMetrics(ServerView(self.factory)).exposition().decode()
        for label in ('le="0.001"', 'le="5.0"', 'le="+Inf"'):
            self.assertIn(f"{name}_bucket{{{label}}}", single)


class WorkersBehaviourTests(SynchronousTestCase):
    """A behaviour change with workers: checked once, sent to every worker."""

    def setUp(self) -> None:
        self.supervisor, self.clock, self.factory = two_workers()
        self.control = WorkersBehaviourControl(self.factory, self.supervisor)
        self.control.log = Logger(observer=lambda e: None)

    def sent(self, number: int) -> list[dict[str, Any]]:
        transport = self.supervisor.workers[number].transport
        assert isinstance(transport, FakeProcess)
        prefix = b"behaviour "
        return [json.loads(w[len(prefix) :]) for w in transport.written
                if w.startswith(prefix)]  # fmt: skip

    def test_sentToEveryWorker(self) -> None:
        """
        A change is applied to the parent's factory (the status shows it)
        and its document sent to every worker, one line each.
        """
        self.control.replace({"delay": 0.5, "chunk_size": 8}, "127.0.0.1")
        self.assertEqual(self.factory.delay, 0.5)
        for number in (1, 2):
            sent = self.sent(number)
            self.assertEqual(len(sent), 1)
            self.assertEqual(sent[0]["delay"], 0.5)
            self.assertEqual(sent[0]["chunk_size"], 8)
        self.control.reset("127.0.0.1")
        self.assertIsNone(self.factory.delay)
        self.assertIsNone(self.sent(2)[-1]["delay"])

    def test_badDocumentSendsNothing(self) -> None:
        """A bad document is refused in the parent: no worker hears of it."""
        self.assertRaises(ConfigError, self.control.replace, {"delay": -1}, "127.0.0.1")
        self.assertEqual(self.sent(1), [])
        self.assertIsNone(self.supervisor.behaviour)

    def test_restartedWorkerGetsIt(self) -> None:
        """A worker started after a change gets the current behaviour at once."""
        self.control.replace({"delay": 0.25}, "127.0.0.1")
        self.supervisor.workers[2].processEnded(ended(1))
        self.clock.advance(1)
        self.assertEqual([d["delay"] for d in self.sent(2)], [0.25])
        fresh = make_supervisor(count=1)[0]
        fresh.log = Logger(observer=lambda e: None)
        fresh.startService()
        transport = fresh.workers[1].transport
        assert isinstance(transport, FakeProcess)
        self.assertEqual(transport.written, [])


class WorkerBehaviourCommandTests(SynchronousTestCase):
    """The worker's side: the C{behaviour} command and the status it sends."""

    def make_worker(self) -> tuple[Worker, list[dict[str, Any]]]:
        clock = ProcessClock()
        factory = PoetryServerFactory(
            make_factory(clock).library,
            reactor=clock,  # type: ignore[arg-type]
        )
        worker = Worker(1, PoetryService(factory, [], grace=1.0), clock)
        events: list[dict[str, Any]] = []
        worker.log = Logger(observer=events.append)
        return worker, events

    def test_behaviourCommand(self) -> None:
        """The line C{behaviour DOCUMENT} changes the worker's factory."""
        worker, events = self.make_worker()
        WorkerControl(worker).lineReceived(b'behaviour {"delay": 0.5, "chunk_size": 4}')
        self.assertEqual(worker.service.factory.delay, 0.5)
        self.assertEqual(worker.service.factory.chunk_size, 4)
        self.assertEqual(events, [])

    def test_badBehaviourCommand(self) -> None:
        """Bad JSON or a document the worker cannot take: an error, no change."""
        worker, events = self.make_worker()
        control = WorkerControl(worker)
        control.lineReceived(b"behaviour {not json")
        control.lineReceived(b'behaviour {"delay": -2}')
        self.assertIsNone(worker.service.factory.delay)
        self.assertEqual(len(events), 2)
        self.assertTrue(all(e["log_level"] == LogLevel.error for e in events))

    def test_longDocumentFits(self) -> None:
        """A command as long as the admin's largest body is not dropped."""
        from poetry.admin.site import AdminRequest

        self.assertGreater(WorkerControl.MAX_LENGTH, 2 * AdminRequest.MAX_BODY_SIZE)

    def test_statusSent(self) -> None:
        """With a status source the counts event carries it; without, None."""
        worker, _ = self.make_worker()
        reported: list[dict[str, Any]] = []
        worker.report_log = Logger(observer=reported.append)
        worker.send_counts()
        self.assertIsNone(reported[-1]["status"])
        view = ServerView(worker.service.factory)
        tally = EndedTally(view)
        worker.status = lambda: status_snapshot(view, tally)
        worker.send_counts()
        self.assertEqual(reported[-1]["status"]["live_total"], 0)
        self.assertIn("ended", reported[-1]["status"])
        self.assertEqual(len(reported), 2)
