"""
One download on the wire: L{PoetryProtocol} receives one poem and
L{PoetryClientFactory} connects one connection attempt to one result.

    - L{PoetryProtocol} buffers what the server sends until the server closes
      the connection; a clean close completes the poem, an unclean one
      truncates it.
    - L{PoetryClientFactory} owns the download's L{Deferred} and its timeout
      (an entry in L{Timeouts}, shared by every attempt of a
      L{poetry.client.get_poems} run), and nothing else once the result has
      fired.

Every lifecycle callback can be observed through a L{TraceRecorder}: the
client then wraps the factory in a L{poetry.client.traced.TracingFactory};
the factory itself records only its timeout's events.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from typing import Protocol as _Interface

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost, NotConnectingError
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from poetry.addresses import Address
from poetry.client.results import Poem
from poetry.client.timeouts import Timeouts
from poetry.errors import (
    EmptyPoem,
    PoemCallbackError,
    PoemConnectionFailed,
    PoemError,
    PoemTimeout,
    PoemTooLarge,
    PoemTruncated,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IProtocolFactory

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "PoetryClientFactory",
    "PoetryProtocol",
    "TCPReactor",
    "TraceRecorder",
]

_log = Logger(namespace="poetry.client")

DEFAULT_TIMEOUT = 30.0
"""Seconds allowed for connecting plus downloading one poem."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""The largest poem accepted by default (10 MiB)."""


class TraceRecorder(_Interface):
    """
    Anything that can record client lifecycle events (L{poetry.trace.Tracer}
    is one).  C{source} is C{"factory"}, C{"protocol"}, C{"timeout"},
    C{"connector"} or C{"retry"}; C{name} is the callback (C{"doStart"},
    C{"dataReceived"}, ...) or the event (the timeout's C{"scheduled"},
    C{"cancelled"}, C{"fired"}; C{"resolving"}, C{"resolved"}; a retry's
    C{"scheduled"}, C{"started"}).  Calls
    arrive in the real order of the callbacks.
    """

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        """Record one event of download number C{task}."""


class TCPReactor(_Interface):
    """
    What the client needs from a reactor: L{IReactorTCP.connectTCP} and
    L{IReactorTime}.  The global reactor, L{MemoryReactorClock} and friends
    all fit.
    """

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: IProtocolFactory,
        timeout: float | None = ...,
    ) -> Any:
        """Connect to C{host}:C{port} using C{factory}; return the connector."""

    def callLater(self, delay: float, f: Callable[..., object], /) -> Any:
        """Call C{f} after C{delay} seconds; return the L{IDelayedCall}."""

    def seconds(self) -> float:
        """The current time in seconds."""


def _peer_address(peer: object, address: Address) -> Address | None:
    """
    The L{Address} of a TCP peer (IPv4 or IPv6); L{None} for others.  A
    peer that is the address asked for (an IP literal over TCP, the usual
    case) is that same L{Address} object, not a copy.
    """
    host = getattr(peer, "host", None)
    port = getattr(peer, "port", None)
    if host is None or port is None:
        return None
    if host == address.host and port == address.port and address.scheme == "tcp":
        return address
    return Address(host, port)


class PoetryProtocol(Protocol):
    """
    Receive one poem: buffer every chunk until the server closes the
    connection, then hand the whole poem (or the failure) to the factory.

    Chunks are kept in a list and joined once at the end, so receiving is
    linear in the poem's size whatever the chunk sizes.

    @ivar received: bytes received so far.
    @ivar max_bytes: this connection's size limit; see L{MAX_BYTES}.
    @ivar peer: the transport's peer address, once connected.
    """

    MAX_BYTES = DEFAULT_MAX_BYTES
    """
    The largest poem accepted, in bytes.  It protects the client's memory
    from a faulty or hostile server that never stops sending: past the limit
    L{poem_too_large} is called and nothing more is buffered.
    """

    on_data: Callable[[int], object] | None = None

    def __init__(self) -> None:
        self.max_bytes = self.MAX_BYTES
        self.received = 0
        self.peer: IAddress | None = None
        self._chunks: list[bytes] | None = []

    def connectionMade(self) -> None:
        transport: Any = self.transport
        self.peer = transport.getPeer()

    def dataReceived(self, data: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            return  # finished (too large, timed out, cancelled): ignore the rest
        self.received += len(data)
        if self.received > self.max_bytes:
            self.poem_too_large()
            return
        chunks.append(data)
        if self.on_data is not None:
            try:
                self.on_data(len(data))
            except Exception:
                self.callback_failed(Failure())

    def callback_failed(self, reason: Failure) -> None:
        """
        The caller's C{on_data} callback raised: a bug in the caller, not a
        fault of the server.  Log it, fail the download with
        L{PoemCallbackError} carrying the exception, and abort the
        connection.
        """
        self._chunks = None
        factory = cast("PoetryClientFactory | None", self.factory)
        address = factory.address if factory is not None else None
        _log.failure(
            "on_data callback failed for {address}",
            reason,
            address=str(address),
        )
        if factory is not None:
            factory.poem_failed(
                PoemCallbackError(factory.address, "on_data", reason, self.received)
            )
        cast(Any, self.transport).abortConnection()

    def partial(self) -> bytes:
        """The bytes buffered so far (empty once the poem is finished)."""
        return b"".join(self._chunks) if self._chunks else b""

    def poem_too_large(self) -> None:
        """
        Called when the server has sent more than L{max_bytes}.  The default
        drops the buffer, fails the download with L{PoemTooLarge} and aborts
        the connection.  Override to handle the limit differently.
        """
        self._chunks = None
        factory = cast("PoetryClientFactory | None", self.factory)
        if factory is not None:
            factory.poem_failed(
                PoemTooLarge(factory.address, self.max_bytes, self.received)
            )
        cast(Any, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        clean = isinstance(reason.value, ConnectionDone)
        chunks, self._chunks = self._chunks, None
        factory: PoetryClientFactory | None = self.factory
        if factory is None:
            return
        if chunks is not None:
            data = b"".join(chunks)
            if clean:
                factory.poem_finished(self, data)
            else:
                factory.poem_truncated(self, data, reason)
        # The socket is closed now (Twisted closes it before telling us).
        factory.connection_closed()


def _timed_out(factory: PoetryClientFactory) -> None:
    factory.timed_out()


def factory_timeouts(clock: TCPReactor) -> Timeouts:
    """A L{Timeouts} for L{PoetryClientFactory}s: an expiry calls C{timed_out}."""
    return Timeouts(clock, _timed_out)


class PoetryClientFactory(ClientFactory[PoetryProtocol]):
    """
    One connection attempt to one result (a new factory per attempt: the
    L{poetry.client.connector.Connector} makes one for each address and each retry).

    L{deferred} fires exactly once: with a L{Poem}, a L{PoemError}
    (L{PoemConnectionFailed}, L{EmptyPoem}, L{PoemTruncated},
    L{PoemTooLarge}, L{PoemTimeout}) or L{CancelledError}.  Then the factory
    drops the protocol, the connector and the timeout: nothing stays alive.
    The timeout starts in L{startedConnecting} and covers connecting plus
    downloading.  It is an entry in C{timeouts} (one L{Timeouts} shared by
    many factories: L{get_poems} gives every attempt of a run the same one),
    or in a L{Timeouts} of its own if none is given.

    The result can fire before the socket is closed (a timeout or a cancel
    aborts it; Twisted closes it a reactor turn later).  C{on_closed} is
    called once the socket really is closed: after the protocol's
    C{connectionLost}, or in L{clientConnectionFailed}.  L{get_poems} hands
    a slot on only then, so it never has more sockets open than its
    concurrency.

    @ivar deferred: the result, or L{None} once it has fired.
    """

    protocol = PoetryProtocol
    noisy = False  # no "Starting factory" log line per download

    # Set as the attempt goes (class defaults: a factory is made per attempt).
    started: float | None = None
    _connector: Any = None
    _protocol: PoetryProtocol | None = None
    _timeout_entry: list[Any] | None = None

    def __init__(
        self,
        address: Address,
        *,
        clock: TCPReactor,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        tracer: TraceRecorder | None = None,
        task: int = 1,
        on_data: Callable[[int], object] | None = None,
        on_closed: Callable[[], object] | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.address = address
        self.clock = clock
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.tracer = tracer
        self.task = task
        self.on_data = on_data
        self.on_closed = on_closed
        self.deferred: Deferred[Poem] | None = Deferred(self._cancel)
        self.timeouts = timeouts if timeouts is not None else factory_timeouts(clock)

    # -- ClientFactory callbacks, in the order Twisted calls them ------------

    def startedConnecting(self, connector: Any) -> None:
        if self.deferred is None:
            return
        self._connector = connector
        self.started = now = self.clock.seconds()
        if self.timeout is not None:
            self._timeout_entry = self.timeouts.add(self.timeout, self, now)
            if self.tracer is not None:
                self._trace_timeout("scheduled", seconds=self.timeout)

    def buildProtocol(self, addr: IAddress) -> PoetryProtocol | None:  # type: ignore[override]
        if self.deferred is None:
            return None  # already timed out or cancelled: refuse the connection
        p = self.protocol()
        p.factory = self
        p.max_bytes = self.max_bytes
        p.on_data = self.on_data
        self._protocol = p
        return p

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """
        The attempt ended before Twisted saw the connection made: a
        L{PoemConnectionFailed}, unless the server had accepted it and reset
        it already (C{ECONNRESET} in place of the connect's result: a server
        that resets at once, such as C{--fault reset:BYTES}, can beat the
        reactor's turn to the connect), which for this protocol is a poem
        truncated after nothing read (L{PoemTruncated}, with a
        L{ConnectionLost} as the reset of a made connection reads).
        """
        d = self._take()
        if d is not None:
            reason.cleanFailure()
            self._release()
            error: PoemError
            if getattr(reason.value, "osError", None) == errno.ECONNRESET:
                lost = Failure(ConnectionLost(str(reason.value)))
                error = PoemTruncated(self.address, b"", lost)
            else:
                error = PoemConnectionFailed(self.address, reason)
            d.errback(error)
        # else: our own stopConnecting() after a timeout or cancel.
        # Either way the attempt's socket (if it had one) is closed now.
        self.connection_closed()

    # clientConnectionLost: nothing to do, the protocol's connectionLost has
    # already decided the result.

    def connection_closed(self) -> None:
        """
        This attempt's socket is closed: call C{on_closed}, once.  Called by
        the protocol's C{connectionLost} and by L{clientConnectionFailed}.
        """
        on_closed, self.on_closed = self.on_closed, None
        if on_closed is not None:
            on_closed()

    # -- results from the protocol -------------------------------------------

    def poem_finished(self, protocol: PoetryProtocol, data: bytes) -> None:
        """The server closed the connection cleanly after sending C{data}."""
        d = self._take()
        if d is None:
            return
        started = self.started
        elapsed = 0.0 if started is None else self.clock.seconds() - started
        self._release()
        if not data:
            d.errback(EmptyPoem(self.address))
            return
        address = self.address
        d.callback(Poem(data, address, _peer_address(protocol.peer, address), elapsed))

    def poem_truncated(
        self, protocol: PoetryProtocol, data: bytes, reason: Failure
    ) -> None:
        """The connection was lost uncleanly after C{data} arrived."""
        d = self._take()
        if d is None:
            return
        self._release()
        reason.cleanFailure()
        d.errback(PoemTruncated(self.address, data, reason))

    def poem_failed(self, error: PoemError) -> None:
        """
        The download failed with C{error} while still connected (for example
        L{PoemTooLarge}); the caller closes the connection.
        """
        d = self._take()
        if d is None:
            return
        self._release()
        d.errback(error)

    # -- the timeout -----------------------------------------------------------

    def timed_out(self) -> None:
        """
        The timeout expired: stop connecting or abort the connection, and fail
        with L{PoemTimeout} carrying the bytes received so far.
        """
        self._timeout_entry = None
        if self.tracer is not None:
            self._trace_timeout("fired", seconds=self.timeout)
        d = self._take()
        if d is None:
            return
        partial_data = self._protocol.partial() if self._protocol is not None else b""
        self._stop()
        self._release()
        d.errback(PoemTimeout(self.address, cast(float, self.timeout), partial_data))

    # -- internals -------------------------------------------------------------

    def _trace_timeout(self, name: str, **detail: object) -> None:
        # The timeout is the factory's own: the tracing wrapper cannot see it.
        cast(TraceRecorder, self.tracer).record(self.task, "timeout", name, **detail)

    def _take(self) -> Deferred[Poem] | None:
        """Take the result Deferred (fire-once) and cancel the timeout."""
        d, self.deferred = self.deferred, None
        if d is not None:
            self._cancel_timeout()
        return d

    def _cancel_timeout(self) -> None:
        entry, self._timeout_entry = self._timeout_entry, None
        if entry is not None:
            self.timeouts.cancel(entry)
            if self.tracer is not None:
                self._trace_timeout("cancelled")

    def _stop(self) -> None:
        """Abort the connection, or stop connecting if not connected yet."""
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol._chunks = None
            cast(Any, protocol.transport).abortConnection()
        elif self._connector is not None:
            try:
                self._connector.stopConnecting()
            except NotConnectingError:
                pass

    def _release(self) -> None:
        """Drop every reference to this download's objects."""
        self._protocol = None
        self._connector = None
        self.on_data = None

    def _cancel(self, d: Deferred[Poem]) -> None:
        """Canceller of L{deferred}: stop the download; Deferred fails itself."""
        if self._take() is None:
            return
        self._stop()
        self._release()
