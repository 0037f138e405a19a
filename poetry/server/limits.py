"""
Connection limits applied when a connection is accepted: at most
C{max_connections} live connections, at most C{max_per_peer} from one IP
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

    @ivar max_connections: refuse connections beyond this many live ones
        (L{None}: no limit).
    @ivar max_per_peer: refuse connections from one IP address beyond this many
        live ones (L{None}: no limit).  It keeps one client host from taking
        every connection the server can hold.
    @ivar live: the connections being served now.
    @ivar per_peer: live connections by peer IP address, while C{max_per_peer}
        is set.
    @ivar refused: connections refused by C{max_connections}.
    @ivar refused_per_peer: connections refused by C{max_per_peer}.
    """

    log = Logger()

    REFUSAL_SUMMARY_INTERVAL = 1.0
    """
    Refusals (C{max_connections}, C{max_per_peer}) are logged in summary: one
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
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.live: set[BaseServerProtocol] = set()
        self.per_peer: dict[str | None, int] = {}
        self.refused = 0
        self.refused_per_peer = 0
        self._refusal_timer: IDelayedCall | None = None
        self._refusal_mark = (0, 0)

    def protocol_for(self, addr: IAddress) -> Callable[[], BaseServerProtocol]:
        """
        What a connection from C{addr} runs: the one place the factory picks
        a protocol.  Here, C{self.protocol} (a subclass's class attribute or
        a user's C{factory.protocol = X}); override it to choose otherwise.
        """
        return self.protocol  # type: ignore[return-value]

    def buildProtocol(self, addr: IAddress) -> BaseServerProtocol | None:  # type: ignore[override]
        if self.max_connections is not None and len(self.live) >= self.max_connections:
            self.refused += 1
            if self._refusal_timer is None:
                self._start_refusal_summary()
            return None
        if self.max_per_peer is not None:
            return self._build_for_peer(addr)
        p = self.protocol_for(addr)()
        p.factory = self  # type: ignore[assignment]
        p.peer = addr
        return p

    def _build_for_peer(self, addr: IAddress) -> BaseServerProtocol | None:
        """
        C{buildProtocol} under C{max_per_peer}: count live connections by the
        peer's IP address (C{addr.host}; addresses without one, such as UNIX
        sockets, are counted together), refuse beyond the limit.
        """
        host = getattr(addr, "host", None)
        live = self.per_peer.get(host, 0)
        if live >= self.max_per_peer:  # type: ignore[operator]
            self.refused_per_peer += 1
            if self._refusal_timer is None:
                self._start_refusal_summary()
            return None
        self.per_peer[host] = live + 1
        p = self.protocol_for(addr)()
        p.factory = self  # type: ignore[assignment]
        p.peer_host = host
        p.peer = addr
        return p

    def _start_refusal_summary(self) -> None:
        """
        The first refusal since the last summary: log a summary of this and
        every later refusal L{REFUSAL_SUMMARY_INTERVAL} seconds from now.
        """
        self._refusal_timer = self.clock.callLater(
            self.REFUSAL_SUMMARY_INTERVAL, self._log_refusals
        )

    def _log_refusals(self) -> None:
        """Log one event counting the refusals since the last summary."""
        self._refusal_timer = None
        refused, per_peer = self._refusal_mark
        self._refusal_mark = (self.refused, self.refused_per_peer)
        refused, per_peer = self.refused - refused, self.refused_per_peer - per_peer
        if refused or per_peer:
            self.log.info(
                "Refused {count} connections in the last {seconds} s: {refused} by "
                "--max-connections ({limit}), {refused_per_peer} by --max-per-peer "
                "({per_peer_limit}); {live} live",
                count=refused + per_peer,
                seconds=self.REFUSAL_SUMMARY_INTERVAL,
                refused=refused,
                refused_per_peer=per_peer,
                limit=self.max_connections,
                per_peer_limit=self.max_per_peer,
                live=len(self.live),
            )

    def connection_gone(self, protocol: BaseServerProtocol) -> None:
        """C{protocol}'s connection has ended: it is no longer live."""
        self.live.discard(protocol)
        if self.max_per_peer is not None:
            self._peer_gone(protocol)

    def _peer_gone(self, protocol: BaseServerProtocol) -> None:
        """Forget one of C{max_per_peer}'s live connections."""
        host = protocol.peer_host
        left = self.per_peer.get(host, 0) - 1
        if left > 0:
            self.per_peer[host] = left
        else:
            self.per_peer.pop(host, None)

    def doStop(self) -> None:
        """The last port has stopped listening: log the waiting refusals."""
        if self._refusal_timer is not None:
            self._refusal_timer.cancel()
            self._log_refusals()
        super().doStop()
