"""
A read-only view of a running server: L{ServerView} reads a
L{PoetryServerFactory}'s mode, limits, counters and live connections (the
list bounded) and lets an observer hear each connection end, without
changing anything.  The admin control plane (L{poetry.admin}) reads the
server only through it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poetry.addresses import format_address
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome

if TYPE_CHECKING:
    from poetry.server.factory import PoetryServerFactory

__all__ = ["LiveConnection", "ServerView", "connection_state", "fault_mode"]


def fault_mode(protocol: BaseServerProtocol) -> str | None:
    """
    The fault mode C{protocol} plays (C{"stall"}, C{"reset"}, ...: the
    mode's name, without its parameters), or L{None} for a poem protocol.
    """
    fault = getattr(protocol, "fault", None)
    return None if fault is None else str(fault.name)


def connection_state(protocol: BaseServerProtocol) -> str:
    """
    One word for what a live connection is doing: C{fault MODE} for a fault
    mode's connection, C{lingering} once the whole poem is in the kernel
    and the server has half-closed, else C{sending}; with
    C{, client half-closed} added once the client has half-closed.
    """
    mode = fault_mode(protocol)
    if mode is not None:
        state = f"fault {mode}"
    elif protocol.write_closed:
        state = "lingering"
    else:
        state = "sending"
    if protocol.read_closed:
        state += ", client half-closed"
    return state


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """
    One live connection as the status shows it; every field plain JSON.

    @ivar peer: the client's address (L{format_address}).
    @ivar poem: the poem's name as logs show it.
    @ivar bytes_sent: bytes handed to the transport so far.
    @ivar size: the poem's size in bytes.
    @ivar seconds_open: seconds since the connection was made.
    @ivar state: L{connection_state}.
    """

    peer: str
    poem: str
    bytes_sent: int
    size: int
    seconds_open: float
    state: str

    def as_dict(self) -> dict[str, Any]:
        """
        The fields by name (built by hand: L{dataclasses.asdict} copies
        recursively, several times slower for the status's 1,000 rows).
        """
        return {
            "peer": self.peer,
            "poem": self.poem,
            "bytes_sent": self.bytes_sent,
            "size": self.size,
            "seconds_open": self.seconds_open,
            "state": self.state,
        }


class ServerView:
    """
    What a running server is doing, read from its factory: never a write.

    @ivar factory: the server's factory.
    """

    LIVE_LIMIT = 1000
    """
    At most this many live connections are listed by L{live} (the oldest
    ones; the total is always given).  It keeps a status read bounded in
    size and time however many connections are live: finding the oldest
    is one pass over the live set, never a sort of all of it.
    """

    def __init__(self, factory: PoetryServerFactory) -> None:
        self.factory = factory

    def now(self) -> float:
        """The factory clock's time."""
        return self.factory.clock.seconds()

    def counts(self) -> dict[str, int]:
        """Every counter, by name (L{PoetryServerFactory.counts})."""
        return self.factory.counts()

    def ended(self) -> dict[ConnectionOutcome, int]:
        """Connections that have ended, by how they ended (a copy)."""
        return dict(self.factory.ended)

    def poem_name(self, protocol: BaseServerProtocol) -> str:
        """C{protocol}'s poem's name as logs show it."""
        return self.factory.display_name(protocol.poem.name)

    def live_total(self) -> int:
        """How many connections are live."""
        return len(self.factory.live)

    def live_protocols(self, limit: int | None = None) -> list[BaseServerProtocol]:
        """
        The oldest C{limit} (default L{LIVE_LIMIT}) live connections'
        protocols, oldest first.
        """
        if limit is None:
            limit = self.LIVE_LIMIT
        return heapq.nsmallest(limit, self.factory.live, key=_started)

    def newest_protocols(self, limit: int) -> list[BaseServerProtocol]:
        """The newest C{limit} live connections' protocols, oldest first."""
        return sorted(
            heapq.nlargest(limit, self.factory.live, key=_started), key=_started
        )

    def describe(self, protocol: BaseServerProtocol) -> LiveConnection:
        """One live connection, as a L{LiveConnection}."""
        return LiveConnection(
            peer=format_address(protocol.peer),
            poem=self.poem_name(protocol),
            bytes_sent=protocol.sent,
            size=len(protocol.poem.data),
            seconds_open=round(max(0.0, self.now() - protocol.started), 3),
            state=connection_state(protocol),
        )

    def live(self, limit: int | None = None) -> tuple[list[LiveConnection], int]:
        """
        The oldest C{limit} (default L{LIVE_LIMIT}) live connections and
        the number of live connections in all.
        """
        shown = [self.describe(p) for p in self.live_protocols(limit)]
        return shown, self.live_total()

    def bytes_sent_live(self) -> int:
        """Bytes handed to the transports of the connections still live."""
        return sum(p.sent for p in self.factory.live)

    def live_faults(self) -> dict[str, int]:
        """The live connections playing a fault mode, by mode."""
        modes: dict[str, int] = {}
        if self.factory.fault is None:
            return modes
        for protocol in self.factory.live:
            mode = fault_mode(protocol)
            if mode is not None:
                modes[mode] = modes.get(mode, 0) + 1
        return modes

    def mode(self) -> str:
        """
        One word for what every new connection gets: C{fast}, C{slow}
        (a delay), C{fault} (one fault for every connection) or C{mix} (a
        fault mix).  The behaviour itself is the document
        L{poetry.service.behaviour.Behaviour.as_document} gives (the admin
        API's C{/api/behaviour}).
        """
        mix = self.factory.mix
        if mix is not None and mix.only is not None:
            return "fault"
        if mix is not None and mix.entries:
            return "mix"
        return "fast" if self.factory.delay is None else "slow"

    def limits(self) -> dict[str, Any]:
        """The idle timeout and connection limits (L{None}: no limit)."""
        factory = self.factory
        return {
            "idle_timeout": factory.idle_timeout,
            "max_connections": factory.max_connections,
            "max_per_peer": factory.max_per_peer,
        }

    def observe(self, observer: Callable[[BaseServerProtocol], object]) -> None:
        """
        Call C{observer(protocol)} each time a connection ends, once the
        counters include it (L{PoetryServerFactory.observers}).
        """
        self.factory.observers.append(observer)


def _started(protocol: BaseServerProtocol) -> float:
    return protocol.started
