"""
The scheduler behind L{get_poems}: which download starts next, and when.

L{DownloadScheduler} has one job: run a list of downloads with at most
C{limit} in flight in all and C{per_server} to any one server, starting them
in input order, and hand each download's slot on only once both its result
and its socket's close have been seen.

Why not L{twisted.internet.defer.DeferredSemaphore}: a semaphore's token is
released when the result fires, and a download's socket closes a reactor
turn later after a timeout or cancel (so the sockets open could exceed the
concurrency); and two semaphores (in all, per server) taken one after the
other would make a download waiting for its server hold a token in all,
blocking the other servers' downloads behind it.  The per-server queues
of L{DownloadSlots} pick the next download by its input position across
servers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol as _Interface
from typing import cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from poetry.addresses import Address
from poetry.client.results import AttemptRecord, DownloadResult, Poem
from poetry.client.slots import DownloadSlots

__all__ = ["DownloadScheduler"]

_log = Logger(namespace="poetry.client")


class Clock(_Interface):
    def seconds(self) -> float:
        """The current time in seconds."""


Fetch = Callable[[int, Callable[[], object]], Deferred[Poem]]
"""
C{fetch(index, on_closed)}: start download C{index}, calling C{on_closed()}
once its socket is closed; return its L{Deferred}.
"""


AttemptsOf = Callable[[int], tuple[AttemptRecord, ...] | None]
"""
C{attempts_of(index)}: the attempts of download C{index}, which started;
L{None} if it made one attempt, not recorded (see L{DownloadResult}).
"""


class DownloadScheduler:
    """
    Run one download per target, at most C{limit} at once in all and
    C{per_server} at once to any one server, in input order.

    A download holds its slot until both its result and its socket's close
    have been seen (in either order); then the next download that both caps
    allow starts.  L{start}'s Deferred fires once every download has ended,
    with one L{DownloadResult} per target in input order (or an empty list
    when C{keep_results} is false).  It never fails; cancelling it cancels
    every download queued or running, and it then fires with every result,
    the unfinished ones failed with L{CancelledError}.  C{on_result} is
    given each result as its download ends; it may cancel the run.
    C{attempts_of(index)}, if given, gives the L{DownloadResult.attempts}
    of each download that started (the others made none).  Which download
    may start next is its L{DownloadSlots}' job.
    """

    __slots__ = (
        "_attempts_of",
        "_clock",
        "_done",
        "_ended_callback",
        "_fetch",
        "_filling",
        "_keep",
        "_on_result",
        "_remaining",
        "_results",
        "_running",
        "_seen_callback",
        "_slots",
        "_started_at",
        "_targets",
        "_to_see",
    )

    def __init__(
        self,
        targets: Sequence[Address],
        fetch: Fetch,
        clock: Clock,
        *,
        limit: int,
        per_server: int,
        keep_results: bool = True,
        on_result: Callable[[DownloadResult], object] | None = None,
        attempts_of: AttemptsOf | None = None,
    ) -> None:
        count = len(targets)
        self._attempts_of = attempts_of
        self._targets = targets
        self._fetch = fetch
        self._clock = clock
        self._keep = keep_results
        self._on_result = on_result
        self._slots = DownloadSlots(targets, limit=limit, per_server=per_server)
        self._results: list[DownloadResult | None] = [None] * count
        self._started_at: list[float | None] = [None] * count
        # How many of a started download's two ends (result, socket closed)
        # are still to be seen: 2, then 1, then 0 when its slot is free.
        self._to_see = bytearray(count)
        self._running: dict[int, Deferred[Poem]] = {}
        self._remaining = count
        self._filling = False
        self._done: Deferred[list[DownloadResult]] | None = Deferred(self._cancel_all)
        # Bound once: every download's callback and close notice refer to
        # these, rather than each making a bound method of its own.
        self._ended_callback = self._ended
        self._seen_callback = self._seen

    @property
    def in_flight(self) -> int:
        """How many downloads hold a slot."""
        return self._slots.in_flight

    def start(self) -> Deferred[list[DownloadResult]]:
        """
        Start as many downloads as the caps allow.  Call it once.

        @return: the L{Deferred} of all the results.
        """
        done = self._done
        assert done is not None, "already started and finished"
        self._fill()
        return done

    def _fill(self) -> None:
        # Start downloads while both caps allow.  A re-entrant call (a
        # download failing synchronously as it starts frees its slot at
        # once) returns at once: the outer loop picks the freed slot up.
        if self._filling:
            return
        self._filling = True
        try:
            take = self._slots.take
            while (index := take()) is not None:
                self._start(index)
        finally:
            self._filling = False

    def _start(self, index: int) -> None:
        self._started_at[index] = self._clock.seconds()
        self._to_see[index] = 2
        try:
            d = self._fetch(index, partial(self._seen_callback, index))
        except Exception:
            self._to_see[index] = 1  # no socket to wait for
            self._ended(Failure(), index)
            return
        self._running[index] = d
        d.addBoth(self._ended_callback, index)

    def _seen(self, index: int) -> None:
        # One of a started download's two ends was seen; after both, its
        # slot goes to the next download.
        to_see = self._to_see
        if not to_see[index]:
            return  # both seen already: never free a slot twice
        to_see[index] -= 1
        if to_see[index]:
            return
        self._slots.release(index)
        self._fill()

    def _ended(self, outcome: object, index: int) -> None:
        # The one callback per download.  The download counts as ended
        # before the caller hears of it, so the caller may cancel
        # everything from on_result.  Returns None: the download's Deferred
        # holds nothing afterwards.
        running = self._running.pop(index, None)
        started = self._started_at[index]
        elapsed = 0.0 if started is None else self._clock.seconds() - started
        target = self._targets[index]
        poem: Poem | None
        if isinstance(outcome, Failure):
            poem, error = None, outcome.value
        else:
            poem, error = outcome, None  # type: ignore[assignment]
        attempts: tuple[AttemptRecord, ...] | None = ()
        if running is not None and self._attempts_of is not None:
            attempts = self._attempts_of(index)
        result = DownloadResult(index, target, poem, error, elapsed, attempts, started)
        if self._keep:
            self._results[index] = result
        self._remaining -= 1
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                _log.failure(
                    "on_outcome callback failed for {address}",
                    address=str(result.address),
                )
        if started is not None:
            self._seen(index)
        if self._remaining == 0:
            self._finish()

    def _finish(self) -> None:
        d, self._done = self._done, None
        if d is not None:
            results = cast(list[DownloadResult], self._results) if self._keep else []
            d.callback(results)

    def _cancel_all(self, d: Deferred[list[DownloadResult]]) -> None:
        """Canceller of the results: end every download queued or running."""
        # Fail the queued ones first: they never start (with nothing
        # pending, no slot freed later starts anything either).
        queued = self._slots.drop_pending()
        for index in queued:
            self._ended(Failure(CancelledError()), index)
        for running in list(self._running.values()):
            running.cancel()
        if self._remaining == 0:
            # Cancelled from the last download's on_result, say: nothing was
            # left to end it, so fire it here (not with CancelledError).
            self._finish()
