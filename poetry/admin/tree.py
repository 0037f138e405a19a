"""
The admin endpoint put together: L{admin_resource} (the resource tree,
behind the bearer token when there is one) and L{admin_factory} (the
L{AdminSite} under its L{AdminConnectionLimit}), for a server's
L{PoetryServerFactory}.

The tree::

    /                   PageResource       the status page (static; a 401
                                           without the token, the page its body)
    /api/status         StatusResource     JSON
    /api/timeline.svg   TimelineResource   SVG
    /metrics            MetricsResource    Prometheus text

Resources that change the behaviour (C{/api/behaviour}, C{/api/reset})
are added to C{api} here, as L{JSONResource}s reading their body with
L{read_json_body}; see docs/design.md.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import IResource

from poetry.admin.auth import guard
from poetry.admin.metrics import ServerMetrics
from poetry.admin.recent import RecentConnections
from poetry.admin.resources import (
    DirectoryResource,
    MetricsResource,
    PageResource,
    StatusResource,
    TimelineResource,
)
from poetry.admin.site import AdminConnectionLimit, AdminSite, RequestDeadline
from poetry.server.factory import PoetryServerFactory
from poetry.server.view import ServerView

__all__ = ["admin_factory", "admin_resource"]


def admin_resource(view: ServerView, token: bytes | None = None) -> DirectoryResource:
    """
    The admin resource tree reading C{view}.  With a C{token}, every
    resource needs C{Authorization: Bearer TOKEN}: without it a 401 (the
    page's 401 is the static page, which asks for the token).
    """

    def protect(resource: IResource) -> Any:
        return resource if token is None else guard(resource, token)

    api = DirectoryResource()
    api.putChild(b"status", StatusResource(view))
    api.putChild(b"timeline.svg", TimelineResource(RecentConnections(view)))
    root = DirectoryResource()
    root.putChild(b"", PageResource(token))
    root.putChild(b"api", protect(api))
    root.putChild(b"metrics", protect(MetricsResource(ServerMetrics(view))))
    return root


def admin_factory(
    factory: PoetryServerFactory, *, token: bytes | None = None, reactor: Any = None
) -> AdminConnectionLimit:
    """
    The protocol factory the admin endpoint listens with, for the server
    whose factory is C{factory}: an L{AdminSite} of L{admin_resource},
    its timeouts on C{reactor} (default: C{factory}'s clock), under a
    L{RequestDeadline} and an L{AdminConnectionLimit}.
    """
    clock = factory.clock if reactor is None else reactor
    site = AdminSite(admin_resource(ServerView(factory), token), reactor=clock)
    return AdminConnectionLimit(RequestDeadline(site, clock))
