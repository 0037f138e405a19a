"""
Tests for L{poetry.deadline_queue}: the due-order structure under the
server's deadlines and the client's timeouts.
"""

from __future__ import annotations

import random
from operator import methodcaller
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from poetry.deadline_queue import DeadlineQueue
from poetry.server.deadlines import Deadlines, DeadlinesByDuration, DeadlineTimeoutMixin
from tests.helpers import BoundedClock


def entry(due: float, name: str) -> list[Any]:
    return [due, name]


class Recorded(DeadlineQueue):
    """A L{DeadlineQueue} counting the calls of its L{emptied} hook."""

    emptied_calls = 0

    def emptied(self) -> None:
        self.emptied_calls += 1


class DeadlineQueueTests(SynchronousTestCase):
    """L{DeadlineQueue}."""

    def setUp(self) -> None:
        self.queue = Recorded()

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
        self.queue.cancel(a)
        self.queue.cancel(c)
        self.assertEqual((a[1], c[1]), (None, None))
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.emptied_calls, 0)
        self.assertEqual(self.popped(10.0), ["b"])
        self.assertEqual(len(self.queue), 0)

    def test_cancelLastLiveCallsEmptied(self) -> None:
        """
        Cancelling the last live entry calls L{DeadlineQueue.emptied} (once:
        the owner stops its timer there), and lets go of everything held;
        cancelling one of several does not.
        """
        a, b = entry(1.0, "a"), entry(2.0, "b")
        self.queue.push(a)
        self.queue.push(b)
        self.queue.cancel(a)
        self.assertEqual(self.queue.emptied_calls, 0)
        self.queue.cancel(b)
        self.assertEqual(self.queue.emptied_calls, 1)
        self.assertEqual((len(self.queue), self.queue.held), (0, 0))
        self.queue.cancel(b)
        self.assertEqual(self.queue.emptied_calls, 1)

    def test_cancelTwiceOrAfterPopChangesNothing(self) -> None:
        """
        An entry cancelled twice, or cancelled after its caller popped and
        emptied it, is not counted again: the live count stays right.
        """
        a, b, c = entry(1.0, "a"), entry(2.0, "b"), entry(3.0, "c")
        for e in (a, b, c):
            self.queue.push(e)
        self.queue.cancel(a)
        self.queue.cancel(a)
        popped = self.queue.pop(2.0)
        assert popped is not None
        popped[1] = None
        self.queue.cancel(popped)
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.queue.emptied_calls, 0)
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

    def test_cancelLooksWhenItMust(self) -> None:
        """
        However pushes, pops and cancels interleave, a cancel calls
        L{DeadlineQueue.emptied} exactly when it leaves nothing live, and
        after every cancel the cancelled entries held are never more than
        the live ones past COMPACT_MIN: cancel's cheap check (one
        comparison, not a count of what is held) never skips a look that
        was due.
        """
        rng = random.Random(11)
        for trial in range(20):
            queue = Recorded()
            live: list[list[Any]] = []
            now = 0.0
            # Some runs grow hundreds of live entries, some stay near none.
            pushes = 0.6 if trial % 2 else 0.45
            for _ in range(3000):
                roll = rng.random()
                if roll < pushes or not live:
                    e = entry(now + rng.choice((5.0, 60.0)), "x")
                    queue.push(e)
                    live.append(e)
                elif roll < 0.97:
                    e = live.pop(rng.randrange(len(live)))
                    before = queue.emptied_calls
                    queue.cancel(e)
                    self.assertEqual(queue.emptied_calls - before, 0 if live else 1)
                    dead, pending = queue.held - len(queue), len(queue)
                    self.assertFalse(dead > Recorded.COMPACT_MIN and dead > pending)
                else:
                    now += rng.choice((1.0, 10.0))
                    for _ in range(queue.held):
                        popped = queue.pop(now)
                        if popped is None:
                            break
                        live.remove(popped)
                        popped[1] = None
                self.assertEqual(len(queue), len(live))


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

    def test_clockSteppedBack(self) -> None:
        """
        A deadline set after the clock stepped back (a wall clock reset) is
        due before those set earlier: it still comes out before them, in
        due order (the timer, like the reactor's own, wakes at the time it
        was set for).
        """
        clock = BoundedClock()
        fired: list[tuple[str, float]] = []

        def expire(name: str) -> None:
            fired.append((name, clock.seconds()))

        deadlines = Deadlines(clock, 10.0, expire)
        clock.advance(20.0)
        deadlines.add("late")  # due 30: the timer waits for it
        clock.rightNow = 5.0
        deadlines.add("early")  # due 15
        deadlines.add("moved")  # due 15 too
        clock.advance(24.99)
        self.assertEqual(fired, [])
        clock.advance(0.01)
        self.assertEqual(fired, [("early", 30.0), ("moved", 30.0), ("late", 30.0)])
        self.assertEqual(clock.getDelayedCalls(), [])


class _Timed(DeadlineTimeoutMixin):
    """A L{DeadlineTimeoutMixin} on its own deadlines; records expiries."""

    def __init__(self, clock: BoundedClock) -> None:
        self.clock = clock
        self.factory = self  # the mixin's deadlines: self.factory.timeouts
        self.timeouts = DeadlinesByDuration(clock, methodcaller("timeout_expired"))
        self.events: list[tuple[str, float]] = []

    def timeoutConnection(self) -> None:
        self.events.append(("timeout", self.clock.seconds()))


class MixinClockTests(SynchronousTestCase):
    """L{DeadlineTimeoutMixin.setTimeout} given the caller's clock reading."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.timed = _Timed(self.clock)
        self.lingers = Deadlines(
            self.clock, 5.0, lambda t: t.events.append(("linger", self.clock.seconds()))
        )

    def test_setTimeoutWithTheCallersNow(self) -> None:
        """
        C{setTimeout(period, now)} and C{Deadlines.add(protocol, now)}, from
        a caller that has just read the clock, do not read it again; the
        deadline is still C{period} from then, exactly.
        """
        reads: list[float] = []
        clock = self.clock

        class Counted:
            def seconds(self) -> float:
                reads.append(clock.seconds())
                return clock.seconds()

            def callLater(self, delay: float, f: Any) -> Any:
                return clock.callLater(delay, f)

        self.timed.timeouts.clock = self.lingers.clock = Counted()  # type: ignore[assignment]
        clock.advance(10.0)
        self.timed.setTimeout(5.0, clock.seconds())
        self.lingers.add(self.timed, clock.seconds())
        self.assertEqual(reads, [])
        self.assertEqual(self.timed._timeout_entry, [15.0, self.timed, 10.0])
        self.timed.setTimeout(None)
        self.timed.setTimeout(6.0)
        self.assertEqual(reads, [10.0])
        clock.advance(4.99)
        self.assertEqual(self.timed.events, [])
        clock.advance(0.01)
        self.assertEqual(self.timed.events, [("linger", 15.0)])
        clock.advance(1.0)
        self.assertEqual(self.timed.events, [("linger", 15.0), ("timeout", 16.0)])


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
