"""
Tests for L{poetry.cli}, the C{get-poetry} command: usage errors, output
order, the summary, C{--json}, C{--output-dir}, C{-v}/C{-q}, progress, Ctrl-C
and exit statuses.

Most run the command in-process on a L{MemoryReactorClock}, playing the
servers' part by hand; a few run C{python -m poetry} as a real process
against the project's server.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from twisted.internet import defer, utils
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import (
    ConnectionAborted,
    ConnectionDone,
    ConnectionRefusedError,
)
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

import poetry
from poetry import cli
from poetry.cli import command
from poetry.cli.tracing import Tracing
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from tests.helpers import POEM_TRACE
from tests.test_client import ConnectingReactor

FIRST = b"First poem: the kettle sings\nof sockets, ports and other things.\n"
SECOND = "Second poem, ünïcödé:\nthe bytes come home.\n".encode()

SVG = "{http://www.w3.org/2000/svg}"

CHECKOUT = str(Path(poetry.__file__).resolve().parent.parent)


def tempDir(case: SynchronousTestCase) -> Path:
    """A fresh directory, outside the checkout, removed after the test."""
    path = tempfile.mkdtemp(prefix="get-poetry-test-")
    case.addCleanup(shutil.rmtree, path, True)
    return Path(path)


class Harness:
    """One in-process get-poetry run on a fake reactor."""

    def __init__(self, case: SynchronousTestCase, *argv: str, **kw: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.stdout = io.BytesIO()
        self.stderr = io.StringIO()
        self.result: list[int] = []
        cli.run(
            argv, reactor=self.reactor, stdout=self.stdout, stderr=self.stderr, **kw
        ).addCallback(self.result.append)
        self.case = case

    def factory(self, task: int) -> Any:
        """The client factory of task C{task} (1-based)."""
        return self.reactor.tcpClients[task - 1][2]

    def connect(self, task: int) -> Any:
        """Connect task C{task}; return its protocol."""
        factory = self.factory(task)
        port = self.reactor.tcpClients[task - 1][1]
        peer = IPv4Address("TCP", "127.0.0.1", port)
        proto = factory.buildProtocol(peer)
        proto.makeConnection(StringTransport(peerAddress=peer))
        return proto

    def serve(self, task: int, data: bytes, chunk: int = 1000) -> None:
        """Task C{task}'s server sends C{data} and closes cleanly."""
        proto = self.connect(task)
        for i in range(0, len(data), chunk):
            proto.dataReceived(data[i : i + chunk])
        proto.connectionLost(Failure(ConnectionDone()))

    def refuse(self, task: int) -> None:
        """Task C{task}'s connection is refused."""
        self.factory(task).clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )

    @property
    def status(self) -> int:
        """The exit status (the run must have ended)."""
        self.case.assertEqual(len(self.result), 1, "the run has not ended")
        return self.result[0]

    @property
    def out(self) -> bytes:
        return self.stdout.getvalue()

    @property
    def err_lines(self) -> list[str]:
        return self.stderr.getvalue().splitlines()


class RunHarness(Harness):
    """
    A L{Harness} built from a L{cli.Run} on C{reactor} (by default a
    L{MemoryReactorClock}), which a test may adjust first (C{before}, called
    with the run before it starts); C{kw} goes to L{cli.Run}.
    """

    def __init__(
        self, case: SynchronousTestCase, *argv: str, reactor: Any = None,
        stdout: Any = None, stderr: Any = None, before: Any = None, **kw: Any,
    ) -> None:  # fmt: skip
        self.case = case
        self.reactor = MemoryReactorClock() if reactor is None else reactor
        self.stdout = io.BytesIO() if stdout is None else stdout
        self.stderr = io.StringIO() if stderr is None else stderr
        self.result: list[int] = []
        self.run = cli.Run(
            cli.parse_args(argv),
            reactor=self.reactor,
            stdout=self.stdout,
            stderr=self.stderr,
            **kw,
        )
        if before is not None:
            before(self.run)
        self.run.start().addCallback(self.result.append)


class UsageErrorTests(SynchronousTestCase):
    """Bad input: one line naming the argument, status 2, nothing started."""

    def assertUsage(self, argv: list[str], *fragments: str) -> None:
        """C{argv} is a usage error whose one line contains C{fragments}."""
        h = Harness(self, *argv)
        self.assertEqual(h.status, 2)
        lines = h.err_lines
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("get-poetry: error: "), lines[0])
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertNotIn("Traceback", lines[0])
        self.assertEqual(h.out, b"")
        self.assertEqual(h.reactor.tcpClients, [])

    def test_badAddresses(self) -> None:
        """Every malformed address is named with what is wrong with it."""
        cases = {
            "abc": "expected PORT, HOST:PORT, [IPv6]:PORT, tls:HOST:PORT or unix:PATH",
            "host:": "missing port",
            ":99999": "out of range",
            "0": "port 0 is out of range",
            "65536": "port 65536 is out of range",
            ":80": "empty host",
            "": "empty address",
            "::1:80": "needs brackets",
        }
        for text, problem in cases.items():
            self.assertUsage(
                ["10001", text],
                "argument ADDRESS",
                f"invalid address {text!r}",
                problem,
            )

    def test_missingAddresses(self) -> None:
        """No address at all is a usage error naming ADDRESS."""
        self.assertUsage([], "required: ADDRESS")
        self.assertUsage(["--timeout", "5"], "required: ADDRESS")

    def test_badTimeout(self) -> None:
        """Negative, zero, non-numeric and infinite timeouts are refused."""
        for value in ("-1", "0", "abc", "nan", "inf"):
            self.assertUsage(["--timeout", value, "10001"], "argument --timeout", value)

    def test_badCounts(self) -> None:
        """--max-bytes, --concurrency, --per-server: whole numbers >= 1."""
        for option in ("--max-bytes", "--concurrency", "--per-server"):
            for value in ("0", "-5", "1.5", "many"):
                self.assertUsage(
                    [option, value, "10001"], f"argument {option}", repr(value)
                )

    def test_verboseAndQuiet(self) -> None:
        """-v and -q together are a usage error."""
        self.assertUsage(["-v", "-q", "10001"], "-q/--quiet", "-v/--verbose")

    def test_unknownOption(self) -> None:
        """An unknown option is named."""
        self.assertUsage(["--bogus", "10001"], "--bogus")

    def test_outputDirIsAFile(self) -> None:
        """--output-dir naming a file is a usage error."""
        path = tempDir(self) / "file"
        path.write_text("not a directory")
        self.assertUsage(["--output-dir", str(path), "10001"], "argument --output-dir")

    def test_help(self) -> None:
        """--help prints usage on stdout and exits 0."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        with self.assertRaises(SystemExit) as caught:
            cli.parse_args(["--help"])
        self.assertEqual(caught.exception.code, 0)
        self.assertIn("--output-dir DIR", out.getvalue())
        self.assertIn("ADDRESS", out.getvalue())


class OutputTests(SynchronousTestCase):
    """Poems on stdout in command-line order, summary on stderr."""

    def test_commandLineOrder(self) -> None:
        """
        Poems come out in command-line order, each under a header naming its
        source, however the downloads finish.
        """
        h = Harness(self, "10001", "127.0.0.1:10002")
        h.reactor.advance(0.5)
        h.serve(2, SECOND)
        self.assertEqual(h.out, b"")  # waits for poem 1
        h.reactor.advance(1)
        h.serve(1, FIRST, chunk=1)
        self.assertEqual(h.status, 0)
        self.assertEqual(
            h.out,
            b"==> 127.0.0.1:10001 (task 1) <==\n"
            + FIRST
            + b"\n==> 127.0.0.1:10002 (task 2) <==\n"
            + SECOND
            + b"\n",
        )
        self.assertEqual(
            h.err_lines,
            [
                f"Task 1: ok, {len(FIRST)} bytes in 1.50 s from 127.0.0.1:10001",
                f"Task 2: ok, {len(SECOND)} bytes in 0.50 s from 127.0.0.1:10002",
                "Got 2 of 2 poems in 1.50 seconds",
            ],
        )
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_streamsInOrder(self) -> None:
        """A poem is written as soon as every poem before it has arrived."""
        h = Harness(self, "10001", "10002")
        h.serve(1, FIRST)
        self.assertIn(FIRST, h.out)
        self.assertEqual(h.result, [])

    def test_missingNewline(self) -> None:
        """A poem without a final newline gets one, so headers stay apart."""
        h = Harness(self, "10001", "10002")
        h.serve(1, b"no newline")
        h.serve(2, b"two")
        self.assertIn(b"no newline\n\n==> ", h.out)

    def test_failureExitsOne(self) -> None:
        """A failed download: status 1, the reason in the summary."""
        h = Harness(self, "10001", "10002")
        h.refuse(2)
        h.serve(1, FIRST)
        self.assertEqual(h.status, 1)
        self.assertIn(FIRST, h.out)
        self.assertNotIn(b"10002", h.out)
        self.assertEqual(
            h.err_lines[1:],
            [
                "Task 2: failed after 0.00 s: 127.0.0.1:10002: connection refused",
                "Got 1 of 2 poems in 0.00 seconds",
            ],
        )

    def test_invalidUTF8Noted(self) -> None:
        """Raw bytes go to stdout unchanged; the summary notes bad UTF-8."""
        h = Harness(self, "10001")
        h.serve(1, b"\xff\xfe bad\n")
        self.assertIn(b"\xff\xfe bad\n", h.out)
        self.assertIn("(invalid UTF-8 replaced)", h.err_lines[0])

    def test_options(self) -> None:
        """--timeout, --concurrency and --max-bytes reach the downloads."""
        h = Harness(
            self, "--timeout", "2", "--concurrency", "1", "--max-bytes", "5",
            "10001", "10002",
        )  # fmt: skip
        self.assertEqual(len(h.reactor.tcpClients), 1)
        h.serve(1, b"123456")
        self.assertEqual(len(h.reactor.tcpClients), 2)
        h.reactor.advance(2)
        self.assertEqual(h.status, 1)
        self.assertIn("limit", h.err_lines[0])
        self.assertIn("timed out after 2.0 s", h.err_lines[1])

    def test_perServerAndDefaults(self) -> None:
        """
        By default at most 20 downloads run from one server; --per-server
        and --concurrency change the caps.
        """
        h = Harness(self, *["10001"] * 30)
        self.assertEqual(len(h.reactor.tcpClients), 20)
        h = Harness(self, "--per-server", "1", "10001", "10001", "10002")
        self.assertEqual([c[1] for c in h.reactor.tcpClients], [10001, 10002])
        h = Harness(self, "--per-server", "50", "--concurrency", "40", *["10001"] * 60)
        self.assertEqual(len(h.reactor.tcpClients), 40)

    def test_verbose(self) -> None:
        """-v reports every chunk as it arrives, and each task's end."""
        h = Harness(self, "-v", "10001")
        proto = h.connect(1)
        proto.dataReceived(b"0123456789")
        self.assertEqual(
            h.err_lines, ["Task 1: got 10 bytes of poetry from 127.0.0.1:10001"]
        )
        proto.dataReceived(b"abc")
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            h.err_lines[1:3],
            [
                "Task 1: got 3 bytes of poetry from 127.0.0.1:10001",
                "Task 1: ok, 13 bytes in 0.00 s from 127.0.0.1:10001",
            ],
        )

    def test_quiet(self) -> None:
        """-q: poems still on stdout; only failures on stderr."""
        h = Harness(self, "-q", "10001", "10002")
        h.serve(1, FIRST)
        h.refuse(2)
        self.assertEqual(h.status, 1)
        self.assertIn(FIRST, h.out)
        self.assertEqual(len(h.err_lines), 1)
        self.assertTrue(h.err_lines[0].startswith("Task 2: failed"))

    def test_brokenPipe(self) -> None:
        """
        Stdout's reader gone (piped into head): no crash, one line saying
        so, and status 141 (128 + SIGPIPE, as the shell reports cat).
        """

        class Closed(io.BytesIO):
            def write(self, data: Any) -> int:
                raise BrokenPipeError()

        reactor = MemoryReactorClock()
        result: list[int] = []
        cli.run(
            ["10001"], reactor=reactor, stdout=Closed(), stderr=io.StringIO()
        ).addCallback(result.append)
        proto = reactor.tcpClients[0][2].buildProtocol(None)
        proto.makeConnection(StringTransport())
        proto.dataReceived(FIRST)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(result, [cli.EXIT_BROKEN_PIPE])


class JSONTests(SynchronousTestCase):
    """--json: the documented summary on stdout, instead of poems."""

    def test_schema(self) -> None:
        """Every documented key, with the documented types and values."""
        h = Harness(self, "--json", "10001", "[::1]:10002")
        h.reactor.advance(0.25)
        h.serve(1, FIRST)
        h.refuse(2)
        self.assertEqual(h.status, 1)
        summary = json.loads(h.out)
        self.assertEqual(
            set(summary),
            {"version", "ok", "interrupted", "received", "total", "elapsed", "tasks"},
        )
        self.assertEqual(summary["version"], cli.JSON_VERSION)
        self.assertEqual(
            (summary["ok"], summary["interrupted"], summary["received"]),
            (False, False, 1),
        )
        self.assertEqual((summary["total"], summary["elapsed"]), (2, 0.25))
        ok, failed = summary["tasks"]
        self.assertEqual(
            ok,
            {
                "task": 1,
                "address": "127.0.0.1:10001",
                "host": "127.0.0.1",
                "port": 10001,
                "scheme": "tcp",
                "status": "ok",
                "bytes": len(FIRST),
                "elapsed": 0.25,
                "peer": "127.0.0.1:10001",
                "valid_utf8": True,
                "file": None,
                "error": None,
                "tries": 1,
                "attempts": [
                    {
                        "try": 1,
                        "destination": "127.0.0.1:10001",
                        "elapsed": 0.25,
                        "error": None,
                    }
                ],
            },
        )
        self.assertEqual(set(failed), set(ok))
        self.assertEqual(
            (failed["address"], failed["host"], failed["status"], failed["bytes"]),
            ("[::1]:10002", "::1", "failed", 0),
        )
        self.assertEqual(
            failed["error"],
            {
                "type": "PoemConnectionFailed",
                "message": "[::1]:10002: connection refused",
            },
        )
        self.assertEqual(failed["attempts"][0]["error"], failed["error"])
        self.assertIsNone(failed["valid_utf8"])

    def test_timeoutIsFailed(self) -> None:
        """
        A timed-out task is C{"failed"} in the JSON (its status's verdict,
        the same word as before the timeline learnt C{"timeout"}), its
        error a L{PoemTimeout}; the summary line says failed too.
        """
        h = Harness(self, "--json", "-v", "--timeout", "2", "10001")
        h.reactor.advance(2)
        self.assertEqual(h.status, 1)
        [task] = json.loads(h.out)["tasks"]
        self.assertEqual(
            (task["status"], task["error"]["type"]), ("failed", "PoemTimeout")
        )
        self.assertTrue(
            any(line.startswith("Task 1: failed after 2.00 s") for line in h.err_lines),
            h.err_lines,
        )

    def test_allOk(self) -> None:
        """All poems arrived: ok is true, status 0."""
        h = Harness(self, "--json", "-q", "10001")
        h.serve(1, FIRST)
        self.assertEqual(h.status, 0)
        self.assertTrue(json.loads(h.out)["ok"])
        self.assertEqual(h.err_lines, [])


class OutputDirTests(SynchronousTestCase):
    """--output-dir: one file per poem, written at once, never overwritten."""

    def test_files(self) -> None:
        """
        Each poem is written the moment it arrives, named after its task
        and source; an existing file is never overwritten; nothing on stdout.
        """
        directory = tempDir(self)
        (directory / "1-127.0.0.1-10001.txt").write_bytes(b"from an earlier run")
        h = Harness(self, "--output-dir", str(directory), "10001", "10001", "[::1]:7")
        h.serve(2, SECOND)
        self.assertEqual((directory / "2-127.0.0.1-10001.txt").read_bytes(), SECOND)
        h.serve(1, FIRST)
        h.serve(3, b"six\n")
        self.assertEqual(h.status, 0)
        self.assertEqual(
            (directory / "1-127.0.0.1-10001.txt").read_bytes(), b"from an earlier run"
        )
        self.assertEqual((directory / "1-127.0.0.1-10001-2.txt").read_bytes(), FIRST)
        self.assertEqual((directory / "3-1-7.txt").read_bytes(), b"six\n")
        self.assertEqual(len(list(directory.iterdir())), 4)
        self.assertEqual(h.out, b"")
        self.assertTrue(h.err_lines[0].endswith("1-127.0.0.1-10001-2.txt"))

    def test_createsDirectory(self) -> None:
        """A missing directory is created."""
        directory = tempDir(self) / "new" / "dir"
        h = Harness(self, "--output-dir", str(directory), "10001")
        h.serve(1, FIRST)
        self.assertEqual(h.status, 0)
        self.assertEqual(
            [p.name for p in directory.iterdir()], ["1-127.0.0.1-10001.txt"]
        )

    def test_zeroPadded(self) -> None:
        """With ten or more tasks, names are zero-padded to sort in order."""
        directory = tempDir(self) / "out"
        h = Harness(self, "--output-dir", str(directory), *["10001"] * 10)
        h.serve(3, FIRST)
        self.assertTrue((directory / "03-127.0.0.1-10001.txt").exists())


class InterruptTests(SynchronousTestCase):
    """Ctrl-C: stop at once, keep what arrived, partial summary, status 130."""

    def test_interrupt(self) -> None:
        """Arrived poems are printed; the rest are cancelled; status 130."""
        reactor = MemoryReactorClock()
        stdout, stderr = io.BytesIO(), io.StringIO()
        options = cli.parse_args(["10001", "10002", "10003"])
        run = cli.Run(options, reactor=reactor, stdout=stdout, stderr=stderr)
        result: list[int] = []
        run.start().addCallback(result.append)
        factories = [c[2] for c in reactor.tcpClients]
        proto = factories[1].buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(SECOND)
        proto.connectionLost(Failure(ConnectionDone()))
        proto3 = factories[2].buildProtocol(None)
        transport3 = StringTransport()
        proto3.makeConnection(transport3)
        proto3.dataReceived(b"part")
        reactor.advance(3)
        run.interrupt()
        self.assertEqual(result, [130])
        self.assertIn(SECOND, stdout.getvalue())
        self.assertTrue(transport3.disconnected)
        self.assertTrue(reactor.connectors[0].stoppedConnecting)
        lines = stderr.getvalue().splitlines()
        self.assertTrue(lines[0].startswith("Task 1: cancelled"))
        self.assertTrue(lines[1].startswith("Task 2: ok"))
        self.assertTrue(lines[2].startswith("Task 3: cancelled"))
        self.assertEqual(lines[3], "Got 1 of 3 poems in 3.00 seconds (interrupted)")
        self.assertEqual(reactor.getDelayedCalls(), [])
        run.interrupt()  # a second time is harmless
        self.assertEqual(result, [130])

    def test_interruptJSON(self) -> None:
        """The JSON summary of an interrupted run says so."""
        reactor = MemoryReactorClock()
        stdout = io.BytesIO()
        run = cli.Run(
            cli.parse_args(["--json", "10001"]),
            reactor=reactor,
            stdout=stdout,
            stderr=io.StringIO(),
        )
        result: list[int] = []
        run.start().addCallback(result.append)
        run.interrupt()
        self.assertEqual(result, [130])
        summary = json.loads(stdout.getvalue())
        self.assertTrue(summary["interrupted"])
        self.assertEqual(summary["tasks"][0]["status"], "cancelled")
        self.assertEqual(summary["tasks"][0]["error"]["type"], "CancelledError")


class ProgressTests(SynchronousTestCase):
    """The live progress bar: only on a terminal, and it leaves no timer."""

    def test_notATerminal(self) -> None:
        """With stderr not a terminal there is no progress output."""
        h = Harness(self, "10001")
        calls = h.reactor.getDelayedCalls()
        self.assertEqual(len(calls), 1)  # the timeout, and no redraw timer
        h.serve(1, FIRST)
        self.assertFalse(any("\x1b" in line for line in h.err_lines))

    def test_progressBar(self) -> None:
        """
        Forced on, rich draws the bar on stderr while downloads run, and its
        refresh timer is stopped at the end.
        """
        h = Harness(self, "10001", "10002", progress=True)
        # The downloads' one shared timeout timer, and the redraw.
        self.assertEqual(len(h.reactor.getDelayedCalls()), 2)
        h.serve(1, FIRST)
        h.reactor.advance(0.1)
        self.assertIn("1/2", h.stderr.getvalue())
        h.serve(2, SECOND)
        self.assertEqual(h.status, 0)
        self.assertEqual(h.reactor.getDelayedCalls(), [])
        self.assertIn("Got 2 of 2 poems", h.stderr.getvalue())
        self.assertIn(FIRST, h.out)


# -- a real process against a real server ---------------------------------------


def serve(case: TestCase, poem: bytes, delay: float | None = None) -> int:
    """Serve C{poem} on 127.0.0.1 for the test; return the port."""
    from twisted.internet import reactor

    factory = PoetryServerFactory(
        PoemLibrary([PoemFile("p", poem)]), delay=delay, chunk_size=8, reactor=reactor
    )
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    case.addCleanup(factory.drain, 5.0)
    case.addCleanup(port.stopListening)
    return port.getHost().port


def child_env() -> dict[str, str]:
    """The environment for C{python -m poetry}: this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (CHECKOUT, env.get("PYTHONPATH")) if p
    )
    return env


def get_poetry(*argv: str) -> Deferred[tuple[bytes, bytes, int]]:
    """Run C{python -m poetry ARGV}; fire with (stdout, stderr, status)."""
    return utils.getProcessOutputAndValue(
        sys.executable, ["-m", "poetry", *argv], env=child_env(), path=CHECKOUT
    )


class _InterruptWhenData(ProcessProtocol):
    """Send SIGINT once the child reports poetry arriving; collect output."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: Deferred[int] = Deferred()
        self.sent = False

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data
        if not self.sent and b"bytes of poetry" in self.err:
            self.sent = True
            self.transport.signalProcess("INT")

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


class ProcessTests(TestCase):
    """C{python -m poetry} as a real process: exit statuses end to end."""

    async def test_success(self) -> None:
        """Every poem arrived: the poems on stdout, status 0."""
        port = serve(self, FIRST)
        out, err, status = await get_poetry(str(port), f"127.0.0.1:{port}")
        self.assertEqual(status, 0, err)
        self.assertEqual(out.count(FIRST), 2)
        self.assertIn(b"Got 2 of 2 poems in ", err)

    async def test_failure(self) -> None:
        """A refused connection: status 1, the reason on stderr."""
        from twisted.internet import reactor
        from twisted.internet.protocol import ServerFactory

        listening = reactor.listenTCP(0, ServerFactory(), interface="127.0.0.1")
        closed = listening.getHost().port
        await defer.maybeDeferred(listening.stopListening)
        _, err, status = await get_poetry(str(closed))
        self.assertEqual(status, 1)
        self.assertIn(f"127.0.0.1:{closed}: connection refused".encode(), err)

    async def test_usage(self) -> None:
        """A usage error: status 2, one line, no traceback."""
        out, err, status = await get_poetry("--timeout", "-1", "10001")
        self.assertEqual(status, 2)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(b"argument --timeout", err)
        self.assertNotIn(b"Traceback", err)
        self.assertEqual(out, b"")

    async def test_controlC(self) -> None:
        """Ctrl-C mid-download: partial summary at once and status 130."""
        from twisted.internet import reactor

        port = serve(self, b"a slow, slow poem\n" * 200, delay=0.02)
        proto = _InterruptWhenData()
        reactor.spawnProcess(
            proto,
            sys.executable,
            [sys.executable, "-m", "poetry", "-v", "--timeout", "60", str(port)],
            env=child_env(),
            path=CHECKOUT,
        )
        status = await proto.ended
        self.assertEqual(status, 130, proto.err)
        self.assertIn(b"Task 1: cancelled", proto.err)
        self.assertIn(b"Got 0 of 1 poem in", proto.err)
        self.assertIn(b"(interrupted)", proto.err)
        self.assertNotIn(b"Traceback", proto.err)


# -- --trace, --timeline and --timeline-svg ------------------------------------


class TracedHarness(RunHarness):
    """
    One in-process get-poetry run whose connections go through Twisted's
    own connector (L{ConnectingReactor}), so every factory callback,
    C{doStart} and C{doStop} included, happens as on a real reactor.
    """

    def __init__(self, case: SynchronousTestCase, *argv: str, **kw: Any) -> None:
        super().__init__(case, *argv, reactor=ConnectingReactor(), **kw)

    def connect(self, task: int) -> Any:
        """The server accepts task C{task}'s connection; return its protocol."""
        return self.reactor.pending(task - 1).accept()

    def serve(self, task: int, data: bytes, chunk: int = 1000) -> None:
        """Task C{task}'s server sends C{data} and closes cleanly."""
        proto = self.connect(task)
        for i in range(0, len(data), chunk):
            proto.dataReceived(data[i : i + chunk])
        self.close(task)

    def close(self, task: int, reason: Exception | None = None) -> None:
        """Task C{task}'s connection ends, cleanly unless C{reason} is given."""
        self.reactor.pending(task - 1).connectionLost(
            Failure(reason or ConnectionDone())
        )

    def refuse(self, task: int) -> None:
        """Task C{task}'s connection is refused."""
        self.reactor.pending(task - 1).failIfNotConnected(ConnectionRefusedError())


def timeline_rows(lines: list[str]) -> list[str]:
    """The task rows of the text timeline in C{lines}."""
    return [line for line in lines if re.match(r"task \d+ ", line)]


class TraceTimelineTests(SynchronousTestCase):
    """
    C{--trace} logs every callback on stderr as it happens; C{--timeline}
    and C{--timeline-svg} draw the tasks once the downloads end; with none
    of them the client is given no tracer at all.
    """

    def test_traceLinesInOrder(self) -> None:
        """
        Each callback of each task is one line on stderr, written the
        moment it happens, with the time since start: the real order of
        the calls, interleaved across tasks, before the summary.
        """
        h = TracedHarness(self, "--trace", "10001", "10002")
        h.reactor.advance(0.25)
        h.connect(2)
        self.assertEqual(len(h.err_lines), 9)  # written at once, not at the end
        h.refuse(1)
        h.reactor.advance(0.25)
        proto = h.reactor.pending(1).protocol
        proto.dataReceived(FIRST)
        h.close(2)
        self.assertEqual(h.status, 1)
        self.assertIn(FIRST, h.out)
        self.assertEqual(
            h.err_lines[:20],
            [
                "+0.000s task 1 factory.doStart",
                "+0.000s task 1 factory.startedConnecting destination=127.0.0.1:10001",
                "+0.000s task 1 timeout.scheduled seconds=30",
                "+0.000s task 2 factory.doStart",
                "+0.000s task 2 factory.startedConnecting destination=127.0.0.1:10002",
                "+0.000s task 2 timeout.scheduled seconds=30",
                "+0.250s task 2 factory.buildProtocol address=127.0.0.1:10002",
                "+0.250s task 2 protocol.makeConnection",
                "+0.250s task 2 protocol.connectionMade"
                " peer=127.0.0.1:10002 host=127.0.0.1:54321",
                "+0.250s task 1 factory.clientConnectionFailed"
                " reason=ConnectionRefusedError",
                "+0.250s task 1 timeout.cancelled",
                "+0.250s task 1 factory.doStop",
                f"+0.500s task 2 protocol.dataReceived bytes={len(FIRST)}",
                "+0.500s task 2 protocol.connectionLost"
                " reason=ConnectionDone clean=True",
                "+0.500s task 2 timeout.cancelled",
                "+0.500s task 2 factory.clientConnectionLost reason=ConnectionDone",
                "+0.500s task 2 factory.doStop",
                "Task 1: failed after 0.25 s: 127.0.0.1:10001: connection refused",
                f"Task 2: ok, {len(FIRST)} bytes in 0.50 s from 127.0.0.1:10002",
                "Got 1 of 2 poems in 0.50 seconds",
            ],
        )
        self.assertEqual(len(h.err_lines), 20)
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_traceWaitsForTheLastFactory(self) -> None:
        """
        A timed-out download's result fires before Twisted has lost its
        aborted connection; the run waits for that factory's doStop, so its
        trace lines come before the summary.
        """
        h = TracedHarness(self, "--trace", "--timeout", "2", "10001")
        h.connect(1)
        transport = h.reactor.pending(0)
        transport.abortConnection = lambda: None  # type: ignore[method-assign]
        h.reactor.advance(2)
        self.assertEqual(h.result, [])
        self.assertEqual(h.err_lines[-1], "+2.000s task 1 timeout.fired seconds=2")
        h.reactor.advance(0.5)
        h.close(1, ConnectionAborted())
        self.assertEqual(h.status, 1)
        self.assertEqual(
            h.err_lines[-5:],
            [
                "+2.500s task 1 protocol.connectionLost"
                " reason=ConnectionAborted clean=False",
                "+2.500s task 1 factory.clientConnectionLost reason=ConnectionAborted",
                "+2.500s task 1 factory.doStop",
                "Task 1: failed after 2.00 s: 127.0.0.1:10001: timed out after"
                " 2.0 s with 0 bytes received",
                "Got 0 of 1 poem in 2.50 seconds",
            ],
        )
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_traceWaitIsBounded(self) -> None:
        """
        If Twisted never reports a factory stopped, the run ends anyway
        after L{Tracing.FACTORY_STOP_GRACE} seconds, leaving no timer.
        """
        h = TracedHarness(self, "--trace", "--timeout", "2", "10001")
        h.connect(1)
        h.reactor.pending(0).abortConnection = lambda: None  # type: ignore[method-assign]
        h.reactor.advance(2)
        h.reactor.advance(Tracing.FACTORY_STOP_GRACE - 0.001)
        self.assertEqual(h.result, [])
        h.reactor.advance(0.001)
        self.assertEqual(h.status, 1)
        self.assertEqual(h.err_lines[-1], "Got 0 of 1 poem in 3.00 seconds")
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_noTracerWhenOff(self) -> None:
        """
        Without the flags the client is given no tracer (tracing costs
        nothing); with only the timeline flags the tracer records without
        logging a line.
        """
        given: list[object] = []
        real_get_poems = command.get_poems

        def spy(*args: Any, **kw: Any) -> Any:
            given.append(kw["tracer"])
            return real_get_poems(*args, **kw)

        self.patch(command, "get_poems", spy)
        plain = TracedHarness(self, "10001")
        plain.serve(1, FIRST)
        self.assertEqual(plain.status, 0)
        self.assertIsNone(plain.run.tracer)
        self.assertEqual(plain.run.recorders, [])

        svg = tempDir(self) / "t.svg"
        drawn = TracedHarness(self, "--timeline", "--timeline-svg", str(svg), "10001")
        drawn.serve(1, FIRST)
        self.assertEqual(drawn.status, 0)
        tracer = drawn.run.tracer
        assert tracer is not None
        self.assertFalse(tracer.emit)
        self.assertEqual(len(tracer.events), 11)
        self.assertFalse(any(line.startswith("+") for line in drawn.err_lines))
        self.assertEqual(given[0], None)
        self.assertIsNotNone(given[1])

    def test_traceTurnsOffProgress(self) -> None:
        """
        With --trace the live progress bar is not drawn, even where it would
        be: no redraw timer, no terminal escapes among the trace lines.
        """
        h = Harness(self, "--trace", "10001", progress=True)
        self.assertEqual(len(h.reactor.getDelayedCalls()), 1)  # the timeout only
        h.serve(1, FIRST)
        self.assertEqual(h.status, 0)
        self.assertNotIn("\x1b", h.stderr.getvalue())
        self.assertIn("task 1 protocol.connectionMade", h.stderr.getvalue())

    def test_timelineOneRowPerTask(self) -> None:
        """
        --timeline draws, after the downloads and before the summary, one
        row per task in task order, each with its address, end mark and
        outcome (ok, failed, timeout), then the time axis and a legend.
        """
        h = TracedHarness(self, "--timeline", "--timeout", "2", "1", "2", "3")
        h.reactor.advance(0.1)
        h.refuse(2)
        p1, p3 = h.connect(1), h.connect(3)
        h.reactor.advance(0.4)
        p1.dataReceived(FIRST)
        p3.dataReceived(b"part")
        h.reactor.advance(0.5)
        h.close(1)
        h.reactor.advance(1)
        self.assertEqual(h.status, 1)
        lines = h.err_lines
        starts = [i for i, line in enumerate(lines) if line.startswith("timeline: ")]
        self.assertEqual(len(starts), 1)
        self.assertTrue(lines[starts[0]].startswith("timeline: 3 tasks in 2.000s"))
        rows = timeline_rows(lines)
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows, lines[starts[0] + 1 : starts[0] + 4])
        ends = [re.search(r"\| (\w+) +(\d+) B$", row) for row in rows]
        self.assertEqual(
            [(m.group(1), int(m.group(2))) for m in ends if m],
            [("ok", len(FIRST)), ("failed", 0), ("timeout", 4)],
        )
        for row, task, mark in zip(rows, "123", "*XT", strict=True):
            self.assertTrue(row.startswith(f"task {task} 127.0.0.1:{task} "), row)
            self.assertIn(mark, row)  # stderr is not UTF-8: plain characters
        self.assertTrue(any(line.startswith("legend: ") for line in lines))
        summary = [i for i, line in enumerate(lines) if line.startswith("Task ")]
        self.assertEqual(len(summary), 3)
        self.assertGreater(min(summary), starts[0] + 3)
        self.assertIn(FIRST, h.out)
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_timelineInterrupted(self) -> None:
        """A task cancelled by Ctrl-C is drawn as cancelled, as the summary says."""
        h = TracedHarness(self, "--timeline", "10001")
        h.connect(1).dataReceived(b"four")
        h.run.interrupt()
        h.reactor.advance(0)
        self.assertEqual(h.status, 130)
        [row] = timeline_rows(h.err_lines)
        self.assertTrue(row.endswith("| cancelled 4 B"), row)

    def test_timelineSVG(self) -> None:
        """
        --timeline-svg writes a standalone SVG file that parses as XML, with
        one group per task carrying its number and outcome, and its address
        as the label; nothing is drawn on stderr.
        """
        path = tempDir(self) / "timeline.svg"
        h = TracedHarness(
            self, "--timeline-svg", str(path), "--timeout", "2", "10001", "10002"
        )
        h.connect(2)
        h.reactor.advance(1)
        h.serve(1, FIRST)
        h.reactor.advance(1)
        self.assertEqual(h.status, 1)
        root = ElementTree.parse(path).getroot()
        self.assertEqual(root.tag, f"{SVG}svg")
        groups = root.findall(f"{SVG}g[@class='task']")
        self.assertEqual([g.get("data-task") for g in groups], ["1", "2"])
        self.assertEqual([g.get("data-outcome") for g in groups], ["ok", "timeout"])
        labels = [g.find(f"{SVG}text").text for g in groups]  # type: ignore[union-attr]
        self.assertEqual(labels, ["task 1  127.0.0.1:10001", "task 2  127.0.0.1:10002"])
        self.assertFalse(any(line.startswith("timeline") for line in h.err_lines))
        self.assertIn(FIRST, h.out)

    def test_timelineSVGUnwritable(self) -> None:
        """
        If the SVG file cannot be written when the downloads end, that is
        one error line and status 1, and nothing is lost: the poem is still
        printed and the summary written.
        """
        directory = tempDir(self) / "gone"
        directory.mkdir()
        path = directory / "timeline.svg"
        h = TracedHarness(self, "--timeline-svg", str(path), "10001")
        directory.rmdir()  # checked up front, gone by the end
        h.serve(1, FIRST)
        self.assertEqual(h.status, 1)
        self.assertIn(FIRST, h.out)
        errors = [line for line in h.err_lines if "error" in line]
        self.assertEqual(
            errors,
            [
                f"get-poetry: error: cannot write timeline SVG {str(path)!r}:"
                " No such file or directory"
            ],
        )
        self.assertEqual(h.err_lines[-1], "Got 1 of 1 poem in 0.00 seconds")
        self.assertNotIn("Traceback", h.stderr.getvalue())
        self.assertFalse(path.exists())

    def test_timelineSVGUsageErrors(self) -> None:
        """
        An SVG path that cannot be written is a usage error before anything
        starts: its directory missing, or the path a directory.
        """
        base = tempDir(self)
        for path, fragment in [
            (base / "missing" / "t.svg", "does not exist"),
            (base, "is a directory"),
        ]:
            h = Harness(self, "--timeline-svg", str(path), "10001")
            self.assertEqual(h.status, 2)
            [line] = h.err_lines
            self.assertTrue(
                line.startswith("get-poetry: error: argument --timeline-svg")
            )
            self.assertIn(fragment, line)
            self.assertEqual(h.reactor.tcpClients, [])


class TraceProcessTests(TestCase):
    """C{python -m poetry --trace --timeline} as a real process."""

    async def test_traceAndTimeline(self) -> None:
        """
        Against a real server: the trace lines of the one task in the real
        order of Twisted's callbacks, the factory's doStop included, then the
        timeline's row, then the summary.
        """
        port = serve(self, FIRST)
        out, err, status = await get_poetry("--trace", "--timeline", str(port))
        self.assertEqual(status, 0, err)
        self.assertEqual(out.count(FIRST), 1)
        lines = err.decode().splitlines()
        trace = [line for line in lines if line.startswith("+")]
        names: list[str] = []
        for line in trace:
            self.assertRegex(line, r"^\+\d+\.\d{3}s task 1 \w+\.\w+")
            name = line.split()[3]
            if not (name == "protocol.dataReceived" and names[-1:] == [name]):
                names.append(name)
        self.assertEqual(names, POEM_TRACE)
        self.assertEqual(lines[: len(trace)], trace)
        self.assertTrue(lines[len(trace)].startswith("timeline: 1 task in "))
        [row] = timeline_rows(lines)
        self.assertTrue(row.startswith(f"task 1 127.0.0.1:{port} "), row)
        self.assertEqual(lines[-1][:15], "Got 1 of 1 poem")
