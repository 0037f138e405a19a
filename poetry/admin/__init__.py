"""
The server's control plane: an HTTP endpoint (C{twisted.web}) serving the
server's status as JSON, its Prometheus metrics, a status page a person
leaves open, and the behaviour to read and replace, behind a bearer token
when listening beyond loopback.  It reads the server only through
L{poetry.server.view.ServerView} and changes it only through
L{poetry.admin.control.BehaviourControl}.

  - L{poetry.admin.tree}: L{admin_resource}, L{admin_factory};
  - L{poetry.admin.resources}: the resources, L{read_json_body};
  - L{poetry.admin.control}: L{BehaviourControl}, the write side;
  - L{poetry.admin.site}: L{AdminSite}, L{AdminRequest} (the body limit),
    L{RequestDeadline}, L{AdminConnectionLimit};
  - L{poetry.admin.auth}: the bearer token (C{twisted.cred});
  - L{poetry.admin.metrics}: L{ServerMetrics} (C{prometheus_client});
  - L{poetry.admin.recent}: L{RecentConnections}, the timeline's rows.
"""

from poetry.admin.auth import guard
from poetry.admin.control import BehaviourControl, BehaviourRefused
from poetry.admin.metrics import ServerMetrics
from poetry.admin.recent import RecentConnections
from poetry.admin.resources import AdminRequestError, read_json_body
from poetry.admin.site import (
    AdminConnectionLimit,
    AdminRequest,
    AdminSite,
    RequestDeadline,
)
from poetry.admin.tree import admin_factory, admin_resource

__all__ = [
    "AdminConnectionLimit",
    "AdminRequest",
    "AdminRequestError",
    "AdminSite",
    "BehaviourControl",
    "BehaviourRefused",
    "RecentConnections",
    "RequestDeadline",
    "ServerMetrics",
    "admin_factory",
    "admin_resource",
    "guard",
    "read_json_body",
]
