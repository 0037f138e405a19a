"""
Tests for what C{get-poetry} writes and how it ends, in-process on a fake
reactor: broken and full outputs, saving whole files, memory that follows
what is in flight, terminal escaping, the progress bar, the summary's
wording, signals, the resolver and the file limit.
"""

from __future__ import annotations

import errno
import gc
import io
import json
import os
import signal
import threading
import weakref
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry import cli
from poetry.addresses import Address
from poetry.cli import signals as cli_signals
from poetry.cli.command import _usage
from poetry.cli.console import ERASE_LINE
from poetry.cli.output import ClosedStream, FileStream, OutputStream
from poetry.cli.progress import ProgressBar, format_size
from poetry.cli.saving import MAX_NAME_BYTES, SaveError, Saver, file_stem
from poetry.cli.terminal import escape_for_terminal
from tests.test_cli import FIRST, SECOND, RunHarness, tempDir


class TTY(io.BytesIO):
    """A binary file that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Failing(io.BytesIO):
    """A binary file whose writes fail with C{errno}."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, data: Any) -> int:
        raise OSError(self.code, os.strerror(self.code))


class BrokenOutputTests(SynchronousTestCase):
    """A stdout that cannot be written: one line, the right status."""

    def test_fullDisk(self) -> None:
        """ENOSPC on stdout (C{>/dev/full}): one error line, status 1."""
        h = RunHarness(self, "10001", stdout=Failing(errno.ENOSPC))
        h.serve(1, FIRST)
        self.assertEqual(h.status, 1)
        errors = [line for line in h.err_lines if "error" in line]
        self.assertEqual(
            errors,
            ["get-poetry: error: cannot write to stdout: No space left on device"],
        )

    def test_brokenPipeStopsDownloads(self) -> None:
        """
        EPIPE (C{| head -c 10}): the downloads still running are cancelled
        at once, from inside the result whose poem could not be written
        (nothing can be delivered any more), status 141.
        """
        h = RunHarness(self, "10001", "10002", stdout=Failing(errno.EPIPE))
        h.serve(1, FIRST)
        self.assertEqual(h.status, cli.EXIT_BROKEN_PIPE)
        self.assertEqual(h.reactor.getDelayedCalls(), [])
        self.assertTrue(h.err_lines[2].startswith("Task 2: cancelled"), h.err_lines)

    def test_stdoutClosed(self) -> None:
        """
        Stdout closed (C{>&-}) and poems to print: one line, status 1,
        nothing fetched.
        """
        for argv in (["10001"], ["--json", "10001"]):
            h = RunHarness(self, *argv, stdout=ClosedStream("stdout"))
            self.assertEqual(h.status, 1)
            self.assertEqual(len(h.err_lines), 1, h.err_lines)
            self.assertIn("stdout is closed", h.err_lines[0])
            self.assertEqual(h.reactor.tcpClients, [])

    def test_stdoutClosedWithOutputDir(self) -> None:
        """Stdout closed, --output-dir: the poems are saved, status 0."""
        directory = tempDir(self)
        h = RunHarness(
            self, "--output-dir", str(directory), "10001",
            stdout=ClosedStream("stdout"),
        )  # fmt: skip
        h.serve(1, FIRST)
        self.assertEqual(h.status, 0)
        self.assertEqual((directory / "1-127.0.0.1-10001.txt").read_bytes(), FIRST)

    def test_stderrClosed(self) -> None:
        """
        Stderr closed (C{2>&-}): a successful run is 0 and a usage error 2
        (the message has nowhere to go).
        """
        h = RunHarness(self, "10001", stderr=ClosedStream("stderr"))
        h.serve(1, FIRST)
        self.assertEqual(h.status, 0)
        self.assertIn(FIRST, h.out)
        self.assertEqual(_usage(None, cli.UsageError("bad")), 2)
        usage: list[int] = []
        cli.run(
            ["--timeout", "0", "1"],
            reactor=MemoryReactorClock(),
            stdout=io.BytesIO(),
            stderr=ClosedStream("stderr"),
        ).addCallback(usage.append)
        self.assertEqual(usage, [2])


class _FullDisk(Saver):
    """A saver whose disk fills after C{room} bytes of each file."""

    room = 5
    seen: list[tuple[bool, list[str]]]

    def write_all(self, fd: int, data: bytes) -> None:
        os.write(fd, data[: self.room])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class SavingTests(SynchronousTestCase):
    """--output-dir: a file is whole under its final name, or absent."""

    def test_fullDiskFailsTheTask(self) -> None:
        """
        The disk fills mid-file: no file left (final or temporary), the task
        failed with the reason in the summary and the JSON, status 1.
        """
        directory = tempDir(self)

        def inject_full_disk(run: cli.Run) -> None:
            saving = run.outputs.saving
            assert saving is not None
            saving.saver = _FullDisk(directory, saving.saver.width)

        h = RunHarness(
            self, "--json", "--output-dir", str(directory), "10001",
            before=inject_full_disk,
        )  # fmt: skip
        h.serve(1, FIRST)
        self.assertEqual(h.status, 1)
        self.assertEqual(list(directory.iterdir()), [])
        summary = json.loads(h.out)
        self.assertFalse(summary["ok"])
        self.assertEqual(summary["received"], 0)
        [task] = summary["tasks"]
        self.assertEqual((task["status"], task["file"]), ("failed", None))
        self.assertEqual(task["error"]["type"], "SaveError")
        self.assertIn("No space left on device", task["error"]["message"])
        self.assertIn("No space left on device", h.err_lines[0])
        self.assertTrue(h.err_lines[0].startswith("Task 1: failed"))

    def test_renamedWhenComplete(self) -> None:
        """
        While a poem is written, its final name does not exist (only a
        temporary one does); afterwards only the final one does.
        """
        directory = tempDir(self)
        during: list[list[str]] = []

        class Watching(Saver):
            def write_all(self, fd: int, data: bytes) -> None:
                super().write_all(fd, data[:3])
                during.append(sorted(p.name for p in directory.iterdir()))
                super().write_all(fd, data[3:])

        path = Watching(directory, 1).save(1, Address("127.0.0.1", 7), FIRST)
        [names] = during
        self.assertEqual(len(names), 1)
        self.assertTrue(names[0].startswith(".1-127.0.0.1-7."), names)
        self.assertTrue(names[0].endswith(".part"))
        self.assertEqual([p.name for p in directory.iterdir()], ["1-127.0.0.1-7.txt"])
        self.assertEqual(path.read_bytes(), FIRST)

    def test_neverOverwrites(self) -> None:
        """A taken name gets C{-2}; the existing file is untouched."""
        directory = tempDir(self)
        (directory / "1-h-7.txt").write_bytes(b"old")
        path = Saver(directory, 1).save(1, Address("h", 7), FIRST)
        self.assertEqual(path.name, "1-h-7-2.txt")
        self.assertEqual((directory / "1-h-7.txt").read_bytes(), b"old")

    def test_longHostName(self) -> None:
        """
        A valid 253-character host name is saved under a name of at most
        L{MAX_NAME_BYTES} bytes, unique per host.
        """
        label = "a" * 63
        first = ".".join([label, label, label, "b" * 61])
        second = ".".join([label, label, label, "c" * 61])
        self.assertEqual(len(first), 253)
        directory = tempDir(self)
        saver = Saver(directory, 5)
        one = saver.save(12345, Address(first, 65535), FIRST)
        two = saver.save(12345, Address(second, 65535), SECOND)
        self.assertNotEqual(one.name, two.name)
        self.assertLessEqual(len(one.name.encode()), MAX_NAME_BYTES)
        self.assertEqual((one.read_bytes(), two.read_bytes()), (FIRST, SECOND))
        self.assertEqual(file_stem(1, 1, Address("h", 7)), "1-h-7")

    def test_saveErrorIsOneLine(self) -> None:
        """An unwritable directory is a L{SaveError}, one line."""
        missing = tempDir(self) / "gone"
        with self.assertRaises(SaveError) as caught:
            Saver(missing, 1).save(1, Address("h", 7), FIRST)
        self.assertNotIn("\n", str(caught.exception))


class MemoryTests(SynchronousTestCase):
    """A poem's bytes are not kept once written, printed or summarised."""

    def assertPoemsReleased(self, *argv: str) -> RunHarness:
        refs: list[weakref.ref[Any]] = []

        def spy(run: cli.Run) -> None:
            original = run._on_outcome

            def on_outcome(outcome: Any) -> None:
                refs.append(weakref.ref(outcome.poem))
                original(outcome)

            run._on_outcome = on_outcome  # type: ignore[method-assign]

        h = RunHarness(self, *argv, "10001", "10002", before=spy)
        h.serve(1, FIRST)
        gc.collect()
        self.assertEqual(len(refs), 1)
        self.assertIsNone(refs[0](), "poem kept after it was written")
        h.serve(2, SECOND)
        gc.collect()
        self.assertEqual([r() for r in refs], [None, None])
        self.assertEqual(h.status, 0)
        for result in h.run.results or []:
            self.assertFalse(
                any(isinstance(getattr(result, f), bytes) for f in result.__slots__)
            )
        return h

    def test_json(self) -> None:
        """--json: each poem is released as soon as it is summarised."""
        h = self.assertPoemsReleased("--json")
        self.assertEqual(
            [t["bytes"] for t in json.loads(h.out)["tasks"]], [len(FIRST), len(SECOND)]
        )

    def test_outputDir(self) -> None:
        """--output-dir: each poem is released once saved."""
        self.assertPoemsReleased("--output-dir", str(tempDir(self)))

    def test_printedInOrder(self) -> None:
        """
        Printing: a poem is held only while an earlier task runs, and
        released once printed.
        """
        h = RunHarness(self, "10001", "10002")
        h.serve(2, SECOND)
        assert h.run.outputs.printer is not None
        self.assertEqual(h.run.outputs.printer.held, 1)
        self.assertEqual(h.out, b"")
        h.serve(1, FIRST)
        self.assertEqual(h.run.outputs.printer.held, 0)
        self.assertEqual(h.out.count(b"==>"), 2)


EVIL = (
    b"clear\x1b[2J\x1b[H and copy \x1b]52;c;cm0gLXJmIH4=\x07 and "
    b"\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ nul\x00 "
    b"cr\rhidden\r\n\ttab\xc2\x9b31m\xff\n==> 127.0.0.1:10002 (task 2) <==\n"
    + "caf\u00e9 \u202eevil\n".encode()
)


class TerminalTests(SynchronousTestCase):
    """On a terminal a poem cannot drive it; elsewhere it is exact."""

    def test_escapedOnATerminal(self) -> None:
        """
        Escape sequences, NUL, lone CR, C1 controls, bidi overrides and bad
        UTF-8 are shown as text; a forged header is escaped; CRLF, tab,
        newline and printable Unicode are kept.
        """
        h = RunHarness(self, "10001", "10002", stdout=TTY())
        h.serve(1, EVIL)
        h.serve(2, FIRST)
        out = h.out
        for byte in (b"\x1b", b"\x00", b"\x07", b"\xc2\x9b", b"\xff", b"\r\x68"):
            self.assertNotIn(byte, out)
        self.assertIn(b"clear\\x1b[2J", out)
        self.assertIn(b"\\x1b]52;c;", out)
        self.assertIn(b"nul\\x00", out)
        self.assertIn(b"cr\\rhidden\r\n\ttab\\u009b31m\\xff\n", out)
        self.assertIn("caf\u00e9 \\u202eevil".encode(), out)
        headers = [line for line in out.split(b"\n") if line.startswith(b"==>")]
        self.assertEqual(
            headers,
            [b"==> 127.0.0.1:10001 (task 1) <==", b"==> 127.0.0.1:10002 (task 2) <=="],
        )
        self.assertIn(b"\\==> 127.0.0.1:10002 (task 2) <==", out)

    def test_rawIntoAPipe(self) -> None:
        """Not a terminal: the poem's bytes exactly."""
        h = RunHarness(self, "10001")
        h.serve(1, EVIL)
        self.assertIn(EVIL, h.out)

    def test_escapeFunction(self) -> None:
        """The escaper on its own: unchanged when there is nothing to hide."""
        plain = "tab\tline\r\nüñï ✓\n".encode()
        self.assertEqual(escape_for_terminal(plain), plain)
        self.assertEqual(escape_for_terminal(b"\x7f\x1b"), b"\\x7f\\x1b")
        self.assertEqual(escape_for_terminal(b"a\n==>b\n ==>"), b"a\n\\==>b\n ==>")


class ProgressBarTests(SynchronousTestCase):
    """The bar: erased before anything is printed, never left behind."""

    def test_erasedBeforePoemsAndStreaming(self) -> None:
        """
        Stdout and stderr on one terminal: poems are printed as they become
        printable while others still download, each after erasing the bar,
        which is redrawn below them and erased at the end.
        """
        screen = TTY()
        h = RunHarness(
            self, "10001", "10002", "10003", stdout=screen, stderr=screen,
            progress=True,
        )  # fmt: skip
        h.reactor.advance(0.1)
        h.serve(1, FIRST)
        h.reactor.advance(0.1)
        self.assertIn(b"==> 127.0.0.1:10001 (task 1) <==", screen.getvalue())
        h.refuse(2)
        h.reactor.advance(0.1)
        self.assertIn(b"1 failed", screen.getvalue())
        h.serve(3, SECOND * 1000)
        self.assertEqual(h.status, 1)
        segments = screen.getvalue().split(ERASE_LINE)
        bars = [s for s in segments if s.startswith(b"poems ")]
        self.assertGreaterEqual(len(bars), 3)
        for segment in bars:
            # Nothing was ever written after a bar without erasing it first.
            self.assertNotIn(b"\n", segment)
        self.assertFalse(segments[-1].startswith(b"poems "))
        self.assertIn(b"Got 2 of 3 poems", segments[-1])
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_render(self) -> None:
        """Counts, failures, human-readable sizes, and a fitting width."""
        bar = ProgressBar(10)
        bar.done, bar.failed, bar.received = 3, 1, 1536
        line = bar.render(65.0, width=80)
        self.assertTrue(line.startswith("poems  3/10 ["), line)
        self.assertIn("1.5 KiB  1 failed  1:05", line)
        self.assertLess(len(line), 80)
        self.assertLess(len(bar.render(1.0, width=20)), 20)
        self.assertEqual(
            [format_size(n) for n in (0, 1023, 1024, 10 * 1024 * 1024)],
            ["0 B", "1023 B", "1.0 KiB", "10.0 MiB"],
        )

    def test_noBarWhenStdoutIsAPipe(self) -> None:
        """
        Stderr a terminal but stdout a pipe carrying poems (C{| cat}): no
        bar, since the poems may reach the same terminal through cat after
        it was drawn.  With --output-dir there is nothing on stdout: a bar.
        """

        class Pipe(OutputStream):
            kind = "fifo"

            def write(self, data: bytes) -> None:
                pass

        tty = FileStream(TTY(), "stderr")
        run = cli.Run(
            cli.parse_args(["10001"]),
            reactor=MemoryReactorClock(),
            stdout=Pipe(),
            stderr=tty,
        )
        self.assertFalse(run.show_progress)
        run = cli.Run(
            cli.parse_args(["--output-dir", str(tempDir(self)), "10001"]),
            reactor=MemoryReactorClock(),
            stdout=Pipe(),
            stderr=tty,
        )
        self.assertTrue(run.show_progress)


class WordingTests(SynchronousTestCase):
    """The summary says each thing once, in plain words."""

    def test_verboseOnce(self) -> None:
        """-v: each task's result line appears once, not again at the end."""
        h = RunHarness(self, "-v", "10001", "10002")
        h.serve(1, FIRST)
        h.refuse(2)
        self.assertEqual(h.status, 1)
        results = [line for line in h.err_lines if ": got " not in line]
        self.assertEqual(len(results), 3, results)
        self.assertEqual(len(set(results)), 3, results)

    def test_oneOfOne(self) -> None:
        """C{Got 1 of 1 poem}, C{1 byte}."""
        h = RunHarness(self, "10001")
        h.serve(1, b"x")
        self.assertEqual(
            h.err_lines[0], "Task 1: ok, 1 byte in 0.00 s from 127.0.0.1:10001"
        )
        self.assertTrue(h.err_lines[1].startswith("Got 1 of 1 poem in "))

    def test_failureSaysBytesOnce(self) -> None:
        """A failure's line has the error's own byte count, once."""
        h = RunHarness(self, "--timeout", "2", "10001")
        h.connect(1).dataReceived(b"1234567890")
        h.reactor.advance(2)
        [line, _] = h.err_lines
        self.assertEqual(line.count("bytes"), 1, line)
        self.assertEqual(line.count("("), 0, line)


class SignalTests(SynchronousTestCase):
    """SIGTERM and SIGHUP end a run as Ctrl-C does, with 128 + signal."""

    def test_terminate(self) -> None:
        """
        SIGTERM: the arrived poem printed, the rest cancelled, the JSON
        says interrupted, status 143.
        """
        for signum, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
            h = RunHarness(self, "--json", "10001", "10002")
            h.serve(1, FIRST)
            h.connect(2).dataReceived(b"part")
            h.run.interrupt(signum)
            self.assertEqual(h.status, status)
            summary = json.loads(h.out)
            self.assertTrue(summary["interrupted"])
            self.assertEqual(
                [t["status"] for t in summary["tasks"]], ["ok", "cancelled"]
            )
            self.assertIn(
                f"(interrupted by {signal.Signals(signum).name})", h.err_lines[-1]
            )

    def test_handlers(self) -> None:
        """
        The entry point's handler: the first signal interrupts the run with
        that signal, the second stops waiting for output, the third exits.
        """

        class Reactor:
            calls: list[tuple[Any, ...]] = []

            def callFromThread(self, f: Any, *args: Any) -> None:
                self.calls.append((f, *args))

        reactor = Reactor()
        run = cli.Run(
            cli.parse_args(["10001"]),
            reactor=MemoryReactorClock(),
            stdout=io.BytesIO(),
            stderr=io.StringIO(),
        )
        exits: list[int] = []
        previous = signal.getsignal(signal.SIGTERM)
        self.addCleanup(signal.signal, signal.SIGTERM, previous)
        handler = cli_signals._install_stop_handlers(
            reactor, run, [signal.SIGTERM], exits.append
        )
        self.assertIs(signal.getsignal(signal.SIGTERM), handler)
        handler(signal.SIGTERM, None)
        self.assertEqual(reactor.calls, [(run.interrupt, signal.SIGTERM)])
        handler(signal.SIGTERM, None)
        self.assertEqual(reactor.calls[1], (run.abandon_output,))
        handler(signal.SIGTERM, None)
        self.assertEqual(exits, [128 + signal.SIGTERM])

    def test_ignoredSignalsStayIgnored(self) -> None:
        """A signal ignored at start (C{nohup}) is not taken over."""
        previous = signal.getsignal(signal.SIGHUP)
        self.addCleanup(signal.signal, signal.SIGHUP, previous)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.assertNotIn(signal.SIGHUP, cli_signals._wanted_signals())
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        self.assertIn(signal.SIGHUP, cli_signals._wanted_signals())


class EntryPointTests(SynchronousTestCase):
    """What only the program's entry point changes: resolver, file limit."""

    def test_resolverThreadsDoNotHoldExit(self) -> None:
        """
        The installed resolver runs lookups in daemon threads: a lookup
        that never answers leaves no thread that blocks the process's exit.
        """
        never = threading.Event()

        class Reactor:
            resolver: Any = None

            def installNameResolver(self, resolver: Any) -> None:
                self.resolver = resolver

        reactor = Reactor()
        pool = cli.install_resolver(reactor)
        self.addCleanup(pool.stop)
        self.addCleanup(never.set)  # runs first: the thread can then be joined
        self.assertIsNotNone(reactor.resolver)
        self.assertIs(reactor.resolver._getThreadPool(), pool)
        pool.callInThread(never.wait)
        [thread] = pool.threads
        self.assertTrue(thread.daemon)

    def test_raiseOpenFileLimit(self) -> None:
        """The soft limit is raised to the hard one, never lowered."""

        class Resource:
            RLIMIT_NOFILE = 7
            RLIM_INFINITY = -1

            def __init__(self, soft: int, hard: int) -> None:
                self.limits = (soft, hard)
                self.set: list[tuple[int, int]] = []

            def getrlimit(self, which: int) -> tuple[int, int]:
                return self.limits

            def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
                self.set.append(limits)

        low = Resource(1024, 524288)
        cli.raise_open_file_limit(low)
        self.assertEqual(low.set, [(524288, 524288)])
        high = Resource(4096, 4096)
        cli.raise_open_file_limit(high)
        self.assertEqual(high.set, [])


class KeepOutcomesTests(SynchronousTestCase):
    """C{get_poems(keep_outcomes=False)}, which the CLI uses."""

    def test_givenOnlyToOnOutcome(self) -> None:
        """Each outcome reaches C{on_outcome}; the result list stays empty."""
        from poetry.client import get_poems

        reactor = MemoryReactorClock()
        seen: list[Any] = []
        results: list[Any] = []
        get_poems(
            ["10001", "10002"],
            reactor=reactor,
            on_outcome=seen.append,
            keep_outcomes=False,
        ).addCallback(results.append)
        for _, _, factory, *_ in reactor.tcpClients:
            proto = factory.buildProtocol(None)
            proto.makeConnection(StringTransport())
            proto.dataReceived(FIRST)
            proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(results, [[]])
        self.assertEqual([o.poem.data for o in seen], [FIRST, FIRST])
