"""
Tests for the server's wire contract (issue 9): a client's half-close
changes nothing, the lingering close, every cut is a reset, and what the
access log and counters say about how each connection ended.

Timing uses L{Clock} and a L{StringTransport} that can half-close; the wire
cases run over real loopback sockets (127.0.0.1, port 0), few and short.
"""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import tempfile
import weakref
from operator import methodcaller
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableDescriptor
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import (
    Logger,
    eventsFromJSONLogFile,
    formatEvent,
    jsonFileLogObserver,
    textFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from poetry.client import get_poem
from poetry.errors import PoemTruncated
from poetry.faults import CHUNK, Reset, Silent, Stall, StallProtocol, parse_fault
from poetry.library import PoemFile, PoemLibrary
from poetry.server import (
    ConnectionOutcome,
    Deadlines,
    PoetryServerFactory,
    PoetryServerProtocol,
    default_idle_timeout,
)
from poetry.server.deadlines import DeadlinesByDuration, DeadlineTimeoutMixin
from tests.helpers import lose, parse, waitFor

POEM = PoemFile("short", b"Roses are red\nsockets are blue\n")


def big_poem(size: int = 231_000) -> PoemFile:
    """A poem of C{size} bytes whose every 64 KiB block differs."""
    line = bytes(range(32, 127)) + b"\n"
    return PoemFile("big", (line * (size // len(line) + 1))[:size])


@implementer(IHalfCloseableDescriptor)
class HalfCloseTransport(StringTransport):
    """
    A L{StringTransport} that can half-close, as a TCP transport can:
    C{loseWriteConnection} is recorded; L{flushed} plays the transport
    having written everything and shut down its side (the protocol's
    C{writeConnectionLost}).
    """

    write_closing = False

    def loseWriteConnection(self) -> None:
        self.write_closing = True

    def flushed(self) -> None:
        assert self.write_closing
        self.protocol.writeConnectionLost()


def tempDir(case: SynchronousTestCase) -> str:
    """
    A new temporary directory, removed after the test.  Not
    C{case.mktemp()}: under pytest that would write into the checkout.
    """
    path = tempfile.mkdtemp(prefix="poetry-wire-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def make_factory(
    *poems: PoemFile,
    clock: Clock,
    events: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> PoetryServerFactory:
    factory = PoetryServerFactory(PoemLibrary(poems or [POEM]), reactor=clock, **kw)
    if events is not None:
        factory.access_log = Logger(
            namespace=factory.access_log.namespace, observer=events.append
        )
    return factory


def connect(factory: PoetryServerFactory) -> tuple[Any, HalfCloseTransport]:
    proto = factory.buildProtocol(None)  # type: ignore[arg-type]
    assert proto is not None
    transport = HalfCloseTransport()
    transport.protocol = proto
    proto.makeConnection(transport)
    return proto, transport


class HalfCloseTests(SynchronousTestCase):
    """The client's half-close (its FIN) changes nothing."""

    def test_slowModeKeepsSending(self) -> None:
        """
        A slow connection whose client half-closes after the first chunk is
        sent every later chunk, then half-closed by the server.
        """
        clock = Clock()
        poem = PoemFile("p", b"abcdefghij")
        proto, transport = connect(
            make_factory(poem, clock=clock, delay=1.0, chunk_size=3)
        )
        proto.readConnectionLost()
        clock.pump([1.0] * 4)
        self.assertEqual(transport.value(), poem.data)
        self.assertTrue(transport.write_closing)
        self.assertFalse(transport.disconnecting)

    def test_largePoemKeepsStreaming(self) -> None:
        """A fast-mode producer keeps streaming after the client's FIN."""
        clock = Clock()
        big = big_poem()
        proto, transport = connect(make_factory(big, clock=clock))
        proto.readConnectionLost()
        for _ in range(len(big.data) // PoetryServerProtocol.STREAM_CHUNK + 1):
            transport.producer.resumeProducing()
        self.assertEqual(transport.value(), big.data)
        # Both sides done: the server closes at once, no linger.
        transport.flushed()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_faultsThatSendKeepSending(self) -> None:
        """endless and reset go on writing after the client's FIN."""
        for spec in ["endless", "reset:200000"]:
            clock = Clock()
            factory = make_factory(clock=clock, fault=parse_fault(spec))
            proto, transport = connect(factory)
            proto.readConnectionLost()
            transport.producer.resumeProducing()
            first = len(transport.value())
            self.assertGreater(first, CHUNK // 2, spec)
            transport.producer.resumeProducing()
            self.assertEqual(len(transport.value()), 2 * first, spec)
            self.assertFalse(transport.disconnecting, spec)


class LingerTests(SynchronousTestCase):
    """The lingering close and its bound, on a Clock."""

    def finished(
        self, **kw: Any
    ) -> tuple[Any, HalfCloseTransport, Clock, PoetryServerFactory, list[Any]]:
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=clock, events=events, **kw)
        proto, transport = connect(factory)
        return proto, transport, clock, factory, events

    def test_halfClosesAfterLastByte(self) -> None:
        """
        After the last byte the server half-closes (loseWriteConnection)
        instead of closing, and keeps reading what the client sends.
        """
        proto, transport, _, _, _ = self.finished()
        self.assertEqual(transport.value(), POEM.data)
        self.assertTrue(transport.write_closing)
        self.assertFalse(transport.disconnecting)
        proto.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertFalse(transport.disconnecting)

    def test_clientCloseEndsLinger(self) -> None:
        """
        When the client closes while the server lingers, the server closes
        at once, the linger timer is cancelled, and the poem is complete.
        """
        proto, transport, clock, factory, events = self.finished()
        transport.flushed()
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        proto.readConnectionLost()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])
        lose(proto)
        self.assertEqual(events[0]["outcome"], ConnectionOutcome.COMPLETE.value)
        self.assertEqual(factory.served, 1)

    def test_lingerBound(self) -> None:
        """
        A client that never closes is closed LINGER_TIMEOUT seconds after the
        poem is in the kernel, not before, whatever it sends; it is logged
        as a linger timeout and counted.
        """
        proto, transport, clock, factory, events = self.finished()
        clock.advance(100)  # not flushed yet: the linger bound has not begun
        self.assertFalse(transport.disconnecting)
        transport.flushed()
        clock.advance(PoetryServerProtocol.LINGER_TIMEOUT - 0.01)
        proto.dataReceived(b"x" * 1000)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.01)
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertEqual(events[0]["outcome"], ConnectionOutcome.LINGER_TIMEOUT.value)
        self.assertEqual(factory.counts()["linger_timeouts"], 1)
        self.assertEqual(factory.served, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_lingerBoundOverridable(self) -> None:
        """LINGER_TIMEOUT is a class attribute a subclass can change."""

        class Short(PoetryServerProtocol):
            LINGER_TIMEOUT = 0.5

        clock = Clock()
        factory = make_factory(clock=clock)
        factory.protocol = Short  # type: ignore[assignment]
        _, transport = connect(factory)
        transport.flushed()
        clock.advance(0.5)
        self.assertTrue(transport.disconnecting)

    def test_idleTimerGivesWayToLinger(self) -> None:
        """
        With an idle timeout, the idle timer runs until the poem is in the
        kernel, then only the linger bound does.
        """
        proto, transport, clock, _, _ = self.finished(idle_timeout=1.0)
        self.assertIs(type(proto), PoetryServerProtocol)
        transport.flushed()
        clock.advance(1.0)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        clock.advance(PoetryServerProtocol.LINGER_TIMEOUT)
        self.assertTrue(transport.disconnecting)

    def test_resetAfterPoemIsClientReset(self) -> None:
        """
        A client that resets after the whole poem reached the kernel is
        logged "client reset" and counted apart, not as complete; one that
        resets before the poem left the transport is a client gone.
        """
        proto, transport, _, factory, events = self.finished()
        transport.flushed()
        lose(proto, ConnectionLost)
        proto, transport = connect(factory)
        lose(proto, ConnectionLost)
        self.assertEqual(
            [e["outcome"] for e in events],
            [ConnectionOutcome.CLIENT_RESET.value, ConnectionOutcome.CLIENT_GONE.value],
        )
        counts = factory.counts()
        self.assertEqual(
            (counts["served"], counts["client_resets"], counts["clients_gone"]),
            (0, 1, 1),
        )

    def test_shutdownClosesLingeringCleanly(self) -> None:
        """
        At the end of the shutdown grace a lingering connection (poem in
        the kernel) is closed cleanly, while one whose poem is still in the
        transport is aborted: a reset, counted as cut at shutdown.
        """
        clock = Clock()
        factory = make_factory(clock=clock)
        done, done_t = connect(factory)
        done_t.flushed()
        stuck, stuck_t = connect(factory)
        d = factory.drain(2.0)
        clock.advance(1.99)
        self.assertFalse(done_t.disconnecting or stuck_t.disconnecting)
        clock.advance(0.01)
        self.assertTrue(done_t.disconnecting)
        self.assertFalse(done_t.disconnected)  # StringTransport: not aborted
        lose(done)
        self.assertTrue(stuck_t.disconnected)  # aborted
        lose(stuck, ConnectionLost)
        self.successResultOf(d)
        counts = factory.counts()
        self.assertEqual((counts["served"], counts["cut_at_shutdown"]), (1, 1))

    def test_hangingFaultAfterClientFin(self) -> None:
        """
        stall and silent never send again, so once their client has closed
        its side they hold the connection LINGER_TIMEOUT more seconds, then
        abort it (a reset); without the client's FIN they hang on.
        """
        for fault in [Stall(), Silent()]:
            clock = Clock()
            factory = make_factory(clock=clock, fault=fault)
            proto, transport = connect(factory)
            clock.advance(1000)
            self.assertFalse(transport.disconnecting)
            proto.readConnectionLost()
            clock.advance(PoetryServerProtocol.LINGER_TIMEOUT - 0.01)
            self.assertFalse(transport.disconnecting)
            clock.advance(0.01)
            self.assertTrue(transport.disconnected)  # aborted
            lose(proto, ConnectionLost)
            self.assertEqual(factory.live, set())
            self.assertEqual(clock.getDelayedCalls(), [])


class DeadlinesTests(SynchronousTestCase):
    """The shared FIFO timer behind the linger bound and fast idle timeouts."""

    def test_expiresInOrderAndCancels(self) -> None:
        """
        Deadlines fire in order, each C{seconds} after it was set; a
        cancelled one never fires; when none is pending no timer is left;
        cancelled ones hold nothing.
        """
        clock = Clock()
        fired: list[Any] = []
        deadlines = Deadlines(clock, 5.0, fired.append)
        deadlines.add("a")
        clock.advance(1.0)
        deadlines.add("b")
        deadlines.add("c")
        deadlines.cancel("b")
        clock.advance(3.99)
        self.assertEqual(fired, [])
        clock.advance(0.01)
        self.assertEqual(fired, ["a"])
        self.assertNotIn("a", deadlines.pending)
        clock.advance(1.0)
        self.assertEqual(fired, ["a", "c"])
        self.assertEqual(clock.getDelayedCalls(), [])
        deadlines.add("keep")
        for i in range(1000):
            deadlines.add(i)
            deadlines.cancel(i)
        self.assertEqual(list(deadlines.pending), ["keep"])
        deadlines.cancel("keep")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_renewRestartsFromNow(self) -> None:
        """
        A renewed deadline expires C{seconds} after its last renewal, never
        at its old time; renewing many times holds one entry and one timer;
        deadlines renewed and not keep their order.
        """
        clock = Clock()
        fired: list[Any] = []
        deadlines = Deadlines(clock, 5.0, fired.append)
        deadlines.add("a")
        clock.advance(4.0)
        deadlines.renew("a")
        clock.advance(1.0)  # the old deadline: nothing fires
        self.assertEqual(fired, [])
        clock.advance(3.99)
        self.assertEqual(fired, [])
        clock.advance(0.01)  # 5 s after the renewal
        self.assertEqual(fired, ["a"])
        self.assertEqual(clock.getDelayedCalls(), [])
        deadlines.add("b")
        for _ in range(1000):
            deadlines.renew("b")
        self.assertEqual(list(deadlines.pending), ["b"])
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        deadlines.cancel("b")
        self.assertEqual(clock.getDelayedCalls(), [])
        # t=10: c set; t=11: d set; t=13: c renewed; e set at t=14.
        deadlines.add("c")
        clock.advance(1.0)
        deadlines.add("d")
        clock.advance(2.0)
        deadlines.renew("c")
        clock.advance(1.0)
        deadlines.add("e")
        clock.advance(1.99)  # t=15.99
        self.assertEqual(fired, ["a"])
        clock.advance(0.01)  # t=16: d, set at 11
        self.assertEqual(fired, ["a", "d"])
        deadlines.renew("c")  # t=16: c now due at 21
        clock.advance(2.99)  # t=18.99
        self.assertEqual(fired, ["a", "d"])
        clock.advance(0.01)  # t=19: e, set at 14
        self.assertEqual(fired, ["a", "d", "e"])
        clock.advance(1.99)
        self.assertEqual(fired, ["a", "d", "e"])
        clock.advance(0.01)  # t=21: c, 5 s after its last renewal
        self.assertEqual(fired, ["a", "d", "e", "c"])
        self.assertEqual(len(deadlines), 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancelRearmed(self) -> None:
        """
        A deadline renewed and re-armed can still be cancelled; one that
        expires may cancel others (the timer is left right).
        """
        clock = Clock()
        fired: list[Any] = []
        deadlines = Deadlines(clock, 5.0, fired.append)
        deadlines.add("a")
        clock.advance(1.0)
        deadlines.renew("a")
        clock.advance(4.0)  # the timer wakes, a renewed: re-armed for t=6
        self.assertEqual(fired, [])
        self.assertEqual(len(deadlines), 1)
        deadlines.cancel("a")
        self.assertEqual(len(deadlines), 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(10.0)
        self.assertEqual(fired, [])

        def expire(name: str) -> None:
            fired.append(name)
            if name == "x":
                deadlines.cancel("y")

        deadlines = Deadlines(clock, 5.0, expire)
        deadlines.add("x")
        deadlines.add("y")
        deadlines.add("z")
        clock.advance(5.0)
        self.assertEqual(fired, ["x", "z"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_byDurationSharesOnePerDuration(self) -> None:
        """One L{Deadlines} per duration, made once, calling C{expire}."""
        clock = Clock()
        fired: list[Any] = []
        by_duration = DeadlinesByDuration(clock, fired.append)
        self.assertIs(by_duration[2.0], by_duration[2.0])
        self.assertIsNot(by_duration[2.0], by_duration[3.0])
        self.assertEqual(by_duration[3.0].seconds, 3.0)
        by_duration[3.0].add("x")
        clock.advance(3.0)
        self.assertEqual(fired, ["x"])


class _Timed(DeadlineTimeoutMixin):
    """A L{DeadlineTimeoutMixin} recording its timeouts."""

    def __init__(self, timeouts: DeadlinesByDuration) -> None:
        self.timeouts = timeouts
        self.factory = self  # the mixin's deadlines: self.factory.timeouts
        self.timed_out: list[float] = []

    def timeoutConnection(self) -> None:
        self.timed_out.append(self.timeouts.clock.seconds())


class DeadlineTimeoutMixinTests(SynchronousTestCase):
    """TimeoutMixin's interface on shared deadlines: the one idle timer."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.timeouts = DeadlinesByDuration(self.clock, methodcaller("timeout_expired"))

    def test_setResetCancel(self) -> None:
        """
        C{setTimeout} starts the timer and returns the previous timeout;
        C{resetTimeout} restarts it from now; C{setTimeout(None)} cancels
        it (no timer left); resetting a cancelled timer does nothing.
        """
        timed = _Timed(self.timeouts)
        self.assertIsNone(timed.setTimeout(2.0))
        self.assertEqual(timed.timeOut, 2.0)
        self.clock.advance(1.5)
        timed.resetTimeout()
        self.clock.advance(1.99)
        self.assertEqual(timed.timed_out, [])
        self.clock.advance(0.01)
        self.assertEqual(timed.timed_out, [3.5])
        timed.resetTimeout()  # expired: nothing to restart
        self.clock.advance(10.0)
        self.assertEqual(timed.timed_out, [3.5])
        self.assertEqual(timed.setTimeout(1.0), 2.0)
        self.assertEqual(timed.setTimeout(None), 1.0)
        timed.resetTimeout()
        self.clock.advance(5.0)
        self.assertEqual(timed.timed_out, [3.5])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_changedPeriod(self) -> None:
        """A new C{setTimeout} replaces the old timer, from now."""
        timed = _Timed(self.timeouts)
        timed.setTimeout(5.0)
        self.clock.advance(1.0)
        timed.setTimeout(1.0)
        self.clock.advance(1.0)
        self.assertEqual(timed.timed_out, [2.0])
        self.clock.advance(10.0)
        self.assertEqual(timed.timed_out, [2.0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_slowModeLastChunkStuck(self) -> None:
        """
        In slow mode with an idle timeout, a last chunk that never leaves
        the transport (the client stopped reading) is cut idle-timeout
        seconds after it was written; one that leaves it lingers instead.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"abcdef"),
            clock=clock,
            delay=1.0,
            chunk_size=3,
            idle_timeout=2.5,
        )
        stuck, stuck_t = connect(factory)
        fine, fine_t = connect(factory)
        clock.advance(1.0)
        self.assertTrue(stuck_t.write_closing and fine_t.write_closing)
        fine_t.flushed()
        clock.advance(2.5)
        self.assertTrue(stuck_t.disconnected)  # aborted
        self.assertEqual(stuck.outcome, ConnectionOutcome.CUT_IDLE)
        self.assertFalse(fine_t.disconnecting)
        lose(stuck, ConnectionLost)
        fine.readConnectionLost()
        lose(fine)
        self.assertEqual((factory.cut_idle, factory.served), (1, 1))
        self.assertEqual(clock.getDelayedCalls(), [])


class ResetStreamsTests(SynchronousTestCase):
    """--fault reset:BYTES streams: bounded memory per connection."""

    def test_holdsBoundedBlock(self) -> None:
        """
        reset:BYTES holds at most one CHUNK plus twice the poem, however
        large BYTES, writes at most CHUNK at a time, and sends the poem
        repeated, exactly BYTES bytes, then aborts.
        """
        poem = PoemFile("p", b"0123456789abcdefghijklmnopqrstuvwxyz\n")  # 37 bytes
        clock = Clock()
        factory = make_factory(poem, clock=clock, fault=Reset(10**8))
        proto, transport = connect(factory)
        producer = transport.producer
        held = max(
            len(v) for v in vars(producer).values() if isinstance(v, (bytes, bytearray))
        )
        self.assertLessEqual(held, CHUNK + 2 * len(poem.data))

        factory = make_factory(poem, clock=clock, fault=Reset(3 * CHUNK + 5))
        proto, transport = connect(factory)
        sizes = []
        for _ in range(10):
            if transport.producer is None:
                break
            before = len(transport.value())
            transport.producer.resumeProducing()
            sizes.append(len(transport.value()) - before)
        expected = (poem.data * (4 * CHUNK // len(poem.data)))[: 3 * CHUNK + 5]
        self.assertEqual(transport.value(), expected)
        self.assertEqual(max(sizes), CHUNK)
        self.assertEqual(proto.outcome, ConnectionOutcome.FAULT)


class RefusalSummaryTests(SynchronousTestCase):
    """Refusals are logged in summary, one event per interval."""

    def test_oneEventPerInterval(self) -> None:
        """
        A thousand refusals by --max-connections and --max-per-peer log
        nothing at once and one event after REFUSAL_SUMMARY_INTERVAL with
        the counts; then no timer is left, and later refusals start a new
        summary.
        """
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=clock, delay=1.0, max_connections=1)
        factory.log = Logger(observer=events.append)
        connect(factory)
        for _ in range(1000):
            self.assertIsNone(factory.buildProtocol(None))  # type: ignore[arg-type]
        self.assertEqual(events, [])
        pending = [
            c for c in clock.getDelayedCalls() if c.func == factory._log_refusals
        ]
        self.assertEqual(len(pending), 1)
        clock.advance(PoetryServerFactory.REFUSAL_SUMMARY_INTERVAL)
        self.assertEqual([(e["count"], e["refused"]) for e in events], [(1000, 1000)])
        json.dumps({k: events[0][k] for k in ("count", "refused", "refused_per_peer")})
        self.assertEqual(factory.refused, 1000)
        factory.buildProtocol(None)  # type: ignore[arg-type]
        clock.advance(PoetryServerFactory.REFUSAL_SUMMARY_INTERVAL)
        self.assertEqual([e["count"] for e in events], [1000, 1])
        factory.cut_all()

    def test_perPeerAndStop(self) -> None:
        """
        --max-per-peer refusals are summarised too, and a summary waiting
        when the factory stops is written then.
        """
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=clock, delay=1.0, max_per_peer=1)
        factory.log = Logger(observer=events.append)
        factory.doStart()
        connect(factory)
        for _ in range(5):
            factory.buildProtocol(None)  # type: ignore[arg-type]
        factory.doStop()
        self.assertEqual(
            [(e["count"], e["refused_per_peer"]) for e in events], [(5, 5)]
        )
        self.assertEqual(
            [c for c in clock.getDelayedCalls() if c.func == factory._log_refusals], []
        )
        factory.cut_all()


class DefaultIdleTimeoutTests(SynchronousTestCase):
    """An idle timeout is on by default (slowloris), not for hanging faults."""

    def test_defaults(self) -> None:
        """
        twistd poetry's default idle timeout is DEFAULT_IDLE_TIMEOUT (twice a
        longer --delay), none for stall and silent, and --idle-timeout wins.
        """
        default = PoetryServerFactory.DEFAULT_IDLE_TIMEOUT
        self.assertEqual(parse()["idle-timeout"], default)
        self.assertEqual(parse("--fault", "endless")["idle-timeout"], default)
        self.assertEqual(parse("--fault", "reset:5")["idle-timeout"], default)
        self.assertEqual(parse("--delay", "1")["idle-timeout"], default)
        self.assertEqual(parse("--delay", str(default))["idle-timeout"], 2 * default)
        self.assertIsNone(parse("--fault", "stall")["idle-timeout"])
        self.assertIsNone(parse("--fault", "silent")["idle-timeout"])
        explicit = parse("--fault", "stall", "--idle-timeout", "3")
        self.assertEqual(explicit["idle-timeout"], 3)
        self.assertIsNone(default_idle_timeout(None, Silent()))

    def test_serviceResumesAfterIdleCut(self) -> None:
        """
        Clients that never read fill --max-connections; a newcomer is
        refused until the idle timeout cuts them (aborts: resets), then is
        served the whole poem.
        """
        clock = Clock()
        factory = make_factory(clock=clock, idle_timeout=60.0, max_connections=3)
        stuck = [connect(factory) for _ in range(3)]
        self.assertIsNone(factory.buildProtocol(None))  # type: ignore[arg-type]
        clock.advance(60.0)
        for proto, transport in stuck:
            self.assertTrue(transport.disconnected)  # aborted
            self.assertEqual(proto.outcome, ConnectionOutcome.CUT_IDLE)
            lose(proto, ConnectionLost)
        self.assertEqual(factory.cut_idle, 3)
        proto, transport = connect(factory)
        self.assertEqual(transport.value(), POEM.data)
        transport.flushed()
        proto.readConnectionLost()
        lose(proto)
        self.assertEqual(factory.served, 1)


class PoemNameTests(SynchronousTestCase):
    """A poem whose file name is not valid UTF-8 is logged, escaped."""

    def test_nonUtf8FileName(self) -> None:
        """
        The access event of a poem read from b'caf\\xe9.txt' names it
        caf\\xe9, and both twistd's text log (UTF-8) and twist's JSON log
        write it: no record is lost.
        """
        directory = tempDir(self)
        with open(os.path.join(os.fsencode(directory), b"caf\xe9.txt"), "wb") as f:
            f.write(b"un poeme\n")
        library = PoemLibrary.from_paths([], [directory])
        events: list[dict[str, Any]] = []
        factory = PoetryServerFactory(library, reactor=Clock())
        factory.access_log = Logger(observer=events.append)
        proto, _ = connect(factory)
        lose(proto)
        self.assertEqual(events[0]["poem"], "caf\\xe9")
        path = os.path.join(tempDir(self), "log.txt")
        with open(path, "w", encoding="utf-8") as text:
            textFileLogObserver(text)(events[0])
        with open(path, encoding="utf-8") as text:
            self.assertIn("caf\\xe9", text.read())
        out = io.StringIO()
        jsonFileLogObserver(out)(events[0])
        self.assertEqual(json.loads(out.getvalue().strip("\x1e\n"))["poem"], "caf\\xe9")

    def test_jsonAccessRecordKeepsEveryField(self) -> None:
        """
        Every field of an access event survives twist's JSON log
        (C{jsonFileLogObserver} out, C{eventsFromJSONLogFile} back; a
        field JSON cannot hold comes back as "unpersistable", i.e. lost):
        the peer is a plain string, and the round-tripped event formats to
        the same text.  The same holds for many connections at once (the
        access event has one shape under any load).
        """
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=Clock(), events=events, trace=True)
        keep = connect(factory)[0]
        for _ in range(300):
            proto, transport = connect(factory)
            transport.flushed()
            proto.readConnectionLost()
            lose(proto)
        access = [e for e in events if e.get("lifecycle") == "connectionLost"]
        self.assertEqual(len(access), 300)
        out = io.StringIO()
        observer = jsonFileLogObserver(out)
        for event in access:
            observer(event)
        out.seek(0)
        back = list(eventsFromJSONLogFile(out))
        self.assertEqual(len(back), len(access))
        fields = ("peer", "poem", "bytes", "seconds", "outcome", "fault",
                  "lifecycle", "reason", "clean")  # fmt: skip
        for original, loaded in zip(access, back, strict=True):
            self.assertEqual(loaded["peer"], "192.168.1.1:54321")
            for key in fields:
                self.assertEqual(loaded[key], original[key], key)
                self.assertIs(type(loaded[key]), type(original[key]), key)
            self.assertEqual(formatEvent(loaded), formatEvent(original))
            ours = {k for k in loaded if not k.startswith("log_")}
            self.assertEqual(ours, set(fields))
        lose(keep)

    def test_unprintableNameEscaped(self) -> None:
        """A newline in a name cannot start a forged log line."""
        factory = PoetryServerFactory(PoemLibrary([POEM]), reactor=Clock())
        self.assertEqual(factory.display_name("a\nb"), "a\\nb")
        self.assertEqual(factory.display_name("plain"), "plain")


class ScheduleFreesTests(SynchronousTestCase):
    """Slow mode forgets a lost connection at once."""

    def test_lostConnectionFreedAtOnce(self) -> None:
        """
        A slow connection lost between chunks (not the next one due) is
        freed at once, not at its next due time, and the schedule counts only
        live connections.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"x" * 100), clock=clock, delay=10.0, chunk_size=1
        )
        protos = [connect(factory)[0] for _ in range(3)]
        clock.advance(1.0)
        third = weakref.ref(protos[2])
        lose(protos[2], ConnectionLost)
        del protos[2]
        gc.collect()
        self.assertIsNone(third())
        self.assertEqual(len(factory.schedule), 2)
        clock.advance(9.0)
        factory.cut_all()

    def test_manyLostStayBounded(self) -> None:
        """
        After 1,000 of 1,001 slow connections are lost the FIFOs are rebuilt:
        it never holds more than twice the live entries plus COMPACT_MIN.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"x" * 100), clock=clock, delay=10.0, chunk_size=1
        )
        keep = connect(factory)[0]
        for _ in range(1000):
            lose(connect(factory)[0], ConnectionLost)
        schedule = factory.schedule
        self.assertLessEqual(
            len(schedule._fresh) + len(schedule._next), 2 + 2 * schedule.COMPACT_MIN
        )
        self.assertEqual(len(factory.schedule), 1)
        self.assertIn(keep, factory.live)
        factory.cut_all()


# ---- real loopback sockets -------------------------------------------------


class Reader(Protocol):
    """
    A client that reads to the end: optionally sends C{request} first and
    half-closes (C{loseWriteConnection}, a C{shutdown(SHUT_WR)}).
    """

    def __init__(
        self, request: bytes = b"", half_close: bool = False, chatty: bool = False
    ) -> None:
        self.request = request
        self.half_close = half_close
        self.chatty = chatty
        self.chunks: list[bytes] = []
        self.done: Deferred[tuple[bytes, Failure]] = Deferred()

    def connectionMade(self) -> None:
        if self.request:
            self.transport.write(self.request)  # type: ignore[union-attr]
        if self.half_close:
            self.transport.loseWriteConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)
        if self.chatty:
            self.transport.write(self.request)  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback((b"".join(self.chunks), reason))


class _One(ClientFactory):
    def __init__(self, proto: Protocol) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> Protocol:
        return self.proto


def read(port: int, **kw: Any) -> Deferred[tuple[bytes, Failure]]:
    client = Reader(**kw)
    reactor.connectTCP("127.0.0.1", port, _One(client), timeout=5)
    return client.done


class WireOverSocketsTests(TestCase):
    """The wire contract over real loopback sockets."""

    timeout = 30

    def serve(self, *poems: PoemFile, **kw: Any) -> int:
        if "poems_dir" in kw:
            library = PoemLibrary.from_paths([], [kw.pop("poems_dir")])
        else:
            library = PoemLibrary(poems)
        self.factory = PoetryServerFactory(library, reactor=reactor, **kw)
        port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.addCleanup(self.factory.drain, 2.0)
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[no-any-return]

    def poem_file(self, poem: PoemFile) -> str:
        """Write C{poem} to a file in a temp directory; return the directory."""
        directory = tempDir(self)
        with open(os.path.join(directory, poem.name + ".txt"), "wb") as f:
            f.write(poem.data)
        return directory

    async def test_halfCloseFastLargePoem(self) -> None:
        """
        A client that half-closes at once gets the whole 231,000-byte poem
        (read from a file) in fast mode, ended by a clean close, each of 3
        times.
        """
        big = big_poem()
        port = self.serve(poems_dir=self.poem_file(big))
        for _ in range(3):
            data, reason = await read(port, half_close=True)
            self.assertEqual(len(data), len(big.data))
            self.assertEqual(data, big.data)
            self.assertTrue(reason.check(ConnectionDone))
        await waitFor(lambda: self.factory.served == 3)

    async def test_halfCloseSlowMode(self) -> None:
        """A half-closing client of a slow server gets every chunk."""
        poem = PoemFile("p", b"slow chunks for a half-closed client\n" * 25)
        port = self.serve(poem, delay=0.002, chunk_size=30)
        data, reason = await read(port, half_close=True)
        self.assertEqual(data, poem.data)
        self.assertTrue(reason.check(ConnectionDone))

    async def test_requestThenReadToEnd(self) -> None:
        """
        A client that sends an HTTP-like request and reads to the end gets
        the whole poem with a clean close, every one of 6 times (small and
        large poems), and each is logged complete -- even a chatty one that
        sends the request again after every read, so that its bytes arrive
        as the server sends the end of the poem.
        """
        big = big_poem()
        port = self.serve(POEM, big)
        for poem in [POEM, big] * 3:
            data, reason = await read(
                port, request=b"GET / HTTP/1.0\r\n\r\n", chatty=poem is big
            )
            self.assertEqual(data, poem.data)
            self.assertTrue(reason.check(ConnectionDone))
        await waitFor(lambda: self.factory.served == 6)

    async def test_clientResetIsNotComplete(self) -> None:
        """
        A client that resets once the poem is in the kernel, without
        reading, is counted as a client reset, not a served poem.
        """
        port = self.serve(POEM)
        client = _Resetting()
        reactor.connectTCP("127.0.0.1", port, _One(client), timeout=5)
        await waitFor(lambda: any(p.write_closed for p in self.factory.live))
        client.transport.abortConnection()  # type: ignore[union-attr]
        await waitFor(lambda: not self.factory.live)
        self.assertEqual((self.factory.served, self.factory.client_resets), (0, 1))

    async def test_everyCutIsAReset(self) -> None:
        """
        Every way the server stops a poem before its last byte reaches the
        project's client as PoemTruncated (a reset), never a poem: shutdown
        after the grace, the idle timeout, the reset fault; and a stall
        whose client half-closed ends in a reset, not a clean FIN.
        """
        # Shutdown after the grace, mid slow poem.
        port = self.serve(POEM, delay=0.05, chunk_size=4)
        d = get_poem("127.0.0.1", port, reactor=reactor, timeout=10)
        await waitFor(lambda: self.factory.bytes_sent or self.factory.live)
        self.factory.drain(0.01)
        await self.assertFailure(d, PoemTruncated)
        # The idle timeout, on a stall.
        port = self.serve(POEM, fault=Stall(), idle_timeout=0.05)
        error = await self.assertFailure(
            get_poem("127.0.0.1", port, reactor=reactor, timeout=10), PoemTruncated
        )
        self.assertEqual(error.partial, POEM.data[:10])
        # The reset fault.
        port = self.serve(POEM, fault=Reset(7))
        await self.assertFailure(
            get_poem("127.0.0.1", port, reactor=reactor, timeout=10), PoemTruncated
        )
        # A stall whose client half-closed (nc -N): a reset after the bound.
        port = self.serve(POEM, fault=Stall())

        class Short(StallProtocol):
            LINGER_TIMEOUT = 0.05

        class ShortStall(Stall):
            protocol = Short

        self.factory.fault = ShortStall()
        data, reason = await read(port, half_close=True)
        self.assertEqual(data, POEM.data[:10])
        self.assertTrue(reason.check(ConnectionLost))

    async def test_serviceResumesAfterSlowloris(self) -> None:
        """
        Two clients that never read a poem larger than the kernel's buffers
        fill --max-connections 2; a newcomer is refused; once the idle
        timeout has cut them, the next client gets the whole poem.
        """
        huge = big_poem(12_000_000)
        port = self.serve(huge, max_connections=2, idle_timeout=0.2)
        stuck = [_Resetting() for _ in range(2)]
        for client in stuck:
            reactor.connectTCP("127.0.0.1", port, _One(client), timeout=5)
        await waitFor(lambda: len(self.factory.live) == 2)
        data, _ = await read(port)
        self.assertEqual(data, b"")
        await waitFor(lambda: self.factory.cut_idle == 2)
        data, reason = await read(port)
        self.assertEqual(len(data), len(huge.data))
        self.assertTrue(reason.check(ConnectionDone))
        for client in stuck:
            client.transport.abortConnection()  # type: ignore[union-attr]


class _Resetting(Protocol):
    """A client that never reads (the test resets it)."""

    def connectionMade(self) -> None:
        self.transport.pauseProducing()  # type: ignore[union-attr]
