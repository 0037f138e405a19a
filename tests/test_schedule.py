"""
Tests for L{poetry.server.schedule.SlowSchedule}, on a L{Clock} with
stand-in connections that record when they were sent a chunk.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from poetry.server.schedule import SlowSchedule
from tests.helpers import BoundedClock


class Paced:
    """
    A stand-in slow connection: L{send_chunk} records the clock's time and
    says whether more remains (C{chunks} in all), then runs C{then}.
    """

    _entry: list[Any] | None = None

    def __init__(
        self,
        clock: BoundedClock,
        name: str,
        chunks: int,
        log: list[tuple[str, float]],
        then: Callable[[], object] | None = None,
    ) -> None:
        self.clock = clock
        self.name = name
        self.left = chunks
        self.log = log
        self.then = then

    def send_chunk(self) -> bool:
        self.log.append((self.name, self.clock.seconds()))
        self.left -= 1
        if self.then is not None:
            self.then()
        return self.left > 0


class SlowScheduleTests(SynchronousTestCase):
    """One timer, every connection in due order, no drift, nothing held."""

    def setUp(self) -> None:
        self.clock = BoundedClock()
        self.schedule = SlowSchedule(self.clock, 1.0)
        self.log: list[tuple[str, float]] = []
        self.addCleanup(self.schedule.stop)

    def paced(self, name: str, chunks: int, **kw: Any) -> Any:
        return Paced(self.clock, name, chunks, self.log, **kw)

    def add(self, name: str, chunks: int, due: float) -> Any:
        protocol = self.paced(name, chunks)
        self.schedule.add(protocol, due)
        return protocol

    def test_dueOrderAcrossNewAndServed(self) -> None:
        """
        Connections added between ticks and connections already served
        come up together in due order, each exactly at its due times, on
        one pending timer.
        """
        self.add("a", 3, 1.0)
        self.clock.advance(0.5)
        self.add("b", 3, 1.5)
        self.clock.pump([0.5, 0.25])  # t = 1.25: a served, b not yet
        self.add("c", 2, 2.25)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.pump([0.25] * 16)
        self.assertEqual(
            self.log,
            [
                ("a", 1.0),
                ("b", 1.5),
                ("a", 2.0),
                ("c", 2.25),
                ("b", 2.5),
                ("a", 3.0),
                ("c", 3.25),
                ("b", 3.5),
            ],
        )
        self.assertEqual(len(self.schedule), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lateTickDoesNotDrift(self) -> None:
        """
        A tick that runs late serves everything due by then; each next
        chunk is due C{delay} after the old due time, not after the tick.
        """
        self.add("a", 3, 1.0)
        self.add("b", 3, 1.25)
        self.clock.advance(1.5)  # the tick due at 1.0 runs at 1.5
        self.clock.advance(0.5)  # t = 2.0: a's next is due now, not at 2.5
        self.clock.advance(0.25)  # t = 2.25: b's, not 2.5
        self.assertEqual(self.log, [("a", 1.5), ("b", 1.5), ("a", 2.0), ("b", 2.25)])

    def test_dueSetOutOfOrder(self) -> None:
        """
        A due time earlier than the last one set is served in its place,
        and so is the rest of that connection's schedule.
        """
        self.add("late", 2, 5.0)
        self.add("early", 2, 2.0)
        self.clock.pump([0.5] * 16)
        self.assertEqual(
            self.log,
            [("early", 2.0), ("early", 3.0), ("late", 5.0), ("late", 6.0)],
        )

    def test_discardFreesAtOnce(self) -> None:
        """
        A discarded connection is not served again, its entry no longer
        holds it (it is freed at once), and it is not counted; discarding
        the last one leaves no timer.
        """
        gone = self.add("gone", 5, 1.0)
        self.add("kept", 2, 1.5)
        self.clock.advance(1.0)
        self.schedule.discard(gone)
        self.assertIsNone(gone._entry)
        self.schedule.discard(gone)  # twice is harmless
        self.assertEqual(len(self.schedule), 1)
        ref = weakref.ref(gone)
        del gone
        gc.collect()
        self.assertIsNone(ref())
        self.clock.pump([0.5] * 10)
        self.assertEqual(self.log, [("gone", 1.0), ("kept", 1.5), ("kept", 2.5)])
        last = self.add("last", 5, 10.0)
        self.schedule.discard(last)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_manyDiscardedStayBounded(self) -> None:
        """
        Past C{COMPACT_MIN} emptied entries, and more than half of what is
        held, the FIFOs are rebuilt without them.
        """
        kept = self.add("kept", 2, 1.0)
        for i in range(1000):
            self.schedule.discard(self.add(f"c{i}", 2, 1.0))
            held = len(self.schedule._fresh) + len(self.schedule._next)
            self.assertLessEqual(held, 2 + 2 * SlowSchedule.COMPACT_MIN)
        self.assertEqual(len(self.schedule), 1)
        self.clock.pump([1.0] * 3)
        self.assertEqual(self.log, [("kept", 1.0), ("kept", 2.0)])
        self.assertIsNone(kept._entry)

    def test_lostDuringTickKeepsTheRest(self) -> None:
        """
        A chunk whose send loses many other connections (rebuilding the
        FIFOs in the middle of the tick) leaves the sender and every
        connection still live on the schedule.
        """
        others = [self.paced(f"o{i}", 3) for i in range(2 * SlowSchedule.COMPACT_MIN)]

        def lose_others() -> None:
            for other in others:
                self.schedule.discard(other)

        killer = self.paced("killer", 3, then=lose_others)
        self.schedule.add(killer, 1.0)
        for other in others:
            self.schedule.add(other, 2.0)
        survivor = self.add("survivor", 3, 2.0)
        self.clock.advance(1.0)
        self.assertEqual(len(self.schedule), 2)
        self.clock.pump([0.5] * 10)
        # (Connections due at the same time are served in either order.)
        self.assertEqual(
            sorted(e for e in self.log if e[0] in ("killer", "survivor")),
            [
                ("killer", 1.0),
                ("killer", 2.0),
                ("killer", 3.0),
                ("survivor", 2.0),
                ("survivor", 3.0),
                ("survivor", 4.0),
            ],
        )
        self.assertIsNone(survivor._entry)

    def test_stopForgetsEverything(self) -> None:
        """C{stop} cancels the timer and releases every connection."""
        a = self.add("a", 3, 1.0)
        self.clock.advance(1.0)
        b = self.add("b", 3, 1.5)
        self.schedule.stop()
        self.assertEqual((a._entry, b._entry), (None, None))
        self.assertEqual(len(self.schedule), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(5.0)
        self.assertEqual(self.log, [("a", 1.0)])
