"""
Tests for L{poetry.server}: what the protocol writes and when, the slow-mode
schedule, the factory's limits, counters, access log and graceful drain.

Timing and edge cases use L{Clock} and L{StringTransport}; a few tests serve
real poems over loopback sockets.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.address import (
    HostnameAddress,
    IPv4Address,
    IPv6Address,
    UNIXAddress,
)
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from poetry.library import PoemFile, PoemLibrary
from poetry.server import (
    ConnectionOutcome,
    PoetryServerFactory,
    PoetryServerProtocol,
    format_address,
)
from poetry.server.accesslog import (
    ACCESS_FORMAT,
    FAULT_ACCESS_FORMAT,
    EventTemplates,
    log_access,
)
from tests.helpers import fetch, lose, waitFor

POEM = PoemFile("short", b"Roses are red\nsockets are blue\n")


def make_factory(
    *poems: PoemFile,
    clock: Clock | None = None,
    events: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> PoetryServerFactory:
    """A factory over C{poems} on a L{Clock}, its access log kept in C{events}."""
    factory = PoetryServerFactory(
        PoemLibrary(poems or [POEM]), reactor=clock or Clock(), **kw
    )
    if events is not None:
        factory.access_log = Logger(
            namespace=factory.access_log.namespace, source=factory,
            observer=events.append,
        )  # fmt: skip
    return factory


def connect(
    factory: PoetryServerFactory, port: int = 5555
) -> tuple[Any, StringTransport]:
    """Build a protocol from C{factory} and connect it to a L{StringTransport}."""
    proto = factory.buildProtocol(None)  # type: ignore[arg-type]
    assert proto is not None
    transport = StringTransport(peerAddress=_Peer("10.1.2.3", port))
    proto.makeConnection(transport)
    return proto, transport


class _Peer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port


class FastModeTests(SynchronousTestCase):
    """Fast mode: the whole poem at once, then a clean close."""

    def test_writesPoemAndCloses(self) -> None:
        """
        A connection is sent the poem's exact bytes and the server closes it
        cleanly with loseConnection, scheduling nothing.
        """
        clock = Clock()
        _, transport = connect(make_factory(clock=clock))
        self.assertEqual(transport.value(), POEM.data)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_roundRobin(self) -> None:
        """
        Successive connections get the library's poems in order, wrapping
        around after the last.
        """
        poems = [PoemFile(n, n.encode() * 3) for n in "abc"]
        factory = make_factory(*poems)
        got = [connect(factory)[1].value() for _ in range(7)]
        self.assertEqual(got, [p.data for p in poems * 3][:7])

    def test_randomPicksFromLibrary(self) -> None:
        """
        With random=True every connection gets one whole poem, the one the
        library's random source chooses, not the round-robin order.
        """
        import random

        poems = [PoemFile(n, n.encode() * 3) for n in "abcd"]
        factory = PoetryServerFactory(
            PoemLibrary(poems, random=True, rng=random.Random(7)), reactor=Clock()
        )
        got = [connect(factory)[1].value() for _ in range(40)]
        expected = random.Random(7)
        self.assertEqual(got, [expected.choice(poems).data for _ in range(40)])
        self.assertNotEqual(got[:8], [p.data for p in poems * 2])

    def test_largePoemStreamedByProducer(self) -> None:
        """
        A poem larger than STREAM_CHUNK is not written at once: a pull
        producer hands the transport one chunk each time it asks, so the
        server never holds more than one chunk for a client that does not
        read, and closes once the last chunk is written.
        """
        chunk = PoetryServerProtocol.STREAM_CHUNK
        big = PoemFile("big", bytes(range(256)) * (chunk * 3 // 256 + 10))
        proto, transport = connect(make_factory(big))
        self.assertEqual(transport.value(), b"")
        producer = transport.producer
        self.assertIsNotNone(producer)
        self.assertFalse(transport.streaming)
        for n in range(1, 4):
            producer.resumeProducing()
            self.assertEqual(len(transport.value()), chunk * n)
            self.assertFalse(transport.disconnecting)
        producer.resumeProducing()
        self.assertEqual(transport.value(), big.data)
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)

    def test_poemOfExactlyOneChunkWrittenAtOnce(self) -> None:
        """
        A poem of exactly STREAM_CHUNK bytes is written in one write, with no
        producer; one byte more and it is streamed.
        """
        chunk = PoetryServerProtocol.STREAM_CHUNK
        exact = PoemFile("exact", b"e" * chunk)
        proto, transport = connect(make_factory(exact))
        self.assertEqual(transport.value(), exact.data)
        self.assertIsNone(transport.producer)
        self.assertEqual(proto.outcome, ConnectionOutcome.COMPLETE)
        over = PoemFile("over", b"o" * (chunk + 1))
        proto, transport = connect(make_factory(over))
        self.assertIs(transport.producer, proto)
        self.assertIsNone(proto.outcome)

    def test_clientDataDiscarded(self) -> None:
        """
        Bytes from the client, however many, change nothing the server
        sends and raise nothing.
        """
        proto, transport = connect(make_factory())
        for _ in range(1000):
            proto.dataReceived(b"\x00junk\r\n" * 100)
        self.assertEqual(transport.value(), POEM.data)


class SlowModeTests(SynchronousTestCase):
    """Slow mode: chunk_size bytes every delay seconds, on the reactor's clock."""

    def test_chunksOnSchedule(self) -> None:
        """
        The first chunk goes out on connect and each next one exactly
        C{delay} seconds later; nothing is sent early; the connection is
        closed right after the last chunk and no timer is left behind.
        """
        clock = Clock()
        data = b"0123456789abcdefghij"  # 20 bytes = 7 chunks of 3
        factory = make_factory(
            PoemFile("p", data), clock=clock, delay=0.5, chunk_size=3
        )
        proto, transport = connect(factory)
        self.assertEqual(transport.value(), data[:3])
        for n in range(2, 8):
            clock.advance(0.499)
            self.assertEqual(transport.value(), data[: 3 * (n - 1)])
            clock.advance(0.001)
            self.assertEqual(transport.value(), data[: 3 * n])
        self.assertTrue(transport.disconnecting)
        lose(proto)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(factory.served, 1)

    def test_latenessDoesNotAccumulate(self) -> None:
        """
        A tick that runs late delays only that chunk: the next one is due
        C{delay} after the previous due time, not after the late tick.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"x" * 10), clock=clock, delay=1.0, chunk_size=1
        )
        _, transport = connect(factory)
        clock.advance(1.4)  # the tick due at 1.0 runs at 1.4
        self.assertEqual(len(transport.value()), 2)
        clock.advance(0.6)  # t = 2.0: the next chunk is due now, not at 2.4
        self.assertEqual(len(transport.value()), 3)

    def test_manyConnectionsOneTimer(self) -> None:
        """
        However many slow connections are open, the factory keeps one
        pending timer, and each connection follows its own schedule.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"abcd"), clock=clock, delay=1.0, chunk_size=1
        )
        transports = []
        for i in range(50):
            transports.append(connect(factory, port=i)[1])
            clock.advance(0.01)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        # At t=1.0 only the first connection (made at t=0) has had 2 chunks.
        clock.advance(1.0 - clock.seconds())
        self.assertEqual([len(t.value()) for t in transports[:2]], [2, 1])
        clock.pump([0.01] * 400)
        self.assertTrue(all(t.value() == b"abcd" for t in transports))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_clientGoneStopsSending(self) -> None:
        """
        When a slow client disconnects mid-poem nothing more is written for
        it, it is counted as gone, and no timer is left for it.
        """
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(
            PoemFile("p", b"abcdef"),
            clock=clock,
            delay=1.0,
            chunk_size=2,
            events=events,
        )
        proto, transport = connect(factory)
        clock.advance(1.0)
        lose(proto, ConnectionLost)
        clock.advance(5.0)
        self.assertEqual(transport.value(), b"abcd")
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(factory.counts()["clients_gone"], 1)
        self.assertEqual(factory.counts()["served"], 0)
        self.assertEqual(events[-1]["outcome"], ConnectionOutcome.CLIENT_GONE.value)
        self.assertEqual(events[-1]["bytes"], 4)

    def test_badSettingsRejected(self) -> None:
        """A non-positive delay or chunk size is refused at construction."""
        for kw in [{"delay": 0}, {"delay": -1.0}, {"chunk_size": 0}]:
            with self.assertRaises(ValueError):
                PoetryServerFactory(PoemLibrary([POEM]), reactor=Clock(), **kw)


class FactoryTests(SynchronousTestCase):
    """Live connections, limits, counters and the access log."""

    def test_maxConnectionsRefuses(self) -> None:
        """
        Beyond max_connections live connections buildProtocol returns None
        (Twisted then closes the socket at once) and counts the refusal; once
        one ends a new connection is accepted again.
        """
        factory = make_factory(delay=1.0, max_connections=2)
        first, _ = connect(factory)
        connect(factory)
        self.assertIsNone(factory.buildProtocol(None))  # type: ignore[arg-type]
        self.assertEqual(factory.refused, 1)
        lose(first, ConnectionLost)
        self.assertIsNotNone(factory.buildProtocol(None))  # type: ignore[arg-type]
        factory.cut_all()

    def test_accessLogEvent(self) -> None:
        """
        Each connection logs one structured access event when it ends, with
        the peer (getPeer), poem name, bytes, seconds and outcome, rendered
        as one line; a quiet server emits it at once.
        """
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=clock, events=events)
        proto, _ = connect(factory, port=4242)
        self.assertEqual(events, [])
        clock.advance(0.25)
        lose(proto)
        [event] = events
        self.assertEqual(str(event["peer"]), "10.1.2.3:4242")
        self.assertEqual(event["poem"], "short")
        self.assertEqual(event["bytes"], len(POEM.data))
        self.assertEqual(event["seconds"], 0.25)
        self.assertEqual(event["outcome"], ConnectionOutcome.COMPLETE.value)
        self.assertEqual(
            formatEvent(event),
            f"10.1.2.3:4242 short {len(POEM.data)} bytes 0.250 s complete",
        )
        counts = factory.counts()
        self.assertEqual(
            {k: counts[k] for k in ("live", "served", "bytes_sent", "clients_gone")},
            {"live": 0, "served": 1, "bytes_sent": len(POEM.data), "clients_gone": 0},
        )
        self.assertEqual(counts["cut_at_shutdown"] + counts["refused"], 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_countedByOutcome(self) -> None:
        """
        Each way a connection can end is counted by its own counter, and by
        that one only: no outcome falls into another's count (such as
        C{faults} catching whatever it does not know), and the access log
        shows the outcome's text as a plain string.
        """
        names = {
            ConnectionOutcome.COMPLETE: "served",
            ConnectionOutcome.CLIENT_RESET: "client_resets",
            ConnectionOutcome.LINGER_TIMEOUT: "linger_timeouts",
            ConnectionOutcome.CLIENT_GONE: "clients_gone",
            ConnectionOutcome.CUT_AT_SHUTDOWN: "cut_at_shutdown",
            ConnectionOutcome.CUT_IDLE: "cut_idle",
            ConnectionOutcome.FAULT: "faults",
            ConnectionOutcome.HEALTH_CHECK: "health_checks",
        }
        self.assertEqual(set(names), set(ConnectionOutcome))
        for outcome, name in names.items():
            events: list[dict[str, Any]] = []
            factory = make_factory(events=events)
            proto, _ = connect(factory)
            proto.outcome = outcome
            lose(proto)
            counts = factory.counts()
            self.assertEqual(counts[name], 1, outcome)
            self.assertEqual(factory.ended[outcome], 1)
            others = {k: v for k, v in counts.items() if k in names.values()}
            self.assertEqual(sum(others.values()), 1, (outcome, counts))
            self.assertEqual(events[-1]["outcome"], outcome.value)
            self.assertIs(type(events[-1]["outcome"]), str)

    def test_oneEventPerConnectionUnderLoad(self) -> None:
        """
        However busy the server, each connection that ends makes one
        ordinary access event, at once (nothing waits on a timer), with the
        same fields as a quiet server's: no batch event, no shape that
        depends on load.
        """
        clock = Clock()
        events: list[dict[str, Any]] = []
        factory = make_factory(clock=clock, events=events)
        keep = connect(factory, port=99)[0]
        for n in range(1, 1001):  # a thousand in one instant, one still live
            lose(connect(factory, port=n)[0])
            self.assertEqual(len(events), n)
        self.assertEqual(clock.getDelayedCalls(), [])
        fields = {"peer", "poem", "bytes", "seconds", "outcome", "fault"}
        for n, event in enumerate(events, 1):
            self.assertEqual(set(event), fields | {
                "log_logger", "log_level", "log_namespace", "log_source",
                "log_format", "log_time"})  # fmt: skip
            self.assertEqual(event["log_namespace"], "poetry.access")
            self.assertEqual(
                formatEvent(event), f"10.1.2.3:{n} short 31 bytes 0.000 s complete"
            )
        lose(keep)
        self.assertEqual(len(events), 1001)
        self.assertEqual(events[-1]["peer"], "10.1.2.3:99")

    def test_formatAddress(self) -> None:
        """IPv6 hosts are bracketed; addresses without a port print as given."""
        self.assertEqual(format_address(_Peer("::1", 80)), "[::1]:80")  # type: ignore[arg-type]
        self.assertEqual(format_address(_Peer("1.2.3.4", 8)), "1.2.3.4:8")  # type: ignore[arg-type]
        self.assertEqual(format_address(None), "None")


class LogAccessTests(SynchronousTestCase):
    """
    The access event is the event twisted.logger's C{Logger.emit} makes,
    built in one dict (L{poetry.server.accesslog.log_access}).
    """

    def assertSameAsEmit(self, logger: Logger, event: dict[str, Any]) -> None:
        """
        C{event} has exactly the keys and values that
        C{logger.emit(LogLevel.info, its format, **its fields)} gives (but
        C{log_time}, a float: the time of each).
        """
        fields = {k: v for k, v in event.items() if not k.startswith("log_")}
        theirs: list[dict[str, Any]] = []
        Logger(logger.namespace, logger.source, theirs.append).emit(
            LogLevel.info, event["log_format"], **fields
        )
        mine, [other] = dict(event), theirs
        self.assertIs(mine.pop("log_logger"), logger)
        self.assertIsInstance(other.pop("log_logger"), Logger)
        for e in (mine, other):
            self.assertIsInstance(e.pop("log_time"), float)
        self.assertEqual(mine, other)

    def test_sameEventAsLogger(self) -> None:
        """
        A connection's access event, delivered to the access log's observer,
        is C{Logger.emit}'s event at info level, in the access namespace
        with the factory as source; formatted, it is the access line.
        """
        events: list[dict[str, Any]] = []
        clock = Clock()
        factory = make_factory(clock=clock, events=events)
        proto, _ = connect(factory, 4242)
        clock.advance(1.5)
        lose(proto)
        [event] = events
        self.assertSameAsEmit(factory.access_log, event)
        self.assertIs(event["log_logger"], factory.access_log)
        self.assertIs(event["log_source"], factory)
        self.assertEqual(event["log_namespace"], "poetry.access")
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual(
            formatEvent(event),
            f"10.1.2.3:4242 short {len(POEM.data)} bytes 1.500 s complete",
        )

    def test_lifecycleEventAsLogger(self) -> None:
        """
        With the lifecycle trace, the event (its longer format and three
        more fields) is still C{Logger.emit}'s.
        """
        events: list[dict[str, Any]] = []
        factory = make_factory(events=events, trace=True)
        proto, _ = connect(factory, 4242)
        lose(proto, ConnectionLost)
        [event] = events
        self.assertSameAsEmit(factory.access_log, event)
        self.assertEqual(
            (event["lifecycle"], event["reason"], event["clean"]),
            ("connectionLost", "ConnectionLost", False),
        )
        self.assertTrue(
            formatEvent(event).endswith("(connectionLost: ConnectionLost, clean=False)")
        )

    def test_connectionMadeEventAsLogger(self) -> None:
        """
        The lifecycle trace's C{connectionMade} event is C{Logger.emit}'s, in
        the lifecycle namespace; the connection's access event shows the
        same peer text, formatted once (the transport is asked once).
        """
        made: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        factory = make_factory(events=events, trace=True)
        factory.lifecycle_log = Logger(
            namespace=factory.lifecycle_log.namespace, source=factory,
            observer=made.append,
        )  # fmt: skip
        proto = factory.buildProtocol(None)  # type: ignore[arg-type]
        assert proto is not None
        transport = StringTransport(peerAddress=_Peer("10.1.2.3", 4242))
        asked = []
        real = transport.getPeer
        transport.getPeer = lambda: asked.append(1) or real()  # type: ignore[method-assign]
        proto.makeConnection(transport)
        lose(proto)
        [event] = made
        self.assertSameAsEmit(factory.lifecycle_log, event)
        self.assertEqual(event["log_namespace"], "poetry.server.lifecycle")
        self.assertEqual(
            formatEvent(event),
            f"10.1.2.3:4242 connectionMade: poem short ({len(POEM.data)} bytes)",
        )
        [access] = events
        self.assertEqual(access["peer"], "10.1.2.3:4242")
        self.assertEqual(len(asked), 1)

    def test_eachLoggersOwnEvent(self) -> None:
        """
        Each logger's access events are its own (L{log_access} copies a
        template per logger): the logger, namespace and source of the
        factory that served the connection, whichever served the last,
        and however many loggers came and went.
        """
        events: list[dict[str, Any]] = []
        factories = [make_factory(events=events) for _ in range(3)]
        factories[1].access_log = Logger(
            "other.access", source="elsewhere", observer=events.append
        )
        for factory in factories + factories[::-1]:
            lose(connect(factory)[0])
        self.assertEqual(len(events), 6)
        for factory, event in zip(factories + factories[::-1], events, strict=True):
            self.assertSameAsEmit(factory.access_log, event)
            self.assertIs(event["log_logger"], factory.access_log)
            self.assertIs(event["log_source"], factory.access_log.source)
            self.assertIs(event["log_namespace"], factory.access_log.namespace)
        for factory in factories:
            self.assertEqual(list(factory.access_templates), [factory.access_log])
        templates = factories[0].access_templates
        for i in range(EventTemplates.MAX + 1):
            factories[0].access_log = Logger(f"n{i}", observer=events.append)
            lose(connect(factories[0])[0])
            self.assertSameAsEmit(factories[0].access_log, events[-1])
        self.assertLessEqual(len(templates), EventTemplates.MAX)
        lose(connect(factories[1])[0])
        self.assertSameAsEmit(factories[1].access_log, events[-1])

    def test_faultThenPoem(self) -> None:
        """
        A connection that played a fault has its fault and the fault
        format; the next one, a poem served, has neither (each event is
        a copy: the template does not change).
        """
        events: list[dict[str, Any]] = []
        factory = make_factory(events=events)
        proto, _ = connect(factory, 1)
        proto.fault = "stall"
        lose(proto)
        lose(connect(factory, 2)[0])
        fault, poem = events
        for event in events:
            self.assertSameAsEmit(factory.access_log, event)
        self.assertEqual(
            (fault["fault"], fault["log_format"]), ("stall", FAULT_ACCESS_FORMAT)
        )
        self.assertEqual((poem["fault"], poem["log_format"]), (None, ACCESS_FORMAT))
        self.assertTrue(formatEvent(fault).endswith(" complete [fault stall]"))
        text = f"10.1.2.3:2 short {len(POEM.data)} bytes 0.000 s complete"
        self.assertEqual(formatEvent(poem), text)

    def test_peerAsFormatAddressShowsIt(self) -> None:
        """
        The access event's peer (L{BaseServerProtocol.format_peer}) is
        L{format_address}'s text of each kind of address, and of the
        transport's peer when the factory was given none.
        """
        factory = make_factory()
        addresses = [
            IPv4Address("TCP", "10.0.0.1", 7),
            IPv6Address("TCP", "::1", 8),
            UNIXAddress(b"/run/p.sock"),
            HostnameAddress(b"example.test", 9),
        ]
        for address in addresses:
            proto = factory.buildProtocol(address)
            assert proto is not None
            self.assertEqual(proto.format_peer(), format_address(address))
        proto, _ = connect(factory, 4242)
        self.assertEqual(proto.format_peer(), "10.1.2.3:4242")

    def test_noPoem(self) -> None:
        """A connection that never took a poem shows C{-} for it."""
        events: list[dict[str, Any]] = []
        factory = make_factory(events=events)
        proto = factory.buildProtocol(None)  # type: ignore[arg-type]
        assert proto is not None
        proto.transport = StringTransport(peerAddress=_Peer("10.1.2.3", 7))
        proto.outcome = ConnectionOutcome.CLIENT_GONE
        log_access(factory.access_log, proto, Failure(ConnectionDone()), 0.0,
                   factory.shown_names, False, factory.access_templates)  # fmt: skip
        [event] = events
        self.assertSameAsEmit(factory.access_log, event)
        self.assertEqual(event["poem"], "-")
        self.assertEqual(event["peer"], "10.1.2.3:7")


class DrainTests(SynchronousTestCase):
    """The graceful part of shutdown: L{PoetryServerFactory.drain}."""

    def test_drainWithNothingLive(self) -> None:
        """With no live connection drain fires at once and schedules nothing."""
        clock = Clock()
        factory = make_factory(clock=clock)
        self.assertIsNone(self.successResultOf(factory.drain(5)))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_inFlightFinishesWithinGrace(self) -> None:
        """
        A slow transfer that finishes within the grace period is completed,
        not cut, drain fires when it ends, and the grace timer is cancelled.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"abcd"), clock=clock, delay=1.0, chunk_size=1
        )
        proto, transport = connect(factory)
        d = factory.drain(5.0)
        clock.advance(3.0)
        self.assertNoResult(d)
        self.assertEqual(transport.value(), b"abcd")
        lose(proto)
        self.successResultOf(d)
        self.assertEqual(factory.served, 1)
        self.assertEqual(factory.cut_at_shutdown, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cutAfterGrace(self) -> None:
        """
        A transfer still running when the grace period ends is aborted
        (abortConnection, not loseConnection, so a client that does not read
        cannot keep the server up) and counted as cut at shutdown.
        """
        clock = Clock()
        factory = make_factory(
            PoemFile("p", b"x" * 100), clock=clock, delay=1.0, chunk_size=1
        )
        proto, transport = connect(factory)
        d = factory.drain(2.5)
        clock.advance(2.5)
        # StringTransport.abortConnection sets disconnected; loseConnection
        # (a clean FIN that would look like a complete poem) does not.
        self.assertTrue(transport.disconnected)
        self.assertEqual(proto.outcome, ConnectionOutcome.CUT_AT_SHUTDOWN)
        self.assertEqual(transport.value(), b"xxx")
        self.assertNoResult(d)
        lose(proto, ConnectionAborted)
        self.successResultOf(d)
        self.assertEqual(factory.cut_at_shutdown, 1)
        self.assertEqual(clock.getDelayedCalls(), [])


class LoopbackTests(TestCase):
    """Real poems over real loopback sockets (127.0.0.1, port 0)."""

    def serve(self, *poems: PoemFile, **kw: Any) -> tuple[PoetryServerFactory, int]:
        factory = PoetryServerFactory(PoemLibrary(poems), reactor=reactor, **kw)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        # Cleanups run last-added first: stop listening, then let the
        # server's side of every connection end.
        self.addCleanup(factory.drain, 2.0)
        self.addCleanup(port.stopListening)
        return factory, port.getHost().port

    async def test_bundledPoemsByteIdentical(self) -> None:
        """
        Every bundled poem, including the one over 4 KB and the ones with
        non-ASCII text, arrives byte-identical in fast mode and in slow mode,
        ended by a clean close.
        """
        library = PoemLibrary.bundled()
        poems = list(library.poems)
        self.assertTrue(any(len(p.data) > 4096 for p in poems))
        self.assertTrue(any(not p.data.isascii() for p in poems))
        for kw in [{}, {"delay": 0.001, "chunk_size": 512}]:
            _, port = self.serve(*poems, **kw)
            for poem in poems:
                data, reason = await fetch(port)
                self.assertEqual(data, poem.data)
                self.assertTrue(reason.check(ConnectionDone))

    async def test_hugePoemStreamed(self) -> None:
        """A poem of several megabytes streams through the producer intact."""
        big = PoemFile("big", bytes(range(251)) * 12000)
        factory, port = self.serve(big)
        data, reason = await fetch(port)
        self.assertEqual(data, big.data)
        self.assertTrue(reason.check(ConnectionDone))
        await waitFor(lambda: factory.served == 1)

    async def test_manySlowClientsAtOnce(self) -> None:
        """
        A hundred clients of one slow server all get the whole poem, each on
        its own schedule, concurrently.
        """
        poem = PoemFile("p", b"slow and steady\n" * 8)
        factory, port = self.serve(poem, delay=0.005, chunk_size=16)
        results = gatherResults([fetch(port) for _ in range(100)])
        results = await results
        self.assertEqual({data for data, _ in results}, {poem.data})
        await waitFor(lambda: not factory.live)
        self.assertEqual(factory.served, 100)

    async def test_junkFromClient(self) -> None:
        """
        A client that sends a megabyte of junk still gets its poem intact and
        the server keeps serving others.
        """
        factory, port = self.serve(POEM, delay=0.001, chunk_size=4)
        data, _ = await fetch(port, junk=b"\xff\x00GET / HTTP/1.1\r\n" * 60000)
        self.assertEqual(data, POEM.data)
        data, _ = await fetch(port)
        self.assertEqual(data, POEM.data)
        await waitFor(lambda: factory.served == 2)

    async def test_maxConnectionsOverSockets(self) -> None:
        """
        With max_connections=1 and one slow transfer in flight, a second
        client is closed at once with nothing sent, and counted.
        """
        factory, port = self.serve(POEM, delay=0.05, chunk_size=4, max_connections=1)
        first = fetch(port)
        await waitFor(lambda: factory.live)
        data, _ = await fetch(port)
        self.assertEqual(data, b"")
        self.assertEqual(factory.refused, 1)
        data, _ = await first
        self.assertEqual(data, POEM.data)


def _sleep(seconds: float) -> Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds)  # type: ignore[arg-type]
