"""
The C{get-poetry} command: options, output, summary and exit status.

    get-poetry [options] ADDRESS...

ADDRESS is C{PORT}, C{HOST:PORT} or C{[IPv6]:PORT} (host 127.0.0.1 by
default).  Poems are fetched many at once by L{poetry.client.get_poems}: at
most C{--concurrency} (default 100) in all, C{--per-server} (default 20) from
any one server.

Output
======
  - Default: each poem on stdout, in command-line order, under a header
    C{==> HOST:PORT (task N) <==}; poems are written as soon as every poem
    before them has arrived.  Then a summary on stderr: one line per task and
    C{Got N of M poems in X.XX seconds}.
  - C{--output-dir DIR}: each poem is written to its own file in DIR the
    moment it arrives, instead of stdout.  Files are named
    C{TASK-HOST-PORT.txt} and are never overwritten: if the name is taken,
    C{-2}, C{-3}, ... is added.
  - C{--json}: the machine-readable summary below on stdout, instead of the
    poems.
  - C{-v/--verbose}: a line on stderr for each chunk as it arrives
    (C{Task 3: got 10 bytes of poetry from 127.0.0.1:10001}) and for each
    task's end.  C{-q/--quiet}: no progress and no summary; only failed tasks
    are reported on stderr.
  - When stderr is a terminal (and neither C{-v}, C{-q} nor C{--trace} is
    given), a live progress bar (poems done, bytes received) drawn by
    C{rich}.

Seeing the reactor at work (L{poetry.trace})
============================================
  - C{--trace}: every factory, protocol and timeout callback of every task,
    one line each on stderr the moment it runs (so in the real order of the
    calls), emitted as C{twisted.logger} events and written by
    L{poetry.trace.traceObserver}::

        +0.000s task 1 factory.startedConnecting destination=127.0.0.1:10001

  - C{--timeline}: once the downloads end, a chart on stderr with one row
    per task and time running left to right (before the summary).
  - C{--timeline-svg FILE}: the same chart written to FILE as an SVG
    picture.  The file's directory is checked before anything starts (a
    usage error); if the file still cannot be written at the end, that is
    one error line and exit status 1, after the poems have been printed or
    saved.

With none of them the client is given no tracer at all, so tracing costs
nothing when off; with only the timeline options the events are recorded
but not logged.

Exit status: 0 when every poem arrived, 1 when any failed (or could not be
saved), 2 for a usage error, 130 when interrupted by Ctrl-C (which stops at
once, printing the poems that had arrived and the partial summary).

JSON summary (C{--json})
========================
One object; every key is always present (C{null} when it does not apply)::

    {
      "version": 1,                 # of this schema
      "ok": true,                   # every poem arrived
      "interrupted": false,         # stopped by Ctrl-C
      "received": 2,                # poems that arrived
      "total": 2,                   # addresses given
      "elapsed": 0.0123,            # seconds for the whole run
      "tasks": [                    # one per ADDRESS, in command-line order
        {
          "task": 1,                # 1-based position on the command line
          "address": "127.0.0.1:10001",
          "host": "127.0.0.1",
          "port": 10001,
          "status": "ok",           # "ok" | "failed" | "cancelled"
          "bytes": 1234,            # poem size, or bytes received before failing
          "elapsed": 0.01,          # seconds for this task
          "peer": "127.0.0.1:10001",  # address connected to, or null
          "valid_utf8": true,       # null unless status is "ok"
          "file": null,             # path written with --output-dir, or null
          "error": null             # or {"type": "PoemTimeout",
                                    #      "message": "127.0.0.1:10001: timed out ..."}
        }
      ]
    }

Extending
=========
L{parse_args} turns argv into an C{argparse.Namespace}; L{Run} builds a run
from it.  A new flag is added to L{build_parser}, and its behaviour hooks
into a L{Run}: append a L{poetry.client.TraceRecorder} to L{Run.recorders}
to see every callback as it happens, or a callable to L{Run.finishers} to be
given the outcomes once the downloads end (before the summary).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import Logger, LogPublisher

from poetry import __version__
from poetry.addresses import Address, AddressError, parse_address
from poetry.client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_PER_SERVER,
    DEFAULT_TIMEOUT,
    Outcome,
    TraceRecorder,
    get_poems,
)
from poetry.errors import PoemTimeout
from poetry.trace import (
    TRACE_NAMESPACE,
    TaskRow,
    Tracer,
    render_timeline_svg,
    render_timeline_text,
    traceObserver,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JSON_VERSION",
    "Run",
    "UsageError",
    "build_parser",
    "main",
    "parse_args",
    "run",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

JSON_VERSION = 1
"""The version of the C{--json} schema (see the module docstring)."""

PROG = "get-poetry"


class UsageError(Exception):
    """Bad command-line input; C{str()} is one line naming the argument."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises L{UsageError} instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _addressArg(text: str) -> Address:
    try:
        return parse_address(text)
    except AddressError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positiveSeconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, not {text!r}"
        )
    return value


def _positiveInt(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The C{get-poetry} argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Download poems from poetry servers, all at once.",
        epilog="ADDRESS is PORT, HOST:PORT or [IPv6]:PORT (host 127.0.0.1 by "
        "default). Exit status: 0 all poems arrived, 1 some failed, "
        "2 usage error, 130 interrupted.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "addresses", metavar="ADDRESS", nargs="+", type=_addressArg,
        help="a poetry server to download from",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=_positiveSeconds,
        default=DEFAULT_TIMEOUT,
        help="time allowed per poem, connecting included (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-bytes", metavar="N", type=_positiveInt, default=DEFAULT_MAX_BYTES,
        help="largest poem accepted, in bytes (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", metavar="N", type=_positiveInt,
        default=DEFAULT_CONCURRENCY,
        help="at most N downloads at once in all (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--per-server", metavar="N", type=_positiveInt,
        default=DEFAULT_PER_SERVER,
        help="at most N downloads at once from any one server "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", metavar="DIR", type=Path, default=None,
        help="write each poem to its own file in DIR as soon as it arrives",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print a JSON summary on stdout instead of the poems",
    )  # fmt: skip
    parser.add_argument(
        "--trace", action="store_true",
        help="log every factory, protocol and timeout callback on stderr as "
        "it happens (turns off the progress bar)",
    )  # fmt: skip
    parser.add_argument(
        "--timeline", action="store_true",
        help="when the downloads end, draw a chart of the tasks over time "
        "on stderr",
    )  # fmt: skip
    parser.add_argument(
        "--timeline-svg", metavar="FILE", type=Path, default=None,
        help="when the downloads end, write that chart to FILE as an SVG "
        "picture",
    )  # fmt: skip
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument(
        "-v", "--verbose", action="store_true",
        help="report every chunk of poetry as it arrives",
    )  # fmt: skip
    chatter.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress, no summary: report only failures",
    )  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """
    Parse and check the command line.

    @raise UsageError: for any bad argument, with a one-line message naming
        it.
    @raise SystemExit: for C{--help} and C{--version} (status 0).
    """
    options = build_parser().parse_args(list(argv))
    outputDir: Path | None = options.output_dir
    if outputDir is not None:
        try:
            outputDir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(
                f"argument --output-dir: cannot create {str(outputDir)!r}:"
                f" {e.strerror or e}"
            ) from None
        if not os.access(outputDir, os.W_OK | os.X_OK):
            raise UsageError(
                f"argument --output-dir: {str(outputDir)!r} is not writable"
            )
    if options.timeline_svg is not None:
        _checkWritableFile("--timeline-svg", options.timeline_svg)
    return options


def _checkWritableFile(option: str, path: Path) -> None:
    """
    Check, before anything starts, that C{path} can be created or
    overwritten: it is not a directory, and its directory exists and is
    writable.

    @raise UsageError: naming C{option} and what is wrong.
    """
    if path.is_dir():
        raise UsageError(f"argument {option}: {str(path)!r} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"argument {option}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise UsageError(f"argument {option}: {str(path)!r} is not writable")


def _safeName(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("._") or "host"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _status(outcome: Outcome) -> str:
    if outcome.ok:
        return "ok"
    if isinstance(outcome.error, CancelledError):
        return "cancelled"
    return "failed"


class Run:
    """
    One run of C{get-poetry}: downloads for the parsed options, the poems
    and summary they produce, and the exit status.

    @ivar recorders: L{TraceRecorder}s given every lifecycle callback of
        every download (empty: no tracing, no cost).
    @ivar finishers: callables given the list of L{Outcome}s once the
        downloads end, before the summary is written.
    @ivar outcomes: the outcomes, once the downloads have ended.
    @ivar tracer: the L{Tracer} of C{--trace}, C{--timeline} and
        C{--timeline-svg}, or L{None} when none of them is given.
    """

    REFRESH_INTERVAL = 0.1
    """Seconds between redraws of the live progress bar."""

    FACTORY_STOP_GRACE = 1.0
    """
    With a tracer, the longest the end of a run waits, in seconds, for
    Twisted to stop the last client factories.  A download's result fires
    before its factory's C{clientConnectionLost} and C{doStop} (at once after
    a clean close, one reactor turn later after an abort), and waiting for
    them keeps their trace lines above the timeline and the summary.  The
    limit protects the run from hanging on a connector that never reports.
    """

    def __init__(
        self,
        options: argparse.Namespace,
        *,
        reactor: Any,
        stdout: IO[bytes],
        stderr: IO[str],
        progress: bool | None = None,
    ) -> None:
        """
        @param stdout: where poems (or the JSON summary) go, as bytes.
        @param stderr: where progress and the summary go.
        @param progress: draw a live progress bar; by default only when
            C{stderr} is a terminal and neither verbose nor quiet is set.
            Never with C{--trace}: its lines would interleave with the bar.
        """
        self.options = options
        self.reactor = reactor
        self.stdout = stdout
        self.stderr = stderr
        self.addresses: list[Address] = list(options.addresses)
        if progress is None:
            progress = _isatty(stderr) and not options.verbose and not options.quiet
        self.showProgress = progress and not options.trace
        self.recorders: list[TraceRecorder] = []
        self.finishers: list[Callable[[list[Outcome]], object]] = []
        self.tracer: Tracer | None = None
        self.outcomes: list[Outcome] | None = None
        self.interrupted = False
        self.started = 0.0
        self.elapsed = 0.0
        self._received = [0] * len(self.addresses)  # counted only if needed
        self._totalBytes = 0
        self._done: list[Outcome | None] = [None] * len(self.addresses)
        self._nextToPrint = 0
        self._files: dict[int, str] = {}
        self._saveErrors: dict[int, str] = {}
        self._stdoutBroken = False
        self._downloads: Deferred[list[Outcome]] | None = None
        self._progress: Any = None
        self._refresh: Any = None
        self._outputErrors: list[str] = []
        self._factories: _FactoryWatch | None = None
        # With a live bar on the same terminal, poems wait for the end.
        self._streamPoems = not (self.showProgress and _isatty(stdout))
        self._setUpTracing()

    def _setUpTracing(self) -> None:
        """
        Hook C{--trace}, C{--timeline} and C{--timeline-svg} into this run:
        one L{Tracer} recording every callback (and, for C{--trace},
        logging each one to stderr at once), and finishers drawing the
        timeline from its events.  With none of them, nothing at all.
        """
        options = self.options
        timeline = options.timeline or options.timeline_svg is not None
        if not (options.trace or timeline):
            return
        log = None
        if options.trace:
            # A publisher of its own: trace lines reach this run's stderr
            # whatever the global log observers are, and a broken stderr
            # cannot raise into the client's callbacks.
            log = Logger(
                namespace=TRACE_NAMESPACE,
                observer=LogPublisher(traceObserver(self.stderr)),
            )
        self.tracer = Tracer(clock=self.reactor, log=log, emit=options.trace)
        self.recorders.append(self.tracer)
        self._factories = _FactoryWatch()
        self.recorders.append(self._factories)
        if options.timeline:
            self.finishers.append(self._drawTimeline)
        if options.timeline_svg is not None:
            self.finishers.append(self._writeTimelineSVG)

    # -- running -----------------------------------------------------------

    def start(self) -> Deferred[int]:
        """Start the downloads; the result is the exit status."""
        options = self.options
        self.started = self.reactor.seconds()
        if self.showProgress:
            self._startProgress()
        wantData = options.verbose or self.showProgress
        self._downloads = get_poems(
            self.addresses,
            concurrency=options.concurrency,
            per_server=options.per_server,
            timeout=options.timeout,
            max_bytes=options.max_bytes,
            reactor=self.reactor,
            tracer=_fanOut(self.recorders),
            on_data=self._onData if wantData else None,
            on_outcome=self._onOutcome,
        )
        if self._factories is not None:
            self._downloads.addCallback(self._whenFactoriesStopped)
        return self._downloads.addCallback(self._finish)

    def interrupt(self) -> None:
        """Ctrl-C: stop every download now; the run ends with status 130."""
        if self.outcomes is not None or self._downloads is None:
            return
        self.interrupted = True
        self._downloads.cancel()

    # -- as downloads progress --------------------------------------------

    def _onData(self, index: int, nbytes: int) -> None:
        self._received[index] += nbytes
        self._totalBytes += nbytes
        if self.options.verbose:
            self._err(
                f"Task {index + 1}: got {nbytes} bytes of poetry"
                f" from {self.addresses[index]}"
            )
        if self._progress is not None:
            self._progress.update(self._bar, bytes=self._totalBytes)

    def _onOutcome(self, outcome: Outcome) -> None:
        index = outcome.index
        self._done[index] = outcome
        if outcome.poem is not None and self.options.output_dir is not None:
            self._save(outcome)
        if self.options.verbose:
            self._err(self._summaryLine(outcome))
        if self._progress is not None:
            self._progress.update(self._bar, advance=1)
        if self._streamPoems:
            self._printReady()

    def _save(self, outcome: Outcome) -> None:
        assert outcome.poem is not None
        directory: Path = self.options.output_dir
        width = len(str(len(self.addresses)))
        address = outcome.address
        stem = f"{outcome.task:0{width}d}-{_safeName(address.host)}-{address.port}"
        for attempt in range(1, 1001):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = directory / f"{stem}{suffix}.txt"
            try:
                with open(path, "xb") as f:
                    f.write(outcome.poem.data)
            except FileExistsError:
                continue
            except OSError as e:
                self._saveErrors[outcome.index] = f"cannot write {path}: {e.strerror}"
                return
            self._files[outcome.index] = str(path)
            return
        self._saveErrors[outcome.index] = f"no free file name for {stem}.txt"

    def _printReady(self) -> None:
        """Write every poem whose predecessors are all done, in order."""
        if self.options.json or self.options.output_dir is not None:
            return
        while self._nextToPrint < len(self._done):
            outcome = self._done[self._nextToPrint]
            if outcome is None:
                return
            self._nextToPrint += 1
            if outcome.poem is not None:
                data = outcome.poem.data
                header = f"==> {outcome.address} (task {outcome.task}) <==\n"
                tail = b"" if data.endswith(b"\n") else b"\n"
                self._out(header.encode() + data + tail + b"\n")

    # -- the end -------------------------------------------------------------

    def _whenFactoriesStopped(self, outcomes: list[Outcome]) -> Deferred[list[Outcome]]:
        """
        C{outcomes}, once every started factory has stopped (or after
        L{FACTORY_STOP_GRACE} seconds, or at Ctrl-C).
        """
        assert self._factories is not None
        stopped = self._factories.whenStopped()
        if not stopped.called:
            stopped.addTimeout(self.FACTORY_STOP_GRACE, self.reactor)
        return stopped.addBoth(lambda _: outcomes)

    def _finish(self, outcomes: list[Outcome]) -> int:
        self.outcomes = outcomes
        self.elapsed = self.reactor.seconds() - self.started
        self._stopProgress()
        for outcome in outcomes:
            if self._done[outcome.index] is None:
                self._done[outcome.index] = outcome
        # Poems that arrived are never lost, interrupted or not.
        self._printReady()
        for finisher in self.finishers:
            finisher(outcomes)
        if self.options.json:
            self._out(
                json.dumps(self.summary(), indent=2, ensure_ascii=False).encode()
                + b"\n"
            )
        self._writeSummary(outcomes)
        return self.exitStatus()

    def exitStatus(self) -> int:
        """
        0 all poems arrived (and saved, and the timeline SVG written), 1
        otherwise, 130 if interrupted.
        """
        if self.interrupted:
            return EXIT_INTERRUPTED
        assert self.outcomes is not None
        if (
            self._saveErrors
            or self._outputErrors
            or not all(o.ok for o in self.outcomes)
        ):
            return EXIT_FAILED
        return EXIT_OK

    # -- the timeline --------------------------------------------------------

    def _timelineRows(self, outcomes: list[Outcome]) -> list[TaskRow]:
        assert self.tracer is not None
        return self.tracer.timeline({o.task: _timelineOutcome(o) for o in outcomes})

    def _drawTimeline(self, outcomes: list[Outcome]) -> None:
        """C{--timeline}: the chart on stderr."""
        chart = render_timeline_text(self._timelineRows(outcomes), stream=self.stderr)
        try:
            self.stderr.write(chart)
            self.stderr.flush()
        except BrokenPipeError:
            pass

    def _writeTimelineSVG(self, outcomes: list[Outcome]) -> None:
        """
        C{--timeline-svg FILE}: the chart as an SVG file.  A failure to write
        it is one error line and exit status 1; everything else carries on.
        """
        path: Path = self.options.timeline_svg
        svg = render_timeline_svg(self._timelineRows(outcomes))
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg)
        except OSError as e:
            message = f"cannot write timeline SVG {str(path)!r}: {e.strerror or e}"
            self._outputErrors.append(message)
            self._err(f"{PROG}: error: {message}")

    def _summaryLine(self, outcome: Outcome) -> str:
        index = outcome.index
        received = max(outcome.received, self._received[index])
        size = _plural(received, "byte")
        seconds = f"{outcome.elapsed:.2f} s"
        if outcome.poem is not None:
            line = (
                f"Task {outcome.task}: ok, {size} in {seconds} from {outcome.address}"
            )
            if outcome.poem.replaced:
                line += " (invalid UTF-8 replaced)"
            if index in self._files:
                line += f" -> {self._files[index]}"
            if index in self._saveErrors:
                line += f"; NOT SAVED: {self._saveErrors[index]}"
            return line
        if isinstance(outcome.error, CancelledError):
            line = (
                f"Task {outcome.task}: cancelled after {seconds} from {outcome.address}"
            )
            if received:  # known only when progress is being counted
                line += f" ({size} received)"
            return line
        return f"Task {outcome.task}: failed, {outcome.error} ({size} in {seconds})"

    def _writeSummary(self, outcomes: list[Outcome]) -> None:
        quiet = self.options.quiet
        for outcome in outcomes:
            bad = not outcome.ok or outcome.index in self._saveErrors
            if not quiet or bad:
                self._err(self._summaryLine(outcome))
        if not quiet:
            got = sum(o.ok for o in outcomes)
            line = f"Got {got} of {len(outcomes)} poems in {self.elapsed:.2f} seconds"
            if self.interrupted:
                line += " (interrupted)"
            self._err(line)

    def summary(self) -> dict[str, Any]:
        """The C{--json} summary (schema in the module docstring)."""
        assert self.outcomes is not None
        tasks = []
        for o in self.outcomes:
            poem = o.poem
            tasks.append(
                {
                    "task": o.task,
                    "address": str(o.address),
                    "host": o.address.host,
                    "port": o.address.port,
                    "status": _status(o),
                    "bytes": max(o.received, self._received[o.index]),
                    "elapsed": round(o.elapsed, 6),
                    "peer": str(poem.peer) if poem and poem.peer else None,
                    "valid_utf8": poem.valid_utf8 if poem is not None else None,
                    "file": self._files.get(o.index),
                    "error": None
                    if o.error is None
                    else {
                        "type": type(o.error).__name__,
                        "message": str(o.error) or type(o.error).__name__,
                    },
                }
            )
        received = sum(o.ok for o in self.outcomes)
        return {
            "version": JSON_VERSION,
            "ok": received == len(self.outcomes) and not self._saveErrors,
            "interrupted": self.interrupted,
            "received": received,
            "total": len(self.outcomes),
            "elapsed": round(self.elapsed, 6),
            "tasks": tasks,
        }

    # -- output ----------------------------------------------------------------

    def _out(self, data: bytes) -> None:
        if self._stdoutBroken:
            return
        try:
            self.stdout.write(data)
            self.stdout.flush()
        except BrokenPipeError:
            self._stdoutBroken = True  # e.g. piped into head: keep going quietly

    def _err(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
            return
        try:
            self.stderr.write(line + "\n")
            self.stderr.flush()
        except BrokenPipeError:
            pass

    def _startProgress(self) -> None:
        # rich is imported only here: plain runs never pay for it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from twisted.internet.task import LoopingCall

        console = Console(file=self.stderr, force_terminal=self.showProgress)
        self._progress = Progress(
            TextColumn("poems"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[bytes]} bytes"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bar = self._progress.add_task("poems", total=len(self.addresses), bytes=0)
        self._progress.start()
        self._refresh = LoopingCall(self._progress.refresh)
        self._refresh.clock = self.reactor
        self._refresh.start(self.REFRESH_INTERVAL)

    def _stopProgress(self) -> None:
        if self._refresh is not None and self._refresh.running:
            self._refresh.stop()
        self._refresh = None
        if self._progress is not None:
            progress, self._progress = self._progress, None
            progress.stop()


def _timelineOutcome(outcome: Outcome) -> str:
    """
    How C{outcome} is drawn on a timeline: C{"ok"}, C{"timeout"} for a
    L{PoemTimeout}, C{"unfinished"} when cancelled (Ctrl-C), else
    C{"failed"}.
    """
    if outcome.ok:
        return "ok"
    if isinstance(outcome.error, PoemTimeout):
        return "timeout"
    if isinstance(outcome.error, CancelledError):
        return "unfinished"
    return "failed"


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


class _FactoryWatch:
    """
    A L{TraceRecorder} counting the client factories started
    (C{factory.doStart}) and not yet stopped (C{factory.doStop}).

    @ivar live: how many are started and not stopped.
    """

    def __init__(self) -> None:
        self.live = 0
        self._waiting: list[Deferred[None]] = []

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        if source != "factory":
            return
        if name == "doStart":
            self.live += 1
        elif name == "doStop":
            self.live -= 1
            if self.live <= 0:
                waiting, self._waiting = self._waiting, []
                for d in waiting:
                    d.callback(None)

    def whenStopped(self) -> Deferred[None]:
        """A L{Deferred} firing once no factory is live (at once if none)."""
        if self.live <= 0:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d


class _FanOut:
    """A L{TraceRecorder} passing each event to several recorders."""

    def __init__(self, recorders: Sequence[TraceRecorder]) -> None:
        self.recorders = tuple(recorders)

    def record(self, task: int, source: str, name: str, **detail: object) -> None:
        for recorder in self.recorders:
            recorder.record(task, source, name, **detail)


def _fanOut(recorders: Sequence[TraceRecorder]) -> TraceRecorder | None:
    if not recorders:
        return None
    if len(recorders) == 1:
        return recorders[0]
    return _FanOut(recorders)


def _usage(stderr: IO[str], error: UsageError) -> int:
    stderr.write(f"{PROG}: error: {error} (see {PROG} --help)\n")
    stderr.flush()
    return EXIT_USAGE


def run(
    argv: Sequence[str],
    *,
    reactor: Any,
    stdout: IO[bytes],
    stderr: IO[str],
    progress: bool | None = None,
) -> Deferred[int]:
    """
    Run C{get-poetry} with C{argv} on C{reactor}; the result is the exit
    status.  A usage error is reported on C{stderr} and gives 2 at once.
    """
    try:
        options = parse_args(argv)
    except UsageError as e:
        return succeed(_usage(stderr, e))
    return Run(
        options, reactor=reactor, stdout=stdout, stderr=stderr, progress=progress
    ).start()


def _installInterruptHandler(reactor: Any, run: Run) -> None:
    """
    Make Ctrl-C stop the downloads (partial summary, status 130) instead of
    stopping the reactor.  A second Ctrl-C exits at once with status 130 (for
    when the first could not be served, say with stdout blocked).  Nothing is
    installed if SIGINT is not at its default (ignored, or a debugger's).
    """
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    pressed = False

    def onInterrupt(signum: int, frame: object) -> None:
        nonlocal pressed
        if pressed:
            os._exit(EXIT_INTERRUPTED)
        pressed = True
        # callFromThread: safe from a signal handler, and wakes the reactor.
        reactor.callFromThread(run.interrupt)

    signal.signal(signal.SIGINT, onInterrupt)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The C{get-poetry} console script and C{python -m poetry}."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_args(args)
    except UsageError as e:
        sys.exit(_usage(sys.stderr, e))

    from twisted.internet import task

    def start(reactor: Any) -> Deferred[None]:
        cliRun = Run(
            options, reactor=reactor, stdout=sys.stdout.buffer, stderr=sys.stderr
        )
        _installInterruptHandler(reactor, cliRun)

        def exit(status: int) -> None:
            if status != EXIT_OK:
                raise SystemExit(status)

        return cliRun.start().addCallback(exit)

    task.react(start)
