"""
The poetry client: a protocol and factory that fetch one poem, and a small
API of plain functions returning Deferreds.

    - L{PoetryProtocol} buffers what the server sends until the server closes
      the connection; a clean close completes the poem, an unclean one
      truncates it.
    - L{PoetryClientFactory} connects one attempt to one result: it owns the
      L{Deferred}, the timeout, and nothing else once the result has fired.
    - L{get_poem} fetches one poem; L{get_poems} fetches many at once, at
      most L{DEFAULT_CONCURRENCY} in all and L{DEFAULT_PER_SERVER} from any
      one server unless told otherwise, and reports one L{Outcome} per
      address.

The library never changes process-wide state: it does not raise the file
descriptor limit (RLIMIT_NOFILE).  A caller whose concurrency needs more
descriptors than the process may open sees the downloads that could not get
one fail with L{PoemConnectionFailed} naming the limit (EMFILE); a program
raises the limit in its entry point (C{get-poetry}'s C{main} does).

Using it from your own Twisted program::

    from twisted.internet import task
    from poetry import get_poem

    async def main(reactor):
        poem = await get_poem("127.0.0.1", 10001, timeout=5.0, reactor=reactor)
        print(poem.text)

    task.react(main)

Every lifecycle callback can be observed through a L{TraceRecorder} (the
C{tracer} argument); with none given the only cost is one C{is not None} test
per callback.
"""

from __future__ import annotations

import heapq
import math
import operator
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast
from typing import Protocol as _Interface

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import ConnectionDone, NotConnectingError
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from poetry.addresses import Address, check_address, formatAddress, parse_address
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
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PER_SERVER",
    "DEFAULT_TIMEOUT",
    "Outcome",
    "Poem",
    "PoetryClientFactory",
    "PoetryProtocol",
    "TraceRecorder",
    "get_poem",
    "get_poems",
]

_log = Logger()

DEFAULT_TIMEOUT = 30.0
"""Seconds allowed for connecting plus downloading one poem."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""The largest poem accepted by default (10 MiB)."""

DEFAULT_CONCURRENCY = 100
"""
How many downloads L{get_poems} runs at once by default, in all.  It keeps
a run well inside the usual 1,024 file descriptors of a process (one per
connection) and is the order of C{curl --parallel}'s default (50).
"""

DEFAULT_PER_SERVER = 20
"""
How many downloads L{get_poems} runs at once to any one server (one
L{Address}) by default.  All at once, thousands of connections to one
server overflow its listen queue (Twisted's default backlog is 50; the
kernel then drops SYNs, and each retry costs the client one, three, seven
seconds), so downloads fail by timeout that never needed to: 20 stays below
any such backlog and, against a local server, fetches as fast as 100 (see
bench/RESULTS.md).  Browsers use 6 per host for HTTP/1.1.
"""


class TraceRecorder(_Interface):
    """
    Anything that can record client lifecycle events (L{poetry.trace.Tracer}
    is one).  C{source} is C{"factory"}, C{"protocol"} or C{"timeout"};
    C{name} is the callback (C{"doStart"}, C{"dataReceived"}, ...) or the
    timeout's event (C{"scheduled"}, C{"cancelled"}, C{"fired"}).  Calls
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


def _reasonName(reason: Failure) -> str:
    return type(reason.value).__name__


@dataclass(frozen=True, slots=True, weakref_slot=True, eq=False)
class Poem:
    """
    A complete poem.

    @ivar data: the exact bytes the server sent.
    @ivar address: the server it was fetched from, as asked for.
    @ivar peer: the address actually connected to (the resolved IP), if known.
    @ivar elapsed: seconds from starting to connect to the end of the poem.
    """

    data: bytes = field(repr=False)
    address: Address
    peer: Address | None = None
    elapsed: float = 0.0
    # The decoded text and whether it was valid UTF-8, filled in on first
    # use (a slot, not functools.cached_property, which needs a __dict__).
    _decodedCache: tuple[str, bool] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def _decoded(self) -> tuple[str, bool]:
        decoded = self._decodedCache
        if decoded is None:
            try:
                decoded = self.data.decode("utf-8"), True
            except UnicodeDecodeError:
                decoded = self.data.decode("utf-8", "replace"), False
            object.__setattr__(self, "_decodedCache", decoded)
        return decoded

    @property
    def text(self) -> str:
        """The poem as text: UTF-8, invalid bytes replaced by U+FFFD."""
        return self._decoded[0]

    @property
    def valid_utf8(self) -> bool:
        """Whether the bytes are valid UTF-8 (so L{text} is exact)."""
        return self._decoded[1]

    @property
    def replaced(self) -> bool:
        """Whether L{text} had to replace invalid bytes."""
        return not self._decoded[1]

    @property
    def size(self) -> int:
        """The poem's length in bytes."""
        return len(self.data)


class PoetryProtocol(Protocol):
    """
    Receive one poem: buffer every chunk until the server closes the
    connection, then hand the whole poem (or the failure) to the factory.

    Chunks are kept in a list and joined once at the end, so receiving is
    linear in the poem's size whatever the chunk sizes.

    @ivar received: bytes received so far.
    @ivar maxBytes: this connection's size limit; see L{MAX_BYTES}.
    @ivar peer: the transport's peer address, once connected.
    """

    MAX_BYTES = DEFAULT_MAX_BYTES
    """
    The largest poem accepted, in bytes.  It protects the client's memory
    from a faulty or hostile server that never stops sending: past the limit
    L{poemTooLarge} is called and nothing more is buffered.
    """

    tracer: TraceRecorder | None = None
    task = 1
    onData: Callable[[int], object] | None = None

    def __init__(self) -> None:
        self.maxBytes = self.MAX_BYTES
        self.received = 0
        self.peer: IAddress | None = None
        self._chunks: list[bytes] | None = []

    def makeConnection(self, transport: Any) -> None:
        if self.tracer is not None:
            self.tracer.record(self.task, "protocol", "makeConnection")
        Protocol.makeConnection(self, transport)

    def connectionMade(self) -> None:
        transport = cast(Any, self.transport)
        self.peer = transport.getPeer()
        if self.tracer is not None:
            self.tracer.record(
                self.task,
                "protocol",
                "connectionMade",
                peer=formatAddress(self.peer),
                host=formatAddress(transport.getHost()),
            )

    def dataReceived(self, data: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            return  # finished (too large, timed out, cancelled): ignore the rest
        self.received += len(data)
        if self.tracer is not None:
            self.tracer.record(self.task, "protocol", "dataReceived", bytes=len(data))
        if self.received > self.maxBytes:
            self.poemTooLarge()
            return
        chunks.append(data)
        if self.onData is not None:
            try:
                self.onData(len(data))
            except Exception:
                self.callbackFailed(Failure())

    def callbackFailed(self, reason: Failure) -> None:
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
            factory.poemFailed(
                PoemCallbackError(factory.address, "on_data", reason, self.received)
            )
        cast(Any, self.transport).abortConnection()

    def partial(self) -> bytes:
        """The bytes buffered so far (empty once the poem is finished)."""
        return b"".join(self._chunks) if self._chunks else b""

    def poemTooLarge(self) -> None:
        """
        Called when the server has sent more than L{maxBytes}.  The default
        drops the buffer, fails the download with L{PoemTooLarge} and aborts
        the connection.  Override to handle the limit differently.
        """
        self._chunks = None
        factory = cast("PoetryClientFactory | None", self.factory)
        if factory is not None:
            factory.poemFailed(
                PoemTooLarge(factory.address, self.maxBytes, self.received)
            )
        cast(Any, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        clean = isinstance(reason.value, ConnectionDone)
        if self.tracer is not None:
            self.tracer.record(
                self.task,
                "protocol",
                "connectionLost",
                reason=_reasonName(reason),
                clean=clean,
            )
        chunks, self._chunks = self._chunks, None
        factory = cast("PoetryClientFactory | None", self.factory)
        if factory is None:
            return
        if chunks is not None:
            data = b"".join(chunks)
            if clean:
                factory.poemFinished(self, data)
            else:
                factory.poemTruncated(self, data, reason)
        # The socket is closed now (Twisted closes it before telling us).
        factory.connectionClosed()


class PoetryClientFactory(ClientFactory[PoetryProtocol]):
    """
    One download: connects one connection attempt to one result.

    The factory holds the L{Deferred} (L{deferred}) that fires exactly once:
    with a L{Poem}, or with a L{PoemError} (L{PoemConnectionFailed},
    L{EmptyPoem}, L{PoemTruncated}, L{PoemTooLarge}, L{PoemTimeout}), or with
    L{CancelledError} if it is cancelled.  Once it has fired, the factory
    drops its references to the protocol, the connector and the timeout, so
    finished downloads leave nothing alive.

    The timeout starts in L{startedConnecting} and covers connecting plus
    downloading; it is cancelled the moment the result fires.

    The result can fire before the connection's socket is closed (a timeout
    or a cancel aborts the connection, and Twisted closes it a reactor turn
    later).  C{onClosed}, if given, is called once the attempt's socket
    really is closed: after the protocol's C{connectionLost}, or in
    L{clientConnectionFailed} if it never connected.  L{get_poems} hands a
    download's slot on only then, so it never has more sockets open than
    its concurrency.

    @ivar deferred: the result, or L{None} once it has fired.
    """

    protocol = PoetryProtocol
    noisy = False  # no "Starting factory" log line per download

    def __init__(
        self,
        address: Address,
        *,
        clock: TCPReactor,
        timeout: float | None = DEFAULT_TIMEOUT,
        maxBytes: int = DEFAULT_MAX_BYTES,
        tracer: TraceRecorder | None = None,
        task: int = 1,
        onData: Callable[[int], object] | None = None,
        onClosed: Callable[[], object] | None = None,
    ) -> None:
        self.address = address
        self.clock = clock
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.tracer = tracer
        self.task = task
        self.onData = onData
        self.onClosed = onClosed
        self.deferred: Deferred[Poem] | None = Deferred(self._cancel)
        self.started: float | None = None
        self._connector: Any = None
        self._protocol: PoetryProtocol | None = None
        self._timeoutCall: Any = None

    # -- ClientFactory callbacks, in the order Twisted calls them ------------

    def doStart(self) -> None:
        if self.tracer is not None:
            self.tracer.record(self.task, "factory", "doStart")
        super().doStart()

    def startedConnecting(self, connector: Any) -> None:
        if self.tracer is not None:
            self.tracer.record(
                self.task, "factory", "startedConnecting", destination=str(self.address)
            )
        if self.deferred is None:
            return
        self._connector = connector
        self.started = self.clock.seconds()
        if self.timeout is not None:
            self._timeoutCall = self.clock.callLater(self.timeout, self.timedOut)
            if self.tracer is not None:
                self.tracer.record(
                    self.task, "timeout", "scheduled", seconds=self.timeout
                )

    def buildProtocol(self, addr: IAddress) -> PoetryProtocol | None:  # type: ignore[override]
        if self.tracer is not None:
            self.tracer.record(
                self.task, "factory", "buildProtocol", address=formatAddress(addr)
            )
        if self.deferred is None:
            return None  # already timed out or cancelled: refuse the connection
        p = self.protocol()
        p.factory = self
        p.maxBytes = self.maxBytes
        p.task = self.task
        p.tracer = self.tracer
        p.onData = self.onData
        self._protocol = p
        return p

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if self.tracer is not None:
            self.tracer.record(
                self.task,
                "factory",
                "clientConnectionFailed",
                reason=_reasonName(reason),
            )
        d = self._take()
        if d is not None:
            reason.cleanFailure()
            self._release()
            d.errback(PoemConnectionFailed(self.address, reason))
        # else: our own stopConnecting() after a timeout or cancel.
        # Either way the attempt's socket (if it had one) is closed now.
        self.connectionClosed()

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        if self.tracer is not None:
            self.tracer.record(
                self.task,
                "factory",
                "clientConnectionLost",
                reason=_reasonName(reason),
            )
        # The protocol's connectionLost has already decided the result.

    def doStop(self) -> None:
        if self.tracer is not None:
            self.tracer.record(self.task, "factory", "doStop")
        super().doStop()

    def connectionClosed(self) -> None:
        """
        This attempt's socket is closed: call C{onClosed}, once.  Called by
        the protocol's C{connectionLost} and by L{clientConnectionFailed}.
        """
        onClosed, self.onClosed = self.onClosed, None
        if onClosed is not None:
            onClosed()

    # -- results from the protocol -------------------------------------------

    def poemFinished(self, protocol: PoetryProtocol, data: bytes) -> None:
        """The server closed the connection cleanly after sending C{data}."""
        d = self._take()
        if d is None:
            return
        elapsed = self._elapsed()
        peer = protocol.peer
        self._release()
        if not data:
            d.errback(EmptyPoem(self.address))
            return
        host = getattr(peer, "host", None)
        port = getattr(peer, "port", None)
        d.callback(
            Poem(
                data,
                self.address,
                Address(host, port) if host is not None and port is not None else None,
                elapsed,
            )
        )

    def poemTruncated(
        self, protocol: PoetryProtocol, data: bytes, reason: Failure
    ) -> None:
        """The connection was lost uncleanly after C{data} arrived."""
        d = self._take()
        if d is None:
            return
        self._release()
        reason.cleanFailure()
        d.errback(PoemTruncated(self.address, data, reason))

    def poemFailed(self, error: PoemError) -> None:
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

    def timedOut(self) -> None:
        """
        The timeout expired: stop connecting or abort the connection, and fail
        with L{PoemTimeout} carrying the bytes received so far.
        """
        self._timeoutCall = None
        if self.tracer is not None:
            self.tracer.record(self.task, "timeout", "fired", seconds=self.timeout)
        d = self._take()
        if d is None:
            return
        partialData = self._protocol.partial() if self._protocol is not None else b""
        self._stop()
        self._release()
        d.errback(PoemTimeout(self.address, cast(float, self.timeout), partialData))

    # -- internals -------------------------------------------------------------

    def _elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return self.clock.seconds() - self.started

    def _take(self) -> Deferred[Poem] | None:
        """Take the result Deferred (fire-once) and cancel the timeout."""
        d, self.deferred = self.deferred, None
        if d is not None:
            self._cancelTimeout()
        return d

    def _cancelTimeout(self) -> None:
        call, self._timeoutCall = self._timeoutCall, None
        if call is not None and call.active():
            call.cancel()
            if self.tracer is not None:
                self.tracer.record(self.task, "timeout", "cancelled")

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
        self.onData = None

    def _cancel(self, d: Deferred[Poem]) -> None:
        """Canceller of L{deferred}: stop the download; Deferred fails itself."""
        if self._take() is None:
            return
        self._stop()
        self._release()


def _reactor(reactor: object | None) -> TCPReactor:
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    return cast(TCPReactor, reactor)


def _checkTimeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(
            f"timeout must be a positive, finite number of seconds (or None"
            f" for no limit), not {timeout!r}"
        )
    return timeout


def _checkCount(name: str, value: object, *, noneAllowed: bool) -> int | None:
    """C{value} as a whole number >= 1 (or None if allowed)."""
    if value is None and noneAllowed:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(cast(Any, value))
    except TypeError:
        raise TypeError(
            f"{name} must be a whole number (an int), not {value!r}"
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be at least 1, not {number!r}")
    return number


def _checkLimits(timeout: object, max_bytes: object) -> None:
    _checkTimeout(timeout)
    _checkCount("max_bytes", max_bytes, noneAllowed=False)


def get_poem(
    host: str,
    port: int,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reactor: object | None = None,
    tracer: TraceRecorder | None = None,
    task: int | None = None,
    on_data: Callable[[int], object] | None = None,
) -> Deferred[Poem]:
    """
    Fetch one poem from C{host}:C{port}.

    Every argument is checked before anything starts: a bad one raises
    L{TypeError} or L{ValueError} at once, never a Deferred that does not
    fire.

    @param host: a host name (labels of at most 63 characters, 253 in all)
        or an IPv4/IPv6 literal (without brackets).
    @param port: an C{int} in 1-65535.
    @param timeout: seconds (positive, finite) allowed for connecting plus
        downloading, or L{None} for no limit at all: then neither the
        library nor Twisted's connector ends the download; only the
        operating system gives up connecting (on Linux after about two
        minutes of unanswered SYNs), and a server that accepts and never
        closes is waited for forever.
    @param max_bytes: the largest poem accepted (an C{int} >= 1).
    @param reactor: provides L{IReactorTCP} and L{IReactorTime}; the global
        reactor if L{None}.
    @param tracer: records every lifecycle callback, if given.
    @param task: the download's number in the trace (default 1).
    @param on_data: called with the size of each chunk as it arrives.  If it
        raises, the download is stopped and fails with L{PoemCallbackError}
        carrying the exception (which is also logged).

    @return: a L{Deferred} firing with a L{Poem}, or failing with a
        L{PoemError}.  Cancelling it stops the download and fails it with
        L{CancelledError}.

    @raise TypeError: (synchronously) for an argument of the wrong type.
    @raise ValueError: (synchronously) for a bad value (L{AddressError}
        for the host or port).
    """
    _checkLimits(timeout, max_bytes)
    address = check_address(host, port)
    return _fetch(
        address,
        _reactor(reactor),
        timeout,
        max_bytes,
        tracer,
        1 if task is None else task,
        on_data,
    )


def _fetch(
    address: Address,
    clock: TCPReactor,
    timeout: float | None,
    maxBytes: int,
    tracer: TraceRecorder | None,
    task: int,
    onData: Callable[[int], object] | None,
    onClosed: Callable[[], object] | None = None,
) -> Deferred[Poem]:
    """L{get_poem} with its arguments already checked."""
    factory = PoetryClientFactory(
        address,
        clock=clock,
        timeout=timeout,
        maxBytes=maxBytes,
        tracer=tracer,
        task=task,
        onData=onData,
        onClosed=onClosed,
    )
    d = factory.deferred
    assert d is not None
    # Our own timeout covers connecting, so the connector's is switched off
    # (otherwise it would fail as "connection timed out" instead); with no
    # timeout at all there is none either.
    clock.connectTCP(address.host, address.port, factory, timeout=None)
    return d


@dataclass(frozen=True, slots=True, eq=False)
class Outcome:
    """
    How one download of L{get_poems} ended: with a L{poem}, or an L{error}.

    @ivar index: the address's position in the input (0-based).
    @ivar address: the server.
    @ivar poem: the poem, if it arrived.
    @ivar error: why not: a L{PoemError}, L{CancelledError}, or (a bug) any
        other exception.
    @ivar elapsed: seconds from starting the download to its end (0 if it
        never started).
    """

    index: int
    address: Address
    poem: Poem | None = None
    error: BaseException | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the poem arrived."""
        return self.poem is not None

    @property
    def task(self) -> int:
        """The 1-based task number (as in the trace and the summary)."""
        return self.index + 1

    @property
    def received(self) -> int:
        """Bytes received: the poem's size, or as many as the error knows of."""
        if self.poem is not None:
            return len(self.poem.data)
        return int(getattr(self.error, "received", 0))


_FD_RESERVE = 32
"""File descriptors left free for everything that is not a download."""


def _openFileCount() -> int:
    for fdDir in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(fdDir))
        except OSError:
            continue
    return 0


def _toAddress(address: object, parsed: dict[object, Address]) -> Address:
    """
    C{address} as a checked L{Address}; each distinct value (text, pair or
    L{Address}) is parsed or checked once, remembered in C{parsed}.

    @raise TypeError: if C{address} is none of the accepted kinds.
    @raise AddressError: if it is malformed.
    """
    try:
        result = parsed.get(address)
    except TypeError:  # unhashable: a list, say
        result = None
    if result is not None:
        return result
    if isinstance(address, Address):
        result = check_address(address.host, address.port)
    elif isinstance(address, str):
        result = parse_address(address)
    elif isinstance(address, tuple) and len(address) == 2:
        result = check_address(*address)
    else:
        raise TypeError(
            "each address must be an Address, a (host, port) tuple or address"
            f" text such as '10001' or 'host:10001', not {address!r}"
        )
    parsed[address] = result
    return result


class _ServerQueue:
    """
    The downloads of one server (one L{Address}) in L{get_poems}: the
    indices not started yet, in input order, and how many hold a slot.
    """

    __slots__ = ("pending", "running")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self.running = 0

    def __lt__(self, other: _ServerQueue) -> bool:  # pragma: no cover
        # Heap entries are (head index, queue) and head indices are unique,
        # so queues are never compared; defined for the type checker.
        return id(self) < id(other)


def get_poems(
    addresses: Iterable[Address | str | tuple[str, int]],
    *,
    concurrency: int | None = DEFAULT_CONCURRENCY,
    per_server: int | None = DEFAULT_PER_SERVER,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reactor: object | None = None,
    tracer: TraceRecorder | None = None,
    on_data: Callable[[int, int], object] | None = None,
    on_outcome: Callable[[Outcome], object] | None = None,
    keep_outcomes: bool = True,
) -> Deferred[list[Outcome]]:
    """
    Fetch a poem from each address, many at once.

    Downloads start in input order, as long as both limits allow: at most
    C{concurrency} in all and C{per_server} to any one server.  A download
    holds its slot until its connection is really closed (not merely until
    its result is known: an aborted socket closes a reactor turn after a
    timeout), so at most C{concurrency} sockets are ever open.

    The library never raises the process's file descriptor limit.  If
    C{concurrency} (plus what the process already has open) exceeds it, the
    downloads that find no descriptor fail with L{PoemConnectionFailed}
    (C{cannot open a socket: too many open files (... RLIMIT_NOFILE, is
    N ...)}); the others are unaffected.  Raise the limit in your program's
    entry point, or lower C{concurrency}.  Under the C{select()} reactor
    (at most 1,024 descriptors whatever the limit) the concurrency is
    capped below that.

    @param addresses: a list (any iterable but a string) of L{Address}es,
        C{(host, port)} pairs, or address text (C{"10001"},
        C{"host:10001"}, C{"[::1]:10001"}).
    @param concurrency: at most this many downloads in flight in all (an
        C{int} >= 1), default L{DEFAULT_CONCURRENCY}; L{None}: no total
        limit.
    @param per_server: at most this many in flight to any one server (an
        C{int} >= 1), default L{DEFAULT_PER_SERVER}; L{None}: no limit per
        server.  Raise it for a server known to take more (a slow server
        serving many clients at once, say).
    @param timeout: per download, once it starts; see L{get_poem}.
    @param max_bytes: per download; see L{get_poem}.
    @param reactor: see L{get_poem}.
    @param tracer: records every download's callbacks; task numbers are the
        1-based positions in C{addresses}.
    @param on_data: called as C{on_data(index, nbytes)} for each chunk; if
        it raises, that download fails with L{PoemCallbackError}.
    @param on_outcome: called with each L{Outcome} as soon as that download
        ends (in completion order); if it raises, the error is logged.
    @param keep_outcomes: if false, each L{Outcome} (and its poem) is given
        only to C{on_outcome} and not kept, so memory follows the downloads
        in flight rather than the total; the result is then an empty list.

    @return: a L{Deferred} firing, once every download has ended, with one
        L{Outcome} per address in input order.  It never fails: one failure
        never stops the others.  Cancelling it stops every download still
        queued or running; it then fires with all the outcomes, the
        unfinished ones failed with L{CancelledError}.

    @raise TypeError: (synchronously) for an argument of the wrong type (a
        string for C{addresses}, a float concurrency, ...).
    @raise ValueError: (synchronously) for a bad value (L{AddressError} for
        an address).
    """
    _checkLimits(timeout, max_bytes)
    total = _checkCount("concurrency", concurrency, noneAllowed=True)
    perServer = _checkCount("per_server", per_server, noneAllowed=True)
    if isinstance(addresses, str | bytes | bytearray):
        raise TypeError(
            "addresses must be a list of addresses, not a single "
            f"{type(addresses).__name__} ({addresses!r})"
        )
    parsed: dict[object, Address] = {}
    targets = [_toAddress(a, parsed) for a in addresses]
    if not targets:
        return succeed([])
    clock = _reactor(reactor)
    count = len(targets)
    limit = count if total is None else min(total, count)
    if _isSelectReactor(clock):
        limit = max(1, min(limit, 1024 - _openFileCount() - _FD_RESERVE))
    cap = count if perServer is None else perServer

    # One queue per server, and a heap of the queues that may start a
    # download now (pending and below the per-server cap), keyed by the
    # index of their next download so downloads start in input order.
    queues: dict[Address, _ServerQueue] = {}
    queueOf: list[_ServerQueue] = []
    for index, target in enumerate(targets):
        queue = queues.get(target)
        if queue is None:
            queue = queues[target] = _ServerQueue()
        queue.pending.append(index)
        queueOf.append(queue)
    ready = [(q.pending[0], q) for q in queues.values()]
    heapq.heapify(ready)

    outcomes: list[Outcome | None] = [None] * count
    startedAt: list[float | None] = [None] * count
    # A slot is freed when both its result and its socket's close have been
    # seen (in either order): 2 while neither has, 0 once both have.
    toSee = bytearray(count)
    running: dict[int, Deferred[Poem]] = {}
    inFlight = 0
    remaining = count
    cancelled = False
    filling = False

    def cancelAll(result: Deferred[list[Outcome]]) -> None:
        nonlocal cancelled
        cancelled = True
        # Fail the queued ones first: they never start.
        queued = sorted(i for q in queues.values() for i in q.pending)
        for q in queues.values():
            q.pending.clear()
        ready.clear()
        for index in queued:
            ended(Failure(CancelledError()), index)
        for d in list(running.values()):
            d.cancel()

    done: Deferred[list[Outcome]] = Deferred(cancelAll)

    def fill() -> None:
        # Start downloads while both limits allow.  Re-entrant calls (a
        # download failing synchronously as it starts frees its slot at
        # once) return at once: this loop picks the freed slot up.
        nonlocal filling, inFlight
        if filling:
            return
        filling = True
        try:
            while ready and inFlight < limit and not cancelled:
                _, queue = heapq.heappop(ready)
                index = queue.pending.popleft()
                queue.running += 1
                if queue.pending and queue.running < cap:
                    heapq.heappush(ready, (queue.pending[0], queue))
                inFlight += 1
                start(index)
        finally:
            filling = False

    def start(index: int) -> None:
        startedAt[index] = clock.seconds()
        toSee[index] = 2
        try:
            d = _fetch(
                targets[index],
                clock,
                timeout,
                max_bytes,
                tracer,
                index + 1,
                None if on_data is None else partial(on_data, index),
                partial(seen, index),
            )
        except Exception:
            toSee[index] = 1  # no socket to wait for
            ended(Failure(), index)
            return
        running[index] = d
        d.addBoth(ended, index)

    def seen(index: int) -> None:
        # One of a download's two ends (result, socket closed) was seen;
        # after both, its slot goes to the next download.
        nonlocal inFlight
        toSee[index] -= 1
        if toSee[index]:
            return
        queue = queueOf[index]
        queue.running -= 1
        inFlight -= 1
        if queue.pending and queue.running == cap - 1:
            heapq.heappush(ready, (queue.pending[0], queue))  # was at its cap
        fill()

    # The one callback per download: record the outcome.  It returns None,
    # so the result Deferred holds nothing afterwards.
    def ended(result: object, index: int) -> None:
        nonlocal remaining
        running.pop(index, None)
        started = startedAt[index]
        elapsed = 0.0 if started is None else clock.seconds() - started
        if isinstance(result, Failure):
            outcome = Outcome(
                index, targets[index], error=result.value, elapsed=elapsed
            )
        else:
            poem = cast(Poem, result)
            outcome = Outcome(index, targets[index], poem=poem, elapsed=elapsed)
        if keep_outcomes:
            outcomes[index] = outcome
        if on_outcome is not None:
            try:
                on_outcome(outcome)
            except Exception:
                _log.failure(
                    "on_outcome callback failed for {address}",
                    address=str(outcome.address),
                )
        remaining -= 1
        if remaining == 0:
            done.callback(cast(list[Outcome], outcomes) if keep_outcomes else [])
        elif started is not None:
            seen(index)

    fill()
    return done


def _isSelectReactor(reactor: object) -> bool:
    """Whether C{reactor} is limited to FD_SETSIZE (1024) descriptors."""
    selectreactor = sys.modules.get("twisted.internet.selectreactor")
    if selectreactor is None:
        return False
    return isinstance(reactor, selectreactor.SelectReactor)
