"""
What C{get-poetry} says about its tasks: one L{TaskResult} per task, and
pure functions of the results for the summary lines on stderr, the C{--json}
document (schema in L{poetry.cli}'s docstring), the error line about stdout
and the exit status.

Nothing here writes or keeps a poem's bytes: a L{TaskResult} holds sizes and
reasons only, so memory follows what is in flight.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.error import ConnectionAborted

from poetry.addresses import Address
from poetry.cli.options import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, PROG
from poetry.cli.output import describe_error
from poetry.cli.saving import SaveError
from poetry.cli.signals import signal_name
from poetry.client import AttemptRecord, DownloadResult, DownloadStatus

__all__ = [
    "JSON_VERSION",
    "TaskResult",
    "attempt_json",
    "chunk_line",
    "closed_stdout_line",
    "closing_lines",
    "exit_status",
    "json_document",
    "json_summary",
    "plural",
    "stdout_error_line",
    "summary_lines",
    "task_json",
    "task_line",
]

JSON_VERSION = 1
"""The version of the C{--json} schema (see L{poetry.cli}'s docstring)."""


def plural(n: int, word: str) -> str:
    """C{1 byte}, C{2 bytes}."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
    attempts: tuple[AttemptRecord, ...] = ()

    @property
    def tries(self) -> int:
        """How many tries the download took (1 without retries)."""
        return max((a.try_number for a in self.attempts), default=1)

    @property
    def task(self) -> int:
        return self.index + 1

    @property
    def ok(self) -> bool:
        return self.status is DownloadStatus.OK

    @classmethod
    def from_result(cls, outcome: DownloadResult, received: int) -> TaskResult:
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
            attempts=outcome.attempts,
        )

    def fail_saving(self, error: SaveError) -> None:
        """The poem arrived but could not be saved: the task failed."""
        self.status = DownloadStatus.FAILED
        self.error_type = type(error).__name__
        self.error_message = str(error)


def chunk_line(index: int, nbytes: int, address: Address) -> str:
    """C{-v}'s line for a chunk: C{Task 3: got 10 bytes of poetry from HOST:PORT}."""
    return f"Task {index + 1}: got {plural(nbytes, 'byte')} of poetry from {address}"


def task_line(result: TaskResult) -> str:
    """The summary line: C{Task 1: ok, 971 bytes in 0.00 s from HOST:PORT}."""
    task = result.task
    seconds = f"{result.elapsed:.2f} s"
    if result.tries > 1:
        seconds += f" and {result.tries} tries"
    if result.ok:
        line = f"Task {task}: ok, {plural(result.bytes, 'byte')} in {seconds}"
        line += f" from {result.address}"
        if result.valid_utf8 is False:
            line += " (invalid UTF-8 replaced)"
        if result.file is not None:
            line += f" -> {result.file}"
        return line
    if result.status is DownloadStatus.CANCELLED:
        line = f"Task {task}: cancelled after {seconds} from {result.address}"
        if result.bytes:
            line += f", {plural(result.bytes, 'byte')} received"
        return line
    line = f"Task {task}: failed after {seconds}: {result.error_message}"
    if result.error_type == SaveError.__name__:
        line += f" ({plural(result.bytes, 'byte')} received, not saved)"
    return line


def summary_lines(
    results: Sequence[TaskResult],
    *,
    elapsed: float,
    signum: int | None,
    quiet: bool,
    verbose: bool,
) -> list[str]:
    """
    The summary on stderr: a line per task (with C{quiet}, only the failed
    ones; with C{verbose}, none, as C{-v} said how each ended) and, unless
    C{quiet}, C{Got N of M poems in X.XX seconds}, saying whether signal
    C{signum} interrupted the run.
    """
    lines = [
        task_line(r)
        for r in results
        if (not quiet and not verbose) or (quiet and not r.ok)
    ]
    if not quiet:
        got = sum(r.ok for r in results)
        line = f"Got {got} of {plural(len(results), 'poem')} in {elapsed:.2f} seconds"
        if signum == signal.SIGINT:
            line += " (interrupted)"
        elif signum is not None:
            line += f" (interrupted by {signal_name(signum)})"
        lines.append(line)
    return lines


def closing_lines(
    results: Sequence[TaskResult],
    out: Any,
    *,
    elapsed: float,
    signum: int | None,
    quiet: bool,
    verbose: bool,
) -> list[str]:
    """
    What a run writes on stderr at the end: the error line about stdout
    (C{out}, an L{OutputStream}), if any, then the L{summary_lines}.
    """
    error = stdout_error_line(
        out.error, broken_pipe=out.broken_pipe, written=out.written
    )
    lines = [] if error is None else [error]
    lines += summary_lines(
        results, elapsed=elapsed, signum=signum, quiet=quiet, verbose=verbose
    )
    return lines


def task_json(result: TaskResult) -> dict[str, Any]:
    """One task's object in the C{--json} document."""
    address = result.address
    return {
        "task": result.task,
        "address": str(address),
        "host": address.host,
        "port": None if address.is_unix else address.port,
        "scheme": address.scheme,
        "status": result.status.verdict,
        "bytes": result.bytes,
        "elapsed": round(result.elapsed, 6),
        "peer": result.peer,
        "valid_utf8": result.valid_utf8,
        "file": result.file,
        "error": None
        if result.error_type is None
        else {"type": result.error_type, "message": result.error_message},
        "tries": result.tries,
        "attempts": [attempt_json(a) for a in result.attempts],
    }


def attempt_json(attempt: AttemptRecord) -> dict[str, Any]:
    """One connection attempt's object in a task's C{"attempts"}."""
    error = attempt.error
    return {
        "try": attempt.try_number,
        "destination": attempt.destination,
        "elapsed": round(attempt.elapsed, 6),
        "error": None
        if error is None
        else {
            "type": type(error).__name__,
            "message": str(error) or type(error).__name__,
        },
    }


def json_document(
    results: Sequence[TaskResult], *, elapsed: float, interrupted: bool
) -> dict[str, Any]:
    """The C{--json} summary (schema in L{poetry.cli}'s docstring)."""
    received = sum(r.ok for r in results)
    return {
        "version": JSON_VERSION,
        "ok": received == len(results),
        "interrupted": interrupted,
        "received": received,
        "total": len(results),
        "elapsed": round(elapsed, 6),
        "tasks": [task_json(r) for r in results],
    }


def json_summary(
    results: Sequence[TaskResult], *, elapsed: float, interrupted: bool
) -> bytes:
    """L{json_document} as written on stdout: indented UTF-8, one newline."""
    document = json_document(results, elapsed=elapsed, interrupted=interrupted)
    return json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"


def closed_stdout_line(*, json: bool) -> str:
    """The error when stdout is closed and the poems (or C{json}) need it."""
    what = "the JSON summary" if json else "the poems"
    hint = "" if json else " (--output-dir DIR saves them to files)"
    return f"{PROG}: error: stdout is closed: nowhere to write {what}{hint}"


def stdout_error_line(
    error: BaseException | None, *, broken_pipe: bool, written: int
) -> str | None:
    """
    The error line about stdout, after C{written} bytes were taken, or
    L{None} when C{error} is L{None} (every byte delivered).
    """
    if error is None:
        return None
    if broken_pipe:
        return (
            f"{PROG}: stdout was closed by its reader (broken pipe): downloads stopped"
        )
    if isinstance(error, ConnectionAborted):
        return (
            f"{PROG}: error: stopped waiting for stdout: "
            f"{plural(written, 'byte')} written, not all delivered"
        )
    return f"{PROG}: error: cannot write to stdout: {describe_error(error)}"


def exit_status(
    results: Sequence[TaskResult],
    *,
    signum: int | None,
    broken_pipe: bool,
    output_failed: bool,
) -> int:
    """
    128 + the signal if interrupted (130 for Ctrl-C); 141 if stdout's
    reader went away (as for a program killed by SIGPIPE); 1 if any poem
    failed or was not saved, or some output (stdout, the timeline SVG)
    could not be written; else 0.
    """
    if signum is not None:
        return 128 + signum
    if broken_pipe:
        return EXIT_BROKEN_PIPE
    if output_failed or not all(r.ok for r in results):
        return EXIT_FAILED
    return EXIT_OK
