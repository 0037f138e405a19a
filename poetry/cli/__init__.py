"""
The C{get-poetry} command: options, output, summary and exit status.

    get-poetry [options] ADDRESS...

ADDRESS is C{PORT}, C{HOST:PORT} or C{[IPv6]:PORT} (host 127.0.0.1 by
default), C{tls:HOST:PORT} (verified against the system's CAs, or
C{--cacert FILE}'s; C{--insecure} verifies nothing and says so on stderr)
or C{unix:PATH}.  A host name is resolved to all its addresses, each tried
in turn within the one C{--timeout}.  C{--retries N} tries a refused, reset,
truncated or timed-out poem again, up to N more times, after
C{--retry-delay} seconds doubling (at most 30), with jitter.  Poems are
fetched many at once by L{poetry.client.get_poems}: at most
C{--concurrency} (default 100) in all, C{--per-server} (default 20) from any
one server.

Output
======
  - Default: each poem on stdout, in command-line order, under a header
    C{==> HOST:PORT (task N) <==}; each poem is written as soon as every
    poem before it has ended, and released once written.  On a terminal,
    control characters and escape sequences in a poem are shown as text and
    a poem line starting with C{==>} as C{\\==>} (L{poetry.cli.terminal}).
    Then a summary on stderr: one line per task and C{Got N of M poems in
    X.XX seconds}.
  - C{--output-dir DIR}: each poem is saved to its own file in DIR the
    moment it arrives, instead of stdout, whole or not at all
    (L{poetry.cli.saving}).  Files are named C{TASK-HOST-PORT.txt} (at most
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
    (L{poetry.cli.output}); the summary comes once stdout has taken every byte.

Seeing the reactor at work (L{poetry.trace})
============================================
  - C{--trace}: every factory, protocol and timeout callback of every task,
    one line each on stderr the moment it runs (so in the real order of the
    calls), emitted as C{twisted.logger} events and written by
    L{poetry.trace.trace_observer}::

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
          "port": 10001,            # null for unix:
          "scheme": "tcp",          # "tcp" | "tls" | "unix"
          "status": "ok",           # "ok" | "failed" | "cancelled"
          "bytes": 1234,            # poem size, or bytes received before failing
          "elapsed": 0.01,          # seconds for this task
          "peer": "127.0.0.1:10001",  # address connected to, or null
          "valid_utf8": true,       # null unless status is "ok"
          "file": null,             # path written with --output-dir, or null
          "error": null             # or {"type": "PoemTimeout",
                                    #      "message": "127.0.0.1:10001: timed out ..."}
                                    # ("SaveError": arrived, not saved)
          "tries": 1,               # 1 + the retries it took
          "attempts": [             # every connection attempt, in order
            {"try": 1, "destination": "127.0.0.1:10001",
             "elapsed": 0.01, "error": null}   # or {"type", "message"}
          ]
        }
      ]
    }

Extending
=========
L{parse_args} (L{poetry.cli.options}) turns argv into an
C{argparse.Namespace}; L{Run} (L{poetry.cli.command}) builds a run from it
and only orchestrates: the outputs are sinks (L{poetry.cli.sinks.Sink}) fed
each chunk's size, each task's L{TaskResult} and, at the end, all of them.
A new flag is added to L{build_parser}, and its behaviour hooks into a
L{Run}: append a L{poetry.client.TraceRecorder} to L{Run.recorders} to see
every callback as it happens, or a L{poetry.cli.sinks.Sink} to L{Run.sinks}
for a new output.

Modules: L{poetry.cli.options} (the command line), L{poetry.cli.command}
(L{Run}, L{run}, L{main}), L{poetry.cli.summary} (the summary lines, the
JSON and the exit status: pure functions of the results),
L{poetry.cli.sinks} (the sink, saving, C{-v}), L{poetry.cli.printer}
(ordered printing), L{poetry.cli.progress} (the bar),
L{poetry.cli.tracing} (the tracer and the timeline outputs),
L{poetry.cli.output} and L{poetry.cli.terminal} (writing without
blocking; escaping), L{poetry.cli.saving}, L{poetry.cli.signals} and
L{poetry.cli.process} (what the entry point changes process-wide).
"""

from poetry.cli.command import Run, main, run
from poetry.cli.options import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    build_parser,
    parse_args,
)
from poetry.cli.printer import OrderedPrinter
from poetry.cli.process import install_resolver, raise_open_file_limit
from poetry.cli.summary import JSON_VERSION, TaskResult

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
    "install_resolver",
    "main",
    "parse_args",
    "raise_open_file_limit",
    "run",
]
