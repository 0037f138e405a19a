"""
Process-level tests: real C{twistd} and C{twist} processes from this
interpreter's environment, on 127.0.0.1, checked the way a user meets them:
what the terminal shows, the exit status, the log, the pidfile, and what a
client gets when a signal arrives mid-poem.

Each test starts few, short processes; every wait is bounded (a failure
guard, never a measured threshold) and every process is killed at cleanup.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ProcessDone
from twisted.internet.protocol import ClientFactory, Factory, ProcessProtocol, Protocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

import poetry
from tests.helpers import fetch, waitFor

#: Seconds any one wait may take before the test gives up: a safety net far
#: above what a run needs, not a measurement.
LIMIT = 20.0

#: A poem long enough to be in flight when a signal arrives: 20 slow chunks.
POEM = b"a line that takes its time to arrive\n" * 6


def _runner(name: str) -> list[str]:
    """C{twistd} or C{twist} from the venv holding this interpreter."""
    script = Path(sys.executable).with_name(name)
    if not script.exists():
        raise SkipTest(f"no {name} next to {sys.executable}")
    return [sys.executable, str(script)]


def _env() -> dict[str, str]:
    root = str(Path(poetry.__file__).resolve().parent.parent)
    return dict(os.environ, PYTHONPATH=root, PYTHONUNBUFFERED="1")


class _Server(ProcessProtocol):
    """A server process: its output, and when it has ended."""

    def __init__(self) -> None:
        self.output = b""
        self.ended: Deferred[None] = Deferred()
        self.reason: Failure | None = None

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        self.reason = reason
        self.ended.callback(None)

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


class _Reader(Protocol):
    """A client that counts what it has read so far."""

    def __init__(self) -> None:
        self.received = b""
        self.done: Deferred[tuple[bytes, Failure]] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = ConnectionDone) -> None:  # type: ignore[assignment]
        self.done.callback((self.received, reason))


class ProcessTestCase(TestCase):
    timeout = 120

    def setUp(self) -> None:
        # Not self.mktemp(): under pytest that would write into the checkout.
        self.tmp = Path(tempfile.mkdtemp(prefix="poetry-process-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.poem = self.tmp / "slow.txt"
        self.poem.write_bytes(POEM)

    async def runCommand(self, runner: str, *args: str) -> tuple[str, str, int]:
        """Run a command that ends by itself: its stdout, stderr, status."""
        command = _runner(runner)
        d = getProcessOutputAndValue(
            command[0], [*command[1:], *args], env=_env(), path=str(self.tmp)
        )
        out, err, code = await d.addTimeout(LIMIT, reactor)
        return out.decode(), err.decode(), code

    async def start(
        self, runner: str, *args: str, log_file: Path | None = None
    ) -> tuple[_Server, Any, int]:
        """
        Start a server that runs until signalled; wait until it has
        installed its signal handlers; return it, its transport and port.
        """
        command = [*_runner(runner), *args]
        server = _Server()
        transport = reactor.spawnProcess(  # type: ignore[call-arg]
            server, command[0], command, env=_env(), path=str(self.tmp)
        )

        async def reap() -> None:
            if server.reason is None:
                transport.signalProcess("KILL")
                await server.ended

        self.addCleanup(reap)

        def log() -> str:
            if log_file is not None:
                return log_file.read_text("utf-8") if log_file.exists() else ""
            return server.text()

        try:
            await waitFor(lambda: "Signals: " in log() or server.reason, tries=4000)
        except AssertionError:
            raise AssertionError(f"the server never got ready:\n{log()}") from None
        self.assertIsNone(server.reason, log())
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log())
        assert match is not None, log()
        return server, transport, int(match.group(1))

    def connect(self, port: int) -> _Reader:
        reader = _Reader()
        factory = ClientFactory.forProtocol(lambda: reader)
        reactor.connectTCP("127.0.0.1", port, factory, timeout=5)  # type: ignore[arg-type]
        return reader

    def assertOneLine(self, out: str, err: str, expected: str) -> None:
        """Nothing on stdout; exactly one line, holding C{expected}, on stderr."""
        self.assertEqual(out, "", err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn(expected, err)


class CommandLineProcessTests(ProcessTestCase):
    """What the terminal shows when a server cannot start."""

    async def test_badOptionOneLineExit1(self) -> None:
        """
        A bad option value: one line on stderr and exit status 1 under both
        runners (twistd printed the 44-line option list first; twist exited
        64 with the list too).
        """
        expected = "poetry: --delay must be a finite number >= 0.001, not 'abc'"
        for runner, args in [
            ("twistd", ["-n", "--pidfile=", "poetry", "--delay", "abc"]),
            ("twist", ["poetry", "--delay", "abc"]),
        ]:
            out, err, code = await self.runCommand(runner, *args)
            self.assertEqual(code, 1, (runner, out, err))
            self.assertOneLine(out, err, expected)

    async def test_portInUseEveryMode(self) -> None:
        """
        A port in use: the whole one-line message and status 1 in daemon
        mode (twistd cut it at 100 bytes inside "An error has occurred:
        b'...'"), under twistd -n (it was wrapped in [stderr#error] log
        noise) and twist; no pidfile or log file is left behind.
        """
        taken = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        number = taken.getHost().port
        expected = (
            f"poetry: cannot listen on tcp:{number}:interface=127.0.0.1: "
            "Address already in use"
        )
        port = ["--port", f"tcp:{number}:interface=127.0.0.1"]
        for runner, args in [
            ("twistd", ["--pidfile=d.pid", "--logfile=d.log", "poetry", *port]),
            ("twistd", ["-n", "--pidfile=n.pid", "poetry", *port]),
            ("twist", ["poetry", *port]),
        ]:
            out, err, code = await self.runCommand(runner, *args)
            self.assertEqual(code, 1, (args, out, err))
            self.assertOneLine(out, err, expected)
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), ["slow.txt"])


class SignalProcessTests(ProcessTestCase):
    """Signals sent to a server with a slow poem in flight."""

    def slow_args(self, grace: str, delay: str = "0.05") -> list[str]:
        return [
            "--port", "tcp:0", "--poem", str(self.poem),
            "--delay", delay, "--chunk-size", "11", "--grace", grace,
        ]  # fmt: skip

    async def test_hangupAndQuitStopGracefully(self) -> None:
        """
        SIGHUP (under twist) and SIGQUIT (under twistd -n) mid-poem go
        through the graceful path: the in-flight poem finishes whole, the
        final count line is logged, the process exits 0 and twistd removes
        its pidfile.  (Both used to kill the process at once: a clean but
        short poem, no final line, a stale pidfile.)
        """
        for runner, sig, args in [
            ("twist", "HUP", ["--log-format=text", "poetry"]),
            ("twistd", "QUIT", ["-n", "--pidfile=q.pid", "poetry"]),
        ]:
            server, transport, port = await self.start(
                runner, *args, *self.slow_args("20")
            )
            reader = self.connect(port)
            await waitFor(lambda: reader.received)  # noqa: B023
            transport.signalProcess(getattr(signal, "SIG" + sig))
            data, reason = await reader.done.addTimeout(LIMIT, reactor)
            await server.ended.addTimeout(LIMIT, reactor)
            log = server.text()
            self.assertEqual(data, POEM, log)
            self.assertTrue(reason.check(ConnectionDone), reason)
            assert server.reason is not None
            self.assertTrue(server.reason.check(ProcessDone), (server.reason, log))
            self.assertIn(f"Received SIG{sig}, shutting down.", log)
            self.assertIn("Stopping: 1 poem in flight", log)
            self.assertIn("Poetry server stopped: 1 poem served, 1 finished", log)
            self.assertNotIn("Traceback", log)
        self.assertFalse((self.tmp / "q.pid").exists())

    async def test_daemonHangupRemovesPidfile(self) -> None:
        """
        A daemon (twistd without -n) sent SIGHUP mid-poem lets the poem
        finish, logs its final line and removes its pidfile (SIGHUP killed
        it outright, leaving the pidfile behind).
        """
        logPath = self.tmp / "daemon.log"
        pid_path = self.tmp / "daemon.pid"
        out, err, code = await self.runCommand(
            "twistd", f"--pidfile={pid_path}", f"--logfile={logPath}",
            "poetry", *self.slow_args("20"),
        )  # fmt: skip
        self.assertEqual((out, err, code), ("", "", 0))
        pid = int(pid_path.read_text())

        def kill_daemon() -> None:
            if pid_path.exists():
                os.kill(pid, signal.SIGKILL)

        self.addCleanup(kill_daemon)

        def log() -> str:
            return logPath.read_text("utf-8") if logPath.exists() else ""

        await waitFor(lambda: "Signals: " in log(), tries=4000)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log())
        assert match is not None, log()
        reader = self.connect(int(match.group(1)))
        await waitFor(lambda: reader.received)
        os.kill(pid, signal.SIGHUP)
        data, reason = await reader.done.addTimeout(LIMIT, reactor)
        await waitFor(lambda: "Server Shut Down." in log(), tries=4000)
        self.assertEqual(data, POEM, log())
        self.assertTrue(reason.check(ConnectionDone), reason)
        self.assertIn("Poetry server stopped: 1 poem served, 1 finished", log())
        self.assertFalse(pid_path.exists())

    async def test_secondSignalCutsAtOnce(self) -> None:
        """
        A second SIGTERM during a 60 s grace cuts the poem in flight at
        once: the client sees a reset (never a clean end), the process ends
        by re-raising SIGTERM as Twisted does, with no ReactorNotRunning
        traceback, and the pidfile is removed.
        """
        pid = self.tmp / "t.pid"
        server, transport, port = await self.start(
            "twistd", "-n", f"--pidfile={pid}", "poetry", *self.slow_args("60", "0.5")
        )
        self.assertTrue(pid.exists())
        reader = self.connect(port)
        await waitFor(lambda: reader.received)
        transport.signalProcess(signal.SIGTERM)
        await waitFor(lambda: "Stopping: 1 poem in flight" in server.text())
        transport.signalProcess(signal.SIGTERM)
        data, reason = await reader.done.addTimeout(LIMIT, reactor)
        await server.ended.addTimeout(LIMIT, reactor)
        log = server.text()
        self.assertLess(len(data), len(POEM))
        self.assertFalse(reason.check(ConnectionDone), reason)
        self.assertIn("Received SIGTERM again: cutting now", log)
        self.assertIn("1 cut at shutdown", log)
        self.assertNotIn("ReactorNotRunning", log)
        self.assertNotIn("Traceback", log)
        assert server.reason is not None
        self.assertEqual(server.reason.value.signal, signal.SIGTERM, log)
        self.assertFalse(pid.exists())

    async def test_ignoredSignalsAndLogRotation(self) -> None:
        """
        Under twistd with a log file: SIGUSR2 and SIGALRM are logged and
        ignored (they used to kill the server); logrotate's two ways work:
        C{create} (move the file, SIGUSR1) makes the server write a new
        file under the old name, and C{copytruncate} leaves no NUL bytes at
        the head of the truncated file (it is written in append mode).
        """
        logPath = self.tmp / "server.log"
        pid = self.tmp / "r.pid"
        server, transport, port = await self.start(
            "twistd", "-n", f"--pidfile={pid}", f"--logfile={logPath}",
            "poetry", "--port", "tcp:0", log_file=logPath,
        )  # fmt: skip

        def log() -> str:
            return logPath.read_text("utf-8") if logPath.exists() else ""

        for sig in ("USR2", "ALRM"):
            transport.signalProcess(getattr(signal, "SIG" + sig))
            await waitFor(lambda: f"Received SIG{sig}: ignored" in log())  # noqa: B023
        data, reason = await fetch(port)
        self.assertTrue(data and reason.check(ConnectionDone), log())
        # The server logs the poem when it sees the client's close, which
        # can come after the client has the whole poem: wait for the line
        # (that a line still buffered at SIGUSR1 goes to the old file is
        # test_logfile's test_reopenWritesTheOldFileFirst).
        await waitFor(lambda: " complete" in log())

        moved = self.tmp / "server.log.1"
        logPath.rename(moved)
        transport.signalProcess(signal.SIGUSR1)
        await waitFor(lambda: "reopened the log file" in log())
        self.assertIn(" complete", moved.read_text("utf-8"))
        self.assertNotIn(" complete", log())
        await fetch(port)
        await waitFor(lambda: " complete" in log())
        moved_size = moved.stat().st_size

        os.truncate(logPath, 0)
        await fetch(port)
        await waitFor(lambda: " complete" in log())
        head = logPath.read_bytes()
        self.assertNotIn(b"\0", head)
        self.assertTrue(head.startswith(b"20"), head[:40])

        transport.signalProcess(signal.SIGTERM)
        await server.ended.addTimeout(LIMIT, reactor)
        self.assertEqual(moved.stat().st_size, moved_size)
        self.assertIn("Poetry server stopped: 3 poems served", log())
        self.assertFalse(pid.exists())
