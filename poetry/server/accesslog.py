"""
The server's per-connection log events: the access-log format, the
lifecycle trace's namespace, and L{BatchingLog}, which writes them one by one
while the server is quiet and in batches when it is busy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from poetry.addresses import formatAddress

if TYPE_CHECKING:
    from poetry.server.base import BaseServerProtocol
    from poetry.server.protocol import PoetryServerProtocol

__all__ = [
    "ACCESS_FORMAT",
    "LIFECYCLE_NAMESPACE",
    "BatchingLog",
    "access_event",
    "chunk_event",
    "display_name",
]

LIFECYCLE_NAMESPACE = "poetry.server.lifecycle"
"""The C{twisted.logger} namespace of the server's lifecycle trace events."""

ACCESS_FORMAT = "{peer} {poem} {bytes} bytes {seconds:.3f} s {outcome}"
"""The text of one access-log event."""


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
    C{seconds}, C{outcome}'s text).  With C{lifecycle}, the event is also
    the lifecycle trace's C{connectionLost} line: it adds why the
    connection was lost (C{reason}: the exception's class name) and
    whether cleanly (C{clean}).
    """
    record: dict[str, Any] = {
        "peer": formatAddress(protocol.peer or protocol.transport.getPeer()),
        "poem": show_name(protocol.poem.name) if hasattr(protocol, "poem") else "-",
        "bytes": protocol.sent,
        "seconds": now - protocol.started,
        # _value_ is .value without the descriptor's cost.
        "outcome": protocol.outcome._value_,  # type: ignore[union-attr]
    }
    if not lifecycle:
        return ACCESS_FORMAT, record
    record["lifecycle"] = "connectionLost"
    record["reason"] = type(reason.value).__name__
    record["clean"] = reason.check(ConnectionDone) is not None
    return ACCESS_FORMAT + " (connectionLost: {reason}, clean={clean})", record


def chunk_event(
    protocol: PoetryServerProtocol, offset: int
) -> tuple[str, dict[str, Any]]:
    """
    The lifecycle trace's event for a slow-mode chunk just written: the
    bytes from C{offset} to what C{protocol} has sent of its poem.
    """
    return "{peer} chunk: {bytes} bytes at offset {offset}", {
        "lifecycle": "chunk",
        "peer": formatAddress(protocol.transport.getPeer()),
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


class BatchingLog:
    """
    Writes per-connection log events -- the access log, the lifecycle trace
    -- one by one while the server is quiet, and in batches when it is busy.

    A text log observer (twistd's) costs tens of microseconds per event:
    formatting the timestamp and the message, then a write and a flush.
    That is more than serving a small poem or sending a slow chunk takes,
    so at thousands of connections a second one event per connection would
    cost the server most of its throughput.

    So: while no event is waiting and fewer than L{BURST} have been written
    in the current second, each event is emitted at once, as is.  Past
    that, events wait and go out together: each run of consecutive events
    for the same logger and level becomes one event (order is kept), whose
    text has one line per original event.  Waiting events go out when
    L{MAX_BATCH} are waiting, L{MAX_AGE} seconds after the first of them
    (one timer, only while events wait), or on L{flush} (the factory
    flushes whenever no connection is live, and when it stops).

    A batch event has C{count} and C{records}, a list of the original
    events' fields; a single event has its fields at the top level.

    @cvar BURST: events per second written one by one.
    @cvar MAX_BATCH: the most events one batch holds; it bounds the memory
        held and the size of one write.
    @cvar MAX_AGE: the longest, in seconds, an event waits.
    """

    BURST = 200
    MAX_BATCH = 512
    MAX_AGE = 0.5

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._waiting: list[tuple[Logger, LogLevel, str, dict[str, Any]]] = []
        self._window = float("-inf")
        self._written = 0
        self._timer: IDelayedCall | None = None

    def emit(
        self,
        log: Logger,
        level: LogLevel,
        logFormat: str,
        fields: dict[str, Any],
        *,
        now: float | None = None,
    ) -> None:
        """
        Log C{logFormat} with C{fields} to C{log}, now or in a batch.
        C{now}, if given, is the clock's current time (saves reading it).
        """
        waiting = self._waiting
        if not waiting:
            if now is None:
                now = self.clock.seconds()
            if now - self._window >= 1.0:
                self._window = now
                self._written = 0
            if self._written < self.BURST:
                self._written += 1
                log.emit(level, logFormat, **fields)
                return
            self._timer = self.clock.callLater(self.MAX_AGE, self.flush)
        waiting.append((log, level, logFormat, fields))
        if len(waiting) >= self.MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Emit every waiting event now."""
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        start = 0
        while start < len(waiting):
            log, level = waiting[start][0], waiting[start][1]
            end = start + 1
            while (
                end < len(waiting)
                and waiting[end][0] is log
                and waiting[end][1] is level
            ):
                end += 1
            run = waiting[start:end]
            if len(run) == 1:
                log.emit(level, run[0][2], **run[0][3])
            else:
                log.emit(
                    level,
                    "{lines}",
                    count=len(run),
                    records=[fields for _, _, _, fields in run],
                    lines=_Lines(run),
                )
            start = end


class _Lines:
    """The text of a batch of events, built only if an observer renders it."""

    __slots__ = ("_run",)

    def __init__(self, run: list[tuple[Logger, LogLevel, str, dict[str, Any]]]) -> None:
        self._run = run

    def __str__(self) -> str:
        return "\n".join(
            _accessLine(fields) if fmt is ACCESS_FORMAT else fmt.format_map(fields)
            for _, _, fmt, fields in self._run
        )

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _accessLine(r: dict[str, Any]) -> str:
    """L{ACCESS_FORMAT} for one record, without the general formatter's cost."""
    peer, poem, size, seconds = r["peer"], r["poem"], r["bytes"], r["seconds"]
    return f"{peer} {poem} {size} bytes {seconds:.3f} s {r['outcome']}"
