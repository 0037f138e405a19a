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
    /api/behaviour      BehaviourResource  JSON: GET, PUT (replaces)
    /api/reset          ResetResource      JSON: POST (the start-up behaviour)
    /metrics            MetricsResource    Prometheus text

The resources that change the behaviour change it through one
L{BehaviourControl}; the others read the L{ServerView}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.web.resource import IResource

from poetry.admin.aggregate import (
    AggregateView,
    WorkersBehaviourControl,
    WorkersMetrics,
)
from poetry.admin.auth import guard
from poetry.admin.control import BehaviourControl
from poetry.admin.host import LoopbackHostOnly
from poetry.admin.metrics import ServerMetrics
from poetry.admin.recent import RecentConnections
from poetry.admin.resources import (
    BehaviourResource,
    DirectoryResource,
    MetricsResource,
    PageResource,
    ResetResource,
    StatusResource,
    TimelineResource,
)
from poetry.admin.site import AdminConnectionLimit, AdminSite, RequestDeadline
from poetry.server.factory import PoetryServerFactory
from poetry.server.view import ServerView

if TYPE_CHECKING:
    from poetry.service.supervisor import WorkerSupervisor

__all__ = ["admin_factory", "admin_resource"]


def admin_resource(
    view: ServerView,
    token: bytes | None = None,
    control: BehaviourControl | None = None,
    metrics: ServerMetrics | None = None,
) -> IResource:
    """
    The admin resource tree reading C{view} and changing the behaviour
    through C{control} (default: a L{BehaviourControl} of C{view}'s
    factory, made now: its start-up behaviour is the factory's now) and
    serving C{metrics} (default: a L{ServerMetrics} of C{view}).  With
    a C{token}, every
    resource needs C{Authorization: Bearer TOKEN}: without it a 401 (the
    page's 401 is the static page, which asks for the token); without
    one, only requests addressed to a loopback name are answered
    (L{LoopbackHostOnly}: no DNS rebinding).
    """

    def protect(resource: IResource) -> Any:
        return resource if token is None else guard(resource, token)

    if control is None:
        control = BehaviourControl(view.factory)
    if metrics is None:
        metrics = ServerMetrics(view)
    api = DirectoryResource()
    api.putChild(b"status", StatusResource(view, control))
    api.putChild(b"behaviour", BehaviourResource(control))
    api.putChild(b"reset", ResetResource(control))
    api.putChild(b"timeline.svg", TimelineResource(RecentConnections(view)))
    root = DirectoryResource()
    root.putChild(b"", PageResource(token))
    root.putChild(b"api", protect(api))
    root.putChild(b"metrics", protect(MetricsResource(metrics)))
    return root if token is not None else LoopbackHostOnly(root)


def admin_factory(
    factory: PoetryServerFactory,
    *,
    token: bytes | None = None,
    reactor: Any = None,
    supervisor: WorkerSupervisor | None = None,
) -> AdminConnectionLimit:
    """
    The protocol factory the admin endpoint listens with, for the server
    whose factory is C{factory}: an L{AdminSite} of L{admin_resource},
    its timeouts on C{reactor} (default: C{factory}'s clock), under a
    L{RequestDeadline} and an L{AdminConnectionLimit}.  With a
    C{supervisor} (C{--workers}), it reads every worker's reports
    (L{AggregateView}) and sends behaviour changes to every worker
    (L{WorkersBehaviourControl}).
    """
    clock = factory.clock if reactor is None else reactor
    if supervisor is None:
        resource = admin_resource(ServerView(factory), token)
    else:
        view = AggregateView(factory, supervisor)
        resource = admin_resource(
            view,
            token,
            WorkersBehaviourControl(factory, supervisor),
            WorkersMetrics(view),
        )
    site = AdminSite(resource, reactor=clock)
    return AdminConnectionLimit(RequestDeadline(site, clock))
