"""
Running the poetry server under twistd or twist.  The plugin in
C{twisted/plugins/poetry_plugin.py} names this module, which exposes
L{Options} and L{makeService}; the parts live in one module each:

  - L{poetry.service.config}: L{ServerConfig}, every option checked once;
  - L{poetry.service.options}: the command line (L{Options});
  - L{poetry.service.service}: L{PoetryService}, a L{MultiService} of one
    L{StreamServerEndpointService} per port and a L{GracefulStop};
  - L{poetry.service.signals}: L{ProcessSignals};
  - L{poetry.service.tap}: L{makeService}, the entry point.
"""

from poetry.service.config import (
    DEFAULT_BACKLOG,
    DEFAULT_PORT,
    MIN_DELAY,
    MIN_IDLE_TIMEOUT,
    ConfigError,
    ServerConfig,
    normalize_endpoint,
)
from poetry.service.messages import plural, project_version, version_line
from poetry.service.options import BadOptions, Options
from poetry.service.service import (
    CannotListen,
    GracefulStop,
    ListeningService,
    PoetryService,
)
from poetry.service.signals import ProcessSignals
from poetry.service.tap import _twistd_log_file, makeService

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_PORT",
    "MIN_DELAY",
    "MIN_IDLE_TIMEOUT",
    "BadOptions",
    "CannotListen",
    "ConfigError",
    "GracefulStop",
    "ListeningService",
    "Options",
    "PoetryService",
    "ProcessSignals",
    "ServerConfig",
    "_twistd_log_file",
    "makeService",
    "normalize_endpoint",
    "plural",
    "project_version",
    "version_line",
]
