"""
C{get-poetry} as a real process, against a server in this test on
127.0.0.1: standard streams that are slow, full, closed early or not open
at all, signals, and a name lookup that never answers.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.helpers import waitFor
from tests.test_cli import CHECKOUT, FIRST, child_env, serve, tempDir

BIG = b"".join(b"line %07d of a long poem, sent fast\n" % i for i in range(28000))
"""About 1 MB: two of them are 2 MB, far more than a pipe holds."""

SLOW = b"a slow, slow poem\n" * 400
"""With C{delay=0.05} and 8-byte chunks: about 45 s, never waited for."""


class Child(ProcessProtocol):
    """Collects a child's output by descriptor; C{ended} fires with it."""

    def __init__(self, on_err: Any = None) -> None:
        self.data: dict[int, bytes] = {}
        self.ended: Deferred[Any] = Deferred()
        self.on_err = on_err

    def childDataReceived(self, fd: int, data: bytes) -> None:
        self.data[fd] = self.data.get(fd, b"") + data
        if fd == 2 and self.on_err is not None:
            self.on_err(self)

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)

    @property
    def out(self) -> bytes:
        return self.data.get(1, b"")

    @property
    def err(self) -> bytes:
        return self.data.get(2, b"")


def spawn(
    case: TestCase,
    argv: list[str], childFDs: dict[int, Any], on_err: Any = None,
    env: dict[str, str] | None = None,
) -> Child:  # fmt: skip
    """Start C{python ARGV} with C{childFDs}, killed after C{case}; return it."""
    from twisted.internet import reactor

    child = Child(on_err)
    reactor.spawnProcess(
        child,
        sys.executable,
        [sys.executable, *argv],
        env={**child_env(), **(env or {})},
        path=CHECKOUT,
        childFDs=childFDs,
    )

    def reap() -> Deferred[Any] | None:
        # A failed test leaves no child behind.
        if child.ended.called:
            return None
        child.transport.signalProcess("KILL")
        return child.ended

    case.addCleanup(reap)
    return child


async def read_all(fd: int) -> bytes:
    """Everything from C{fd} until end of file, read without blocking."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    ended = False

    def read() -> bool:
        nonlocal ended
        for _ in range(64):
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return False
            if not chunk:
                ended = True
                return True
            chunks.append(chunk)
        return False

    await waitFor(read, tries=12000)
    return b"".join(chunks)


class StreamTests(TestCase):
    """Every byte delivered, or one line and the right exit status."""

    async def test_nonBlockingStdoutReadLate(self) -> None:
        """
        PYTHONUNBUFFERED=1, stdout a non-blocking pipe read only after a
        while: all 2 MB of poems arrive and the status is 0.
        """
        from twisted.internet import reactor

        port = serve(self, BIG)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        os.set_blocking(w, False)
        child = spawn(
            self,
            ["-m", "poetry", str(port), str(port)],
            {0: "w", 1: w, 2: "r"},
            env={"PYTHONUNBUFFERED": "1"},
        )
        os.close(w)
        await deferLater(reactor, 1.0, lambda: None)  # read late
        out = await read_all(r)
        status = await child.ended
        self.assertEqual(status, 0, child.err)
        self.assertEqual(out.count(BIG), 2)
        self.assertIn(b"Got 2 of 2 poems", child.err)

    async def test_unreadStdoutFreezesNothing(self) -> None:
        """
        A blocking stdout pipe nobody reads yet: the downloads go on (the
        second poem, from a slow server, ends and says so on stderr while
        the first still waits in the pipe); reading later gets every byte.
        """
        fast, slow = serve(self, BIG), serve(self, FIRST, delay=0.01)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        child = spawn(
            self, ["-m", "poetry", "-v", str(fast), str(slow)], {0: "w", 1: w, 2: "r"}
        )
        os.close(w)
        await waitFor(lambda: b"Task 2: ok" in child.err)
        out = await read_all(r)
        self.assertEqual(await child.ended, 0, child.err)
        self.assertEqual(out.count(BIG), 1)
        self.assertIn(FIRST, out)

    async def test_devFull(self) -> None:
        """C{>/dev/full}: one error line, no traceback, status 1."""
        port = serve(self, FIRST)
        full = os.open("/dev/full", os.O_WRONLY)
        self.addCleanup(os.close, full)
        child = spawn(self, ["-m", "poetry", str(port)], {0: "w", 1: full, 2: "r"})
        status = await child.ended
        self.assertEqual(status, 1, child.err)
        self.assertNotIn(b"Traceback", child.err)
        self.assertIn(
            b"get-poetry: error: cannot write to stdout: No space left on device\n",
            child.err,
        )

    async def test_headClosesThePipe(self) -> None:
        """
        C{| head -c 10}: once the reader is gone the downloads still running
        stop (the slow one is cancelled), no traceback, status 141.
        """
        fast, slow = serve(self, BIG), serve(self, SLOW, delay=0.05)
        r, w = os.pipe()
        child = spawn(
            self, ["-m", "poetry", str(fast), str(slow)], {0: "w", 1: w, 2: "r"}
        )
        os.close(w)
        os.set_blocking(r, False)
        got = b""

        def ten_bytes() -> bool:
            nonlocal got
            try:
                got += os.read(r, 10 - len(got))
            except BlockingIOError:
                pass
            return len(got) == 10

        await waitFor(ten_bytes)
        os.close(r)
        status = await child.ended
        self.assertEqual(status, 141, child.err)
        self.assertNotIn(b"Traceback", child.err)
        self.assertIn(b"Task 2: cancelled", child.err)
        self.assertIn(b"broken pipe", child.err)

    async def test_stdoutClosed(self) -> None:
        """
        C{>&-}: without --output-dir one line and status 1; with it the
        poem is saved and the status is 0.
        """
        port = serve(self, FIRST)
        child = spawn(self, ["-m", "poetry", str(port)], {0: "w", 2: "r"})
        self.assertEqual(await child.ended, 1)
        self.assertEqual(len(child.err.splitlines()), 1, child.err)
        self.assertIn(b"stdout is closed", child.err)
        directory = str(tempDir(self))  # outside the checkout
        child = spawn(
            self,
            ["-m", "poetry", "--output-dir", directory, str(port)],
            {0: "w", 2: "r"},
        )
        self.assertEqual(await child.ended, 0, child.err)
        self.assertNotIn(b"Traceback", child.err)
        [name] = os.listdir(directory)
        with open(os.path.join(directory, name), "rb") as f:
            self.assertEqual(f.read(), FIRST)

    async def test_stderrClosed(self) -> None:
        """C{2>&-}: success is 0 and a usage error 2."""
        port = serve(self, FIRST)
        child = spawn(self, ["-m", "poetry", str(port)], {0: "w", 1: "r"})
        self.assertEqual(await child.ended, 0)
        self.assertIn(FIRST, child.out)
        child = spawn(
            self, ["-m", "poetry", "--timeout", "-1", str(port)], {0: "w", 1: "r"}
        )
        self.assertEqual(await child.ended, 2)


class SignalProcessTests(TestCase):
    """SIGTERM and SIGHUP: the same ending as Ctrl-C, status 128 + signal."""

    async def stop_with(self, name: str, status: int) -> None:
        fast, slow = serve(self, FIRST), serve(self, SLOW, delay=0.05)
        sent = []

        def when_data(child: Child) -> None:
            if not sent and b"bytes of poetry from 127.0.0.1:%d" % slow in child.err:
                sent.append(name)
                child.transport.signalProcess(name)

        child = spawn(
            self,
            ["-m", "poetry", "-v", "--json", "--timeout", "60", str(fast), str(slow)],
            {0: "w", 1: "r", 2: "r"},
            on_err=when_data,
        )
        self.assertEqual(await child.ended, status, child.err)
        self.assertNotIn(b"Traceback", child.err)
        self.assertNotIn(b"PoemTruncated", child.out)
        summary = json.loads(child.out)
        self.assertTrue(summary["interrupted"])
        self.assertEqual([t["status"] for t in summary["tasks"]], ["ok", "cancelled"])
        self.assertIn(f"(interrupted by SIG{name})".encode(), child.err)

    async def test_sigterm(self) -> None:
        """SIGTERM mid-download: cancelled, interrupted, status 143."""
        await self.stop_with("TERM", 143)

    async def test_interruptWhileStdoutUnread(self) -> None:
        """
        Every poem fetched, but stdout (a pipe) is not read: Ctrl-C stops
        waiting for it, says so, and the status is 130.
        """
        port = serve(self, BIG)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        sent = []

        def whenDone(child: Child) -> None:
            if not sent and b"Task 1: ok" in child.err:
                sent.append(True)
                child.transport.signalProcess("INT")

        child = spawn(
            self, ["-m", "poetry", "-v", str(port)], {0: "w", 1: w, 2: "r"},
            on_err=whenDone,
        )  # fmt: skip
        os.close(w)
        self.assertEqual(await child.ended, 130, child.err)
        self.assertIn(b"stopped waiting for stdout", child.err)
        self.assertIn(b"Got 1 of 1 poem in", child.err)
        self.assertNotIn(b"Traceback", child.err)

    async def test_sighup(self) -> None:
        """SIGHUP mid-download: cancelled, interrupted, status 129."""
        await self.stop_with("HUP", 129)


HANGING_LOOKUP = """
import socket, sys, threading
from twisted.internet import reactor
from twisted.internet._resolver import GAIResolver

never = threading.Event()

def hang(*args, **kwargs):
    never.wait()  # never set: this lookup never returns

socket.getaddrinfo = hang
# Twisted's own resolver, should the program keep it, hangs the same way.
reactor.installNameResolver(GAIResolver(reactor, getaddrinfo=hang))
from poetry.cli import main
main(["--timeout", "1", "never.invalid:10000"])
"""


class ResolverProcessTests(TestCase):
    """A name lookup that never answers does not keep the process alive."""

    async def test_hangingLookup(self) -> None:
        """
        The lookup never returns, yet the process reports the timeout and
        exits (status 1): no resolver thread holds the exit.
        """
        child = spawn(self, ["-c", HANGING_LOOKUP], {0: "w", 1: "r", 2: "r"})
        status = await child.ended
        self.assertEqual(status, 1, child.err)
        self.assertIn(b"never.invalid:10000: timed out after 1.0 s", child.err)

    test_hangingLookup.timeout = 60  # type: ignore[attr-defined]
