"""
Tests for L{poetry.client.api.get_poems}' descriptor cap under the
C{select()} reactor: it never opens more sockets than C{FD_SETSIZE} (1024)
leaves room for, keeping L{poetry.client.api._FD_RESERVE} descriptors spare.
"""

from __future__ import annotations

from twisted.internet import selectreactor
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from poetry.client import api as client_api
from poetry.client import get_poems


class SelectCapTests(SynchronousTestCase):
    """The concurrency a C{select()} reactor allows, and only there."""

    def fake_select(self, open_files: int) -> MemoryReactorClock:
        """A memory reactor taken for C{select()}, with C{open_files} open."""
        reactor = MemoryReactorClock()
        self.patch(client_api, "_is_select_reactor", lambda r: r is reactor)
        self.patch(client_api, "_open_file_count", lambda: open_files)
        return reactor

    def test_capLeavesTheReserve(self) -> None:
        """
        With 990 descriptors open, 1024 - 990 - the reserve (32) leaves two
        connections at once, however many downloads are asked for.
        """
        reactor = self.fake_select(990)
        d = get_poems([str(port) for port in range(1, 8)], reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 2)
        d.cancel()
        self.assertEqual(len(self.successResultOf(d)), 7)

    def test_capNeverBelowOne(self) -> None:
        """With no room at all, downloads still go one at a time."""
        reactor = self.fake_select(2000)
        d = get_poems(["1", "2", "3"], reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 1)
        d.cancel()
        self.successResultOf(d)

    def test_otherReactorsUncapped(self) -> None:
        """The same count of open files caps nothing on another reactor."""
        self.patch(client_api, "_open_file_count", lambda: 1024)
        reactor = MemoryReactorClock()
        d = get_poems([str(port) for port in range(1, 8)], reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 7)
        d.cancel()
        self.successResultOf(d)

    def test_isSelectReactor(self) -> None:
        """Only a C{SelectReactor} is taken for one."""
        fake = selectreactor.SelectReactor.__new__(selectreactor.SelectReactor)
        self.assertTrue(client_api._is_select_reactor(fake))
        self.assertFalse(client_api._is_select_reactor(MemoryReactorClock()))
