"""
Serving behind a PROXY-protocol load balancer (C{--port haproxy:...}):
L{poetry.server.proxy} on L{StringTransport} and L{Clock}, one real-socket
test of the limits, and an integration test with a real HAProxy in front of
two C{twistd poetry} servers (skipped, saying why, where HAProxy is not
installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from poetry.library import PoemFile, PoemLibrary
from poetry.server import ConnectionOutcome, PoetryServerFactory
from poetry.server.proxy import ProxyHeaderFactory, ProxyHeaderProtocol, server_endpoint
from poetry.service.config import normalize_endpoint
from tests.helpers import wait_until, waitFor
from tests.test_wire import HalfCloseTransport

POEM = PoemFile("short", b"Roses are red\nsockets are blue\n")
BALANCER = IPv4Address("TCP", "127.0.0.3", 40000)
SERVER = IPv4Address("TCP", "127.0.0.1", 10001)


def v1_header(source: str = "192.0.2.7", port: int = 51000) -> bytes:
    """A PROXY v1 header naming C{source}:C{port} as the client."""
    return f"PROXY TCP4 {source} 10.0.0.1 {port} 10001\r\n".encode()


def v2_header(
    source: str = "192.0.2.7", port: int = 51000, local: bool = False
) -> bytes:
    """A PROXY v2 header (TCP over IPv4), or a C{LOCAL} one (a health check)."""
    prefix = b"\r\n\r\n\x00\r\nQUIT\n"
    if local:
        return prefix + b"\x20\x00\x00\x00"
    body = socket.inet_aton(source) + socket.inet_aton("10.0.0.1")
    body += struct.pack("!HH", port, 10001)
    return prefix + b"\x21\x11" + struct.pack("!H", len(body)) + body


class Harness:
    """A poetry factory behind a L{ProxyHeaderFactory}, on a L{Clock}."""

    def __init__(self, **kw: Any) -> None:
        self.clock = Clock()
        self.events: list[dict[str, Any]] = []
        self.logged: list[dict[str, Any]] = []
        self.factory = PoetryServerFactory(
            PoemLibrary([POEM]), reactor=self.clock, **kw
        )
        self.factory.access_log = Logger(
            namespace=self.factory.access_log.namespace, observer=self.events.append
        )
        self.factory.log = Logger(observer=self.logged.append)
        self.wrapper = ProxyHeaderFactory(self.factory, self.clock)

    def connect(self) -> tuple[ProxyHeaderProtocol, HalfCloseTransport]:
        proto = self.wrapper.buildProtocol(BALANCER)
        transport = HalfCloseTransport(hostAddress=SERVER, peerAddress=BALANCER)
        transport.protocol = proto
        proto.makeConnection(transport)
        return proto, transport  # type: ignore[return-value]


def lose(proto: Protocol, exc: type[Exception] = ConnectionDone) -> None:
    proto.connectionLost(Failure(exc()))


class ProxyHeaderTests(SynchronousTestCase):
    """The wrapped protocol is built after the header, for the real client."""

    def test_nothingBeforeHeader(self) -> None:
        """
        Until the header arrives no protocol is built and nothing is sent;
        then the poem goes out and the access event names the client the
        header gave, not the balancer.
        """
        h = Harness()
        proto, transport = h.connect()
        self.assertIsNone(proto.wrappedProtocol)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(h.factory.live, set())
        proto.dataReceived(v1_header())
        self.assertEqual(transport.value(), POEM.data)
        transport.flushed()
        proto.readConnectionLost()
        lose(proto)
        [event] = h.events
        self.assertEqual(event["peer"], "192.0.2.7:51000")
        self.assertEqual(event["outcome"], "complete")
        self.assertEqual(h.factory.served, 1)

    def test_headerInPieces(self) -> None:
        """
        A header split across segments (3 bytes, then the rest, each
        version) is read whole; Twisted's own wrapper closes on the first
        short segment.
        """
        for header in (v1_header(), v2_header()):
            h = Harness()
            proto, transport = h.connect()
            proto.dataReceived(header[:3])
            self.assertFalse(transport.disconnecting)
            proto.dataReceived(header[3:] + b"stray")
            self.assertEqual(transport.value(), POEM.data, header)
            self.assertEqual(proto.wrappedProtocol.peer.host, "192.0.2.7")

    def test_v2Address(self) -> None:
        """A v2 header's source address and port become the peer."""
        h = Harness()
        proto, _ = h.connect()
        proto.dataReceived(v2_header("198.51.100.9", 4242))
        self.assertEqual(proto.getPeer(), IPv4Address("TCP", "198.51.100.9", 4242))
        self.assertEqual(proto.wrappedProtocol.peer.port, 4242)

    def test_v2Fast(self) -> None:
        """
        HAProxy's usual v2 headers (TCP over IPv4 and IPv6, with TLVs after
        the addresses) give the same peer and host as Twisted's own
        parser, and the bytes after the header reach the protocol.
        """
        from twisted.protocols.haproxy._v2parser import V2Parser

        prefix = b"\r\n\r\n\x00\r\nQUIT\n"
        six = socket.inet_pton(socket.AF_INET6, "2001:db8::7")
        six += socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack(
            "!HH", 7, 8
        )
        tlv = b"\x04\x00\x02ab"  # a NOOP TLV
        headers = [
            v2_header("198.51.100.9", 4242),
            prefix + b"\x21\x21" + struct.pack("!H", len(six)) + six,
            prefix + b"\x21\x11" + struct.pack("!H", 12 + len(tlv))
            + v2_header()[16:] + tlv,
        ]  # fmt: skip
        for header in headers:
            h = Harness()
            proto, _ = h.connect()
            received: list[bytes] = []
            proto.dataReceived(header + b"after")
            info = V2Parser.parse(header)

            def same(address: Any) -> tuple[Any, ...]:
                # Twisted's parser writes IPv6 uncompressed; a socket's
                # address (and ours) is compressed: compare the addresses.
                return (type(address), ip_address(address.host), address.port)

            self.assertEqual(same(proto.getPeer()), same(info.source))
            self.assertEqual(same(proto.getHost()), same(info.destination))
            self.assertIs(proto.wrappedProtocol.peer, proto.getPeer())
            wrapped = proto.wrappedProtocol
            wrapped.dataReceived = received.append
            proto.dataReceived(b"more")
            self.assertEqual(received, [b"more"])

    def test_v2ShortAddresses(self) -> None:
        """A v2 TCP header whose length is too short for its addresses closes."""
        h = Harness()
        proto, transport = h.connect()
        proto.dataReceived(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + b"\x00" * 4)
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(proto.wrappedProtocol)

    def test_halfCloseReachesProtocol(self) -> None:
        """
        The server's half-close and the client's reach the wrapped protocol
        (the wrapper is half-close aware): the poem ends complete, closed
        once both sides are done, not cut or left open.
        """
        h = Harness()
        proto, transport = h.connect()
        proto.dataReceived(v1_header())
        self.assertTrue(transport.write_closing)
        transport.flushed()
        self.assertTrue(proto.wrappedProtocol.write_closed)
        proto.readConnectionLost()
        self.assertTrue(transport.disconnecting)

    def test_badHeaderCloses(self) -> None:
        """Bytes that are not a PROXY header close the connection, unserved."""
        h = Harness()
        proto, transport = h.connect()
        proto.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(h.factory.health_checks, 0)
        self.assertEqual(sum(h.factory.ended.values()), 0)


class ProxyLimitTests(SynchronousTestCase):
    """Limits decide on the client the header names, and refusals close."""

    def test_maxConnectionsCloses(self) -> None:
        """
        Over --max-connections the connection is closed once its header
        is read, counted as refused, and nothing else (no health check, no
        traceback, no access event).
        """
        h = Harness(max_connections=1, fault=None, idle_timeout=None)
        first, _ = h.connect()
        first.dataReceived(v1_header(port=1))
        self.assertEqual(len(h.factory.live), 1)
        second, transport = h.connect()
        second.dataReceived(v1_header(port=2))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(h.factory.refused, 1)
        lose(second)
        self.assertEqual(h.factory.health_checks, 0)
        self.assertEqual(len(h.factory.live), 1)

    def test_maxPerPeerCountsClients(self) -> None:
        """
        Every connection comes from the balancer's address, yet
        --max-per-peer counts the clients in the headers: two clients are
        served, a second connection from the first client is refused.
        """
        h = Harness(max_per_peer=1)
        a, _ = h.connect()
        a.dataReceived(v1_header("192.0.2.1"))
        b, tb = h.connect()
        b.dataReceived(v2_header("192.0.2.2"))
        self.assertFalse(tb.disconnecting)
        c, tc = h.connect()
        c.dataReceived(v1_header("192.0.2.1", 2))
        self.assertTrue(tc.disconnecting)
        self.assertEqual(h.factory.refused_per_peer, 1)
        self.assertEqual(h.factory.per_peer, {"192.0.2.1": 1, "192.0.2.2": 1})


class HealthCheckTests(SynchronousTestCase):
    """A balancer's checks are counted apart, at debug level."""

    def assertHealthCheck(self, h: Harness) -> None:
        self.assertEqual(h.factory.health_checks, 1)
        self.assertEqual(h.factory.counts()["health_checks"], 1)
        self.assertEqual(h.factory.clients_gone, 0)
        self.assertEqual(h.events, [])
        [event] = h.logged
        self.assertEqual(event["log_level"], LogLevel.debug)
        self.assertEqual(event["peer"], "127.0.0.3:40000")

    def test_connectThenClose(self) -> None:
        """Connect and close (or reset) before a header: one health check."""
        for exc in (ConnectionDone, ConnectionLost):
            h = Harness()
            proto, transport = h.connect()
            lose(proto, exc)
            self.assertEqual(transport.value(), b"")
            self.assertHealthCheck(h)

    def test_halfCloseBeforeHeader(self) -> None:
        """A half-close before any header closes the connection: a check."""
        h = Harness()
        proto, transport = h.connect()
        proto.readConnectionLost()
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertHealthCheck(h)

    def test_silentTimesOut(self) -> None:
        """
        A peer that sends nothing is aborted after HEADER_TIMEOUT, not
        before, and counted as a check; the timer is then gone.
        """
        h = Harness()
        proto, transport = h.connect()
        h.clock.advance(ProxyHeaderProtocol.HEADER_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        h.clock.advance(0.1)
        self.assertTrue(transport.disconnecting)
        lose(proto, ConnectionLost)
        self.assertHealthCheck(h)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_headerCancelsTimeout(self) -> None:
        """Once the header is in, the header timeout no longer runs."""
        h = Harness(fault=None, idle_timeout=None, delay=None)
        proto, transport = h.connect()
        proto.dataReceived(v1_header())
        h.clock.advance(ProxyHeaderProtocol.HEADER_TIMEOUT * 2)
        self.assertFalse(transport.disconnecting)

    def test_localHeader(self) -> None:
        """A v2 LOCAL header (HAProxy's check-send-proxy) is a check, unserved."""
        h = Harness()
        proto, transport = h.connect()
        proto.dataReceived(v2_header(local=True))
        self.assertIsNone(proto.wrappedProtocol)
        self.assertEqual(transport.value(), b"")
        lose(proto)
        self.assertHealthCheck(h)
        self.assertIn(ConnectionOutcome.HEALTH_CHECK, h.factory.ended)


class EndpointTests(SynchronousTestCase):
    def test_normalizeInner(self) -> None:
        """
        haproxy:tcp:PORT gets the loopback interface and the backlog, as a
        plain tcp: port does.
        """
        self.assertEqual(
            normalize_endpoint("haproxy:tcp:10001"),
            "haproxy:tcp:10001:interface=127.0.0.1:backlog=1024",
        )


class _Client(Protocol):
    def __init__(self, header: bytes, done: Deferred[bytes]) -> None:
        self.header = header
        self.done = done
        self.data = b""

    def connectionMade(self) -> None:
        self.transport.write(self.header)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(self.data)


class _ClientFactory(ClientFactory):
    def __init__(self, header: bytes) -> None:
        self.done: Deferred[bytes] = Deferred()
        self.header = header
        self.client: _Client | None = None

    def buildProtocol(self, addr: Any) -> _Client:
        self.client = _Client(self.header, self.done)
        return self.client


class RealSocketTests(TestCase):
    async def test_refusalClosesOverTCP(self) -> None:
        """
        On a real haproxy:tcp: port with --max-connections 1 and a silent
        fault, a second client (another PROXY source) is closed at once,
        with nothing sent, while the first stays open; both end cleanly.
        """
        from poetry.faults import parse_fault

        factory = PoetryServerFactory(
            PoemLibrary([POEM]), max_connections=1, fault=parse_fault("silent")
        )
        endpoint = server_endpoint(reactor, "haproxy:tcp:0:interface=127.0.0.1")
        port = await endpoint.listen(factory)
        self.addCleanup(port.stopListening)
        number = port.getHost().port
        first = _ClientFactory(v1_header("192.0.2.1"))
        reactor.connectTCP("127.0.0.1", number, first)  # type: ignore[attr-defined]
        await waitFor(lambda: len(factory.live) == 1)
        second = _ClientFactory(v1_header("192.0.2.2"))
        reactor.connectTCP("127.0.0.1", number, second)  # type: ignore[attr-defined]
        self.assertEqual(await second.done, b"")
        self.assertEqual(factory.refused, 1)
        self.assertFalse(first.done.called)
        assert first.client is not None
        first.client.transport.loseConnection()  # type: ignore[union-attr]
        await first.done
        await waitFor(lambda: not factory.live)


# The real HAProxy test.


def find_haproxy() -> str | None:
    """HAProxy's executable: on PATH, or Debian's /usr/sbin/haproxy."""
    found = shutil.which("haproxy")
    if found is None and os.access("/usr/sbin/haproxy", os.X_OK):
        found = "/usr/sbin/haproxy"
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


SCALING_DOC = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"


def documented_cfg(front: int, port1: int, port2: int) -> str:
    """
    The C{haproxy.cfg} of docs/scaling.md, for this test: the frontend on
    127.0.0.2 (so the client's address, 127.0.0.1, differs from HAProxy's
    own, 127.0.0.3, set with C{source}), the backends on the test's ports,
    checks every 200 ms.  Every substitution must apply: a doc that drifts
    fails the test.
    """
    text = SCALING_DOC.read_text()
    cfg = text.split("```haproxy\n", 1)[1].split("```", 1)[0]
    for old, new in [
        ("bind 127.0.0.1:9000", f"bind 127.0.0.2:{front}"),
        ("server poet1 127.0.0.1:10001", f"server poet1 127.0.0.1:{port1}"),
        ("server poet2 127.0.0.1:10002", f"server poet2 127.0.0.1:{port2}"),
        (
            "check inter 1s fall 2 rise 2",
            "check inter 200ms fall 1 rise 1 source 127.0.0.3",
        ),
        ("balance leastconn", "balance leastconn"),
        ("send-proxy-v2", "send-proxy-v2"),
    ]:
        assert old in cfg, f"docs/scaling.md's haproxy.cfg lost {old!r}"
        cfg = cfg.replace(old, new)
    return cfg


class RealHAProxyTests(SynchronousTestCase):
    """
    HAProxy (send-proxy-v2, health checks, leastconn) in front of two
    C{twist poetry --port haproxy:tcp:...} servers on loopback, fetched
    through with C{get-poetry}, with the C{haproxy.cfg} docs/scaling.md
    gives.
    """

    def setUp(self) -> None:
        haproxy = find_haproxy()
        if haproxy is None:
            raise SkipTest(
                "HAProxy is not installed (no haproxy on PATH or /usr/sbin): "
                "the real-balancer test did not run; apt-get install haproxy"
            )
        self.haproxy = haproxy
        self.dir = Path(tempfile.mkdtemp(prefix="poetry-haproxy-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.children: list[subprocess.Popen[bytes]] = []
        self.addCleanup(self._reap)

    def _reap(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(10)

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "wb")
        self.addCleanup(log.close)
        child = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
        )
        self.children.append(child)
        return child

    def _log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def _wait(self, condition: Any, what: str) -> None:
        wait_until(condition, what)

    def _fetch(self, front: int, count: int) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "poetry", "--timeout", "5"]
            + [f"127.0.0.2:{front}"] * count,
            capture_output=True,
            timeout=30,
            check=False,
        )

    def test_twoBackends(self) -> None:
        """
        Both backends serve, both log the client's own address (127.0.0.1)
        from the PROXY header and never the balancer's (127.0.0.3); the
        checks are counted apart, never logged as clients gone; with one
        backend stopped, fetching still succeeds.
        """
        port1, port2, front = free_port(), free_port(), free_port("127.0.0.2")
        servers = {}
        for name, port in (("poet1", port1), ("poet2", port2)):
            servers[name] = self._start(
                name,
                [sys.executable, "-m", "twisted", "--log-format=text",
                 "--log-level=debug", "poetry",
                 "--port", f"haproxy:tcp:{port}:interface=127.0.0.1"],
            )  # fmt: skip
        for name in servers:
            self._wait(
                lambda name=name: "listening on" in self._log(name), f"{name} to listen"
            )
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(documented_cfg(front, port1, port2))
        self._start("haproxy", [self.haproxy, "-db", "-f", str(cfg)])
        self._wait(
            lambda: (
                "Health check from" in self._log("poet1")
                and "Health check from" in self._log("poet2")
            ),
            "HAProxy's health checks to reach both servers",
        )
        result = self._fetch(front, 6)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertEqual(result.stdout.count(b"\n") > 0, True)
        for name in servers:
            text = self._log(name)
            access = [line for line in text.splitlines() if "complete" in line]
            self.assertTrue(access, f"{name} served nothing:\n{text}")
            for line in access:
                self.assertIn("127.0.0.1:", line)
                self.assertNotIn("127.0.0.3", line)
            self.assertNotIn("client gone", text)
        servers["poet2"].send_signal(signal.SIGTERM)
        self.assertIn(servers["poet2"].wait(15), (0, -signal.SIGTERM))
        stopped = self._log("poet2")
        self.assertRegex(stopped, r"[1-9]\d* health checks?, ")
        before = self._log("poet1").count(" complete")
        result = self._fetch(front, 4)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self._wait(
            lambda: self._log("poet1").count(" complete") == before + 4,
            "the remaining backend to serve every fetch",
        )
