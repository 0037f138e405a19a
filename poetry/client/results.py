"""
What downloads produce: a L{Poem}, and for each download of L{get_poems}
a L{DownloadResult} whose L{DownloadResult.status} (a L{DownloadStatus})
says how it ended.

C{DownloadStatus} is the one word for how a download ended: the summary,
the C{--json} output and the timeline of C{get-poetry} all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from twisted.internet.defer import CancelledError

from poetry.addresses import Address
from poetry.errors import PoemTimeout

__all__ = ["AttemptRecord", "DownloadResult", "DownloadStatus", "Poem"]


class DownloadStatus(Enum):
    """
    How one download ended.  The values are the words the timeline draws.
    """

    OK = "ok"
    """The poem arrived."""

    FAILED = "failed"
    """It did not: refused, truncated, empty, too large, a broken callback,
    or (in C{get-poetry}) not saved."""

    TIMED_OUT = "timeout"
    """The timeout expired first (a L{PoemTimeout})."""

    CANCELLED = "cancelled"
    """It was cancelled (L{CancelledError}) before it ended: Ctrl-C, say."""

    @property
    def failed(self) -> bool:
        """Whether this is a failure: L{FAILED} or L{TIMED_OUT}."""
        return self is DownloadStatus.FAILED or self is DownloadStatus.TIMED_OUT

    @property
    def verdict(self) -> str:
        """
        The coarse word of a summary line and of C{--json}'s C{"status"}:
        C{"ok"}, C{"failed"} (a timeout is a failure there, its error says
        which) or C{"cancelled"}.
        """
        return "failed" if self.failed else self.value


@dataclass(frozen=True, slots=True, weakref_slot=True, eq=False)
class Poem:
    """
    A complete poem.

    @ivar data: the exact bytes the server sent.
    @ivar address: the server it was fetched from, as asked for.
    @ivar peer: the address actually connected to (the resolved IP), if known.
    @ivar elapsed: seconds from starting to connect to the end of the poem.
    """

    data: bytes = field(repr=False)
    address: Address
    peer: Address | None = None
    elapsed: float = 0.0
    # The decoded text and whether it was valid UTF-8, filled in on first
    # use (a slot, not functools.cached_property, which needs a __dict__;
    # left unset until then: setting a frozen field costs a poem more).
    _decoded_cache: tuple[str, bool] | None = field(
        init=False, repr=False, compare=False
    )

    @property
    def _decoded(self) -> tuple[str, bool]:
        decoded = getattr(self, "_decoded_cache", None)
        if decoded is None:
            try:
                decoded = self.data.decode("utf-8"), True
            except UnicodeDecodeError:
                decoded = self.data.decode("utf-8", "replace"), False
            object.__setattr__(self, "_decoded_cache", decoded)
        return decoded

    @property
    def text(self) -> str:
        """The poem as text: UTF-8, invalid bytes replaced by U+FFFD."""
        return self._decoded[0]

    @property
    def valid_utf8(self) -> bool:
        """Whether the bytes are valid UTF-8 (so L{text} is exact)."""
        return self._decoded[1]

    @property
    def replaced(self) -> bool:
        """Whether L{text} had to replace invalid bytes."""
        return not self._decoded[1]

    @property
    def size(self) -> int:
        """The poem's length in bytes."""
        return len(self.data)


class AttemptRecord(NamedTuple):
    """
    One connection attempt of a download (one factory).  A named tuple:
    immutable and made at the cost of a tuple, once per attempt.

    @ivar try_number: which try it belongs to (1, then 2 for the first
        retry, ...).
    @ivar destination: where it connected: C{[::1]:10001}, C{unix:/path}.
    @ivar started: when it started (the reactor's seconds).
    @ivar elapsed: seconds until it ended.
    @ivar error: how it failed, or L{None} if the poem arrived.
    """

    try_number: int
    destination: str
    started: float
    elapsed: float
    error: BaseException | None


@dataclass(frozen=True, slots=True, eq=False, init=False)
class DownloadResult:
    """
    How one download of L{get_poems} ended: with a L{poem}, or an L{error}.

    @ivar index: the address's position in the input (0-based).
    @ivar address: the server.
    @ivar poem: the poem, if it arrived.
    @ivar error: why not: a L{PoemError}, L{CancelledError}, or (a bug) any
        other exception.
    @ivar elapsed: seconds from starting the download to its end (0 if it
        never started).
    @ivar started: when it started (the reactor's seconds), if it did.
    """

    index: int
    address: Address
    poem: Poem | None
    error: BaseException | None
    elapsed: float
    started: float | None
    _attempts: tuple[AttemptRecord, ...] | None = field(repr=False)

    def __init__(
        self,
        index: int,
        address: Address,
        poem: Poem | None = None,
        error: BaseException | None = None,
        elapsed: float = 0.0,
        attempts: tuple[AttemptRecord, ...] | None = (),
        started: float | None = None,
    ) -> None:
        """
        @param attempts: the attempts it made, or L{None} for the one
            attempt of a download to one address without retries, which
            L{attempts} then makes from the result when asked (nothing is
            recorded as such a download goes, and most callers never ask).
        """
        setattr_ = object.__setattr__
        setattr_(self, "index", index)
        setattr_(self, "address", address)
        setattr_(self, "poem", poem)
        setattr_(self, "error", error)
        setattr_(self, "elapsed", elapsed)
        setattr_(self, "started", started)
        if attempts is not None:  # else left unset: made when asked for
            setattr_(self, "_attempts", attempts)

    @property
    def attempts(self) -> tuple[AttemptRecord, ...]:
        """
        Every connection attempt it made (one per address tried, per try),
        in order; the last one's error is L{error}.
        """
        attempts: tuple[AttemptRecord, ...] | None = getattr(self, "_attempts", None)
        if attempts is not None:
            return attempts
        started = 0.0 if self.started is None else self.started
        return (AttemptRecord(1, str(self.address), started, self.elapsed, self.error),)

    @property
    def tries(self) -> int:
        """How many tries it took (1 without retries; 0 if it never started)."""
        return max((a.try_number for a in self.attempts), default=0)

    @property
    def ok(self) -> bool:
        """Whether the poem arrived."""
        return self.poem is not None

    @property
    def status(self) -> DownloadStatus:
        """How the download ended."""
        if self.poem is not None:
            return DownloadStatus.OK
        if isinstance(self.error, PoemTimeout):
            return DownloadStatus.TIMED_OUT
        if isinstance(self.error, CancelledError):
            return DownloadStatus.CANCELLED
        return DownloadStatus.FAILED

    @property
    def task(self) -> int:
        """The 1-based task number (as in the trace and the summary)."""
        return self.index + 1

    @property
    def received(self) -> int:
        """Bytes received: the poem's size, or as many as the error knows of."""
        if self.poem is not None:
            return len(self.poem.data)
        return int(getattr(self.error, "received", 0))
