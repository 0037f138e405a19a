"""
The admin endpoint's HTTP server: L{AdminSite}, a C{twisted.web} L{Site}
whose requests never hold more than L{AdminRequest.MAX_BODY_SIZE} bytes of
body, whose idle connections are cut after L{AdminSite.IDLE_TIMEOUT}
seconds, and which writes no access line per request (a status page polled
every second would flood the log); two policy wrappers in the manner of
L{twisted.protocols.policies}: L{RequestDeadline}, which aborts a connection
whose request has not been answered L{RequestDeadline.DEADLINE} seconds
after it began, and L{AdminConnectionLimit}, which refuses admin
connections beyond L{AdminConnectionLimit.MAX_CONNECTIONS}.  Together they
keep a malformed, slow or huge request from costing more than bounded
memory and seconds, and the admin endpoint's clients from holding more than
a few descriptors.
"""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.http import Request
from twisted.web.resource import IResource
from twisted.web.server import Request as WebRequest
from twisted.web.server import Site

__all__ = ["AdminConnectionLimit", "AdminRequest", "AdminSite", "RequestDeadline"]


class AdminRequest(WebRequest):
    """
    A request whose body is held in memory up to L{MAX_BODY_SIZE} bytes,
    and dropped beyond it (C{body_too_large} is then set, and a resource
    that reads the body answers 413).  Twisted's own request spools a big
    body to a temporary file, whatever its size: here nothing grows
    without bound, in memory or on disk.
    """

    MAX_BODY_SIZE = 16 * 1024
    """
    The largest request body kept, in bytes.  Admin requests are small
    JSON documents; the limit stops a client from making the server buffer
    a huge one.  A body declared (C{Content-Length}) or sent beyond it is
    discarded as it arrives.
    """

    MAX_DISCARDED = 64 * MAX_BODY_SIZE
    """
    Bytes of an oversized body discarded before the connection is aborted:
    a client streaming a body without end costs reading it only this long
    (and L{RequestDeadline} ends it in any case).
    """

    body_too_large = False
    _received = 0

    def gotLength(self, length: int | None) -> None:
        """Hold the body in memory; note at once a declared size too big."""
        self.content = io.BytesIO()
        if length is not None and length > self.MAX_BODY_SIZE:
            self.body_too_large = True

    def handleContentChunk(self, data: bytes) -> None:
        """Keep the body while it fits; past the limit, discard it."""
        self._received += len(data)
        if self._received > self.MAX_BODY_SIZE:
            if not self.body_too_large:
                self.body_too_large = True
                self.content = io.BytesIO()
            transport: Any = getattr(self.channel, "transport", None)
            if self._received > self.MAX_DISCARDED and transport is not None:
                transport.abortConnection()
            return
        if not self.body_too_large:
            content: Any = self.content
            content.write(data)


class AdminSite(Site):
    """
    The admin endpoint's L{Site}: L{AdminRequest}s, a short idle timeout,
    no access log line per request.
    """

    IDLE_TIMEOUT = 15.0
    """
    Seconds an admin connection may stay without a byte received before it
    is closed (Twisted's own default is a minute): a slowloris client
    holds one of L{AdminConnectionLimit.MAX_CONNECTIONS} only this long
    once it stops sending.
    """

    requestFactory = AdminRequest
    noisy = False
    displayTracebacks = False

    def __init__(self, resource: IResource, *, reactor: Any = None) -> None:
        super().__init__(resource, timeout=self.IDLE_TIMEOUT, reactor=reactor)

    def log(self, request: Request) -> None:
        """No access line: polling would write one every second."""


class AdminConnectionLimit(WrappingFactory):
    """
    Refuses admin connections beyond L{MAX_CONNECTIONS} open ones
    (C{buildProtocol} returns L{None}: the port closes the connection at
    once), in the manner of
    L{twisted.protocols.policies.LimitTotalConnectionsFactory}, wrapping
    the admin L{Site}.
    """

    MAX_CONNECTIONS = 32
    """
    The most admin connections open at once.  A status page holds one or
    two; the limit keeps slow or idle admin clients from taking the
    descriptors poem connections need.
    """

    noisy = False

    def buildProtocol(self, addr: IAddress | None) -> Any:
        if len(self.protocols) >= self.MAX_CONNECTIONS:
            return None
        return super().buildProtocol(addr)


class _DeadlineProtocol(ProtocolWrapper):
    """
    One connection under L{RequestDeadline}: the timer runs from the
    moment a request may begin (the connection is made; the client sends
    again after an answer) until the server starts answering.
    """

    factory: RequestDeadline
    _timer: IDelayedCall | None = None
    _answered = False

    def connectionMade(self) -> None:
        self._arm()
        super().connectionMade()

    def _arm(self) -> None:
        self._answered = False
        self._timer = self.factory.clock.callLater(self.factory.DEADLINE, self._expired)

    def _disarm(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _expired(self) -> None:
        self._timer = None
        self.transport.abortConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self._answered and self._timer is None:
            self._arm()
        super().dataReceived(data)

    def write(self, data: bytes) -> None:
        self._answering()
        super().write(data)

    def writeSequence(self, data: Any) -> None:
        self._answering()
        super().writeSequence(data)

    def _answering(self) -> None:
        self._answered = True
        self._disarm()

    def connectionLost(self, reason: Any = connectionDone) -> None:
        self._disarm()
        super().connectionLost(reason)


class RequestDeadline(WrappingFactory):
    """
    Aborts an admin connection whose request is not answered within
    L{DEADLINE} seconds of when it began: the connection was made, or the
    client sent its first bytes after the last answer.  The idle timeout
    (L{AdminSite.IDLE_TIMEOUT}) restarts on every byte received, so on its
    own it lets a slowloris client that sends a header byte every few
    seconds hold its connection for hours; with the deadline, for seconds.
    Like nginx's C{client_header_timeout} and C{client_body_timeout} taken
    together.

    @ivar clock: where the timers run.
    """

    DEADLINE = 10.0
    """
    Seconds a request (its line, headers and body) may take to arrive and
    be answered.  Admin requests are a few hundred bytes, answered at once.
    """

    protocol = _DeadlineProtocol
    noisy = False

    def __init__(self, wrapped: Any, clock: IReactorTime) -> None:
        super().__init__(wrapped)
        self.clock = clock
