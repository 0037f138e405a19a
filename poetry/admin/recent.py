"""
The recent connections the status page draws: L{RecentConnections} keeps
the last L{RecentConnections.KEEP} connections that ended (fed by the
server view as they end) and, with the newest live ones, turns them into
the timeline rows L{poetry.trace} draws (L{render_timeline_svg}), the
same picture C{get-poetry --timeline-svg} makes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from poetry.addresses import format_address
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome
from poetry.server.view import ServerView
from poetry.trace.svg import render_timeline_svg
from poetry.trace.timeline import TaskRow

__all__ = ["EndedConnection", "RecentConnections", "timeline_outcome"]

#: How a connection's end is drawn (a timeline outcome: ok, failed, timeout).
_DRAWN = {
    ConnectionOutcome.COMPLETE: "ok",
    ConnectionOutcome.CUT_IDLE: "timeout",
    ConnectionOutcome.LINGER_TIMEOUT: "timeout",
}


def timeline_outcome(outcome: ConnectionOutcome | None) -> str:
    """
    The timeline's word for a connection that ended as C{outcome}: C{ok}
    for a complete poem, C{timeout} for a cut by a timeout, else
    C{failed}; C{unfinished} for a live one (L{None}).
    """
    if outcome is None:
        return "unfinished"
    return _DRAWN.get(outcome, "failed")


@dataclass(frozen=True, slots=True)
class EndedConnection:
    """What the timeline needs of a connection that ended."""

    label: str
    start: float
    end: float
    sent: int
    outcome: ConnectionOutcome | None


class RecentConnections:
    """
    The last L{KEEP} connections that ended, numbered in the order they
    started, for the status page's picture.
    """

    KEEP = 30
    """
    Ended connections remembered, and the most live ones drawn: the
    picture stays readable and its cost bounded under any load.
    """

    def __init__(self, view: ServerView) -> None:
        self.view = view
        self.ended: deque[EndedConnection] = deque(maxlen=self.KEEP)
        view.observe(self.connection_ended)

    def _label(self, protocol: BaseServerProtocol) -> str:
        return f"{format_address(protocol.peer)} {self.view.poem_name(protocol)}"

    def connection_ended(self, protocol: BaseServerProtocol) -> None:
        """Remember C{protocol}'s connection."""
        if not hasattr(protocol, "poem"):
            return
        self.ended.append(
            EndedConnection(
                label=self._label(protocol),
                start=protocol.started,
                end=self.view.now(),
                sent=protocol.sent,
                outcome=protocol.outcome,
            )
        )

    def rows(self) -> list[TaskRow]:
        """
        The timeline rows: the remembered ended connections and the newest
        L{KEEP} live ones, oldest first, times in seconds since the oldest
        one started.
        """
        now = self.view.now()
        live = [
            EndedConnection(self._label(p), p.started, now, p.sent, None)
            for p in self.view.newest_protocols(self.KEEP)
        ]
        drawn = sorted([*self.ended, *live], key=lambda c: c.start)
        if not drawn:
            return []
        origin = drawn[0].start
        rows = []
        for number, c in enumerate(drawn, 1):
            start, end = c.start - origin, c.end - origin
            rows.append(
                TaskRow(
                    task=number,
                    label=c.label,
                    start=start,
                    connected=start,
                    arrivals=((end, c.sent),) if c.sent else (),
                    end=None if c.outcome is None else end,
                    outcome=timeline_outcome(c.outcome),
                )
            )
        return rows

    def svg(self) -> str:
        """The picture of L{rows}, as an SVG document."""
        return render_timeline_svg(
            self.rows(), title="poetry server: recent connections"
        )
