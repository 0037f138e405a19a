"""
The admin endpoint's resources (C{twisted.web}):

  - C{GET /}: the status page (L{PageResource}), static HTML that polls
    the API below;
  - C{GET /api/status}: the server's version, behaviour, counters and live
    connections, as JSON (L{StatusResource});
  - C{GET /api/timeline.svg}: the recent connections drawn as a timeline
    (L{TimelineResource});
  - C{GET /metrics}: Prometheus text exposition (L{MetricsResource});
  - C{GET} and C{PUT /api/behaviour}: the behaviour document, read or
    replaced (L{BehaviourResource});
  - C{POST /api/reset}: back to the behaviour the server started with
    (L{ResetResource}).

A resource answers the methods it has a C{render_METHOD} for (C{HEAD} as
C{GET}); any other method is a 405 naming the allowed ones.  Only C{PUT}
and C{POST} change state.  No resource sends CORS headers, so a browser
never lets another site's page read the answers, and both methods that
change state need C{Content-Type: application/json}: a cross-site HTML
form can send only C{text/plain}, C{application/x-www-form-urlencoded}
or C{multipart/form-data}, and a cross-site C{fetch} with a JSON type
needs a CORS preflight that is refused (405, no CORS headers).  Request
bodies are read only through L{read_json_body}, which enforces the
content type and L{AdminRequest.MAX_BODY_SIZE}.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib.resources import files
from typing import Any

from twisted.python.reflect import prefixedMethodNames
from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource

from poetry import __version__
from poetry.addresses import format_address
from poetry.admin.auth import has_token
from poetry.admin.control import BehaviourControl, BehaviourRefused
from poetry.admin.metrics import CONTENT_TYPE, ServerMetrics
from poetry.admin.recent import RecentConnections
from poetry.admin.site import AdminRequest
from poetry.server.rules import ConfigError
from poetry.server.view import ServerView

__all__ = [
    "AdminRequestError",
    "AdminResource",
    "BehaviourResource",
    "DirectoryResource",
    "JSONResource",
    "MetricsResource",
    "PageResource",
    "ResetResource",
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


def read_json_body(
    request: AdminRequest, *, empty: dict[str, Any] | None = None
) -> dict[str, Any]:
    """
    The request's body as a JSON object, for the resources that take one.

    @param empty: what an empty body stands for (L{None}: an empty body is
        not JSON, a 400).
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
    if empty is not None and not raw.strip():
        return dict(empty)
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
            if head and not hasattr(self, "render_GET"):
                raise UnsupportedMethod(())
            body: bytes = super().render(request)
        except UnsupportedMethod:
            if head:
                request.method = b"HEAD"
            allowed = b", ".join(self._allowed())
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

    def _allowed(self) -> list[bytes]:
        """The methods this resource answers (C{HEAD} only with C{GET})."""
        names = {n.encode("ascii") for n in prefixedMethodNames(type(self), "render_")}
        if b"GET" not in names:
            names.discard(b"HEAD")
        return sorted(names)


class DirectoryResource(Resource):
    """An inner node of the admin tree: itself, a 404; its children, found."""

    def render(self, request: Any) -> bytes:
        return _plain(request, 404, "no such resource")

    def getChild(self, path: bytes, request: Any) -> Resource:
        return _NotFound()


class _NotFound(AdminResource):
    def render(self, request: Any) -> bytes:
        return _plain(request, 404, "no such resource")


def render_json(request: Any, method: Any) -> bytes:
    """
    Call C{method(request)} and answer its document as JSON; an
    L{AdminRequestError} becomes its 4xx status with C{{"error": MESSAGE}}.
    """
    try:
        document = method(request)
    except AdminRequestError as e:
        request.setResponseCode(e.code)
        document = {"error": str(e)}
    _no_store(request, b"application/json; charset=utf-8")
    return json_bytes(document)


class JSONResource(AdminResource):
    """
    A leaf answering JSON.  Subclasses define C{get} (the document C{GET}
    answers) and, for the methods that take a body, C{render_PUT} or
    C{render_POST} calling L{_json}; L{AdminRequestError}s raised while
    rendering become their 4xx status with C{{"error": MESSAGE}}.
    """

    def render_GET(self, request: Any) -> bytes:
        return self._json(request, self.get)

    def get(self, request: Any) -> Any:
        """The document C{GET} answers."""
        raise NotImplementedError

    def _json(self, request: Any, method: Any) -> bytes:
        """Call C{method(request)} and answer its document as JSON."""
        return render_json(request, method)


def _peer(request: Any) -> str:
    """Who sent C{request}, as logs show addresses."""
    return format_address(request.getClientAddress())


def _changed(control: BehaviourControl, change: Any) -> dict[str, Any]:
    """
    Make C{change()}, a change of the behaviour, and answer the new
    document; a bad value is a 400, a change the server cannot take now a
    409 (one line each; nothing changed).
    """
    try:
        behaviour = change()
    except BehaviourRefused as e:
        raise AdminRequestError(409, str(e)) from None
    except ConfigError as e:
        raise AdminRequestError(400, str(e)) from None
    document: dict[str, Any] = behaviour.as_document()
    return document


class BehaviourResource(JSONResource):
    """
    C{/api/behaviour}: C{GET} answers the behaviour document (every key of
    L{poetry.service.behaviour.KEYS}); C{PUT} replaces the whole behaviour
    with the body's document (a key left out gets its default, as on the
    command line: C{PUT} never merges), checked by the command line's
    rules, for the connections accepted from then on, and answers the new
    document.  C{GET}'s answer C{PUT} back gives the same behaviour (a
    mix's draws start again from its seed).
    """

    def __init__(self, control: BehaviourControl) -> None:
        super().__init__()
        self.control = control

    def get(self, request: Any) -> dict[str, Any]:
        return self.control.document()

    def render_PUT(self, request: Any) -> bytes:
        return self._json(request, self.put)

    def put(self, request: Any) -> dict[str, Any]:
        """Read, check and apply the body (see the class)."""
        document = read_json_body(request)
        return _changed(
            self.control, lambda: self.control.replace(document, _peer(request))
        )


class ResetResource(AdminResource):
    """
    C{POST /api/reset}: back to the behaviour the server started with
    (L{BehaviourControl.initial}), answered as its document.  The body is
    empty or C{{}}, its type C{application/json} (see the module).
    """

    def __init__(self, control: BehaviourControl) -> None:
        super().__init__()
        self.control = control

    def render_POST(self, request: Any) -> bytes:
        return render_json(request, self.post)

    def post(self, request: Any) -> dict[str, Any]:
        """Check the (empty) body, then reset."""
        if read_json_body(request, empty={}):
            raise AdminRequestError(400, "POST /api/reset takes no document: send {}")
        return _changed(self.control, lambda: self.control.reset(_peer(request)))


class StatusResource(JSONResource):
    """
    C{GET /api/status}: the server's version, its mode (L{ServerView.mode}),
    its behaviour (the document C{GET /api/behaviour} answers), its limits,
    every counter (C{bytes_sent} counts ended connections, C{bytes_sent_live}
    the live ones so far), and the oldest L{ServerView.LIVE_LIMIT} live connections
    with the total.
    """

    def __init__(self, view: ServerView, control: BehaviourControl) -> None:
        super().__init__()
        self.view = view
        self.control = control

    def get(self, request: Any) -> dict[str, Any]:
        view = self.view
        shown, total = view.live()
        return {
            "version": __version__,
            "time": view.now(),
            "mode": view.mode(),
            "behaviour": self.control.document(),
            "limits": view.limits(),
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
