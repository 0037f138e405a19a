"""
The modes that send the whole poem, but not as the client expects it:
C{latency:SECONDS[,JITTER]} (late), C{bandwidth:BYTES_PER_SECOND} (slowly,
smoothly), C{slicer:AVERAGE[,VARIATION[,DELAY]]} (in many small writes)
and C{slow-close:SECONDS} (then the connection held open).  Each ends with
the poem protocol's clean, lingering close, so a client must end up with
the whole poem: what they test is its patience and its reassembly.

Every wait is a timer on the factory's clock; random values (jitter, slice
sizes) come from the connection's own seeded generator
(L{FaultProtocol.random}).
"""

from __future__ import annotations

import math
from typing import Any

from twisted.internet.interfaces import IPullProducer
from zope.interface import implementer

from poetry.server.faults.base import (
    CleanCloseFaultProtocol,
    Fault,
    StreamingFaultProtocol,
)
from poetry.server.outcome import ConnectionOutcome

__all__ = [
    "Bandwidth",
    "BandwidthProtocol",
    "Latency",
    "LatencyProtocol",
    "Slicer",
    "SlicerProtocol",
    "SlowClose",
    "SlowCloseProtocol",
]


def _shown(x: float) -> str:
    """A number as C{--fault} would take it back: C{1}, C{0.25}."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _seconds(mode: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{mode}: {what} must be a number, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{mode}: {what} must be a finite number >= 0, not {value!r}")
    return float(value)


def _whole(mode: str, what: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{mode}: {what} must be a whole number >= {minimum}, not {value!r}"
        )
    return value


class _PoemStream(StreamingFaultProtocol):
    """Streams the poem itself (a chunk per drain) once started."""

    def send_poem(self) -> None:
        """Start sending the whole poem."""
        self.start_streaming(len(self.poem.data))

    def block(self, offset: int, size: int) -> bytes:
        return self.poem.data[offset : offset + size]


class LatencyProtocol(_PoemStream):
    """
    Wait C{fault.seconds} (plus or minus a uniform C{fault.jitter}, never
    below zero), then send the poem as fast mode does (a chunk per drain)
    and close cleanly.
    """

    fault: Latency
    #: The wait this connection drew, in seconds.
    wait = 0.0

    def connectionMade(self) -> None:
        StreamingFaultProtocol.connectionMade(self)
        fault = self.fault
        wait = fault.seconds
        if fault.jitter:
            wait += self.random.uniform(-fault.jitter, fault.jitter)
        self.wait = max(0.0, wait)
        self.call_later(self.wait, self.send_poem)


class SlowCloseProtocol(_PoemStream):
    """
    Send the whole poem at once (a chunk per drain), then hold the
    connection open C{fault.seconds} before the clean close: a client that
    waits for the end of the connection waits that long.
    """

    fault: SlowClose

    def connectionMade(self) -> None:
        _PoemStream.connectionMade(self)
        self.send_poem()

    def streamed(self) -> None:
        self.idle_stop()
        self.call_later(self.fault.seconds, self._close)

    def _close(self) -> None:
        self.close_cleanly(ConnectionOutcome.COMPLETE)


@implementer(IPullProducer)
class _TimedWrites(CleanCloseFaultProtocol):
    """
    A mode that writes pieces of the poem on its own timer.  With an idle
    timeout it is a pull producer that writes nothing when asked, only to
    hear of drains: the idle timer runs from a write until the next drain.
    """

    offset = 0

    def connectionMade(self) -> None:
        CleanCloseFaultProtocol.connectionMade(self)
        if self.factory.idle_timeout is not None:
            self.transport.registerProducer(self, False)

    def write_piece(self, size: int) -> bool:
        """
        Send the next C{size} bytes of the poem; after the last, close.

        @return: whether more remains.
        """
        data = self.poem.data
        offset = self.offset
        end = self.offset = min(len(data), offset + size)
        if end > offset:
            self.idle_start()
            self.send(data[offset:end])
        if end >= len(data):
            self.close_cleanly(ConnectionOutcome.COMPLETE)
            return False
        return True

    def resumeProducing(self) -> None:
        """The transport drained: nothing is in flight."""
        self.idle_stop()

    def stopProducing(self) -> None:
        """The connection is gone; C{connectionLost} logs it."""


class BandwidthProtocol(_TimedWrites):
    """
    Send the poem at C{fault.rate} bytes a second, smoothly: a write every
    L{TICK} seconds (or every byte, below 1/L{TICK} bytes a second) of
    what the rate allows since the start, so the rate holds however late
    the timer fires, never one burst a second.
    """

    fault: Bandwidth

    #: Seconds between writes: ten a second.
    TICK = 0.1

    begun = 0.0
    ticks = 0

    def connectionMade(self) -> None:
        _TimedWrites.connectionMade(self)
        self.begun = self.factory.clock.seconds()
        self._next_tick()

    def _next_tick(self) -> None:
        """Tick at the next multiple of the interval: late ticks never drift."""
        self.ticks += 1
        due = self.begun + self.ticks * self.interval
        self.call_later(max(0.0, due - self.factory.clock.seconds()), self._tick)

    @property
    def interval(self) -> float:
        """Seconds between writes."""
        return max(self.TICK, 1.0 / self.fault.rate)

    def _tick(self) -> None:
        elapsed = self.factory.clock.seconds() - self.begun
        # The rate times the time since the start (a millionth of a byte of
        # slack for the clock's float sums), so a late tick catches up.
        due = math.floor(self.fault.rate * elapsed + 1e-6)
        if self.write_piece(due - self.offset):
            self._next_tick()


class SlicerProtocol(_TimedWrites):
    """
    Send the poem in writes of random sizes (uniform between C{average -
    variation} and C{average + variation} bytes), C{delay} seconds apart,
    with Nagle's algorithm off, so a client sees many small reads.
    """

    fault: Slicer

    def connectionMade(self) -> None:
        _TimedWrites.connectionMade(self)
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        self._slice()

    def _slice(self) -> None:
        fault = self.fault
        size = self.random.randint(
            fault.average - fault.variation, fault.average + fault.variation
        )
        if self.write_piece(size):
            self.call_later(fault.delay, self._slice)


class Latency(Fault):
    """
    C{latency:SECONDS[,JITTER]}: see L{LatencyProtocol}.

    @ivar seconds: the wait before the first byte.
    @ivar jitter: the most the wait varies, either way.
    """

    name = "latency"
    protocol = LatencyProtocol

    def __init__(self, seconds: float, jitter: float = 0.0) -> None:
        self.seconds = _seconds("latency", "SECONDS", seconds)
        self.jitter = _seconds("latency", "JITTER", jitter)

    def __str__(self) -> str:
        jitter = f",{_shown(self.jitter)}" if self.jitter else ""
        return f"latency:{_shown(self.seconds)}{jitter}"


class Bandwidth(Fault):
    """
    C{bandwidth:BYTES_PER_SECOND}: see L{BandwidthProtocol}.

    @ivar rate: bytes a second.
    """

    name = "bandwidth"
    protocol = BandwidthProtocol

    def __init__(self, rate: int) -> None:
        self.rate = _whole("bandwidth", "BYTES_PER_SECOND", rate, 1)

    def __str__(self) -> str:
        return f"bandwidth:{self.rate}"


class Slicer(Fault):
    """
    C{slicer:AVERAGE[,VARIATION[,DELAY]]}: see L{SlicerProtocol}.

    @ivar average: the mean size of a write, in bytes.
    @ivar variation: the most a write's size differs from C{average}
        (less than C{average}, so every write has at least one byte).
    @ivar delay: seconds between writes.
    """

    name = "slicer"
    protocol = SlicerProtocol

    #: Seconds between writes unless DELAY is given.
    DEFAULT_DELAY = 0.01

    def __init__(
        self, average: int, variation: int = 0, delay: float = DEFAULT_DELAY
    ) -> None:
        self.average = _whole("slicer", "AVERAGE", average, 1)
        self.variation = _whole("slicer", "VARIATION", variation, 0)
        if self.variation >= self.average:
            raise ValueError(
                f"slicer: VARIATION must be less than AVERAGE ({average}),"
                f" not {variation!r}"
            )
        self.delay = _seconds("slicer", "DELAY", delay)

    def __str__(self) -> str:
        return f"slicer:{self.average},{self.variation},{_shown(self.delay)}"


class SlowClose(Fault):
    """
    C{slow-close:SECONDS}: see L{SlowCloseProtocol}.

    @ivar seconds: how long the connection is held open after the poem.
    """

    name = "slow-close"
    protocol = SlowCloseProtocol

    def __init__(self, seconds: float) -> None:
        self.seconds = _seconds("slow-close", "SECONDS", seconds)

    def __str__(self) -> str:
        return f"slow-close:{_shown(self.seconds)}"
