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
from collections.abc import Mapping
from time import time
from typing import TYPE_CHECKING, Any

from twisted.internet.error import ConnectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from poetry.server.base import BaseServerProtocol
    from poetry.server.protocol import PoetryServerProtocol

__all__ = [
    "ACCESS_FORMAT",
    "ACCESS_NAMESPACE",
    "FAULT_ACCESS_FORMAT",
    "LIFECYCLE_NAMESPACE",
    "EventTemplates",
    "ShownNames",
    "chunk_event",
    "display_name",
    "emit_info",
    "log_access",
    "log_made",
]

ACCESS_NAMESPACE = "poetry.access"
"""The C{twisted.logger} namespace of the access log: one event per connection."""

LIFECYCLE_NAMESPACE = "poetry.server.lifecycle"
"""The C{twisted.logger} namespace of the server's lifecycle trace events."""

ACCESS_FORMAT = "{peer} {poem} {bytes} bytes {seconds:.3f} s {outcome}"
"""The text of one access-log event."""

FAULT_ACCESS_FORMAT = ACCESS_FORMAT + " [fault {fault}]"
"""The text of the access-log event of a connection that played a fault."""


#: The access formats with the lifecycle trace's C{connectionLost} fields:
#: made once, so each event's format is the same string object (a log
#: observer that caches by format finds it without hashing a new string).
_LIFECYCLE_FORMATS = {
    f: f + " (connectionLost: {reason}, clean={clean})"
    for f in (ACCESS_FORMAT, FAULT_ACCESS_FORMAT)
}

#: Read once: C{LogLevel.info} is a class attribute lookup per event.
_INFO = LogLevel.info


def emit_info(logger: Logger, log_format: str, event: dict[str, Any]) -> None:
    """
    Emit C{event} (the event's fields, in a dict made for it) to
    C{logger}'s observer at C{LogLevel.info}: the event
    C{logger.info(log_format, **event)} makes (the same keys, to the same
    observer), its keys added in place.  The access log and the lifecycle
    trace have an event per connection, and C{Logger.emit} would copy the
    fields, add its own six keys to the copy and sort L{LogLevel}'s
    constants to check a level that is always C{info} here (together a
    third of what serving a small poem costs in Python).
    """
    event["log_logger"] = logger
    event["log_level"] = _INFO
    event["log_namespace"] = logger.namespace
    event["log_source"] = logger.source
    event["log_format"] = log_format
    event["log_time"] = time()
    logger.observer(event)


class EventTemplates(dict[Logger, dict[str, Any]]):
    """
    The access event's template per logger (L{log_access}), each made when
    first asked for (a dict, so the event finds it by a lookup, not a
    call); at most L{MAX} are kept.  A logger's namespace and source are
    read once, when its template is made, as a L{Logger} sets them once.
    A factory holds one (its C{access_log} may be replaced, so it is keyed
    by logger); it usually holds one template.
    """

    MAX = 64

    def __missing__(self, logger: Logger) -> dict[str, Any]:
        """
        The template of C{logger}'s access events: every field
        L{log_access} sets, in the event's order, with what every event of
        C{logger} shares (C{Logger.emit}'s keys: the logger, C{info}, its
        namespace and source; the format and fault of a poem served).
        """
        if len(self) >= self.MAX:
            self.clear()
        template = self[logger] = {
            "peer": None,
            "poem": "-",
            "bytes": 0,
            "seconds": 0.0,
            "outcome": None,
            "fault": None,
            "log_logger": logger,
            "log_level": _INFO,
            "log_namespace": logger.namespace,
            "log_source": logger.source,
            "log_format": ACCESS_FORMAT,
            "log_time": 0.0,
        }
        return template


def log_made(logger: Logger, peer: str, poem: str, size: int) -> None:
    """
    Emit the lifecycle trace's C{connectionMade} event to C{logger}
    (L{emit_info}): the C{peer}'s text, the C{poem} as logs show its name,
    its C{size} in bytes.
    """
    emit_info(
        logger,
        "{peer} connectionMade: poem {poem} ({size} bytes)",
        {"lifecycle": "connectionMade", "peer": peer, "poem": poem, "size": size},
    )


def log_access(
    logger: Logger,
    protocol: BaseServerProtocol,
    reason: Failure,
    now: float,
    names: Mapping[str, str],
    lifecycle: bool,
    templates: EventTemplates,
) -> None:
    """
    Emit the access-log event of a connection that has ended to C{logger}:
    L{emit_info}'s event, a copy of C{logger}'s template in C{templates}
    with the connection's fields stored in.  Its fields are C{peer},
    C{poem} (as C{names} shows it), C{bytes}, C{seconds} (from the
    connection's start to C{now}), C{outcome}'s text, and C{fault} (the
    fault mode the connection played, as C{--fault} spells it, or L{None};
    the text shows it after the outcome).  With C{lifecycle}, the event is
    also the lifecycle trace's C{connectionLost} line: it adds why the
    connection was lost (C{reason}: the exception's class name) and
    whether cleanly (C{clean}).
    """
    # A copy of the logger's template (the keys in their order, what every
    # event of the logger shares): a copy clones the template's table,
    # where a dict display inserts all twelve keys anew.
    event = templates[logger].copy()
    event["peer"] = protocol.peer_text or protocol.format_peer()
    try:
        event["poem"] = names[protocol.poem.name]
    except AttributeError:  # no poem taken: the template's "-"
        pass
    event["bytes"] = protocol.sent
    event["seconds"] = now - protocol.started
    # _value_ is .value without the enum descriptor's cost.
    event["outcome"] = protocol.outcome._value_  # type: ignore[union-attr]
    event["log_time"] = time()
    fault = protocol.fault
    if fault is not None:
        event["fault"] = str(fault)
        event["log_format"] = FAULT_ACCESS_FORMAT
    if lifecycle:
        event["lifecycle"] = "connectionLost"
        event["reason"] = type(reason.value).__name__
        event["clean"] = reason.check(ConnectionDone) is not None
        event["log_format"] = _LIFECYCLE_FORMATS[event["log_format"]]
    logger.observer(event)


def chunk_event(
    protocol: PoetryServerProtocol, offset: int
) -> tuple[str, dict[str, Any]]:
    """
    The lifecycle trace's event for a slow-mode chunk just written: the
    bytes from C{offset} to what C{protocol} has sent of its poem.
    """
    return "{peer} chunk: {bytes} bytes at offset {offset}", {
        "lifecycle": "chunk",
        "peer": protocol.peer_text or protocol.format_peer(),
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


class ShownNames(dict[str, str]):
    """
    Poems' names as logs show them (L{display_name}), each computed when
    first asked for: a dict, so that the access event finds one by a
    lookup, not a call.
    """

    def __missing__(self, name: str) -> str:
        shown = self[name] = display_name(name)
        return shown
