"""
The base of every server protocol: the one owner of a connection's
accounting (which poem it got, how many bytes it handed to the transport,
how it ended), which it reports to its factory when the connection is lost.

The poem protocol (L{poetry.server.protocol}) and every fault mode's
protocol (L{poetry.server.faults}) subclass L{BaseServerProtocol}; it
imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableDescriptor,
    IHalfCloseableProtocol,
    INegotiated,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer, providedBy

from poetry.addresses import format_address
from poetry.library import PoemFile
from poetry.server.accesslog import log_made
from poetry.server.deadlines import Deadlines, DeadlineTimeoutMixin
from poetry.server.outcome import ConnectionOutcome

if TYPE_CHECKING:
    from poetry.server.factory import PoetryServerFactory

__all__ = ["BaseServerProtocol"]

# Enum members as globals: in Python 3.11 reading one from its class goes
# through a descriptor, about ten times the cost, and every connection
# reads these.
_COMPLETE = ConnectionOutcome.COMPLETE
_CLIENT_GONE = ConnectionOutcome.CLIENT_GONE
_CLIENT_RESET = ConnectionOutcome.CLIENT_RESET

#: Whether a transport providing each interface specification (its
#: C{providedBy}) can half-close (L{close_cleanly}): decided once per
#: specification, not with two C{providedBy} checks per connection.  The
#: specifications are few (one per transport class and declaration:
#: zope.interface shares equal ones), so the dict stays small.
_HALF_CLOSES: dict[Any, bool] = {}


def _half_closes(spec: Any) -> bool:
    """
    Whether a transport providing C{spec} ends with C{loseWriteConnection}:
    it has a half-close (L{IHalfCloseableDescriptor}) and is not TLS.  A TLS
    transport (an C{ssl:} port: Twisted's C{TLSMemoryBIOProtocol}, an
    L{INegotiated}) passes on its socket's half-close interface, but a FIN
    under TLS would beat its buffered records (the handshake, the data).
    """
    closes = _HALF_CLOSES[spec] = spec.isOrExtends(
        IHalfCloseableDescriptor
    ) and not spec.isOrExtends(INegotiated)
    return closes


@implementer(IHalfCloseableProtocol)
class BaseServerProtocol(Protocol, DeadlineTimeoutMixin):
    """
    One server connection's accounting, and what every server connection
    does alike.

    On C{connectionMade} it takes the next poem from the factory's library,
    notes the time and joins the factory's C{live} set; subclasses then
    decide what to send, handing every byte to L{send}, which writes it to
    the transport and counts it.  How the connection ended is recorded in
    C{outcome} (a L{ConnectionOutcome}) by whoever ends it, and
    C{connectionLost} reports the connection to the factory
    (C{connection_ended}), which counts it and writes its access-log event.

    What the client sends is read and discarded; a client's half-close
    only sets C{read_closed} (an L{IHalfCloseableProtocol}).  The idle
    timeout (L{DeadlineTimeoutMixin}) and every other path that stops a
    poem before its last byte (L{cut}) abort: a cut poem never ends with
    the clean FIN that means "complete".  docs/design.md tells why each.

    @ivar poem: the L{PoemFile} this connection gets.
    @ivar sent: how many bytes have been handed to the transport.
    @ivar started: the factory clock's time when the connection was made.
    @ivar outcome: how the connection ended, once that is known.
    """

    LINGER_TIMEOUT = 5.0
    """
    The longest, in seconds, a connection lingers after the server's
    half-close: from the moment the whole poem has left the transport's
    buffer for the kernel (C{writeConnectionLost}) until the client closes.
    It protects the server from clients that read the poem but never close
    (or keep sending): past it the connection is closed, counted as
    L{ConnectionOutcome.LINGER_TIMEOUT}.  Reads do not extend it.  Like
    nginx's C{lingering_time}; override it on a subclass.
    """

    #: The client's address, as the factory was given it in buildProtocol.
    peer: IAddress | None = None
    #: The client's address as logs show it, once formatted (the lifecycle
    #: trace formats it at connectionMade; the access event reuses it).
    peer_text: str | None = None

    factory: PoetryServerFactory
    # An ITCPTransport that is also an IConsumer; Twisted's stubs have no
    # single interface naming both.
    transport: Any
    poem: PoemFile
    sent: int = 0
    started: float = 0.0
    outcome: ConnectionOutcome | None = None
    #: The fault mode this connection plays (L{None}: the poem), as the
    #: access event's C{fault} field shows it (C{str()}).
    fault: Any = None
    #: The peer's IP address, counted by the factory's C{max_per_peer}.
    peer_host: str | None = None
    #: The client has half-closed (or closed): it will send nothing more.
    read_closed = False
    #: The server has half-closed: everything it sent is in the kernel.
    write_closed = False
    #: The factory's linger L{Deadlines} holding this connection, while it
    #: lingers.
    _lingers: Deadlines | None = None

    def connectionMade(self) -> None:
        factory = self.factory
        self.started = factory.clock.seconds()
        self.poem = factory.library.next()
        factory.live.add(self)
        if factory.trace_lifecycle:
            self._trace_made()

    def send(self, data: bytes) -> None:
        """Hand C{data} to the transport and count it in C{sent}."""
        self.transport.write(data)
        self.sent += len(data)

    def format_peer(self) -> str:
        """
        The client's address as logs show it (C{host:port}: as
        L{format_address} shows it).
        """
        peer = self.peer or self.transport.getPeer()
        if type(peer) is IPv4Address:
            # The access event formats one per connection: no getattr, no
            # call (an IPv4 host has no ":" to bracket).
            return f"{peer.host}:{peer.port}"
        return format_address(peer)

    def _trace_made(self) -> None:
        """Log C{connectionMade}; keep the peer's text for the access event."""
        factory = self.factory
        self.peer_text = peer = self.format_peer()
        log_made(factory.lifecycle_log, peer, factory.display_name(self.poem.name),
                 len(self.poem.data))  # fmt: skip

    def dataReceived(self, data: bytes) -> None:
        """Discard whatever the client sends."""

    def close_cleanly(self, outcome: ConnectionOutcome) -> None:
        """
        Everything this connection sends is in the transport: end it with a
        lingering close, as nginx does.  Half-close (C{loseWriteConnection}:
        the FIN follows the data), then read and discard until the client
        closes, for at most L{LINGER_TIMEOUT}, so no unread byte from the
        client can make the kernel reset the connection while what was sent
        is in flight.  C{outcome} is how the connection ends unless the
        client resets or outstays the bound.  TLS ends with
        C{loseConnection} (close_notify after the data; see L{_half_closes}).
        """
        self.outcome = outcome
        transport = self.transport
        spec = providedBy(transport)
        half_closes = _HALF_CLOSES.get(spec)
        if half_closes is None:
            half_closes = _half_closes(spec)
        if half_closes:
            transport.loseWriteConnection()
        else:
            transport.loseConnection()

    def readConnectionLost(self) -> None:
        """
        The client half-closed: it will send no more (a subclass goes on
        sending).  If the server had half-closed already (everything is in
        the kernel), both sides are done: close.
        """
        self.read_closed = True
        if self.write_closed:
            # _cancel_linger, inline: a call saved per lingering close.
            lingers = self._lingers
            if lingers is not None:
                self._lingers = None
                lingers.cancel(self)
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """
        The server's half-close is done: every byte is in the kernel and
        the FIN follows it.  The linger bound replaces the idle timer: close
        now if the client has half-closed too, else within L{LINGER_TIMEOUT}.
        """
        self.write_closed = True
        if self._timeouts is not None:
            self.setTimeout(None)
        if self.read_closed:
            self.transport.loseConnection()
        else:
            lingers = self._lingers = self.factory.lingers[self.LINGER_TIMEOUT]
            # Deadlines.add, inline: a call saved per lingering connection.
            now = lingers.clock.seconds()
            pending = lingers.pending
            if not pending:
                lingers.start(now)
            pending[self] = now

    def linger_expired(self) -> None:
        """
        The client did not close within L{LINGER_TIMEOUT}: close it.  A
        complete poem's connection ends as
        L{ConnectionOutcome.LINGER_TIMEOUT}; a fault's keeps its outcome.
        """
        self._lingers = None
        if self.outcome is ConnectionOutcome.COMPLETE:
            self.outcome = ConnectionOutcome.LINGER_TIMEOUT
        self.transport.loseConnection()

    def _cancel_linger(self) -> None:
        lingers, self._lingers = self._lingers, None
        if lingers is not None:
            lingers.cancel(self)

    def callLater(self, period: float, func: Any) -> IDelayedCall:
        """A timer of this connection's own, on the factory's injected clock."""
        return self.factory.clock.callLater(period, func)

    def timeoutConnection(self) -> None:
        """No data moved for C{idle_timeout} seconds: abort the connection."""
        self.outcome = ConnectionOutcome.CUT_IDLE
        self.factory.log.info(
            "Cut {peer}: no data moved for {seconds} s (--idle-timeout)",
            peer=self.format_peer(),
            seconds=self.factory.idle_timeout,
        )
        self.transport.abortConnection()

    def cut(self) -> None:
        """
        End this connection at the end of the shutdown grace: abort it
        (buffered data is dropped, the client sees a reset, never a clean
        end, and a client that never reads cannot hold the server open).
        One that has half-closed already (lingering through the grace, so
        no stray byte from its client can turn the close into a reset) is
        closed cleanly: what it sent stands.
        """
        if self.write_closed:
            self._cancel_linger()
            self.transport.loseConnection()
            return
        if self.outcome is None or self.outcome is ConnectionOutcome.COMPLETE:
            self.outcome = ConnectionOutcome.CUT_AT_SHUTDOWN
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._timeouts is not None:
            self.setTimeout(None)
        if self._lingers is not None:
            self._cancel_linger()
        outcome = self.outcome
        if outcome is _COMPLETE and not isinstance(reason.value, ConnectionDone):
            # Reset by the client after everything was handed over: if it
            # was all in the kernel, the client reset instead of closing.
            self.outcome = _CLIENT_RESET if self.write_closed else _CLIENT_GONE
        elif outcome is None:
            self.outcome = _CLIENT_GONE
        self.factory.connection_ended(self, reason)
