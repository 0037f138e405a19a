"""
Tests for L{poetry.client}: L{PoetryProtocol}, L{PoetryClientFactory},
L{get_poem} and L{get_poems}.

Timing and edge cases run on a L{MemoryReactorClock} with the protocol
connected to a L{StringTransport} and fed one byte at a time; a few tests
fetch real poems over loopback sockets from the project's own server (or a
small misbehaving server defined here).
"""

from __future__ import annotations

import errno
import gc
import os
import resource
import weakref
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.base import BaseConnector
from twisted.internet.defer import CancelledError, Deferred, gatherResults
from twisted.internet.error import (
    ConnectionAborted,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    UserError,
    getConnectError,
)
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from poetry.addresses import Address, AddressError
from poetry.client import (
    DEFAULT_MAX_BYTES,
    DownloadResult,
    Poem,
    PoetryClientFactory,
    PoetryProtocol,
    get_poem,
    get_poems,
)
from poetry.client import api as client_api
from poetry.client import connector as client_connector
from poetry.errors import (
    EmptyPoem,
    PoemCallbackError,
    PoemConnectionFailed,
    PoemError,
    PoemTimeout,
    PoemTooLarge,
    PoemTruncated,
)
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from tests.helpers import POEM_TRACE

from .resolver import FakeResolver

POEM = (
    b"The socket waits, a patient ear,\n"
    b"for bytes that drift in, line by line;\n"
    b"the reactor turns, and all is clear:\n"
    b"one close, and every verse is mine.\n"
)
NON_ASCII = "Über die Brücke, ñandú y café,\nein Gedicht, 一首诗, ποίημα.\n".encode()
INVALID_UTF8 = b"caf\xe9 au lait\n\xff\xfe not UTF-8\n"

SERVER = IPv4Address("TCP", "127.0.0.1", 10001)
CLIENT = IPv4Address("TCP", "127.0.0.1", 54321)


class Recorder:
    """A L{poetry.client.TraceRecorder} keeping every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, str, dict[str, object]]] = []
        self.stopped: dict[int, Deferred[None]] = {}

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        self.events.append((task, source, name, detail))
        if name == "doStop":
            self.when_stopped(task).callback(None)

    def when_stopped(self, task: int = 1) -> Deferred[None]:
        """A Deferred firing when task C{task}'s factory has stopped."""
        if task not in self.stopped:
            self.stopped[task] = Deferred()
        return self.stopped[task]

    def names(self, task: int = 1) -> list[str]:
        """C{source.name} of task C{task}'s events, repeated dataReceived merged."""
        out: list[str] = []
        for t, source, name, _ in self.events:
            label = f"{source}.{name}"
            if t == task and not (
                label == "protocol.dataReceived" and out[-1:] == [label]
            ):
                out.append(label)
        return out


# -- fake-reactor helpers -----------------------------------------------------


def start(
    reactor: MemoryReactorClock | None = None, port: int = 10001, **kw: Any
) -> tuple[Deferred[Poem], PoetryClientFactory, Any, MemoryReactorClock]:
    """Start L{get_poem} on a fake reactor; return its pieces."""
    reactor = reactor or MemoryReactorClock()
    d = get_poem("127.0.0.1", port, reactor=reactor, **kw)
    factory = reactor.tcpClients[-1][2]
    return d, factory, reactor.connectors[-1], reactor


def connect(factory: PoetryClientFactory) -> tuple[PoetryProtocol, StringTransport]:
    """Connect C{factory}'s protocol to a L{StringTransport}."""
    proto = factory.buildProtocol(SERVER)
    assert proto is not None
    transport = StringTransport(peerAddress=SERVER, hostAddress=CLIENT)
    proto.makeConnection(transport)
    return proto, transport


def feed(proto: Protocol, data: bytes, size: int = 1) -> None:
    """Deliver C{data} to C{proto} in C{size}-byte chunks."""
    for i in range(0, len(data), size):
        proto.dataReceived(data[i : i + size])


def close(proto: Protocol, reason: Exception | None = None) -> None:
    """End C{proto}'s connection, cleanly unless a C{reason} is given."""
    proto.connectionLost(Failure(reason or ConnectionDone()))


def serve_fake(factory: PoetryClientFactory, data: bytes, size: int = 1) -> None:
    """Connect, send C{data} in C{size}-byte chunks, close cleanly."""
    proto, _ = connect(factory)
    feed(proto, data, size)
    close(proto)


class PoemTests(SynchronousTestCase):
    """L{Poem} keeps the bytes and decodes them leniently."""

    def test_text(self) -> None:
        """Valid UTF-8 decodes exactly and is flagged valid."""
        poem = Poem(NON_ASCII, Address("h", 1))
        self.assertEqual(poem.text, NON_ASCII.decode("utf-8"))
        self.assertTrue(poem.valid_utf8)
        self.assertFalse(poem.replaced)
        self.assertEqual(poem.size, len(NON_ASCII))

    def test_invalidUTF8(self) -> None:
        """Invalid bytes become U+FFFD in the text, the bytes stay exact."""
        poem = Poem(INVALID_UTF8, Address("h", 1))
        self.assertEqual(poem.data, INVALID_UTF8)
        self.assertIn("\ufffd", poem.text)
        self.assertTrue(poem.text.startswith("caf\ufffd au lait"))
        self.assertFalse(poem.valid_utf8)
        self.assertTrue(poem.replaced)

    def test_reprLeavesOutTheBytes(self) -> None:
        """The repr names the server, not the (maybe huge) poem."""
        r = repr(Poem(b"x" * 10000, Address("h", 1)))
        self.assertIn("Address(host='h', port=1)", r)
        self.assertNotIn("xxxx", r)

    def test_slotsAndDecodedOnce(self) -> None:
        """
        A L{Poem} has slots (no per-instance C{__dict__}) yet stays weakly
        referenceable, and its text is decoded once, on first use, and kept
        out of the repr and of equality (which stays identity).
        """
        poem = Poem(INVALID_UTF8, Address("h", 1))
        self.assertFalse(hasattr(poem, "__dict__"))
        self.assertIs(weakref.ref(poem)(), poem)
        text = poem.text
        self.assertIs(poem.text, text)
        self.assertFalse(poem.valid_utf8)
        self.assertNotIn("caf", repr(poem))
        self.assertNotEqual(poem, Poem(INVALID_UTF8, Address("h", 1)))


class ProtocolTests(SynchronousTestCase):
    """L{PoetryProtocol} reassembles the poem and judges how it ended."""

    def test_oneByteAtATime(self) -> None:
        """A poem fed one byte at a time arrives byte-identical."""
        d, factory, _, reactor = start()
        serve_fake(factory, POEM, 1)
        poem = self.successResultOf(d)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(poem.address, Address("127.0.0.1", 10001))
        self.assertEqual(poem.peer, Address("127.0.0.1", 10001))
        self.assertEqual(reactor.getDelayedCalls(), [])

    @settings(max_examples=60, deadline=None)
    @given(
        data=st.binary(min_size=1, max_size=3000),
        sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1),
    )
    def test_anyChunking(self, data: bytes, sizes: list[int]) -> None:
        """However the bytes are split into chunks, the poem is the same."""
        d, factory, _, reactor = start()
        proto, _ = connect(factory)
        pos, i = 0, 0
        while pos < len(data):
            size = sizes[i % len(sizes)]
            proto.dataReceived(data[pos : pos + size])
            pos += size
            i += 1
        close(proto)
        self.assertEqual(self.successResultOf(d).data, data)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_nonAscii(self) -> None:
        """Multi-byte characters split across chunks decode correctly."""
        d, factory, _, _ = start()
        serve_fake(factory, NON_ASCII, 1)
        poem = self.successResultOf(d)
        self.assertEqual(poem.text, NON_ASCII.decode())
        self.assertTrue(poem.valid_utf8)

    def test_elapsed(self) -> None:
        """
        Elapsed time runs from starting to connect to the end of the poem,
        not from the clock's zero: the clock reads 100 s when it starts.
        """
        reactor = MemoryReactorClock()
        reactor.advance(100)
        d, factory, _, reactor = start(reactor)
        reactor.advance(2)
        proto, _ = connect(factory)
        feed(proto, POEM[:10])
        reactor.advance(1.5)
        feed(proto, POEM[10:])
        close(proto)
        self.assertEqual(self.successResultOf(d).elapsed, 3.5)

    def test_empty(self) -> None:
        """A clean close with no bytes is L{EmptyPoem}, not a success."""
        d, factory, _, reactor = start()
        proto, _ = connect(factory)
        close(proto)
        self.failureResultOf(d, EmptyPoem)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_truncated(self) -> None:
        """An unclean close fails with L{PoemTruncated} and the bytes so far."""
        d, factory, _, reactor = start()
        proto, _ = connect(factory)
        feed(proto, POEM[:25])
        close(proto, ConnectionLost())
        error = self.failureResultOf(d, PoemTruncated).value
        self.assertEqual(error.partial, POEM[:25])
        self.assertEqual(error.received, 25)
        self.assertIsInstance(error.reason.value, ConnectionLost)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_protocolWithoutFactory(self) -> None:
        """The protocol alone buffers and ends without error."""
        proto = PoetryProtocol()
        self.assertEqual(proto.max_bytes, PoetryProtocol.MAX_BYTES)
        self.assertEqual(PoetryProtocol.MAX_BYTES, DEFAULT_MAX_BYTES)
        proto.makeConnection(StringTransport())
        feed(proto, POEM[:5])
        self.assertEqual(proto.partial(), POEM[:5])
        close(proto)
        self.assertEqual(proto.partial(), b"")


class MaxBytesTests(SynchronousTestCase):
    """A server sending more than C{max_bytes} is cut off."""

    def test_exactlyTheLimit(self) -> None:
        """A poem of exactly C{max_bytes} is accepted."""
        d, factory, _, _ = start(max_bytes=len(POEM))
        serve_fake(factory, POEM)
        self.assertEqual(self.successResultOf(d).data, POEM)

    def test_overTheLimit(self) -> None:
        """
        One byte over: the connection is aborted, the download fails with
        L{PoemTooLarge}, and nothing more is buffered.
        """
        d, factory, _, reactor = start(max_bytes=10)
        proto, transport = connect(factory)
        feed(proto, POEM[:10])
        self.assertNoResult(d)
        feed(proto, POEM[10:11])
        error = self.failureResultOf(d, PoemTooLarge).value
        self.assertEqual((error.limit, error.received), (10, 11))
        self.assertTrue(transport.disconnected)
        self.assertEqual(proto.partial(), b"")
        feed(proto, POEM[11:])  # ignored, and no second result
        self.assertEqual(proto.received, 11)
        close(proto, ConnectionAborted())
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_bigChunkCutBeforeBuffering(self) -> None:
        """A chunk that crosses the limit is not kept."""
        d, factory, _, _ = start(max_bytes=100)
        proto, _ = connect(factory)
        proto.dataReceived(b"x" * 50)
        proto.dataReceived(b"y" * 5000)
        self.assertEqual(self.failureResultOf(d, PoemTooLarge).value.received, 5050)
        self.assertIsNone(proto._chunks)

    def test_hookOverridable(self) -> None:
        """L{PoetryProtocol.poem_too_large} is a hook a subclass can replace."""
        calls = []

        class Lenient(PoetryProtocol):
            def poem_too_large(self) -> None:
                calls.append(self.received)

        factory = PoetryClientFactory(
            Address("127.0.0.1", 1), clock=MemoryReactorClock(), max_bytes=3
        )
        factory.protocol = Lenient
        proto, transport = connect(factory)
        feed(proto, b"abcd")
        self.assertEqual(calls, [4])
        self.assertFalse(transport.disconnected)


class FailureTests(SynchronousTestCase):
    """Connection failures become L{PoemConnectionFailed}."""

    def test_refused(self) -> None:
        """A refused connection names host:port and keeps the failure."""
        d, factory, connector, reactor = start(port=1)
        reason = Failure(ConnectionRefusedError())
        factory.clientConnectionFailed(connector, reason)
        error = self.failureResultOf(d, PoemConnectionFailed).value
        self.assertEqual(str(error), "127.0.0.1:1: connection refused")
        self.assertIs(error.reason, reason)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_resetBeforeSeenConnected(self) -> None:
        """
        A reset in place of the connect's result (Twisted's C{ConnectError}
        for C{ECONNRESET}: the server accepted and reset the connection
        before the reactor saw it made) is a poem truncated after 0 bytes,
        as the reset of a made connection is, not a connection that could
        not be made; still retryable.
        """
        d, factory, connector, reactor = start(port=1)
        reset = errno.ECONNRESET
        reason = Failure(getConnectError((reset, os.strerror(reset))))
        factory.clientConnectionFailed(connector, reason)
        error = self.failureResultOf(d, PoemTruncated).value
        self.assertEqual(
            str(error), "127.0.0.1:1: poem truncated after 0 bytes (ConnectionLost)"
        )
        self.assertEqual(error.partial, b"")
        self.assertTrue(error.retryable)
        self.assertIsInstance(error.reason.value, ConnectionLost)
        self.assertIn(os.strerror(reset), str(error.reason.value))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_unresolvable(self) -> None:
        """A DNSLookupError reads "cannot resolve HOST"."""
        reactor = MemoryReactorClock()
        reactor.installNameResolver(FakeResolver({}))  # resolves nothing
        d = get_poem("nosuchhost.invalid", 10001, reactor=reactor)
        self.assertEqual(reactor.tcpClients, [])
        error = self.failureResultOf(d, PoemConnectionFailed).value
        self.assertEqual(str(error), "cannot resolve nosuchhost.invalid")
        self.assertIsInstance(error.reason.value, DNSLookupError)
        self.assertFalse(error.retryable)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_badLimits(self) -> None:
        """
        A timeout that is not a positive finite number, or a max_bytes that
        is not a whole number >= 1, is a ValueError or TypeError at once.
        """
        reactor = MemoryReactorClock()
        for kw in (
            {"timeout": 0},
            {"timeout": -1},
            {"timeout": float("inf")},
            {"timeout": float("nan")},
            {"timeout": -float("inf")},
            {"max_bytes": 0},
            {"max_bytes": -5},
        ):
            with self.assertRaises(ValueError, msg=repr(kw)):
                get_poem("127.0.0.1", 1, reactor=reactor, **kw)
        for kw in (
            {"timeout": "5"},
            {"timeout": True},
            {"max_bytes": float("nan")},
            {"max_bytes": float("inf")},
            {"max_bytes": 100.0},
            {"max_bytes": "100"},
            {"max_bytes": True},
        ):
            with self.assertRaises(TypeError, msg=repr(kw)):
                get_poem("127.0.0.1", 1, reactor=reactor, **kw)
        self.assertEqual(reactor.tcpClients, [])

    def test_badHosts(self) -> None:
        """
        An empty host, a host with NUL or white space, a label longer than
        63 characters, a name longer than 253, a bracketed IPv6 literal, or
        a port out of range is an L{AddressError} (a ValueError) at once;
        a host or port of the wrong type a TypeError.  Nothing connects.
        """
        reactor = MemoryReactorClock()
        for host, port, problem in (
            ("", 1, "empty host"),
            ("a\x00b", 1, "NUL"),
            ("bad host", 1, "white space"),
            (" 127.0.0.1", 1, "white space"),
            ("a" * 64 + ".example", 1, "label longer than 63"),
            ("a." * 127 + "ab", 1, "longer than 253"),
            ("[::1]", 1, "without brackets"),
            ("exa/mple", 1, "not a valid host name"),
            ("127.0.0.1", 0, "out of range"),
            ("127.0.0.1", 65536, "out of range"),
        ):
            with self.assertRaises(AddressError, msg=repr(host)) as caught:
                get_poem(host, port, reactor=reactor, timeout=None)
            self.assertIn(problem, str(caught.exception))
        for host, port in ((b"127.0.0.1", 1), (None, 1), ("127.0.0.1", "1")):
            with self.assertRaises(TypeError):
                get_poem(host, port, reactor=reactor)  # type: ignore[arg-type]
        self.assertEqual(reactor.tcpClients, [])
        # The longest valid names are accepted.
        get_poem("a" * 63 + ".example", 1, reactor=reactor)
        get_poem(("a" * 63 + ".") * 3 + "a" * 61, 1, reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 2)

    def test_ipv6Literal(self) -> None:
        """An IPv6 literal host is passed to connectTCP as it is."""
        reactor = MemoryReactorClock()
        d = get_poem("::1", 10001, reactor=reactor)
        self.assertEqual(reactor.tcpClients[0][:2], ("::1", 10001))
        factory = reactor.tcpClients[0][2]
        proto = factory.buildProtocol(IPv6Address("TCP", "::1", 10001))
        proto.makeConnection(
            StringTransport(peerAddress=IPv6Address("TCP", "::1", 10001))
        )
        feed(proto, POEM, 64)
        close(proto)
        poem = self.successResultOf(d)
        self.assertEqual(str(poem.address), "[::1]:10001")
        self.assertEqual(poem.peer, Address("::1", 10001))


class TimeoutTests(SynchronousTestCase):
    """The timeout covers connecting plus downloading and never outlives it."""

    def test_connectorHasNoTimeoutOfItsOwn(self) -> None:
        """connectTCP's own timeout is off: ours covers connecting."""
        _, _, _, reactor = start(timeout=5)
        self.assertIsNone(reactor.tcpClients[0][3])

    def test_whileConnecting(self) -> None:
        """
        Expiry while connecting stops connecting and fails with
        L{PoemTimeout} after exactly the timeout.
        """
        d, _, connector, reactor = start(timeout=5.0)
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        reactor.advance(4.999)
        self.assertNoResult(d)
        reactor.advance(0.001)
        error = self.failureResultOf(d, PoemTimeout).value
        self.assertEqual((error.seconds, error.received), (5.0, 0))
        self.assertTrue(connector.stoppedConnecting)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_whileReading(self) -> None:
        """
        Expiry while a server stalls aborts the connection; the error carries
        the bytes received so far; later bytes and the close are ignored.
        """
        d, factory, connector, reactor = start(timeout=5.0)
        proto, transport = connect(factory)
        feed(proto, POEM[:7])
        reactor.advance(5)
        error = self.failureResultOf(d, PoemTimeout).value
        self.assertEqual(error.partial, POEM[:7])
        self.assertEqual(
            str(error), "127.0.0.1:10001: timed out after 5.0 s with 7 bytes received"
        )
        self.assertTrue(transport.disconnected)
        self.assertFalse(connector.stoppedConnecting)
        feed(proto, POEM[7:])
        close(proto, ConnectionAborted())
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_coversConnectPlusDownload(self) -> None:
        """Time spent connecting counts against the same timeout."""
        d, factory, _, reactor = start(timeout=5.0)
        reactor.advance(3)
        proto, _ = connect(factory)
        feed(proto, POEM[:3])
        reactor.advance(1.9)
        self.assertNoResult(d)
        reactor.advance(0.1)
        self.failureResultOf(d, PoemTimeout)

    def test_cancelledAfterSuccess(self) -> None:
        """A poem that arrives in time leaves no DelayedCall behind."""
        d, factory, _, reactor = start(timeout=5.0)
        serve_fake(factory, POEM)
        self.successResultOf(d)
        self.assertEqual(reactor.getDelayedCalls(), [])
        reactor.advance(10)  # nothing fires later

    def test_cancelledAfterFailure(self) -> None:
        """Every failure also cancels the timeout."""
        for end in (ConnectionLost(), ConnectionDone()):
            d, factory, _, reactor = start(timeout=5.0)
            proto, _ = connect(factory)
            close(proto, end)
            self.assertIsNotNone(self.failureResultOf(d))
            self.assertEqual(reactor.getDelayedCalls(), [])

    def test_noTimeout(self) -> None:
        """
        C{timeout=None} is no limit at all: no DelayedCall of ours, and the
        connector's own connect timeout (Twisted's default 30 s) is off too.
        """
        d, factory, _, reactor = start(timeout=None)
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertIsNone(reactor.tcpClients[0][3])
        serve_fake(factory, POEM)
        self.assertEqual(self.successResultOf(d).data, POEM)

    def test_noTimeoutWithTwistedsConnector(self) -> None:
        """
        With Twisted's own connector (L{BaseConnector}) and C{timeout=None},
        a connection attempt that never completes is still waiting after an
        hour: nothing schedules a timeout.
        """
        reactor = ConnectingReactor()
        d = get_poem("127.0.0.1", 10001, timeout=None, reactor=reactor)
        self.assertEqual(reactor.getDelayedCalls(), [])
        reactor.advance(3600)
        self.assertNoResult(d)
        proto = reactor.pending().accept()
        feed(proto, POEM, 64)
        reactor.pending().connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.successResultOf(d).data, POEM)

    def test_lateConnectAfterTimeoutRefused(self) -> None:
        """A connection completing after the timeout gets no protocol."""
        d, factory, _, reactor = start(timeout=1.0)
        reactor.advance(1)
        self.failureResultOf(d, PoemTimeout)
        self.assertIsNone(factory.buildProtocol(SERVER))
        # and our own stopConnecting's clientConnectionFailed is ignored
        factory.clientConnectionFailed(None, Failure(UserError()))


class CancelTests(SynchronousTestCase):
    """Cancelling the Deferred stops the download."""

    def test_whileConnecting(self) -> None:
        """Cancel before connecting: stopConnecting and CancelledError."""
        d, _, connector, reactor = start()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(connector.stoppedConnecting)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_whileReading(self) -> None:
        """Cancel mid-poem: the transport is aborted; the close is ignored."""
        d, factory, _, reactor = start()
        proto, transport = connect(factory)
        feed(proto, POEM[:9])
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(transport.disconnected)
        close(proto, ConnectionAborted())
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_afterResultIsHarmless(self) -> None:
        """Cancelling a finished download changes nothing."""
        d, factory, _, _ = start()
        serve_fake(factory, POEM)
        d.cancel()
        self.assertEqual(self.successResultOf(d).data, POEM)


class FactoryTests(SynchronousTestCase):
    """The factory connects one attempt to one result, then lets go."""

    def test_dropsReferences(self) -> None:
        """After the result fires the factory holds no protocol or connector."""
        d, factory, _, _ = start()
        serve_fake(factory, POEM)
        self.successResultOf(d)
        self.assertIsNone(factory.deferred)
        self.assertIsNone(factory._protocol)
        self.assertIsNone(factory._connector)
        self.assertIsNone(factory._timeout_entry)
        self.assertEqual(len(factory.timeouts), 0)

    def test_firesOnce(self) -> None:
        """A failure after the result (late connectionFailed) is ignored."""
        d, factory, connector, _ = start()
        serve_fake(factory, POEM)
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))
        factory.clientConnectionLost(connector, Failure(ConnectionLost()))
        self.assertEqual(self.successResultOf(d).data, POEM)

    def test_notNoisy(self) -> None:
        """No "Starting factory" log line for every download."""
        self.assertFalse(PoetryClientFactory.noisy)

    def test_fromCoroutine(self) -> None:
        """get_poem can be awaited from async def code."""
        reactor = MemoryReactorClock()

        async def fetch() -> str:
            poem = await get_poem("127.0.0.1", 10001, reactor=reactor)
            return poem.text.upper()

        d = Deferred.fromCoroutine(fetch())
        serve_fake(reactor.tcpClients[0][2], POEM, 8)
        self.assertEqual(self.successResultOf(d), POEM.decode().upper())


class TraceHookTests(SynchronousTestCase):
    """A tracer is given each callback with its details."""

    def test_details(self) -> None:
        """Chunk sizes, peer/host labels and clean flags are recorded."""
        tracer = Recorder()
        d, factory, _, _ = start(tracer=tracer, task=7, timeout=5)
        proto, _ = connect(factory)
        feed(proto, POEM[:6], 3)
        close(proto)
        self.successResultOf(d)
        got = [(s, n, detail) for t, s, n, detail in tracer.events if t == 7]
        self.assertEqual(
            got,
            [
                ("factory", "startedConnecting", {"destination": "127.0.0.1:10001"}),
                ("timeout", "scheduled", {"seconds": 5}),
                ("factory", "buildProtocol", {"address": "127.0.0.1:10001"}),
                ("protocol", "makeConnection", {}),
                (
                    "protocol",
                    "connectionMade",
                    {"peer": "127.0.0.1:10001", "host": "127.0.0.1:54321"},
                ),
                ("protocol", "dataReceived", {"bytes": 3}),
                ("protocol", "dataReceived", {"bytes": 3}),
                (
                    "protocol",
                    "connectionLost",
                    {"reason": "ConnectionDone", "clean": True},
                ),
                ("timeout", "cancelled", {}),
            ],
        )

    def test_timeoutFired(self) -> None:
        """A timeout's firing is recorded, then the unclean close."""
        tracer = Recorder()
        d, factory, _, reactor = start(tracer=tracer, timeout=2)
        proto, _ = connect(factory)
        reactor.advance(2)
        close(proto, ConnectionAborted())
        self.failureResultOf(d, PoemTimeout)
        self.assertEqual(
            tracer.events[-2:],
            [
                (1, "timeout", "fired", {"seconds": 2}),
                (
                    1,
                    "protocol",
                    "connectionLost",
                    {"reason": "ConnectionAborted", "clean": False},
                ),
            ],
        )


def complete_all(
    reactor: MemoryReactorClock, done: set[int], data: bytes = POEM
) -> int:
    """Serve every connection attempt not served yet; return how many."""
    n = 0
    for i, (_, _, factory, _, _) in enumerate(reactor.tcpClients):
        if i not in done:
            done.add(i)
            serve_fake(factory, data, len(data))
            n += 1
    return n


class GetPoemsTests(SynchronousTestCase):
    """L{get_poems} runs many downloads and reports each in input order."""

    def test_inputOrder(self) -> None:
        """
        Outcomes come back in input order whatever order downloads end in;
        C{on_outcome} sees them as they end.
        """
        reactor = MemoryReactorClock()
        seen: list[int] = []
        d = get_poems(
            ["10001", "10002", "10003"],
            reactor=reactor,
            on_outcome=lambda o: seen.append(o.index),
        )
        factories = [c[2] for c in reactor.tcpClients]
        for i in (2, 0, 1):
            serve_fake(factories[i], b"poem %d\n" % i)
        outcomes = self.successResultOf(d)
        self.assertEqual(
            [o.poem.data for o in outcomes if o.poem],
            [b"poem 0\n", b"poem 1\n", b"poem 2\n"],
        )
        self.assertEqual([o.task for o in outcomes], [1, 2, 3])
        self.assertEqual([o.address.port for o in outcomes], [10001, 10002, 10003])
        self.assertEqual(seen, [2, 0, 1])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_failureDoesNotStopOthers(self) -> None:
        """One refused connection; the others still arrive."""
        reactor = MemoryReactorClock()
        d = get_poems([("127.0.0.1", 1), Address("127.0.0.1", 2)], reactor=reactor)
        (_, _, f1, _, _), (_, _, f2, _, _) = reactor.tcpClients
        f1.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.assertNoResult(d)
        serve_fake(f2, POEM)
        first, second = self.successResultOf(d)
        self.assertFalse(first.ok)
        self.assertIsInstance(first.error, PoemConnectionFailed)
        self.assertIsNone(first.poem)
        self.assertTrue(second.ok)
        self.assertEqual(second.received, len(POEM))

    def test_concurrency(self) -> None:
        """
        With C{concurrency=2} only two connect at once, and a queued
        download's timeout does not start until it does.
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2", "3", "4", "5"], concurrency=2, reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 2)
        # Two timeouts pending, on one shared timer: none for the queued.
        timeouts = reactor.tcpClients[0][2].timeouts
        self.assertIs(reactor.tcpClients[1][2].timeouts, timeouts)
        self.assertEqual(len(timeouts), 2)
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        serve_fake(reactor.tcpClients[1][2], POEM)
        self.assertEqual([c[1] for c in reactor.tcpClients], [1, 2, 3])
        done = {1}
        for _ in range(10):  # bounded: a regression fails, never spins
            if not complete_all(reactor, done):
                break
        else:
            self.fail("connection attempts never stopped")
        self.assertEqual(len(self.successResultOf(d)), 5)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_timeoutPerDownload(self) -> None:
        """
        Each download has its own timeout, started when it starts.  (With
        Twisted's own connector, whose stopConnecting reports the attempt
        failed at once, so the slot is free at once.)
        """
        reactor = ConnectingReactor()
        d = get_poems(["1", "2"], concurrency=1, timeout=3, reactor=reactor)
        reactor.advance(3)
        self.assertEqual(len(reactor.tcpClients), 2)
        reactor.advance(2)
        serve_fake(reactor.tcpClients[1][2], POEM)
        first, second = self.successResultOf(d)
        self.assertIsInstance(first.error, PoemTimeout)
        self.assertEqual((first.elapsed, second.elapsed), (3, 2))

    def test_onData(self) -> None:
        """C{on_data} is told each chunk's size and which download it is."""
        reactor = MemoryReactorClock()
        chunks: list[tuple[int, int]] = []
        get_poems(
            ["1", "2"], reactor=reactor, on_data=lambda i, n: chunks.append((i, n))
        )
        serve_fake(reactor.tcpClients[1][2], b"abcde", 2)
        self.assertEqual(chunks, [(1, 2), (1, 2), (1, 1)])

    def test_cancel(self) -> None:
        """
        Cancelling stops running downloads, never starts queued ones, and
        fires with every outcome: the unfinished ones L{CancelledError}.
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2", "3", "4"], concurrency=2, reactor=reactor)
        serve_fake(reactor.tcpClients[0][2], POEM)
        _, transport = connect(reactor.tcpClients[1][2])
        d.cancel()
        outcomes = self.successResultOf(d)
        self.assertTrue(outcomes[0].ok)
        for o in outcomes[1:]:
            self.assertIsInstance(o.error, CancelledError)
        self.assertTrue(transport.disconnected)
        self.assertTrue(reactor.connectors[2].stoppedConnecting)
        self.assertEqual(len(reactor.tcpClients), 3)  # the 4th never started
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_sameTextParsedOnce(self) -> None:
        """
        Each distinct address text is parsed once however often it repeats,
        and every download still gets its own outcome with that address.
        """
        calls: list[str] = []
        parse = client_api.parse_address

        def counting(text: str) -> Address:
            calls.append(text)
            return parse(text)

        self.patch(client_api, "parse_address", counting)
        reactor = MemoryReactorClock()
        d = get_poems(["10001"] * 5 + ["h:2"] * 3, reactor=reactor)
        self.assertEqual(sorted(calls), ["10001", "h:2"])
        # MemoryReactorClock's resolver gives 127.0.0.1 for every name.
        self.assertEqual(
            [(c[0], c[1]) for c in reactor.tcpClients],
            [("127.0.0.1", 10001)] * 5 + [("127.0.0.1", 2)] * 3,
        )
        complete_all(reactor, set())
        outcomes = self.successResultOf(d)
        self.assertEqual([o.task for o in outcomes], list(range(1, 9)))
        self.assertEqual(
            [o.address for o in outcomes],
            [Address("127.0.0.1", 10001)] * 5 + [Address("h", 2)] * 3,
        )

    def test_startFailsSynchronously(self) -> None:
        """
        A download that fails as it starts (C{connectTCP} raising) becomes
        that download's outcome, hands its slot to the next address, and
        never lets more than C{concurrency} run at once.
        """

        class Refusing(MemoryReactorClock):
            def connectTCP(  # type: ignore[override]
                self, host: str, port: int, factory: Any, timeout: float = 30
            ) -> Any:
                if port == 1:
                    raise RuntimeError("no")
                return super().connectTCP(host, port, factory, timeout)

        reactor = Refusing()
        d = get_poems(["1", "2", "3", "4"], concurrency=2, reactor=reactor)
        self.assertEqual([c[1] for c in reactor.tcpClients], [2, 3])
        done: set[int] = set()
        for _ in range(10):  # bounded: a regression fails, never spins
            if not complete_all(reactor, done):
                break
        else:
            self.fail("connection attempts never stopped")
        self.assertEqual([c[1] for c in reactor.tcpClients], [2, 3, 4])
        outcomes = self.successResultOf(d)
        self.assertIsInstance(outcomes[0].error, RuntimeError)
        self.assertEqual([o.ok for o in outcomes], [False, True, True, True])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_empty(self) -> None:
        """No addresses: an empty list at once."""
        self.assertEqual(
            self.successResultOf(get_poems([], reactor=MemoryReactorClock())), []
        )

    def test_badArguments(self) -> None:
        """Bad address text or concurrency fail before anything starts."""
        reactor = MemoryReactorClock()
        with self.assertRaises(AddressError):
            get_poems(["10001", "abc"], reactor=reactor)
        for name in ("concurrency", "per_server"):
            for value in (0, -1):
                with self.assertRaises(ValueError):
                    get_poems(["10001"], reactor=reactor, **{name: value})
            for bad in (1.5, 2.0, True, "3", float("inf"), float("nan")):
                with self.assertRaises(TypeError, msg=f"{name}={bad!r}"):
                    get_poems(["10001"], reactor=reactor, **{name: bad})
        for kw in ({"timeout": float("inf")}, {"timeout": float("nan")}):
            with self.assertRaises(ValueError):
                get_poems(["10001"], reactor=reactor, **kw)
        with self.assertRaises(TypeError):
            get_poems(["10001"], reactor=reactor, max_bytes=float("nan"))
        self.assertEqual(reactor.tcpClients, [])

    def test_stringIsNotAListOfAddresses(self) -> None:
        """
        C{get_poems("12345")} is a TypeError, not five downloads from ports
        1 to 5; so are bytes and elements that are not addresses.
        """
        reactor = MemoryReactorClock()
        for bad in ("12345", b"12345"):
            with self.assertRaises(TypeError) as caught:
                get_poems(bad, reactor=reactor)  # type: ignore[arg-type]
            self.assertIn("not a single", str(caught.exception))
        for element in (10001, None, ("h",), ("h", 1, 2), [("h", 1)]):
            with self.assertRaises(TypeError):
                get_poems([element], reactor=reactor)  # type: ignore[list-item]
        self.assertEqual(reactor.tcpClients, [])

    def test_badHostsInPairsAndAddresses(self) -> None:
        """
        Pairs and L{Address} objects are checked like address text: an
        empty host, NUL, a 64-character label or a bad port fail at once.
        """
        reactor = MemoryReactorClock()
        for bad in (
            ("", 1),
            ("a\x00", 1),
            ("a" * 64, 1),
            ("h", 0),
            Address("", 1),
            Address("h h", 1),
            Address("a" * 64, 1),
        ):
            with self.assertRaises(AddressError, msg=repr(bad)):
                get_poems(["10001", bad], reactor=reactor)  # type: ignore[list-item]
        with self.assertRaises(TypeError):
            get_poems([("h", "1")], reactor=reactor)  # type: ignore[list-item]
        self.assertEqual(reactor.tcpClients, [])

    def test_brokenOnOutcomeIsLogged(self) -> None:
        """A failing C{on_outcome} is logged and does not stop the run."""
        reactor = MemoryReactorClock()

        def broken(outcome: DownloadResult) -> None:
            raise RuntimeError("oops")

        d = get_poems(["1", "2"], reactor=reactor, on_outcome=broken)
        complete_all(reactor, set())
        self.assertEqual(len(self.successResultOf(d)), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_tasksNumberTheTrace(self) -> None:
        """Each download's trace events carry its 1-based task number."""
        reactor = MemoryReactorClock()
        tracer = Recorder()
        get_poems(["1", "2"], reactor=reactor, tracer=tracer)
        self.assertEqual(
            [(t, n) for t, _, n, _ in tracer.events if n == "startedConnecting"],
            [(1, "startedConnecting"), (2, "startedConnecting")],
        )

    def test_tenThousand(self) -> None:
        """
        10,000 addresses (distinct servers) with C{concurrency=100}
        complete, never more than 100 in flight.
        """
        reactor = MemoryReactorClock()
        d = get_poems(
            [str(1 + i % 60000) for i in range(10000)],
            concurrency=100,
            reactor=reactor,
        )
        done: set[int] = set()
        rounds = 0
        while rounds < 200:
            self.assertLessEqual(len(reactor.tcpClients) - len(done), 100)
            if not complete_all(reactor, done, b"x"):
                break
            rounds += 1
        outcomes = self.successResultOf(d)
        self.assertEqual(len(outcomes), 10000)
        self.assertTrue(all(o.ok for o in outcomes))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_cancelTenThousandQueued(self) -> None:
        """Cancelling with thousands queued ends them all at once."""
        reactor = MemoryReactorClock()
        d = get_poems(["1"] * 10000, concurrency=10, reactor=reactor)
        d.cancel()
        outcomes = self.successResultOf(d)
        self.assertTrue(all(isinstance(o.error, CancelledError) for o in outcomes))
        self.assertEqual(len(reactor.tcpClients), 10)
        self.assertEqual(reactor.getDelayedCalls(), [])


class SlotTests(SynchronousTestCase):
    """
    A download's slot is handed on only once its connection is really
    closed, not when its result fires, and the per-server and total caps
    hold.
    """

    def test_timedOutSlotHeldUntilConnectionLost(self) -> None:
        """
        A connected download that times out is reported at once, but the
        next address is not tried until the aborted connection's
        connectionLost: its socket is still open until then.
        """
        reactor = MemoryReactorClock()
        seen: list[int] = []
        d = get_poems(
            ["1", "2"],
            concurrency=1,
            timeout=1,
            reactor=reactor,
            on_outcome=lambda o: seen.append(o.index),
        )
        proto, transport = connect(reactor.tcpClients[0][2])
        reactor.advance(1)
        self.assertEqual(seen, [0])
        self.assertTrue(transport.disconnected)  # aborted
        self.assertEqual(len(reactor.tcpClients), 1)
        close(proto, ConnectionAborted())
        self.assertEqual([c[1] for c in reactor.tcpClients], [1, 2])
        serve_fake(reactor.tcpClients[1][2], POEM)
        first, second = self.successResultOf(d)
        self.assertIsInstance(first.error, PoemTimeout)
        self.assertTrue(second.ok)

    def test_timedOutAttemptSlotHeldUntilConnectionFailed(self) -> None:
        """
        A download that times out while connecting holds its slot until
        the connector reports the stopped attempt (clientConnectionFailed).
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2"], concurrency=1, timeout=1, reactor=reactor)
        reactor.advance(1)
        connector = reactor.connectors[0]
        self.assertTrue(connector.stoppedConnecting)
        self.assertEqual(len(reactor.tcpClients), 1)
        reactor.tcpClients[0][2].clientConnectionFailed(connector, Failure(UserError()))
        self.assertEqual(len(reactor.tcpClients), 2)
        serve_fake(reactor.tcpClients[1][2], POEM)
        self.assertEqual([o.ok for o in self.successResultOf(d)], [False, True])

    def test_slotFreedAfterBothEnds(self) -> None:
        """
        Whichever comes first, the result or the close, the slot is freed
        after the second: a poem too large (result first, close later) and
        a refused attempt (both at once) each hand on exactly one slot.
        """
        reactor = MemoryReactorClock()
        d = get_poems(["1", "2", "3"], concurrency=1, max_bytes=3, reactor=reactor)
        proto, transport = connect(reactor.tcpClients[0][2])
        proto.dataReceived(b"abcd")
        self.assertTrue(transport.disconnected)
        self.assertEqual(len(reactor.tcpClients), 1)
        close(proto, ConnectionAborted())
        self.assertEqual(len(reactor.tcpClients), 2)
        reactor.tcpClients[1][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )
        self.assertEqual(len(reactor.tcpClients), 3)
        serve_fake(reactor.tcpClients[2][2], b"xyz")
        outcomes = self.successResultOf(d)
        self.assertIsInstance(outcomes[0].error, PoemTooLarge)
        self.assertIsInstance(outcomes[1].error, PoemConnectionFailed)
        self.assertTrue(outcomes[2].ok)

    def test_withTwistedsConnector(self) -> None:
        """
        With Twisted's own connector and transport model (an abort loses
        the connection a reactor turn later), 6 stalled downloads at
        concurrency 2 are all tried, and no connection attempt is made
        while 2 sockets are still open.
        """

        class Counting(ConnectingReactor):
            peak = 0

            def open(self) -> int:
                return sum(
                    1
                    for c in self.connectors
                    if (t := cast(FakeConnector, c).transport) is not None
                    and not t.over
                )

            def connectTCP(self, *a: Any, **kw: Any) -> FakeConnector:  # type: ignore[override]
                self.peak = max(self.peak, self.open() + 1)
                return super().connectTCP(*a, **kw)

        reactor = Counting()
        d = get_poems(["1"] * 6, concurrency=2, timeout=1, reactor=reactor)
        accepted = 0
        for _ in range(10):
            for connector in reactor.connectors:
                transport = cast(FakeConnector, connector).transport
                if transport is not None and not (
                    transport.connected or transport.over
                ):
                    transport.accept()
                    accepted += 1
            reactor.advance(1)
        outcomes = self.successResultOf(d)
        self.assertEqual(accepted, 6)
        self.assertEqual(reactor.peak, 2)
        self.assertTrue(all(isinstance(o.error, PoemTimeout) for o in outcomes))
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_perServerCap(self) -> None:
        """
        At most C{per_server} run to one server; the others' downloads go
        ahead meanwhile, and freed slots go to the earliest waiting address
        that may start.
        """
        reactor = MemoryReactorClock()
        targets = ["1"] * 5 + ["2"] * 5
        d = get_poems(targets, concurrency=3, per_server=2, reactor=reactor)
        self.assertEqual([c[1] for c in reactor.tcpClients], [1, 1, 2])
        serve_fake(reactor.tcpClients[0][2], POEM)  # a server-1 slot frees
        self.assertEqual([c[1] for c in reactor.tcpClients], [1, 1, 2, 1])
        serve_fake(reactor.tcpClients[2][2], POEM)  # a server-2 slot frees
        self.assertEqual([c[1] for c in reactor.tcpClients], [1, 1, 2, 1, 2])
        done: set[int] = {0, 2}
        rounds = 0
        while rounds < 20:
            per_server: dict[int, int] = {}
            for i, c in enumerate(reactor.tcpClients):
                if i not in done:
                    per_server[c[1]] = per_server.get(c[1], 0) + 1
            self.assertLessEqual(max(per_server.values(), default=0), 2)
            self.assertLessEqual(sum(per_server.values()), 3)
            if not complete_all(reactor, done):
                break
            rounds += 1
        outcomes = self.successResultOf(d)
        self.assertEqual([o.address.port for o in outcomes], [1] * 5 + [2] * 5)
        self.assertTrue(all(o.ok for o in outcomes))

    def test_defaults(self) -> None:
        """
        By default at most L{poetry.client.DEFAULT_PER_SERVER} (20) run to one
        server and L{poetry.client.DEFAULT_CONCURRENCY} (100) in all.
        """
        self.assertEqual(
            (client_api.DEFAULT_PER_SERVER, client_api.DEFAULT_CONCURRENCY), (20, 100)
        )
        reactor = MemoryReactorClock()
        get_poems(["1"] * 1000, reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 20)
        reactor = MemoryReactorClock()
        get_poems([str(p) for p in range(1, 1001)], reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 100)

    def test_concurrencyRaisesAndLowers(self) -> None:
        """
        C{concurrency} raises or lowers the total; C{per_server} the
        per-server cap; L{None} lifts either.
        """
        for kw, started in (
            ({"concurrency": 5}, 5),
            ({"concurrency": 300}, 20),
            ({"concurrency": 300, "per_server": 250}, 250),
            ({"concurrency": None, "per_server": None}, 1000),
            ({"per_server": None}, 100),
            ({"per_server": 3}, 3),
        ):
            reactor = MemoryReactorClock()
            get_poems(["1"] * 1000, reactor=reactor, **kw)
            self.assertEqual(len(reactor.tcpClients), started, kw)

    def test_manySynchronousFailures(self) -> None:
        """
        10,000 downloads that all fail as they start (connectTCP raising)
        end without recursion, one slot at a time.
        """

        class Refusing(MemoryReactorClock):
            def connectTCP(self, *a: Any, **kw: Any) -> Any:  # type: ignore[override]
                raise RuntimeError("no")

        d = get_poems(["1"] * 10000, concurrency=1, reactor=Refusing())
        outcomes = self.successResultOf(d)
        self.assertEqual(len(outcomes), 10000)
        self.assertTrue(all(isinstance(o.error, RuntimeError) for o in outcomes))


class CallbackErrorTests(SynchronousTestCase):
    """An exception from C{on_data} is the caller's bug, reported as such."""

    def test_onDataRaises(self) -> None:
        """
        The download fails with L{PoemCallbackError} carrying the original
        exception (not L{PoemTruncated}), the error is logged, and the
        connection is aborted.
        """

        def broken(n: int) -> None:
            raise KeyError("oops")

        d, factory, _, reactor = start(on_data=broken)
        proto, transport = connect(factory)
        proto.dataReceived(b"abc")
        error = self.failureResultOf(d, PoemCallbackError).value
        self.assertIsInstance(error, PoemError)
        self.assertNotIsInstance(error, PoemTruncated)
        self.assertIsInstance(error.error, KeyError)
        self.assertEqual(error.received, 3)
        self.assertEqual(
            str(error), "127.0.0.1:10001: the on_data callback raised KeyError: 'oops'"
        )
        self.assertTrue(transport.disconnected)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        proto.dataReceived(b"more")  # ignored
        close(proto, ConnectionAborted())
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_onDataRaisesInGetPoems(self) -> None:
        """
        In get_poems, only that download fails (PoemCallbackError); the
        others go on.
        """

        def on_data(index: int, n: int) -> None:
            if index == 0:
                raise ValueError("bad")

        reactor = MemoryReactorClock()
        d = get_poems(["1", "2"], reactor=reactor, on_data=on_data)
        complete_all(reactor, set())
        first, second = self.successResultOf(d)
        self.assertIsInstance(first.error, PoemCallbackError)
        self.assertTrue(second.ok)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class ProcessStateTests(SynchronousTestCase):
    """The library never changes process-wide state."""

    def test_noRlimitChange(self) -> None:
        """
        get_poems never calls setrlimit, however many addresses and however
        low the soft descriptor limit: raising it is the program's business.
        """
        calls: list[object] = []
        self.patch(resource, "getrlimit", lambda which: (256, 100000))
        self.patch(resource, "setrlimit", lambda *a: calls.append(a))
        reactor = MemoryReactorClock()
        get_poems(["1"] * 5000, concurrency=5000, per_server=None, reactor=reactor)
        get_poem("127.0.0.1", 1, reactor=reactor)
        self.assertEqual(calls, [])
        self.assertEqual(len(reactor.tcpClients), 5001)


# -- real sockets ---------------------------------------------------------------


def serve(
    case: TestCase,
    *poems: bytes,
    delay: float | None = None,
    chunk_size: int = 16,
    interface: str = "127.0.0.1",
) -> tuple[Address, PoetryServerFactory]:
    """Run the project's server on a free port for the length of the test."""
    from twisted.internet import reactor

    factory = PoetryServerFactory(
        PoemLibrary([PoemFile(f"p{i}", p) for i, p in enumerate(poems or (POEM,))]),
        delay=delay,
        chunk_size=chunk_size,
        reactor=reactor,
    )
    port = reactor.listenTCP(0, factory, interface=interface)
    case.addCleanup(factory.drain, 5.0)
    case.addCleanup(port.stopListening)
    return Address(interface, port.getHost().port), factory


class _ScriptedServer(Protocol):
    """A test server connection that runs the factory's script, then waits."""

    def connectionMade(self) -> None:
        self.lost: Deferred[None] = Deferred()
        self.factory.connections.append(self)
        self.factory.script(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.callback(None)


class _ScriptedFactory(ServerFactory):
    protocol = _ScriptedServer

    def __init__(self, script: Any) -> None:
        self.script = script
        self.connections: list[_ScriptedServer] = []


def serve_scripted(case: TestCase, script: Any) -> tuple[Address, _ScriptedFactory]:
    """
    Serve with C{script(serverProtocol)} run on each connection; at cleanup,
    wait for every server connection to be gone.
    """
    from twisted.internet import reactor

    factory = _ScriptedFactory(script)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")

    def wait_for_connections() -> Deferred[Any]:
        for c in factory.connections:
            if not c.lost.called:
                c.transport.abortConnection()
        return gatherResults([c.lost for c in factory.connections])

    case.addCleanup(wait_for_connections)
    case.addCleanup(port.stopListening)
    return Address("127.0.0.1", port.getHost().port), factory


def closed_port(case: TestCase) -> Deferred[int]:
    """A port on 127.0.0.1 nothing listens on (just closed)."""
    from twisted.internet import reactor

    port = reactor.listenTCP(0, ServerFactory(), interface="127.0.0.1")
    number = port.getHost().port
    return defer.maybeDeferred(port.stopListening).addCallback(lambda _: number)


class RealServerTests(TestCase):
    """Poems fetched over loopback sockets from the project's server."""

    async def test_onePoem(self) -> None:
        """One poem arrives byte-identical, with its peer address."""
        address, _ = serve(self, POEM)
        poem = await get_poem(address.host, address.port, timeout=10)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(poem.peer, address)
        self.assertTrue(poem.valid_utf8)
        # Measured from the download's start: a poem that arrived within its
        # 10 s timeout took less than that (from the clock's zero it would be
        # decades).
        self.assertGreater(poem.elapsed, 0)
        self.assertLess(poem.elapsed, 10)

    async def test_largePoem(self) -> None:
        """A poem over 4 KB (here ~40 KB) arrives whole."""
        big = b"".join(b"line %05d of a long, long poem\n" % i for i in range(1300))
        self.assertGreater(len(big), 4096)
        address, _ = serve(self, big)
        poem = await get_poem(address.host, address.port, timeout=10)
        self.assertEqual(poem.data, big)

    async def test_nonAsciiAndInvalid(self) -> None:
        """Non-ASCII text decodes; invalid UTF-8 is kept raw and flagged."""
        a, _ = serve(self, NON_ASCII)
        b, _ = serve(self, INVALID_UTF8)
        outcomes = await get_poems([a, b], timeout=10)
        good, bad = (o.poem for o in outcomes)
        assert good is not None and bad is not None
        self.assertEqual(good.text, NON_ASCII.decode())
        self.assertTrue(good.valid_utf8)
        self.assertEqual(bad.data, INVALID_UTF8)
        self.assertTrue(bad.replaced)
        self.assertIn("\ufffd", bad.text)

    async def test_manyServersAtOnce(self) -> None:
        """
        Three slow servers are downloaded from concurrently: all three are
        connected before any poem ends, and outcomes keep input order.
        """
        poems = [b"first slow poem, in pieces\n", b"second\n" * 4, b"third one\n" * 3]
        addresses = [serve(self, p, delay=0.01, chunk_size=4)[0] for p in poems]
        tracer = Recorder()
        outcomes = await get_poems(addresses, timeout=30, tracer=tracer)
        self.assertEqual([o.poem.data for o in outcomes if o.poem], poems)
        order = [(t, n) for t, _, n, _ in tracer.events]
        first_end = order.index(next(e for e in order if e[1] == "connectionLost"))
        made = {t for t, n in order[:first_end] if n == "connectionMade"}
        self.assertEqual(made, {1, 2, 3})

    async def test_ipv6(self) -> None:
        """A server on ::1 is reached with an IPv6 literal."""
        try:
            address, _ = serve(self, POEM, interface="::1")
        except Exception as e:  # no IPv6 on this machine
            self.skipTest(f"no IPv6 loopback: {e}")
        poem = await get_poem("::1", address.port, timeout=10)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(str(poem.peer), f"[::1]:{address.port}")

    async def test_refused(self) -> None:
        """A closed port gives PoemConnectionFailed: connection refused."""
        port = await closed_port(self)
        with self.assertRaises(PoemConnectionFailed) as caught:
            await get_poem("127.0.0.1", port, timeout=10)
        self.assertEqual(str(caught.exception), f"127.0.0.1:{port}: connection refused")

    async def test_stalledServerTimesOut(self) -> None:
        """
        A server that sends a little and stalls: PoemTimeout, and the client
        aborts the connection (the server sees it go).
        """
        address, factory = serve_scripted(self, lambda p: p.transport.write(b"partial"))
        with self.assertRaises(PoemTimeout) as caught:
            await get_poem(address.host, address.port, timeout=0.5)
        self.assertEqual(caught.exception.partial, b"partial")
        await factory.connections[0].lost

    async def test_truncated(self) -> None:
        """A server that aborts mid-poem gives PoemTruncated, not a poem."""

        def script(p: _ScriptedServer) -> None:
            p.transport.write(b"half a po")

        address, factory = serve_scripted(self, script)

        def on_data(nbytes: int) -> None:
            factory.connections[0].transport.abortConnection()

        with self.assertRaises(PoemTruncated) as caught:
            await get_poem(address.host, address.port, timeout=10, on_data=on_data)
        self.assertEqual(caught.exception.partial, b"half a po")

    async def test_maxBytes(self) -> None:
        """A server sending more than max_bytes is cut off: PoemTooLarge."""
        big = b"x" * 200_000
        address, _ = serve(self, big)
        with self.assertRaises(PoemTooLarge) as caught:
            await get_poem(address.host, address.port, timeout=10, max_bytes=1000)
        error = caught.exception
        self.assertEqual(error.limit, 1000)
        self.assertGreater(error.received, 1000)
        self.assertLess(error.received, len(big))

    async def test_cancel(self) -> None:
        """Cancelling mid-poem aborts the connection: the server sees it go."""
        address, factory = serve(self, b"a slow poem " * 50, delay=0.01, chunk_size=4)
        box: list[Deferred[Poem]] = []
        d = get_poem(address.host, address.port, timeout=30,
                     on_data=lambda n: box[0].cancel())  # fmt: skip
        box.append(d)
        with self.assertRaises(CancelledError):
            await d
        await factory.drain(5.0)
        self.assertEqual(factory.live, set())


class RealTraceOrderTests(TestCase):
    """The order of trace events is the real order of Twisted's callbacks."""

    async def test_success(self) -> None:
        """A successful download, callback by callback."""
        address, _ = serve(self, POEM)
        tracer = Recorder()
        await get_poem(address.host, address.port, timeout=10, tracer=tracer)
        await tracer.when_stopped()
        self.assertEqual(tracer.names(), POEM_TRACE)
        lost = [d for _, _, n, d in tracer.events if n == "connectionLost"]
        self.assertEqual(lost, [{"reason": "ConnectionDone", "clean": True}])

    async def test_refused(self) -> None:
        """Refused: no buildProtocol; clientConnectionFailed then doStop."""
        port = await closed_port(self)
        tracer = Recorder()
        with self.assertRaises(PoemConnectionFailed):
            await get_poem("127.0.0.1", port, timeout=10, tracer=tracer)
        await tracer.when_stopped()
        self.assertEqual(
            tracer.names(),
            [
                "factory.doStart",
                "factory.startedConnecting",
                "timeout.scheduled",
                "factory.clientConnectionFailed",
                "timeout.cancelled",
                "factory.doStop",
            ],
        )

    async def test_timeout(self) -> None:
        """A stalled server: the timeout fires, then the aborted close."""
        address, _ = serve_scripted(self, lambda p: None)
        tracer = Recorder()
        with self.assertRaises(PoemTimeout):
            await get_poem(address.host, address.port, timeout=0.3, tracer=tracer)
        await tracer.when_stopped()
        self.assertEqual(
            tracer.names()[-5:],
            [
                "protocol.connectionMade",
                "timeout.fired",
                "protocol.connectionLost",
                "factory.clientConnectionLost",
                "factory.doStop",
            ],
        )
        lost = [d for _, _, n, d in tracer.events if n == "connectionLost"]
        self.assertEqual(lost, [{"reason": "ConnectionAborted", "clean": False}])

    async def test_truncated(self) -> None:
        """A reset mid-poem: an unclean connectionLost, then the factory's."""
        address, factory = serve_scripted(self, lambda p: p.transport.write(b"abc"))
        tracer = Recorder()

        def on_data(nbytes: int) -> None:
            factory.connections[0].transport.abortConnection()

        with self.assertRaises(PoemTruncated):
            await get_poem(address.host, address.port, timeout=10, tracer=tracer,
                           on_data=on_data)  # fmt: skip
        await tracer.when_stopped()
        # The same callbacks as a poem's, from connectionMade on: only the
        # reason differs.
        self.assertEqual(tracer.names()[-6:], POEM_TRACE[-6:])
        self.assertEqual(POEM_TRACE[-6], "protocol.connectionMade")
        lost = [d for _, _, n, d in tracer.events if n == "connectionLost"]
        self.assertEqual(lost, [{"reason": "ConnectionLost", "clean": False}])


class LeakTests(TestCase):
    """Thousands of downloads leave nothing behind."""

    async def test_noFactoryOrProtocolSurvives(self) -> None:
        """
        After 1,000 real downloads (some refused), no factory or protocol
        instance is still alive.
        """
        from twisted.internet import reactor

        refs: list[weakref.ref[object]] = []

        class Tracked(PoetryClientFactory):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, **kw)
                refs.append(weakref.ref(self))

            def buildProtocol(self, addr: Any) -> PoetryProtocol | None:
                p = super().buildProtocol(addr)
                refs.append(weakref.ref(p))
                return p

        self.patch(client_connector, "PoetryClientFactory", Tracked)
        address, _ = serve(self, POEM)
        refused = await closed_port(self)
        targets = [address] * 990 + [Address("127.0.0.1", refused)] * 10
        outcomes = await get_poems(targets, concurrency=50, timeout=30)
        self.assertEqual(sum(o.ok for o in outcomes), 990)
        # Let the last connection's callbacks unwind off the stack.
        await task.deferLater(reactor, 0, lambda: None)
        gc.collect()
        self.assertEqual(len(refs), 1000 + 990)
        alive = [r() for r in refs if r() is not None]
        self.assertEqual(alive, [])

    async def test_concurrencyHoldsOnRealSockets(self) -> None:
        """
        With C{concurrency=20}, 300 real downloads never have more than 20
        connections open at once.
        """
        address, _ = serve(self, POEM)
        live = [0, 0]

        class Counter:
            def record(self, task: int, source: str, name: str, **kw: object) -> None:
                if name == "connectionMade":
                    live[0] += 1
                    live[1] = max(live)
                elif source == "protocol" and name == "connectionLost":
                    live[0] -= 1

        outcomes = await get_poems(
            [address] * 300,
            concurrency=20,
            per_server=None,
            timeout=30,
            tracer=Counter(),
        )
        self.assertTrue(all(o.ok for o in outcomes))
        self.assertLessEqual(live[1], 20)


# -- the trace order, with Twisted's own connector on a fake reactor -----------


class FakeClientTransport(StringTransport):
    """
    A client connection in memory that behaves like L{twisted.internet.tcp}'s
    C{Client}: it reports to its connector as the real one does (C{connected}
    via the connector's C{buildProtocol}, failure via C{connectionFailed},
    loss via C{connectionLost} after the protocol's), and
    L{abortConnection} loses the connection one reactor turn later.

    @ivar over: the attempt failed or the connection was lost.
    @ivar aborted: L{abortConnection} was called.
    """

    def __init__(self, connector: FakeConnector) -> None:
        super().__init__(peerAddress=connector.getDestination(), hostAddress=CLIENT)
        self.connector = connector
        self.protocol: Protocol | None = None
        self.connected = False
        self.over = False
        self.aborted = False

    def failIfNotConnected(self, err: Exception) -> None:
        """Fail the attempt, unless connected or already over (as tcp does)."""
        if self.connected or self.over:
            return
        self.over = True
        self.connector.connectionFailed(Failure(err))

    def accept(self) -> Protocol:
        """The server accepts: build the protocol and connect it."""
        self.connected = True
        protocol = self.connector.buildProtocol(self.getPeer())
        assert protocol is not None
        self.protocol = protocol
        protocol.makeConnection(self)
        return protocol

    def abortConnection(self) -> None:
        """As tcp does: the connection is lost on the next reactor turn."""
        self.aborted = True
        self.connector.reactor.callLater(
            0, self.connectionLost, Failure(ConnectionAborted())
        )

    def connectionLost(self, reason: Failure) -> None:
        """The protocol's connectionLost, then the connector's."""
        if self.over:
            return
        self.over = True
        assert self.protocol is not None
        self.protocol.connectionLost(reason)
        self.connector.connectionLost(reason)


class FakeConnector(BaseConnector):
    """
    Twisted's own connector state machine (L{BaseConnector}: C{doStart},
    C{startedConnecting}, C{clientConnectionFailed}/C{clientConnectionLost},
    C{doStop}), connecting over a L{FakeClientTransport}.
    """

    transport: FakeClientTransport  # type: ignore[assignment]

    def __init__(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float | None,
        reactor: MemoryReactorClock,
    ) -> None:
        super().__init__(factory, timeout, reactor)  # type: ignore[arg-type]
        self.destination = IPv4Address("TCP", host, port)

    def _makeTransport(self) -> FakeClientTransport:  # type: ignore[override]
        return FakeClientTransport(self)

    def getDestination(self) -> IPv4Address:
        return self.destination


class ConnectingReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose C{connectTCP} really starts a connector
    (L{FakeConnector}), so every factory callback runs as on a real reactor.
    """

    def connectTCP(  # type: ignore[override]
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float | None = 30,
        bindAddress: object = None,
    ) -> FakeConnector:
        self.tcpClients.append((host, port, factory, timeout, bindAddress))
        connector = FakeConnector(host, port, factory, timeout, self)
        self.connectors.append(connector)  # type: ignore[arg-type]
        connector.connect()
        return connector

    def pending(self, index: int = -1) -> FakeClientTransport:
        """The transport of connection attempt C{index}."""
        return cast(FakeConnector, self.connectors[index]).transport


#: The trace every download starts with: the factory starts, Twisted's
#: connector starts connecting, the download's timeout is set.
STARTED = [
    ("factory", "doStart"),
    ("factory", "startedConnecting"),
    ("timeout", "scheduled"),
]

#: Then, once the connection is made: a protocol for it, connected.
CONNECTED = [
    ("factory", "buildProtocol"),
    ("protocol", "makeConnection"),
    ("protocol", "connectionMade"),
]

#: A connection that ends before the timeout (cleanly or not): the
#: protocol's connectionLost cancels the timeout and fires the result, and
#: only then does Twisted tell the factory, which stops.
LOST_BEFORE_TIMEOUT = [
    ("protocol", "connectionLost"),
    ("timeout", "cancelled"),
    ("result", "fired"),
    ("factory", "clientConnectionLost"),
    ("factory", "doStop"),
]


def received(chunks: int) -> list[tuple[str, str]]:
    """The trace of C{chunks} calls of the protocol's dataReceived."""
    return [("protocol", "dataReceived")] * chunks


class FakeReactorTraceOrderTests(SynchronousTestCase):
    """
    The exact order of trace events from the real client code, with every
    factory callback made by Twisted's own connector (L{BaseConnector}) and
    time on a fake clock.  C{result} marks when the download's Deferred
    fired: inside the protocol's C{connectionLost} or the timeout, before
    Twisted tells the factory.
    """

    def fetch(
        self, **kw: Any
    ) -> tuple[Deferred[Poem], Recorder, ConnectingReactor, FakeClientTransport]:
        """Start one traced download; mark the result in the trace."""
        reactor = ConnectingReactor()
        tracer = Recorder()
        d = get_poem("127.0.0.1", 10001, reactor=reactor, tracer=tracer, **kw)

        def fired(result: object) -> object:
            tracer.record(1, "result", "fired")
            return result

        d.addBoth(fired)
        return d, tracer, reactor, reactor.pending()

    def pairs(self, tracer: Recorder) -> list[tuple[str, str]]:
        return [(source, name) for _, source, name, _ in tracer.events]

    def test_success(self) -> None:
        """
        A poem in two chunks and a clean close: the factory starts and
        connects, the protocol is built and connected, the chunks arrive,
        the clean connectionLost fires the result and cancels the timeout,
        and only then are the factory's connection lost and stop called.
        """
        d, tracer, reactor, transport = self.fetch(timeout=5)
        proto = transport.accept()
        feed(proto, POEM, len(POEM) // 2 + 1)
        transport.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.successResultOf(d).data, POEM)
        self.assertEqual(
            self.pairs(tracer),
            [*STARTED, *CONNECTED, *received(2), *LOST_BEFORE_TIMEOUT],
        )
        details = {name: detail for _, _, name, detail in tracer.events}
        self.assertEqual(
            details["connectionMade"],
            {"peer": "127.0.0.1:10001", "host": "127.0.0.1:54321"},
        )
        self.assertEqual(
            details["connectionLost"], {"reason": "ConnectionDone", "clean": True}
        )
        self.assertEqual(details["clientConnectionLost"], {"reason": "ConnectionDone"})
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_refused(self) -> None:
        """
        A refused connection: no buildProtocol and no protocol at all;
        clientConnectionFailed fires the result, then doStop.
        """
        d, tracer, reactor, transport = self.fetch(timeout=5)
        reactor.advance(0.5)
        transport.failIfNotConnected(ConnectionRefusedError())
        self.failureResultOf(d, PoemConnectionFailed)
        self.assertEqual(
            self.pairs(tracer),
            [
                *STARTED,
                ("factory", "clientConnectionFailed"),
                ("timeout", "cancelled"),
                ("result", "fired"),
                ("factory", "doStop"),
            ],
        )
        failed = [d for _, _, n, d in tracer.events if n == "clientConnectionFailed"]
        self.assertEqual(failed, [{"reason": "ConnectionRefusedError"}])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_timeout(self) -> None:
        """
        A server that stalls after a few bytes: the timeout fires and fails
        the download at once (with the partial poem) and aborts the
        connection, whose unclean connectionLost, clientConnectionLost and
        doStop come after the result (a reactor turn later: the transport's
        abortConnection schedules them with callLater(0), as tcp does).
        """
        d, tracer, reactor, transport = self.fetch(timeout=2)
        proto = transport.accept()
        feed(proto, POEM[:4], 4)
        reactor.advance(1.999)
        self.assertNoResult(d)
        # Clock.advance also runs the abort's callLater(0) before returning.
        reactor.advance(0.001)
        self.assertEqual(self.failureResultOf(d, PoemTimeout).value.partial, POEM[:4])
        self.assertTrue(transport.aborted)
        self.assertEqual(
            self.pairs(tracer),
            [
                *STARTED,
                *CONNECTED,
                *received(1),
                ("timeout", "fired"),
                ("result", "fired"),
                ("protocol", "connectionLost"),
                ("factory", "clientConnectionLost"),
                ("factory", "doStop"),
            ],
        )
        lost = [d for _, s, n, d in tracer.events if n == "connectionLost"]
        self.assertEqual(lost, [{"reason": "ConnectionAborted", "clean": False}])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_timeoutWhileConnecting(self) -> None:
        """
        A connection attempt that never completes: the timeout fires, the
        factory stops connecting (Twisted reports it as a failed connection,
        which no longer decides anything), doStop, then the result.
        """
        d, tracer, reactor, _ = self.fetch(timeout=2)
        reactor.advance(2)
        self.failureResultOf(d, PoemTimeout)
        self.assertEqual(
            self.pairs(tracer),
            [
                *STARTED,
                ("timeout", "fired"),
                ("factory", "clientConnectionFailed"),
                ("factory", "doStop"),
                ("result", "fired"),
            ],
        )
        failed = [d for _, _, n, d in tracer.events if n == "clientConnectionFailed"]
        self.assertEqual(failed, [{"reason": "UserError"}])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_truncated(self) -> None:
        """
        A connection lost uncleanly mid-poem: the unclean connectionLost
        fails the download with the partial poem and cancels the timeout,
        then clientConnectionLost and doStop.
        """
        d, tracer, reactor, transport = self.fetch(timeout=5)
        proto = transport.accept()
        feed(proto, POEM[:3], 1)
        transport.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.failureResultOf(d, PoemTruncated).value.partial, POEM[:3])
        self.assertEqual(
            self.pairs(tracer),
            [*STARTED, *CONNECTED, *received(3), *LOST_BEFORE_TIMEOUT],
        )
        lost = [d for _, s, n, d in tracer.events if n == "connectionLost"]
        self.assertEqual(lost, [{"reason": "ConnectionLost", "clean": False}])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_interleavedTasks(self) -> None:
        """
        With L{get_poems}, each event carries its task number, and events
        of concurrent downloads interleave in the order they happen, timed
        by the reactor's clock (as L{Tracer} records them).
        """
        from poetry.trace import Tracer

        reactor = ConnectingReactor()
        tracer = Tracer(clock=reactor, emit=False)
        d = get_poems(["10001", "10002"], timeout=5, reactor=reactor, tracer=tracer)
        first, second = reactor.pending(0), reactor.pending(1)
        reactor.advance(0.25)
        p2 = second.accept()
        p1 = first.accept()
        reactor.advance(0.25)
        p1.dataReceived(b"ab")
        p2.dataReceived(b"c")
        reactor.advance(0.5)
        second.connectionLost(Failure(ConnectionDone()))
        first.connectionLost(Failure(ConnectionLost()))
        outcomes = self.successResultOf(d)
        self.assertEqual([o.ok for o in outcomes], [False, True])
        self.assertEqual(
            [(e.time, e.task, e.source, e.name) for e in tracer.events],
            [
                (0.0, 1, "factory", "doStart"),
                (0.0, 1, "factory", "startedConnecting"),
                (0.0, 1, "timeout", "scheduled"),
                (0.0, 2, "factory", "doStart"),
                (0.0, 2, "factory", "startedConnecting"),
                (0.0, 2, "timeout", "scheduled"),
                (0.25, 2, "factory", "buildProtocol"),
                (0.25, 2, "protocol", "makeConnection"),
                (0.25, 2, "protocol", "connectionMade"),
                (0.25, 1, "factory", "buildProtocol"),
                (0.25, 1, "protocol", "makeConnection"),
                (0.25, 1, "protocol", "connectionMade"),
                (0.5, 1, "protocol", "dataReceived"),
                (0.5, 2, "protocol", "dataReceived"),
                (1.0, 2, "protocol", "connectionLost"),
                (1.0, 2, "timeout", "cancelled"),
                (1.0, 2, "factory", "clientConnectionLost"),
                (1.0, 2, "factory", "doStop"),
                (1.0, 1, "protocol", "connectionLost"),
                (1.0, 1, "timeout", "cancelled"),
                (1.0, 1, "factory", "clientConnectionLost"),
                (1.0, 1, "factory", "doStop"),
            ],
        )
        self.assertEqual(reactor.getDelayedCalls(), [])
