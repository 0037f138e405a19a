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

import socket
import struct
from operator import methodcaller
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IAddress,
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
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from poetry.server.deadlines import Deadlines

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

#: The v2 header's version-and-command byte for a relayed connection.
_V2_PROXY = 0x21

#: The common v2 headers (TCP over IPv4, TCP over IPv6), by family byte:
#: the socket family, the size of one address, the address class.
_V2_TCP: dict[int, tuple[socket.AddressFamily, int, type]] = {
    0x11: (socket.AF_INET, 4, IPv4Address),
    0x21: (socket.AF_INET6, 16, IPv6Address),
}


def is_proxied(description: str) -> bool:
    """Whether endpoint C{description} expects a PROXY header first."""
    return description.strip().lower().startswith(PROXY_PREFIX)


@implementer(IHalfCloseableProtocol)
class ProxyHeaderProtocol(HAProxyProtocolWrapper):
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
    _source: IAddress | None = None
    #: Its header deadline is pending in the factory's L{Deadlines}.
    _deadline = False
    _destination: IAddress | None = None
    _refused = False
    _local = False

    def __init__(self, factory: ProxyHeaderFactory) -> None:
        super().__init__(factory, None)  # type: ignore[arg-type]
        self._pending = b""

    def setTimeout(self, seconds: float | None) -> None:
        """
        Start (C{seconds}: L{HEADER_TIMEOUT}) or stop (L{None}) the header
        timeout: one entry in the factory's L{Deadlines}, not a timer per
        connection.
        """
        pending, self._deadline = self._deadline, seconds is not None
        if pending:
            self.factory.header_deadlines.cancel(self)
        if seconds is not None:
            self.factory.header_deadlines.add(self)

    def makeConnection(self, transport: Any) -> None:
        """Accept the connection; the wrapped protocol waits for the header."""
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.setTimeout(self.HEADER_TIMEOUT)

    def timeoutConnection(self) -> None:
        """No header in time: abort (a health check that never closed)."""
        self._deadline = False
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
                if data[12] == _V2_PROXY and data[13] in _V2_TCP:
                    end = 16 + int.from_bytes(data[14:16], "big")
                    if len(data) < end:
                        # At most 64 KiB (the length is 16 bits): wait.
                        self._pending = data
                        return None
                    return self._v2_tcp(data[:end], data[end:])
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

    def _v2_tcp(self, header: bytes, remaining: bytes) -> None:
        """
        The usual header (v2, PROXY, TCP over IPv4 or IPv6: HAProxy's
        C{send-proxy-v2}), read here with one C{struct} call: Twisted's
        general parser costs about 20 us per connection, as much as serving
        a small poem.  Other headers go through Twisted's parsers.
        """
        family, size, address = _V2_TCP[header[13]]
        if len(header) < 16 + 2 * size + 4:
            return self._reject()
        source = socket.inet_ntop(family, header[16 : 16 + size])
        destination = socket.inet_ntop(family, header[16 + size : 16 + 2 * size])
        ports = struct.unpack_from("!HH", header, 16 + 2 * size)
        self._source = address("TCP", source, ports[0])
        self._destination = address("TCP", destination, ports[1])
        self._header_received(header, remaining)

    def getPeer(self) -> IAddress:
        """The client the header named (else the transport's peer)."""
        if self._source is not None:
            return self._source
        return super().getPeer()

    def getHost(self) -> IAddress:
        """The address the client connected to, as the header says."""
        if self._destination is not None:
            return self._destination
        return super().getHost()

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
        #: Every connection's header timeout, on one timer.
        self.header_deadlines = Deadlines(
            clock, self.protocol.HEADER_TIMEOUT, methodcaller("timeoutConnection")
        )

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
