"""
The poetry server: the protocol that sends one poem per connection, and the
factory that holds what connections share (the poem library, the slow-mode
schedule, the live connections, counters and the access log).

Fast mode writes the poem and closes the connection; a poem larger than
L{PoetryServerProtocol.STREAM_CHUNK} is streamed by a pull producer so a
client that does not read never makes the server buffer the whole poem.

Slow mode sends C{chunkSize} bytes every C{delay} seconds.  Instead of one
C{callLater} per connection per chunk, the factory keeps every slow
connection in one L{SlowSchedule}: a heap of absolute due times served by a
single timer, so all connections that are due are written in one reactor call
and lateness never accumulates (each due time is the previous one plus
C{delay}, not "now" plus C{delay}).

The lifecycle trace shows how connections interleave on the server: with
C{traceLifecycle} set, each connection logs C{connectionMade} (namespace
L{LIFECYCLE_NAMESPACE}) and its access-log event also says why the
connection was lost and whether cleanly; with C{traceChunks} set, each
slow-mode chunk is logged too, at debug level.  Every such event carries a
C{lifecycle} field naming the callback.  When both flags are off (fast mode's
default) no event is built: one boolean test per connection.
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableDescriptor,
    IHalfCloseableProtocol,
    IPullProducer,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger, LogLevel
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.addresses import formatAddress
from poetry.library import PoemFile, PoemLibrary

if TYPE_CHECKING:
    from poetry.faults import Fault

__all__ = [
    "LIFECYCLE_NAMESPACE",
    "ConnectionOutcome",
    "Deadlines",
    "GuardedServerProtocol",
    "PoetryServerFactory",
    "PoetryServerProtocol",
    "SlowSchedule",
    "defaultIdleTimeout",
    "formatAddress",
]

LIFECYCLE_NAMESPACE = "poetry.server.lifecycle"
"""The C{twisted.logger} namespace of the server's lifecycle trace events."""


class ConnectionOutcome(Enum):
    """
    How a connection ended.  Each member's value is the text the access
    log shows (its C{outcome} field); the factory counts connections by
    member (L{PoetryServerFactory.ended}).
    """

    #: The whole poem was handed to the kernel, the server half-closed, and
    #: the client then closed cleanly (or had half-closed already).
    COMPLETE = "complete"
    #: The whole poem was handed to the kernel, but the client then reset the
    #: connection instead of closing it: it may not have read it all.
    CLIENT_RESET = "client reset"
    #: The whole poem was handed to the kernel and the server half-closed,
    #: but the client did not close within
    #: L{PoetryServerProtocol.LINGER_TIMEOUT}; the server closed it.
    LINGER_TIMEOUT = "linger timeout"
    #: The client closed or reset before the poem was handed over in full.
    CLIENT_GONE = "client gone"
    #: Aborted at the end of the shutdown grace.
    CUT_AT_SHUTDOWN = "cut at shutdown"
    #: Cut by C{--idle-timeout}: no data moved for that long.
    CUT_IDLE = "cut idle"
    #: Ended on purpose by a fault mode (C{reset}, C{refuse}).
    FAULT = "fault"


@implementer(IHalfCloseableProtocol)
class PoetryServerProtocol(Protocol):
    """
    Sends one poem, then ends the connection with a lingering close.

    What the client sends is read and discarded: the classic protocol has no
    requests, and reading (rather than ignoring the socket) keeps a chatty
    client from filling the kernel's buffers and means a reset is noticed at
    once.

    A client's half-close (its FIN: C{shutdown(SHUT_WR)}, C{nc -N}, asyncio's
    C{write_eof}) changes nothing: the protocol is an
    L{IHalfCloseableProtocol}, so C{readConnectionLost} only notes that the
    client will send no more, and the poem goes on.

    The lingering close, as nginx does it: after the last byte the server
    half-closes (C{loseWriteConnection}: the kernel sends what it holds, then
    a FIN) and keeps reading and discarding until the client closes; only
    then does it close the socket.  Closing a socket while the client's
    bytes are unread makes the kernel send a reset that can destroy the poem
    in flight; lingering never leaves them unread.  A transport that cannot
    half-close (not an L{IHalfCloseableDescriptor}) is closed with
    C{loseConnection}.

    Every path that stops a poem before its last byte (shutdown, an idle
    cut, a fault meant to look like a crash) aborts the connection
    (C{abortConnection}, a TCP reset), so a cut poem never ends with the
    clean FIN that means "complete".

    @cvar STREAM_CHUNK: poems up to this many bytes are written in one
        C{write}; larger ones are sent by a pull producer this many bytes at a
        time.  It bounds what the server holds in user space for a client that
        does not read: at most one chunk, however large the poem.

    @ivar poem: the L{PoemFile} this connection gets.
    @ivar sent: how many of its bytes have been handed to the transport.
    @ivar outcome: how the connection ended (an L{ConnectionOutcome} value), set once
        the poem has been written in full or the connection was cut.
    """

    STREAM_CHUNK = 65536

    LINGER_TIMEOUT = 5.0
    """
    The longest, in seconds, a connection lingers after the server's
    half-close: from the moment the whole poem has left the transport's
    buffer for the kernel (C{writeConnectionLost}) until the client closes.
    It protects the server from clients that read the poem but never close
    (or keep sending): past it the connection is closed, logged as
    L{ConnectionOutcome.LINGER_TIMEOUT} and counted.  Reads do not extend it.  Like
    nginx's C{lingering_time}; override it on a subclass.
    """

    #: The client's address, as the factory was given it in buildProtocol.
    peer: IAddress | None = None

    factory: PoetryServerFactory
    # An ITCPTransport that is also an IConsumer; Twisted's stubs have no
    # single interface naming both.
    transport: Any
    poem: PoemFile
    sent: int = 0
    started: float = 0.0
    outcome: ConnectionOutcome | None = None
    #: The peer's IP address, counted by the factory's C{maxPerPeer}.
    peerHost: str | None = None
    #: This connection's entry in the factory's L{SlowSchedule}, if any.
    _entry: list[Any] | None = None
    #: The client has half-closed (or closed): it will send nothing more.
    readClosed = False
    #: The server has half-closed: the whole poem is in the kernel.
    writeClosed = False
    #: This connection's entry in the factory's linger L{Deadlines}.
    _linger: list[Any] | None = None

    def connectionMade(self) -> None:
        factory = self.factory
        self.started = factory.clock.seconds()
        self.poem = factory.library.next()
        factory.live.add(self)
        if factory.traceLifecycle:
            self._traceMade()
        if factory.delay is None:
            self._sendFast()
        else:
            self.sendChunk()
            if self.sent < len(self.poem.data):
                factory.schedule.add(self, self.started + factory.delay)

    def _sendFast(self) -> None:
        data = self.poem.data
        if len(data) <= self.STREAM_CHUNK:
            self.transport.write(data)
            self.sent = len(data)
            self._finished()
        else:
            self.transport.registerProducer(_PoemProducer(self), False)

    def sendChunk(self) -> bool:
        """
        Write the next C{chunkSize} bytes of the poem; close the connection
        after the last one.

        @return: whether more of the poem remains to be sent.
        """
        data = self.poem.data
        factory = self.factory
        offset = self.sent
        end = offset + factory.chunkSize
        self.transport.write(data[offset:end])
        self.sent = min(end, len(data))
        if factory.traceChunks:
            factory.events.emit(
                factory.lifecycleLog,
                LogLevel.debug,
                "{peer} chunk: {bytes} bytes at offset {offset}",
                {
                    "lifecycle": "chunk",
                    "peer": formatAddress(self.transport.getPeer()),
                    "bytes": self.sent - offset,
                    "offset": offset,
                },
            )
        if self.sent >= len(data):
            self._finished()
            return False
        return True

    def _traceMade(self) -> None:
        """Log C{connectionMade} to the lifecycle trace."""
        factory = self.factory
        factory.events.emit(
            factory.lifecycleLog,
            LogLevel.info,
            "{peer} connectionMade: poem {poem} ({size} bytes)",
            {
                "lifecycle": "connectionMade",
                "peer": formatAddress(self.transport.getPeer()),
                "poem": factory.displayName(self.poem.name),
                "size": len(self.poem.data),
            },
        )

    def _finished(self) -> None:
        """
        The whole poem has been handed to the transport: half-close and
        linger (see the class docstring).  The outcome is L{ConnectionOutcome.COMPLETE}
        unless the client resets or outstays L{LINGER_TIMEOUT}.
        """
        self.outcome = ConnectionOutcome.COMPLETE
        if IHalfCloseableDescriptor.providedBy(self.transport):
            cast(Any, self.transport).loseWriteConnection()
        else:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        """Discard whatever the client sends."""

    def readConnectionLost(self) -> None:
        """
        The client half-closed: keep sending.  If the server had half-closed
        already (the poem is in the kernel), both sides are done: close.
        """
        self.readClosed = True
        if self.writeClosed:
            self._cancelLinger()
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """
        The server's half-close is done: every byte is in the kernel and
        the FIN follows it.  Close now if the client has half-closed too,
        else linger for at most L{LINGER_TIMEOUT} seconds.
        """
        self.writeClosed = True
        if self.readClosed:
            self.transport.loseConnection()
        else:
            self._linger = self.factory.lingerDeadlines(self.LINGER_TIMEOUT).add(self)

    def lingerExpired(self) -> None:
        """The client did not close within L{LINGER_TIMEOUT}: close it."""
        self._linger = None
        self.outcome = ConnectionOutcome.LINGER_TIMEOUT
        self.transport.loseConnection()

    def _cancelLinger(self) -> None:
        linger, self._linger = self._linger, None
        if linger is not None:
            self.factory.lingerDeadlines(self.LINGER_TIMEOUT).cancel(linger)

    def cut(self) -> None:
        """
        End this connection at the end of the shutdown grace.  One whose
        poem is all in the kernel (lingering: it lingers through the grace,
        like any connection, so no stray byte from its client can turn the
        close into a reset) is closed cleanly: its poem is complete.  Any
        other is aborted: buffered data is dropped, the client sees a reset,
        never a clean end, and a client that never reads cannot hold the
        server open.
        """
        if self.writeClosed:
            self._cancelLinger()
            self.transport.loseConnection()
            return
        if self.outcome is None or self.outcome is ConnectionOutcome.COMPLETE:
            self.outcome = ConnectionOutcome.CUT_AT_SHUTDOWN
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelLinger()
        outcome = self.outcome
        if outcome is None:
            self.outcome = ConnectionOutcome.CLIENT_GONE
        elif outcome is ConnectionOutcome.COMPLETE and not isinstance(
            reason.value, ConnectionDone
        ):
            # Reset by the client after the whole poem was handed over: if
            # it was all in the kernel, the client reset instead of closing.
            self.outcome = (
                ConnectionOutcome.CLIENT_RESET
                if self.writeClosed
                else ConnectionOutcome.CLIENT_GONE
            )
        self.factory.connectionEnded(self, reason)


class _PoemProducer:
    """
    A pull producer (L{twisted.internet.interfaces.IPullProducer}) that hands
    a large poem to the transport one L{PoetryServerProtocol.STREAM_CHUNK} at
    a time, each chunk only once the transport's buffer has drained.
    """

    def __init__(self, protocol: PoetryServerProtocol) -> None:
        self.protocol = protocol

    def resumeProducing(self) -> None:
        proto = self.protocol
        data = proto.poem.data
        end = proto.sent + proto.STREAM_CHUNK
        transport = proto.transport
        transport.write(data[proto.sent : end])
        proto.sent = min(end, len(data))
        if proto.sent >= len(data):
            transport.unregisterProducer()
            proto._finished()

    def stopProducing(self) -> None:
        """The connection is gone; L{PoetryServerProtocol} logs it."""


class GuardedServerProtocol(PoetryServerProtocol, TimeoutMixin):
    """
    A L{PoetryServerProtocol} for a factory with a fault mode or an idle
    timeout.  The factory builds this class only then, so the plain
    protocol's fast and slow paths stay exactly as lean as they are.

    Idle timeout (L{TimeoutMixin}, timers from the factory's clock): the
    timer starts when the connection is made and restarts each time the
    transport reports that its write buffer has drained into the kernel
    (the C{resumeProducing} of a pull producer).  So it fires when no data
    has moved for C{idleTimeout} seconds: a client whose socket buffer is
    full because it does not read, or a C{stall}/C{silent} fault connection.
    Then the connection is aborted, logged and counted (L{ConnectionOutcome.CUT_IDLE}).
    """

    _watching = False
    #: Slow mode: when the transport's buffer last drained (clock seconds).
    lastMoved = 0.0
    _hang: IDelayedCall | None = None
    #: This connection's entry in the factory's idle L{Deadlines}, if any.
    _idle: list[Any] | None = None

    def callLater(self, period: float, func: Any) -> IDelayedCall:
        """L{TimeoutMixin}'s timers, through the factory's injected clock."""
        return self.factory.clock.callLater(period, func)

    def connectionMade(self) -> None:
        factory = self.factory
        timeout = factory.idleTimeout
        fault = factory.fault
        if timeout is not None:
            if fault is None and factory.delay is None:
                # Fast mode: most poems leave the transport at once, so the
                # idle timer is an entry in one shared FIFO (see Deadlines);
                # a large poem's producer switches to TimeoutMixin.
                self._idle = factory.idleDeadlines.add(self)  # type: ignore[union-attr]
            elif fault is not None:
                self.setTimeout(timeout)
        if fault is not None:
            self.started = factory.clock.seconds()
            self.poem = factory.library.next()
            factory.live.add(self)
            if factory.traceLifecycle:
                self._traceMade()
            fault.start(self)
            return
        if timeout is not None and factory.delay is not None:
            # Slow mode writes on a schedule, not on demand: a pull producer
            # that writes nothing still tells us each time a chunk drained.
            # No timer: each chunk time checks lastMoved (see sendChunk).
            self.lastMoved = factory.clock.seconds()
            self.transport.registerProducer(_DrainWatcher(self), False)
            self._watching = True
        PoetryServerProtocol.connectionMade(self)

    def sendChunk(self) -> bool:
        """
        Slow mode with an idle timeout: before each chunk, cut the
        connection if its transport has not drained for C{idleTimeout}
        seconds (so a cut comes at a chunk time, at most one C{delay} after
        the timeout); a check per chunk costs less than restarting a timer
        at each drain.
        """
        if self._watching:
            factory = self.factory
            if factory.schedule.now - self.lastMoved >= factory.idleTimeout:  # type: ignore[operator]
                self.timeoutConnection()
                return False
        return PoetryServerProtocol.sendChunk(self)

    def _sendFast(self) -> None:
        if self._idle is not None and len(self.poem.data) > self.STREAM_CHUNK:
            self._cancelIdle()
            self.setTimeout(self.factory.idleTimeout)
            self.transport.registerProducer(_TimedPoemProducer(self), False)
        else:
            PoetryServerProtocol._sendFast(self)

    def _cancelIdle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            self.factory.idleDeadlines.cancel(idle)  # type: ignore[union-attr]

    def idleExpired(self) -> None:
        """A small fast poem did not leave the transport in time."""
        self._idle = None
        self.timeoutConnection()

    def _finished(self) -> None:
        if self._watching:
            # A registered producer would keep loseConnection from closing.
            self._watching = False
            self.transport.unregisterProducer()
            # Until the last chunk leaves the transport, the idle bound runs.
            self._idle = self.factory.idleDeadlines.add(self)  # type: ignore[union-attr]
        PoetryServerProtocol._finished(self)

    def writeConnectionLost(self) -> None:
        """The poem is all in the kernel: the linger bound replaces the idle timer."""
        self._cancelIdle()
        self.setTimeout(None)
        PoetryServerProtocol.writeConnectionLost(self)

    def readConnectionLost(self) -> None:
        """
        The client half-closed.  A fault that hangs on purpose (C{stall},
        C{silent}: L{poetry.faults.Fault.hangs}) will never send again, and
        nothing would tell it that the client has gone: it holds the
        connection for at most L{LINGER_TIMEOUT} more seconds, then aborts
        it.  Anything that sends goes on sending.
        """
        PoetryServerProtocol.readConnectionLost(self)
        fault = self.factory.fault
        if fault is not None and fault.hangs and self.outcome is None:
            self._hang = self.factory.clock.callLater(
                self.LINGER_TIMEOUT, self._hangOver
            )

    def _hangOver(self) -> None:
        """A hanging fault's client half-closed long ago: abort (a reset)."""
        self._hang = None
        self.transport.abortConnection()

    def timeoutConnection(self) -> None:
        """No data moved for C{idleTimeout} seconds: abort the connection."""
        self.outcome = ConnectionOutcome.CUT_IDLE
        self.factory.log.info(
            "Cut {peer}: no data moved for {seconds} s (--idle-timeout)",
            peer=formatAddress(self.transport.getPeer()),
            seconds=self.factory.idleTimeout,
        )
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)
        self._cancelIdle()
        hang, self._hang = self._hang, None
        if hang is not None and hang.active():
            hang.cancel()
        PoetryServerProtocol.connectionLost(self, reason)


@implementer(IPullProducer)
class _TimedPoemProducer(_PoemProducer):
    """A L{_PoemProducer} that restarts the idle timer at each drain."""

    protocol: GuardedServerProtocol

    def resumeProducing(self) -> None:
        self.protocol.resetTimeout()
        _PoemProducer.resumeProducing(self)


@implementer(IPullProducer)
class _DrainWatcher:
    """
    A pull producer that writes nothing: the transport calls
    C{resumeProducing} each time its buffer has drained, which records the
    time in the protocol's C{lastMoved} (slow mode's idle check).
    """

    def __init__(self, protocol: GuardedServerProtocol) -> None:
        self.protocol = protocol

    def resumeProducing(self) -> None:
        proto = self.protocol
        proto.lastMoved = proto.factory.clock.seconds()

    def stopProducing(self) -> None:
        """The connection is gone; the protocol logs it."""


class Deadlines:
    """
    Timeouts of one fixed duration for many connections, on one timer.

    Every deadline is "now plus the same C{seconds}", so deadlines expire in
    the order they were set: a FIFO replaces the reactor's heap, and one
    L{IDelayedCall} waits for the oldest.  Setting a deadline costs a list
    and an append instead of a C{callLater}, cancelling it drops the entry's
    reference to the protocol (freed at once); emptied entries are skipped
    when they come up, and the FIFO is rebuilt without them once they are
    more than half of it.  The fast path of every connection sets and
    cancels one or two timeouts, so this is most of their cost.

    @ivar seconds: the duration of every deadline.
    """

    #: Rebuild the FIFO only past this many emptied entries.
    COMPACT_MIN = 64

    def __init__(
        self,
        clock: IReactorTime,
        seconds: float,
        expire: Callable[[Any], object],
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self._expire = expire
        self._fifo: deque[list[Any]] = deque()
        self._dead = 0
        self._timer: IDelayedCall | None = None

    def add(self, protocol: PoetryServerProtocol) -> list[Any]:
        """Call C{expire(protocol)} C{seconds} from now, unless cancelled."""
        entry = [self.clock.seconds() + self.seconds, protocol]
        self._fifo.append(entry)
        if self._timer is None:
            self._timer = self.clock.callLater(self.seconds, self._fire)
        return entry

    def cancel(self, entry: list[Any]) -> None:
        """Cancel a deadline that L{add} returned and that has not expired."""
        entry[1] = None
        self._dead += 1
        fifo = self._fifo
        if self._dead >= len(fifo):
            fifo.clear()
            self._dead = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._dead > self.COMPACT_MIN and 2 * self._dead > len(fifo):
            self._fifo = deque(e for e in fifo if e[1] is not None)
            self._dead = 0

    def __len__(self) -> int:
        """Deadlines pending (cancelled ones not counted)."""
        return len(self._fifo) - self._dead

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        fifo = self._fifo
        while fifo and fifo[0][0] <= now:
            entry = fifo.popleft()
            protocol = entry[1]
            if protocol is None:
                self._dead -= 1
                continue
            entry[1] = None
            self._expire(protocol)
        if fifo and self._timer is None:
            self._timer = self.clock.callLater(
                max(0.0, fifo[0][0] - now), self._fire
            )


class SlowSchedule:
    """
    The send schedule of every slow-mode connection of one factory.

    Each connection has an absolute due time; a heap keeps the earliest on
    top and one L{IDelayedCall} waits for it.  When it fires, every
    connection that is due is sent its next chunk in that one call, and gets
    its next due time by adding C{delay} to the old one, so a late tick makes
    that chunk late but not the ones after it.

    A connection that is lost leaves the schedule at once: L{discard} drops
    the heap entry's reference to it, so the protocol and its transport are
    freed then, not at their next due time.  The emptied entry (a small
    list) is skipped when it comes up; once more than half the heap is
    emptied entries, the heap is rebuilt without them (amortised O(1) per
    connection), so they never hold more memory than the live entries.
    """

    #: Rebuild the heap only past this many emptied entries.
    COMPACT_MIN = 64

    def __init__(self, clock: IReactorTime, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        # Entries are [due, seq, protocol or None]: seq is unique, so two
        # entries never compare their protocols.
        self._heap: list[list[Any]] = []
        self._seq = 0
        self._dead = 0
        self._call: IDelayedCall | None = None
        self._callAt = 0.0
        #: The clock's time at the current (or last) tick.
        self.now = 0.0

    def add(self, protocol: PoetryServerProtocol, due: float) -> None:
        """Send C{protocol} its next chunk at C{due} (reactor seconds)."""
        self._seq += 1
        entry = [due, self._seq, protocol]
        protocol._entry = entry
        heapq.heappush(self._heap, entry)
        if self._call is None or due < self._callAt:
            self._reschedule()

    def _reschedule(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if not self._heap:
            return
        due = self._heap[0][0]
        self._callAt = due
        self._call = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._tick
        )

    def _tick(self) -> None:
        self._call = None
        now = self.now = self.clock.seconds()
        heap = self._heap
        delay = self.delay
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            proto = entry[2]
            if proto is None:
                self._dead -= 1
                continue
            if proto.sendChunk():
                self._seq += 1
                entry[0] += delay
                entry[1] = self._seq
                heapq.heappush(heap, entry)
            else:
                proto._entry = None
        self._reschedule()

    def discard(self, protocol: PoetryServerProtocol) -> None:
        """Forget a connection that has gone, at once."""
        entry = protocol._entry
        if entry is None:
            return
        protocol._entry = None
        entry[2] = None
        heap = self._heap
        if heap[0] is entry:
            heapq.heappop(heap)
            if not heap and self._call is not None:
                self._call.cancel()
                self._call = None
            return
        self._dead += 1
        if self._dead > self.COMPACT_MIN and 2 * self._dead > len(heap):
            self._heap = [e for e in heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def __len__(self) -> int:
        """Connections scheduled (emptied entries not counted)."""
        return len(self._heap) - self._dead

    def stop(self) -> None:
        """Cancel the timer; pending connections are no longer served."""
        if self._call is not None:
            self._call.cancel()
            self._call = None
        for entry in self._heap:
            if entry[2] is not None:
                entry[2]._entry = None
        self._heap.clear()
        self._dead = 0


def defaultIdleTimeout(delay: float | None, fault: Fault | None) -> float | None:
    """
    The idle timeout a server gets when C{--idle-timeout} is not given:
    L{PoetryServerFactory.DEFAULT_IDLE_TIMEOUT} seconds (or, in slow mode
    with a C{delay} that long or longer, twice the delay, since a slow
    connection moves data only every C{delay} seconds), like nginx's
    C{send_timeout}: a client that stops reading (a zero window, slowloris)
    cannot hold a descriptor for ever.  L{None} for a fault mode that hangs
    on purpose (C{stall}, C{silent}: L{poetry.faults.Fault.hangs}): it
    hangs until the client gives up, an explicit C{--idle-timeout} or
    shutdown.
    """
    if fault is not None and fault.hangs:
        return None
    default = PoetryServerFactory.DEFAULT_IDLE_TIMEOUT
    if delay is not None and delay >= default:
        return 2 * delay
    return default


class PoetryServerFactory(ServerFactory):
    """
    Builds L{PoetryServerProtocol}s and holds what they share.

    @ivar library: where each connection's poem comes from.
    @ivar delay: seconds between chunks in slow mode; L{None} for fast mode.
    @ivar chunkSize: bytes per chunk in slow mode.
    @ivar maxConnections: refuse connections beyond this many live ones
        (L{None}: no limit).
    @ivar live: the connections being served now.
    @ivar served: poems sent in full.
    @ivar bytesSent: bytes handed to transports, over all connections.
    @ivar clientsGone: connections the client closed or reset before the
        poem was sent in full.
    @ivar cutAtShutdown: connections aborted at shutdown.
    @ivar refused: connections refused by C{maxConnections}.
    @ivar clientResets: connections whose poem was all in the kernel, but
        whose client then reset the connection instead of closing it (it may
        not have read it all); see L{ConnectionOutcome.CLIENT_RESET}.
    @ivar lingerTimeouts: connections closed by the server after lingering
        L{PoetryServerProtocol.LINGER_TIMEOUT} seconds for the client to
        close.
    @ivar fault: the L{poetry.faults.Fault} every connection gets instead of
        its poem (L{None}: serve poems).
    @ivar idleTimeout: abort a connection on which no data has moved for this
        many seconds (L{None}: never); see L{GuardedServerProtocol}.
    @ivar maxPerPeer: refuse connections from one IP address beyond this many
        live ones (L{None}: no limit).  It keeps one client host from taking
        every connection the server can hold.
    @ivar perPeer: live connections by peer IP address, while C{maxPerPeer}
        is set.
    @ivar cutIdle: connections aborted by C{idleTimeout}.
    @ivar refusedPerPeer: connections refused by C{maxPerPeer}.
    @ivar faults: connections ended on purpose by the fault mode.
    @ivar traceLifecycle: log each connection's C{connectionMade} to
        C{lifecycleLog}, and add to its access-log event why it was lost
        (C{reason}: the exception's class name) and whether cleanly
        (C{clean}: a L{ConnectionDone}).
    @ivar traceChunks: log each slow-mode chunk (C{bytes}, C{offset}) to
        C{lifecycleLog}, at debug level.
    @ivar lifecycleLog: where lifecycle trace events go (namespace
        L{LIFECYCLE_NAMESPACE}).
    """

    protocol = PoetryServerProtocol  # type: ignore[assignment]
    noisy = False
    log = Logger()

    DEFAULT_CHUNK_SIZE = 10

    DEFAULT_IDLE_TIMEOUT = 60.0
    """
    Seconds without data moving after which C{twistd poetry} cuts a
    connection when C{--idle-timeout} is not given (see
    L{defaultIdleTimeout}).  The factory itself has no default: a
    L{PoetryServerFactory} built without C{idle_timeout} never cuts.
    """

    REFUSAL_SUMMARY_INTERVAL = 1.0
    """
    Refusals (C{maxConnections}, C{maxPerPeer}) are logged in summary: one
    event at most this many seconds after the first refusal, counting it and
    every refusal since, never one event per refusal.  Under a connection
    flood a line per refusal would cost more than serving (the log write
    outweighs the C{accept} and C{close}), and fill the disk.  The timer
    runs only while refusals are waiting to be logged.
    """

    def __init__(
        self,
        library: PoemLibrary,
        *,
        delay: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_connections: int | None = None,
        fault: Fault | None = None,
        idle_timeout: float | None = None,
        max_per_peer: int | None = None,
        trace: bool | None = None,
        reactor: IReactorTime | None = None,
    ) -> None:
        """
        @param trace: the lifecycle trace.  L{None} (the default): trace
            C{connectionMade} and C{connectionLost} in slow mode only, where
            connections overlap for seconds and their interleaving is the
            point; fast mode stays as lean as it can be.  C{True}: trace
            them in any mode, and each slow-mode chunk too.  C{False}: no
            trace.
        """
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        assert reactor is not None
        if delay is not None and delay <= 0:
            raise ValueError(f"delay must be positive, not {delay!r}")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, not {chunk_size!r}")
        if idle_timeout is not None:
            if not idle_timeout > 0:
                raise ValueError(f"idle_timeout must be positive, not {idle_timeout!r}")
            if delay is not None and idle_timeout <= delay:
                # Slow connections move data only every delay seconds.
                raise ValueError(
                    f"idle_timeout ({idle_timeout!r}) must be longer than"
                    f" delay ({delay!r})"
                )
        if max_per_peer is not None and max_per_peer < 1:
            raise ValueError(f"max_per_peer must be at least 1, not {max_per_peer!r}")
        self.library = library
        self.delay = delay
        self.chunkSize = chunk_size
        self.maxConnections = max_connections
        self.clock: IReactorTime = reactor
        self.schedule = SlowSchedule(reactor, delay or 1.0)
        self.live: set[PoetryServerProtocol] = set()
        self.bytesSent = 0
        #: Connections that have ended, by how they ended.
        self.ended: dict[ConnectionOutcome, int] = dict.fromkeys(ConnectionOutcome, 0)
        self.refused = 0
        self.fault = fault
        self.idleTimeout = idle_timeout
        self.maxPerPeer = max_per_peer
        self.perPeer: dict[str | None, int] = {}
        self.refusedPerPeer = 0
        self._names: dict[str, str] = {}
        self._lingers: dict[float, Deadlines] = {}
        #: The idle timeouts of fast-mode connections (see
        #: L{GuardedServerProtocol}), while C{idleTimeout} is set.
        self.idleDeadlines = (
            Deadlines(reactor, idle_timeout, GuardedServerProtocol.idleExpired)
            if idle_timeout is not None
            else None
        )
        self._refusalTimer: IDelayedCall | None = None
        self._refusalMark = (0, 0)
        if fault is not None or idle_timeout is not None:
            self.protocol = GuardedServerProtocol
        self._drained: list[Deferred[None]] = []
        #: One event per connection, in its own namespace so it can be
        #: filtered or routed apart from the rest of the log.
        self.accessLog = Logger(namespace="poetry.access", source=self)
        #: Per-connection events (access log, lifecycle trace) go out
        #: through this, in batches when the server is busy.
        self.events = BatchingLog(reactor)
        self.traceLifecycle = delay is not None if trace is None else trace
        self.traceChunks = bool(trace)
        self.lifecycleLog = Logger(namespace=LIFECYCLE_NAMESPACE, source=self)

    def buildProtocol(self, addr: IAddress) -> PoetryServerProtocol | None:  # type: ignore[override]
        if self.maxConnections is not None and len(self.live) >= self.maxConnections:
            self.refused += 1
            if self._refusalTimer is None:
                self._startRefusalSummary()
            return None
        if self.maxPerPeer is not None:
            return self._buildForPeer(addr)
        p = self.protocol()
        p.factory = self
        p.peer = addr
        return p

    def _buildForPeer(self, addr: IAddress) -> PoetryServerProtocol | None:
        """
        C{buildProtocol} under C{maxPerPeer}: count live connections by the
        peer's IP address (C{addr.host}; addresses without one, such as UNIX
        sockets, are counted together), refuse beyond the limit.
        """
        host = getattr(addr, "host", None)
        live = self.perPeer.get(host, 0)
        if live >= self.maxPerPeer:  # type: ignore[operator]
            self.refusedPerPeer += 1
            if self._refusalTimer is None:
                self._startRefusalSummary()
            return None
        self.perPeer[host] = live + 1
        p = self.protocol()
        p.factory = self
        p.peerHost = host
        p.peer = addr
        return p

    def _startRefusalSummary(self) -> None:
        """
        The first refusal since the last summary: log a summary of this and
        every later refusal L{REFUSAL_SUMMARY_INTERVAL} seconds from now.
        """
        self._refusalTimer = self.clock.callLater(
            self.REFUSAL_SUMMARY_INTERVAL, self._logRefusals
        )

    def _logRefusals(self) -> None:
        """Log one event counting the refusals since the last summary."""
        self._refusalTimer = None
        refused, perPeer = self._refusalMark
        self._refusalMark = (self.refused, self.refusedPerPeer)
        refused, perPeer = self.refused - refused, self.refusedPerPeer - perPeer
        if refused or perPeer:
            self.log.info(
                "Refused {count} connections in the last {seconds} s: {refused} by "
                "--max-connections ({limit}), {refusedPerPeer} by --max-per-peer "
                "({perPeerLimit}); {live} live",
                count=refused + perPeer,
                seconds=self.REFUSAL_SUMMARY_INTERVAL,
                refused=refused,
                refusedPerPeer=perPeer,
                limit=self.maxConnections,
                perPeerLimit=self.maxPerPeer,
                live=len(self.live),
            )

    def lingerDeadlines(self, seconds: float) -> Deadlines:
        """The shared L{Deadlines} of lingering connections, by duration."""
        deadlines = self._lingers.get(seconds)
        if deadlines is None:
            deadlines = self._lingers[seconds] = Deadlines(
                self.clock, seconds, PoetryServerProtocol.lingerExpired
            )
        return deadlines

    def displayName(self, name: str) -> str:
        """
        C{name} (a poem's name, from its file name) as logs show it: a name
        that is not valid UTF-8 (decoded with C{surrogateescape}) shows its
        bad bytes escaped (C{caf\\xe9}), and unprintable characters are
        escaped too, so every log observer can write it (text and JSON logs
        are UTF-8) and no name can forge a log line.  Computed once per name.
        """
        shown = self._names.get(name)
        if shown is None:
            shown = os.fsencode(name).decode("utf-8", "backslashreplace")
            if not shown.isprintable():
                shown = "".join(
                    c if c.isprintable() else repr(c)[1:-1] for c in shown
                )
            self._names[name] = shown
        return shown

    def _peerGone(self, protocol: PoetryServerProtocol) -> None:
        """Forget one of C{maxPerPeer}'s live connections."""
        host = protocol.peerHost
        left = self.perPeer.get(host, 0) - 1
        if left > 0:
            self.perPeer[host] = left
        else:
            self.perPeer.pop(host, None)

    def connectionEnded(self, protocol: PoetryServerProtocol, reason: Failure) -> None:
        """
        Called by a protocol's C{connectionLost}: update the counters, write
        the access-log event, and fire L{drain} waiters once none are live.
        """
        self.live.discard(protocol)
        if self.delay is not None:
            self.schedule.discard(protocol)
        outcome = protocol.outcome
        self.ended[outcome] += 1  # type: ignore[index]
        if self.maxPerPeer is not None:
            self._peerGone(protocol)
        self.bytesSent += protocol.sent
        now = self.clock.seconds()
        record: dict[str, Any] = {
            "peer": formatAddress(protocol.peer or protocol.transport.getPeer()),
            "poem": self.displayName(protocol.poem.name)
            if hasattr(protocol, "poem")
            else "-",
            "bytes": protocol.sent,
            "seconds": now - protocol.started,
            "outcome": outcome.value,  # type: ignore[union-attr]
        }
        logFormat = ACCESS_FORMAT
        if self.traceLifecycle:
            # The access event is also the trace's connectionLost line.
            logFormat += " (connectionLost: {reason}, clean={clean})"
            record["lifecycle"] = "connectionLost"
            record["reason"] = type(reason.value).__name__
            record["clean"] = reason.check(ConnectionDone) is not None
        self.events.emit(self.accessLog, LogLevel.info, logFormat, record, now=now)
        if not self.live:
            self.events.flush()
        if not self.live and self._drained:
            waiting, self._drained = self._drained, []
            for d in waiting:
                d.callback(None)

    def doStop(self) -> None:
        """The last port has stopped listening: write out waiting events."""
        if self._refusalTimer is not None:
            self._refusalTimer.cancel()
            self._logRefusals()
        self.events.flush()
        super().doStop()

    def drain(self, grace: float) -> Deferred[None]:
        """
        Wait for the live connections to finish, for at most C{grace}
        seconds; then cut the ones left with C{abortConnection}.

        @return: a L{Deferred} that fires once no connection is live.
        """
        if not self.live:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        timer = self.clock.callLater(grace, self.cutAll)

        def cancelTimer(result: None) -> None:
            if timer.active():
                timer.cancel()
            return result

        d.addBoth(cancelTimer)
        return d

    def cutAll(self) -> None:
        """Abort every live connection (see L{PoetryServerProtocol.cut})."""
        self.schedule.stop()
        for proto in list(self.live):
            proto.cut()

    @property
    def served(self) -> int:
        """Poems sent in full (L{ConnectionOutcome.COMPLETE})."""
        return self.ended[ConnectionOutcome.COMPLETE]

    @property
    def clientsGone(self) -> int:
        """Connections ended as L{ConnectionOutcome.CLIENT_GONE}."""
        return self.ended[ConnectionOutcome.CLIENT_GONE]

    @property
    def cutAtShutdown(self) -> int:
        """Connections ended as L{ConnectionOutcome.CUT_AT_SHUTDOWN}."""
        return self.ended[ConnectionOutcome.CUT_AT_SHUTDOWN]

    @property
    def cutIdle(self) -> int:
        """Connections ended as L{ConnectionOutcome.CUT_IDLE}."""
        return self.ended[ConnectionOutcome.CUT_IDLE]

    @property
    def faults(self) -> int:
        """Connections ended as L{ConnectionOutcome.FAULT}."""
        return self.ended[ConnectionOutcome.FAULT]

    @property
    def clientResets(self) -> int:
        """Connections ended as L{ConnectionOutcome.CLIENT_RESET}."""
        return self.ended[ConnectionOutcome.CLIENT_RESET]

    @property
    def lingerTimeouts(self) -> int:
        """Connections ended as L{ConnectionOutcome.LINGER_TIMEOUT}."""
        return self.ended[ConnectionOutcome.LINGER_TIMEOUT]

    def counts(self) -> dict[str, int]:
        """The counters, by name, for logs and tests."""
        return {
            "live": len(self.live),
            "served": self.served,
            "bytesSent": self.bytesSent,
            "clientsGone": self.clientsGone,
            "cutAtShutdown": self.cutAtShutdown,
            "refused": self.refused,
            "cutIdle": self.cutIdle,
            "refusedPerPeer": self.refusedPerPeer,
            "faults": self.faults,
            "clientResets": self.clientResets,
            "lingerTimeouts": self.lingerTimeouts,
        }


ACCESS_FORMAT = "{peer} {poem} {bytes} bytes {seconds:.3f} s {outcome}"


class BatchingLog:
    """
    Writes per-connection log events -- the access log, the lifecycle trace
    -- one by one while the server is quiet, and in batches when it is busy.

    A text log observer (twistd's) costs tens of microseconds per event:
    formatting the timestamp and the message, then a write and a flush.
    That is more than serving a small poem or sending a slow chunk takes,
    so at thousands of connections a second one event per connection would
    cost the server most of its throughput.

    So: while no event is waiting and fewer than L{BURST} have been written
    in the current second, each event is emitted at once, as is.  Past
    that, events wait and go out together: each run of consecutive events
    for the same logger and level becomes one event (order is kept), whose
    text has one line per original event.  Waiting events go out when
    L{MAX_BATCH} are waiting, L{MAX_AGE} seconds after the first of them
    (one timer, only while events wait), or on L{flush} (the factory
    flushes whenever no connection is live, and when it stops).

    A batch event has C{count} and C{records}, a list of the original
    events' fields; a single event has its fields at the top level.

    @cvar BURST: events per second written one by one.
    @cvar MAX_BATCH: the most events one batch holds; it bounds the memory
        held and the size of one write.
    @cvar MAX_AGE: the longest, in seconds, an event waits.
    """

    BURST = 200
    MAX_BATCH = 512
    MAX_AGE = 0.5

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._waiting: list[tuple[Logger, LogLevel, str, dict[str, Any]]] = []
        self._window = float("-inf")
        self._written = 0
        self._timer: IDelayedCall | None = None

    def emit(
        self,
        log: Logger,
        level: LogLevel,
        logFormat: str,
        fields: dict[str, Any],
        *,
        now: float | None = None,
    ) -> None:
        """
        Log C{logFormat} with C{fields} to C{log}, now or in a batch.
        C{now}, if given, is the clock's current time (saves reading it).
        """
        waiting = self._waiting
        if not waiting:
            if now is None:
                now = self.clock.seconds()
            if now - self._window >= 1.0:
                self._window = now
                self._written = 0
            if self._written < self.BURST:
                self._written += 1
                log.emit(level, logFormat, **fields)
                return
            self._timer = self.clock.callLater(self.MAX_AGE, self.flush)
        waiting.append((log, level, logFormat, fields))
        if len(waiting) >= self.MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Emit every waiting event now."""
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        start = 0
        while start < len(waiting):
            log, level = waiting[start][0], waiting[start][1]
            end = start + 1
            while (
                end < len(waiting)
                and waiting[end][0] is log
                and waiting[end][1] is level
            ):
                end += 1
            run = waiting[start:end]
            if len(run) == 1:
                log.emit(level, run[0][2], **run[0][3])
            else:
                log.emit(
                    level,
                    "{lines}",
                    count=len(run),
                    records=[fields for _, _, _, fields in run],
                    lines=_Lines(run),
                )
            start = end


ACCESS_FORMAT = "{peer} {poem} {bytes} bytes {seconds:.3f} s {outcome}"


class _Lines:
    """The text of a batch of events, built only if an observer renders it."""

    __slots__ = ("_run",)

    def __init__(self, run: list[tuple[Logger, LogLevel, str, dict[str, Any]]]) -> None:
        self._run = run

    def __str__(self) -> str:
        return "\n".join(
            _accessLine(fields) if fmt is ACCESS_FORMAT else fmt.format_map(fields)
            for _, _, fmt, fields in self._run
        )

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _accessLine(r: dict[str, Any]) -> str:
    """L{ACCESS_FORMAT} for one record, without the general formatter's cost."""
    peer, poem, size, seconds = r["peer"], r["poem"], r["bytes"], r["seconds"]
    return f"{peer} {poem} {size} bytes {seconds:.3f} s {r['outcome']}"
