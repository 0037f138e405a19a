"""
Unit tests of the admin endpoint's parts, without sockets: the server view
(bounded live list, states, behaviour), the metrics collector, the recent
connections' timeline rows, the bearer token checker, the body limit, the
idle timeout and connection limit, and the --admin options.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger, formatEvent
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from poetry.admin import (
    AdminConnectionLimit,
    AdminRequest,
    AdminSite,
    RequestDeadline,
)
from poetry.admin import auth as auth_module
from poetry.admin.auth import BearerToken, TokenChecker
from poetry.admin.control import ADMIN_NAMESPACE, BehaviourControl, BehaviourRefused
from poetry.admin.host import names_loopback
from poetry.admin.metrics import ServerMetrics
from poetry.admin.recent import RecentConnections, timeline_outcome
from poetry.faults import parse_fault
from poetry.library import PoemFile, PoemLibrary
from poetry.server import ConnectionOutcome, PoetryServerFactory
from poetry.server.mix import FaultMix
from poetry.server.rules import ConfigError
from poetry.server.view import ServerView, connection_state
from poetry.service.behaviour import KEYS, Behaviour
from poetry.service.config import listens_on_loopback
from tests.helpers import lose, parse

POEM = PoemFile("verse", b"0123456789" * 10)


def make_factory(clock: MemoryReactorClock, **kw: Any) -> PoetryServerFactory:
    return PoetryServerFactory(PoemLibrary([POEM]), reactor=clock, **kw)


def connect(factory: PoetryServerFactory, port: int = 40000) -> Any:
    """A protocol of C{factory} connected to a StringTransport."""
    addr = IPv4Address("TCP", "127.0.0.1", port)
    proto = factory.buildProtocol(addr)
    assert proto is not None
    proto.makeConnection(StringTransport(peerAddress=addr))
    return proto


class ServerViewTests(SynchronousTestCase):
    """L{ServerView}: reading the factory, bounded."""

    def test_liveListIsBoundedOldestFirst(self) -> None:
        """
        With more live connections than LIVE_LIMIT, the list holds the
        LIVE_LIMIT oldest, oldest first, and the total counts them all.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0)
        view = ServerView(factory)
        view.LIVE_LIMIT = 5
        protos = []
        for i in range(8):
            clock.advance(1)
            protos.append(connect(factory, 40000 + i))
        shown, total = view.live()
        self.assertEqual(total, 8)
        self.assertEqual(
            [c.peer for c in shown], [f"127.0.0.1:{40000 + i}" for i in range(5)]
        )
        self.assertEqual(shown[0].seconds_open, 7.0)
        self.assertEqual(shown[0].size, len(POEM.data))
        self.assertEqual(shown[0].poem, "verse")
        self.assertEqual(shown[0].as_dict(), dataclasses.asdict(shown[0]))
        for proto in protos:
            lose(proto)
        self.assertEqual(view.live(), ([], 0))

    def test_defaultLimitIsAThousand(self) -> None:
        """The status lists at most 1,000 live connections."""
        self.assertEqual(ServerView.LIVE_LIMIT, 1000)

    def test_states(self) -> None:
        """sending, lingering, a fault mode, and the client's half-close."""
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0)
        proto = connect(factory)
        self.assertEqual(connection_state(proto), "sending")
        proto.readConnectionLost()
        self.assertEqual(connection_state(proto), "sending, client half-closed")
        proto.write_closed = True
        self.assertEqual(connection_state(proto), "lingering, client half-closed")
        lose(proto)
        faulty = make_factory(clock, fault=parse_fault("stall"))
        stalled = connect(faulty)
        self.assertEqual(connection_state(stalled), "fault stall")
        self.assertEqual(ServerView(faulty).live_faults(), {"stall": 1})
        lose(stalled)

    def test_modeAndLimits(self) -> None:
        """fast, slow (a delay), fault (one for all) or mix; the limits."""
        clock = MemoryReactorClock()
        view = ServerView(make_factory(clock, max_connections=5))
        self.assertEqual(view.mode(), "fast")
        self.assertEqual(
            view.limits(),
            {"idle_timeout": None, "max_connections": 5, "max_per_peer": None},
        )
        slow = ServerView(make_factory(clock, delay=0.5, chunk_size=7))
        self.assertEqual(slow.mode(), "slow")
        fault = ServerView(make_factory(clock, fault=parse_fault("reset:9")))
        self.assertEqual(fault.mode(), "fault")
        mixed = make_factory(clock)
        mixed.set_mix(FaultMix([(parse_fault("reset:9"), 0.25)], seed=7))
        self.assertEqual(ServerView(mixed).mode(), "mix")

    def test_observerSeesEachEnd(self) -> None:
        """
        An observer hears each connection end once, after the counters
        include it.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0)
        heard: list[tuple[Any, int]] = []
        ServerView(factory).observe(lambda p: heard.append((p, factory.clients_gone)))
        proto = connect(factory)
        self.assertEqual(heard, [])
        lose(proto)
        self.assertEqual(heard, [(proto, 1)])


class MetricsTests(SynchronousTestCase):
    """L{ServerMetrics}: values read at scrape time, durations observed."""

    def sample(self, metrics: ServerMetrics, name: str, **labels: str) -> float | None:
        value = metrics.registry.get_sample_value(name, labels)
        return value

    def test_refusalsAndLiveBytes(self) -> None:
        """
        Refusals by limit; bytes sent include the live connections'; the
        live gauge counts them.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0, max_connections=1)
        metrics = ServerMetrics(ServerView(factory))
        proto = connect(factory)
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)))
        clock.advance(1)
        self.assertEqual(
            self.sample(metrics, "poetry_refused_total", limit="max_connections"), 1
        )
        self.assertEqual(
            self.sample(metrics, "poetry_refused_total", limit="max_per_peer"), 0
        )
        self.assertEqual(self.sample(metrics, "poetry_live_connections"), 1)
        self.assertEqual(self.sample(metrics, "poetry_bytes_sent_total"), proto.sent)
        self.assertGreater(proto.sent, 0)
        lose(proto)

    def test_durationHistogram(self) -> None:
        """A connection open 3 s falls in the 5 s bucket, not the 2.5 s one."""
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0)
        metrics = ServerMetrics(ServerView(factory))
        proto = connect(factory)
        clock.advance(3)
        lose(proto)
        name = "poetry_connection_duration_seconds_bucket"
        self.assertEqual(self.sample(metrics, name, le="2.5"), 0)
        self.assertEqual(self.sample(metrics, name, le="5.0"), 1)
        self.assertEqual(
            self.sample(metrics, "poetry_connection_duration_seconds_sum"), 3.0
        )
        self.assertEqual(
            self.sample(
                metrics, "poetry_connections_ended_total", outcome="client_gone"
            ),
            1,
        )

    def test_faultActivationsCountLiveAndEnded(self) -> None:
        """
        A stall connection counts as an activation while live, and still
        once it has ended (not twice).
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, fault=parse_fault("stall"))
        metrics = ServerMetrics(ServerView(factory))
        name = "poetry_fault_activations_total"
        proto = connect(factory)
        self.assertEqual(self.sample(metrics, name, mode="stall"), 1)
        lose(proto)
        self.assertEqual(self.sample(metrics, name, mode="stall"), 1)
        connect(factory)
        self.assertEqual(self.sample(metrics, name, mode="stall"), 2)

    def test_ownRegistry(self) -> None:
        """Two servers' metrics never share prometheus_client's global registry."""
        from prometheus_client import REGISTRY

        clock = MemoryReactorClock()
        ServerMetrics(ServerView(make_factory(clock)))
        ServerMetrics(ServerView(make_factory(clock)))
        self.assertIsNone(REGISTRY.get_sample_value("poetry_live_connections"))


class RecentConnectionsTests(SynchronousTestCase):
    """L{RecentConnections}: the timeline rows."""

    def test_outcomes(self) -> None:
        """How each connection outcome is drawn."""
        self.assertEqual(timeline_outcome(ConnectionOutcome.COMPLETE), "ok")
        self.assertEqual(timeline_outcome(ConnectionOutcome.CUT_IDLE), "timeout")
        self.assertEqual(timeline_outcome(ConnectionOutcome.CLIENT_GONE), "failed")
        self.assertEqual(timeline_outcome(None), "unfinished")

    def test_rowsEndedAndLiveBounded(self) -> None:
        """
        Rows hold at most KEEP ended connections (the latest) and the live
        ones, oldest first, times from the oldest's start; a live one is
        unfinished.
        """
        clock = MemoryReactorClock()
        factory = make_factory(clock, delay=1.0)
        recent = RecentConnections(ServerView(factory))
        recent.ended = type(recent.ended)(maxlen=3)
        for i in range(5):
            proto = connect(factory, 41000 + i)
            clock.advance(1)
            lose(proto)
        live = connect(factory, 42000)
        clock.advance(2)
        rows = recent.rows()
        self.assertEqual(len(rows), 4)
        self.assertEqual([r.outcome for r in rows], ["failed"] * 3 + ["unfinished"])
        self.assertEqual(rows[0].start, 0.0)
        self.assertEqual(rows[0].end, 1.0)
        self.assertIn("127.0.0.1:41002", rows[0].label)
        self.assertIsNone(rows[-1].end)
        self.assertEqual(rows[-1].start, 3.0)
        self.assertIn("<svg", recent.svg())
        lose(live)


class TokenCheckerTests(SynchronousTestCase):
    """L{TokenChecker}: exactly the token, compared in constant time."""

    def test_exactTokenOnly(self) -> None:
        checker = TokenChecker(b"a-long-admin-token")
        self.assertEqual(
            self.successResultOf(
                checker.requestAvatarId(BearerToken(b"a-long-admin-token"))
            ),
            b"admin",
        )
        for wrong in [
            b"",
            b"a-long-admin-toke",
            b"a-long-admin-tokenX",
            b"A-long-admin-token",
        ]:
            self.failureResultOf(
                checker.requestAvatarId(BearerToken(wrong)), UnauthorizedLogin
            )

    def test_constantTimeCompare(self) -> None:
        """The comparison is hmac.compare_digest's."""
        calls: list[tuple[bytes, bytes]] = []

        def compare(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return False

        self.patch(auth_module.hmac, "compare_digest", compare)
        checker = TokenChecker(b"a-long-admin-token")
        self.failureResultOf(
            checker.requestAvatarId(BearerToken(b"a-long-admin-token")),
            UnauthorizedLogin,
        )
        self.assertEqual(calls, [(b"a-long-admin-token", b"a-long-admin-token")])

    def test_emptyTokenRefused(self) -> None:
        self.assertRaises(ValueError, TokenChecker, b"")


class _Channel:
    def __init__(self) -> None:
        self.transport = StringTransport()
        self.site = AdminSite(Resource(), reactor=MemoryReactorClock())

    def getPeer(self) -> Any:
        return self.transport.getPeer()

    def getHost(self) -> Any:
        return self.transport.getHost()


class AdminRequestTests(SynchronousTestCase):
    """L{AdminRequest}: the body limit."""

    def request(self) -> AdminRequest:
        return AdminRequest(_Channel())  # type: ignore[arg-type]

    def test_smallBodyKept(self) -> None:
        request = self.request()
        request.gotLength(5)
        request.handleContentChunk(b"{}   ")
        self.assertFalse(request.body_too_large)
        self.assertEqual(request.content.getvalue(), b"{}   ")  # type: ignore[union-attr]

    def test_declaredTooLarge(self) -> None:
        """A declared length over the limit is noted before any byte."""
        request = self.request()
        request.gotLength(AdminRequest.MAX_BODY_SIZE + 1)
        self.assertTrue(request.body_too_large)
        request.handleContentChunk(b"x" * 100)
        self.assertEqual(request.content.getvalue(), b"")  # type: ignore[union-attr]

    def test_chunkedTooLargeDiscardedThenAborted(self) -> None:
        """
        A body of unknown length is kept up to MAX_BODY_SIZE, then dropped
        (memory stays bounded); past MAX_DISCARDED the connection is
        aborted.
        """
        request = self.request()
        request.gotLength(None)
        chunk = b"x" * 1024
        for _ in range(AdminRequest.MAX_BODY_SIZE // 1024):
            request.handleContentChunk(chunk)
        self.assertFalse(request.body_too_large)
        request.handleContentChunk(b"y")
        self.assertTrue(request.body_too_large)
        self.assertEqual(request.content.getvalue(), b"")  # type: ignore[union-attr]
        transport = request.channel.transport  # type: ignore[union-attr]
        # 1 byte short of a whole chunk below MAX_DISCARDED...
        full = AdminRequest.MAX_DISCARDED // 1024 - AdminRequest.MAX_BODY_SIZE // 1024
        for _ in range(full - 1):
            request.handleContentChunk(chunk)
        self.assertFalse(transport.disconnecting)  # type: ignore[union-attr]
        request.handleContentChunk(chunk)  # ...and past it
        self.assertEqual(request.content.getvalue(), b"")  # type: ignore[union-attr]
        self.assertTrue(transport.disconnecting)  # type: ignore[union-attr]


class AdminSiteTests(SynchronousTestCase):
    """L{AdminSite}'s idle timeout, L{AdminConnectionLimit}."""

    def test_slowlorisCutAfterIdleTimeout(self) -> None:
        """
        A client that sends half a request line and stops is disconnected
        IDLE_TIMEOUT seconds later, not sooner.
        """
        clock = MemoryReactorClock()
        site = AdminSite(Resource(), reactor=clock)
        proto = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert proto is not None
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(b"GET /api/sta")
        clock.advance(AdminSite.IDLE_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.2)
        self.assertTrue(transport.disconnecting)
        proto.connectionLost(Failure(Exception("gone")))

    def test_connectionLimit(self) -> None:
        """Beyond MAX_CONNECTIONS open admin connections, refused."""
        clock = MemoryReactorClock()
        limit = AdminConnectionLimit(AdminSite(Resource(), reactor=clock))
        limit.MAX_CONNECTIONS = 2
        addr = IPv4Address("TCP", "127.0.0.1", 1)
        protos = []
        for _ in range(2):
            p = limit.buildProtocol(addr)
            assert p is not None
            p.makeConnection(StringTransport())
            protos.append(p)
        self.assertIsNone(limit.buildProtocol(addr))
        protos[0].connectionLost(Failure(Exception("gone")))
        self.assertIsNotNone(limit.buildProtocol(addr))
        protos[1].connectionLost(Failure(Exception("gone")))


class RequestDeadlineTests(SynchronousTestCase):
    """L{RequestDeadline}: a request must arrive and be answered in time."""

    def connect(self) -> tuple[MemoryReactorClock, Any, StringTransport]:
        clock = MemoryReactorClock()
        root = Resource()
        root.putChild(b"", _Text())
        deadline = RequestDeadline(AdminSite(root, reactor=clock), clock)
        proto = deadline.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert proto is not None
        transport = StringTransport()
        proto.makeConnection(transport)
        self.addCleanup(proto.connectionLost, Failure(Exception("gone")))
        return clock, proto, transport

    def test_drippingClientAborted(self) -> None:
        """
        A client sending a header byte every 5 s (the idle timeout never
        fires) is aborted DEADLINE seconds after it connected, not sooner.
        """
        clock, proto, transport = self.connect()
        proto.dataReceived(b"GET / HTTP/1.1\r\n")
        steps = int(RequestDeadline.DEADLINE // 5)
        for _ in range(steps - 1):
            clock.advance(5)
            proto.dataReceived(b"X")
        self.assertFalse(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        clock.advance(RequestDeadline.DEADLINE - 5 * (steps - 1))
        self.assertTrue(transport.disconnected)  # aborted, not closed
        self.assertEqual(transport.value(), b"")

    def test_answeredRequestsKeepTheConnection(self) -> None:
        """
        Requests answered in time never trip it; between requests (a
        keep-alive connection waiting for the next poll) no timer runs, and
        the next request's first byte starts it again.
        """
        clock, proto, transport = self.connect()
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        proto.dataReceived(request)
        self.assertIn(b"200 OK", transport.value())
        clock.advance(RequestDeadline.DEADLINE * 1.2)
        self.assertFalse(transport.disconnected)
        transport.clear()
        proto.dataReceived(request[:10])
        clock.advance(RequestDeadline.DEADLINE - 0.5)
        self.assertFalse(transport.disconnected)
        proto.dataReceived(request[10:])
        self.assertIn(b"200 OK", transport.value())
        clock.advance(1)
        self.assertFalse(transport.disconnected)
        proto.dataReceived(b"GET")  # a third request, never finished
        clock.advance(RequestDeadline.DEADLINE)
        self.assertTrue(transport.disconnected)


class _Text(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        return b"ok"


class AdminOptionsTests(SynchronousTestCase):
    """--admin and --admin-token-file."""

    def token_file(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp()
        os.write(fd, data)
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_offByDefault(self) -> None:
        config = parse().config
        self.assertIsNone(config.admin)
        self.assertIsNone(config.admin_token)

    def test_bareNumberIsLoopback(self) -> None:
        """--admin 10080 listens on tcp:10080:interface=127.0.0.1, as --port."""
        config = parse("--admin", "10080").config
        self.assertEqual(config.admin, "tcp:10080:interface=127.0.0.1:backlog=1024")
        self.assertEqual(config.admin_given, "10080")
        self.assertTrue(listens_on_loopback(config.admin))

    def test_beyondLoopbackNeedsToken(self) -> None:
        """
        An admin endpoint beyond loopback is refused, in one line, unless a
        token file is given.
        """
        for given in ["tcp:10080:interface=0.0.0.0", "tcp:10080:interface=192.168.1.9"]:
            error = self.assertRaises(UsageError, parse, "--admin", given)
            self.assertIn("listens beyond loopback", str(error))
            self.assertIn("--admin-token-file", str(error))
            self.assertNotIn("\n", str(error))
        path = self.token_file(b"0123456789abcdef0123\n")
        config = parse(
            "--admin", "tcp:10080:interface=0.0.0.0", "--admin-token-file", path
        ).config
        self.assertEqual(config.admin_token, b"0123456789abcdef0123")

    def test_loopbackRule(self) -> None:
        """What counts as loopback."""
        for description, loopback in [
            ("tcp:1:interface=127.0.0.1", True),
            ("tcp:1:interface=127.9.8.7", True),
            ("tcp6:1:interface=\\:\\:1", True),
            ("unix:/tmp/admin.sock", True),
            ("tcp:1:interface=0.0.0.0", False),
            ("tcp6:1:interface=\\:\\:", False),
            ("tcp:1:interface=localhost", False),
            ("ssl:1:privateKey=k.pem", False),
            ("tcp:1", False),
        ]:
            self.assertEqual(listens_on_loopback(description), loopback, description)

    def test_badTokenFiles(self) -> None:
        """A missing, short, blank-holding or many-line token file: one line each."""
        cases = [
            ("/nonexistent/token", "No such file"),
            (self.token_file(b"short\n"), "at least 16 characters, not 5"),
            (self.token_file(b""), "at least 16"),
            (self.token_file(b"0123456789 abcdef0123\n"), "visible ASCII"),
            (self.token_file(b"0123456789abcdef\n0123456789abcdef\n"), "one line"),
            (self.token_file(b"x" * 5000), "one line"),
        ]
        for path, words in cases:
            error = self.assertRaises(
                UsageError, parse, "--admin", "0", "--admin-token-file", path
            )
            self.assertIn(words, str(error))
            self.assertIn("--admin-token-file", str(error))
            self.assertNotIn("\n", str(error))

    def test_tokenFileNeedsAdmin(self) -> None:
        path = self.token_file(b"0123456789abcdef0123\n")
        error = self.assertRaises(UsageError, parse, "--admin-token-file", path)
        self.assertEqual(str(error), "--admin-token-file needs --admin")

    def test_withWorkers(self) -> None:
        """
        --admin works with --workers (the parent serves it over every
        worker); the loopback rule still holds.
        """
        config = parse("--admin", "10080", "--workers", "2").config
        self.assertEqual(config.workers, 2)
        self.assertTrue(str(config.admin).startswith("tcp:10080:interface=127."))
        error = self.assertRaises(
            UsageError,
            parse,
            "--admin",
            "tcp:10080:interface=0.0.0.0",
            "--workers",
            "2",
        )
        self.assertIn("listens beyond loopback", str(error))

    def test_badEndpoint(self) -> None:
        error = self.assertRaises(UsageError, parse, "--admin", "bogus:1")
        self.assertTrue(str(error).startswith("--admin invalid endpoint description"))


class BehaviourControlTests(SynchronousTestCase):
    """L{BehaviourControl}: the whole document checked, then applied."""

    def control(self, **kw: Any) -> tuple[PoetryServerFactory, BehaviourControl]:
        factory = make_factory(MemoryReactorClock(), **kw)
        control = BehaviourControl(factory)
        self.events: list[dict[str, Any]] = []
        control.log = Logger(namespace=ADMIN_NAMESPACE, observer=self.events.append)
        return factory, control

    def test_documentRoundTrip(self) -> None:
        """
        Each behaviour's document reads back to an equal behaviour, and a
        factory given it reads back as it too, every key always present.
        """
        for document in [
            {},
            {"delay": 0.25, "chunk_size": 16},
            {"faults": ["stall"], "chunk_size": 3},
            {
                "faults": ["reset:100@0.25", "latency:0.5,0.1@0.5"],
                "seed": 9,
                "fault_peers": ["10.1.2.3/8", "::1"],
            },
        ]:
            behaviour = Behaviour.from_document(document)
            written = behaviour.as_document()
            self.assertEqual(set(written), set(KEYS))
            self.assertEqual(json.loads(json.dumps(written)), written)
            self.assertEqual(Behaviour.from_document(written), behaviour, document)
            factory = make_factory(MemoryReactorClock())
            behaviour.apply_to(factory)
            if factory.mix is not None and behaviour.seed is None:
                # the mix chose its seed: the factory's behaviour names it
                behaviour = dataclasses.replace(behaviour, seed=factory.mix.seed)
            self.assertEqual(Behaviour.of(factory), behaviour, document)
        self.assertEqual(
            Behaviour.from_document({"faults": ["reset:1@0.5"]}).as_document(),
            {
                "delay": None,
                "chunk_size": None,
                "faults": ["reset:1@0.5"],
                "seed": None,
                "fault_peers": [],
            },
        )

    def test_replaceIsWhole(self) -> None:
        """A key left out of a replacement gets its default: no merge."""
        factory, control = self.control()
        control.replace({"faults": ["reset:3"], "seed": 4}, "127.0.0.1:1")
        self.assertEqual(str(factory.fault), "reset:3")
        self.assertEqual(control.document()["seed"], 4)
        control.replace({"delay": 0.5, "chunk_size": 2}, "127.0.0.1:1")
        self.assertIsNone(factory.mix)
        self.assertEqual((factory.delay, factory.chunk_size), (0.5, 2))
        control.replace({}, "127.0.0.1:1")
        self.assertEqual(
            (factory.delay, factory.chunk_size, factory.mix),
            (None, PoetryServerFactory.DEFAULT_CHUNK_SIZE, None),
        )

    def test_badDocumentChangesNothing(self) -> None:
        """
        A document with one bad value anywhere (after good ones) changes
        nothing, not even the mix object: everything is checked before
        anything is applied.
        """
        factory, control = self.control()
        control.replace({"faults": ["reset:3"], "seed": 4}, "127.0.0.1:1")
        mix = factory.mix
        before = control.document()
        for document in [
            {"delay": 0.5, "chunk_size": -1},
            {"delay": 0.5, "faults": ["reset:1"]},
            {"faults": ["reset:1", "nonsense"]},
            {"faults": ["reset:9"], "bogus": 1},
            {"faults": ["reset:9"], "fault_peers": ["not a network"]},
            {"delay": -1},
            {"delay": "0.5"},
        ]:
            with self.assertRaises(ConfigError, msg=str(document)):
                control.replace(document, "127.0.0.1:1")
            self.assertIs(factory.mix, mix, document)
            self.assertEqual(control.document(), before, document)
            self.assertIsNone(factory.delay)
        self.assertEqual(len(self.events), 1)

    def test_refusedWhileSlowInFlight(self) -> None:
        """
        A new delay while a slow connection is in flight is refused
        (BehaviourRefused, one line); nothing changed; it is taken once
        the connection has ended.
        """
        factory, control = self.control(delay=1.0, chunk_size=5)
        proto = connect(factory)
        with self.assertRaises(BehaviourRefused) as cm:
            control.replace({"delay": 2.0}, "127.0.0.1:1")
        self.assertIn("in flight", str(cm.exception))
        self.assertNotIn("\n", str(cm.exception))
        self.assertEqual((factory.delay, factory.chunk_size), (1.0, 5))
        self.assertEqual(self.events, [])
        lose(proto)
        control.replace({"delay": 2.0}, "127.0.0.1:1")
        self.assertEqual(factory.delay, 2.0)

    def test_resetGoesToTheStart(self) -> None:
        """
        After two replacements, reset gives the behaviour the factory had
        when the control was made (with the seed its mix had drawn), not
        either replacement.
        """
        factory, control = self.control()
        factory.set_mix(FaultMix([(parse_fault("reset:9"), 0.5)]))
        start = Behaviour.of(factory)
        control = BehaviourControl(factory)
        control.log = Logger(namespace=ADMIN_NAMESPACE, observer=self.events.append)
        control.replace({"faults": ["stall"]}, "127.0.0.1:1")
        control.replace({"delay": 0.5}, "127.0.0.1:1")
        self.assertEqual(control.reset("127.0.0.1:1"), start)
        self.assertEqual(Behaviour.of(factory), start)
        assert factory.mix is not None
        self.assertEqual(factory.mix.seed, start.seed)

    def test_oneEventPerChange(self) -> None:
        """
        Each change logs one event naming the peer and the new document,
        every field plain JSON; a refused change logs none.
        """
        _, control = self.control()
        control.replace({"faults": ["reset:3@0.5"], "seed": 1}, "127.0.0.1:5")
        with self.assertRaises(ConfigError):
            control.replace({"delay": -1}, "127.0.0.1:5")
        control.reset("127.0.0.1:6")
        self.assertEqual(len(self.events), 2)
        first, second = self.events
        self.assertEqual(first["peer"], "127.0.0.1:5")
        self.assertEqual(first["change"], "replaced")
        self.assertEqual(first["behaviour"]["faults"], ["reset:3@0.5"])
        self.assertEqual(second["change"], "reset")
        self.assertEqual(second["behaviour"], Behaviour().as_document())
        for event in self.events:
            fields = {k: event[k] for k in ("peer", "change", "behaviour")}
            self.assertEqual(json.loads(json.dumps(fields)), fields)
        text = formatEvent(first)
        self.assertIn("127.0.0.1:5", text)
        self.assertIn("reset:3@0.5", text)


class NamesLoopbackTests(SynchronousTestCase):
    """L{names_loopback}: which C{Host} values an admin without a token answers."""

    def test_loopbackNames(self) -> None:
        for host in [
            b"localhost",
            b"localhost:10080",
            b"LocalHost.",
            b"127.0.0.1",
            b"127.1.2.3:80",
            b"[::1]",
            b"[::1]:10080",
            b"::1",
            None,
        ]:
            self.assertTrue(names_loopback(host), host)

    def test_otherNames(self) -> None:
        for host in [
            b"example.com",
            b"example.com:10080",
            b"localhost.example.com",
            b"127.0.0.1.example",
            b"10.0.0.1:10080",
            b"[2001:db8::1]:10080",
            b"",
        ]:
            self.assertFalse(names_loopback(host), host)
