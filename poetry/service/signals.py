"""
L{ProcessSignals}: what the server process does on each signal a daemon is
sent.  Entry-point wiring, installed by L{poetry.service.tap.makeService}.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

if TYPE_CHECKING:
    from poetry.service.service import PoetryService

__all__ = ["ProcessSignals"]


class ProcessSignals:
    """
    What the server process does on each signal a daemon is sent: this is
    entry-point wiring, installed by L{makeService} once the reactor runs
    (after its own handlers, which it replaces), never by library code.

      - C{SIGTERM}, C{SIGINT}, C{SIGHUP}, C{SIGQUIT}: graceful stop (the
        service's C{--grace}); the same signal again, or another of them,
        cuts the poems still in flight at once.  SIGTERM and SIGINT go
        through the reactor's own handler, so, as Twisted does, the process
        ends by re-raising that signal once shut down; SIGHUP and SIGQUIT
        end with status 0.
      - C{SIGUSR1}: reopen the log file (logrotate's C{create} and
        C{postrotate kill -USR1}); nothing else, and nothing without one.
      - C{SIGUSR2}, C{SIGALRM}: ignored (logged), instead of killing the
        process outright.

    A handler only hands the signal to the reactor thread
    (C{callFromThread}); the work happens there.
    """

    GRACEFUL = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    REOPEN = ("SIGUSR1",)
    IGNORED = ("SIGUSR2", "SIGALRM")

    log = Logger()

    def __init__(
        self,
        service: PoetryService,
        reactor: Any,
        *,
        install: Callable[[int, Any], object] = signal.signal,
    ) -> None:
        self.service = service
        self.reactor = reactor
        self._install = install
        self.stop_requested = False

    def install(self) -> None:
        """Install a handler for every signal named above."""
        for name in (*self.GRACEFUL, *self.REOPEN, *self.IGNORED):
            number = getattr(signal, name, None)
            if number is not None:
                self._install(number, self._handler)
        self.log.info(
            "Signals: {graceful} stop gracefully (again: cut at once); "
            "{reopen} reopens the log file; {ignored} ignored",
            graceful=", ".join(self.GRACEFUL),
            reopen=", ".join(self.REOPEN),
            ignored=", ".join(self.IGNORED),
        )

    def _handler(self, number: int, frame: object) -> None:
        self.reactor.callFromThread(self.received, number)

    def received(self, number: int) -> None:
        """Act on signal C{number} (in the reactor thread)."""
        name = signal.Signals(number).name
        if name in self.GRACEFUL:
            if self.stop_requested:
                self.log.info("Received {signal} again: cutting now", signal=name)
                self.service.cut_now()
                return
            self.stop_requested = True
            if name == "SIGINT":
                self.reactor.sigInt(number)
            elif name == "SIGTERM":
                self.reactor.sigTerm(number)
            else:
                self.log.info("Received {signal}, shutting down.", signal=name)
                self.reactor.stop()
        elif name in self.REOPEN:
            log_file = self.service.log_file
            if log_file is None:
                self.log.info("Received {signal}: no log file to reopen", signal=name)
                return
            if self.service.log_observer is not None:
                self.service.log_observer.flush()  # the old file's last lines
            log_file.reopen()
            self.service.log_reopened()
            self.log.info(
                "Received {signal}: reopened the log file {path}",
                signal=name,
                path=log_file.path,
            )
        else:
            self.log.info("Received {signal}: ignored", signal=name)
