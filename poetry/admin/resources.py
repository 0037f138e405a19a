"""
The admin endpoint's resources (C{twisted.web}):

  - C{GET /}: the status page (L{PageResource}), static HTML that polls
    the API below;
  - C{GET /api/status}: the server's version, behaviour, counters and live
    connections, as JSON (L{StatusResource});
  - C{GET /api/timeline.svg}: the recent connections drawn as a timeline
    (L{TimelineResource});
  - C{GET /metrics}: Prometheus text exposition (L{MetricsResource}).

Every resource answers C{GET} (and C{HEAD}) only: any other method is a
405 naming the allowed ones, and nothing changes state.  No resource sends
CORS headers, so a browser never lets another site's page read the
answers.  Request bodies are read only through L{read_json_body}, which
enforces the content type and L{AdminRequest.MAX_BODY_SIZE}.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib.resources import files
from typing import Any

from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource

from poetry import __version__
from poetry.admin.auth import has_token
from poetry.admin.metrics import CONTENT_TYPE, ServerMetrics
from poetry.admin.recent import RecentConnections
from poetry.admin.site import AdminRequest
from poetry.server.view import ServerView

__all__ = [
    "AdminRequestError",
    "AdminResource",
    "DirectoryResource",
    "JSONResource",
    "MetricsResource",
    "PageResource",
    "StatusResource",
    "TimelineResource",
    "json_bytes",
    "read_json_body",
]


class AdminRequestError(Exception):
    """
    A request the admin endpoint refuses: C{code} is its 4xx status, the
    message one line (the body of the answer).
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_bytes(document: Any) -> bytes:
    """C{document} as compact UTF-8 JSON, with a final newline."""
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


def _no_store(request: Any, content_type: bytes) -> None:
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"x-content-type-options", b"nosniff")


def read_json_body(request: AdminRequest) -> dict[str, Any]:
    """
    The request's body as a JSON object, for the resources that take one.

    @raise AdminRequestError: 415 unless the content type is
        C{application/json}; 413 for a body over
        L{AdminRequest.MAX_BODY_SIZE}; 400 for a body that is not UTF-8
        JSON, or not an object.
    """
    content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise AdminRequestError(415, "the body must be application/json")
    if getattr(request, "body_too_large", False):
        raise AdminRequestError(
            413, f"the body is over {AdminRequest.MAX_BODY_SIZE} bytes"
        )
    content: Any = request.content
    content.seek(0)
    raw = content.read()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AdminRequestError(400, f"the body is not valid JSON: {line}") from None
    if not isinstance(document, dict):
        raise AdminRequestError(400, "the body must be a JSON object")
    return document


def _plain(request: Any, code: int, message: str) -> bytes:
    """A one-line plain-text answer with status C{code}."""
    request.setResponseCode(code)
    _no_store(request, b"text/plain; charset=utf-8")
    return message.encode("utf-8") + b"\n"


class AdminResource(Resource):
    """
    A leaf of the admin tree.  C{HEAD} is answered as C{GET} without the
    body (and without Twisted's log line for a faked C{HEAD}); a method the
    resource has no C{render_METHOD} for is a 405 with an C{Allow} header,
    whatever the method (Twisted answers 501 for methods beyond C{GET},
    C{HEAD} and C{POST}, a process-wide list).
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        if request.postpath not in ([], [b""]):
            return _plain(request, 404, "no such resource")
        head = request.method == b"HEAD"
        if head:
            request.method = b"GET"
        try:
            body: bytes = super().render(request)
        except UnsupportedMethod as e:
            allowed = b", ".join(sorted(set(e.allowedMethods)))
            request.setHeader(b"allow", allowed)
            body = _plain(
                request,
                405,
                f"method {request.method.decode('latin-1')!r} not allowed here"
                f" (allowed: {allowed.decode('latin-1')})",
            )
        finally:
            if head:
                request.method = b"HEAD"
        if head:
            request.setHeader(b"content-length", b"%d" % len(body))
            return b""
        return body


class DirectoryResource(Resource):
    """An inner node of the admin tree: itself, a 404; its children, found."""

    def render(self, request: Any) -> bytes:
        return _plain(request, 404, "no such resource")

    def getChild(self, path: bytes, request: Any) -> Resource:
        return _NotFound()


class _NotFound(AdminResource):
    def render(self, request: Any) -> bytes:
        return _plain(request, 404, "no such resource")


class JSONResource(AdminResource):
    """
    A leaf answering JSON.  Subclasses define C{render_GET} (or, next, the
    methods that take a body) returning a document; L{AdminRequestError}s
    raised while rendering become their 4xx status with
    C{{"error": MESSAGE}}.
    """

    def render_GET(self, request: Any) -> bytes:
        return self._json(request, self.get)

    def get(self, request: Any) -> Any:
        """The document C{GET} answers."""
        raise NotImplementedError

    def _json(self, request: Any, method: Any) -> bytes:
        """Call C{method(request)} and answer its document as JSON."""
        try:
            document = method(request)
        except AdminRequestError as e:
            request.setResponseCode(e.code)
            document = {"error": str(e)}
        _no_store(request, b"application/json; charset=utf-8")
        return json_bytes(document)


class StatusResource(JSONResource):
    """
    C{GET /api/status}: the server's version, its behaviour, every
    counter (C{bytes_sent} counts ended connections, C{bytes_sent_live}
    the live ones so far), and the oldest L{ServerView.LIVE_LIMIT} live connections
    with the total.
    """

    def __init__(self, view: ServerView) -> None:
        super().__init__()
        self.view = view

    def get(self, request: Any) -> dict[str, Any]:
        view = self.view
        shown, total = view.live()
        return {
            "version": __version__,
            "time": view.now(),
            "behaviour": view.behaviour(),
            "counters": {**view.counts(), "bytes_sent_live": view.bytes_sent_live()},
            "live": {
                "total": total,
                "shown": len(shown),
                "limit": view.LIVE_LIMIT,
                "connections": [c.as_dict() for c in shown],
            },
        }


class MetricsResource(AdminResource):
    """C{GET /metrics}: the L{ServerMetrics}, Prometheus text exposition."""

    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Any) -> bytes:
        _no_store(request, CONTENT_TYPE)
        return self.metrics.exposition()


class TimelineResource(AdminResource):
    """C{GET /api/timeline.svg}: the L{RecentConnections} as a picture."""

    def __init__(self, recent: RecentConnections) -> None:
        super().__init__()
        self.recent = recent

    def render_GET(self, request: Any) -> bytes:
        _no_store(request, b"image/svg+xml; charset=utf-8")
        return self.recent.svg().encode("utf-8")


class PageResource(AdminResource):
    """
    C{GET /}: the status page.  It is static (HTML, CSS and script, no
    server data); the data it shows comes from the API.  A strict
    Content-Security-Policy lets it run only its own script (named by its
    hash) and talk only to this server.

    With a C{token}, a request without C{Authorization: Bearer TOKEN} is a
    401 like every other (with C{WWW-Authenticate: Bearer}), but the 401's
    body is the page itself: a browser cannot send a bearer header when a
    person types the address, so it shows the page, which asks for the token
    and sends it on every request it makes.  Nothing of the server is in it.
    """

    def __init__(self, token: bytes | None = None) -> None:
        super().__init__()
        self.token = token
        self.page = files("poetry.admin").joinpath("page.html").read_bytes()
        script = re.search(rb"<script>(.*?)</script>", self.page, re.DOTALL)
        assert script is not None, "page.html has no script"
        digest = base64.b64encode(hashlib.sha256(script.group(1)).digest())
        self.policy = (
            b"default-src 'none'; script-src 'sha256-" + digest + b"'; "
            b"style-src 'unsafe-inline'; img-src blob:; connect-src 'self'; "
            b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )

    def render_GET(self, request: Any) -> bytes:
        _no_store(request, b"text/html; charset=utf-8")
        request.setHeader(b"content-security-policy", self.policy)
        request.setHeader(b"x-frame-options", b"DENY")
        if self.token is not None and not has_token(request, self.token):
            request.setResponseCode(401)
            request.setHeader(b"www-authenticate", b'Bearer realm="poetry admin"')
        return self.page
