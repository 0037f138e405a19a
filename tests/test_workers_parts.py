"""
Unit tests of the supervisor's bookkeeping parts (C{--workers N}):
L{WorkerReports}, the stop reports the parent sums, and L{RestartBackoff},
the delay before a dead worker is started again.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from poetry.service.backoff import RestartBackoff
from poetry.service.reports import WorkerReports
from poetry.service.service import STOP_FIELDS

#: A worker's counts snapshot (L{PoetryServerFactory.counts}), every field
#: distinct so that a field read from the wrong name shows.
COUNTS = {
    "served": 5, "bytes_sent": 50, "clients_gone": 1, "cut_at_shutdown": 2,
    "refused": 3, "cut_idle": 4, "refused_per_peer": 6, "faults": 7,
    "client_resets": 8, "linger_timeouts": 9, "health_checks": 10,
}  # fmt: skip


def report(**fields: int) -> dict[str, int]:
    return dict.fromkeys(STOP_FIELDS, 0) | fields


class WorkerReportsTests(SynchronousTestCase):
    def test_noReportsSumToZero(self) -> None:
        """Before any worker exits, every stop field totals 0."""
        self.assertEqual(WorkerReports().totals(), dict.fromkeys(STOP_FIELDS, 0))

    def test_reportsSummed(self) -> None:
        """
        Each exited worker's report is kept, in order, and the totals add
        every field of L{STOP_FIELDS} over them.
        """
        reports = WorkerReports()
        one = report(served=3, bytes_sent=30, health_checks=2)
        two = report(served=4, bytes_sent=40, cut=1, finished=2)
        reports.worker_ended(one, None)
        reports.worker_ended(two, None)
        self.assertEqual(reports.reports, [one, two])
        self.assertEqual(
            reports.totals(),
            report(served=7, bytes_sent=70, health_checks=2, cut=1, finished=2),
        )

    def test_missingFieldCountsZero(self) -> None:
        """A report without some field (an older worker) adds 0 for it."""
        reports = WorkerReports()
        reports.worker_ended({"served": 2}, None)
        reports.worker_ended(report(served=1, gone=4), None)
        totals = reports.totals()
        self.assertEqual((totals["served"], totals["gone"]), (3, 4))
        self.assertEqual(set(totals), set(STOP_FIELDS))

    def test_reportWinsOverSnapshot(self) -> None:
        """
        A worker that reported counts by its report, not its last snapshot
        (which is up to a second older).
        """
        reports = WorkerReports()
        reports.worker_ended(report(served=6), COUNTS)
        self.assertEqual(reports.totals()["served"], 6)

    def test_snapshotStandsInForADeadWorker(self) -> None:
        """
        A worker that died before reporting counts by its last snapshot,
        as the stop line's fields: everything served, none of it finished
        or cut during a shutdown.
        """
        reports = WorkerReports()
        reports.worker_ended(None, COUNTS)
        self.assertEqual(
            reports.reports,
            [
                {
                    "served": 5, "finished": 0, "cut": 0, "gone": 1,
                    "refused": 3, "refused_per_peer": 6, "cut_idle": 4,
                    "faults": 7, "client_resets": 8, "linger_timeouts": 9,
                    "health_checks": 10, "bytes_sent": 50,
                }
            ],
        )  # fmt: skip

    def test_snapshotWithoutHealthChecks(self) -> None:
        """A snapshot without C{health_checks} (a plain port) counts 0 of them."""
        reports = WorkerReports()
        counts = dict(COUNTS)
        del counts["health_checks"]
        reports.worker_ended(None, counts)
        self.assertEqual(reports.totals()["health_checks"], 0)
        self.assertEqual(reports.totals()["served"], 5)

    def test_silentWorkerAddsNothing(self) -> None:
        """A worker that died before sending anything adds no report."""
        reports = WorkerReports()
        reports.worker_ended(None, None)
        self.assertEqual(reports.reports, [])


class RestartBackoffTests(SynchronousTestCase):
    def test_doublesUpToTheCap(self) -> None:
        """
        Each quick death of one worker doubles its delay from
        RESTART_DELAY, never past MAX_RESTART_DELAY.
        """
        backoff = RestartBackoff()
        delays = [backoff.delay(1, 0.1) for _ in range(9)]
        self.assertEqual(delays, [0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        self.assertEqual(backoff.RESTART_DELAY, 0.5)
        self.assertEqual(backoff.MAX_RESTART_DELAY, 30)

    def test_workersBackOffIndependently(self) -> None:
        """One worker's deaths do not lengthen another's first delay."""
        backoff = RestartBackoff()
        for _ in range(4):
            backoff.delay(1, 0.0)
        self.assertEqual(backoff.delay(2, 0.0), 0.5)
        self.assertEqual(backoff.delay(1, 0.0), 8)

    def test_stableWorkerStartsOver(self) -> None:
        """
        A worker that ran STABLE_AFTER seconds before dying waits
        RESTART_DELAY again; one that ran just less keeps doubling.
        """
        backoff = RestartBackoff()
        stable = backoff.STABLE_AFTER
        self.assertEqual([backoff.delay(1, 0.0) for _ in range(3)], [0.5, 1, 2])
        self.assertEqual(backoff.delay(1, stable - 0.001), 4)
        self.assertEqual(backoff.delay(1, stable), 0.5)
        self.assertEqual(backoff.delay(1, 0.0), 1)

    def test_policyInjectable(self) -> None:
        """
        A given policy computes the delays, called with the number of
        quick deaths in a row before this one (0 the first time).
        """
        attempts: list[int] = []

        def policy(attempt: int) -> float:
            attempts.append(attempt)
            return 7.0

        backoff = RestartBackoff(policy)
        self.assertEqual(backoff.delay(3, 0.0), 7.0)
        backoff.delay(3, 0.0)
        backoff.delay(3, backoff.STABLE_AFTER)
        self.assertEqual(attempts, [0, 1, 0])
