"""
Tests for L{poetry.client.slots.DownloadSlots}: which download may start
next under a cap in all and a cap per server.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import Address
from poetry.client.slots import DownloadSlots

A = Address("a", 1)
B = Address("b", 2)


def take_all(slots: DownloadSlots) -> list[int]:
    """Every index L{DownloadSlots.take} gives now (at most 100)."""
    taken = []
    for _ in range(100):
        index = slots.take()
        if index is None:
            return taken
        taken.append(index)
    raise AssertionError("take() never ran out")


class TakeTests(SynchronousTestCase):
    """L{DownloadSlots.take} under both caps."""

    def test_inputOrderUnderTheLimit(self) -> None:
        """Downloads start in input order, C{limit} at most."""
        slots = DownloadSlots([A, B, A, B, A], limit=3, per_server=10)
        self.assertEqual(take_all(slots), [0, 1, 2])
        self.assertEqual(slots.in_flight, 3)

    def test_perServerCap(self) -> None:
        """
        A server at its cap is skipped, not waited for: the next download of
        another server starts in its place.
        """
        slots = DownloadSlots([A, A, A, B], limit=10, per_server=2)
        self.assertEqual(take_all(slots), [0, 1, 3])

    def test_equalAddressesAreOneServer(self) -> None:
        """Two equal addresses (distinct objects) share one per-server cap."""
        slots = DownloadSlots(
            [Address("a", 1), Address("a", 1)], limit=10, per_server=1
        )
        self.assertEqual(take_all(slots), [0])

    def test_nothingLeft(self) -> None:
        """Once every download has started, C{take} gives L{None}."""
        slots = DownloadSlots([A], limit=5, per_server=5)
        self.assertEqual(take_all(slots), [0])
        self.assertIsNone(slots.take())


class ReleaseTests(SynchronousTestCase):
    """L{DownloadSlots.release} hands the slot on."""

    def test_releaseUnderTheLimit(self) -> None:
        """A slot freed under the limit goes to the next download in input order."""
        slots = DownloadSlots([A, B, A, B], limit=2, per_server=10)
        self.assertEqual(take_all(slots), [0, 1])
        slots.release(1)
        self.assertEqual(slots.in_flight, 1)
        self.assertEqual(take_all(slots), [2])
        slots.release(0)
        self.assertEqual(take_all(slots), [3])

    def test_serverBackFromItsCap(self) -> None:
        """
        A server that was at its cap may start a download again once one of
        its slots is freed, and in input order among the servers.
        """
        slots = DownloadSlots([A, A, B, A], limit=10, per_server=1)
        self.assertEqual(take_all(slots), [0, 2])
        slots.release(0)
        self.assertEqual(take_all(slots), [1])
        slots.release(1)
        self.assertEqual(take_all(slots), [3])

    def test_releaseBelowTheCapAddsNoSecondEntry(self) -> None:
        """
        Freeing a slot of a server below its cap (still ready) does not make
        it ready twice: each download starts once.
        """
        slots = DownloadSlots([A, A, A, A], limit=2, per_server=3)
        self.assertEqual(take_all(slots), [0, 1])
        slots.release(0)
        slots.release(1)
        self.assertEqual(take_all(slots), [2, 3])
        self.assertIsNone(slots.take())
        self.assertEqual(slots.in_flight, 2)


class DropPendingTests(SynchronousTestCase):
    """L{DownloadSlots.drop_pending}."""

    def test_dropPending(self) -> None:
        """
        It gives the downloads not started, in input order, and nothing
        starts afterwards, not even when a slot is freed.
        """
        slots = DownloadSlots([A, B, A, B, A], limit=1, per_server=1)
        self.assertEqual(take_all(slots), [0])
        self.assertEqual(slots.drop_pending(), [1, 2, 3, 4])
        slots.release(0)
        self.assertIsNone(slots.take())
        self.assertEqual(slots.in_flight, 0)
