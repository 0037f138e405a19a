"""
The poetry server's factory: what the connections share (the poem library,
the slow-mode schedule, the live connections, the counters by how
connections ended, the access log), the limits it applies when it builds a
protocol, and graceful drain.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import methodcaller
from typing import TYPE_CHECKING, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from poetry.addresses import format_address
from poetry.library import PoemLibrary
from poetry.server.accesslog import (
    ACCESS_NAMESPACE,
    LIFECYCLE_NAMESPACE,
    EventTemplates,
    ShownNames,
    log_access,
)
from poetry.server.base import BaseServerProtocol
from poetry.server.deadlines import DeadlinesByDuration
from poetry.server.limits import LimitedServerFactory
from poetry.server.mix import FaultMix
from poetry.server.outcome import ConnectionOutcome, OutcomeCounters
from poetry.server.protocol import PoetryServerProtocol
from poetry.server.rules import check_chunk_size, check_delay, check_idle_timeout
from poetry.server.schedule import SlowSchedule

if TYPE_CHECKING:
    from poetry.server.faults import Fault

__all__ = ["COUNTER_NAMES", "PoetryServerFactory", "default_idle_timeout"]


COUNTER_NAMES = (
    "served", "bytes_sent", "clients_gone", "cut_at_shutdown", "refused",
    "cut_idle", "refused_per_peer", "faults", "client_resets", "linger_timeouts",
    "health_checks",
)  # fmt: skip
"""
The counters L{PoetryServerFactory.counts} gives after C{live} (how many
connections are live), in order: C{bytes_sent}, the limits' refusals and
L{OutcomeCounters}' names.
"""


class MayHang(Protocol):
    """A fault, a mix or a behaviour: whether it hangs on purpose."""

    @property
    def hangs(self) -> bool: ...


def default_idle_timeout(delay: float | None, fault: MayHang | None) -> float | None:
    """
    The idle timeout a server gets when C{--idle-timeout} is not given:
    L{PoetryServerFactory.DEFAULT_IDLE_TIMEOUT} seconds (or, in slow mode
    with a C{delay} that long or longer, twice the delay, since a slow
    connection moves data only every C{delay} seconds), like nginx's
    C{send_timeout}: a client that stops reading (a zero window, slowloris)
    cannot hold a descriptor for ever.  L{None} for a fault mode that hangs
    on purpose (C{stall}, C{silent}: L{poetry.server.faults.FaultProtocol.hangs}),
    or a mix in which every connection gets one (L{FaultMix.hangs}): it
    hangs until the client gives up, an explicit C{--idle-timeout} or
    shutdown.  In a mix that also serves poems, the default applies to the
    hanging connections too.
    """
    if fault is not None and fault.hangs:
        return None
    default = PoetryServerFactory.DEFAULT_IDLE_TIMEOUT
    if delay is not None and delay >= default:
        return 2 * delay
    return default


class PoetryServerFactory(LimitedServerFactory, OutcomeCounters):
    """
    Builds L{PoetryServerProtocol}s (or, while C{fault} is set, the fault
    mode's protocols) and holds what they share; refuses connections beyond
    its limits (L{LimitedServerFactory}).

    @ivar library: where each connection's poem comes from.
    @ivar delay: seconds between chunks in slow mode; L{None} for fast mode.
    @ivar chunk_size: bytes per chunk in slow mode.
    @ivar bytes_sent: bytes handed to transports, over all connections.
    @ivar ended: how many connections ended in each L{ConnectionOutcome}
        (L{OutcomeCounters}: C{served}, C{clients_gone}, ... read from it).
    @ivar mix: the L{FaultMix} each connection draws its fault from as it
        is accepted (L{None}: serve poems); L{set_mix} replaces it for the
        connections accepted from then on.
    @ivar fault: the one L{poetry.server.faults.Fault} every connection
        plays, if the mix is just that (setting it makes such a mix).
    @ivar idle_timeout: abort a connection on which no data has moved for this
        many seconds (L{None}: never); see L{PoetryServerProtocol}.
    @ivar trace_lifecycle, trace_chunks: the lifecycle trace (to
        C{lifecycle_log}, namespace L{LIFECYCLE_NAMESPACE}): each
        C{connectionMade}, C{reason} and C{clean} in the access event; each
        slow-mode chunk, at debug level (docs/design.md).
    """

    protocol = PoetryServerProtocol  # type: ignore[assignment]
    noisy = False

    DEFAULT_CHUNK_SIZE = 10

    DEFAULT_IDLE_TIMEOUT = 60.0
    """
    C{twistd poetry}'s idle timeout without C{--idle-timeout} (see
    L{default_idle_timeout}); a factory built without one never cuts.
    """

    def __init__(
        self,
        library: PoemLibrary,
        *,
        delay: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_connections: int | None = None,
        fault: Fault | None = None,
        mix: FaultMix | None = None,
        idle_timeout: float | None = None,
        max_per_peer: int | None = None,
        trace: bool | None = None,
        reactor: IReactorTime | None = None,
    ) -> None:
        """
        @param trace: the lifecycle trace: L{None} (the default) in slow
            mode only, C{True} in any mode with chunks, C{False} never.
        @param fault: one fault for every connection (a mix of just it).
        @param mix: the L{FaultMix} connections draw from (not with
            C{fault}).
        @raise ValueError: (a L{poetry.server.rules.ConfigError}) for a
            value that breaks one of L{poetry.server.rules}.
        """
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        assert reactor is not None
        if delay is not None:
            check_delay("delay", delay)
        check_chunk_size("chunk_size", chunk_size)
        if idle_timeout is not None:
            check_idle_timeout("idle_timeout", idle_timeout, delay, "delay")
        if fault is not None:
            if mix is not None:
                raise ValueError("give a factory a fault or a mix, not both")
            mix = FaultMix([(fault, 1.0)])
        LimitedServerFactory.__init__(self, reactor, max_connections, max_per_peer)
        self.library = library
        self.delay = delay
        self.chunk_size = chunk_size
        self.schedule = SlowSchedule(reactor, delay or 1.0)
        self.bytes_sent = 0
        OutcomeCounters.__init__(self)
        self.mix = mix
        self.idle_timeout = idle_timeout
        #: Poems' names as the logs show them.
        self.shown_names = ShownNames()
        #: Every connection's idle timeout and lingering bound, on shared
        #: timers (L{poetry.server.deadlines}).
        self.timeouts = DeadlinesByDuration(reactor, methodcaller("timeout_expired"))
        self.lingers = DeadlinesByDuration(reactor, methodcaller("linger_expired"))
        self._drained: list[Deferred[None]] = []
        #: One event per connection, in its own namespace so it can be
        #: filtered or routed apart from the rest of the log.
        self.access_log = Logger(namespace=ACCESS_NAMESPACE, source=self)
        #: The access events' templates, by logger (L{EventTemplates}).
        self.access_templates = EventTemplates()
        self.trace_lifecycle = delay is not None if trace is None else trace
        self.trace_chunks = bool(trace)
        self.lifecycle_log = Logger(namespace=LIFECYCLE_NAMESPACE, source=self)
        #: Called with each protocol whose connection has ended, once the
        #: counters include it: how an observer (the admin's metrics) sees
        #: connections end without the factory knowing about it.
        self.observers: list[Callable[[BaseServerProtocol], object]] = []

    @property
    def fault(self) -> Fault | None:
        """The fault every connection plays, if the mix is just one."""
        mix = self.mix
        return None if mix is None else mix.only

    @fault.setter
    def fault(self, fault: Fault | None) -> None:
        self.set_mix(None if fault is None else FaultMix([(fault, 1.0)]))

    def set_mix(self, mix: FaultMix | None) -> None:
        """Connections accepted from now on draw from C{mix} (L{None}: none)."""
        self.mix = mix

    def protocol_for(self, addr: IAddress) -> Callable[[], BaseServerProtocol]:
        """
        What the connection being accepted from C{addr} runs: the fault it
        draws from the mix (L{FaultMix.draw}, at accept, in accept order),
        else C{self.protocol} (L{LimitedServerFactory.protocol_for}).
        """
        mix = self.mix
        if mix is not None:
            build = mix.draw(addr)
            if build is not None:
                return build
        return self.protocol

    def display_name(self, name: str) -> str:
        """L{display_name}C{(name)}, computed once per name."""
        return self.shown_names[name]

    def connection_ended(self, protocol: BaseServerProtocol, reason: Failure) -> None:
        """
        Called by a protocol's C{connectionLost}: update the counters, write
        the access-log event, and fire L{drain} waiters once none are live.
        """
        self.connection_gone(protocol)
        outcome = protocol.outcome
        self.ended[outcome] += 1  # type: ignore[index]
        self.bytes_sent += protocol.sent
        for observer in self.observers:
            observer(protocol)
        log_access(
            self.access_log,
            protocol,
            reason,
            self.clock.seconds(),
            self.shown_names,
            self.trace_lifecycle,
            self.access_templates,
        )
        if not self.live and self._drained:
            waiting, self._drained = self._drained, []
            for d in waiting:
                d.callback(None)

    def health_check(self, addr: IAddress) -> None:
        """
        A balancer's health check from C{addr} has ended (L{ProxyHeaderProtocol
        <poetry.server.proxy.ProxyHeaderProtocol>}): count it; log it at
        debug level only (one a second per balancer would swamp the log).
        """
        self.ended[ConnectionOutcome.HEALTH_CHECK] += 1
        self.log.debug("Health check from {peer}", peer=format_address(addr))

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
        timer = self.clock.callLater(grace, self.cut_all)

        def cancel_timer(result: None) -> None:
            if timer.active():
                timer.cancel()
            return result

        return d.addBoth(cancel_timer)

    def cut_all(self) -> None:
        """Abort every live connection (see L{PoetryServerProtocol.cut})."""
        self.schedule.stop()
        for proto in list(self.live):
            proto.cut()

    def counts(self) -> dict[str, int]:
        """The counters, by name, for logs and tests: C{live}, L{COUNTER_NAMES}."""
        return {"live": len(self.live)} | {
            name: getattr(self, name) for name in COUNTER_NAMES
        }
