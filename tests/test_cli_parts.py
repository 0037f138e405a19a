"""
Unit tests for the parts of the C{get-poetry} command (L{poetry.cli}): the
pure functions of L{poetry.cli.summary} and each sink on its own, fed by
hand, with a L{Clock} where time matters.  The end-to-end behaviour is in
C{test_cli.py} and C{test_cli_output.py}.
"""

from __future__ import annotations

import errno
import io
import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionAborted
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from poetry import cli
from poetry.addresses import Address
from poetry.cli.command import Outputs
from poetry.cli.console import ERASE_LINE, Console, Screen
from poetry.cli.options import writes_stdout
from poetry.cli.output import FileStream, OutputStream
from poetry.cli.printer import OrderedPrinter, poem_block
from poetry.cli.progress import LiveProgress, wants_progress
from poetry.cli.saving import SaveError, Saver
from poetry.cli.sinks import SavingSink, Sink, VerboseLog
from poetry.cli.summary import (
    JSON_VERSION,
    TaskResult,
    chunk_line,
    closed_stdout_line,
    exit_status,
    json_document,
    json_summary,
    stdout_error_line,
    summary_lines,
    task_line,
)
from poetry.cli.tracing import (
    FactoryWatch,
    TimelineSVG,
    Tracing,
    fan_out,
    new_tracer,
    timeline_rows,
)
from poetry.client import DownloadStatus
from tests.test_cli import FIRST, SECOND, RunHarness, tempDir

A = Address("127.0.0.1", 10001)
B = Address("127.0.0.1", 10002)


def result(
    index: int = 0, status: str = "ok", nbytes: int = 10, **kw: Any
) -> TaskResult:
    return TaskResult(
        index=index,
        address=kw.pop("address", A if index == 0 else B),
        status=DownloadStatus(status),
        bytes=nbytes,
        elapsed=kw.pop("elapsed", 0.25),
        **kw,
    )


def failed(index: int = 0, message: str = "boom", **kw: Any) -> TaskResult:
    return result(
        index, "failed", error_type="PoemTruncated", error_message=message, **kw
    )


class Stream(OutputStream):
    """An L{OutputStream} keeping what is written, of a chosen kind."""

    def __init__(self, kind: str = "file", file: object = None) -> None:
        super().__init__()
        self.kind = kind
        self.file = self if file is None else file
        self.data = b""
        self.closed = False
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> Deferred[None]:
        self.closed = True
        return super().close()


class TaskLineTests(SynchronousTestCase):
    """L{task_line}: one task's summary line."""

    def test_ok(self) -> None:
        self.assertEqual(
            task_line(result(nbytes=1)),
            "Task 1: ok, 1 byte in 0.25 s from 127.0.0.1:10001",
        )
        line = task_line(result(1, nbytes=2, valid_utf8=False, file="d/2.txt"))
        self.assertEqual(
            line,
            "Task 2: ok, 2 bytes in 0.25 s from 127.0.0.1:10002"
            " (invalid UTF-8 replaced) -> d/2.txt",
        )

    def test_valid_utf8_unknown_is_not_invalid(self) -> None:
        """Only C{False} says so: C{None} (not known) says nothing."""
        self.assertNotIn("invalid", task_line(result(valid_utf8=None)))

    def test_cancelled(self) -> None:
        self.assertEqual(
            task_line(result(status="cancelled", nbytes=0)),
            "Task 1: cancelled after 0.25 s from 127.0.0.1:10001",
        )
        self.assertTrue(
            task_line(result(status="cancelled", nbytes=3)).endswith(
                ", 3 bytes received"
            )
        )

    def test_failed(self) -> None:
        self.assertEqual(
            task_line(failed(message="127.0.0.1:10001: cut")),
            "Task 1: failed after 0.25 s: 127.0.0.1:10001: cut",
        )

    def test_not_saved(self) -> None:
        """A poem that arrived but was not saved says how much arrived."""
        r = result(nbytes=5)
        r.fail_saving(SaveError("cannot write d/1.txt: disk full"))
        self.assertEqual((r.status, r.ok), (DownloadStatus.FAILED, False))
        self.assertEqual(
            task_line(r),
            "Task 1: failed after 0.25 s: cannot write d/1.txt: disk full"
            " (5 bytes received, not saved)",
        )

    def test_chunk_line(self) -> None:
        """C{-v}'s chunk line numbers tasks from 1."""
        self.assertEqual(
            chunk_line(2, 1, B), "Task 3: got 1 byte of poetry from 127.0.0.1:10002"
        )


class SummaryLinesTests(SynchronousTestCase):
    """L{summary_lines}: what stderr says at the end."""

    results = [result(0), failed(1)]

    def lines(self, **kw: Any) -> list[str]:
        options = {"elapsed": 1.5, "signum": None, "quiet": False, "verbose": False}
        options.update(kw)
        return summary_lines(self.results, **options)

    def test_default(self) -> None:
        lines = self.lines()
        self.assertEqual(lines[:2], [task_line(r) for r in self.results])
        self.assertEqual(lines[2:], ["Got 1 of 2 poems in 1.50 seconds"])

    def test_quiet_lists_only_failures(self) -> None:
        """C{-q}: the failed tasks' lines, nothing else."""
        self.assertEqual(self.lines(quiet=True), [task_line(self.results[1])])

    def test_verbose_only_the_total(self) -> None:
        """C{-v} said how each task ended: only the total is left."""
        self.assertEqual(self.lines(verbose=True), ["Got 1 of 2 poems in 1.50 seconds"])

    def test_one_poem(self) -> None:
        self.results = [result()]
        self.assertEqual(self.lines()[-1], "Got 1 of 1 poem in 1.50 seconds")

    def test_interrupted(self) -> None:
        """Ctrl-C is "interrupted"; another signal is named."""
        self.assertTrue(self.lines(signum=signal.SIGINT)[-1].endswith(" (interrupted)"))
        self.assertTrue(
            self.lines(signum=signal.SIGTERM)[-1].endswith(" (interrupted by SIGTERM)")
        )

    def test_closed_stdout_line(self) -> None:
        self.assertEqual(
            closed_stdout_line(json=True),
            "get-poetry: error: stdout is closed: nowhere to write the JSON summary",
        )
        self.assertIn("--output-dir DIR", closed_stdout_line(json=False))


class JSONTests(SynchronousTestCase):
    """L{json_document} and L{json_summary}: the C{--json} summary."""

    def test_document(self) -> None:
        results = [result(0, nbytes=7, peer="127.0.0.1:10001"), failed(1)]
        document = json_document(results, elapsed=1.23456789, interrupted=False)
        self.assertEqual(
            {k: v for k, v in document.items() if k != "tasks"},
            {
                "version": JSON_VERSION,
                "ok": False,
                "interrupted": False,
                "received": 1,
                "total": 2,
                "elapsed": 1.234568,
            },
        )
        ok, bad = document["tasks"]
        # Every key is in test_cli's schema test; here, what comes from where.
        self.assertEqual(
            (ok["task"], ok["address"], ok["port"], ok["bytes"], ok["peer"]),
            (1, "127.0.0.1:10001", 10001, 7, "127.0.0.1:10001"),
        )
        self.assertEqual((ok["valid_utf8"], ok["error"]), (None, None))
        self.assertEqual(bad["task"], 2)
        self.assertEqual(bad["error"], {"type": "PoemTruncated", "message": "boom"})

    def test_timeout_is_failed(self) -> None:
        """A timeout's C{"status"} is its verdict, C{"failed"}."""
        timed_out = result(status="timeout", error_type="PoemTimeout")
        [task] = json_document([timed_out], elapsed=0, interrupted=False)["tasks"]
        self.assertEqual(task["status"], "failed")

    def test_all_ok(self) -> None:
        document = json_document([result(0), result(1)], elapsed=0, interrupted=True)
        self.assertEqual((document["ok"], document["interrupted"]), (True, True))
        self.assertEqual([t["task"] for t in document["tasks"]], [1, 2])

    def test_bytes(self) -> None:
        """Indented UTF-8 (not C{\\u} escapes), one newline at the end."""
        name = Address("po\u00e8me", 7)
        text = json_summary([failed(address=name)], elapsed=0, interrupted=False)
        self.assertTrue(text.endswith(b"}\n"))
        self.assertFalse(text.endswith(b"\n\n"))
        self.assertIn("po\u00e8me".encode(), text)
        self.assertIn(b'\n  "ok": false', text)
        self.assertEqual(json.loads(text)["tasks"][0]["host"], "po\u00e8me")


class StdoutErrorTests(SynchronousTestCase):
    """L{stdout_error_line}: what went wrong with stdout, in one line."""

    def test_none(self) -> None:
        self.assertIsNone(stdout_error_line(None, broken_pipe=False, written=0))

    def test_broken_pipe(self) -> None:
        line = stdout_error_line(BrokenPipeError(), broken_pipe=True, written=3)
        self.assertEqual(
            line,
            "get-poetry: stdout was closed by its reader (broken pipe):"
            " downloads stopped",
        )

    def test_abandoned(self) -> None:
        line = stdout_error_line(ConnectionAborted(), broken_pipe=False, written=1)
        self.assertEqual(
            line,
            "get-poetry: error: stopped waiting for stdout: 1 byte written,"
            " not all delivered",
        )

    def test_os_error(self) -> None:
        error = OSError(errno.ENOSPC, "No space left on device")
        self.assertEqual(
            stdout_error_line(error, broken_pipe=False, written=0),
            "get-poetry: error: cannot write to stdout: No space left on device",
        )


class ExitStatusTests(SynchronousTestCase):
    """L{exit_status}: which failure wins."""

    def status(self, results: list[TaskResult], **kw: Any) -> int:
        options = {"signum": None, "broken_pipe": False, "output_failed": False}
        options.update(kw)
        return exit_status(results, **options)

    def test_ok(self) -> None:
        self.assertEqual(self.status([result(0), result(1)]), cli.EXIT_OK)
        self.assertEqual(self.status([]), cli.EXIT_OK)

    def test_any_failure(self) -> None:
        self.assertEqual(self.status([result(0), failed(1)]), cli.EXIT_FAILED)
        cancelled = result(status="cancelled")
        self.assertEqual(self.status([cancelled]), cli.EXIT_FAILED)

    def test_output_failed(self) -> None:
        """Every poem arrived but an output was not written: 1."""
        self.assertEqual(self.status([result()], output_failed=True), cli.EXIT_FAILED)

    def test_broken_pipe_over_failures(self) -> None:
        self.assertEqual(
            self.status([failed()], broken_pipe=True, output_failed=True),
            cli.EXIT_BROKEN_PIPE,
        )

    def test_signal_over_everything(self) -> None:
        self.assertEqual(
            self.status([failed()], signum=signal.SIGTERM, broken_pipe=True),
            128 + signal.SIGTERM,
        )


class ScreenTests(SynchronousTestCase):
    """L{Screen}: the bar is erased before anything else is written."""

    def test_erased_once_before_writing(self) -> None:
        stream = Stream("tty")
        screen = Screen(stream)
        screen.write_line("a")
        self.assertEqual(stream.data, b"a\n")
        screen.draw("bar")
        screen.write_line("b")
        screen.write_line("c")
        self.assertEqual(
            stream.data, b"a\n" + ERASE_LINE + b"bar" + ERASE_LINE + b"b\nc\n"
        )

    def test_erase(self) -> None:
        stream = Stream("tty")
        screen = Screen(stream)
        screen.erase()
        self.assertEqual(stream.data, b"")
        screen.draw("bar")
        screen.erase()
        screen.erase()
        self.assertEqual(stream.data, ERASE_LINE + b"bar" + ERASE_LINE)
        self.assertFalse(screen.bar_drawn)

    def test_unencodable_replaced(self) -> None:
        stream = Stream()
        Screen(stream).write_line("\udc80")
        self.assertEqual(stream.data, b"?\n")


class ConsoleTests(SynchronousTestCase):
    """L{Console}: stdout and stderr, one stream when one terminal."""

    def test_separate(self) -> None:
        out, err = Stream(), Stream()
        console = Console(out, err)
        self.assertFalse(console.merged)
        console.write_out(b"poem")
        console.write_line("line")
        self.assertEqual((out.data, err.data), (b"poem", b"line\n"))
        console.stdout_done()
        self.assertTrue(out.closed)
        self.assertFalse(err.closed)
        console.abandon_stdout()
        self.assertTrue(out.aborted)

    def test_merged(self) -> None:
        """One terminal: everything goes to stdout, closed with stderr."""
        tty = io.BytesIO()
        tty.isatty = lambda: True  # type: ignore[method-assign]
        out, err = FileStream(tty, "stdout"), FileStream(tty, "stderr")
        console = Console(out, err)
        self.assertTrue(console.merged)
        console.screen.draw("bar")
        console.write_out(b"poem")
        console.write_line("line")
        self.assertEqual(
            tty.getvalue(), ERASE_LINE + b"bar" + ERASE_LINE + b"poemline\n"
        )
        self.assertEqual(err.written, 0)
        self.successResultOf(console.stdout_done())
        self.successResultOf(console.close())

    def test_merged_closes_stdout_last(self) -> None:
        """
        One terminal: stdout is not closed when the poems are done (the
        summary still goes there), only with stderr at the very end.
        """
        terminal = object()
        out, err = Stream("tty", terminal), Stream("tty", terminal)
        console = Console(out, err)
        self.assertTrue(console.merged)
        self.successResultOf(console.stdout_done())
        self.assertFalse(out.closed)
        console.abandon_stdout()  # the summary still has to reach the terminal
        self.assertFalse(out.aborted)
        self.successResultOf(console.close())
        self.assertEqual((out.closed, err.closed), (True, True))

    def test_closed(self) -> None:
        console = Console(None, None)
        self.assertEqual((console.out.kind, console.err.kind), ("closed", "closed"))


class WantsProgressTests(SynchronousTestCase):
    """L{wants_progress}: the bar only where it cannot garble anything."""

    def wants(self, *argv: str, out: str = "file", err: str = "tty") -> bool:
        options = cli.parse_args([*argv, "10001"])
        return wants_progress(options, Console(Stream(out), Stream(err)))

    def test_terminal_stderr(self) -> None:
        self.assertTrue(self.wants())
        self.assertFalse(self.wants(err="file"))

    def test_chatter(self) -> None:
        self.assertFalse(self.wants("-v"))
        self.assertFalse(self.wants("-q"))

    def test_stdout_pipe_carrying_output(self) -> None:
        """Poems or JSON into a pipe may reach the terminal later: no bar."""
        for kind in ("fifo", "socket", "tty", "other"):
            self.assertFalse(self.wants(out=kind), kind)
            self.assertFalse(self.wants("--json", out=kind), kind)

    def test_one_terminal(self) -> None:
        """Poems and the bar on one terminal: drawn, erased before a poem."""
        terminal = object()
        options = cli.parse_args(["10001"])
        console = Console(Stream("tty", terminal), Stream("tty", terminal))
        self.assertTrue(wants_progress(options, console))

    def test_stdout_not_written(self) -> None:
        """With --output-dir stdout carries nothing: the bar is fine."""
        directory = str(tempDir(self))
        self.assertTrue(self.wants("--output-dir", directory, out="fifo"))


class SavingSinkTests(SynchronousTestCase):
    """L{SavingSink}: saved, or the task fails."""

    def test_saved(self) -> None:
        directory = tempDir(self)
        sink = SavingSink(Saver(directory, 1))
        r = result()
        sink.on_result(r, b"poem")
        self.assertEqual(r.file, str(directory / "1-127.0.0.1-10001.txt"))
        self.assertEqual(Path(r.file).read_bytes(), b"poem")
        self.assertTrue(r.ok)

    def test_nothing_to_save(self) -> None:
        directory = tempDir(self)
        r = failed()
        SavingSink(Saver(directory, 1)).on_result(r, None)
        self.assertEqual(list(directory.iterdir()), [])
        self.assertEqual((r.file, r.error_type), (None, "PoemTruncated"))

    def test_not_saved_fails(self) -> None:
        r = result()
        SavingSink(Saver(tempDir(self) / "missing", 1)).on_result(r, b"poem")
        self.assertEqual(
            (r.status, r.error_type, r.file),
            (DownloadStatus.FAILED, "SaveError", None),
        )


class VerboseLogTests(SynchronousTestCase):
    def test_lines(self) -> None:
        lines: list[str] = []
        sink = VerboseLog([A, B], lines.append)
        sink.on_data(1, 4)
        r = failed(1)
        sink.on_result(r, None)
        sink.on_end([r])
        self.assertEqual(lines, [chunk_line(1, 4, B), task_line(r)])


class PrinterTests(SynchronousTestCase):
    """L{OrderedPrinter}: command-line order, nothing lost."""

    def test_block(self) -> None:
        self.assertEqual(
            poem_block(2, A, b"a poem", tty=False),
            b"==> 127.0.0.1:10001 (task 2) <==\na poem\n\n",
        )
        self.assertEqual(
            poem_block(1, A, b"ends\n", tty=False),
            b"==> 127.0.0.1:10001 (task 1) <==\nends\n\n",
        )

    def test_escaped_only_on_a_terminal(self) -> None:
        self.assertIn(b"\\x1b[2J", poem_block(1, A, b"\x1b[2J", tty=True))
        self.assertIn(b"\x1b[2J", poem_block(1, A, b"\x1b[2J", tty=False))

    def test_in_order(self) -> None:
        written: list[bytes] = []
        printer = OrderedPrinter(3, written.append, tty=False)
        printer.on_result(result(1), b"second")
        self.assertEqual((written, printer.held), ([], 1))
        printer.on_result(failed(0), None)
        self.assertEqual(written, [poem_block(2, B, b"second", tty=False)])
        self.assertEqual(printer.held, 0)

    def test_end_prints_everything_held(self) -> None:
        """Interrupted with task 1 unfinished: task 2's poem is printed."""
        written: list[bytes] = []
        printer = OrderedPrinter(2, written.append, tty=False)
        printer.on_result(result(1), b"second")
        printer.on_end([result(1)])
        self.assertEqual(written, [poem_block(2, B, b"second", tty=False)])
        self.assertEqual(printer.held, 0)


class LiveProgressTests(SynchronousTestCase):
    """L{LiveProgress}: the bar, redrawn on a clock until the end."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.stream = Stream("tty")
        self.progress = LiveProgress(Screen(self.stream), 2, self.clock, 0.1)

    def test_draws_and_counts(self) -> None:
        self.progress.start()
        self.assertIn(b"poems 0/2", self.stream.data)
        self.progress.on_data(0, 2048)
        self.progress.on_result(failed(0), None)
        self.progress.on_result(result(1, status="cancelled"), None)
        bar = self.progress.bar
        self.assertEqual((bar.done, bar.failed, bar.received), (2, 1, 2048))
        self.clock.advance(0.1)
        self.assertTrue(self.stream.data.endswith(b"1 failed  0:00"), self.stream.data)
        self.assertIn(b"2.0 KiB", self.stream.data)
        self.progress.on_result(result(1, status="timeout"), None)
        self.assertEqual((bar.done, bar.failed), (3, 2))

    def test_end_stops_and_erases(self) -> None:
        self.progress.start()
        self.progress.on_end([])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertTrue(self.stream.data.endswith(ERASE_LINE))
        drawn = self.stream.data
        self.clock.advance(1)
        self.assertEqual(self.stream.data, drawn)

    def test_stop_before_start(self) -> None:
        self.progress.stop()
        self.assertEqual(self.stream.data, b"")


class OutputsTests(SynchronousTestCase):
    """L{Outputs.build}: the sinks the options ask for, saving first."""

    def build(self, *argv: str, progress: bool = False) -> Outputs:
        options = cli.parse_args([*argv, "10001", "10002"])
        return Outputs.build(
            options,
            Console(Stream(), Stream()),
            options.addresses,
            clock=Clock(),
            progress=progress,
            interval=0.1,
        )

    def test_default(self) -> None:
        outputs = self.build()
        self.assertEqual(outputs.sinks, [outputs.printer])
        self.assertIsNone(outputs.saving)

    def test_json_prints_no_poems(self) -> None:
        self.assertEqual(self.build("--json").sinks, [])

    def test_order(self) -> None:
        outputs = self.build("-v", "--output-dir", str(tempDir(self)), progress=True)
        self.assertIsNone(outputs.printer)
        self.assertEqual(
            [type(s) for s in outputs.sinks], [SavingSink, LiveProgress, VerboseLog]
        )
        assert outputs.saving is not None
        self.assertEqual(outputs.saving.saver.width, 1)


class SinkTests(SynchronousTestCase):
    def test_base_does_nothing(self) -> None:
        sink = Sink()
        sink.on_data(0, 1)
        sink.on_result(result(), b"x")
        sink.on_end([])

    def test_appended_sink_is_fed(self) -> None:
        """
        A sink appended to L{cli.Run.sinks} before the run starts (the
        documented way to add an output) sees each result, with the poem,
        and then all of them, before the summary is written.
        """
        seen: list[object] = []

        class Spy(Sink):
            def on_result(self, result: TaskResult, data: bytes | None) -> None:
                seen.append((result.task, result.status, data))

            def on_end(self, results: Sequence[TaskResult]) -> None:
                seen.append([r.task for r in results])

        def add(run: cli.Run) -> None:
            run.sinks.append(Spy())

        h = RunHarness(self, "--json", "10001", "10002", before=add)
        h.serve(2, SECOND)
        h.serve(1, FIRST)
        self.assertEqual(
            seen,
            [(2, DownloadStatus.OK, SECOND), (1, DownloadStatus.OK, FIRST), [1, 2]],
        )
        self.assertEqual(h.status, 0)

    def test_writes_stdout(self) -> None:
        self.assertTrue(writes_stdout(cli.parse_args(["1"])))
        self.assertTrue(writes_stdout(cli.parse_args(["--json", "1"])))
        directory = str(tempDir(self))
        saving = cli.parse_args(["--output-dir", directory, "1"])
        self.assertFalse(writes_stdout(saving))
        self.assertTrue(
            writes_stdout(cli.parse_args(["--json", "--output-dir", directory, "1"]))
        )


class TracingTests(SynchronousTestCase):
    """L{Tracing}, L{FactoryWatch}, L{fan_out} and the timeline sinks."""

    def test_wanted(self) -> None:
        self.assertFalse(Tracing.wanted(cli.parse_args(["1"])))
        for flag in (["--trace"], ["--timeline"], ["--timeline-svg", "t.svg"]):
            self.assertTrue(Tracing.wanted(cli.parse_args([*flag, "1"])), flag)

    def test_sinks(self) -> None:
        clock = Clock()
        options = cli.parse_args(["--timeline", "1"])
        tracing = Tracing(options, clock, io.StringIO, lambda m: None)
        self.assertFalse(tracing.tracer.emit)
        self.assertEqual(len(tracing.sinks), 1)
        self.assertIn(tracing.factories, tracing.recorders)
        options = cli.parse_args(["--trace", "1"])
        tracing = Tracing(options, clock, io.StringIO, lambda m: None)
        self.assertTrue(tracing.tracer.emit)
        self.assertEqual(tracing.sinks, [])

    def test_factory_watch(self) -> None:
        watch = FactoryWatch()
        self.successResultOf(watch.when_stopped())
        watch.record(1, "factory", "doStart")
        watch.record(2, "factory", "doStart")
        stopped = watch.when_stopped()
        watch.record(1, "protocol", "doStop")
        watch.record(1, "factory", "doStop")
        self.assertNoResult(stopped)
        watch.record(2, "factory", "doStop")
        self.successResultOf(stopped)
        self.assertEqual(watch.live, 0)

    def test_factories_stop_grace(self) -> None:
        clock = Clock()
        options = cli.parse_args(["--timeline", "1"])
        tracing = Tracing(options, clock, io.StringIO, lambda m: None)
        tracing.factories.record(1, "factory", "doStart")
        stopped = tracing.when_factories_stopped("outcomes")
        clock.advance(Tracing.FACTORY_STOP_GRACE - 0.001)
        self.assertNoResult(stopped)
        clock.advance(0.001)
        self.assertEqual(self.successResultOf(stopped), "outcomes")
        self.assertEqual(clock.getDelayedCalls(), [])
        tracing.factories.record(1, "factory", "doStop")  # late: harmless

    def test_factories_stopped(self) -> None:
        options = cli.parse_args(["--timeline", "1"])
        tracing = Tracing(options, Clock(), io.StringIO, lambda m: None)
        self.assertEqual(self.successResultOf(tracing.when_factories_stopped(1)), 1)
        tracing.factories.record(1, "factory", "doStart")
        stopped = tracing.when_factories_stopped(2)
        tracing.factories.record(1, "factory", "doStop")
        self.assertEqual(self.successResultOf(stopped), 2)

    def test_fan_out(self) -> None:
        self.assertIsNone(fan_out([]))
        one, two = FactoryWatch(), FactoryWatch()
        self.assertIs(fan_out([one]), one)
        both = fan_out([one, two])
        assert both is not None
        both.record(1, "factory", "doStart")
        self.assertEqual((one.live, two.live), (1, 1))

    def test_rows_drawn_as_each_task_ended(self) -> None:
        """The timeline draws each task's status: a timeout, a cancel."""
        tracer = new_tracer(Clock(), None)
        tracer.record(1, "factory", "startedConnecting")
        tracer.record(2, "factory", "startedConnecting")
        ended = [result(0, status="timeout"), result(1, status="cancelled")]
        rows = timeline_rows(tracer, ended)
        self.assertEqual([row.outcome for row in rows], ["timeout", "cancelled"])

    def test_svg(self) -> None:
        path = tempDir(self) / "t.svg"
        messages: list[str] = []
        tracer = new_tracer(Clock(), None)
        TimelineSVG(tracer, path, messages.append).on_end([result()])
        self.assertTrue(path.read_text().startswith("<"))
        self.assertEqual(messages, [])

    def test_svg_not_written(self) -> None:
        path = tempDir(self) / "missing" / "t.svg"
        messages: list[str] = []
        TimelineSVG(new_tracer(Clock(), None), path, messages.append).on_end([])
        [message] = messages
        self.assertTrue(message.startswith(f"cannot write timeline SVG {str(path)!r}"))


class TLSOptionTests(SynchronousTestCase):
    """C{--cacert} and C{--insecure}, checked before anything starts."""

    def assertUsage(self, argv: list[str], *fragments: str) -> None:
        with self.assertRaises(cli.UsageError) as caught:
            cli.parse_args(argv)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_badCacert(self) -> None:
        """A missing file, or one without a PEM certificate, is a usage error."""
        directory = Path(tempDir(self))
        missing = directory / "missing.pem"
        self.assertUsage(
            ["--cacert", str(missing), "tls:localhost:1"],
            "argument --cacert",
            "cannot read",
            "No such file",
        )
        junk = directory / "junk.pem"
        junk.write_text("not a certificate\n")
        self.assertUsage(
            ["--cacert", str(junk), "tls:localhost:1"],
            "argument --cacert",
            "holds no PEM certificate",
        )

    def test_cacertAndInsecure(self) -> None:
        """Trusting a CA and trusting anything at once make no sense."""
        self.assertUsage(
            ["--cacert", "ca.pem", "--insecure", "tls:localhost:1"],
            "not allowed with argument",
        )

    def test_policies(self) -> None:
        """No option: verified against the system; C{-k}: not verified."""
        self.assertTrue(cli.parse_args(["tls:localhost:1"]).tls.verify)
        self.assertFalse(cli.parse_args(["-k", "tls:localhost:1"]).tls.verify)
        self.assertIsNone(
            cli.options.insecure_warning(cli.parse_args(["tls:localhost:1"]))
        )
