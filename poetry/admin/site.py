"""
The admin endpoint's HTTP server: L{AdminSite}, a C{twisted.web} L{Site}
whose requests never hold more than L{AdminRequest.MAX_BODY_SIZE} bytes of
body, whose idle connections are cut after L{AdminSite.IDLE_TIMEOUT}
seconds, and which writes no access line per request (a status page polled
every second would flood the log); L{AdminConnectionLimit}, the policy
wrapper that refuses admin connections beyond
L{AdminConnectionLimit.MAX_CONNECTIONS}.  Together they keep a malformed,
slow or huge request from costing more than bounded memory, and the admin
endpoint's clients from holding more than a few descriptors.
"""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.interfaces import IAddress
from twisted.protocols.policies import WrappingFactory
from twisted.web.http import Request
from twisted.web.resource import IResource
from twisted.web.server import Request as WebRequest
from twisted.web.server import Site

__all__ = ["AdminConnectionLimit", "AdminRequest", "AdminSite"]


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
    a client streaming a body without end costs reading it only this long.
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
