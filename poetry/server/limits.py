"""
Connection limits applied when a connection is accepted: at most
C{maxConnections} live connections, at most C{maxPerPeer} from one IP
address; refusals are counted and logged in summary.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from poetry.server.base import BaseServerProtocol

__all__ = ["LimitedServerFactory"]


class LimitedServerFactory(ServerFactory):
    """
    A server factory that refuses connections beyond its limits, in the
    manner of L{twisted.protocols.policies.LimitTotalConnectionsFactory}:
    C{buildProtocol} returns L{None}, so the port closes the connection at
    once.  It builds what L{protocol_for} picks, and keeps the live
    connections in C{live} (its protocols join it when made and leave it
    through L{connection_gone}).

    @ivar maxConnections: refuse connections beyond this many live ones
        (L{None}: no limit).
    @ivar maxPerPeer: refuse connections from one IP address beyond this many
        live ones (L{None}: no limit).  It keeps one client host from taking
        every connection the server can hold.
    @ivar live: the connections being served now.
    @ivar perPeer: live connections by peer IP address, while C{maxPerPeer}
        is set.
    @ivar refused: connections refused by C{maxConnections}.
    @ivar refusedPerPeer: connections refused by C{maxPerPeer}.
    """

    log = Logger()

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
        clock: IReactorTime,
        max_connections: int | None = None,
        max_per_peer: int | None = None,
    ) -> None:
        if max_per_peer is not None and max_per_peer < 1:
            raise ValueError(f"max_per_peer must be at least 1, not {max_per_peer!r}")
        self.clock = clock
        self.maxConnections = max_connections
        self.maxPerPeer = max_per_peer
        self.live: set[BaseServerProtocol] = set()
        self.perPeer: dict[str | None, int] = {}
        self.refused = 0
        self.refusedPerPeer = 0
        self._refusalTimer: IDelayedCall | None = None
        self._refusalMark = (0, 0)

    def protocol_for(self, addr: IAddress) -> Callable[[], BaseServerProtocol]:
        """
        What a connection from C{addr} runs: the one place the factory picks
        a protocol.  Here, C{self.protocol} (a subclass's class attribute or
        a user's C{factory.protocol = X}); override it to choose otherwise.
        """
        return self.protocol  # type: ignore[return-value]

    def buildProtocol(self, addr: IAddress) -> BaseServerProtocol | None:  # type: ignore[override]
        if self.maxConnections is not None and len(self.live) >= self.maxConnections:
            self.refused += 1
            if self._refusalTimer is None:
                self._startRefusalSummary()
            return None
        if self.maxPerPeer is not None:
            return self._buildForPeer(addr)
        p = self.protocol_for(addr)()
        p.factory = self  # type: ignore[assignment]
        p.peer = addr
        return p

    def _buildForPeer(self, addr: IAddress) -> BaseServerProtocol | None:
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
        p = self.protocol_for(addr)()
        p.factory = self  # type: ignore[assignment]
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

    def connection_gone(self, protocol: BaseServerProtocol) -> None:
        """C{protocol}'s connection has ended: it is no longer live."""
        self.live.discard(protocol)
        if self.maxPerPeer is not None:
            self._peerGone(protocol)

    def _peerGone(self, protocol: BaseServerProtocol) -> None:
        """Forget one of C{maxPerPeer}'s live connections."""
        host = protocol.peerHost
        left = self.perPeer.get(host, 0) - 1
        if left > 0:
            self.perPeer[host] = left
        else:
            self.perPeer.pop(host, None)

    def doStop(self) -> None:
        """The last port has stopped listening: log the waiting refusals."""
        if self._refusalTimer is not None:
            self._refusalTimer.cancel()
            self._logRefusals()
        super().doStop()
