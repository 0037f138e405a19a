"""
Tests for retries: L{Backoff}'s schedule and L{Retrying} on a L{Clock},
then C{retries=} through L{get_poem}/L{get_poems} and C{--retries} through
C{get-poetry}, on L{MemoryReactorClock}.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import (
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import Address
from poetry.client import Backoff, Poem, get_poem, get_poems
from poetry.client.retries import MAX_RETRY_DELAY, Retrying
from poetry.errors import (
    EmptyPoem,
    PoemCallbackError,
    PoemConnectionFailed,
    PoemError,
    PoemTimeout,
    PoemTooLarge,
    PoemTruncated,
)

from .resolver import FakeResolver
from .test_cli import Harness
from .test_client import POEM, SERVER, Recorder
from .test_connector import refuse, serve

A = Address("127.0.0.1", 10001)


def refused() -> PoemConnectionFailed:
    return PoemConnectionFailed(A, Failure(ConnectionRefusedError()))


class FakeTries:
    """
    A C{start_try} for L{Retrying}: records when each try started; each
    fails with the next of C{errors} (or succeeds once they run out), its
    socket closing at once unless C{close_later}.
    """

    def __init__(
        self, clock: Clock, errors: list[PoemError], close_later: bool = False
    ):
        self.clock = clock
        self.errors = errors
        self.close_later = close_later
        self.started: list[tuple[int, float]] = []
        self.closers: list[Callable[[], object]] = []

    def __call__(self, number: int, on_closed: Callable[[], object]) -> Deferred[Poem]:
        self.started.append((number, self.clock.seconds()))
        self.closers.append(on_closed)
        d: Deferred[Poem] = Deferred()
        if self.errors:
            d.errback(self.errors.pop(0))
        else:
            d.callback(Poem(POEM, A))
        if not self.close_later:
            on_closed()
        return d


def retrying(
    tries: FakeTries, clock: Clock, retries: int, backoff: Backoff
) -> tuple[Deferred[Poem], list[str]]:
    closed: list[str] = []
    d = Retrying(tries, retries=retries, backoff=backoff, clock=clock).start(
        lambda: closed.append("closed")
    )
    return d, closed


class BackoffTests(SynchronousTestCase):
    """The delay before each retry: doubling, capped, jittered."""

    def test_doublingThenCapped(self) -> None:
        """Before jitter: base, 2 base, 4 base, ... up to the cap."""
        backoff = Backoff(base=1.0, cap=5.0)
        self.assertEqual([backoff.nominal(n) for n in range(1, 6)], [1, 2, 4, 5, 5])
        self.assertEqual(Backoff().cap, MAX_RETRY_DELAY)
        self.assertEqual(Backoff(base=2.0).nominal(1000), MAX_RETRY_DELAY)

    def test_jitterInTheUpperHalf(self) -> None:
        """With jitter: from half the nominal delay to (just under) all of it."""
        low = Backoff(base=4.0, random=lambda: 0.0)
        high = Backoff(base=4.0, random=lambda: 0.999)
        self.assertEqual([low.delay(n) for n in (1, 2, 3)], [2.0, 4.0, 8.0])
        self.assertAlmostEqual(high.delay(1), 3.998)
        self.assertLess(high.delay(3), 16.0)

    def test_noDelay(self) -> None:
        """A base of 0 retries at once."""
        self.assertEqual(Backoff(base=0.0, random=lambda: 0.5).delay(3), 0.0)


class RetryingTests(SynchronousTestCase):
    """L{Retrying}: which failures are retried, and when."""

    def test_schedule(self) -> None:
        """
        Each retry starts exactly its backoff after the last try ended, no
        sooner: 0.75, then 1.5, then 3 seconds (base 1, jitter 0.5).
        """
        clock = Clock()
        tries = FakeTries(clock, [refused(), refused(), refused()])
        d, closed = retrying(tries, clock, 3, Backoff(base=1.0, random=lambda: 0.5))
        for at, before in ((0.75, 1), (2.25, 2), (5.25, 3)):
            clock.advance(at - clock.seconds() - 0.001)
            self.assertEqual(len(tries.started), before)
            clock.advance(0.001)
        self.assertEqual(
            [(n, round(t, 9)) for n, t in tries.started],
            [(1, 0), (2, 0.75), (3, 2.25), (4, 5.25)],
        )
        self.assertEqual(self.successResultOf(d).data, POEM)
        self.assertEqual(closed, ["closed"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_exhausted(self) -> None:
        """Out of retries: the last try's error, after 1 + retries tries."""
        clock = Clock()
        last = PoemTruncated(A, b"abc", Failure(ConnectionLost()))
        tries = FakeTries(clock, [refused(), last])
        d, closed = retrying(tries, clock, 1, Backoff(base=1.0, random=lambda: 0))
        clock.advance(0.5)
        self.assertIs(self.failureResultOf(d, PoemTruncated).value, last)
        self.assertEqual(len(tries.started), 2)
        self.assertEqual(closed, ["closed"])

    def test_neverRetried(self) -> None:
        """
        A poem too large, an empty poem, a name that does not resolve, a
        caller's broken callback and a non-PoemError end the download at
        once.
        """
        errors: list[Exception] = [
            PoemTooLarge(A, 10, 11),
            EmptyPoem(A),
            PoemConnectionFailed(A, Failure(DNSLookupError("x"))),
            PoemCallbackError(A, "on_data", Failure(ZeroDivisionError())),
            ValueError("a bug"),
        ]
        for error in errors:
            clock = Clock()
            tries = FakeTries(clock, [error])  # type: ignore[list-item]
            d, closed = retrying(tries, clock, 5, Backoff(base=1.0))
            self.assertIs(self.failureResultOf(d).value, error)
            self.assertEqual(len(tries.started), 1, error)
            self.assertEqual(clock.getDelayedCalls(), [], error)
            self.assertEqual(closed, ["closed"])

    def test_retryableErrors(self) -> None:
        """Refused, truncated (reset) and timed out are the retryable ones."""
        self.assertTrue(refused().retryable)
        self.assertTrue(PoemTruncated(A, b"", Failure(ConnectionLost())).retryable)
        self.assertTrue(PoemTimeout(A, 1.0).retryable)
        self.assertFalse(PoemTooLarge(A, 1, 2).retryable)
        self.assertFalse(EmptyPoem(A).retryable)

    def test_waitsForTheSocketToClose(self) -> None:
        """
        The backoff starts only once the failed try's socket is closed (a
        timed-out connection is aborted a reactor turn later), so a retry
        never has two sockets open.
        """
        clock = Clock()
        tries = FakeTries(clock, [PoemTimeout(A, 1.0)], close_later=True)
        d, closed = retrying(tries, clock, 1, Backoff(base=1.0, random=lambda: 0))
        clock.advance(10)
        self.assertEqual(len(tries.started), 1)
        tries.closers[0]()
        clock.advance(0.5)
        self.assertEqual(len(tries.started), 2)
        self.assertEqual(closed, [])
        tries.closers[1]()
        self.assertEqual(closed, ["closed"])
        self.successResultOf(d)

    def test_cancelDuringBackoff(self) -> None:
        """A cancel while waiting: CancelledError, the timer gone, closed."""
        clock = Clock()
        tries = FakeTries(clock, [refused()])
        d, closed = retrying(tries, clock, 3, Backoff(base=1.0))
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(closed, ["closed"])
        clock.advance(100)
        self.assertEqual(len(tries.started), 1)


class GetPoemRetriesTests(SynchronousTestCase):
    """C{retries=} through the API, a new factory per attempt."""

    def test_refusedThenServed(self) -> None:
        """
        A server still starting: refused, then after the backoff a new
        factory connects and gets the poem.
        """
        reactor = MemoryReactorClock()
        d = get_poem("127.0.0.1", 10001, reactor=reactor, retries=2, retry_delay=1)
        first = reactor.tcpClients[0][2]
        refuse(first)
        self.assertEqual(len(reactor.tcpClients), 1)
        reactor.advance(1.0)  # at most the nominal delay
        self.assertEqual(len(reactor.tcpClients), 2)
        second = reactor.tcpClients[1][2]
        self.assertIsNot(second, first)
        serve(second, "127.0.0.1", 10001)
        self.assertEqual(self.successResultOf(d).data, POEM)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_timeoutRetriedWithItsOwnTimeout(self) -> None:
        """A timed-out try is retried; the new try has the full timeout again."""
        reactor = MemoryReactorClock()
        d = get_poem(
            "127.0.0.1", 10001, reactor=reactor, timeout=5, retries=1, retry_delay=0
        )
        factory = reactor.tcpClients[0][2]
        proto = factory.buildProtocol(SERVER)
        transport = StringTransport()
        proto.makeConnection(transport)
        reactor.advance(5)
        self.assertTrue(transport.disconnecting)
        proto.connectionLost(Failure(ConnectionLost()))  # the abort's close
        reactor.advance(0)
        second = reactor.tcpClients[1][2]
        self.assertEqual(second.timeout, 5)
        reactor.advance(5)
        error = self.failureResultOf(d, PoemTimeout).value
        self.assertEqual(error.seconds, 5)

    def test_tooLargeNotRetried(self) -> None:
        """PoemTooLarge ends the download: one attempt only."""
        reactor = MemoryReactorClock()
        d = get_poem(
            "127.0.0.1", 10001, reactor=reactor, max_bytes=4, retries=3, retry_delay=0
        )
        serve(reactor.tcpClients[0][2], "127.0.0.1", 10001)
        self.failureResultOf(d, PoemTooLarge)
        reactor.advance(100)
        self.assertEqual(len(reactor.tcpClients), 1)

    def test_unresolvableNotRetried(self) -> None:
        """A name that does not resolve is asked for once."""
        resolver = FakeResolver({})
        reactor = MemoryReactorClock()
        reactor.installNameResolver(resolver)
        d = get_poem("nosuch.test", 10001, reactor=reactor, retries=3)
        self.failureResultOf(d, PoemConnectionFailed)
        self.assertEqual(resolver.asked, ["nosuch.test"])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_badArguments(self) -> None:
        """Bad retries or retry_delay are a TypeError/ValueError at once."""
        reactor = MemoryReactorClock()
        bad: list[tuple[dict[str, Any], type[Exception]]] = [
            ({"retries": -1}, ValueError),
            ({"retries": 1.5}, TypeError),
            ({"retries": True}, TypeError),
            ({"retry_delay": -1}, ValueError),
            ({"retry_delay": float("nan")}, ValueError),
            ({"retry_delay": "1"}, TypeError),
            ({"tls": "yes"}, TypeError),
        ]
        for kw, error in bad:
            self.assertRaises(error, get_poem, "127.0.0.1", 1, reactor=reactor, **kw)
            self.assertRaises(error, get_poems, ["1"], reactor=reactor, **kw)
        self.assertEqual(reactor.tcpClients, [])


class GetPoemsRetriesTests(SynchronousTestCase):
    """Retries inside the run's limits, recorded per attempt."""

    def test_slotHeldThroughTheBackoff(self) -> None:
        """
        With concurrency 1, a download waiting to retry keeps its slot:
        the next download starts only once it has ended.
        """
        reactor = MemoryReactorClock()
        d = get_poems(
            ["10001", "10002"], concurrency=1, retries=1, retry_delay=1, reactor=reactor
        )
        refuse(reactor.tcpClients[0][2])
        self.assertEqual([c[1] for c in reactor.tcpClients], [10001])
        reactor.advance(1)
        self.assertEqual([c[1] for c in reactor.tcpClients], [10001, 10001])
        serve(reactor.tcpClients[1][2], "127.0.0.1", 10001)
        self.assertEqual([c[1] for c in reactor.tcpClients], [10001, 10001, 10002])
        serve(reactor.tcpClients[2][2], "127.0.0.1", 10002)
        first, second = self.successResultOf(d)
        self.assertEqual((first.tries, second.tries), (2, 1))
        self.assertEqual(
            [(a.try_number, type(a.error).__name__) for a in first.attempts],
            [(1, "PoemConnectionFailed"), (2, "NoneType")],
        )

    def test_cancelWhileWaiting(self) -> None:
        """Cancelling the run during a backoff ends it at once, cleanly."""
        reactor = MemoryReactorClock()
        d = get_poems(["10001"], retries=5, retry_delay=10, reactor=reactor)
        refuse(reactor.tcpClients[0][2])
        d.cancel()
        [result] = self.successResultOf(d)
        self.assertIsInstance(result.error, CancelledError)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_traceShowsTheRetry(self) -> None:
        """The trace has the retry's scheduling and start, with the attempt."""
        tracer = Recorder()
        reactor = MemoryReactorClock()
        get_poems(["10001"], retries=1, retry_delay=2, reactor=reactor, tracer=tracer)
        refuse(reactor.tcpClients[0][2])
        reactor.advance(2)
        retry_events = [(n, d) for _, s, n, d in tracer.events if s == "retry"]
        self.assertEqual(len(retry_events), 2)
        (scheduled, detail), started = retry_events
        self.assertEqual(scheduled, "scheduled")
        self.assertEqual(detail["attempt"], 2)
        self.assertEqual(detail["error"], "PoemConnectionFailed")
        self.assertTrue(1 <= float(detail["seconds"]) < 2)  # type: ignore[arg-type]
        self.assertEqual(started, ("started", {"attempt": 2}))
        starts = [n for _, _, n, _ in tracer.events if n == "startedConnecting"]
        self.assertEqual(len(starts), 2)


class CommandLineRetriesTests(SynchronousTestCase):
    """C{get-poetry --retries N --retry-delay SECONDS}."""

    def test_retriedThenOk(self) -> None:
        """Refused once, then served: status 0, and the summary says 2 tries."""
        h = Harness(self, "--retries", "2", "--retry-delay", "0.5", "10001")
        refuse(h.reactor.tcpClients[0][2])
        h.reactor.advance(0.5)
        serve(h.reactor.tcpClients[1][2], "127.0.0.1", 10001)
        self.assertEqual(h.status, 0)
        self.assertEqual(h.out.count(POEM), 1)
        self.assertIn("and 2 tries", h.err_lines[0])

    def test_jsonRecordsEachAttempt(self) -> None:
        """C{--json}: C{tries} and every attempt with its error."""
        h = Harness(self, "--json", "--retries", "1", "--retry-delay", "0", "10001")
        refuse(h.reactor.tcpClients[0][2])
        h.reactor.advance(0)
        refuse(h.reactor.tcpClients[1][2])
        self.assertEqual(h.status, 1)
        [task] = json.loads(h.out)["tasks"]
        self.assertEqual(task["tries"], 2)
        self.assertEqual(
            [(a["try"], a["error"]["type"]) for a in task["attempts"]],
            [(1, "PoemConnectionFailed"), (2, "PoemConnectionFailed")],
        )
        self.assertEqual(task["error"], task["attempts"][-1]["error"])

    def test_noRetriesByDefault(self) -> None:
        """Without C{--retries}, a refusal is final at once."""
        h = Harness(self, "10001")
        refuse(h.reactor.tcpClients[0][2])
        self.assertEqual(h.status, 1)
        self.assertEqual(len(h.reactor.tcpClients), 1)

    def test_badValues(self) -> None:
        """A bad --retries or --retry-delay is a one-line usage error."""
        for argv, fragment in (
            (["--retries", "-1"], "must be at least 0"),
            (["--retries", "x"], "is not a whole number"),
            (["--retry-delay", "-0.5"], "must be a number of seconds >= 0"),
            (["--retry-delay", "inf"], "must be a number of seconds >= 0"),
        ):
            h = Harness(self, *argv, "10001")
            self.assertEqual(h.status, 2)
            [line] = h.err_lines
            self.assertIn(argv[0], line)
            self.assertIn(fragment, line)
            self.assertEqual(h.reactor.tcpClients, [])

    def test_traceAndTimelineShowTheAttempts(self) -> None:
        """C{--trace} logs the retry; C{--timeline} marks the new attempt."""
        h = Harness(
            self, "--trace", "--timeline", "--retries", "1", "--retry-delay", "0",
            "10001",
        )  # fmt: skip
        refuse(h.reactor.tcpClients[0][2])
        h.reactor.advance(0)
        serve(h.reactor.tcpClients[1][2], "127.0.0.1", 10001)
        self.assertEqual(h.status, 0)
        lines = h.err_lines
        self.assertTrue(
            any("task 1 retry.scheduled attempt=2" in line for line in lines), lines
        )
        self.assertTrue(any("task 1 retry.started attempt=2" in line for line in lines))
        self.assertEqual(
            sum("factory.startedConnecting" in line for line in lines), 2, lines
        )
        self.assertTrue(any("new attempt" in line for line in lines), lines)
