"""
Tests for L{poetry.client.scheduler.DownloadScheduler} with a fake fetch
(each download a L{Deferred} the test fires, its socket's close a call the
test makes), and for L{get_poems} cancelled from its own C{on_outcome}, and
for L{DownloadResult.status}.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry import DownloadResult, DownloadStatus
from poetry.addresses import Address
from poetry.client import DownloadScheduler, Poem, get_poems
from poetry.errors import PoemTimeout, PoemTruncated

from .test_client import POEM, connect, serve_fake

A = Address("a", 1)
B = Address("b", 2)


class FakeFetch:
    """
    A fetch for L{DownloadScheduler}: records each download started, its
    Deferred and its C{on_closed}.
    """

    def __init__(self) -> None:
        self.started: list[int] = []
        self.deferreds: dict[int, Deferred[Poem]] = {}
        self.on_closed: dict[int, Callable[[], object]] = {}
        self.cancelled: list[int] = []

    def __call__(self, index: int, on_closed: Callable[[], object]) -> Deferred[Poem]:
        self.started.append(index)
        d: Deferred[Poem] = Deferred(lambda _: self.cancelled.append(index))
        self.deferreds[index] = d
        self.on_closed[index] = on_closed
        return d

    def succeed(self, index: int) -> None:
        """Download C{index} gets its poem."""
        self.deferreds[index].callback(Poem(POEM, A))

    def close(self, index: int) -> None:
        """Download C{index}'s socket closes."""
        self.on_closed[index]()

    def finish(self, index: int) -> None:
        self.succeed(index)
        self.close(index)


def schedule(
    targets: list[Address],
    limit: int,
    per_server: int,
    on_result: Callable[[DownloadResult], object] | None = None,
    keep_results: bool = True,
) -> tuple[DownloadScheduler, FakeFetch, Deferred[list[DownloadResult]]]:
    fetch = FakeFetch()
    scheduler = DownloadScheduler(
        targets,
        fetch,
        Clock(),
        limit=limit,
        per_server=per_server,
        keep_results=keep_results,
        on_result=on_result,
    )
    return scheduler, fetch, scheduler.start()


class CapTests(SynchronousTestCase):
    """The caps in all and per server are exact: not one more, not one fewer."""

    def test_limitInAll(self) -> None:
        """With C{limit=2} exactly two run; each freed slot starts exactly one."""
        scheduler, fetch, d = schedule([A, B, A, B, A], limit=2, per_server=5)
        self.assertEqual(fetch.started, [0, 1])
        self.assertEqual(scheduler.in_flight, 2)
        fetch.finish(1)
        self.assertEqual(fetch.started, [0, 1, 2])
        for index in (0, 2, 3, 4):
            fetch.finish(index)
        self.assertEqual(fetch.started, [0, 1, 2, 3, 4])
        self.assertEqual(scheduler.in_flight, 0)
        self.assertEqual([r.index for r in self.successResultOf(d)], [0, 1, 2, 3, 4])

    def test_perServer(self) -> None:
        """
        With C{per_server=2} exactly two run to one server, while another
        server's downloads, later in the input, go ahead.
        """
        _, fetch, d = schedule([A, A, A, B], limit=10, per_server=2)
        self.assertEqual(fetch.started, [0, 1, 3])
        fetch.finish(3)
        self.assertEqual(fetch.started, [0, 1, 3])
        fetch.finish(0)
        self.assertEqual(fetch.started, [0, 1, 3, 2])
        fetch.finish(1)
        fetch.finish(2)
        self.assertEqual(len(self.successResultOf(d)), 4)

    def test_inputOrderAcrossServers(self) -> None:
        """A freed slot goes to the earliest address that may start."""
        _, fetch, _ = schedule([A, A, B, A, B], limit=2, per_server=1)
        self.assertEqual(fetch.started, [0, 2])
        fetch.finish(2)
        self.assertEqual(fetch.started, [0, 2, 4])
        fetch.finish(0)
        self.assertEqual(fetch.started, [0, 2, 4, 1])


class SlotTests(SynchronousTestCase):
    """A slot is freed once, after both the result and the close."""

    def test_bothEnds(self) -> None:
        """
        Either end alone (the result, or the socket's close) does not free
        the slot; the other one then does, in either order.
        """
        for first, second in (
            (FakeFetch.succeed, FakeFetch.close),
            (FakeFetch.close, FakeFetch.succeed),
        ):
            _, fetch, _ = schedule([A, A], limit=1, per_server=1)
            first(fetch, 0)
            self.assertEqual(fetch.started, [0], first)
            second(fetch, 0)
            self.assertEqual(fetch.started, [0, 1], first)

    def test_freedOnce(self) -> None:
        """
        A close reported twice frees the slot once: one more download
        starts, not two, and the count in flight stays true.
        """
        scheduler, fetch, _ = schedule([A, B, A, B], limit=2, per_server=2)
        fetch.finish(0)
        fetch.close(0)
        self.assertEqual(fetch.started, [0, 1, 2])
        self.assertEqual(scheduler.in_flight, 2)

    def test_synchronousFailure(self) -> None:
        """
        A fetch raising as it starts ends that download with the exception
        and frees its slot at once (there is no socket to wait for).
        """
        seen: list[tuple[int, type[BaseException]]] = []

        def fetch(index: int, on_closed: Callable[[], object]) -> Deferred[Poem]:
            raise RuntimeError("no socket")

        scheduler = DownloadScheduler(
            [A, A, A],
            fetch,
            Clock(),
            limit=1,
            per_server=1,
            on_result=lambda r: seen.append((r.index, type(r.error))),
        )
        results = self.successResultOf(scheduler.start())
        self.assertEqual(seen, [(i, RuntimeError) for i in range(3)])
        self.assertEqual(len(results), 3)
        self.assertEqual(scheduler.in_flight, 0)

    def test_elapsed(self) -> None:
        """A result's elapsed time counts from its own start, not from 0."""
        clock = Clock()
        clock.advance(100)
        fetch = FakeFetch()
        scheduler = DownloadScheduler([A], fetch, clock, limit=1, per_server=1)
        d = scheduler.start()
        clock.advance(2.5)
        fetch.finish(0)
        [result] = self.successResultOf(d)
        self.assertEqual(result.elapsed, 2.5)

    def test_endedDownloadNotHeld(self) -> None:
        """
        Once a download has ended and its socket closed, the scheduler
        holds nothing of it, while the run goes on.
        """
        refs: list[weakref.ref[Deferred[Poem]]] = []
        ends: list[Callable[[], object]] = []

        def fetch(index: int, on_closed: Callable[[], object]) -> Deferred[Poem]:
            d: Deferred[Poem] = Deferred()
            refs.append(weakref.ref(d))
            ends.append(lambda: (d.callback(Poem(POEM, A)), on_closed()))
            return d

        scheduler = DownloadScheduler(
            [A, B], fetch, Clock(), limit=2, per_server=1, keep_results=False
        )
        done = scheduler.start()
        ends.pop(0)()
        gc.collect()
        self.assertEqual([r() is None for r in refs], [True, False])
        self.assertNoResult(done)
        ends.pop(0)()
        self.assertEqual(self.successResultOf(done), [])

    def test_keepResultsFalse(self) -> None:
        """With C{keep_results} false each result goes only to C{on_result}."""
        seen: list[int] = []
        _, fetch, d = schedule(
            [A, B], limit=2, per_server=2, on_result=lambda r: seen.append(r.index),
            keep_results=False,
        )  # fmt: skip
        fetch.finish(1)
        fetch.finish(0)
        self.assertEqual(self.successResultOf(d), [])
        self.assertEqual(seen, [1, 0])


class CancelTests(SynchronousTestCase):
    """Cancelling, from outside or from inside C{on_result}."""

    def test_cancel(self) -> None:
        """
        Cancelling cancels the running downloads, fails the queued ones
        without starting them, and fires with every result once.
        """
        seen: list[int] = []
        _, fetch, d = schedule(
            [A, A, A], limit=1, per_server=1, on_result=lambda r: seen.append(r.index)
        )
        d.cancel()
        results = self.successResultOf(d)
        self.assertEqual(fetch.started, [0])
        self.assertEqual(fetch.cancelled, [0])
        self.assertEqual(sorted(seen), [0, 1, 2])
        self.assertTrue(all(r.status is DownloadStatus.CANCELLED for r in results))
        fetch.close(0)  # the cancelled socket closes later: nothing starts
        self.assertEqual(fetch.started, [0])

    def test_cancelFromLastResult(self) -> None:
        """
        Cancelled from the C{on_result} of the last download: it fires with
        the results (that download ok), not with L{CancelledError}, and
        not twice (AlreadyCalledError).
        """
        d: Deferred[list[DownloadResult]]

        def on_result(result: DownloadResult) -> None:
            d.cancel()

        _, fetch, d = schedule([A, B], limit=2, per_server=2, on_result=on_result)
        fetch.finish(0)  # cancels the other one
        results = self.successResultOf(d)
        self.assertEqual(
            [r.status for r in results],
            [DownloadStatus.OK, DownloadStatus.CANCELLED],
        )

    def test_cancelFromOnlyResult(self) -> None:
        """One download, cancelled from its own C{on_result}: still its result."""
        d: Deferred[list[DownloadResult]]
        _, fetch, d = schedule(
            [A], limit=1, per_server=1, on_result=lambda r: d.cancel()
        )
        fetch.finish(0)
        [result] = self.successResultOf(d)
        self.assertTrue(result.ok)

    def test_cancelFromResultWithQueued(self) -> None:
        """
        Cancelled from a C{on_result} while others are queued: they are
        reported cancelled, each once, and never start.
        """
        seen: list[int] = []
        d: Deferred[list[DownloadResult]]

        def on_result(result: DownloadResult) -> None:
            seen.append(result.index)
            if result.index == 0:
                d.cancel()

        _, fetch, d = schedule([A, A, A], limit=1, per_server=1, on_result=on_result)
        fetch.finish(0)
        results = self.successResultOf(d)
        self.assertEqual(seen, [0, 1, 2])
        self.assertEqual(fetch.started, [0])
        self.assertEqual(
            [r.status for r in results],
            [DownloadStatus.OK] + [DownloadStatus.CANCELLED] * 2,
        )


class GetPoemsCancelTests(SynchronousTestCase):
    """L{get_poems}, with its real factories, cancelled from C{on_outcome}."""

    def test_cancelFromOnOutcome(self) -> None:
        """
        C{on_outcome} cancelling the run (as C{get-poetry} does when stdout
        breaks) stops the other downloads at once and the run fires with
        every outcome, no AlreadyCalledError.
        """
        reactor = MemoryReactorClock()
        d: Deferred[list[DownloadResult]]
        d = get_poems(
            ["1", "2", "3"],
            concurrency=2,
            reactor=reactor,
            on_outcome=lambda o: d.cancel(),
        )
        _, transport = connect(reactor.tcpClients[1][2])
        serve_fake(reactor.tcpClients[0][2], POEM)
        outcomes = self.successResultOf(d)
        self.assertEqual(
            [o.status for o in outcomes],
            [DownloadStatus.OK, DownloadStatus.CANCELLED, DownloadStatus.CANCELLED],
        )
        self.assertTrue(transport.disconnected)
        self.assertEqual(len(reactor.tcpClients), 2)  # the third never started
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_cancelFromLastOnOutcome(self) -> None:
        """Cancelled from the last download's C{on_outcome}: its poem is kept."""
        reactor = MemoryReactorClock()
        d: Deferred[list[DownloadResult]]
        d = get_poems(["1"], reactor=reactor, on_outcome=lambda o: d.cancel())
        serve_fake(reactor.tcpClients[0][2], POEM)
        [outcome] = self.successResultOf(d)
        self.assertEqual(outcome.poem and outcome.poem.data, POEM)


class StatusTests(SynchronousTestCase):
    """L{DownloadResult.status}: one word for how a download ended."""

    def test_status(self) -> None:
        """Each way of ending has its status, verdict and failure flag."""
        cases = [
            (DownloadResult(0, A, poem=Poem(POEM, A)), DownloadStatus.OK, "ok", False),
            (
                DownloadResult(0, A, error=PoemTruncated(A, b"", Failure(Exception()))),
                DownloadStatus.FAILED,
                "failed",
                True,
            ),
            (
                DownloadResult(0, A, error=PoemTimeout(A, 1.0, b"")),
                DownloadStatus.TIMED_OUT,
                "failed",
                True,
            ),
            (
                DownloadResult(0, A, error=CancelledError()),
                DownloadStatus.CANCELLED,
                "cancelled",
                False,
            ),
            (
                DownloadResult(0, A, error=RuntimeError()),
                DownloadStatus.FAILED,
                "failed",
                True,
            ),
        ]
        for result, status, verdict, failed in cases:
            self.assertIs(result.status, status)
            self.assertEqual(
                (result.status.verdict, result.status.failed), (verdict, failed)
            )
        self.assertEqual(
            [s.value for s in DownloadStatus], ["ok", "failed", "timeout", "cancelled"]
        )
