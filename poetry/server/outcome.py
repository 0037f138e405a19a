"""
How a server connection ended: one word for it, shared by the access log
and the factory's counters.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["ConnectionOutcome", "OutcomeCounters"]


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
    #: A load balancer's health check on a C{haproxy:} port: closed before
    #: any PROXY header, silent past the header timeout, or a v2 C{LOCAL}
    #: header.  Never served; counted apart, logged at debug level.
    HEALTH_CHECK = "health check"

    # Members are singletons, so identity is equality: hash them by
    # identity, in C, rather than by Enum's __hash__ (Python code that
    # hashes the name), since the factory counts every connection by member.
    __hash__ = object.__hash__


def _counted(outcome: ConnectionOutcome) -> Any:
    """A read-only attribute: how many connections ended as C{outcome}."""
    return property(
        lambda counters: counters.ended[outcome],
        doc=f"Connections ended as {outcome.value!r}.",
    )


class OutcomeCounters:
    """
    Connections that have ended, counted by L{ConnectionOutcome} in
    C{ended} (the server factory's counters), each also read by name.
    """

    def __init__(self) -> None:
        #: Connections that have ended, by how they ended.
        self.ended: dict[ConnectionOutcome, int] = dict.fromkeys(ConnectionOutcome, 0)

    served: int = _counted(ConnectionOutcome.COMPLETE)
    clients_gone: int = _counted(ConnectionOutcome.CLIENT_GONE)
    cut_at_shutdown: int = _counted(ConnectionOutcome.CUT_AT_SHUTDOWN)
    cut_idle: int = _counted(ConnectionOutcome.CUT_IDLE)
    faults: int = _counted(ConnectionOutcome.FAULT)
    client_resets: int = _counted(ConnectionOutcome.CLIENT_RESET)
    linger_timeouts: int = _counted(ConnectionOutcome.LINGER_TIMEOUT)
    health_checks: int = _counted(ConnectionOutcome.HEALTH_CHECK)
