"""
Tests for L{poetry.testing}: the server inside a test suite, over real
loopback sockets: C{startPoetryServer} for trial (every new fault mode
against the project's client, a seed replayed, a mix's frequencies,
targeting) and the C{poetry_server} pytest fixture (pytest only).
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from poetry.client import Poem, get_poem
from poetry.errors import EmptyPoem, PoemError, PoemTruncated
from poetry.faults import Refuse, Reset
from poetry.library import PoemFile
from poetry.server.mix import FaultMix
from poetry.server.rules import ConfigError
from poetry.testing import PoetryTestServer, start_poetry_server, startPoetryServer
from tests.helpers import waitFor

POEM = PoemFile(
    "testing",
    b"Bring your own client, and your own suite:\n"
    b"the server plays the peer you fear to meet,\n"
    b"and stops when your test ends, its sockets neat.\n",
)


def fetch(server: PoetryTestServer, **kw: Any) -> Deferred[Any]:
    """One download from C{server}: its Poem, or its PoemError."""
    kw.setdefault("timeout", 10)
    d = get_poem(server.host, server.port, reactor=reactor, **kw)
    return d.addErrback(lambda f: f.trap(PoemError) and f.value)


def kind(result: Any) -> str:
    return type(result).__name__


class StartPoetryServerTests(TestCase):
    """C{startPoetryServer(self, ...)}: a server for one trial test."""

    timeout = 60

    async def test_serverObject(self) -> None:
        """
        It listens on 127.0.0.1 at once: host, port, address, counts; the
        poems given are served, round-robin.
        """
        server = await startPoetryServer(self, poems=[POEM.data, "second\n"])
        self.assertEqual(server.host, "127.0.0.1")
        self.assertGreater(server.port, 0)
        self.assertEqual(server.address, f"127.0.0.1:{server.port}")
        first, second = await fetch(server), await fetch(server)
        self.assertEqual((first.data, second.data), (POEM.data, b"second\n"))
        await waitFor(lambda: server.counts()["served"] == 2)
        self.assertEqual(server.counts()["live"], 0)

    async def test_stoppedByCleanup(self) -> None:
        """
        The cleanup stops it: a stalled connection left open is cut within
        the grace, and the port no longer listens.
        """
        server = await startPoetryServer(self, fault="stall", grace=0.2)
        d = fetch(server, timeout=30)
        await waitFor(lambda: server.counts()["live"] == 1)
        await server.stop()
        self.assertEqual(server.counts()["cut_at_shutdown"], 1)
        self.assertIsInstance(await d, PoemTruncated)
        self.assertEqual(server.service.ports, [])
        self.assertIsInstance(await fetch(server), PoemError)  # refused now

    def test_badOptionsAtOnce(self) -> None:
        """A bad option raises at once, one line naming it; nothing listens."""
        for options, words in [
            ({"fault": "bogus"}, "fault[1]: unknown fault mode 'bogus'"),
            ({"fault": ["stall@0.7", "reset:1@0.7"]}, "add up to 1.4"),
            ({"delay": 0}, "delay must be a finite number >= 0.001"),
            ({"seed": -2, "fault": "stall"}, "seed must be a whole number >= 0"),
            ({"chunk_size": 3}, "chunk_size needs delay"),
        ]:
            with self.assertRaises(ConfigError, msg=options) as cm:
                startPoetryServer(self, **options)
            self.assertIn(words, str(cm.exception))
        self.assertRaises(TypeError, startPoetryServer, self, poems=b"one poem")

    async def test_everyNewMode(self) -> None:
        """
        What the project's client gets from each new mode over loopback:
        the whole poem late, slowly, in many reads or before a held close;
        a shorter poem reported as a success for truncate; bytes that are
        not UTF-8 for garbage.
        """
        for fault in ["latency:0.05,0.02", "bandwidth:4000", "slow-close:0.1"]:
            server = await startPoetryServer(self, fault=fault, poems=[POEM])
            poem = await fetch(server)
            self.assertIsInstance(poem, Poem, fault)
            self.assertEqual(poem.data, POEM.data, fault)
        reads: list[int] = []
        server = await startPoetryServer(self, fault="slicer:8,4,0.002", poems=[POEM])
        poem = await fetch(server, on_data=reads.append)
        self.assertEqual(poem.data, POEM.data)
        self.assertGreater(len(reads), 5)
        server = await startPoetryServer(self, fault="truncate:20", poems=[POEM])
        poem = await fetch(server)
        self.assertIsInstance(poem, Poem)
        self.assertEqual(poem.data, POEM.data[:20])
        server = await startPoetryServer(self, fault="garbage:50")
        poem = await fetch(server)
        self.assertEqual(len(poem.data), 50)
        self.assertRaises(UnicodeDecodeError, poem.data.decode, "utf-8")
        await waitFor(lambda: server.counts()["faults"] == 1)

    async def test_seedReplays(self) -> None:
        """
        Two servers with the same seed and mix: 30 downloads, one after
        another, get the same faults in the same order, as the mix
        predicts; each access event names its fault.
        """
        mix = ["reset:0@0.3", "refuse@0.3"]
        runs = []
        for _ in range(2):
            server = await startPoetryServer(self, fault=mix, seed=99, poems=[POEM])
            runs.append([kind(await fetch(server)) for _ in range(30)])
        self.assertEqual(runs[0], runs[1])
        names = {None: "Poem", Reset(0): "PoemTruncated", Refuse(): "EmptyPoem"}
        predicted = FaultMix([(Reset(0), 0.3), (Refuse(), 0.3)], seed=99).sequence(30)
        self.assertEqual(runs[0], [names[f] for f in predicted])
        self.assertEqual(len(set(runs[0])), 3)

    async def test_frequencies(self) -> None:
        """
        Over 200 downloads the share of each fault is within 0.1 of its
        probability (the seed is fixed, so the figure is exact every run).
        """
        server = await startPoetryServer(
            self, fault=["refuse@0.2", "reset:0@0.3"], seed=5, poems=[POEM]
        )
        results = [kind(await fetch(server)) for _ in range(200)]
        for name, p in [("EmptyPoem", 0.2), ("PoemTruncated", 0.3), ("Poem", 0.5)]:
            share = results.count(name) / 200
            self.assertLess(abs(share - p), 0.1, (name, share))

    async def test_faultPeers(self) -> None:
        """
        fault_peers: a loopback client is refused when 127.0.0.0/8 is
        targeted, and served when only another network is.
        """
        server = await startPoetryServer(
            self, fault="refuse", fault_peers=["127.0.0.0/8"], poems=[POEM]
        )
        self.assertIsInstance(await fetch(server), EmptyPoem)
        server = await startPoetryServer(
            self, fault="refuse", fault_peers=["192.0.2.0/24"], poems=[POEM]
        )
        self.assertEqual((await fetch(server)).data, POEM.data)

    async def test_startPoetryServerPlain(self) -> None:
        """start_poetry_server: the same server, stopped by its caller."""
        server = await start_poetry_server(reactor, poems=[POEM])
        self.addCleanup(server.stop)
        self.assertEqual((await fetch(server)).data, POEM.data)


# The pytest fixture (pytest only: trial does not collect functions).

_FIXTURE_SERVERS: list[PoetryTestServer] = []


@pytest_twisted.ensureDeferred
async def test_poetry_server_fixture(poetry_server: Any) -> None:
    """poetry_server(...) starts servers; their faults reach a client."""
    server = poetry_server(fault="reset:10", poems=[POEM])
    plain = poetry_server(poems=[POEM])
    _FIXTURE_SERVERS.extend([server, plain])
    assert server.address == f"127.0.0.1:{server.port}"
    error = await fetch(server)
    assert isinstance(error, PoemTruncated)
    assert error.partial == POEM.data[:10]
    assert (await fetch(plain)).data == POEM.data
    await waitFor(lambda: server.counts()["faults"] == 1)
    # A stalled download still open at teardown: cut within the grace.
    stalled = poetry_server(fault="stall", grace=0.1)
    _FIXTURE_SERVERS.append(stalled)
    fetch(stalled, timeout=30)
    await waitFor(lambda: stalled.counts()["live"] == 1)


def test_poetry_server_fixture_stopped() -> None:
    """The servers of the previous test were stopped at its teardown."""
    if not _FIXTURE_SERVERS:
        pytest.skip("runs after test_poetry_server_fixture")
    assert _FIXTURE_SERVERS[-1].counts()["cut_at_shutdown"] == 1
    for server in _FIXTURE_SERVERS:
        assert server.service.ports == []
        assert not server.service.running
        assert server.counts()["live"] == 0
