"""
C{--workers N}: the parent's side.  The parent listens on every C{--port}
(before privileges drop) but never accepts; L{WorkerSupervisor} starts N
worker processes (L{poetry.service.worker}) that adopt the listening
sockets and serve, restarts a worker that dies (with a backoff, logged with
its exit status), stops them all gracefully, and logs one summary of every
worker's counts.

The parent is off the data path: a poem goes from a worker's socket to the
client; the parent only relays the workers' log events (one JSON line per
event on each worker's stdout, re-published with a C{worker} field) and
reads each worker's report when it stops.  Under C{twistd --logfile} the
workers write the log file themselves (append mode, whole buffered lines)
and the parent relays nothing per poem.  The control channel is the
worker's stdin: C{stop} (graceful, within C{--grace}), C{cut} (at once),
C{reopen} (the log file, on the parent's SIGUSR1), C{behaviour DOCUMENT}
(an admin change); its end of file (the parent died) stops the worker too.
With C{--admin}, the parent serves the admin endpoint over the workers'
latest reports (L{poetry.admin.aggregate.AggregateView}).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.interfaces import IProtocolFactory, IStreamServerEndpoint

from poetry.server import PoetryServerFactory
from poetry.service.service import ListeningService, PoetryService
from poetry.service.supervisor import (
    WORKER_REPORT_NAMESPACE,
    AdoptablePort,
    WorkerProcess,
    WorkerSupervisor,
    exit_status,
    unflattened,
)

__all__ = [
    "WORKER_REPORT_NAMESPACE",
    "AdoptablePort",
    "WorkerProcess",
    "WorkerSupervisor",
    "WorkersService",
    "exit_status",
    "unflattened",
]


class WorkersService(PoetryService):
    """
    The parent of C{--workers N}: a L{PoetryService} whose listeners listen
    (in C{privilegedStartService} or L{listen}) but never accept (their
    ports stop reading), and whose L{WorkerSupervisor} runs the workers that
    adopt them.  Stopping stops listening here, then stops the workers,
    which stop listening, drain within C{grace} and report.

    @ivar supervisor: the L{WorkerSupervisor}.
    """

    def __init__(
        self,
        factory: PoetryServerFactory,
        endpoints: Sequence[Any],
        *,
        workers: int,
        argv: Sequence[str],
        proxied: Sequence[bool],
        grace: float = 5.0,
        descriptions: Sequence[str] | None = None,
        reactor: Any,
        admin: (
            tuple[
                IStreamServerEndpoint,
                Callable[[WorkerSupervisor], IProtocolFactory],
                str,
            ]
            | None
        ) = None,
    ) -> None:
        """
        @param admin: the admin endpoint, a function making its protocol
            factory over the supervisor (see L{poetry.admin.admin_factory})
            and its description, if the server has one: the parent serves
            it, over every worker's reports.
        """
        MultiService.__init__(self)
        self.factory = factory
        self._proxied = list(proxied)
        self.supervisor = WorkerSupervisor(
            workers,
            argv,
            self.adoptable_ports,
            grace=grace,
            reactor=reactor,
            log_path=self._log_path,
        )
        self.supervisor.setServiceParent(self)
        descriptions = list(descriptions or [repr(e) for e in endpoints])
        self.listeners = [
            ListeningService(endpoint, factory, description)
            for endpoint, description in zip(endpoints, descriptions, strict=True)
        ]
        for listener in self.listeners:
            listener.setServiceParent(self)
        self.log_file = None
        self.log_observer = None
        self.signals_trigger = None
        #: The admin endpoint's L{ListeningService}, if there is one (added
        #: last, it stops listening first); it listens and accepts here.
        self.admin_listener: ListeningService | None = None
        if admin is not None:
            endpoint, make_factory, description = admin
            self.admin_listener = ListeningService(
                endpoint,
                make_factory(self.supervisor),
                description,
                what="Admin endpoint",
            )
            self.admin_listener.setServiceParent(self)

    @property
    def grace(self) -> float:
        """Seconds in-flight poems get at shutdown, in every worker."""
        return self.supervisor.grace

    def listen(self) -> None:
        """Listen on every endpoint (see L{PoetryService.listen}); never accept."""
        super().listen()
        for port in self.ports:
            port.stopReading()  # type: ignore[attr-defined]

    def adoptable_ports(self) -> list[AdoptablePort]:
        """The listening sockets, as the workers adopt them."""
        return [
            AdoptablePort.of(listener.port, proxied)
            for listener, proxied in zip(self.listeners, self._proxied, strict=True)
            if listener.port is not None
        ]

    def startService(self) -> None:
        """Listen (unless already listening), then start the workers."""
        self.listen()
        MultiService.startService(self)

    def cut_now(self) -> None:
        """Tell every worker to cut its poems in flight now."""
        self.supervisor.cut_now()

    def _log_path(self) -> str | None:
        return self.log_file.path if self.log_file is not None else None

    def log_reopened(self) -> None:
        """The parent reopened its log file: so do the workers."""
        self.supervisor.reopen_logs()
