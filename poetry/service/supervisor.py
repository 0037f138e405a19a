"""
C{--workers N}: the supervision.  L{WorkerSupervisor} (a
L{twisted.application} L{Service}) starts the worker processes
(L{poetry.service.worker}) with the parent's listening sockets, restarts a
worker that dies (with a backoff, logged with its exit status), stops them
all within the grace, and logs one summary of every worker's counts;
L{WorkerProcess} is one worker as the parent sees it (a
L{ProcessProtocol}: its log lines, its counts, its control pipe).  The
supervisor's two bookkeeping jobs are classes of their own: the backoff
(L{poetry.service.backoff.RestartBackoff}) and the stop reports
(L{poetry.service.reports.WorkerReports}).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any

from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    eventFromJSON,
    globalLogPublisher,
)
from twisted.python.failure import Failure

from poetry.service.backoff import RestartBackoff
from poetry.service.messages import plural
from poetry.service.reports import WORKER_REPORT_NAMESPACE, WorkerReports
from poetry.service.service import log_stop_summary

__all__ = [
    "WORKER_REPORT_NAMESPACE",
    "AdoptablePort",
    "WorkerProcess",
    "WorkerSupervisor",
    "exit_status",
    "unflattened",
]


@dataclass(frozen=True)
class AdoptablePort:
    """
    A listening socket a worker adopts: its descriptor in the parent, its
    address family's name (C{AF_INET}, C{AF_INET6}, C{AF_UNIX}) and
    whether it is a C{haproxy:} port (connections start with a PROXY header).
    """

    fd: int
    family: str
    proxied: bool

    @classmethod
    def of(cls, port: IListeningPort, proxied: bool) -> AdoptablePort:
        """The adoptable form of a port the parent listens on."""
        host = port.getHost()
        if isinstance(host, IPv6Address):
            family = socket.AF_INET6
        elif isinstance(host, IPv4Address):
            family = socket.AF_INET
        elif isinstance(host, UNIXAddress):
            family = socket.AF_UNIX
        else:
            raise ValueError(f"cannot hand {host!r} to a worker")
        return cls(port.fileno(), family.name, proxied)  # type: ignore[attr-defined]


def exit_status(reason: Failure) -> str:
    """How a process ended, in words: C{exit status 3}, C{killed by SIGKILL}."""
    value = reason.value
    if isinstance(value, ProcessTerminated) and value.signal is not None:
        import signal

        try:
            name = signal.Signals(value.signal).name
        except ValueError:
            name = str(value.signal)
        return f"killed by {name}"
    if isinstance(value, (ProcessDone, ProcessTerminated)):
        return f"exit status {value.exitCode}"
    return str(value)


def unflattened(event: LogEvent) -> LogEvent:
    """
    An event read back from JSON, ready to format as it was logged.

    C{eventAsJSON} keeps each field its format names as C{str(value)}
    (C{log_flattened}), and formatting a flattened event ignores format
    specs (C{{seconds:.3f}} would show every digit).  When every field the
    format names came back as itself (the plain values our events carry),
    the flattened copy is dropped, so the event formats from its fields;
    otherwise (an object JSON could not hold) it is kept.
    """
    log_format = event.get("log_format")
    if not isinstance(log_format, str) or "log_flattened" not in event:
        return event
    try:
        parsed = list(Formatter().parse(log_format))
    except ValueError:
        return event
    for _, name, _, _ in parsed:
        if name is None:
            continue
        base = name.split(".", 1)[0].split("[", 1)[0].removesuffix("()")
        value = event.get(base, _MISSING)
        if value is _MISSING or (isinstance(value, dict) and "unpersistable" in value):
            return event
    event.pop("log_flattened")
    return event


_MISSING = object()


class WorkerProcess(ProcessProtocol):
    """
    One worker process, as the supervisor sees it: relays its log events,
    keeps its report, tells it to stop or cut.

    @ivar number: the worker's number (1 to N), in every event it logs.
    @ivar report: its stop line's fields, once it has stopped and said so.
    """

    MAX_LINE = 1 << 20
    """
    The longest line accepted from a worker's stdout or stderr.  It
    protects the parent from a worker that writes without newlines: past
    it, the bytes are dropped and a line says so.
    """

    def __init__(self, supervisor: WorkerSupervisor, number: int) -> None:
        self.supervisor = supervisor
        self.number = number
        self.report: dict[str, int] | None = None
        #: Its latest counts snapshot (L{PoetryServerFactory.counts}).
        self.counts: dict[str, int] | None = None
        #: Its latest status for the admin endpoint, as sent (read by
        #: L{poetry.admin.aggregate.WorkerStatus.parse}); L{None} without one.
        self.status: Any = None
        self.started = 0.0
        self.pid: int | None = None
        self._out = b""
        self._err = b""

    def connectionMade(self) -> None:
        self.pid = self.transport.pid  # type: ignore[union-attr]

    def _lines(self, buffered: bytes, data: bytes) -> tuple[list[bytes], bytes]:
        *lines, rest = (buffered + data).split(b"\n")
        if len(rest) > self.MAX_LINE:
            self.supervisor.log.warn(
                "Worker {worker}: dropped {size} bytes without a newline",
                worker=self.number,
                size=len(rest),
            )
            rest = b""
        return lines, rest

    def outReceived(self, data: bytes) -> None:
        """Log events, one JSON line each: re-publish them (or keep the report)."""
        lines, self._out = self._lines(self._out, data)
        for line in lines:
            try:
                event = eventFromJSON(line.decode("utf-8"))
            except ValueError:
                self.supervisor.log.warn(
                    "Worker {worker}: {line}", worker=self.number, line=line
                )
                continue
            if event.get("log_namespace") == WORKER_REPORT_NAMESPACE:
                if "report" in event:
                    self.report = event["report"]
                else:
                    self.counts = event.get("counts")
                    self.status = event.get("status")
            else:
                self.supervisor.publish(unflattened(event))

    def errReceived(self, data: bytes) -> None:
        """What a worker writes on stderr (a crash): logged as errors."""
        lines, self._err = self._lines(self._err, data)
        for line in lines:
            self.supervisor.log.error(
                "Worker {worker} stderr: {line}",
                worker=self.number,
                line=line.decode("utf-8", "replace"),
            )

    def stop(self) -> None:
        """Ask the worker to stop gracefully."""
        self._send(b"stop\n")

    def cut(self) -> None:
        """Ask the worker to cut its poems in flight now."""
        self._send(b"cut\n")

    def reopen(self) -> None:
        """Ask the worker to reopen its log file."""
        self._send(b"reopen\n")

    def set_behaviour(self, document: dict[str, Any]) -> None:
        """Tell the worker to take the behaviour C{document} (checked already)."""
        line = json.dumps(document, separators=(",", ":")).encode("utf-8")
        self._send(b"behaviour " + line + b"\n")

    def _send(self, command: bytes) -> None:
        if self.transport is not None:
            self.transport.write(command)

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.worker_ended(self, reason)


class WorkerSupervisor(Service):
    """
    Starts C{count} worker processes over the parent's listening sockets
    and keeps them running until stopped.

    @ivar workers: the running workers, by number.
    @ivar reports: the L{WorkerReports} of the workers that exited.
    @ivar backoff: the L{RestartBackoff} a dead worker waits out.
    @ivar restarts: how many times a worker was restarted.
    """

    STOP_MARGIN = 5.0
    """
    Seconds past C{grace} a worker gets to exit at shutdown before it is
    killed (SIGKILL): it protects the stop from a worker that hangs.
    """

    log = Logger()

    def __init__(
        self,
        count: int,
        argv: Sequence[str],
        ports: Callable[[], Sequence[AdoptablePort]],
        *,
        grace: float,
        reactor: Any,
        publish: ILogObserver | Callable[[LogEvent], None] = globalLogPublisher,
        executable: str = sys.executable,
        log_path: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.count = count
        #: The log file each worker writes itself (L{None}: the workers'
        #: events come through the parent).
        self.log_path = log_path
        self.argv = list(argv)
        self.ports = ports
        self.grace = grace
        self.reactor = reactor
        self.publish = publish
        self.executable = executable
        self.workers: dict[int, WorkerProcess] = {}
        self.reports = WorkerReports()
        self.backoff = RestartBackoff()
        self.restarts = 0
        self._pending: dict[int, IDelayedCall] = {}
        self._stopped: Deferred[None] | None = None
        self._kill_timer: IDelayedCall | None = None
        #: The behaviour document every worker gets (L{set_behaviour}),
        #: L{None} while the workers keep the command line's.
        self.behaviour: dict[str, Any] | None = None
        #: Called with each L{WorkerProcess} that exited, after its counts
        #: are final (the admin endpoint's view keeps them).
        self.ended_observers: list[Callable[[WorkerProcess], object]] = []

    def startService(self) -> None:
        super().startService()
        self.log.info(
            "Starting {count} " + plural(self.count, "worker"), count=self.count
        )
        for number in range(1, self.count + 1):
            self.spawn(number)

    def spawn(self, number: int) -> WorkerProcess:
        """Start worker C{number}, handing it every listening socket."""
        self._pending.pop(number, None)
        ports = list(self.ports())
        child_fds: dict[int, int | str] = {0: "w", 1: "r", 2: "r"}
        spec: list[list[Any]] = []
        for index, port in enumerate(ports):
            child_fds[3 + index] = port.fd
            spec.append([3 + index, port.family, port.proxied])
        argument = json.dumps(
            {
                "worker": number,
                "argv": self.argv,
                "ports": spec,
                "log_file": self.log_path(),
            }
        )
        process = WorkerProcess(self, number)
        process.started = self.reactor.seconds()
        self.workers[number] = process
        transport = self.reactor.spawnProcess(
            process,
            self.executable,
            [self.executable, "-m", "poetry.service.worker", argument],
            env=os.environ,
            childFDs=child_fds,
        )
        process.pid = transport.pid
        self.log.info(
            "Worker {worker} started (pid {pid})", worker=number, pid=process.pid
        )
        if self.behaviour is not None:
            # Started with the command line's behaviour: give it today's.
            process.set_behaviour(self.behaviour)
        return process

    def set_behaviour(self, document: dict[str, Any]) -> None:
        """
        Every worker takes the behaviour C{document} (checked in the
        parent by L{Behaviour.from_document}), and so does each one
        started from now on.
        """
        self.behaviour = dict(document)
        for process in self.workers.values():
            process.set_behaviour(self.behaviour)

    def worker_ended(self, process: WorkerProcess, reason: Failure) -> None:
        """A worker process has exited (and been reaped)."""
        if self.workers.get(process.number) is process:
            del self.workers[process.number]
        self.reports.worker_ended(process.report, process.counts)
        for observer in self.ended_observers:
            observer(process)
        status = exit_status(reason)
        if self._stopped is None and self.running:
            ran_for = self.reactor.seconds() - process.started
            delay = self.backoff.delay(process.number, ran_for)
            self.restarts += 1
            self.log.warn(
                "Worker {worker} (pid {pid}) exited ({status}); restarting in "
                "{delay} s",
                worker=process.number,
                pid=process.pid,
                status=status,
                delay=delay,
            )
            self._pending[process.number] = self.reactor.callLater(
                delay, self.spawn, process.number
            )
            return
        self.log.info(
            "Worker {worker} (pid {pid}) exited ({status})",
            worker=process.number,
            pid=process.pid,
            status=status,
        )
        if self._stopped is not None and not self.workers:
            self._finish()

    def cut_now(self) -> None:
        """Tell every worker to cut its poems in flight at once."""
        for process in self.workers.values():
            process.cut()

    def reopen_logs(self) -> None:
        """Tell every worker to reopen the log file it writes."""
        for process in self.workers.values():
            process.reopen()

    def stopService(self) -> Deferred[None]:
        """
        Tell every worker to stop gracefully; the L{Deferred} fires once
        all have exited (killed C{grace} + L{STOP_MARGIN} seconds on), after
        the summary of their counts.
        """
        super().stopService()
        for timer in self._pending.values():
            timer.cancel()
        self._pending.clear()
        stopped: Deferred[None] = Deferred()
        self._stopped = stopped
        if not self.workers:
            self._finish()
            return stopped
        for process in self.workers.values():
            process.stop()
        self._kill_timer = self.reactor.callLater(
            self.grace + self.STOP_MARGIN, self._kill_all
        )
        return stopped

    def _kill_all(self) -> None:
        self._kill_timer = None
        for process in self.workers.values():
            self.log.warn(
                "Worker {worker} (pid {pid}) did not stop in time: killing it",
                worker=process.number,
                pid=process.pid,
            )
            if process.transport is not None:
                process.transport.signalProcess("KILL")

    def _finish(self) -> None:
        """Every worker has exited: log the summary, fire the stop."""
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None
        log_stop_summary(self.log, self.reports.totals(), workers=self.count)
        stopped, self._stopped = self._stopped, None
        assert stopped is not None
        stopped.callback(None)
