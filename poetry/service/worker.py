"""
C{--workers N}: one worker process, started by
L{poetry.service.workers.WorkerSupervisor} as C{python -m
poetry.service.worker SPEC}.  It parses the same command line as the parent
(so every option works with C{--workers}), adopts the listening sockets it
was handed (C{reactor.adoptStreamPort}), serves them with its own factory,
and writes its log events as JSON lines on stdout, each with a C{worker}
field (with C{--logfile}, it writes the log file itself instead, so the
parent costs nothing per poem); its stdin carries the parent's commands
(C{stop}, C{cut}, C{reopen}, C{behaviour DOCUMENT}: the admin endpoint's
change, checked by the parent).  When it
has stopped it writes one report event (its stop line's fields) and exits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, cast

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IListeningPort,
    IProtocolFactory,
)
from twisted.internet.stdio import StandardIO
from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, LogEvent, Logger, eventAsJSON
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.logfile import BufferedFileLogObserver, ReopeningLogFile
from poetry.server import ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE, format_address
from poetry.server.proxy import ProxyHeaderFactory
from poetry.server.rules import ConfigError
from poetry.service.behaviour import Behaviour
from poetry.service.options import BadOptions, Options
from poetry.service.reports import WORKER_REPORT_NAMESPACE
from poetry.service.service import PoetryService

__all__ = ["AdoptedPort", "Worker", "WorkerControl", "WorkerLogObserver", "main"]


class AdoptedPort(Service):
    """
    Serves a listening socket the parent opened: adopts descriptor C{fd}
    when started (and closes the inherited copy, so that stopping listens
    no more), stops listening when stopped.
    """

    log = Logger()

    def __init__(
        self, reactor: Any, fd: int, family: str, factory: IProtocolFactory
    ) -> None:
        self.reactor = reactor
        self.fd = fd
        self.family = getattr(socket, family)
        self.factory = factory
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        super().startService()
        self.port = self.reactor.adoptStreamPort(self.fd, self.family, self.factory)
        os.close(self.fd)
        self.log.info(
            "Serving {address}",
            address=format_address(self.port.getHost()),
        )

    def stopService(self) -> Deferred[None] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        return port.stopListening()


@implementer(ILogObserver)
class WorkerLogObserver:
    """
    Marks each event with the worker's number (a C{worker} field, and in
    C{log_system}, so text logs show C{[worker 1 poetry.access#info]}), then
    writes it: to C{direct}, the log file's observer, when the worker writes
    the log file itself (C{--logfile}: no cost in the parent per poem),
    except the report and counts, which go to the parent; otherwise as one
    JSON line through C{write}, for the parent to publish.
    """

    def __init__(
        self,
        write: Callable[[bytes], object],
        worker: int,
        direct: ILogObserver | None = None,
    ) -> None:
        self.write = write
        self.worker = worker
        self.direct = direct

    def __call__(self, event: LogEvent) -> None:
        event = dict(event)
        event["worker"] = self.worker
        system = event.get("log_system")
        if system is None:
            level = event.get("log_level")
            name = getattr(level, "name", "-")
            system = f"{event.get('log_namespace', '-')}#{name}"
        event["log_system"] = f"worker {self.worker} {system}"
        if (
            self.direct is not None
            and event.get("log_namespace") != WORKER_REPORT_NAMESPACE
        ):
            self.direct(event)
            return
        self.write(eventAsJSON(event).encode("utf-8") + b"\n")


class Worker:
    """
    A worker's life: its L{PoetryService} (over L{AdoptedPort}s), stopped
    on the parent's command, then its report, then the reactor stops.
    """

    log = Logger()

    def __init__(self, number: int, service: PoetryService, reactor: Any) -> None:
        #: Where the report goes: the parent reads events of this namespace.
        self.report_log = Logger(namespace=WORKER_REPORT_NAMESPACE, source=self)
        self.number = number
        self.service = service
        self.reactor = reactor
        self.output: Any = None
        self._stopping = False
        self._reported = False
        self._output_closed = False
        self._snapshots: LoopingCall | None = None
        #: The observer writing the log file, when the worker writes one.
        self.log_observer: BufferedFileLogObserver | None = None
        self._last_counts: tuple[dict[str, int], Any] | None = None
        #: What the parent's admin endpoint needs beyond the counts (with
        #: C{--admin}: L{poetry.admin.aggregate.status_snapshot}), sent
        #: with each counts snapshot; L{None}: counts only.
        self.status: Callable[[], dict[str, Any]] | None = None

    COUNTS_INTERVAL = 1.0
    """
    Seconds between the worker's counts snapshots to the parent (sent only
    when they changed): a worker that dies loses at most this much of its
    counts from the parent's summary.
    """

    def start(self) -> None:
        """Start serving, and the counts snapshots."""
        self.service.startService()
        self._snapshots = LoopingCall(self.send_counts)
        self._snapshots.clock = self.reactor
        self._snapshots.start(self.COUNTS_INTERVAL, now=False)

    def send_counts(self) -> None:
        """Tell the parent the counts (and status) so far, if they changed."""
        counts = self.service.factory.counts()
        counts.pop("live", None)
        status = None if self.status is None else self.status()
        if (counts, status) != self._last_counts:
            self._last_counts = (counts, status)
            self.report_log.info(
                "Worker {worker} counts",
                worker=self.number,
                counts=counts,
                status=status,
            )

    def set_behaviour(self, document: Any) -> None:
        """
        Take the behaviour C{document} the parent checked (for connections
        from now on); if this worker cannot take it now (a slow connection
        in flight), one error line says so and nothing changes.
        """
        try:
            Behaviour.from_document(document, typed=True).apply_to(self.service.factory)
        except ConfigError as e:
            self.log.error(
                "Worker {worker}: behaviour not changed: {error}",
                worker=self.number,
                error=str(e),
            )

    def stop(self) -> None:
        """Stop gracefully (once): drain within the grace, report, exit."""
        if self._stopping:
            return
        self._stopping = True
        if self._snapshots is not None and self._snapshots.running:
            self._snapshots.stop()
        d = self.service.stopService()
        d.addCallback(lambda _: self._report())
        d.addErrback(self._failed)

    def cut_now(self) -> None:
        """Cut the poems in flight now (and stop, if not stopping)."""
        self.service.cut_now()
        self.stop()

    def reopen_log(self) -> None:
        """Reopen the log file the worker writes (the parent's SIGUSR1)."""
        if self.log_observer is not None:
            self.log_observer.flush()
        if self.service.log_file is not None:
            self.service.log_file.reopen()

    def _report(self) -> None:
        self.report_log.info(
            "Worker {worker} report",
            worker=self.number,
            report=self.service.stopper.report,
        )
        self._reported = True
        if self.output is not None and not self._output_closed:
            self.output.loseConnection()
        else:
            self._exit()

    def _failed(self, failure: Failure) -> None:
        self.log.failure("Worker {worker} failed to stop", failure, worker=self.number)
        self._exit()

    def output_closed(self) -> None:
        """The parent's pipes are gone (or flushed and closed)."""
        self._output_closed = True
        if self._reported:
            self._exit()
        else:
            self.stop()

    def _exit(self) -> None:
        if self.reactor.running:
            self.reactor.stop()


@implementer(IHalfCloseableProtocol)
class WorkerControl(LineOnlyReceiver):
    """The parent's commands on stdin: C{stop}, C{cut}; end of file is C{stop}."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 16
    """
    The longest command: a behaviour document (at most the admin
    endpoint's body limit, re-encoded) fits; it protects the worker from a
    stdin that never sends a newline.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def lineReceived(self, line: bytes) -> None:
        command = line.strip()
        if command == b"stop":
            self.worker.stop()
        elif command == b"cut":
            self.worker.cut_now()
        elif command == b"reopen":
            self.worker.reopen_log()
        elif command.startswith(b"behaviour "):
            try:
                document = json.loads(command[len(b"behaviour ") :])
            except ValueError:
                self.worker.log.error("Worker {worker}: bad behaviour line",
                                      worker=self.worker.number)  # fmt: skip
                return
            self.worker.set_behaviour(document)

    def readConnectionLost(self) -> None:
        self.worker.stop()

    def writeConnectionLost(self) -> None:
        self.worker.output_closed()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.worker.output_closed()


def build_worker(
    spec: dict[str, Any], reactor: Any
) -> tuple[Worker, list[AdoptedPort]]:
    """
    The worker C{spec} describes (its number, the parent's command line,
    the sockets to adopt), on C{reactor}.

    @raise BadOptions: if the command line no longer parses.
    """
    options = Options()
    options.parseOptions(spec["argv"])
    config = options.config
    factory = config.build_factory(reactor)
    service = PoetryService(factory, [], grace=config.grace)
    ports = []
    for fd, family, proxied in spec["ports"]:
        served = ProxyHeaderFactory(factory, reactor) if proxied else factory
        port = AdoptedPort(reactor, fd, family, served)
        port.setServiceParent(service)
        ports.append(port)
    worker = Worker(int(spec["worker"]), service, reactor)
    if config.admin is not None:
        # The parent serves the admin endpoint; it needs our live view.
        from poetry.admin.aggregate import EndedTally, status_snapshot
        from poetry.server.view import ServerView

        view = ServerView(factory)
        tally = EndedTally(view)
        worker.status = lambda: status_snapshot(view, tally)
    return worker, ports


def main(argv: Sequence[str] | None = None) -> None:
    """
    The worker's entry point (the only place it touches the global reactor
    or the process's signals): SIGINT and SIGHUP are the parent's to act
    on (a terminal's ^C reaches the whole process group), as are the
    signals the parent ignores or handles itself (SIGUSR1 reopens the
    parent's log file; a worker has none); SIGTERM stops gracefully.
    """
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner

    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(args[0])
    for name in ("SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        worker, _ = build_worker(spec, reactor)
    except BadOptions as e:
        raise SystemExit(str(e)) from None
    control = WorkerControl(worker)
    stdio = StandardIO(control, stdin=0, stdout=1, reactor=reactor)  # type: ignore[call-arg]
    worker.output = stdio
    direct = None
    if spec.get("log_file"):
        log_file = ReopeningLogFile.fromFullPath(spec["log_file"])
        worker.service.log_file = log_file
        direct = worker.log_observer = BufferedFileLogObserver(
            cast(IO[Any], log_file), reactor, (ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE)
        )
    observer = WorkerLogObserver(stdio.write, worker.number, direct)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)

    def terminate(number: int, frame: object) -> None:
        reactor.callFromThread(worker.stop)  # type: ignore[attr-defined]

    signal.signal(signal.SIGTERM, terminate)
    reactor.callWhenRunning(worker.start)
    reactor.run(installSignalHandlers=False)  # type: ignore[call-arg]


if __name__ == "__main__":
    # Run the module under its own name, so that its classes log under
    # poetry.service.worker, not __main__.
    from poetry.service.worker import main as _main

    _main()
