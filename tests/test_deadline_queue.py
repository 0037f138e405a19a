"""
Tests for L{poetry.deadline_queue}: the due-order structure under the
server's deadlines and the client's timeouts.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from poetry.deadline_queue import DeadlineQueue
from poetry.server.deadlines import Deadlines
from tests.helpers import BoundedClock


def entry(due: float, name: str) -> list[Any]:
    return [due, name]


class DeadlineQueueTests(SynchronousTestCase):
    """L{DeadlineQueue}."""

    def setUp(self) -> None:
        self.queue = DeadlineQueue()

    def popped(self, limit: float) -> list[str]:
        names = []
        for _ in range(self.queue.held):
            e = self.queue.pop(limit)
            if e is None:
                break
            names.append(e[1])
        return names

    def test_dueOrderFromFifoAndHeap(self) -> None:
        """
        Entries come out in due order whether pushed in order (the FIFO) or
        earlier than the last one pushed (the heap), and only those due by
        the limit.
        """
        for due, name in ((1.0, "a"), (3.0, "c"), (2.0, "b"), (5.0, "e"), (0.5, "z")):
            self.queue.push(entry(due, name))
        self.assertEqual(self.queue.first_due(), 0.5)
        self.assertEqual(self.popped(3.0), ["z", "a", "b", "c"])
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.first_due(), 5.0)
        self.assertEqual(self.popped(4.999), [])
        self.assertEqual(self.popped(5.0), ["e"])
        self.assertEqual(self.queue.first_due(), float("inf"))

    def test_equalDuesKeepTheirOrder(self) -> None:
        """Entries due at the same time come out in the order pushed."""
        for name in "abc":
            self.queue.push(entry(1.0, name))
        self.assertEqual(self.popped(1.0), ["a", "b", "c"])

    def test_cancelledSkipped(self) -> None:
        """A cancelled entry is never popped, and is not counted."""
        a, b, c = entry(1.0, "a"), entry(2.0, "b"), entry(0.5, "c")
        for e in (a, b, c):
            self.queue.push(e)
        self.assertFalse(self.queue.cancel(a))
        self.assertFalse(self.queue.cancel(c))
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.popped(10.0), ["b"])
        self.assertEqual(len(self.queue), 0)

    def test_cancelLastLiveSaysSo(self) -> None:
        """
        Cancelling the last live entry says nothing is left, and lets go of
        everything held.
        """
        a, b = entry(1.0, "a"), entry(2.0, "b")
        self.queue.push(a)
        self.queue.push(b)
        self.assertFalse(self.queue.cancel(a))
        self.assertTrue(self.queue.cancel(b))
        self.assertEqual((len(self.queue), self.queue.held), (0, 0))

    def test_cancelTwiceOrAfterPopChangesNothing(self) -> None:
        """
        An entry cancelled twice, or cancelled after its caller popped and
        emptied it, is not counted again: the live count stays right.
        """
        a, b, c = entry(1.0, "a"), entry(2.0, "b"), entry(3.0, "c")
        for e in (a, b, c):
            self.queue.push(e)
        self.queue.cancel(a)
        self.assertFalse(self.queue.cancel(a))
        popped = self.queue.pop(2.0)
        assert popped is not None
        popped[1] = None
        self.assertFalse(self.queue.cancel(popped))
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.popped(3.0), ["c"])

    def test_sweptPastHalf(self) -> None:
        """
        Cancelled entries are swept once they outnumber the live ones (past
        COMPACT_MIN), so what is held stays bounded by the live entries.
        """
        self.queue.push(entry(10_000.0, "kept"))
        for i in range(5_000):
            e = entry(float(i), "x")
            self.queue.push(e)
            self.queue.cancel(e)
            self.assertLessEqual(self.queue.held, 2 * DeadlineQueue.COMPACT_MIN + 2)
        self.assertEqual(self.popped(20_000.0), ["kept"])


class DeadlinesOnTheQueueTests(SynchronousTestCase):
    """L{Deadlines}' timer over its queue."""

    def test_expiryAddingDoesNotDelayAnEarlierDeadline(self) -> None:
        """
        An expiry that sets a new deadline (whose C{add} arms the timer for
        C{seconds} later) does not delay a deadline renewed and pushed back
        for earlier than that: it still expires exactly at its renewal plus
        C{seconds}.
        """
        clock = BoundedClock()
        fired: list[tuple[str, float]] = []

        def expire(name: str) -> None:
            fired.append((name, clock.seconds()))
            if name == "a":
                deadlines.add("later")

        deadlines = Deadlines(clock, 10.0, expire)
        deadlines.add("a")
        clock.advance(1.0)
        b = deadlines.add("b")
        clock.advance(8.0)
        deadlines.renew(b)  # b now expires at 19
        clock.advance(1.0)
        self.assertEqual(fired, [("a", 10.0)])
        clock.advance(1.0)  # 11: b comes up renewed and is pushed back
        self.assertEqual(fired, [("a", 10.0)])
        clock.advance(8.0)
        self.assertEqual(fired, [("a", 10.0), ("b", 19.0)])
        clock.advance(1.0)
        self.assertEqual(fired[-1], ("later", 20.0))
        self.assertEqual(len(deadlines), 0)
        self.assertEqual(clock.getDelayedCalls(), [])


class BoundedClockTests(SynchronousTestCase):
    """The tests' L{BoundedClock}: a timer loop fails instead of spinning."""

    def test_timerLoopFails(self) -> None:
        """
        A call that re-arms itself for the instant it runs at fails the
        test at the LIMITth scheduling; calls spread over time do not.
        """
        clock = BoundedClock()
        ran: list[float] = []

        def again() -> None:
            ran.append(clock.seconds())
            clock.callLater(0, again)

        clock.callLater(1.0, again)
        self.assertRaises(AssertionError, clock.advance, 1.0)
        self.assertEqual(len(ran), BoundedClock.LIMIT - 1)
        spread = BoundedClock()
        for i in range(2 * BoundedClock.LIMIT):
            spread.callLater(float(i), lambda: None)
        spread.advance(2 * BoundedClock.LIMIT)
        self.assertEqual(spread.getDelayedCalls(), [])
