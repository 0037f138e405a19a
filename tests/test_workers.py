"""
C{--workers N}: the supervisor (L{poetry.service.workers}) on a fake process
reactor and a L{Clock}, the worker's own parts (L{poetry.service.worker}),
the option, and one real C{twistd poetry --workers 2} run: the parent
listens, two workers serve, one is killed and restarted, a stop drains
the poem in flight and sums every worker's counts.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.logger import LogLevel, eventAsJSON, eventFromJSON, formatEvent
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from poetry.library import PoemFile, PoemLibrary
from poetry.server import ACCESS_FORMAT, PoetryServerFactory
from poetry.service import PoetryService
from poetry.service.config import MAX_WORKERS
from poetry.service.service import STOP_FIELDS
from poetry.service.worker import (
    Worker,
    WorkerControl,
    WorkerLogObserver,
    build_worker,
)
from poetry.service.workers import (
    WORKER_REPORT_NAMESPACE,
    AdoptablePort,
    WorkerProcess,
    WorkerSupervisor,
    exit_status,
    unflattened,
)
from tests.helpers import parse, wait_until

POEM = PoemFile("short", b"Roses are red\nsockets are blue\n")


class FakeProcess:
    """The transport of one spawned process: records writes and signals."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.written: list[bytes] = []
        self.signals: list[str] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class ProcessClock(Clock):
    """A L{Clock} that can spawn (pretend) processes."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[WorkerProcess, list[str], dict[int, Any]]] = []

    def spawnProcess(
        self,
        proto: WorkerProcess,
        executable: str,
        args: list[str],
        env: Any = None,
        childFDs: dict[int, Any] | None = None,
    ) -> FakeProcess:
        transport = FakeProcess(1000 + len(self.spawned))
        proto.makeConnection(transport)  # type: ignore[arg-type]
        self.spawned.append((proto, args, dict(childFDs or {})))
        return transport


PORTS = [AdoptablePort(7, "AF_INET", False), AdoptablePort(9, "AF_INET6", True)]


def make_supervisor(
    count: int = 2, grace: float = 5.0
) -> tuple[WorkerSupervisor, ProcessClock, list[dict[str, Any]]]:
    clock = ProcessClock()
    published: list[dict[str, Any]] = []
    supervisor = WorkerSupervisor(
        count,
        ["--port", "tcp:0"],
        lambda: PORTS,
        grace=grace,
        reactor=clock,
        publish=published.append,
        executable="/usr/bin/python3",
    )
    return supervisor, clock, published


def ended(code: int | None = 0, sig: int | None = None) -> Failure:
    if code == 0 and sig is None:
        return Failure(ProcessDone(0))
    return Failure(ProcessTerminated(code, sig))


def report_line(number: int, **fields: int) -> bytes:
    report = dict.fromkeys(STOP_FIELDS, 0) | fields
    event = {
        "log_namespace": WORKER_REPORT_NAMESPACE,
        "log_format": "Worker {worker} report",
        "log_level": LogLevel.info,
        "worker": number,
        "report": report,
    }
    return eventAsJSON(event).encode() + b"\n"


class SupervisorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.supervisor, self.clock, self.published = make_supervisor()
        self.logged: list[dict[str, Any]] = []
        from twisted.logger import Logger

        self.supervisor.log = Logger(observer=self.logged.append)

    def messages(self) -> list[str]:
        return [formatEvent(e) for e in self.logged]

    def test_spawnsEachWithTheSockets(self) -> None:
        """
        Starting spawns N workers, each handed every listening socket at
        fds 3, 4, ... and told (as JSON) its number, the command line and
        each socket's family and whether it is proxied; stdin is the
        control pipe, stdout and stderr come back to the parent.
        """
        self.supervisor.startService()
        self.assertEqual(len(self.clock.spawned), 2)
        for number, (proto, args, fds) in enumerate(self.clock.spawned, 1):
            self.assertEqual(fds, {0: "w", 1: "r", 2: "r", 3: 7, 4: 9})
            self.assertEqual(
                args[:3], ["/usr/bin/python3", "-m", "poetry.service.worker"]
            )
            spec = json.loads(args[3])
            self.assertEqual(
                spec,
                {
                    "worker": number,
                    "argv": ["--port", "tcp:0"],
                    "ports": [[3, "AF_INET", False], [4, "AF_INET6", True]],
                    "log_file": None,
                },
            )
            self.assertEqual(proto.number, number)
            self.assertEqual(proto.pid, 999 + number)
        self.assertEqual(set(self.supervisor.workers), {1, 2})

    def test_restartWithBackoff(self) -> None:
        """
        A worker that dies is restarted after RESTART_DELAY, logged with its
        exit status; each quick death doubles the delay up to
        MAX_RESTART_DELAY; one that ran STABLE_AFTER seconds starts over.
        """
        s = self.supervisor
        s.startService()
        delays = []
        for _ in range(8):
            proto = s.workers[1]
            proto.processEnded(ended(3))
            self.assertNotIn(1, s.workers)
            delay = self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds()
            delays.append(delay)
            self.clock.advance(delay / 2)
            self.assertNotIn(1, s.workers)
            self.clock.advance(delay / 2)
            self.assertIn(1, s.workers)
        self.assertEqual(delays, [0.5, 1, 2, 4, 8, 16, 30, 30])
        self.assertIn(
            "Worker 1 (pid 1000) exited (exit status 3); restarting in 0.5 s",
            self.messages(),
        )
        self.clock.advance(s.backoff.STABLE_AFTER)
        s.workers[1].processEnded(ended(None, signal.SIGKILL))
        self.assertIn("killed by SIGKILL", self.messages()[-1])
        self.assertIn("restarting in 0.5 s", self.messages()[-1])
        self.assertEqual(s.restarts, 9)
        self.assertIn(2, s.workers)

    def test_stopWaitsForEveryWorkerAndSums(self) -> None:
        """
        Stopping tells each worker C{stop}, restarts none, fires only once
        every worker has exited, and logs one line summing their reports.
        """
        s = self.supervisor
        s.startService()
        one, two = s.workers[1], s.workers[2]
        d = s.stopService()
        self.assertEqual(one.transport.written, [b"stop\n"])  # type: ignore[union-attr]
        self.assertEqual(two.transport.written, [b"stop\n"])  # type: ignore[union-attr]
        one.outReceived(report_line(1, served=3, bytes_sent=30, health_checks=2))
        one.processEnded(ended())
        self.assertNoResult(d)
        two.outReceived(report_line(2, served=4, bytes_sent=40, cut=1))
        two.processEnded(ended())
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.clock.spawned), 2)
        summary = self.logged[-1]
        self.assertEqual(
            (
                summary["workers"],
                summary["served"],
                summary["bytes_sent"],
                summary["cut"],
                summary["health_checks"],
            ),
            (2, 7, 70, 1, 2),
        )
        self.assertTrue(
            formatEvent(summary).startswith(
                "Poetry server stopped (2 workers): 7 poems served"
            )
        )
        self.assertEqual(self.published, [])

    def test_deadWorkerCountsInSummary(self) -> None:
        """
        A worker that died after a counts snapshot still counts in the
        summary (its snapshot stands for it); its replacement adds its own.
        """
        s = self.supervisor
        s.startService()
        counts = {
            "served": 5, "bytes_sent": 50, "clients_gone": 1, "cut_at_shutdown": 0,
            "refused": 0, "cut_idle": 0, "refused_per_peer": 0, "faults": 0,
            "client_resets": 0, "linger_timeouts": 0, "health_checks": 0,
        }  # fmt: skip
        event = {
            "log_namespace": WORKER_REPORT_NAMESPACE,
            "log_format": "",
            "counts": counts,
        }
        s.workers[1].outReceived(eventAsJSON(event).encode() + b"\n")
        s.workers[1].processEnded(ended(None, signal.SIGKILL))
        self.clock.advance(1)
        d = s.stopService()
        for number, proto in sorted(s.workers.items()):
            proto.outReceived(report_line(number, served=1))
            proto.processEnded(ended())
        self.successResultOf(d)
        self.assertEqual(self.logged[-1]["served"], 7)
        self.assertEqual(self.logged[-1]["gone"], 1)

    def test_killedAfterGraceAndMargin(self) -> None:
        """
        A worker still running grace + STOP_MARGIN seconds after the stop is
        killed (not before); the stop then completes when it is reaped.
        """
        s = self.supervisor
        s.startService()
        d = s.stopService()
        s.workers[2].processEnded(ended())
        stuck = s.workers[1]
        self.clock.advance(s.grace + s.STOP_MARGIN - 0.1)
        self.assertEqual(stuck.transport.signals, [])  # type: ignore[union-attr]
        self.clock.advance(0.1)
        self.assertEqual(stuck.transport.signals, ["KILL"])  # type: ignore[union-attr]
        self.assertNoResult(d)
        stuck.processEnded(ended(None, signal.SIGKILL))
        self.successResultOf(d)

    def test_stopCancelsPendingRestart(self) -> None:
        """A restart waiting on its backoff is cancelled by the stop."""
        s = self.supervisor
        s.startService()
        s.workers[1].processEnded(ended(1))
        d = s.stopService()
        s.workers[2].processEnded(ended())
        self.successResultOf(d)
        self.clock.advance(60)
        self.assertEqual(len(self.clock.spawned), 2)

    def test_reopenForwarded(self) -> None:
        """
        The parent's SIGUSR1 reopen reaches every worker (C{reopen}), and
        the log file's path is in each worker's spec when there is one.
        """
        s = self.supervisor
        s.log_path = lambda: "/var/log/poetry.log"
        s.startService()
        s.reopen_logs()
        for proto, args, _ in self.clock.spawned:
            self.assertEqual(proto.transport.written, [b"reopen\n"])  # type: ignore[union-attr]
            self.assertEqual(json.loads(args[3])["log_file"], "/var/log/poetry.log")

    def test_cutNow(self) -> None:
        """cut_now (a second signal) tells every worker C{cut}."""
        s = self.supervisor
        s.startService()
        s.stopService()
        s.cut_now()
        for proto in s.workers.values():
            self.assertEqual(proto.transport.written, [b"stop\n", b"cut\n"])  # type: ignore[union-attr]

    def test_eventsRepublished(self) -> None:
        """
        A worker's JSON lines, even split mid-line, are published as the
        events they were, formatted as logged (format specs kept); its
        stderr lines are logged as errors naming the worker.
        """
        s = self.supervisor
        s.startService()
        event = {
            "log_namespace": "poetry.access",
            "log_format": ACCESS_FORMAT,
            "log_level": LogLevel.info,
            "peer": "127.0.0.1:5000", "poem": "short", "bytes": 32,
            "seconds": 0.123456, "outcome": "complete", "worker": 1,
        }  # fmt: skip
        from twisted.logger._flatten import flattenEvent

        flattenEvent(event)
        line = eventAsJSON(event).encode() + b"\n"
        s.workers[1].outReceived(line[:10])
        self.assertEqual(self.published, [])
        s.workers[1].outReceived(line[10:] + b"not json\n")
        [got] = self.published
        self.assertEqual(got["worker"], 1)
        self.assertEqual(
            formatEvent(got), "127.0.0.1:5000 short 32 bytes 0.123 s complete"
        )
        s.workers[2].errReceived(b"Traceback (most recent call last):\n  boom")
        errors = [e for e in self.logged if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertEqual(
            formatEvent(errors[0]),
            "Worker 2 stderr: Traceback (most recent call last):",
        )

    def test_unflattenedKeepsObjects(self) -> None:
        """
        An event whose field JSON could not hold keeps its flattened text
        (so it still formats), one of plain fields loses it.
        """
        kept = {
            "log_format": "{thing}",
            "thing": {"unpersistable": True},
            "log_flattened": {"thing!s:": "<obj>"},
        }
        self.assertIn("log_flattened", unflattened(dict(kept)))
        plain = {
            "log_format": "{n:.1f}",
            "n": 1.25,
            "log_flattened": {"n!s:.1f": "1.25"},
        }
        self.assertEqual(formatEvent(unflattened(plain)), "1.2")

    def test_adoptablePortFamilies(self) -> None:
        """
        A listening port's address gives the family a worker adopts it as;
        an address of another kind is refused.
        """
        from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

        class Port:
            def __init__(self, host: Any) -> None:
                self.host = host

            def getHost(self) -> Any:
                return self.host

            def fileno(self) -> int:
                return 5

        for host, family in [
            (IPv4Address("TCP", "127.0.0.1", 1), "AF_INET"),
            (IPv6Address("TCP", "::1", 1), "AF_INET6"),
            (UNIXAddress(b"/tmp/poetry.sock"), "AF_UNIX"),
        ]:
            port = AdoptablePort.of(Port(host), True)  # type: ignore[arg-type]
            self.assertEqual(port, AdoptablePort(5, family, True))
        with self.assertRaises(ValueError):
            AdoptablePort.of(Port(object()), False)  # type: ignore[arg-type]

    def test_exitStatus(self) -> None:
        self.assertEqual(exit_status(ended()), "exit status 0")
        self.assertEqual(exit_status(ended(2)), "exit status 2")
        self.assertEqual(exit_status(ended(None, signal.SIGSEGV)), "killed by SIGSEGV")


class FakeOutput:
    def __init__(self) -> None:
        self.lost = False

    def loseConnection(self) -> None:
        self.lost = True


class FakeReactor(Clock):
    running = True
    stopped = 0

    def stop(self) -> None:
        self.stopped += 1


class WorkerSideTests(SynchronousTestCase):
    def test_logObserverNamesTheWorker(self) -> None:
        """
        Each event becomes one JSON line with C{worker} and a C{log_system}
        naming the worker and the event's namespace and level.
        """
        lines: list[bytes] = []
        observer = WorkerLogObserver(lines.append, 3)
        observer({"log_namespace": "poetry.access", "log_level": LogLevel.info,
                  "log_format": "{x}", "x": 1})  # fmt: skip
        observer({"log_system": "legacy", "log_format": "y"})
        self.assertEqual(len(lines), 2)
        self.assertTrue(
            all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
        )
        first = eventFromJSON(lines[0].decode())
        self.assertEqual(first["worker"], 3)
        self.assertEqual(first["log_system"], "worker 3 poetry.access#info")
        self.assertEqual(
            eventFromJSON(lines[1].decode())["log_system"], "worker 3 legacy"
        )

    def make_worker(self) -> tuple[Worker, FakeReactor, list[dict[str, Any]]]:
        reactor = FakeReactor()
        factory = PoetryServerFactory(PoemLibrary([POEM]), reactor=reactor)
        service = PoetryService(factory, [], grace=1.0)
        worker = Worker(2, service, reactor)
        events: list[dict[str, Any]] = []
        from twisted.logger import Logger

        worker.report_log = Logger(
            namespace=WORKER_REPORT_NAMESPACE, observer=events.append
        )
        return worker, reactor, events

    def test_directLogFile(self) -> None:
        """
        With a log file of its own, the worker hands every event to it,
        marked, except the report and counts, which still go to the parent.
        """
        lines: list[bytes] = []
        direct: list[dict[str, Any]] = []
        observer = WorkerLogObserver(lines.append, 2, direct.append)
        observer({"log_namespace": "poetry.access", "log_format": "x"})
        observer(
            {"log_namespace": WORKER_REPORT_NAMESPACE, "log_format": "r", "report": {}}
        )
        self.assertEqual(
            [e["log_system"] for e in direct], ["worker 2 poetry.access#-"]
        )
        self.assertEqual(len(lines), 1)
        self.assertIn(b"report", lines[0])

    def test_reopenCommand(self) -> None:
        """C{reopen} flushes the log observer and reopens the file."""
        worker, _, _ = self.make_worker()
        calls: list[str] = []

        class Recorder:
            def flush(self) -> None:
                calls.append("flush")

            def reopen(self) -> None:
                calls.append("reopen")

        worker.log_observer = Recorder()  # type: ignore[assignment]
        worker.service.log_file = Recorder()  # type: ignore[assignment]
        WorkerControl(worker).lineReceived(b"reopen")
        self.assertEqual(calls, ["flush", "reopen"])

    def test_stopReportsThenExits(self) -> None:
        """
        C{stop} stops the service, then reports its stop line's fields on
        the report namespace, closes the output, and stops the reactor
        once the output has closed, not before; a second stop does nothing.
        """
        worker, reactor, events = self.make_worker()
        output = FakeOutput()
        worker.output = output
        worker.start()
        control = WorkerControl(worker)
        control.lineReceived(b"stop")
        control.lineReceived(b"stop")
        [report] = [e for e in events if "report" in e]
        self.assertEqual(report["worker"], 2)
        self.assertEqual(set(report["report"]), set(STOP_FIELDS))
        self.assertTrue(output.lost)
        self.assertEqual(reactor.stopped, 0)
        control.connectionLost()
        self.assertEqual(reactor.stopped, 1)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_endOfInputStops(self) -> None:
        """The parent gone (stdin at its end) stops the worker gracefully."""
        worker, _reactor, events = self.make_worker()
        worker.output = FakeOutput()
        worker.start()
        WorkerControl(worker).readConnectionLost()
        self.assertFalse(worker.service.running)
        self.assertTrue(any("report" in e for e in events))

    def test_cutCommand(self) -> None:
        """C{cut} cuts the poems in flight and stops."""
        worker, _reactor, _ = self.make_worker()
        worker.output = FakeOutput()
        worker.start()
        cut = []
        worker.service.cut_now = lambda: cut.append(True)  # type: ignore[method-assign]
        WorkerControl(worker).lineReceived(b"cut")
        self.assertEqual(cut, [True])
        self.assertFalse(worker.service.running)

    def test_countsSnapshots(self) -> None:
        """
        Every COUNTS_INTERVAL the worker sends its counts, only when they
        changed.
        """
        worker, reactor, events = self.make_worker()
        worker.output = FakeOutput()
        worker.start()
        reactor.advance(Worker.COUNTS_INTERVAL)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["counts"]["served"], 0)
        reactor.advance(Worker.COUNTS_INTERVAL)
        self.assertEqual(len(events), 1)
        worker.service.factory.bytes_sent = 10
        reactor.advance(Worker.COUNTS_INTERVAL)
        self.assertEqual(events[-1]["counts"]["bytes_sent"], 10)
        worker.stop()

    def test_buildWorkerParsesTheCommandLine(self) -> None:
        """
        The worker parses the parent's words (here slow mode) and wraps a
        proxied socket's factory for the PROXY header.
        """
        from poetry.server.proxy import ProxyHeaderFactory

        spec = {"worker": 4, "argv": ["--delay", "0.5", "--workers", "2"],
                "ports": [[3, "AF_INET", False], [4, "AF_INET6", True]]}  # fmt: skip
        worker, ports = build_worker(spec, FakeReactor())
        self.assertEqual(worker.number, 4)
        self.assertEqual(worker.service.factory.delay, 0.5)
        self.assertIs(ports[0].factory, worker.service.factory)
        self.assertIsInstance(ports[1].factory, ProxyHeaderFactory)
        self.assertEqual([p.fd for p in ports], [3, 4])
        self.assertIsNone(worker.status)

    def test_buildWorkerWithAdmin(self) -> None:
        """
        With --admin on the command line, the worker (which does not
        listen on it: the parent does) sends its live status with its counts.
        """
        spec = {"worker": 1, "argv": ["--admin", "0", "--workers", "2"],
                "ports": [[3, "AF_INET", False]]}  # fmt: skip
        worker, _ = build_worker(spec, FakeReactor())
        self.assertIsNone(worker.service.admin_listener)
        assert worker.status is not None
        self.assertEqual(worker.status()["live_total"], 0)


class WorkersOptionTests(SynchronousTestCase):
    def test_workersOption(self) -> None:
        """--workers takes 1 to MAX_WORKERS (default 1), and keeps the words."""
        self.assertEqual(parse().config.workers, 1)
        options = parse("--workers", "3", "--delay", "1")
        self.assertEqual(options.config.workers, 3)
        self.assertEqual(options.argv, ["--workers", "3", "--delay", "1"])
        self.assertEqual(
            parse("--workers", str(MAX_WORKERS)).config.workers, MAX_WORKERS
        )
        for bad in ("0", "-1", "2.5", "x", "", str(MAX_WORKERS + 1)):
            with self.assertRaises(UsageError, msg=bad) as cm:
                parse("--workers", bad)
            self.assertIn(
                "--workers must be a whole number from 1 to", str(cm.exception)
            )
            self.assertNotIn("\n", str(cm.exception))


class RealWorkersTests(SynchronousTestCase):
    """One real C{twistd -n poetry --workers 2}: its processes, every one reaped."""

    #: A complete poem's access line, capturing the worker's number.
    SERVED = r"\[worker (\d) poetry\.access#info\] .* complete"

    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="poetry-workers-"))
        import shutil

        self.addCleanup(shutil.rmtree, self.dir, True)

    def log(self) -> str:
        return (self.dir / "server.log").read_text(errors="replace")

    def wait(self, condition: Any, what: str) -> None:
        try:
            wait_until(condition, what, tries=300)
        except AssertionError as e:
            self.fail(f"{e}:\n{self.log()}")

    def fetch(self, port: int, count: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "poetry", "--timeout", "10"] + [str(port)] * count,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def start(self, poem_lines: int, *options: str) -> subprocess.Popen[bytes]:
        """
        C{twistd -n poetry --workers 2 --port tcp:0 OPTIONS --poem long.txt}
        (a poem of C{poem_lines} lines), logging to C{server.log}, killed
        and reaped at cleanup; returned once both workers serve.
        """
        log = open(self.dir / "server.log", "wb")
        self.addCleanup(log.close)
        (self.dir / "long.txt").write_bytes(b"a worker's line of verse\n" * poem_lines)
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "twistd"), "-n", "--pidfile=",
             "poetry", "--workers", "2", "--port", "tcp:0", *options,
             "--poem", "long.txt"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
        )  # fmt: skip

        def reap() -> None:
            if server.poll() is None:
                server.kill()
            server.wait(10)

        self.addCleanup(reap)
        self.wait(lambda: self.log().count("serving ") == 2, "two workers serving")
        return server

    def test_twoWorkers(self) -> None:
        """
        The parent listens and starts two workers, each running the slow
        mode the command line asked for; both serve; a worker killed is
        restarted (the exit status logged); at SIGTERM the poem in flight
        finishes within the grace, the workers exit and the summary counts
        every poem, the killed worker's too.
        """
        # 3000 bytes at 100 every 0.02 s: 0.6 s in flight, long enough to
        # be caught by the stop.
        server = self.start(120, "--delay", "0.02", "--chunk-size", "100")
        self.assertEqual(self.log().count("(slow: 100 bytes every 0.02 s"), 2)
        port = int(re.findall(r"listening on 127\.0\.0\.1:(\d+)", self.log())[0])
        fetch = self.fetch(port, 6)
        self.assertEqual(fetch.wait(30), 0, fetch.stderr.read())  # type: ignore[union-attr]
        served = re.findall(
            r"\[worker (\d) poetry\.access#info\] .* complete", self.log()
        )
        self.assertEqual(len(served), 6)
        pid = int(re.findall(r"Worker 1 started \(pid (\d+)\)", self.log())[0])
        time.sleep(2.5)  # a counts snapshot (every 1 s) after the last poem
        import os

        os.kill(pid, signal.SIGKILL)
        self.wait(
            lambda: self.log().count("Worker 1 started") == 2, "worker 1 restarted"
        )
        self.assertIn(
            f"Worker 1 (pid {pid}) exited (killed by SIGKILL); restarting", self.log()
        )
        self.wait(lambda: self.log().count("serving ") == 3, "the new worker serving")
        made = self.log().count("connectionMade")
        fetch = self.fetch(port, 1)
        self.wait(
            lambda: self.log().count("connectionMade") == made + 1, "a poem in flight"
        )
        server.send_signal(signal.SIGTERM)
        self.assertEqual(fetch.wait(30), 0, fetch.stderr.read())  # type: ignore[union-attr]
        self.assertIn(server.wait(30), (0, -signal.SIGTERM))
        text = self.log()
        self.assertRegex(
            text,
            r"Poetry server stopped \(2 workers\): 7 poems served, "
            r"1 finished during shutdown, 0 cut",
        )
        self.assertEqual(
            len(re.findall(r"Worker \d \(pid \d+\) exited \(exit status 0\)", text)), 2
        )

    def admin(self, port: int, path: str, data: bytes | None = None) -> Any:
        """The admin endpoint's JSON answer to C{path} (a PUT with C{data})."""
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=data,
            method="GET" if data is None else "PUT",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def test_adminOverWorkers(self) -> None:
        """
        With --workers 2 --admin, the parent serves the admin endpoint:
        /api/status counts every poem both workers served, and a behaviour
        PUT reaches both workers (every later connection plays the fault).
        """
        server = self.start(
            40, "--admin", "tcp:0", "--delay", "0.02", "--chunk-size", "200"
        )
        text = self.log()
        port = int(
            re.findall(r"Poetry server listening on 127\.0\.0\.1:(\d+)", text)[0]
        )
        admin = int(
            re.findall(r"Admin endpoint listening on 127\.0\.0\.1:(\d+)", text)[0]
        )
        # Which worker accepts a connection is the kernel's choice (one may
        # take a whole burst): fetch rounds of 4 until both have served.
        fetched, served = 0, []
        for _ in range(10):
            fetch = self.fetch(port, 4)
            self.assertEqual(fetch.wait(30), 0, fetch.stderr.read())  # type: ignore[union-attr]
            fetched += 4
            self.wait(
                lambda n=fetched: len(re.findall(self.SERVED, self.log())) == n,
                "an access line for every poem",
            )
            served = re.findall(self.SERVED, self.log())
            if set(served) == {"1", "2"}:
                break
        self.assertEqual(set(served), {"1", "2"}, "both workers should have served")
        self.wait(
            lambda: self.admin(admin, "/api/status")["counters"]["served"] == fetched,
            "the status to count every poem",
        )
        status = self.admin(admin, "/api/status")
        self.assertEqual(status["mode"], "slow")
        self.assertEqual(status["live"]["total"], 0)
        self.assertEqual(status["counters"]["bytes_sent"], fetched * 1000)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics") as answer:
            metrics = answer.read().decode()
        self.assertIn(
            f'poetry_connections_ended_total{{outcome="complete"}} {fetched}.0', metrics
        )
        self.assertIn(f"poetry_connection_duration_seconds_count {fetched}.0", metrics)
        changed = self.admin(admin, "/api/behaviour", b'{"faults": ["reset:100"]}')
        self.assertEqual(changed["faults"], ["reset:100"])
        status = self.admin(admin, "/api/status")
        self.assertEqual(status["mode"], "fault")
        fetch = self.fetch(port, 6)
        self.assertNotEqual(fetch.wait(30), 0)
        # Every connection, whichever worker took it, played the fault.
        self.wait(
            lambda: self.admin(admin, "/api/status")["counters"]["faults"] == 6,
            "the status to count the six faults",
        )
        self.assertEqual(
            self.admin(admin, "/api/status")["counters"]["served"], fetched
        )
        server.send_signal(signal.SIGTERM)
        self.assertIn(server.wait(30), (0, -signal.SIGTERM))
        text = self.log()
        self.assertNotIn("behaviour not changed", text)
        self.assertRegex(
            text, rf"Poetry server stopped \(2 workers\): {fetched} poems served"
        )
