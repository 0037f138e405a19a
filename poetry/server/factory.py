"""
The poetry server's factory: what the connections share (the poem library,
the slow-mode schedule, the live connections, the counters by how
connections ended, the access log), the limits it applies when it builds a
protocol, and graceful drain.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from poetry.addresses import formatAddress
from poetry.library import PoemLibrary
from poetry.server.accesslog import ACCESS_FORMAT, LIFECYCLE_NAMESPACE, BatchingLog
from poetry.server.base import BaseServerProtocol
from poetry.server.deadlines import Deadlines
from poetry.server.outcome import ConnectionOutcome
from poetry.server.protocol import PoetryServerProtocol
from poetry.server.schedule import SlowSchedule

if TYPE_CHECKING:
    from poetry.server.faults import Fault

__all__ = ["PoetryServerFactory", "defaultIdleTimeout"]


def defaultIdleTimeout(delay: float | None, fault: Fault | None) -> float | None:
    """
    The idle timeout a server gets when C{--idle-timeout} is not given:
    L{PoetryServerFactory.DEFAULT_IDLE_TIMEOUT} seconds (or, in slow mode
    with a C{delay} that long or longer, twice the delay, since a slow
    connection moves data only every C{delay} seconds), like nginx's
    C{send_timeout}: a client that stops reading (a zero window, slowloris)
    cannot hold a descriptor for ever.  L{None} for a fault mode that hangs
    on purpose (C{stall}, C{silent}: L{poetry.server.faults.FaultProtocol.hangs}): it
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
    @ivar fault: the L{poetry.server.faults.Fault} whose protocol every
        connection runs instead of the poem protocol (L{None}: serve poems).
    @ivar idleTimeout: abort a connection on which no data has moved for this
        many seconds (L{None}: never); see L{PoetryServerProtocol}.
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
        self.live: set[BaseServerProtocol] = set()
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
        #: L{PoetryServerProtocol}), while C{idleTimeout} is set.
        self.idleDeadlines = (
            Deadlines(reactor, idle_timeout, methodcaller("idleExpired"))
            if idle_timeout is not None
            else None
        )
        self._refusalTimer: IDelayedCall | None = None
        self._refusalMark = (0, 0)
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

    def protocol_for(self, addr: IAddress) -> Callable[[], BaseServerProtocol]:
        """
        What a connection from C{addr} runs: the one place the factory picks
        a protocol.  The fault mode's protocol (L{Fault.protocol}) while
        C{fault} is set, else C{self.protocol} (a subclass's class attribute
        or a user's C{factory.protocol = X}).  Override it to choose by
        address.
        """
        fault = self.fault
        if fault is not None:
            return fault.protocol
        return self.protocol

    def buildProtocol(self, addr: IAddress) -> BaseServerProtocol | None:  # type: ignore[override]
        if self.maxConnections is not None and len(self.live) >= self.maxConnections:
            self.refused += 1
            if self._refusalTimer is None:
                self._startRefusalSummary()
            return None
        if self.maxPerPeer is not None:
            return self._buildForPeer(addr)
        p = self.protocol_for(addr)()
        p.factory = self
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
                self.clock, seconds, methodcaller("lingerExpired")
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

    def _peerGone(self, protocol: BaseServerProtocol) -> None:
        """Forget one of C{maxPerPeer}'s live connections."""
        host = protocol.peerHost
        left = self.perPeer.get(host, 0) - 1
        if left > 0:
            self.perPeer[host] = left
        else:
            self.perPeer.pop(host, None)

    def connectionEnded(self, protocol: BaseServerProtocol, reason: Failure) -> None:
        """
        Called by a protocol's C{connectionLost}: update the counters, write
        the access-log event, and fire L{drain} waiters once none are live.
        """
        self.live.discard(protocol)
        if self.delay is not None:
            self.schedule.discard(protocol)  # type: ignore[arg-type]
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
            # _value_ is .value without the descriptor's cost.
            "outcome": outcome._value_,  # type: ignore[union-attr]
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
