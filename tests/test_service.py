"""
Tests for L{poetry.service} and the twistd plugin: option validation,
endpoint descriptions, the service's start-up, graceful stop, and plugin
discovery.
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from twisted import __version__ as twisted_version
from twisted.application.service import Application, IServiceMaker
from twisted.internet import reactor
from twisted.internet.address import UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone
from twisted.logger import ILogObserver, capturedLogs, formatEvent
from twisted.plugin import getPlugins
from twisted.python import logfile
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from poetry.addresses import format_address
from poetry.library import PoemFile, PoemLibrary
from poetry.logfile import ReopeningLogFile
from poetry.server import PoetryServerFactory
from poetry.service import (
    DEFAULT_BACKLOG,
    BadOptions,
    CannotListen,
    Options,
    PoetryService,
    ProcessSignals,
    _twistd_log_file,
    makeService,
    normalize_endpoint,
    project_version,
)
from tests.helpers import CollectFactory, fetch, parse, waitFor


class OptionsTests(SynchronousTestCase):
    """C{twistd poetry} options: defaults and every kind of bad input."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(_rmtree, self.tmp)

    def test_defaults(self) -> None:
        """
        With no options the server is fast, listens on 127.0.0.1:10000 with a
        large backlog, and serves the bundled poems round-robin.
        """
        options = parse()
        self.assertIsNone(options["delay"])
        self.assertEqual(
            options["ports"],
            [f"tcp:10000:interface=127.0.0.1:backlog={DEFAULT_BACKLOG}"],
        )
        self.assertGreaterEqual(len(options["library"]), 6)
        self.assertFalse(options["library"].random)
        self.assertEqual(options["grace"], 5.0)

    def test_slowAndFiles(self) -> None:
        """
        --delay, --chunk-size, --poem, --poems, --random, --grace and
        --max-connections are parsed into typed values.
        """
        (self.tmp / "a.txt").write_bytes(b"alpha\n")
        d = self.tmp / "dir"
        d.mkdir()
        (d / "b.txt").write_bytes(b"beta\n")
        (d / "ignored.md").write_bytes(b"not a poem\n")
        options = parse(
            "--delay", "0.5", "--chunk-size", "16", "--poem", str(self.tmp / "a.txt"),
            "--poems", str(d), "--random", "--grace", "2", "--max-connections", "7",
        )  # fmt: skip
        self.assertEqual(options["delay"], 0.5)
        self.assertEqual(options["chunk-size"], 16)
        self.assertEqual(options["grace"], 2.0)
        self.assertEqual(options["max-connections"], 7)
        library = options["library"]
        self.assertTrue(library.random)
        self.assertEqual([p.data for p in library.poems], [b"alpha\n", b"beta\n"])

    def test_repeatableOptions(self) -> None:
        """
        Every repeatable option (--port and -p, --poem, --poems, --fault,
        --fault-peer) keeps each value given, in order; a new L{Options}
        starts each list empty (no list shared between parsers).
        """
        first, second = self.tmp / "a.txt", self.tmp / "b.txt"
        first.write_bytes(b"alpha\n")
        second.write_bytes(b"beta\n")
        one, two = self.tmp / "one", self.tmp / "two"
        for d, name in [(one, "c.txt"), (two, "d.txt")]:
            d.mkdir()
            (d / name).write_bytes(b"gamma\n")
        options = parse(
            "--poem", str(first), "--poem", str(second),
            "--poems", str(one), "--poems", str(two),
            "-p", "tcp:0", "--port", "unix:/tmp/poetry-test.sock",
            "--fault", "stall@0.25", "--fault", "silent@0.5",
            "--fault-peer", "10.0.0.0/8", "--fault-peer", "127.0.0.1",
        )  # fmt: skip
        self.assertEqual(options["poem_files"], [str(first), str(second)])
        self.assertEqual(options["poem_dirs"], [str(one), str(two)])
        self.assertEqual(options["fault_specs"], ["stall@0.25", "silent@0.5"])
        self.assertEqual(options["fault_peers"], ["10.0.0.0/8", "127.0.0.1"])
        self.assertEqual(len(options["ports"]), 2)
        self.assertTrue(options["ports"][0].startswith("tcp:0"))
        self.assertTrue(options["ports"][1].startswith("unix:/tmp/poetry-test"))
        self.assertEqual(len(options["library"]), 4)
        fresh = Options()
        for key in ["ports", "poem_files", "poem_dirs", "fault_specs", "fault_peers"]:
            self.assertEqual(fresh[key], [], key)

    def test_badOptions(self) -> None:
        """
        Every bad option is a usage error (twistd prints it and exits
        non-zero before anything listens) whose message names the problem.
        """
        empty = self.tmp / "empty.txt"
        empty.write_bytes(b"")
        emptyDir = self.tmp / "nothing"
        emptyDir.mkdir()
        unreadable = self.tmp / "secret.txt"
        unreadable.write_bytes(b"x")
        cases: list[tuple[list[str], str]] = [
            (["--poem", str(self.tmp / "missing.txt")], "does not exist"),
            (["--poem", str(empty)], "is empty"),
            (["--poem", str(self.tmp)], "is a directory"),
            (["--poems", str(emptyDir)], "holds no"),
            (["--poems", str(self.tmp / "nodir")], "does not exist"),
            (["--delay", "abc"], "--delay"),
            (["--delay", "0"], "--delay"),
            (["--delay", "-2"], "--delay"),
            (["--delay", "nan"], "--delay"),
            (["--delay", "1", "--chunk-size", "0"], "--chunk-size"),
            (["--delay", "1", "--chunk-size", "1.5"], "--chunk-size"),
            (["--chunk-size", "4"], "needs --delay"),
            (["--grace", "x"], "--grace"),
            (["--grace", "-1"], "--grace"),
            (["--max-connections", "0"], "--max-connections"),
            (["--poems", str(empty)], "is not a directory"),
            (["--poem", "/dev/zero"], "is not a regular file"),
            (["--idle-timeout", "1e-9"], "--idle-timeout must be a finite number >="),
            (["--delay", "1e-300"], "--delay must be a finite number >= 0.001"),
            (["--delay", "inf"], "--delay"),
            (["--grace", "inf"], "--grace must be a finite number > 0"),
            (["--grace", "0"], "--grace must be a finite number > 0"),
            (["--port", "tcp:notanumber"], "invalid endpoint"),
            (["--port", "bogus:1"], "invalid endpoint"),
        ]
        if os.geteuid() != 0:  # root reads anything
            unreadable.chmod(0)
            cases.append((["--poem", str(unreadable)], "cannot read"))
        for argv, expected in cases:
            with self.assertRaises(UsageError, msg=argv) as cm:
                parse(*argv)
            self.assertIn(expected, str(cm.exception), argv)
            self.assertNotIn("\n", str(cm.exception))

    def test_normalizeEndpoint(self) -> None:
        """
        A bare number listens on loopback; a backlog is added to stream
        endpoints that name none, and kept where one is named.
        """
        b = DEFAULT_BACKLOG
        self.assertEqual(
            normalize_endpoint("10001"), f"tcp:10001:interface=127.0.0.1:backlog={b}"
        )
        self.assertEqual(
            normalize_endpoint("tcp:0"), f"tcp:0:interface=127.0.0.1:backlog={b}"
        )
        self.assertEqual(
            normalize_endpoint("tcp6:0"), f"tcp6:0:interface=\\:\\:1:backlog={b}"
        )
        self.assertEqual(
            normalize_endpoint("tcp:0:interface=0.0.0.0"),
            f"tcp:0:interface=0.0.0.0:backlog={b}",
        )
        self.assertEqual(
            normalize_endpoint("tcp:1:backlog=5"), "tcp:1:backlog=5:interface=127.0.0.1"
        )
        self.assertEqual(normalize_endpoint("unix:/tmp/s"), f"unix:/tmp/s:backlog={b}")
        self.assertEqual(
            normalize_endpoint("ssl:0:privateKey=k.pem"),
            f"ssl:0:privateKey=k.pem:interface=127.0.0.1:backlog={b}",
        )
        self.assertEqual(
            normalize_endpoint("ssl:0:interface=0.0.0.0:privateKey=k.pem"),
            f"ssl:0:interface=0.0.0.0:privateKey=k.pem:backlog={b}",
        )


class CommandLineTests(SynchronousTestCase):
    """What the runners print for a bad command line and for --version."""

    def test_badOptionsAreOneLineSystemExit(self) -> None:
        """
        A bad value or an unknown option leaves L{Options.parseOptions} as
        L{BadOptions}: a L{SystemExit} (not a L{UsageError}, which makes
        twistd print the whole option list and twist exit 64) whose code is
        one line naming the problem, so Python prints it and exits 1.
        """
        for argv, expected in [
            (["--delay", "abc"], "--delay must be"),
            (["--bogus"], "--bogus"),
        ]:
            with self.assertRaises(BadOptions, msg=argv) as cm:
                Options().parseOptions(argv)
            error = cm.exception
            self.assertIsInstance(error, SystemExit)
            self.assertNotIsInstance(error, UsageError)
            self.assertIsInstance(error.code, str)
            self.assertTrue(str(error.code).startswith("poetry: "), error.code)
            self.assertIn(expected, str(error.code))
            self.assertNotIn("\n", str(error.code))

    def test_maxConnectionsMessages(self) -> None:
        """--max-connections 0 and 1.5 are refused with the same rule."""
        messages = []
        for value in ["0", "1.5", "x"]:
            with self.assertRaises(UsageError) as cm:
                parse("--max-connections", value)
            messages.append(str(cm.exception).replace(repr(value), "VALUE"))
        self.assertEqual(len(set(messages)), 1, messages)
        self.assertIn("a whole number >= 1", messages[0])

    def test_version(self) -> None:
        """
        --version shows the project's version and Twisted's, then exits 0.
        """
        out = io.StringIO()
        with redirect_stdout(out), self.assertRaises(SystemExit) as cm:
            Options().parseOptions(["--version"])
        self.assertEqual(cm.exception.code, 0)
        self.assertEqual(
            out.getvalue(),
            f"twisted-poetry {project_version()} (Twisted {twisted_version})\n",
        )
        self.assertTrue(project_version()[0].isdigit())


class ServiceTests(TestCase):
    """L{PoetryService} on real loopback ports."""

    def makeService(self, **kw: Any) -> PoetryService:
        factory = PoetryServerFactory(
            PoemLibrary([PoemFile("p", b"a poem in four chunks\n")]),
            reactor=reactor,
            **kw,
        )
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        return PoetryService(factory, [endpoint], grace=0.3)

    async def test_makeServiceServes(self) -> None:
        """
        makeService builds a service from parsed options that, once started,
        serves a bundled poem on the port it was given (tcp:0 picks one) and
        stops cleanly.
        """
        service = makeService(parse("--port", "tcp:0:interface=127.0.0.1"))
        service.startService()
        self.addCleanup(stop_if_running, service)
        self.assertEqual(len(service.ports), 1)
        port = service.ports[0].getHost().port
        data, reason = await fetch(port)
        self.assertIn(data, [p.data for p in service.factory.library.poems])
        self.assertTrue(reason.check(ConnectionDone))
        await service.stopService()
        self.assertEqual(service.ports, [])

    def test_portInUse(self) -> None:
        """
        Starting on a port that is taken raises CannotListen (a SystemExit:
        twistd prints it and exits 1) with one line naming the endpoint, and
        leaves nothing listening.
        """
        taken = reactor.listenTCP(0, PoetryServerFactory(PoemLibrary.bundled()),
                                  interface="127.0.0.1")  # fmt: skip
        self.addCleanup(taken.stopListening)
        number = taken.getHost().port
        free = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        busy = TCP4ServerEndpoint(reactor, number, interface="127.0.0.1")
        service = PoetryService(
            PoetryServerFactory(PoemLibrary.bundled(), reactor=reactor),
            [free, busy],
            descriptions=["tcp:0", f"tcp:{number}"],
        )
        with self.assertRaises(CannotListen) as cm:
            service.privilegedStartService()
        self.assertIsInstance(cm.exception, SystemExit)
        message = str(cm.exception.code)
        self.assertIn(f"cannot listen on tcp:{number}", message)
        self.assertIn("in use", message)
        self.assertNotIn("\n", message)
        self.assertEqual(service.ports, [])

    async def test_gracefulStopFinishesInFlight(self) -> None:
        """
        Stopping stops listening at once but lets an in-flight slow transfer
        that ends within the grace period finish; the stop Deferred fires
        after it, with nothing cut.
        """
        service = self.makeService(delay=0.02, chunk_size=6)
        result = await poem_in_flight(self, service)
        stopped = service.stopService()
        self.assertFalse(stopped.called)
        data, reason = await result
        await stopped
        self.assertEqual(data, b"a poem in four chunks\n")
        self.assertTrue(reason.check(ConnectionDone))
        self.assertEqual(service.factory.counts()["cut_at_shutdown"], 0)
        self.assertEqual(service.factory.served, 1)

    async def test_gracefulStopCutsAfterGrace(self) -> None:
        """
        A transfer that would outlast the grace period is aborted when it
        ends: the client sees an unclean close with a partial poem, and the
        server counts it as cut at shutdown.
        """
        service = self.makeService(delay=10.0, chunk_size=2)
        result = await poem_in_flight(self, service)
        await service.stopService()
        data, reason = await result
        self.assertEqual(data, b"a ")
        self.assertFalse(reason.check(ConnectionDone))
        self.assertEqual(service.factory.cut_at_shutdown, 1)
        self.assertEqual(service.factory.live, set())


class ServiceMessageTests(TestCase):
    """The service's log lines: counts, versions, addresses."""

    async def test_countsPluralised(self) -> None:
        """
        A one-poem server says "1 poem" when it starts and when it stops
        (and "2 poems" with two); the start-up line shows both versions.
        """
        for poems, word in [(1, "poem"), (2, "poems")]:
            library = PoemLibrary([PoemFile(f"p{i}", b"x\n") for i in range(poems)])
            factory = PoetryServerFactory(library, reactor=reactor)
            endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
            service = PoetryService(factory, [endpoint], grace=0.3)
            with capturedLogs() as events:
                service.startService()
                self.addCleanup(stop_if_running, service)
                await fetch(service.ports[0].getHost().port)
                await service.stopService()
            text = "\n".join(formatEvent(e) for e in events)
            self.assertIn(f"serving {poems} {word} (fast)", text)
            self.assertIn(f"twisted-poetry {project_version()}", text)
            self.assertIn(f"Twisted {twisted_version}", text)
            self.assertIn("stopped: 1 poem served", text)
            self.assertIn("0 clients gone", text)
            self.assertNotIn(" 1 poems", text)

    def test_unixAddressShownAsPath(self) -> None:
        """
        A UNIX socket's address (bytes, as Twisted reports it) is shown as
        its path, not as a bytes literal.
        """
        self.assertEqual(format_address(UNIXAddress(b"/run/poetry/p.sock")),
                         "/run/poetry/p.sock")  # fmt: skip
        self.assertEqual(format_address(UNIXAddress("/tmp/s")), "/tmp/s")

    async def test_cutNowEndsTheGrace(self) -> None:
        """
        L{PoetryService.cut_now} during a stop with a long grace cuts the
        in-flight poem at once: the stop Deferred fires (without it the test
        would hit its timeout), the client sees an unclean end, and the grace
        timer is gone (trial fails a test that leaves it pending).
        """
        factory = PoetryServerFactory(
            PoemLibrary([PoemFile("p", b"a poem in many chunks\n")]),
            reactor=reactor, delay=10.0, chunk_size=2,
        )  # fmt: skip
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        service = PoetryService(factory, [endpoint], grace=1000.0)
        result = await poem_in_flight(self, service)
        stopped = service.stopService()
        self.assertFalse(stopped.called)
        service.cut_now()
        await stopped
        data, reason = await result
        self.assertEqual(data, b"a ")
        self.assertFalse(reason.check(ConnectionDone))
        self.assertEqual(factory.cut_at_shutdown, 1)

    def test_cutNowBeforeStop(self) -> None:
        """Before a stop, cut_now only makes the grace zero."""
        service = PoetryService(
            PoetryServerFactory(PoemLibrary.bundled(), reactor=reactor), []
        )
        service.cut_now()
        self.assertEqual(service.grace, 0.0)


class MakeServiceWiringTests(TestCase):
    """What makeService does when a runner's command line made the options."""

    def runner_options(self, *argv: str, runner: Any = None) -> Options:
        options = parse(*argv)
        options.parent = runner if runner is not None else {}  # type: ignore[attr-defined]
        return options

    def wired(self, options: Options) -> PoetryService:
        """makeService, undoing its process wiring when the test ends."""
        service = makeService(options)
        trigger = service.signals_trigger
        if trigger is not None:
            # It never fires on the running test reactor; leave nothing behind.
            self.addCleanup(reactor.removeSystemEventTrigger, trigger)
        self.addCleanup(lambda: [p.stopListening() for p in service.ports])
        return service

    def test_listensBeforeRunnerForks(self) -> None:
        """
        Under a runner makeService listens at once (before twistd logs,
        forks or writes its pidfile), and a port in use is L{CannotListen}
        raised by makeService itself; without a runner it does not listen.
        """
        service = self.wired(self.runner_options("--port", "tcp:0"))
        self.assertIsNotNone(service.signals_trigger)
        self.assertEqual(len(service.ports), 1)
        self.assertEqual(service.ports[0].getHost().host, "127.0.0.1")
        number = service.ports[0].getHost().port
        with self.assertRaises(CannotListen) as cm:
            makeService(self.runner_options("--port", str(number)))
        self.assertIn(f"cannot listen on {number}: Address already in use",
                      str(cm.exception.code))  # fmt: skip
        plain = self.wired(parse("--port", "tcp:0"))
        self.assertEqual(plain.ports, [])
        self.assertIsNone(plain.signals_trigger)

    def test_twistdLogFile(self) -> None:
        """
        Under twistd with a log file (named, or the daemon's default), the
        service opens a L{ReopeningLogFile} and hands its observer to the
        application; where twistd logs elsewhere it opens nothing.
        """
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(_rmtree, tmp)
        path = str(tmp / "server.log")
        base = {"nodaemon": True, "syslog": False, "logger": None, "logfile": ""}
        lf = _twistd_log_file(dict(base, logfile=path))
        assert lf is not None
        self.addCleanup(lf.close)
        self.assertIsInstance(lf, ReopeningLogFile)
        self.assertEqual(lf.path, path)
        self.assertIsNone(_twistd_log_file(base))  # -n: stdout
        self.assertIsNone(_twistd_log_file(dict(base, logfile="-")))
        self.assertIsNone(_twistd_log_file(dict(base, nodaemon=False, syslog=True)))
        self.assertIsNone(_twistd_log_file({"logFile": None}))  # twist
        self.assertIsNone(_twistd_log_file(None))
        application = Application("poetry")
        service = PoetryService(
            PoetryServerFactory(PoemLibrary.bundled(), reactor=reactor), []
        )
        service.log_file = lf
        service.setServiceParent(application)
        self.assertIsNotNone(application.getComponent(ILogObserver, None))


class _FakeReactor:
    """Records what L{ProcessSignals} asks of the reactor."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)

    def sigInt(self, number: int) -> None:
        self.calls.append(("sigInt", number))

    def sigTerm(self, number: int) -> None:
        self.calls.append(("sigTerm", number))

    def stop(self) -> None:
        self.calls.append(("stop", None))


class _FakeService:
    def __init__(self, log_file: Any = None) -> None:
        self.log_file = log_file
        self.log_observer: Any = None
        self.cuts = 0

    def cut_now(self) -> None:
        self.cuts += 1

    def log_reopened(self) -> None:
        """What a L{PoetryService} does once its log file was reopened."""


class _FakeLogFile:
    path = "/var/log/poetry.log"

    def __init__(self) -> None:
        self.reopened = 0

    def reopen(self) -> None:
        self.reopened += 1


class ProcessSignalsTests(SynchronousTestCase):
    """L{ProcessSignals}: what each signal does."""

    def make(
        self, log_file: Any = None
    ) -> tuple[ProcessSignals, _FakeReactor, _FakeService]:
        fakeReactor = _FakeReactor()
        service = _FakeService(log_file)
        installed: dict[int, Any] = {}
        signals = ProcessSignals(
            service, fakeReactor,  # type: ignore[arg-type]
            install=lambda n, h: installed.__setitem__(n, h),
        )  # fmt: skip
        signals.install()
        self.installed = installed
        return signals, fakeReactor, service

    def test_installsEveryDaemonSignal(self) -> None:
        """Handlers go on TERM, INT, HUP, QUIT, USR1, USR2 and ALRM."""
        self.make()
        names = {signal.Signals(n).name for n in self.installed}
        self.assertEqual(
            names,
            {"SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM"},
        )

    def test_gracefulThenCut(self) -> None:
        """
        The first graceful signal stops the reactor (SIGTERM and SIGINT via
        the reactor's own handlers, SIGHUP and SIGQUIT via stop); any later
        one cuts at once instead of stopping again (ReactorNotRunning).
        """
        for first, expected in [
            (signal.SIGTERM, ("sigTerm", signal.SIGTERM)),
            (signal.SIGINT, ("sigInt", signal.SIGINT)),
            (signal.SIGHUP, ("stop", None)),
            (signal.SIGQUIT, ("stop", None)),
        ]:
            _, fakeReactor, service = self.make()
            self.installed[first](first, None)
            self.assertEqual(fakeReactor.calls, [expected])
            self.assertEqual(service.cuts, 0)
            self.installed[signal.SIGTERM](signal.SIGTERM, None)
            self.installed[first](first, None)
            self.assertEqual(fakeReactor.calls, [expected])
            self.assertEqual(service.cuts, 2)

    def test_usr1ReopensIgnoredOnesDoNothing(self) -> None:
        """
        SIGUSR1 reopens the service's log file; SIGUSR2 and SIGALRM neither
        stop nor cut; SIGUSR1 without a log file is harmless too.
        """
        lf = _FakeLogFile()
        _, fakeReactor, service = self.make(lf)
        for number in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
            self.installed[number](number, None)
        self.assertEqual(lf.reopened, 1)
        self.assertEqual((fakeReactor.calls, service.cuts), ([], 0))
        _, fakeReactor, service = self.make(None)
        self.installed[signal.SIGUSR1](signal.SIGUSR1, None)
        self.assertEqual((fakeReactor.calls, service.cuts), ([], 0))


class ReopeningLogFileTests(SynchronousTestCase):
    """L{ReopeningLogFile}: the log file as logrotate needs it."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(_rmtree, self.tmp)
        self.path = self.tmp / "poetry.log"

    def open(self) -> ReopeningLogFile:
        lf = ReopeningLogFile.fromFullPath(str(self.path))
        self.addCleanup(lambda: lf.closed or lf.close())
        return lf

    def test_appendsAfterTruncate(self) -> None:
        """
        After another process truncates the file (logrotate's
        copytruncate), the next line is written at the new end: no hole of
        NUL bytes before it.  Also for a file that existed before.
        """
        self.path.write_bytes(b"old line\n")
        lf = self.open()
        lf.write("first line\n")
        os.truncate(self.path, 0)
        lf.write("after truncate\n")
        lf.flush()
        self.assertEqual(self.path.read_bytes(), b"after truncate\n")

    def test_reopenAfterMove(self) -> None:
        """
        After the file is moved away (logrotate's create), reopen writes to
        a new file under the old name; the moved file keeps what it had.
        """
        lf = self.open()
        lf.write("before\n")
        moved = self.tmp / "poetry.log.1"
        self.path.rename(moved)
        lf.reopen()
        lf.write("after\n")
        lf.flush()
        self.assertEqual(moved.read_bytes(), b"before\n")
        self.assertEqual(self.path.read_bytes(), b"after\n")

    def test_neverScansTheDirectory(self) -> None:
        """
        Writing far past twistd's 1 MB rotation length never rotates, and a
        rotate request only reopens: no listing of old logs (twistd's
        LogFile globs and renames every one of them, in the reactor thread).
        """

        def scan(*a: object, **k: object) -> None:
            raise AssertionError("the log directory was scanned")

        self.patch(logfile.LogFile, "listLogs", scan)
        self.patch(logfile.glob, "glob", scan)
        (self.tmp / "poetry.log.1").write_bytes(b"an old log\n")
        lf = self.open()
        line = "x" * 1023 + "\n"
        for _ in range(1200):
            lf.write(line)
        lf.rotate()
        lf.write("after rotate\n")
        lf.flush()
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()),
                         ["poetry.log", "poetry.log.1"])  # fmt: skip
        self.assertEqual(self.path.stat().st_size, 1200 * 1024 + 13)
        # The same writes make twistd's own LogFile scan: the test's guard.
        twistds = logfile.LogFile.fromFullPath(str(self.tmp / "twistd.log"))
        self.addCleanup(twistds.close)
        with self.assertRaises(AssertionError):
            for _ in range(1200):
                twistds.write(line)


class PluginTests(SynchronousTestCase):
    """The twistd plugin."""

    def test_discoverable(self) -> None:
        """
        Twisted's plugin system finds a service maker named C{poetry} whose
        options and makeService are this package's.
        """
        makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
        self.assertIn("poetry", makers)
        maker = makers["poetry"]
        self.assertIsInstance(maker.options(), Options)
        self.assertIs(maker.makeService, makeService)


def stop_if_running(service: PoetryService) -> Deferred[None] | None:
    """Stop C{service} unless the test did: no port outlives a failed test."""
    if service.running:
        return service.stopService()
    return None


async def poem_in_flight(
    case: TestCase, service: PoetryService
) -> Deferred[tuple[bytes, Failure]]:
    """
    Start C{service} (stopped at the end of C{case} unless it already is)
    and a client of its first port; return the client's result once the
    client has received the first bytes of its poem, the rest in flight.
    (Waiting only until the server holds the connection live is a race: a
    cut at that moment can abort the connection while its first chunk is
    still in the transport's buffer, and the client then gets nothing.)
    """
    service.startService()
    case.addCleanup(stop_if_running, service)
    factory = CollectFactory()
    port = service.ports[0].getHost().port
    reactor.connectTCP("127.0.0.1", port, factory, timeout=5)
    await waitFor(lambda: factory.built and factory.built.chunks, tries=1000)
    return factory.result


def _rmtree(path: Path) -> None:
    import shutil

    for p in path.rglob("*"):
        p.chmod(0o700)
    shutil.rmtree(path)
