"""
C{--workers N}: how long the parent waits before restarting a worker that
died (L{RestartBackoff}).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.internet import backoffPolicy

__all__ = ["RestartBackoff"]


class RestartBackoff:
    """
    The delay before restarting each worker number, on Twisted's own
    L{backoffPolicy} (as L{ClientService} reconnects): each quick death of
    the same worker doubles it, from L{RESTART_DELAY} up to
    L{MAX_RESTART_DELAY}; a worker that ran L{STABLE_AFTER} seconds before
    it died starts over.  Workers back off independently: one that cannot
    start does not slow the restart of another.
    """

    RESTART_DELAY = 0.5
    """Seconds before restarting a worker that died, the first time."""

    MAX_RESTART_DELAY = 30.0
    """
    The longest backoff: each quick death doubles the delay up to this, so
    a worker that cannot start (a bad poem file, an import error) costs one
    spawn every this many seconds, not a busy loop.
    """

    STABLE_AFTER = 10.0
    """A worker that ran this many seconds resets the backoff when it dies."""

    def __init__(self, policy: Callable[[int], float] | None = None) -> None:
        """
        @param policy: the delay after a worker's Nth quick death in a row
            (N from 0); by default doubling from L{RESTART_DELAY}, capped at
            L{MAX_RESTART_DELAY}, without jitter (the workers' restarts are
            the parent's own, not clients racing for one server).
        """
        if policy is None:
            policy = backoffPolicy(
                self.RESTART_DELAY, self.MAX_RESTART_DELAY, 2.0, jitter=lambda: 0.0
            )
        self.policy = policy
        self._failures: dict[int, int] = {}

    def delay(self, number: int, ran_for: float) -> float:
        """
        Worker C{number} died after running C{ran_for} seconds: the seconds
        to wait before starting it again.
        """
        if ran_for >= self.STABLE_AFTER:
            self._failures[number] = 0
        failures = self._failures.get(number, 0)
        self._failures[number] = failures + 1
        return self.policy(failures)
