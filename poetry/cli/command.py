"""
The C{get-poetry} command: L{Run} (one run, orchestrating the downloads and
the sinks that write their output), L{run} and the entry point L{main}.
What each output does is in its own module (see L{poetry.cli}).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from twisted.internet.defer import Deferred, succeed

from poetry.addresses import Address
from poetry.cli.console import Console
from poetry.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    download_options,
    insecure_warning,
    parse_args,
    writes_stdout,
)
from poetry.cli.output import ClosedStream, FDStream, OutputStream, reserve_standard_fds
from poetry.cli.printer import OrderedPrinter
from poetry.cli.process import install_resolver, raise_open_file_limit
from poetry.cli.progress import LiveProgress, wants_progress
from poetry.cli.saving import Saver
from poetry.cli.signals import _install_stop_handlers, _wanted_signals
from poetry.cli.sinks import SavingSink, Sink, VerboseLog
from poetry.cli.summary import (
    TaskResult,
    closed_stdout_line,
    closing_lines,
    exit_status,
    json_summary,
)
from poetry.cli.tracing import Tracing, fan_out
from poetry.client import DownloadResult, TraceRecorder, get_poems
from poetry.trace import Tracer

__all__ = ["Run", "main", "run"]


class Run:
    """
    One run of C{get-poetry}: downloads for the parsed options, the sinks
    their output goes to, the summary, and the exit status.

    @ivar console: where it writes (L{Console}: stdout and stderr).
    @ivar outputs: the L{Outputs} the options ask for.
    @ivar recorders: L{TraceRecorder}s given every lifecycle callback of
        every download (empty: no tracing, no cost).
    @ivar sinks: the outputs (L{Sink}s), fed in order as the downloads
        progress.
    @ivar results: one L{TaskResult} per task, once the downloads have ended.
    @ivar tracing: the L{Tracing} of C{--trace}, C{--timeline} and
        C{--timeline-svg}, or L{None} when none of them is given.
    @ivar tracer: its L{Tracer}, or L{None}.
    @ivar signal: the signal that interrupted the run, or L{None}.
    """

    REFRESH_INTERVAL = 0.1
    """Seconds between redraws of the live progress bar."""

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
        @param progress: draw a live progress bar; by default as
            L{wants_progress} says.  Never with C{--trace}.
        """
        self.options = options
        self.reactor = reactor
        self.console = Console(stdout, stderr)
        self.out, self.err = self.console.out, self.console.err
        self.addresses: list[Address] = list(options.addresses)
        if progress is None:
            progress = wants_progress(options, self.console)
        self.show_progress = bool(progress) and not options.trace
        self.results: list[TaskResult] | None = None
        self.signal: int | None = None
        self.started = 0.0
        self.elapsed = 0.0
        self._status: int | None = None
        self._received = [0] * len(self.addresses)  # counted only if needed
        self._results: list[TaskResult | None] = [None] * len(self.addresses)
        self._downloads: Deferred[list[DownloadResult]] | None = None
        self._output_errors: list[str] = []
        self.outputs = Outputs.build(
            options,
            self.console,
            self.addresses,
            clock=reactor,
            progress=self.show_progress,
            interval=self.REFRESH_INTERVAL,
        )
        self.sinks: list[Sink] = self.outputs.sinks
        self.tracing = Tracing.build(
            options, reactor, self.console.text_err, self._output_failed
        )
        self.recorders: list[TraceRecorder] = []
        if self.tracing is not None:
            self.recorders += self.tracing.recorders
            self.sinks += self.tracing.sinks
        self.out.on_failure(self._stdout_failed)

    @property
    def tracer(self) -> Tracer | None:
        return None if self.tracing is None else self.tracing.tracer

    # -- running -----------------------------------------------------------

    def start(self) -> Deferred[int]:
        """Start the downloads; the result is the exit status."""
        options = self.options
        self.started = self.reactor.seconds()
        if self.out.kind == "closed" and writes_stdout(self.options):
            self.console.write_line(closed_stdout_line(json=options.json))
            return self.err.close().addCallback(lambda _: EXIT_FAILED)
        warning = insecure_warning(options)
        if warning is not None:
            self.console.write_line(warning)
        if self.outputs.progress is not None:
            self.outputs.progress.start()
        want_data = options.verbose or self.show_progress
        self._downloads = get_poems(
            self.addresses,
            **download_options(options),
            reactor=self.reactor,
            tracer=fan_out(self.recorders),
            on_data=self._on_data if want_data else None,
            on_outcome=self._on_outcome,
            keep_outcomes=False,
        )
        downloads = self._downloads
        if self.tracing is not None:
            downloads.addCallback(self.tracing.when_factories_stopped)
        return downloads.addCallback(self._finish)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """
        A signal (Ctrl-C, SIGTERM, SIGHUP): stop every download now; the
        run ends with status 128 + C{signum}, after printing or saving the
        poems that had arrived.  Once the downloads have ended and the run
        only waits for a stdout nobody reads, stop waiting for it
        (L{abandon_output}).
        """
        if self._downloads is None or self._status is not None:
            return
        if self.signal is None:
            self.signal = signum
        if self.results is None:
            self._downloads.cancel()
        else:
            self.abandon_output()

    def abandon_output(self) -> None:
        """
        Stop waiting for a stdout nobody reads: what it has not taken is
        dropped, and the summary says so.
        """
        self.console.abandon_stdout()

    def _stdout_failed(self, error: BaseException) -> None:
        """Stdout cannot take any more: nothing left to fetch for."""
        if self.results is None and writes_stdout(self.options):
            if self._downloads is not None:
                self._downloads.cancel()

    # -- as downloads progress: feeding the sinks ---------------------------

    def _on_data(self, index: int, nbytes: int) -> None:
        self._received[index] += nbytes
        for sink in self.sinks:
            sink.on_data(index, nbytes)

    def _on_outcome(self, outcome: DownloadResult) -> None:
        index = outcome.index
        result = TaskResult.from_result(outcome, self._received[index])
        self._results[index] = result
        poem = outcome.poem
        data = None if poem is None else poem.data
        for sink in self.sinks:
            sink.on_result(result, data)

    # -- the end -------------------------------------------------------------

    def _finish(self, ignored: object) -> Deferred[int]:
        self.elapsed = self.reactor.seconds() - self.started
        results = self.results = [r for r in self._results if r is not None]
        for sink in self.sinks:
            sink.on_end(results)
        if self.options.json:
            self.console.write_out(
                json_summary(
                    results, elapsed=self.elapsed, interrupted=self.signal is not None
                )
            )
        # Every byte of stdout delivered (or failed) before the summary, so
        # that the summary can tell.
        return self.console.stdout_done().addCallback(self._summarise)

    def _summarise(self, ignored: object) -> Deferred[int]:
        assert self.results is not None
        options = self.options
        for line in closing_lines(
            self.results,
            self.out,
            elapsed=self.elapsed,
            signum=self.signal,
            quiet=options.quiet,
            verbose=options.verbose,
        ):
            self.console.write_line(line)
        return self.console.close().addCallback(self._exit)

    def _exit(self, ignored: object) -> int:
        assert self.results is not None
        self._status = exit_status(
            self.results,
            signum=self.signal,
            broken_pipe=self.out.broken_pipe,
            output_failed=self.out.error is not None or bool(self._output_errors),
        )
        return self._status

    def _output_failed(self, message: str) -> None:
        """An output other than stdout failed: one error line, status 1."""
        self._output_errors.append(message)
        self.console.write_line(f"{PROG}: error: {message}")


@dataclass(frozen=True, slots=True)
class Outputs:
    """
    The sinks the options ask for, in the order they are fed: saving
    first (it may fail a task), the bar next (erased before anything else
    is written at the end), then the poems and C{-v}.
    """

    saving: SavingSink | None
    progress: LiveProgress | None
    printer: OrderedPrinter | None
    verbose: VerboseLog | None

    @property
    def sinks(self) -> list[Sink]:
        parts = (self.saving, self.progress, self.printer, self.verbose)
        return [sink for sink in parts if sink is not None]

    @classmethod
    def build(
        cls,
        options: argparse.Namespace,
        console: Console,
        addresses: Sequence[Address],
        *,
        clock: Any,
        progress: bool,
        interval: float,
    ) -> Outputs:
        count = len(addresses)
        directory = options.output_dir
        return cls(
            saving=None
            if directory is None
            else SavingSink(Saver(directory, len(str(count)))),
            progress=LiveProgress(console.screen, count, clock, interval)
            if progress
            else None,
            printer=OrderedPrinter(count, console.write_out, console.out.isatty)
            if directory is None and not options.json
            else None,
            verbose=VerboseLog(addresses, console.write_line)
            if options.verbose
            else None,
        )


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
        if isinstance(stderr, OutputStream):
            stderr.write(f"{PROG}: error: {e} (see {PROG} --help)\n".encode())
            return stderr.close().addCallback(lambda _: EXIT_USAGE)
        return succeed(_usage(stderr, e))
    return Run(
        options, reactor=reactor, stdout=stdout, stderr=stderr, progress=progress
    ).start()


def _encoding(stream: Any) -> str | None:
    return getattr(stream, "encoding", None) or "utf-8"


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The C{get-poetry} console script and C{python -m poetry}."""
    closed = reserve_standard_fds()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_args(args)
    except UsageError as e:
        sys.exit(_usage(None if 2 in closed else sys.stderr, e))
    raise_open_file_limit()
    signals = _wanted_signals()

    from twisted.internet import task

    def start(reactor: Any) -> Deferred[None]:
        install_resolver(reactor)
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
        cli_run = Run(options, reactor=reactor, stdout=stdout, stderr=stderr)
        # After the reactor's own handlers (installed as it starts running),
        # which would stop the reactor and cut every connection.
        reactor.callWhenRunning(_install_stop_handlers, reactor, cli_run, signals)

        def exit(status: int) -> None:
            if status != EXIT_OK:
                raise SystemExit(status)

        return cli_run.start().addCallback(exit)

    task.react(start)
