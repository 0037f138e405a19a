"""
How the C{get-poetry} entry point handles SIGINT, SIGTERM and SIGHUP: the
first stops the downloads (partial summary, status 128 + signal), the second
stops waiting for a stdout nobody reads, the third exits at once.

Only the program's entry point calls L{_install_stop_handlers}: a library
call never changes process-wide signal handlers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from poetry.cli.output import FDStream, OutputStream

__all__ = ["STOP_SIGNALS", "Interruptible", "signal_name"]

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""The signals that stop a run as Ctrl-C does (those this platform has)."""


class Interruptible(Protocol):
    """What the signal handlers need of a run (L{poetry.cli.Run})."""

    out: OutputStream
    err: OutputStream
    signal: int | None

    def interrupt(self, signum: int = ...) -> None: ...

    def abandon_output(self) -> None: ...


def signal_name(signum: int) -> str:
    """C{SIGTERM} for 15; C{signal N} for a number this platform does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _stop_signals() -> list[int]:
    return [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]


def _wanted_signals() -> list[int]:
    """
    The stop signals whose disposition is still the default: one the
    program was started with ignored (C{nohup} ignores SIGHUP) stays
    ignored, and a debugger's SIGINT handler is left alone.  Call it before
    the reactor installs its own handlers.
    """
    wanted = []
    for signum in _stop_signals():
        current = signal.getsignal(signum)
        if signum == signal.SIGINT:
            if current is signal.default_int_handler:
                wanted.append(signum)
        elif current == signal.SIG_DFL:
            wanted.append(signum)
    return wanted


def _install_stop_handlers(
    reactor: Any,
    run: Interruptible,
    signals: Sequence[int],
    last_resort: Callable[[int], object] = os._exit,
) -> Callable[[int, object], None]:
    """
    Make each of C{signals} stop the downloads (partial summary, status
    128 + signal) instead of stopping the reactor, which would cut every
    connection and blame the servers (C{PoemTruncated}).  A second signal
    stops waiting for a stdout nobody reads; a third exits at once.

    @return: the handler (for tests).
    """
    count = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal count
        count += 1
        if count == 1:
            # callFromThread: safe from a signal handler, and wakes the reactor.
            reactor.callFromThread(run.interrupt, signum)
        elif count == 2:
            reactor.callFromThread(run.abandon_output)
        else:
            for stream in (run.out, run.err):
                if isinstance(stream, FDStream):
                    stream.restore_blocking()
            last_resort(128 + (run.signal or signum))

    for signum in signals:
        signal.signal(signum, on_signal)
    return on_signal
