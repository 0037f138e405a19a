"""
Tests for L{poetry.service} and the twistd plugin: option validation,
endpoint descriptions, the service's start-up, graceful stop, and plugin
discovery.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from poetry.service import (
    DEFAULT_BACKLOG,
    CannotListen,
    Options,
    PoetryService,
    makeService,
    normalizeEndpoint,
)
from tests.helpers import fetch, parse, waitFor


class OptionsTests(SynchronousTestCase):
    """C{twistd poetry} options: defaults and every kind of bad input."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(_rmtree, self.tmp)

    def test_defaults(self) -> None:
        """
        With no options the server is fast, listens on 127.0.0.1:10000 with a
        large backlog, and serves the bundled poems round-robin.
        """
        options = parse()
        self.assertIsNone(options["delay"])
        self.assertEqual(
            options["ports"],
            [f"tcp:10000:interface=127.0.0.1:backlog={DEFAULT_BACKLOG}"],
        )
        self.assertGreaterEqual(len(options["library"]), 6)
        self.assertFalse(options["library"].random)
        self.assertEqual(options["grace"], 5.0)

    def test_slowAndFiles(self) -> None:
        """
        --delay, --chunk-size, --poem, --poems, --random, --grace and
        --max-connections are parsed into typed values.
        """
        (self.tmp / "a.txt").write_bytes(b"alpha\n")
        d = self.tmp / "dir"
        d.mkdir()
        (d / "b.txt").write_bytes(b"beta\n")
        (d / "ignored.md").write_bytes(b"not a poem\n")
        options = parse(
            "--delay", "0.5", "--chunk-size", "16", "--poem", str(self.tmp / "a.txt"),
            "--poems", str(d), "--random", "--grace", "2", "--max-connections", "7",
        )  # fmt: skip
        self.assertEqual(options["delay"], 0.5)
        self.assertEqual(options["chunk-size"], 16)
        self.assertEqual(options["grace"], 2.0)
        self.assertEqual(options["max-connections"], 7)
        library = options["library"]
        self.assertTrue(library.random)
        self.assertEqual([p.data for p in library.poems], [b"alpha\n", b"beta\n"])

    def test_badOptions(self) -> None:
        """
        Every bad option is a usage error (twistd prints it and exits
        non-zero before anything listens) whose message names the problem.
        """
        empty = self.tmp / "empty.txt"
        empty.write_bytes(b"")
        emptyDir = self.tmp / "nothing"
        emptyDir.mkdir()
        unreadable = self.tmp / "secret.txt"
        unreadable.write_bytes(b"x")
        cases: list[tuple[list[str], str]] = [
            (["--poem", str(self.tmp / "missing.txt")], "does not exist"),
            (["--poem", str(empty)], "is empty"),
            (["--poem", str(self.tmp)], "is a directory"),
            (["--poems", str(emptyDir)], "holds no"),
            (["--poems", str(self.tmp / "nodir")], "does not exist"),
            (["--delay", "abc"], "--delay"),
            (["--delay", "0"], "--delay"),
            (["--delay", "-2"], "--delay"),
            (["--delay", "nan"], "--delay"),
            (["--delay", "1", "--chunk-size", "0"], "--chunk-size"),
            (["--delay", "1", "--chunk-size", "1.5"], "--chunk-size"),
            (["--chunk-size", "4"], "needs --delay"),
            (["--grace", "x"], "--grace"),
            (["--grace", "-1"], "--grace"),
            (["--max-connections", "0"], "--max-connections"),
            (["--port", "tcp:notanumber"], "invalid endpoint"),
            (["--port", "bogus:1"], "invalid endpoint"),
        ]
        if os.geteuid() != 0:  # root reads anything
            unreadable.chmod(0)
            cases.append((["--poem", str(unreadable)], "cannot read"))
        for argv, expected in cases:
            with self.assertRaises(UsageError, msg=argv) as cm:
                parse(*argv)
            self.assertIn(expected, str(cm.exception), argv)
            self.assertNotIn("\n", str(cm.exception))

    def test_normalizeEndpoint(self) -> None:
        """
        A bare number listens on loopback; a backlog is added to stream
        endpoints that name none, and kept where one is named.
        """
        b = DEFAULT_BACKLOG
        self.assertEqual(
            normalizeEndpoint("10001"), f"tcp:10001:interface=127.0.0.1:backlog={b}"
        )
        self.assertEqual(normalizeEndpoint("tcp:0"), f"tcp:0:backlog={b}")
        self.assertEqual(normalizeEndpoint("tcp:1:backlog=5"), "tcp:1:backlog=5")
        self.assertEqual(normalizeEndpoint("unix:/tmp/s"), f"unix:/tmp/s:backlog={b}")


class ServiceTests(TestCase):
    """L{PoetryService} on real loopback ports."""

    def makeService(self, **kw: Any) -> PoetryService:
        factory = PoetryServerFactory(
            PoemLibrary([PoemFile("p", b"a poem in four chunks\n")]),
            reactor=reactor,
            **kw,
        )
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        return PoetryService(factory, [endpoint], grace=0.3)

    async def test_makeServiceServes(self) -> None:
        """
        makeService builds a service from parsed options that, once started,
        serves a bundled poem on the port it was given (tcp:0 picks one) and
        stops cleanly.
        """
        service = makeService(parse("--port", "tcp:0:interface=127.0.0.1"))
        service.startService()
        self.assertEqual(len(service.ports), 1)
        port = service.ports[0].getHost().port
        data, reason = await fetch(port)
        self.assertIn(data, [p.data for p in service.factory.library.poems])
        self.assertTrue(reason.check(ConnectionDone))
        await service.stopService()
        self.assertEqual(service.ports, [])

    def test_portInUse(self) -> None:
        """
        Starting on a port that is taken raises CannotListen (a SystemExit:
        twistd prints it and exits 1) with one line naming the endpoint, and
        leaves nothing listening.
        """
        taken = reactor.listenTCP(0, PoetryServerFactory(PoemLibrary.bundled()),
                                  interface="127.0.0.1")  # fmt: skip
        self.addCleanup(taken.stopListening)
        number = taken.getHost().port
        free = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        busy = TCP4ServerEndpoint(reactor, number, interface="127.0.0.1")
        service = PoetryService(
            PoetryServerFactory(PoemLibrary.bundled(), reactor=reactor),
            [free, busy],
            descriptions=["tcp:0", f"tcp:{number}"],
        )
        with self.assertRaises(CannotListen) as cm:
            service.privilegedStartService()
        self.assertIsInstance(cm.exception, SystemExit)
        message = str(cm.exception.code)
        self.assertIn(f"cannot listen on tcp:{number}", message)
        self.assertIn("in use", message)
        self.assertNotIn("\n", message)
        self.assertEqual(service.ports, [])

    async def test_gracefulStopFinishesInFlight(self) -> None:
        """
        Stopping stops listening at once but lets an in-flight slow transfer
        that ends within the grace period finish; the stop Deferred fires
        after it, with nothing cut.
        """
        service = self.makeService(delay=0.02, chunk_size=6)
        service.startService()
        port = service.ports[0].getHost().port
        result = fetch(port)
        await waitFor(lambda: bool(service.factory.live), tries=1000)
        stopped = service.stopService()
        self.assertFalse(stopped.called)
        data, reason = await result
        await stopped
        self.assertEqual(data, b"a poem in four chunks\n")
        self.assertTrue(reason.check(ConnectionDone))
        self.assertEqual(service.factory.counts()["cutAtShutdown"], 0)
        self.assertEqual(service.factory.served, 1)

    async def test_gracefulStopCutsAfterGrace(self) -> None:
        """
        A transfer that would outlast the grace period is aborted when it
        ends: the client sees an unclean close with a partial poem, and the
        server counts it as cut at shutdown.
        """
        service = self.makeService(delay=10.0, chunk_size=2)
        service.startService()
        port = service.ports[0].getHost().port
        result = fetch(port)
        await waitFor(lambda: bool(service.factory.live), tries=1000)
        await service.stopService()
        data, reason = await result
        self.assertEqual(data, b"a ")
        self.assertFalse(reason.check(ConnectionDone))
        self.assertEqual(service.factory.cutAtShutdown, 1)
        self.assertEqual(service.factory.live, set())


class PluginTests(SynchronousTestCase):
    """The twistd plugin."""

    def test_discoverable(self) -> None:
        """
        Twisted's plugin system finds a service maker named C{poetry} whose
        options and makeService are this package's.
        """
        makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
        self.assertIn("poetry", makers)
        maker = makers["poetry"]
        self.assertIsInstance(maker.options(), Options)
        self.assertIs(maker.makeService, makeService)


def _rmtree(path: Path) -> None:
    import shutil

    for p in path.rglob("*"):
        p.chmod(0o700)
    shutil.rmtree(path)
