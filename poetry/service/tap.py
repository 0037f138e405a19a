"""
The twistd plugin's entry point: L{makeService}, which builds the
L{PoetryService} from checked L{Options} and, under a runner, does the
process-level wiring (listening before twistd forks, the log file, the
signals).  As in C{twisted/tap/}, this is the only place the server touches
the global reactor.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.endpoints import serverFromString

from poetry.logfile import ReopeningLogFile
from poetry.server.proxy import is_proxied, server_endpoint
from poetry.service.options import Options
from poetry.service.service import PoetryService
from poetry.service.signals import ProcessSignals
from poetry.service.workers import WorkersService

__all__ = ["makeService"]


def _twistd_log_file(runner: Any) -> ReopeningLogFile | None:
    """
    The log file twistd would open for these command-line options, opened
    the way logrotate needs (L{ReopeningLogFile}); L{None} where twistd logs
    elsewhere (stdout under C{-n} without C{--logfile}, syslog, a custom
    C{--logger}) or the runner is not twistd.
    """
    if runner is None or "nodaemon" not in runner or "syslog" not in runner:
        return None
    if runner.get("logger") or runner.get("syslog"):
        return None
    name = runner.get("logfile") or ""
    if name == "-" or (runner["nodaemon"] and not name):
        return None
    return ReopeningLogFile.fromFullPath(name or "twistd.log")


def makeService(options: Options) -> PoetryService:
    """
    Build the service twistd runs from parsed L{Options} (their checked
    L{Options.config}).  This is an entry
    point, so it is where the global reactor is used.

    When the options came from a runner's command line (C{twistd} or
    C{twist}: C{options.parent} is set), this also does the process-level
    wiring: it listens at once, before twistd starts logging, forks into a
    daemon, writes its pidfile or sheds privileges (as nginx binds before
    it daemonizes), so that a port in use is one plain line on the terminal
    and exit status 1 in every mode; under twistd with a log file it opens
    that file for append (L{ReopeningLogFile}); and it installs
    L{ProcessSignals} once the reactor runs.
    """
    from twisted.internet import reactor

    config = options.config
    endpoints = [server_endpoint(reactor, p) for p in config.ports]
    factory = config.build_factory(reactor)
    result: PoetryService
    admin_endpoint = None
    if config.admin is not None:
        admin_endpoint = serverFromString(reactor, config.admin)
        admin_given = config.admin_given or config.admin
    if config.workers > 1:
        workers_admin = None
        if admin_endpoint is not None:
            from poetry.admin import admin_factory

            def over(supervisor: Any) -> Any:
                return admin_factory(
                    factory,
                    token=config.admin_token,
                    reactor=reactor,
                    supervisor=supervisor,
                )

            workers_admin = (admin_endpoint, over, admin_given)
        result = WorkersService(
            factory,
            endpoints,
            workers=config.workers,
            argv=getattr(options, "argv", []),
            proxied=[is_proxied(p) for p in config.ports],
            grace=config.grace,
            descriptions=config.given,
            reactor=reactor,
            admin=workers_admin,
        )
    else:
        admin = None
        if admin_endpoint is not None:
            from poetry.admin import admin_factory

            admin = (
                admin_endpoint,
                admin_factory(factory, token=config.admin_token, reactor=reactor),
                admin_given,
            )
        result = PoetryService(
            factory,
            endpoints,
            grace=config.grace,
            descriptions=config.given,
            admin=admin,
        )
    runner = getattr(options, "parent", None)
    if runner is not None:
        result.listen()
        result.log_file = _twistd_log_file(runner)
        signals = ProcessSignals(result, reactor)
        result.signals_trigger = reactor.addSystemEventTrigger(
            "after", "startup", signals.install
        )
    return result
