"""
Tests for L{poetry.faults} and the server's resource limits: every fault
mode's behaviour on the wire, C{--idle-timeout}, C{--max-per-peer}, their
options, and what the project's own client (L{poetry.client.get_poem})
reports against each fault.

Behaviour and timing are proved on a L{MemoryReactorClock} with
L{StringTransport}s (a server fault connection wired to a client download by
L{_Wire}); a few tests repeat the essentials over real loopback sockets.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import (
    ConnectionAborted,
    ConnectionDone,
    ConnectionLost,
)
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from poetry.client import Poem, get_poem
from poetry.errors import EmptyPoem, PoemTimeout, PoemTooLarge, PoemTruncated
from poetry.faults import (
    CHUNK,
    Endless,
    EndlessProtocol,
    Fault,
    Refuse,
    RefuseProtocol,
    Reset,
    ResetProtocol,
    Silent,
    SilentProtocol,
    Stall,
    StallProtocol,
    parse_fault,
)
from poetry.library import PoemFile, PoemLibrary
from poetry.server import (
    BaseServerProtocol,
    ConnectionOutcome,
    PoetryServerFactory,
    PoetryServerProtocol,
)
from poetry.server.mix import FaultMix
from poetry.service import makeService
from tests.helpers import lose, parse, waitFor

POEM = PoemFile(
    "lab",
    (
        b"A server that hangs is a lesson in waiting,\n"
        b"a server that resets is a lesson in doubt;\n"
        b"the one that talks forever teaches limits,\n"
        b"and the silent one, what timeouts are about.\n"
        b"But the one that closes with nothing to say\n"
        b"must never be taken for a poem anyway.\n"
    ),
)

SERVER_ADDRESS = IPv4Address("TCP", "127.0.0.1", 10000)
CLIENT_ADDRESS = IPv4Address("TCP", "127.0.0.1", 40000)


def make_factory(
    fault: str | Fault | None = None,
    *poems: PoemFile,
    clock: Any = None,
    **kw: Any,
) -> PoetryServerFactory:
    """A factory over C{poems} (default L{POEM}) with C{fault}, on a clock."""
    if isinstance(fault, str):
        fault = parse_fault(fault)
    return PoetryServerFactory(
        PoemLibrary(poems or [POEM]),
        fault=fault,
        reactor=clock if clock is not None else MemoryReactorClock(),
        **kw,
    )


def connect(
    factory: PoetryServerFactory, peer: Any = CLIENT_ADDRESS
) -> tuple[Any, StringTransport]:
    """Build a protocol from C{factory} and connect it to a L{StringTransport}."""
    proto = factory.buildProtocol(peer)
    assert proto is not None
    transport = StringTransport(hostAddress=SERVER_ADDRESS, peerAddress=peer)
    proto.makeConnection(transport)
    return proto, transport


class ParseFaultTests(SynchronousTestCase):
    """L{parse_fault}: the C{--fault} values it takes and the ones it refuses."""

    def test_everyMode(self) -> None:
        """
        Each mode name gives its strategy; reset takes a byte count (0 too);
        case and surrounding blanks do not matter; str() gives the spec back.
        """
        self.assertEqual(parse_fault("stall"), Stall())
        self.assertEqual(parse_fault("silent"), Silent())
        self.assertEqual(parse_fault("endless"), Endless())
        self.assertEqual(parse_fault("refuse"), Refuse())
        self.assertEqual(parse_fault(" RESET:100 "), Reset(100))
        self.assertEqual(parse_fault("reset:0").nbytes, 0)  # type: ignore[attr-defined]
        for spec in ["stall", "silent", "endless", "refuse", "reset:7"]:
            self.assertEqual(str(parse_fault(spec)), spec)

    def test_badModes(self) -> None:
        """
        Unknown modes, a reset without a count, or a count that is not a
        whole number >= 0 raise ValueError with one line quoting the value.
        """
        cases = {
            "bogus": "unknown fault mode",
            "": "unknown fault mode",
            "stall:3": "unknown fault mode",
            "reset": "needs a byte count",
            "reset:": "BYTES must be a whole number",
            "reset:abc": "BYTES must be a whole number",
            "reset:-1": "BYTES must be a whole number",
            "reset:1.5": "BYTES must be a whole number",
            "reset:²": "BYTES must be a whole number",
        }
        for text, expected in cases.items():
            with self.assertRaises(ValueError, msg=text) as cm:
                parse_fault(text)
            message = str(cm.exception)
            self.assertIn(expected, message)
            self.assertIn(repr(text), message)
            self.assertNotIn("\n", message)
        self.assertRaises(ValueError, Reset, -1)


class FaultBehaviourTests(SynchronousTestCase):
    """What each fault mode writes, and when it closes, on a StringTransport."""

    def test_plainProtocolWithoutFaultOrIdle(self) -> None:
        """
        A factory with no fault builds the one poem protocol,
        PoetryServerProtocol, with or without an idle timeout; with a fault
        mode, that mode's own protocol class.
        """
        self.assertIs(type(connect(make_factory())[0]), PoetryServerProtocol)
        timed = connect(make_factory(idle_timeout=5.0))[0]
        self.assertIs(type(timed), PoetryServerProtocol)
        for fault, kind in [
            ("stall", StallProtocol),
            ("silent", SilentProtocol),
            ("refuse", RefuseProtocol),
            ("reset:5", ResetProtocol),
            ("endless", EndlessProtocol),
        ]:
            proto = connect(make_factory(fault, idle_timeout=5.0))[0]
            self.assertIs(type(proto), kind, fault)
            self.assertIsInstance(proto, BaseServerProtocol)
            self.assertNotIsInstance(proto, PoetryServerProtocol)

    def test_faultInSlowMode(self) -> None:
        """
        A fault mode on a slow server (C{--delay}) plays the fault, not the
        schedule, and its connections end and are counted like any other.
        """
        for spec in ["stall", "silent", "refuse", "reset:5", "endless"]:
            clock = MemoryReactorClock()
            factory = make_factory(spec, clock=clock, delay=1.0, chunk_size=4)
            proto, _ = connect(factory)
            self.assertEqual(len(factory.schedule), 0, spec)
            lose(proto, ConnectionLost)
            self.assertEqual(factory.live, set(), spec)
            self.assertEqual(sum(factory.ended.values()), 1, (spec, factory.counts()))

    def test_usersProtocolRespected(self) -> None:
        """
        A user's C{factory.protocol} is what a connection runs while no
        fault is set, with or without an idle timeout; a fault mode's
        protocol takes its place only while the fault is set, and
        C{protocol_for} is the one place that picks.
        """

        class Greeting(PoetryServerProtocol):
            def connectionMade(self) -> None:
                self.send(b"hello\n")
                PoetryServerProtocol.connectionMade(self)

        big = PoemFile("big", bytes(range(256)) * 1000)
        for poem, kw in [
            (POEM, {}),
            (POEM, {"idle_timeout": 5.0}),
            (POEM, {"delay": 1.0, "chunk_size": 100}),
            (big, {}),
            (big, {"idle_timeout": 5.0}),
        ]:
            clock = MemoryReactorClock()
            factory = make_factory(None, poem, clock=clock, **kw)
            factory.protocol = Greeting  # type: ignore[assignment]
            proto, transport = connect(factory)
            self.assertIs(type(proto), Greeting)
            for _ in range(len(poem.data)):
                if proto.outcome is not None:
                    break
                clock.advance(1.0)
                producer = transport.producer
                if producer is not None:
                    producer.resumeProducing()
            self.assertEqual(transport.value(), b"hello\n" + poem.data, kw)
            self.assertEqual(proto.sent, len(b"hello\n" + poem.data))
            self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        # The idle timeout is the user's protocol's too: a poem that does
        # not leave the transport (no drain, no half-close) is cut.
        for poem, kw in [
            (POEM, {}),
            (big, {}),
            (POEM, {"delay": 1.0, "chunk_size": 10}),
        ]:
            clock = MemoryReactorClock()
            factory = make_factory(None, poem, clock=clock, idle_timeout=5.0, **kw)
            factory.protocol = Greeting  # type: ignore[assignment]
            proto, transport = connect(factory)
            clock.advance(4.0)
            self.assertNotEqual(proto.outcome, ConnectionOutcome.CUT_IDLE, kw)
            for _ in range(3):
                clock.advance(1.0)
            self.assertEqual(proto.outcome, ConnectionOutcome.CUT_IDLE, kw)
            lose(proto, ConnectionLost)
            self.assertEqual(factory.counts()["cut_idle"], 1)
        factory = make_factory("silent")
        factory.protocol = Greeting  # type: ignore[assignment]
        self.assertIs(type(connect(factory)[0]), SilentProtocol)

        class ByAddress(PoetryServerFactory):
            def protocol_for(self, addr: Any) -> Any:
                return SilentProtocol

        chosen = ByAddress(PoemLibrary([POEM]), reactor=MemoryReactorClock())
        proto, transport = connect(chosen)
        self.assertIs(type(proto), SilentProtocol)
        self.assertEqual(transport.value(), b"")

    def test_stallSendsFirstChunkOnly(self) -> None:
        """
        stall writes the first chunk-size bytes (default 10), then nothing,
        ever; the connection stays open and live and nothing is scheduled.
        """
        clock = MemoryReactorClock()
        factory = make_factory("stall", clock=clock)
        proto, transport = connect(factory)
        self.assertEqual(transport.value(), POEM.data[:10])
        self.assertEqual(PoetryServerFactory.DEFAULT_CHUNK_SIZE, 10)
        clock.advance(3600)
        self.assertEqual(transport.value(), POEM.data[:10])
        self.assertFalse(transport.disconnecting)
        self.assertIsNone(transport.producer)
        self.assertEqual(factory.live, {proto})
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_stallHonoursChunkSize(self) -> None:
        """With chunk_size=3, stall sends exactly three bytes."""
        _, transport = connect(make_factory("stall", chunk_size=3))
        self.assertEqual(transport.value(), POEM.data[:3])

    def test_silentSendsNothing(self) -> None:
        """silent writes nothing and does not close."""
        clock = MemoryReactorClock()
        factory = make_factory("silent", clock=clock)
        proto, transport = connect(factory)
        clock.advance(3600)
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(factory.live, {proto})

    def test_refuseClosesCleanlyWithNothing(self) -> None:
        """
        refuse closes at once with loseConnection (a FIN, not an abort),
        zero bytes written; the connection is counted as a fault.
        """
        factory = make_factory("refuse")
        proto, transport = connect(factory)
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)  # not aborted
        lose(proto)
        self.assertEqual(factory.counts()["faults"], 1)
        self.assertEqual(factory.counts()["served"], 0)

    def test_resetSendsBytesThenAborts(self) -> None:
        """
        reset:N writes exactly N bytes of poem text (the poem repeated when
        it is shorter), one CHUNK per drain of the transport, and aborts the
        connection only on the drain after the last byte.
        """
        nbytes = 2 * CHUNK + 123
        factory = make_factory(f"reset:{nbytes}")
        proto, transport = connect(factory)
        producer = transport.producer
        self.assertIsNotNone(producer)
        self.assertFalse(transport.streaming)
        self.assertEqual(transport.value(), b"")  # waits for the transport
        for n in [CHUNK, 2 * CHUNK, nbytes]:
            producer.resumeProducing()
            self.assertEqual(len(transport.value()), n)
            self.assertFalse(transport.disconnected)
        producer.resumeProducing()
        self.assertTrue(transport.disconnected)  # abortConnection: a reset
        self.assertIsNone(transport.producer)
        copies = nbytes // len(POEM.data) + 1
        self.assertEqual(transport.value(), (POEM.data * copies)[:nbytes])
        lose(proto, ConnectionAborted)
        self.assertEqual(proto.outcome, ConnectionOutcome.FAULT)
        self.assertEqual(factory.counts()["faults"], 1)
        self.assertEqual(factory.counts()["bytes_sent"], nbytes)

    def test_resetZeroAbortsAtOnce(self) -> None:
        """reset:0 aborts as soon as it is asked for data, with nothing sent."""
        _, transport = connect(make_factory("reset:0"))
        transport.producer.resumeProducing()
        self.assertTrue(transport.disconnected)
        self.assertEqual(transport.value(), b"")

    def test_endlessWritesOnlyWhenAsked(self) -> None:
        """
        endless is a pull producer: it writes one block of whole copies of
        the poem each time the transport asks, never on its own, so a client
        that does not read costs one block however long it stays.
        """
        clock = MemoryReactorClock()
        factory = make_factory("endless", clock=clock)
        proto, transport = connect(factory)
        producer = transport.producer
        self.assertFalse(transport.streaming)
        self.assertEqual(transport.value(), b"")
        clock.advance(3600)
        self.assertEqual(transport.value(), b"")
        for _ in range(5):
            producer.resumeProducing()
        data = transport.value()
        block = len(POEM.data) * (CHUNK // len(POEM.data))
        self.assertEqual(len(data), 5 * block)
        self.assertLessEqual(block, CHUNK)
        self.assertEqual(data, POEM.data * (5 * block // len(POEM.data)))
        self.assertEqual(proto.sent, 5 * block)
        self.assertFalse(transport.disconnecting)

    def test_faultsCutAtShutdown(self) -> None:
        """
        stall, silent and endless connections never end by themselves:
        drain(grace) waits the grace period, then aborts every one of them,
        counts them as cut at shutdown, and leaves no timer behind.
        """
        for spec in ["stall", "silent", "endless"]:
            clock = MemoryReactorClock()
            factory = make_factory(spec, clock=clock)
            conns = [connect(factory) for _ in range(3)]
            d = factory.drain(2.0)
            clock.advance(1.9)
            self.assertFalse(any(t.disconnected for _, t in conns), spec)
            clock.advance(0.1)
            self.assertTrue(all(t.disconnected for _, t in conns), spec)
            for proto, _ in conns:
                lose(proto, ConnectionAborted)
            self.successResultOf(d)
            self.assertEqual(factory.cut_at_shutdown, 3, spec)
            self.assertEqual(factory.live, set())
            self.assertEqual(clock.getDelayedCalls(), [])

    def test_badFactorySettings(self) -> None:
        """
        The factory refuses an idle timeout that is not positive or not
        longer than the slow-mode delay, and a per-peer limit below one.
        """
        lib = PoemLibrary([POEM])
        for kw in [
            {"idle_timeout": 0},
            {"idle_timeout": -1.0},
            {"idle_timeout": 1.0, "delay": 1.0},
            {"max_per_peer": 0},
        ]:
            self.assertRaises(
                ValueError, PoetryServerFactory, lib, reactor=MemoryReactorClock(), **kw
            )


class IdleTimeoutTests(SynchronousTestCase):
    """--idle-timeout: connections on which no data moves are cut."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events: list[dict[str, Any]] = []

    def factory(self, *poems: PoemFile, **kw: Any) -> PoetryServerFactory:
        factory = make_factory(kw.pop("fault", None), *poems, clock=self.clock, **kw)
        factory.log = Logger(observer=self.events.append)
        return factory

    def assertCutIdle(
        self, factory: PoetryServerFactory, proto: Any, transport: StringTransport
    ) -> None:
        self.assertTrue(transport.disconnected)  # abortConnection
        self.assertEqual(proto.outcome, ConnectionOutcome.CUT_IDLE)
        lose(proto, ConnectionAborted)
        self.assertEqual(factory.counts()["cut_idle"], 1)
        self.assertEqual(factory.live, set())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        [event] = [e for e in self.events if "idle" in e["log_format"]]
        self.assertEqual(event["seconds"], factory.idle_timeout)
        self.assertEqual(str(event["peer"]), "127.0.0.1:40000")

    def test_stallCut(self) -> None:
        """
        A stall connection is aborted once idle-timeout seconds pass with
        nothing moving, logged and counted as cut idle.
        """
        factory = self.factory(fault=Stall(), idle_timeout=5.0)
        proto, transport = connect(factory)
        self.clock.advance(4.99)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.01)
        self.assertCutIdle(factory, proto, transport)

    def test_producingFaultsRestartTheTimer(self) -> None:
        """
        reset and endless restart the idle timer each time the transport
        drains (asks for more): a client that keeps reading is never cut,
        however long it reads; once it stops, the cut comes idle-timeout
        seconds after the last drain.
        """
        for fault in [Reset(100 * CHUNK), Endless()]:
            self.events.clear()
            factory = self.factory(fault=fault, idle_timeout=5.0)
            proto, transport = connect(factory)
            for _ in range(10):
                self.clock.advance(4.0)
                transport.producer.resumeProducing()
            self.assertFalse(transport.disconnected, fault)
            self.clock.advance(4.99)
            self.assertFalse(transport.disconnected, fault)
            self.clock.advance(0.01)
            self.assertCutIdle(factory, proto, transport)

    def test_stallCountsWhatItSent(self) -> None:
        """
        The bytes stall sent are counted: in the connection's access event,
        and in the factory's C{bytes_sent}.
        """
        factory = self.factory(fault=Stall(), idle_timeout=5.0)
        access: list[dict[str, Any]] = []
        factory.access_log = Logger(observer=access.append)
        proto, _ = connect(factory)
        self.clock.advance(5.0)
        lose(proto, ConnectionAborted)
        self.assertEqual(access[-1]["bytes"], 10)
        self.assertEqual(factory.bytes_sent, 10)

    def test_silentCut(self) -> None:
        """A silent connection is cut after idle-timeout seconds too."""
        factory = self.factory(fault=Silent(), idle_timeout=2.0)
        proto, transport = connect(factory)
        self.clock.advance(2.0)
        self.assertCutIdle(factory, proto, transport)

    def test_nonReaderOfLargePoemCut(self) -> None:
        """
        For a large poem, every drain of the transport (the producer being
        asked for more) restarts the timer: a client that keeps reading is
        never cut; once it stops, it is cut idle-timeout seconds after the
        last drain.
        """
        big = PoemFile("big", b"x" * (PoetryServerProtocol.STREAM_CHUNK * 10))
        factory = self.factory(big, idle_timeout=5.0)
        proto, transport = connect(factory)
        producer = transport.producer
        for _ in range(4):
            self.clock.advance(4.0)
            producer.resumeProducing()
        self.assertFalse(transport.disconnected)
        self.clock.advance(4.99)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.01)
        self.assertCutIdle(factory, proto, transport)
        self.assertEqual(proto.sent, 4 * PoetryServerProtocol.STREAM_CHUNK)

    def test_readerOfLargePoemCompletes(self) -> None:
        """
        A client that drains each chunk within the timeout gets the whole
        poem, the connection closes cleanly and the timer is cancelled.
        """
        big = PoemFile("big", b"y" * (PoetryServerProtocol.STREAM_CHUNK * 3 + 5))
        factory = self.factory(big, idle_timeout=5.0)
        proto, transport = connect(factory)
        for _ in range(10):  # bounded: a regression fails, never spins
            if transport.producer is None:
                break
            self.clock.advance(1.0)
            transport.producer.resumeProducing()
        self.assertIsNone(transport.producer)
        self.assertEqual(transport.value(), big.data)
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        self.assertEqual(factory.counts()["cut_idle"], 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unflushedSmallPoemCut(self) -> None:
        """
        A small poem is written at once and the connection asked to close;
        if the close never completes (the client's buffers are full and it
        does not read) the connection is aborted after idle-timeout seconds.
        """
        factory = self.factory(idle_timeout=3.0)
        proto, transport = connect(factory)
        self.assertTrue(transport.disconnecting)
        self.clock.advance(2.99)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.01)
        self.assertCutIdle(factory, proto, transport)

    def test_slowModeDrainsKeepItAlive(self) -> None:
        """
        In slow mode a pull producer that writes nothing learns of each
        drain: a client whose chunks drain is never cut; the watcher is
        unregistered before the close (or loseConnection would never
        complete).
        """
        factory = self.factory(delay=1.0, chunk_size=50, idle_timeout=1.5)
        proto, transport = connect(factory)
        self.assertIsNotNone(transport.producer)
        self.assertFalse(transport.streaming)
        for _ in range(100):  # bounded: a regression fails, never spins
            if transport.disconnecting:
                break
            self.clock.advance(1.0)
            if transport.producer is not None:
                transport.producer.resumeProducing()  # the chunk drained
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), POEM.data)
        self.assertIsNone(transport.producer)
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_slowModeNonReaderCut(self) -> None:
        """
        In slow mode, when chunks stop draining, the connection is cut
        exactly idle-timeout seconds after the last drain (the one timer
        every mode uses, restarted by each drain), between chunk times, not
        before; the chunks written meanwhile do not count as data moving.
        """
        factory = self.factory(delay=1.0, chunk_size=5, idle_timeout=2.5)
        proto, transport = connect(factory)
        self.clock.advance(1.0)
        transport.producer.resumeProducing()  # one drain at t=1, then none
        self.clock.pump([1.0, 1.0, 0.49])  # chunk times 2, 3; t=3.49
        self.assertFalse(transport.disconnected)
        self.assertEqual(proto.sent, 4 * 5)
        self.clock.advance(0.01)  # t=3.5: 2.5 s since the drain
        self.assertCutIdle(factory, proto, transport)
        self.assertEqual(proto.sent, 4 * 5)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timerCancelledWhenClientLeaves(self) -> None:
        """A client that goes away leaves no idle timer behind."""
        factory = self.factory(fault=Stall(), idle_timeout=5.0)
        proto, _ = connect(factory)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        lose(proto, ConnectionLost)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(factory.counts()["clients_gone"], 1)


class MaxPerPeerTests(SynchronousTestCase):
    """--max-per-peer: live connections are counted by peer IP address."""

    def test_limitPerAddress(self) -> None:
        """
        With max_per_peer=2, a third live connection from one IPv4 or IPv6
        address is refused (buildProtocol returns None) and counted, while
        other addresses are still served; once one ends, the address may
        connect again, and nothing is left in the table at the end.
        """
        factory = make_factory("silent", max_per_peer=2)
        a = [IPv4Address("TCP", "10.0.0.1", p) for p in range(3)]
        b = IPv4Address("TCP", "10.0.0.2", 1)
        c = [IPv6Address("TCP", "::1", p) for p in range(3)]
        first, _ = connect(factory, a[0])
        connect(factory, a[1])
        self.assertIsNone(factory.buildProtocol(a[2]))
        connect(factory, b)
        connect(factory, c[0])
        connect(factory, c[1])
        self.assertIsNone(factory.buildProtocol(c[2]))
        self.assertEqual(factory.counts()["refused_per_peer"], 2)
        self.assertEqual(factory.per_peer, {"10.0.0.1": 2, "10.0.0.2": 1, "::1": 2})
        lose(first, ConnectionLost)
        self.assertIsNotNone(factory.buildProtocol(a[2]))
        for proto in list(factory.live):
            lose(proto, ConnectionLost)
        # The one built above was never connected: it is still counted.
        self.assertEqual(factory.per_peer, {"10.0.0.1": 1})

    def test_refusalOnlyWhenSet(self) -> None:
        """Without max_per_peer nothing is tracked and nothing refused."""
        factory = make_factory("silent")
        for p in range(50):
            connect(factory, IPv4Address("TCP", "10.0.0.1", p))
        self.assertEqual(factory.per_peer, {})
        self.assertEqual(len(factory.live), 50)


class FaultOptionTests(SynchronousTestCase):
    """The --fault, --idle-timeout and --max-per-peer options."""

    def test_goodOptions(self) -> None:
        """
        Each option is parsed into what makeService hands the factory; stall
        takes --chunk-size without --delay.
        """
        options = parse(
            "--fault", "stall", "--chunk-size", "4", "--idle-timeout", "2.5",
            "--max-per-peer", "3", "--port", "tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        self.assertEqual(options["fault"], Stall())
        self.assertEqual(options["chunk-size"], 4)
        self.assertEqual(options["idle-timeout"], 2.5)
        self.assertEqual(options["max-per-peer"], 3)
        factory = makeService(options).factory
        self.assertEqual(factory.fault, Stall())
        self.assertEqual(factory.chunk_size, 4)
        self.assertEqual(factory.idle_timeout, 2.5)
        self.assertEqual(factory.max_per_peer, 3)
        self.assertEqual(parse("--fault", "reset:100")["fault"], Reset(100))
        self.assertEqual(parse("--delay", "1", "--idle-timeout", "2")["delay"], 1.0)
        self.assertIsNone(parse()["fault"])

    def test_badOptions(self) -> None:
        """
        Every bad value is a one-line usage error naming the option (twistd
        prints it and exits non-zero before listening).
        """
        cases: list[tuple[list[str], str]] = [
            (["--fault", "bogus"], "--fault: unknown fault mode 'bogus'"),
            (["--fault", "reset:abc"], "--fault: fault mode 'reset:abc'"),
            (["--fault", "reset:-1"], "BYTES must be a whole number"),
            (["--fault", "reset"], "needs a byte count"),
            (["--fault", "stall", "--delay", "1"], "cannot be combined"),
            (["--fault", "reset:5", "--chunk-size", "4"], "--chunk-size needs"),
            (["--idle-timeout", "0"], "--idle-timeout"),
            (["--idle-timeout", "soon"], "--idle-timeout"),
            (["--delay", "2", "--idle-timeout", "1"], "longer than --delay"),
            (["--max-per-peer", "0"], "--max-per-peer"),
            (["--max-per-peer", "1.5"], "--max-per-peer"),
        ]
        for argv, expected in cases:
            with self.assertRaises(UsageError, msg=argv) as cm:
                parse(*argv)
            self.assertIn(expected, str(cm.exception), argv)
            self.assertNotIn("\n", str(cm.exception))


class _Wire:
    """
    One server connection (of C{serverFactory}) joined to one client
    download (L{get_poem} on a L{MemoryReactorClock}) by two
    L{StringTransport}s.  L{pump} moves bytes server-to-client, asks the
    server's pull producer for more as a draining socket would, and ends
    both sides as TCP would: the server's loseConnection is a clean close
    (ConnectionDone) for the client, its abortConnection a reset
    (ConnectionLost), and the client's abort a lost connection for the
    server.

    @ivar ended_at: the clock's time when the client's result fired.
    """

    def __init__(
        self,
        serverFactory: PoetryServerFactory,
        clock: MemoryReactorClock,
        *,
        timeout: float,
        max_bytes: int = 1_000_000,
    ) -> None:
        self.clock = clock
        self.result: list[Any] = []
        self.ended_at: float | None = None
        d = get_poem(
            "127.0.0.1", 10000, timeout=timeout, max_bytes=max_bytes, reactor=clock
        )
        d.addBoth(self._ended)
        clientFactory = clock.tcpClients[0][2]
        self.client = clientFactory.buildProtocol(SERVER_ADDRESS)
        self.clientTransport = StringTransport(
            hostAddress=CLIENT_ADDRESS, peerAddress=SERVER_ADDRESS
        )
        self.client.makeConnection(self.clientTransport)
        self.server, self.serverTransport = connect(serverFactory)
        self.lost = False
        self.pump()

    def _ended(self, result: Any) -> None:
        self.ended_at = self.clock.seconds()
        self.result.append(result)

    def pump(self) -> None:
        st, ct = self.serverTransport, self.clientTransport
        for _ in range(1000):
            if self.lost:
                return
            data = st.value()
            if data:
                st.clear()
                self.client.dataReceived(data)
            if ct.disconnected:  # the client aborted
                self._lose(ConnectionLost, ConnectionAborted)
            elif st.disconnected:  # the server aborted: a reset
                self._lose(ConnectionAborted, ConnectionLost)
            elif st.disconnecting:
                self._lose(ConnectionDone, ConnectionDone)
            elif st.producer is not None and not st.streaming:
                st.producer.resumeProducing()  # everything drained: more?
            else:
                return

    def _lose(self, server: type[Exception], client: type[Exception]) -> None:
        self.lost = True
        self.server.connectionLost(Failure(server()))
        self.client.connectionLost(Failure(client()))


class ClientAgainstFaultsOnClockTests(SynchronousTestCase):
    """
    The project's client against every fault mode, on one clock: the exact
    error type, and when (in reactor seconds) the download ends.
    """

    TIMEOUT = 5.0

    def wire(self, fault: str, **kw: Any) -> _Wire:
        self.clock = MemoryReactorClock()
        self.factory = make_factory(fault, clock=self.clock, **kw)
        return _Wire(self.factory, self.clock, timeout=self.TIMEOUT, max_bytes=20_000)

    def error(self, wire: _Wire, kind: type[Exception]) -> Any:
        [result] = wire.result
        self.assertIsInstance(result, Failure)
        self.assertIs(type(result.value), kind, result)
        return result.value

    def assertClean(self) -> None:
        """Both sides ended: nothing live, no timer pending on the clock."""
        self.assertEqual(self.factory.live, set())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stall(self) -> None:
        """
        stall: the client has the first chunk, then nothing, and fails with
        PoemTimeout exactly at its timeout, with those bytes as partial.
        """
        wire = self.wire("stall")
        self.clock.advance(self.TIMEOUT - 0.001)
        self.assertEqual(wire.result, [])
        self.clock.advance(0.001)
        error = self.error(wire, PoemTimeout)
        self.assertEqual(wire.ended_at, self.TIMEOUT)
        self.assertEqual(error.partial, POEM.data[:10])
        wire.pump()
        self.assertClean()

    def test_silent(self) -> None:
        """silent: PoemTimeout at exactly the timeout, nothing received."""
        wire = self.wire("silent")
        self.clock.advance(self.TIMEOUT)
        error = self.error(wire, PoemTimeout)
        self.assertEqual(wire.ended_at, self.TIMEOUT)
        self.assertEqual(error.partial, b"")
        wire.pump()
        self.assertClean()

    def test_reset(self) -> None:
        """
        reset:100: the client gets the 100 bytes, then the reset, and fails
        with PoemTruncated at once (no time passes) keeping those bytes.
        """
        wire = self.wire("reset:100")
        error = self.error(wire, PoemTruncated)
        self.assertEqual(wire.ended_at, 0)
        self.assertEqual(error.partial, POEM.data[:100])
        self.assertEqual(self.factory.counts()["faults"], 1)
        self.assertClean()

    def test_endless(self) -> None:
        """
        endless: the client aborts as soon as its max_bytes is passed and
        fails with PoemTooLarge at once; it has read at most one chunk
        beyond the limit and buffers none of the excess.
        """
        wire = self.wire("endless")
        error = self.error(wire, PoemTooLarge)
        self.assertEqual(wire.ended_at, 0)
        self.assertEqual(error.limit, 20_000)
        self.assertGreater(error.received, 20_000)
        self.assertLessEqual(error.received, 20_000 + CHUNK)
        self.assertEqual(wire.client.partial(), b"")
        self.assertEqual(self.factory.counts()["clients_gone"], 1)
        self.assertClean()

    def test_refuse(self) -> None:
        """
        refuse: a clean close with zero bytes is reported as EmptyPoem, not
        as a poem, at once.
        """
        wire = self.wire("refuse")
        self.error(wire, EmptyPoem)
        self.assertEqual(wire.ended_at, 0)
        self.assertClean()

    def test_stallWithServerIdleTimeout(self) -> None:
        """
        With a server idle timeout shorter than the client's timeout, a
        stall ends at the idle timeout instead, as a truncated poem.
        """
        wire = self.wire("stall", idle_timeout=2.0)
        self.clock.advance(2.0)
        wire.pump()
        error = self.error(wire, PoemTruncated)
        self.assertEqual(wire.ended_at, 2.0)
        self.assertEqual(error.partial, POEM.data[:10])
        self.assertEqual(self.factory.counts()["cut_idle"], 1)
        self.assertClean()


class _NonReader(Protocol):
    """A client that connects and never reads: its socket buffers fill up."""

    reason: Failure | None = None

    def __init__(self) -> None:
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.transport.pauseProducing()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        """Discarded: only reached once reading is resumed."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        self.lost.callback(None)


class OverSocketsTests(TestCase):
    """
    Every fault mode against the project's client over real loopback
    sockets, and the server limits against real connections.  Timeouts are
    small so the tests end quickly; no elapsed time is asserted.
    """

    TIMEOUT = 0.5
    timeout = 30  # trial's limit per test: these end in well under a second

    def serve(self, fault: str | None, *poems: PoemFile, **kw: Any) -> int:
        self.factory = make_factory(fault, *poems, clock=reactor, **kw)
        port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        # Cleanups run last-added first: stop listening, then let the
        # server's side of every connection end (cutting any left after 2 s).
        self.addCleanup(self.factory.drain, 2.0)
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[no-any-return]

    def fetch(self, port: int, **kw: Any) -> Deferred[Poem]:
        kw.setdefault("timeout", self.TIMEOUT)
        return get_poem("127.0.0.1", port, reactor=reactor, **kw)

    async def test_stall(self) -> None:
        """stall -> PoemTimeout carrying the first 10 bytes."""
        port = self.serve("stall")
        error = await self.assertFailure(self.fetch(port), PoemTimeout)
        self.assertEqual(error.partial, POEM.data[:10])
        self.assertEqual(
            str(error),
            f"127.0.0.1:{port}: timed out after 0.5 s with 10 bytes received",
        )

    async def test_silent(self) -> None:
        """silent -> PoemTimeout with nothing received."""
        port = self.serve("silent")
        error = await self.assertFailure(self.fetch(port), PoemTimeout)
        self.assertEqual(error.partial, b"")

    async def test_reset(self) -> None:
        """
        reset:100 -> PoemTruncated carrying exactly the 100 bytes sent before
        the TCP reset (ConnectionLost, not a clean ConnectionDone).
        """
        port = self.serve("reset:100")
        error = await self.assertFailure(self.fetch(port), PoemTruncated)
        self.assertEqual(error.partial, POEM.data[:100])
        self.assertTrue(error.reason.check(ConnectionLost))
        self.assertEqual(
            str(error),
            f"127.0.0.1:{port}: poem truncated after 100 bytes (ConnectionLost)",
        )

    async def test_resetBeforeAnything(self) -> None:
        """reset:0 -> PoemTruncated with 0 bytes (a reset, not an empty poem)."""
        port = self.serve("reset:0")
        error = await self.assertFailure(self.fetch(port), PoemTruncated)
        self.assertEqual(error.partial, b"")

    async def test_endless(self) -> None:
        """
        endless -> PoemTooLarge once max_bytes is passed, having received
        at most one read (64 KiB) more than the limit.
        """
        port = self.serve("endless")
        error = await self.assertFailure(
            self.fetch(port, max_bytes=100_000), PoemTooLarge
        )
        self.assertEqual(error.limit, 100_000)
        self.assertLessEqual(error.received, 100_000 + 65536)
        self.assertEqual(
            str(error),
            f"127.0.0.1:{port}: poem larger than the 100000 bytes limit"
            f" ({error.received} bytes received)",
        )

    async def test_refuse(self) -> None:
        """refuse -> EmptyPoem: a clean close with nothing is not a poem."""
        port = self.serve("refuse")
        error = await self.assertFailure(self.fetch(port), EmptyPoem)
        self.assertEqual(str(error), f"127.0.0.1:{port}: server sent an empty poem")

    async def test_allFaultsAtOnce(self) -> None:
        """
        One server per mode, all fetched at once by the client: every
        download ends, each with its own error type, and every server ends
        with nothing live.
        """
        expected = {
            "stall": PoemTimeout,
            "silent": PoemTimeout,
            "reset:50": PoemTruncated,
            "endless": PoemTooLarge,
            "refuse": EmptyPoem,
        }
        factories = []
        results = []
        for spec in expected:
            port = self.serve(spec)
            factories.append(self.factory)
            results.append(self.fetch(port, max_bytes=50_000))
        outcomes = await gatherResults(
            [d.addCallbacks(lambda p: p, lambda f: f.value) for d in results]
        )
        self.assertEqual([type(o) for o in outcomes], list(expected.values()))

    async def test_clientResetMidPoem(self) -> None:
        """
        A client that resets its connection after the first chunk of a slow
        poem: the server stops sending to it, logs and counts it as a client
        gone, and serves the next client the whole poem.
        """
        port = self.serve(None, delay=0.01, chunk_size=8)
        client = _Resetter()
        reactor.connectTCP("127.0.0.1", port, _OneProtocol(client))
        await client.lost
        await waitFor(lambda: not self.factory.live)
        self.assertEqual(self.factory.counts()["clients_gone"], 1)
        poem = await self.fetch(port, timeout=30)
        self.assertEqual(poem.data, POEM.data)
        # The server counts it once the client's close reaches it.
        await waitFor(lambda: self.factory.served == 1)

    async def test_listenerClosedDuringConnect(self) -> None:
        """
        A server whose listening socket closes while a connection waits in
        its accept queue (connected by the kernel, never accepted): the
        kernel resets it, and the client fails with PoemTruncated after
        0 bytes instead of waiting for its timeout.
        """
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        events: list[str] = []
        d = get_poem(
            "127.0.0.1", listener.getsockname()[1], timeout=30, reactor=reactor,
            tracer=_Names(events),
        )  # fmt: skip
        await waitFor(lambda: "connectionMade" in events)
        listener.close()
        error = await self.assertFailure(d, PoemTruncated)
        self.assertEqual(error.partial, b"")
        self.assertTrue(error.reason.check(ConnectionLost))

    async def test_idleTimeoutCutsNonReader(self) -> None:
        """
        A client that never reads a 16 MB poem stalls the server's writes;
        with --idle-timeout 0.2 the server aborts it and counts it as cut
        idle; when the client reads again it finds a reset (an unclean
        close), not a clean end.
        """
        big = PoemFile("big", b"z" * (16 * 1024 * 1024))
        port = self.serve(None, big, idle_timeout=0.2)
        client = _NonReader()
        reactor.connectTCP("127.0.0.1", port, _OneProtocol(client))
        await waitFor(lambda: self.factory.cut_idle == 1)
        self.assertEqual(self.factory.live, set())
        client.transport.resumeProducing()  # type: ignore[union-attr]
        await client.lost
        assert client.reason is not None
        self.assertTrue(client.reason.check(ConnectionLost))
        self.assertEqual(self.factory.counts()["cut_idle"], 1)
        self.assertLess(self.factory.bytes_sent, len(big.data))

    async def test_idleTimeoutSparesReader(self) -> None:
        """
        With --idle-timeout 0.2, a client that reads gets the whole 4 MB
        poem; nothing is cut.
        """
        big = PoemFile("big", bytes(range(256)) * (16 * 1024))
        port = self.serve(None, big, idle_timeout=0.2)
        poem = await self.fetch(port, timeout=30)
        self.assertEqual(poem.data, big.data)
        self.assertEqual(self.factory.counts()["cut_idle"], 0)

    async def test_maxPerPeer(self) -> None:
        """
        With --max-per-peer 2 and two slow transfers from 127.0.0.1 in
        flight, a third download from it is closed at once (the client
        reports EmptyPoem) and counted; the two in flight complete.
        """
        port = self.serve(None, delay=0.02, chunk_size=8, max_per_peer=2)
        first = [self.fetch(port, timeout=30) for _ in range(2)]
        await waitFor(lambda: len(self.factory.live) == 2)
        await self.assertFailure(self.fetch(port), EmptyPoem)
        self.assertEqual(self.factory.counts()["refused_per_peer"], 1)
        poems = await gatherResults(first)
        self.assertEqual([p.data for p in poems], [POEM.data] * 2)
        await waitFor(lambda: self.factory.per_peer == {})


class _Resetter(Protocol):
    """A client that aborts (resets) its connection on its first data."""

    def __init__(self) -> None:
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.callback(None)


class _Names:
    """A client tracer that keeps the names of the callbacks it is told of."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        self.names.append(name)


class _OneProtocol(ClientFactory):
    """A client factory for one given protocol instance."""

    def __init__(self, protocol: Protocol) -> None:
        self.one = protocol

    def buildProtocol(self, addr: Any) -> Protocol:
        self.one.factory = self
        return self.one


# The catalogue beyond the first five modes (issue 13): latency, bandwidth,
# slicer, slow-close, truncate, garbage.  Each on a MemoryReactorClock with
# a transport that can half-close, as TCP's can.

BIG = PoemFile("big", bytes(range(32, 127)) * 3000)  # 285,000 bytes


def hconnect(
    factory: PoetryServerFactory, peer: Any = CLIENT_ADDRESS
) -> tuple[Any, Any]:
    """L{connect}, with a L{HalfCloseTransport}."""
    from tests.test_wire import HalfCloseTransport

    proto = factory.buildProtocol(peer)
    assert proto is not None
    transport = HalfCloseTransport(hostAddress=SERVER_ADDRESS, peerAddress=peer)
    transport.protocol = proto
    proto.makeConnection(transport)
    return proto, transport


def run_until_closing(
    clock: MemoryReactorClock, transport: Any, step: float = 0.01, steps: int = 5000
) -> list[int]:
    """
    Advance C{clock} by C{step} (a bounded number of times), draining the
    transport (asking a pull producer for more) as a reading client would,
    until the server half-closes or aborts; the sizes of the writes seen,
    one per step.
    """
    sizes = []
    seen = 0
    for _ in range(steps):
        producer = transport.producer
        if producer is not None and not transport.streaming:
            producer.resumeProducing()
        now = len(transport.value())
        if now > seen:
            sizes.append(now - seen)
            seen = now
        if transport.write_closing or transport.disconnecting or transport.disconnected:
            return sizes
        clock.advance(step)
    raise AssertionError("the server never closed")


CLEAN_MODES = {
    "latency:0.5": ConnectionOutcome.COMPLETE,
    "latency:0.5,0.25": ConnectionOutcome.COMPLETE,
    "bandwidth:100000": ConnectionOutcome.COMPLETE,
    "slicer:4000,1000,0.001": ConnectionOutcome.COMPLETE,
    "slow-close:0.5": ConnectionOutcome.COMPLETE,
    "truncate:100": ConnectionOutcome.FAULT,
    "garbage:100": ConnectionOutcome.FAULT,
}


class NewFaultModeTests(SynchronousTestCase):
    """What each new mode writes, and when, on a clock."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.access: list[dict[str, Any]] = []

    def factory(self, fault: str, *poems: PoemFile, **kw: Any) -> PoetryServerFactory:
        factory = make_factory(fault, *poems, clock=self.clock, **kw)
        factory.access_log = Logger(observer=self.access.append)
        return factory

    def test_latency(self) -> None:
        """
        latency:2 writes nothing (and asks for no drain) for 2 s, then the
        whole poem, a CHUNK per drain, then half-closes: complete.
        """
        factory = self.factory("latency:2", BIG)
        proto, transport = hconnect(factory)
        self.clock.advance(1.999)
        self.assertEqual(transport.value(), b"")
        self.assertIsNone(transport.producer)
        self.clock.advance(0.001)
        self.assertIs(transport.producer, proto)
        sizes = run_until_closing(self.clock, transport, step=0)
        self.assertEqual(transport.value(), BIG.data)
        self.assertEqual(max(sizes), CHUNK)
        self.assertTrue(transport.write_closing)
        self.assertFalse(transport.disconnecting)
        self.assertIsNone(transport.producer)
        transport.flushed()
        proto.readConnectionLost()  # the client closes: done
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        self.assertEqual(factory.served, 1)
        self.assertEqual(self.access[-1]["fault"], "latency:2")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_latencyJitterIsSeeded(self) -> None:
        """
        latency:1,0.5 waits between 0.5 and 1.5 s, a different wait per
        connection, the same waits in the same order for the same seed,
        others for another seed.
        """

        def waits(seed: int) -> list[float]:
            factory = make_factory(None, clock=MemoryReactorClock())
            factory.set_mix(FaultMix([(parse_fault("latency:1,0.5"), 1.0)], seed=seed))
            return [hconnect(factory)[0].wait for _ in range(20)]

        first = waits(11)
        self.assertEqual(waits(11), first)
        self.assertNotEqual(waits(12), first)
        self.assertTrue(all(0.5 <= w <= 1.5 for w in first), first)
        self.assertGreater(len(set(first)), 15)
        self.assertLess(min(first), 0.8)
        self.assertGreater(max(first), 1.2)

    def test_latencyNeverNegative(self) -> None:
        """A jitter larger than the wait never makes it negative."""
        factory = make_factory(None, clock=self.clock)
        factory.set_mix(FaultMix([(parse_fault("latency:0.1,5"), 1.0)], seed=3))
        self.assertEqual(min(hconnect(factory)[0].wait for _ in range(50)), 0.0)

    def test_bandwidthIsSmooth(self) -> None:
        """
        bandwidth:100 on a 1,000-byte poem: 10 bytes every 0.1 s (never
        one burst a second), 100 bytes after each second, all of it after
        10 s, then the clean close.
        """
        poem = PoemFile("k", bytes(range(200)) * 5)
        factory = self.factory("bandwidth:100", poem)
        proto, transport = hconnect(factory)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.1)
        self.assertEqual(len(transport.value()), 10)
        for _ in range(9):
            self.clock.advance(0.1)
        self.assertEqual(len(transport.value()), 100)
        self.clock.pump([1.0] * 8)  # late ticks: the rate still holds
        self.assertEqual(len(transport.value()), 900)
        self.assertFalse(transport.write_closing)
        sizes = run_until_closing(self.clock, transport, step=0.05)
        self.assertEqual(transport.value(), poem.data)
        self.assertEqual(sizes[0], 900)  # what was there already
        self.assertEqual(set(sizes[1:]), {10})
        self.assertLess(abs(self.clock.seconds() - 10.0), 0.06)
        transport.flushed()
        proto.readConnectionLost()
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)

    def test_bandwidthBelowTenBytesASecond(self) -> None:
        """bandwidth:2 writes one byte every half second."""
        factory = self.factory("bandwidth:2")
        _, transport = hconnect(factory)
        self.clock.advance(0.49)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.01)
        self.assertEqual(transport.value(), POEM.data[:1])
        self.clock.advance(0.5)
        self.assertEqual(transport.value(), POEM.data[:2])

    def test_slicerWritesRandomSizes(self) -> None:
        """
        slicer:10,5,0.25 writes slices of 5 to 15 bytes, of several sizes,
        0.25 s apart (nothing between), the first at once, with Nagle's
        algorithm off; they add up to the poem; same seed, same slices.
        """

        def slices(seed: int) -> tuple[list[int], Any]:
            clock = MemoryReactorClock()
            factory = make_factory(None, clock=clock)
            slicer = parse_fault("slicer:10,5,0.25")
            factory.set_mix(FaultMix([(slicer, 1.0)], seed=seed))
            _, transport = hconnect(factory)
            sizes = [len(transport.value())]
            for _ in range(200):
                if transport.write_closing:
                    break
                clock.advance(0.125)
                self.assertEqual(sum(sizes), len(transport.value()))
                clock.advance(0.125)
                sizes.append(len(transport.value()) - sum(sizes))
            return sizes, transport

        sizes, transport = slices(5)
        self.assertEqual(transport.value(), POEM.data)
        self.assertTrue(all(5 <= s <= 15 for s in sizes[:-1]), sizes)
        self.assertGreater(len(set(sizes)), 3)
        self.assertEqual(slices(5)[0], sizes)
        self.assertNotEqual(slices(6)[0], sizes)

    def test_slicerTurnsNagleOff(self) -> None:
        """slicer asks a TCP transport for TCP_NODELAY (setTcpNoDelay)."""
        calls: list[bool] = []
        factory = self.factory("slicer:10")
        proto = factory.buildProtocol(CLIENT_ADDRESS)
        transport = StringTransport(peerAddress=CLIENT_ADDRESS)
        transport.setTcpNoDelay = calls.append  # type: ignore[attr-defined]
        proto.makeConnection(transport)
        self.assertEqual(calls, [True])
        self.assertEqual(transport.value(), POEM.data[:10])

    def test_slowCloseHoldsTheConnection(self) -> None:
        """
        slow-close:3 sends the whole poem at once and holds the connection
        3 s before the clean close.
        """
        factory = self.factory("slow-close:3")
        proto, transport = hconnect(factory)
        transport.producer.resumeProducing()
        self.assertEqual(transport.value(), POEM.data)
        self.clock.advance(2.999)
        self.assertFalse(transport.write_closing)
        self.clock.advance(0.001)
        self.assertTrue(transport.write_closing)
        self.assertFalse(transport.disconnected)
        transport.flushed()
        proto.readConnectionLost()
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_truncateClosesCleanly(self) -> None:
        """
        truncate:20 sends the poem's first 20 bytes and closes cleanly (a
        half-close, never an abort): counted as a fault; a count beyond the
        poem sends the whole poem.
        """
        factory = self.factory("truncate:20")
        proto, transport = hconnect(factory)
        run_until_closing(self.clock, transport)
        self.assertEqual(transport.value(), POEM.data[:20])
        self.assertTrue(transport.write_closing)
        self.assertFalse(transport.disconnected)
        transport.flushed()
        proto.readConnectionLost()
        lose(proto)
        self.assertEqual(proto.outcome, ConnectionOutcome.FAULT)
        self.assertEqual(factory.faults, 1)
        self.assertEqual(self.access[-1]["bytes"], 20)
        _, transport = hconnect(self.factory("truncate:100000"))
        run_until_closing(self.clock, transport)
        self.assertEqual(transport.value(), POEM.data)

    def test_garbageIsNotUTF8(self) -> None:
        """
        garbage:N sends N bytes, no prefix of which is valid UTF-8, a CHUNK
        per drain, then closes cleanly; garbage:0 closes with nothing.
        """
        for nbytes in [1, 2, 100, 3 * CHUNK + 5]:
            factory = self.factory(f"garbage:{nbytes}")
            proto, transport = hconnect(factory)
            sizes = run_until_closing(self.clock, transport, step=0)
            data = transport.value()
            self.assertEqual(len(data), nbytes)
            self.assertLessEqual(max(sizes), CHUNK)
            self.assertRaises(UnicodeDecodeError, data.decode, "utf-8")
            self.assertTrue(transport.write_closing)
            transport.flushed()
            proto.readConnectionLost()
            lose(proto)
            self.assertEqual(proto.outcome, ConnectionOutcome.FAULT)
        _, transport = hconnect(self.factory("garbage:0"))
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.write_closing)

    def test_halfCloseChangesNothing(self) -> None:
        """
        A client that half-closes at once (nc -N) still gets everything
        each clean-closing mode sends; once the server's half-close is
        done the connection closes at once, no linger.
        """
        for spec, outcome in CLEAN_MODES.items():
            factory = self.factory(spec)
            proto, transport = hconnect(factory)
            proto.readConnectionLost()
            run_until_closing(self.clock, transport)
            expected = POEM.data[:100] if "truncate" in spec else POEM.data
            if "garbage" not in spec:
                self.assertEqual(transport.value(), expected, spec)
            self.assertFalse(transport.disconnecting, spec)
            transport.flushed()
            self.assertTrue(transport.disconnecting, spec)
            lose(proto)
            self.assertEqual(proto.outcome, outcome, spec)
            self.assertEqual(self.clock.getDelayedCalls(), [], spec)

    def test_lingerBound(self) -> None:
        """
        After the half-close, a client that never closes is closed
        LINGER_TIMEOUT later: a linger timeout for the complete modes, a
        fault still for truncate and garbage.
        """
        for spec, outcome in CLEAN_MODES.items():
            factory = self.factory(spec)
            proto, transport = hconnect(factory)
            run_until_closing(self.clock, transport)
            transport.flushed()
            self.clock.advance(proto.LINGER_TIMEOUT - 0.01)
            self.assertFalse(transport.disconnecting, spec)
            self.clock.advance(0.02)
            self.assertTrue(transport.disconnecting, spec)
            self.assertFalse(transport.disconnected, spec)  # a clean close
            lose(proto)
            expected = (
                ConnectionOutcome.LINGER_TIMEOUT
                if outcome is ConnectionOutcome.COMPLETE
                else outcome
            )
            self.assertEqual(proto.outcome, expected, spec)
            self.assertEqual(self.clock.getDelayedCalls(), [], spec)

    def test_clientResetAfterTheHalfClose(self) -> None:
        """A reset after the half-close is a client reset; before, gone."""
        factory = self.factory("slow-close:1")
        proto, transport = hconnect(factory)
        run_until_closing(self.clock, transport)
        transport.flushed()
        lose(proto, ConnectionLost)
        self.assertEqual(proto.outcome, ConnectionOutcome.CLIENT_RESET)
        proto, transport = hconnect(factory)
        lose(proto, ConnectionLost)
        self.assertEqual(proto.outcome, ConnectionOutcome.CLIENT_GONE)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cutAtShutdown(self) -> None:
        """
        drain(grace): a connection still waiting or sending at the end of
        the grace is aborted (a reset) and counted as cut at shutdown, its
        timer cancelled; one already half-closed is closed cleanly.
        """
        for spec in ["latency:60", "bandwidth:1", "slicer:1,0,10", "slow-close:60",
                     "truncate:100"]:  # fmt: skip
            clock = MemoryReactorClock()
            poem = BIG if "truncate" in spec else POEM
            factory = make_factory(spec, poem, clock=clock)
            proto, transport = hconnect(factory)
            d = factory.drain(2.0)
            clock.advance(2.0)
            self.assertTrue(transport.disconnected, spec)
            lose(proto, ConnectionAborted)
            self.successResultOf(d)
            self.assertEqual(factory.cut_at_shutdown, 1, spec)
            self.assertEqual(clock.getDelayedCalls(), [], spec)
        factory = make_factory("slow-close:0", clock=self.clock)
        proto, transport = hconnect(factory)
        run_until_closing(self.clock, transport)
        transport.flushed()
        factory.drain(1.0)
        self.clock.advance(1.0)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)

    def test_idleTimeoutOnlyWhileBytesAreInFlight(self) -> None:
        """
        The idle timeout never cuts a wait the mode makes on purpose
        (latency:30 with idle 1 s), but does cut a client that does not
        drain what was sent (1 s after the first undrained write);
        bandwidth and slicer writes that drain are never cut.
        """
        factory = self.factory("latency:30", idle_timeout=1.0)
        proto, transport = hconnect(factory)
        self.clock.advance(29.9)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.1)  # sends: the first chunk never drains
        self.clock.advance(0.999)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.001)
        self.assertTrue(transport.disconnected)
        self.assertEqual(proto.outcome, ConnectionOutcome.CUT_IDLE)
        lose(proto, ConnectionAborted)
        for spec in ["bandwidth:20", "slicer:5,0,0.5", "slow-close:30"]:
            factory = self.factory(spec, idle_timeout=1.0)
            proto, transport = hconnect(factory)
            sizes = run_until_closing(self.clock, transport, step=0.05)
            self.assertEqual(sum(sizes), len(POEM.data), spec)
            self.assertFalse(transport.disconnected, spec)
            transport.flushed()
            proto.readConnectionLost()
            lose(proto)
            self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE, spec)
            # The same mode whose client never drains: cut idle.
            proto, transport = hconnect(factory)
            for _ in range(100):
                if transport.disconnected:
                    break
                self.clock.advance(0.1)
            self.assertEqual(proto.outcome, ConnectionOutcome.CUT_IDLE, spec)
            lose(proto, ConnectionAborted)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ClientAgainstNewFaultsOnClockTests(SynchronousTestCase):
    """
    The project's client against each new mode on one clock: what it
    reports and when.
    """

    def wire(self, fault: str, **kw: Any) -> _Wire:
        self.clock = MemoryReactorClock()
        self.factory = make_factory(fault, clock=self.clock, **kw)
        return _Wire(self.factory, self.clock, timeout=30.0)

    def finish(self, wire: _Wire, step: float = 0.01) -> Any:
        for _ in range(10_000):
            if wire.result:
                break
            self.clock.advance(step)
            wire.pump()
        [result] = wire.result
        return result

    def test_latency(self) -> None:
        """latency:3: the whole poem, 3 s after the connection."""
        wire = self.wire("latency:3")
        poem = self.finish(wire)
        self.assertEqual(poem.data, POEM.data)
        self.assertLess(abs(wire.ended_at - 3.0), 0.02)

    def test_bandwidth(self) -> None:
        """
        bandwidth:100: the whole poem, at the tick (every 0.1 s) when the
        rate allows its last byte.
        """
        wire = self.wire("bandwidth:100")
        poem = self.finish(wire)
        self.assertEqual(poem.data, POEM.data)
        last_tick = -(-len(POEM.data) // 10) / 10
        self.assertLess(abs(wire.ended_at - last_tick), 0.02)

    def test_slicer(self) -> None:
        """slicer:7,3,0.05: the whole poem, in many reads."""
        reads: list[int] = []
        wire = self.wire("slicer:7,3,0.05")
        wire.client.factory.on_data = reads.append
        poem = self.finish(wire)
        self.assertEqual(poem.data, POEM.data)
        self.assertGreater(len(POEM.data) // 10, 20)

    def test_slowClose(self) -> None:
        """slow-close:2: the poem at once, the result only 2 s later."""
        wire = self.wire("slow-close:2")
        poem = self.finish(wire)
        self.assertEqual(poem.data, POEM.data)
        self.assertLess(abs(wire.ended_at - 2.0), 0.02)

    def test_truncateLooksComplete(self) -> None:
        """
        truncate:20: a Poem of 20 bytes, a success: the classic protocol
        cannot tell it from a 20-byte poem.
        """
        poem = self.finish(self.wire("truncate:20"))
        self.assertIsInstance(poem, Poem)
        self.assertEqual(poem.data, POEM.data[:20])

    def test_garbage(self) -> None:
        """garbage:30: a Poem of 30 bytes that do not decode as UTF-8."""
        poem = self.finish(self.wire("garbage:30"))
        self.assertIsInstance(poem, Poem)
        self.assertEqual(len(poem.data), 30)
        self.assertRaises(UnicodeDecodeError, poem.data.decode, "utf-8")
