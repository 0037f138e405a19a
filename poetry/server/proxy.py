"""
Serving behind a load balancer that speaks the PROXY protocol (HAProxy's
C{send-proxy} / C{send-proxy-v2}): L{ProxyHeaderFactory} wraps a server
factory so that its protocol is built only once the PROXY header has said
who the real client is, and L{ProxyHeaderEndpoint} / L{server_endpoint} put
it under C{haproxy:} endpoint descriptions.

Why not Twisted's own C{haproxy:} endpoint as it stands: its
C{HAProxyWrappingFactory} calls the wrapped factory's C{buildProtocol} with
the balancer's address when the TCP connection is accepted, before the
header arrives, so every limit keyed on the peer (C{--max-per-peer}) counts
the balancer; a C{buildProtocol} that refuses (returns L{None}) leaves the
wrapper without a protocol, so the connection stays open and each later
callback raises; and its L{ProtocolWrapper} is not half-close aware, so the
lingering close never starts.  The wrapper here reuses Twisted's header
parsers and address handling (it subclasses C{HAProxyProtocolWrapper}) and
changes only when the protocol is built.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.haproxy._exceptions import InvalidProxyHeader
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.protocols.haproxy._wrapper import (
    HAProxyProtocolWrapper,
    HAProxyWrappingFactory,
)
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

__all__ = [
    "PROXY_PREFIX",
    "ProxyHeaderEndpoint",
    "ProxyHeaderFactory",
    "ProxyHeaderProtocol",
    "is_proxied",
    "server_endpoint",
]

#: The endpoint description prefix that puts a port behind a balancer.
PROXY_PREFIX = "haproxy:"

#: The v2 header's command nibble for a connection the proxy made on its
#: own behalf (a health check), not relayed for a client.
_V2_LOCAL = 0x0


def is_proxied(description: str) -> bool:
    """Whether endpoint C{description} expects a PROXY header first."""
    return description.strip().lower().startswith(PROXY_PREFIX)


@implementer(IHalfCloseableProtocol)
class ProxyHeaderProtocol(HAProxyProtocolWrapper, TimeoutMixin):
    """
    Reads the PROXY header (v1 or v2), then asks the wrapped factory for a
    protocol with the client's address from the header, as if the client
    had connected directly: limits decide on the real peer, and a refusal
    (C{buildProtocol} returning L{None}) closes the connection.

    A connection that ends without a header, sends none within
    L{HEADER_TIMEOUT}, or whose v2 header says C{LOCAL} (the balancer's own
    connection) is a health check: it is counted by the wrapped factory's
    C{health_check}, never served.  A malformed header closes the
    connection.

    Half-closes are passed on (L{IHalfCloseableProtocol}), so the wrapped
    protocol sees the client's half-close and its own, as on a plain port.

    @ivar header_done: the header has been read (or rejected): bytes after
        it belong to the wrapped protocol (or are discarded).
    """

    HEADER_TIMEOUT = 10.0
    """
    Seconds a connection may take to send its PROXY header.  It protects
    the server from peers that connect and send nothing (a port scan, a
    balancer's check that never closes, a slowloris on the header): past
    it the connection is aborted and counted as a health check.
    """

    wrappedProtocol: Any
    header_done = False
    _refused = False
    _local = False

    def __init__(self, factory: ProxyHeaderFactory) -> None:
        super().__init__(factory, None)  # type: ignore[arg-type]
        self._pending = b""

    def callLater(self, period: float, func: Any) -> IDelayedCall:
        """L{TimeoutMixin}'s timer, through the factory's clock."""
        clock: IReactorTime = self.factory.clock
        return clock.callLater(period, func)

    def makeConnection(self, transport: Any) -> None:
        """Accept the connection; the wrapped protocol waits for the header."""
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.setTimeout(self.HEADER_TIMEOUT)

    def timeoutConnection(self) -> None:
        """No header in time: abort (a health check that never closed)."""
        self.transport.abortConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self.header_done:
            if self.wrappedProtocol is not None:
                self.wrappedProtocol.dataReceived(data)
            return
        if self._parser is None:
            data = self._pending + data
            self._pending = b""
            if len(data) >= 16 and data[:12] == V2Parser.PREFIX:
                if data[12] & 0xF0 != 0x20:
                    return self._reject()
                self._parser = V2Parser()
            elif len(data) >= 8 and data[:5] == V1Parser.PROXYSTR:
                self._parser = V1Parser()
            elif len(data) < 16 and (
                V2Parser.PREFIX.startswith(data[:12])
                or V1Parser.PROXYSTR.startswith(data[:5])
            ):
                # A header split across segments: wait for the rest.
                self._pending = data
                return None
            else:
                return self._reject()
        try:
            info, remaining = self._parser.feed(data)
        except InvalidProxyHeader:
            return self._reject()
        if info is None:
            return None
        self._proxyInfo = info
        self._header_received(info.header, remaining or b"")
        return None

    def _reject(self) -> None:
        """Not a PROXY header: close, serving nothing."""
        self.header_done = True
        self._refused = True
        self.setTimeout(None)
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _header_received(self, header: bytes, remaining: bytes) -> None:
        """Build the wrapped protocol for the client the header names."""
        self.header_done = True
        self.setTimeout(None)
        if header[:12] == V2Parser.PREFIX and header[12] & 0x0F == _V2_LOCAL:
            # The balancer's own connection: answer nothing, count it when
            # it closes (which a check does at once).
            self._local = True
            self.setTimeout(self.HEADER_TIMEOUT)
            return
        wrapped = self.factory.wrappedFactory.buildProtocol(self.getPeer())
        if wrapped is None:
            self._refused = True
            self.transport.loseConnection()  # type: ignore[union-attr]
            return
        self.wrappedProtocol = wrapped
        wrapped.makeConnection(self)
        if remaining:
            wrapped.dataReceived(remaining)

    def readConnectionLost(self) -> None:
        """The peer half-closed: pass it on, or end a headerless check."""
        if self.wrappedProtocol is not None:
            proto = IHalfCloseableProtocol(self.wrappedProtocol, None)
            if proto is not None:
                proto.readConnectionLost()
            else:
                self.transport.loseConnection()
        else:
            self.transport.loseConnection()  # type: ignore[union-attr]

    def writeConnectionLost(self) -> None:
        """Our half-close is done: pass it on."""
        proto = IHalfCloseableProtocol(self.wrappedProtocol, None)
        if proto is not None:
            proto.writeConnectionLost()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)
        self.connected = 0
        self.factory.unregisterProtocol(self)
        wrapped, self.wrappedProtocol = self.wrappedProtocol, None
        if wrapped is not None:
            wrapped.connectionLost(reason)
        elif not self._refused:
            health_check = getattr(self.factory.wrappedFactory, "health_check", None)
            if health_check is not None:
                health_check(self.transport.getPeer())  # type: ignore[union-attr]


class ProxyHeaderFactory(HAProxyWrappingFactory):
    """
    Wraps a server factory for a port behind a PROXY-protocol balancer
    (see L{ProxyHeaderProtocol}).  The wrapped factory's C{buildProtocol}
    is called once per client, with the client's own address, after the
    header; its optional C{health_check(address)} is called for each
    connection that turned out to be a health check.

    @ivar clock: the timer of the header timeout.
    """

    protocol = ProxyHeaderProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(self, wrappedFactory: IProtocolFactory, clock: IReactorTime) -> None:
        super().__init__(wrappedFactory)
        self.clock = clock

    def buildProtocol(self, addr: IAddress | None) -> ProxyHeaderProtocol:
        """A wrapper that will build the wrapped protocol after the header."""
        return ProxyHeaderProtocol(self)


@implementer(IStreamServerEndpoint)
class ProxyHeaderEndpoint:
    """
    A server endpoint whose connections start with a PROXY header: listens
    on C{wrapped} with the factory wrapped in a L{ProxyHeaderFactory}.
    """

    def __init__(self, wrapped: IStreamServerEndpoint, clock: IReactorTime) -> None:
        self.wrapped = wrapped
        self.clock = clock

    def listen(self, protocolFactory: IProtocolFactory) -> Any:
        """Listen on the wrapped endpoint; see L{IStreamServerEndpoint}."""
        return self.wrapped.listen(ProxyHeaderFactory(protocolFactory, self.clock))


def server_endpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """
    The endpoint C{description} names, as L{serverFromString} builds it,
    except that C{haproxy:DESCRIPTION} is a L{ProxyHeaderEndpoint} over
    DESCRIPTION's endpoint (limits and the access log then see the client
    the PROXY header names).
    """
    if is_proxied(description):
        inner = description.strip()[len(PROXY_PREFIX) :]
        return ProxyHeaderEndpoint(serverFromString(reactor, inner), reactor)
    return serverFromString(reactor, description)
