"""
L{LoopbackHostOnly}: the admin tree, answering only requests addressed to
a loopback name, for an admin endpoint that has no token.

Without a token, anything that can reach the loopback port may use the
admin API.  A web page cannot read another origin's answers, but with DNS
rebinding its own name can come to point at 127.0.0.1: the browser then
takes the admin endpoint for that page's origin and lets its script read
and change the server.  Such a request still names the page's host in its
C{Host} header, so answering only C{Host: localhost}, C{127.0.0.1} (any
loopback address) or C{[::1]}, with any port, closes that door.  With a
token the check is not needed (the page's script does not have the token).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.web.resource import IResource, Resource
from zope.interface import implementer

__all__ = ["LoopbackHostOnly", "names_loopback"]


def names_loopback(host: bytes | None) -> bool:
    """
    Whether a C{Host} header value names this host's loopback: C{localhost},
    a loopback IPv4 address or C{[::1]}, with or without a port.  No header
    at all (HTTP/1.0 without one) counts as loopback: browsers always send
    one.
    """
    if host is None:
        return True
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        name, _, _ = text[1:].partition("]")
    else:
        name = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _WrongHost(Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        request.setResponseCode(403)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return (
            b"this admin endpoint has no token: it answers requests addressed"
            b" to localhost, 127.0.0.1 or [::1] only\n"
        )


@implementer(IResource)
class LoopbackHostOnly:
    """
    C{wrapped}, for requests whose C{Host} names loopback
    (L{names_loopback}); any other gets a one-line 403.
    """

    isLeaf = False

    def __init__(self, wrapped: IResource) -> None:
        self.wrapped = wrapped

    def getChildWithDefault(self, path: bytes, request: Any) -> IResource:
        if not names_loopback(request.getHeader(b"host")):
            return _WrongHost()
        return self.wrapped.getChildWithDefault(path, request)

    def putChild(self, path: bytes, child: IResource) -> None:
        self.wrapped.putChild(path, child)

    def render(self, request: Any) -> bytes:
        if not names_loopback(request.getHeader(b"host")):
            return _WrongHost().render(request)
        body: bytes = self.wrapped.render(request)
        return body
