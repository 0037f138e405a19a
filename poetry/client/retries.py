"""
Trying a download again: L{Backoff}, the delay before each retry
(exponential, capped, with jitter), and L{Retrying}, which runs the tries
of one download.

A try is retried only if its error says it may succeed next time
(L{PoemError.retryable}: refused, reset or truncated, timed out); a poem too
large, an empty poem, a certificate that does not verify, a name that does
not resolve, a caller's broken callback or a cancel end the download at
once.  Each retry is a new try, so a new L{PoetryClientFactory} per
attempt, with its own timeout.

The download keeps its scheduler slot through the backoff: a retry never
waits behind other downloads, and a server that is struggling is not given
more connections at once because some of its downloads are retrying (the
retries of a download are one download to C{concurrency} and
C{per_server}).
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from poetry.client.protocol import TraceRecorder
from poetry.client.results import Poem
from poetry.errors import PoemError

__all__ = ["DEFAULT_RETRY_DELAY", "MAX_RETRY_DELAY", "Backoff", "Retrying"]

DEFAULT_RETRY_DELAY = 1.0
"""Seconds before the first retry, by default (doubling each time)."""

MAX_RETRY_DELAY = 30.0
"""The cap of the delay between two tries, in seconds (before jitter)."""

Try = Callable[[int, Callable[[], object]], Deferred[Poem]]
"""C{start_try(try_number, on_closed)}: start a try, from 1."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """
    The delay before retry C{n} (1 for the first): C{base * 2 ** (n - 1)},
    capped at C{cap}, then "equal jitter": a random point in its upper
    half, so that clients that failed together do not retry together.

    @ivar base: the first retry's delay before jitter (>= 0).
    @ivar cap: the longest delay before jitter.
    @ivar random: uniform in [0, 1), injectable for tests.
    """

    base: float = DEFAULT_RETRY_DELAY
    cap: float = MAX_RETRY_DELAY
    random: Callable[[], float] | None = None

    def nominal(self, retry: int) -> float:
        """Retry C{retry}'s delay before jitter."""
        if self.base <= 0:
            return 0.0
        exponent = min(retry - 1, 64)  # 2 ** 64 * base is past any cap
        return min(self.cap, self.base * math.pow(2, exponent))

    def delay(self, retry: int) -> float:
        """Retry C{retry}'s delay: in [nominal / 2, nominal)."""
        nominal = self.nominal(retry)
        fraction = (self.random or _random.random)()
        return nominal / 2 + nominal / 2 * fraction


class Retrying:
    """
    Run the tries of one download: the first at once, then, while the last
    one failed with a retryable L{PoemError} and retries are left, another
    after L{Backoff.delay}, once the last try's sockets are closed.

    L{start}'s Deferred fires once, with the poem or the last try's error;
    its C{on_closed} is called once the last try's sockets are closed.
    Cancelling it cancels the running try or the pending retry.
    """

    def __init__(
        self,
        start_try: Try,
        *,
        retries: int,
        backoff: Backoff,
        clock: Any,
        tracer: TraceRecorder | None = None,
        task: int = 1,
    ) -> None:
        self._start_try = start_try
        self.retries = retries
        self.backoff = backoff
        self.clock = clock
        self.tracer = tracer
        self.task = task
        self.tries = 0
        self._deferred: Deferred[Poem] | None = None
        self._on_closed: Callable[[], object] | None = None
        self._current: Deferred[Poem] | None = None
        self._failed: Failure | None = None  # the last try's, to retry
        self._closed = True  # the last try's sockets
        self._timer: Any = None

    def start(self, on_closed: Callable[[], object]) -> Deferred[Poem]:
        """Start the first try; call it once."""
        d: Deferred[Poem] = Deferred(self._cancel)
        self._deferred = d
        self._on_closed = on_closed
        self._try()
        return d

    def _try(self) -> None:
        self._timer = None
        self.tries += 1
        self._closed = False
        self._failed = None
        number = self.tries
        if number > 1 and self.tracer is not None:
            self.tracer.record(self.task, "retry", "started", attempt=number)
        d = self._current = self._start_try(number, lambda: self._try_closed(number))
        d.addBoth(self._try_ended, number)

    def _try_ended(self, outcome: object, number: int) -> None:
        if number != self.tries:
            return None
        self._current = None
        if self._deferred is None:
            return None  # cancelled
        if (
            isinstance(outcome, Failure)
            and isinstance(outcome.value, PoemError)
            and outcome.value.retryable
            and self.tries <= self.retries
        ):
            self._failed = outcome
            if self._closed:
                self._schedule()
            return None
        d, self._deferred = self._deferred, None
        d.callback(outcome)  # type: ignore[arg-type]
        self._maybe_closed()
        return None

    def _try_closed(self, number: int) -> None:
        if number != self.tries:
            return
        self._closed = True
        if self._failed is not None and self._timer is None:
            self._schedule()
        self._maybe_closed()

    def _schedule(self) -> None:
        delay = self.backoff.delay(self.tries)
        if self.tracer is not None:
            error = type(self._failed.value).__name__ if self._failed else None
            self.tracer.record(
                self.task,
                "retry",
                "scheduled",
                attempt=self.tries + 1,
                seconds=round(delay, 6),
                error=error,
            )
        self._timer = self.clock.callLater(delay, self._try)

    def _maybe_closed(self) -> None:
        if self._deferred is None and self._closed and self._timer is None:
            on_closed, self._on_closed = self._on_closed, None
            if on_closed is not None:
                on_closed()

    def _cancel(self, d: Deferred[Poem]) -> None:
        self._deferred = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        current, self._current = self._current, None
        if current is not None:
            current.cancel()
        self._maybe_closed()
