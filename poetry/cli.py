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
    C{==> HOST:PORT (task N) <==}; each poem is written as soon as every
    poem before it has ended, and released once written.  On a terminal,
    control characters and escape sequences in a poem are shown as text and
    a poem line starting with C{==>} as C{\\==>} (L{poetry.terminal}).
    Then a summary on stderr: one line per task and C{Got N of M poems in
    X.XX seconds}.
  - C{--output-dir DIR}: each poem is saved to its own file in DIR the
    moment it arrives, instead of stdout, whole or not at all
    (L{poetry.saving}).  Files are named C{TASK-HOST-PORT.txt} (at most
    200 bytes) and are never overwritten: if the name is taken, C{-2},
    C{-3}, ... is added.  A poem that cannot be saved fails its task.
  - C{--json}: the machine-readable summary below on stdout, instead of the
    poems.
  - C{-v/--verbose}: a line on stderr for each chunk as it arrives
    (C{Task 3: got 10 bytes of poetry from 127.0.0.1:10001}) and for each
    task's end (not repeated in the summary).  C{-q/--quiet}: no progress
    and no summary; only failed tasks are reported on stderr.
  - When stderr is a terminal (and neither C{-v}, C{-q} nor C{--trace} is
    given, and stdout is not a pipe carrying poems), a one-line progress
    bar, erased before anything is written below it.
  - Stdout and stderr are written without blocking the reactor
    (L{poetry.output}); the summary comes once stdout has taken every byte.

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
saved, or stdout could not be written), 2 for a usage error, 141 when
stdout's reader went away (128 + SIGPIPE), 128 + the signal when
interrupted by SIGINT (130), SIGTERM (143) or SIGHUP (129), which stop at
once, printing or saving the poems that had arrived and the partial
summary.

JSON summary (C{--json})
========================
One object; every key is always present (C{null} when it does not apply)::

    {
      "version": 1,                 # of this schema
      "ok": true,                   # every poem arrived
      "interrupted": false,         # stopped by Ctrl-C, SIGTERM or SIGHUP
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
                                    # ("SaveError": arrived, not saved)
        }
      ]
    }

Extending
=========
L{parse_args} turns argv into an C{argparse.Namespace}; L{Run} builds a run
from it.  A new flag is added to L{build_parser}, and its behaviour hooks
into a L{Run}: append a L{poetry.client.TraceRecorder} to L{Run.recorders}
to see every callback as it happens, or a callable to L{Run.finishers} to be
given the L{TaskResult}s once the downloads end (before the summary).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from twisted.internet._resolver import GAIResolver
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.error import ConnectionAborted
from twisted.logger import Logger, LogPublisher
from twisted.python.threadpool import ThreadPool

from poetry import __version__
from poetry.addresses import Address, AddressError, parse_address
from poetry.client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_PER_SERVER,
    DEFAULT_TIMEOUT,
    DownloadResult,
    DownloadStatus,
    TraceRecorder,
    get_poems,
)
from poetry.output import (
    ClosedStream,
    FDStream,
    FileStream,
    OutputStream,
    describeError,
    reserveStandardFDs,
)
from poetry.saving import SaveError, Saver
from poetry.terminal import ERASE_LINE, ProgressBar, escapeForTerminal
from poetry.trace import (
    TRACE_NAMESPACE,
    TaskRow,
    Tracer,
    render_timeline_svg,
    render_timeline_text,
    traceObserver,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JSON_VERSION",
    "OrderedPrinter",
    "Run",
    "TaskResult",
    "UsageError",
    "build_parser",
    "installResolver",
    "main",
    "parse_args",
    "raiseOpenFileLimit",
    "run",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""Stdout's reader went away: 128 + SIGPIPE, as a shell reports C{cat}."""

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
        "2 usage error, 141 stdout closed by its reader, 128+N stopped by "
        "signal N (130 Ctrl-C, 143 SIGTERM).",
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _signalName(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(slots=True)
class TaskResult:
    """
    What the summary, the JSON and the timeline need of one task: sizes and
    reasons, never the poem's bytes (so memory follows what is in flight).

    @ivar status: how it ended, for the summary, the JSON (as its
        L{DownloadStatus.verdict}) and the timeline alike.
    """

    index: int
    address: Address
    status: DownloadStatus
    bytes: int
    elapsed: float
    peer: str | None = None
    valid_utf8: bool | None = None
    file: str | None = None
    error_type: str | None = None
    error_message: str | None = None

    @property
    def task(self) -> int:
        return self.index + 1

    @property
    def ok(self) -> bool:
        return self.status is DownloadStatus.OK

    @classmethod
    def fromResult(cls, outcome: DownloadResult, received: int) -> TaskResult:
        poem, error = outcome.poem, outcome.error
        return cls(
            index=outcome.index,
            address=outcome.address,
            status=outcome.status,
            bytes=max(outcome.received, received),
            elapsed=outcome.elapsed,
            peer=str(poem.peer) if poem is not None and poem.peer else None,
            valid_utf8=poem.valid_utf8 if poem is not None else None,
            error_type=None if error is None else type(error).__name__,
            error_message=None
            if error is None
            else (str(error) or type(error).__name__),
        )

    def failSaving(self, error: SaveError) -> None:
        """The poem arrived but could not be saved: the task failed."""
        self.status = DownloadStatus.FAILED
        self.error_type = type(error).__name__
        self.error_message = str(error)

    def line(self) -> str:
        """The summary line: C{Task 1: ok, 971 bytes in 0.00 s from HOST:PORT}."""
        seconds = f"{self.elapsed:.2f} s"
        if self.ok:
            line = f"Task {self.task}: ok, {_plural(self.bytes, 'byte')} in {seconds}"
            line += f" from {self.address}"
            if self.valid_utf8 is False:
                line += " (invalid UTF-8 replaced)"
            if self.file is not None:
                line += f" -> {self.file}"
            return line
        if self.status is DownloadStatus.CANCELLED:
            line = f"Task {self.task}: cancelled after {seconds} from {self.address}"
            if self.bytes:
                line += f", {_plural(self.bytes, 'byte')} received"
            return line
        line = f"Task {self.task}: failed after {seconds}: {self.error_message}"
        if self.error_type == SaveError.__name__:
            line += f" ({_plural(self.bytes, 'byte')} received, not saved)"
        return line

    def json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "address": str(self.address),
            "host": self.address.host,
            "port": self.address.port,
            "status": self.status.verdict,
            "bytes": self.bytes,
            "elapsed": round(self.elapsed, 6),
            "peer": self.peer,
            "valid_utf8": self.valid_utf8,
            "file": self.file,
            "error": None
            if self.error_type is None
            else {"type": self.error_type, "message": self.error_message},
        }


class OrderedPrinter:
    """
    Poems to stdout in command-line order, each as soon as every earlier
    task has ended, under its C{==>} header; on a terminal escaped by
    L{escapeForTerminal}.  A poem's bytes are held only until printed.
    """

    def __init__(self, count: int, write: Callable[[bytes], object], tty: bool) -> None:
        self._write = write
        self._tty = tty
        self._ended = [False] * count
        self._pending: dict[int, tuple[Address, bytes]] = {}
        self._next = 0

    @property
    def held(self) -> int:
        """How many poems are waiting for an earlier task."""
        return len(self._pending)

    def ended(self, index: int, address: Address, data: bytes | None) -> None:
        """Task C{index} ended, with its poem C{data} (L{None}: no poem)."""
        self._ended[index] = True
        if data is not None:
            self._pending[index] = (address, data)
        self.flush()

    def flush(self, everything: bool = False) -> None:
        """Print what is ready (with C{everything}, all that is held)."""
        while self._next < len(self._ended):
            if not (self._ended[self._next] or everything):
                return
            item = self._pending.pop(self._next, None)
            self._next += 1
            if item is not None:
                self._print(self._next, *item)

    def _print(self, task: int, address: Address, data: bytes) -> None:
        if self._tty:
            data = escapeForTerminal(data)
        tail = b"" if data.endswith(b"\n") else b"\n"
        self._write(f"==> {address} (task {task}) <==\n".encode() + data + tail + b"\n")


class _TextAdapter:
    """An L{OutputStream} as a text file, for the trace observer."""

    def __init__(self, write: Callable[[bytes], object], stream: OutputStream) -> None:
        self._write = write
        self._stream = stream
        self.encoding = stream.encoding

    def write(self, text: str) -> int:
        self._write(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._stream.isatty

    def fileno(self) -> int:
        fd = getattr(self._stream, "fd", None)
        if fd is None:
            raise OSError("no file descriptor")
        return int(fd)


def _asStream(stream: OutputStream | IO[Any] | None, name: str) -> OutputStream:
    if isinstance(stream, OutputStream):
        return stream
    if stream is None:
        return ClosedStream(name)
    return FileStream(stream, name)


def _sameTerminal(a: OutputStream, b: OutputStream) -> bool:
    if not (a.isatty and b.isatty):
        return False
    fa, fb = getattr(a, "fd", None), getattr(b, "fd", None)
    if fa is not None and fb is not None:
        try:
            return os.fstat(fa).st_rdev == os.fstat(fb).st_rdev
        except OSError:
            return False
    return getattr(a, "file", a) is getattr(b, "file", b)


class Run:
    """
    One run of C{get-poetry}: downloads for the parsed options, the poems
    and summary they produce, and the exit status.

    @ivar recorders: L{TraceRecorder}s given every lifecycle callback of
        every download (empty: no tracing, no cost).
    @ivar finishers: callables given the list of L{TaskResult}s once the
        downloads end, before the summary is written.
    @ivar results: one L{TaskResult} per task, once the downloads have ended.
    @ivar tracer: the L{Tracer} of C{--trace}, C{--timeline} and
        C{--timeline-svg}, or L{None} when none of them is given.
    @ivar signal: the signal that interrupted the run, or L{None}.
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
        stdout: OutputStream | IO[bytes] | None,
        stderr: OutputStream | IO[str] | None,
        progress: bool | None = None,
    ) -> None:
        """
        @param stdout: where poems (or the JSON summary) go: an
            L{OutputStream} or a binary file (L{None}: closed).
        @param stderr: where progress and the summary go: an L{OutputStream}
            or a text file.
        @param progress: draw a live progress bar; by default only when
            stderr is a terminal, neither verbose nor quiet is set, and
            stdout is not a pipe or socket carrying output (which may reach
            the same terminal later, through C{cat} or C{less}, where the
            bar cannot be erased in time).  Never with C{--trace}.
        """
        self.options = options
        self.reactor = reactor
        self.out = _asStream(stdout, "stdout")
        self.err = _asStream(stderr, "stderr")
        # Stdout and stderr on one terminal: one stream for both, so that
        # the bar, the poems and the messages reach the screen in order.
        self._merged = _sameTerminal(self.out, self.err)
        self._screen = self.out if self._merged else self.err
        self.addresses: list[Address] = list(options.addresses)
        self._writesStdout = options.json or options.output_dir is None
        if progress is None:
            progress = (
                self.err.isatty
                and not options.verbose
                and not options.quiet
                and (
                    self._merged
                    or not self._writesStdout
                    or self.out.kind not in ("fifo", "socket", "tty", "other")
                )
            )
        self.showProgress = bool(progress) and not options.trace
        self.recorders: list[TraceRecorder] = []
        self.finishers: list[Callable[[list[TaskResult]], object]] = []
        self.tracer: Tracer | None = None
        self.results: list[TaskResult] | None = None
        self.signal: int | None = None
        self._status: int | None = None
        self.started = 0.0
        self.elapsed = 0.0
        self._received = [0] * len(self.addresses)  # counted only if needed
        self._results: list[TaskResult | None] = [None] * len(self.addresses)
        self._printer: OrderedPrinter | None = None
        if options.output_dir is None and not options.json:
            self._printer = OrderedPrinter(
                len(self.addresses), self._writeOut, self.out.isatty
            )
        self.saver: Saver | None = None
        if options.output_dir is not None:
            self.saver = Saver(options.output_dir, len(str(len(self.addresses))))
        self._downloads: Deferred[list[DownloadResult]] | None = None
        self._bar: ProgressBar | None = None
        self._barDrawn = False
        self._refresh: Any = None
        self._outputErrors: list[str] = []
        self._factories: _FactoryWatch | None = None
        self.out.onFailure(self._stdoutFailed)
        self._setUpTracing()

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

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
                observer=LogPublisher(traceObserver(self._textErr())),
            )
        self.tracer = Tracer(clock=self.reactor, log=log, emit=options.trace)
        self.recorders.append(self.tracer)
        self._factories = _FactoryWatch()
        self.recorders.append(self._factories)
        if options.timeline:
            self.finishers.append(self._drawTimeline)
        if options.timeline_svg is not None:
            self.finishers.append(self._writeTimelineSVG)

    def _textErr(self) -> Any:
        return _TextAdapter(self._writeScreen, self.err)

    # -- running -----------------------------------------------------------

    def start(self) -> Deferred[int]:
        """Start the downloads; the result is the exit status."""
        options = self.options
        self.started = self.reactor.seconds()
        if self.out.kind == "closed" and self._writesStdout:
            what = "the JSON summary" if options.json else "the poems"
            self._err(
                f"{PROG}: error: stdout is closed: nowhere to write {what}"
                + ("" if options.json else " (--output-dir DIR saves them to files)")
            )
            return self.err.close().addCallback(lambda _: EXIT_FAILED)
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
            keep_outcomes=False,
        )
        downloads = self._downloads
        if self._factories is not None:
            downloads.addCallback(self._whenFactoriesStopped)
        return downloads.addCallback(self._finish)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """
        A signal (Ctrl-C, SIGTERM, SIGHUP): stop every download now; the
        run ends with status 128 + C{signum}, after printing or saving the
        poems that had arrived.  Once the downloads have ended and the run
        only waits for a stdout nobody reads, stop waiting for it
        (L{abandonOutput}).
        """
        if self._downloads is None or self._status is not None:
            return
        if self.signal is None:
            self.signal = signum
        if self.results is None:
            self._downloads.cancel()
        else:
            self.abandonOutput()

    def abandonOutput(self) -> None:
        """
        Stop waiting for a stdout nobody reads: what it has not taken is
        dropped, and the summary says so.
        """
        if not self._merged:
            self.out.abort()

    def _stdoutFailed(self, error: BaseException) -> None:
        """Stdout cannot take any more: nothing left to fetch for."""
        if self._downloads is not None and self.results is None and self._writesStdout:
            self._downloads.cancel()

    # -- as downloads progress --------------------------------------------

    def _onData(self, index: int, nbytes: int) -> None:
        self._received[index] += nbytes
        if self.options.verbose:
            self._err(
                f"Task {index + 1}: got {_plural(nbytes, 'byte')} of poetry"
                f" from {self.addresses[index]}"
            )
        if self._bar is not None:
            self._bar.received += nbytes

    def _onOutcome(self, outcome: DownloadResult) -> None:
        index = outcome.index
        result = TaskResult.fromResult(outcome, self._received[index])
        self._results[index] = result
        poem = outcome.poem
        data = None if poem is None else poem.data
        if data is not None and self.saver is not None:
            try:
                result.file = str(self.saver.save(result.task, result.address, data))
            except SaveError as e:
                result.failSaving(e)
        if self._printer is not None:
            self._printer.ended(index, result.address, data)
        if self._bar is not None:
            self._bar.done += 1
            self._bar.failed += result.status.failed
        if self.options.verbose:
            self._err(result.line())

    # -- the end -------------------------------------------------------------

    def _whenFactoriesStopped(
        self, outcomes: list[DownloadResult]
    ) -> Deferred[list[DownloadResult]]:
        """
        C{outcomes}, once every started factory has stopped (or after
        L{FACTORY_STOP_GRACE} seconds, or at Ctrl-C).
        """
        assert self._factories is not None
        stopped = self._factories.whenStopped()
        if not stopped.called:
            stopped.addTimeout(self.FACTORY_STOP_GRACE, self.reactor)
        return stopped.addBoth(lambda _: outcomes)

    def _finish(self, ignored: object) -> Deferred[int]:
        self.elapsed = self.reactor.seconds() - self.started
        self._stopProgress()
        results = self.results = [r for r in self._results if r is not None]
        if self._printer is not None:
            # Poems that arrived are never lost, interrupted or not.
            self._printer.flush(everything=True)
        for finisher in self.finishers:
            finisher(results)
        if self.options.json:
            self._writeOut(
                json.dumps(self.summary(), indent=2, ensure_ascii=False).encode()
                + b"\n"
            )
        # Every byte of stdout delivered (or failed) before the summary, so
        # that the summary can tell.
        stdoutDone = succeed(None) if self._merged else self.out.close()
        return stdoutDone.addCallback(self._summarise)

    def _summarise(self, ignored: object) -> Deferred[int]:
        out = self.out
        if out.error is not None:
            if out.brokenPipe:
                self._err(
                    f"{PROG}: stdout was closed by its reader (broken pipe):"
                    " downloads stopped"
                )
            elif isinstance(out.error, ConnectionAborted):
                self._err(
                    f"{PROG}: error: stopped waiting for stdout: "
                    f"{_plural(out.written, 'byte')} written, not all delivered"
                )
            else:
                self._err(
                    f"{PROG}: error: cannot write to stdout: {describeError(out.error)}"
                )
        self._writeSummary()
        closing = [self.err.close()]
        if self._merged:
            closing.append(self.out.close())
        return gatherResults(closing).addCallback(self._exit)

    def _exit(self, ignored: object) -> int:
        self._status = self.exitStatus()
        return self._status

    def exitStatus(self) -> int:
        """
        128 + the signal if interrupted (130 for Ctrl-C); 141 if stdout's
        reader went away (as for a program killed by SIGPIPE); 1 if any
        poem failed or was not saved, stdout could not be written, or the
        timeline SVG not written; else 0.
        """
        if self.signal is not None:
            return 128 + self.signal
        if self.out.brokenPipe:
            return EXIT_BROKEN_PIPE
        assert self.results is not None
        if (
            self.out.error is not None
            or self._outputErrors
            or not all(r.ok for r in self.results)
        ):
            return EXIT_FAILED
        return EXIT_OK

    # -- the timeline --------------------------------------------------------

    def _timelineRows(self, results: list[TaskResult]) -> list[TaskRow]:
        assert self.tracer is not None
        return self.tracer.timeline({r.task: r.status.value for r in results})

    def _drawTimeline(self, results: list[TaskResult]) -> None:
        """C{--timeline}: the chart on stderr."""
        text = self._textErr()
        chart = render_timeline_text(self._timelineRows(results), stream=text)
        text.write(chart)

    def _writeTimelineSVG(self, results: list[TaskResult]) -> None:
        """
        C{--timeline-svg FILE}: the chart as an SVG file.  A failure to write
        it is one error line and exit status 1; everything else carries on.
        """
        path: Path = self.options.timeline_svg
        svg = render_timeline_svg(self._timelineRows(results))
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg)
        except OSError as e:
            message = f"cannot write timeline SVG {str(path)!r}: {e.strerror or e}"
            self._outputErrors.append(message)
            self._err(f"{PROG}: error: {message}")

    def _writeSummary(self) -> None:
        assert self.results is not None
        quiet, verbose = self.options.quiet, self.options.verbose
        for result in self.results:
            # -v has already said how each task ended.
            if (not quiet and not verbose) or (quiet and not result.ok):
                self._err(result.line())
        if not quiet:
            got = sum(r.ok for r in self.results)
            total = _plural(len(self.results), "poem")
            line = f"Got {got} of {total} in {self.elapsed:.2f} seconds"
            if self.signal == signal.SIGINT:
                line += " (interrupted)"
            elif self.signal is not None:
                line += f" (interrupted by {_signalName(self.signal)})"
            self._err(line)

    def summary(self) -> dict[str, Any]:
        """The C{--json} summary (schema in the module docstring)."""
        assert self.results is not None
        received = sum(r.ok for r in self.results)
        return {
            "version": JSON_VERSION,
            "ok": received == len(self.results),
            "interrupted": self.interrupted,
            "received": received,
            "total": len(self.results),
            "elapsed": round(self.elapsed, 6),
            "tasks": [r.json() for r in self.results],
        }

    # -- output ----------------------------------------------------------------

    def _writeOut(self, data: bytes) -> None:
        if self._merged:
            self._writeScreen(data)
        else:
            self.out.write(data)

    def _writeScreen(self, data: bytes) -> None:
        """Write to the stream the bar is on, erasing the bar first."""
        if self._barDrawn:
            self._screen.write(ERASE_LINE)
            self._barDrawn = False
        self._screen.write(data)

    def _err(self, line: str) -> None:
        self._writeScreen(line.encode("utf-8", "replace") + b"\n")

    def _startProgress(self) -> None:
        from twisted.internet.task import LoopingCall

        self._bar = ProgressBar(len(self.addresses))
        self._refresh = LoopingCall(self._drawBar)
        self._refresh.clock = self.reactor
        self._refresh.start(self.REFRESH_INTERVAL)

    def _drawBar(self) -> None:
        assert self._bar is not None
        width = 80
        fd = getattr(self._screen, "fd", None)
        if fd is not None:
            try:
                width = os.get_terminal_size(fd).columns or width  # 0: unknown
            except OSError:
                pass
        line = self._bar.render(self.reactor.seconds() - self.started, width)
        self._writeScreen(ERASE_LINE + line.encode("utf-8"))
        self._barDrawn = True

    def _stopProgress(self) -> None:
        if self._refresh is not None and self._refresh.running:
            self._refresh.stop()
        self._refresh = None
        if self._barDrawn:
            self._screen.write(ERASE_LINE)
            self._barDrawn = False
        self._bar = None


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


def _usage(stderr: IO[str] | None, error: UsageError) -> int:
    if stderr is not None:  # None: started with stderr closed (2>&-)
        try:
            stderr.write(f"{PROG}: error: {error} (see {PROG} --help)\n")
            stderr.flush()
        except (OSError, ValueError):
            pass
    return EXIT_USAGE


def run(
    argv: Sequence[str],
    *,
    reactor: Any,
    stdout: OutputStream | IO[bytes] | None,
    stderr: OutputStream | IO[str] | None,
    progress: bool | None = None,
) -> Deferred[int]:
    """
    Run C{get-poetry} with C{argv} on C{reactor}; the result is the exit
    status.  A usage error is reported on C{stderr} and gives 2 at once.
    """
    try:
        options = parse_args(argv)
    except UsageError as e:
        text = stderr if not isinstance(stderr, OutputStream) else None
        if isinstance(stderr, OutputStream):
            stderr.write(f"{PROG}: error: {e} (see {PROG} --help)\n".encode())
            return stderr.close().addCallback(lambda _: EXIT_USAGE)
        return succeed(_usage(text, e))
    return Run(
        options, reactor=reactor, stdout=stdout, stderr=stderr, progress=progress
    ).start()


STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""The signals that stop a run as Ctrl-C does (those this platform has)."""


def _stopSignals() -> list[int]:
    return [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]


def _wantedSignals() -> list[int]:
    """
    The stop signals whose disposition is still the default: one the
    program was started with ignored (C{nohup} ignores SIGHUP) stays
    ignored, and a debugger's SIGINT handler is left alone.  Call it before
    the reactor installs its own handlers.
    """
    wanted = []
    for signum in _stopSignals():
        current = signal.getsignal(signum)
        if signum == signal.SIGINT:
            if current is signal.default_int_handler:
                wanted.append(signum)
        elif current == signal.SIG_DFL:
            wanted.append(signum)
    return wanted


def _installStopHandlers(
    reactor: Any,
    run: Run,
    signals: Sequence[int],
    lastResort: Callable[[int], object] = os._exit,
) -> Callable[[int, object], None]:
    """
    Make each of C{signals} stop the downloads (partial summary, status
    128 + signal) instead of stopping the reactor, which would cut every
    connection and blame the servers (C{PoemTruncated}).  A second signal
    stops waiting for a stdout nobody reads; a third exits at once.

    @return: the handler (for tests).
    """
    count = 0

    def onSignal(signum: int, frame: object) -> None:
        nonlocal count
        count += 1
        if count == 1:
            # callFromThread: safe from a signal handler, and wakes the reactor.
            reactor.callFromThread(run.interrupt, signum)
        elif count == 2:
            reactor.callFromThread(run.abandonOutput)
        else:
            for stream in (run.out, run.err):
                if isinstance(stream, FDStream):
                    stream.restoreBlocking()
            lastResort(128 + (run.signal or signum))

    for signum in signals:
        signal.signal(signum, onSignal)
    return onSignal


class _DaemonThreadPool(ThreadPool):
    """A thread pool whose threads never keep the process alive."""

    @staticmethod
    def threadFactory(*args: Any, **kwargs: Any) -> threading.Thread:  # type: ignore[override]
        thread = threading.Thread(*args, **kwargs)
        thread.daemon = True
        return thread


def installResolver(reactor: Any) -> ThreadPool:
    """
    Resolve host names on C{reactor} in daemon threads of a pool of their
    own.

    C{getaddrinfo} cannot be cancelled: with Twisted's default resolver a
    lookup that never answers keeps a thread of the reactor's pool busy,
    and the reactor joins that pool at shutdown, so the process outlives
    its last result (or Ctrl-C) until the lookup returns.  This pool is
    never joined: a lookup still running when the run ends is abandoned
    with the process.  (Only the program's entry point does this: it
    changes the reactor for everything else in the process.)

    @return: the pool.
    """
    pool = _DaemonThreadPool(0, 10, "get-poetry resolver")
    pool.start()
    reactor.installNameResolver(
        GAIResolver(reactor, getThreadPool=lambda: pool, getaddrinfo=socket.getaddrinfo)
    )
    return pool


def raiseOpenFileLimit(resourceModule: Any = None) -> None:
    """
    Raise the soft C{RLIMIT_NOFILE} to the hard limit, so that many
    downloads can run at once (Linux's default soft limit is 1024).  The
    program's entry point does this: a library call never changes
    process-wide limits.
    """
    if resourceModule is None:
        try:
            import resource as resourceModule
        except ImportError:  # pragma: no cover (Windows)
            return
    soft, hard = resourceModule.getrlimit(resourceModule.RLIMIT_NOFILE)
    infinity = resourceModule.RLIM_INFINITY
    target = hard if hard != infinity else max(soft, 1 << 20)
    if soft != infinity and soft < target:
        try:
            resourceModule.setrlimit(resourceModule.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _encoding(stream: Any) -> str | None:
    return getattr(stream, "encoding", None) or "utf-8"


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The C{get-poetry} console script and C{python -m poetry}."""
    closed = reserveStandardFDs()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_args(args)
    except UsageError as e:
        sys.exit(_usage(None if 2 in closed else sys.stderr, e))
    raiseOpenFileLimit()
    signals = _wantedSignals()

    from twisted.internet import task

    def start(reactor: Any) -> Deferred[None]:
        installResolver(reactor)
        stdout: OutputStream = (
            ClosedStream("stdout")
            if 1 in closed
            else FDStream(reactor, 1, "stdout", _encoding(sys.stdout))
        )
        stderr: OutputStream = (
            ClosedStream("stderr")
            if 2 in closed
            else FDStream(reactor, 2, "stderr", _encoding(sys.stderr))
        )
        cliRun = Run(options, reactor=reactor, stdout=stdout, stderr=stderr)
        # After the reactor's own handlers (installed as it starts running),
        # which would stop the reactor and cut every connection.
        reactor.callWhenRunning(_installStopHandlers, reactor, cliRun, signals)

        def exit(status: int) -> None:
            if status != EXIT_OK:
                raise SystemExit(status)

        return cliRun.start().addCallback(exit)

    task.react(start)
