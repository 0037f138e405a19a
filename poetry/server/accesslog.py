"""
The server's per-connection log events: the access log's namespace and
format (one ordinary C{twisted.logger} event per connection, every field a
plain JSON value) and the lifecycle trace's events.

What a text log costs per event is the observer's problem, not the
server's: twistd's log file gets a buffered observer
(L{poetry.logfile.BufferedFileLogObserver}).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from time import time
from typing import TYPE_CHECKING, Any

from twisted.internet.error import ConnectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from poetry.addresses import format_address

if TYPE_CHECKING:
    from poetry.server.base import BaseServerProtocol
    from poetry.server.protocol import PoetryServerProtocol

__all__ = [
    "ACCESS_FORMAT",
    "ACCESS_NAMESPACE",
    "FAULT_ACCESS_FORMAT",
    "LIFECYCLE_NAMESPACE",
    "AccessLogger",
    "access_event",
    "chunk_event",
    "display_name",
]

ACCESS_NAMESPACE = "poetry.access"
"""The C{twisted.logger} namespace of the access log: one event per connection."""

LIFECYCLE_NAMESPACE = "poetry.server.lifecycle"
"""The C{twisted.logger} namespace of the server's lifecycle trace events."""

ACCESS_FORMAT = "{peer} {poem} {bytes} bytes {seconds:.3f} s {outcome}"
"""The text of one access-log event."""

FAULT_ACCESS_FORMAT = ACCESS_FORMAT + " [fault {fault}]"
"""The text of the access-log event of a connection that played a fault."""


_LEVELS = frozenset(LogLevel.iterconstants())


class AccessLogger(Logger):
    """
    The access log's L{Logger}.  Every event it emits is the one
    L{Logger.emit} makes (the same keys, to the same observer); only the
    check of the level differs: C{Logger.emit} sorts L{LogLevel}'s constants
    for every event to check it, about a sixth of what emitting an access
    event costs, and there is one per connection, so here the level is
    looked up in a set made once.  A level that is not a L{LogLevel} is
    handed to C{Logger.emit}, which reports it as Twisted does.
    """

    def emit(
        self, level: LogLevel, format: str | None = None, **kwargs: object
    ) -> None:
        if level not in _LEVELS:
            Logger.emit(self, level, format, **kwargs)
            return
        kwargs.update(
            log_logger=self,
            log_level=level,
            log_namespace=self.namespace,
            log_source=self.source,
            log_format=format,
            log_time=time(),
        )
        if "log_trace" in kwargs:
            kwargs["log_trace"].append((self, self.observer))  # type: ignore[attr-defined]
        self.observer(kwargs)


def access_event(
    protocol: BaseServerProtocol,
    reason: Failure,
    now: float,
    show_name: Callable[[str], str],
    lifecycle: bool,
) -> tuple[str, dict[str, Any]]:
    """
    The access-log event of a connection that has ended: its format and
    its fields (C{peer}, C{poem} as C{show_name} shows it, C{bytes},
    C{seconds}, C{outcome}'s text, and C{fault}: the fault mode the
    connection played, as C{--fault} spells it, or L{None}; the text
    shows it after the outcome).  With C{lifecycle}, the event is also
    the lifecycle trace's C{connectionLost} line: it adds why the
    connection was lost (C{reason}: the exception's class name) and
    whether cleanly (C{clean}).
    """
    record: dict[str, Any] = {
        "peer": format_address(protocol.peer or protocol.transport.getPeer()),
        "poem": show_name(protocol.poem.name) if hasattr(protocol, "poem") else "-",
        "bytes": protocol.sent,
        "seconds": now - protocol.started,
        # _value_ is .value without the descriptor's cost.
        "outcome": protocol.outcome._value_,  # type: ignore[union-attr]
        "fault": None,
    }
    log_format = ACCESS_FORMAT
    fault = getattr(protocol, "fault", None)
    if fault is not None:
        record["fault"] = str(fault)
        log_format = FAULT_ACCESS_FORMAT
    if not lifecycle:
        return log_format, record
    record["lifecycle"] = "connectionLost"
    record["reason"] = type(reason.value).__name__
    record["clean"] = reason.check(ConnectionDone) is not None
    return log_format + " (connectionLost: {reason}, clean={clean})", record


def chunk_event(
    protocol: PoetryServerProtocol, offset: int
) -> tuple[str, dict[str, Any]]:
    """
    The lifecycle trace's event for a slow-mode chunk just written: the
    bytes from C{offset} to what C{protocol} has sent of its poem.
    """
    return "{peer} chunk: {bytes} bytes at offset {offset}", {
        "lifecycle": "chunk",
        "peer": format_address(protocol.transport.getPeer()),
        "bytes": protocol.offset - offset,
        "offset": offset,
    }


def display_name(name: str) -> str:
    """
    C{name} (a poem's name, from its file name) as logs show it: a name
    that is not valid UTF-8 (decoded with C{surrogateescape}) shows its
    bad bytes escaped (C{caf\\xe9}), and unprintable characters are
    escaped too, so every log observer can write it (text and JSON logs
    are UTF-8) and no name can forge a log line.
    """
    shown = os.fsencode(name).decode("utf-8", "backslashreplace")
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return shown
