"""
The poem protocol with an idle timeout (C{--idle-timeout}): what the factory
builds when it has one.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.server.protocol import PoetryServerProtocol, _PoemProducer

__all__ = ["GuardedServerProtocol"]


class GuardedServerProtocol(PoetryServerProtocol):
    """
    A L{PoetryServerProtocol} for a factory with an idle timeout.  The
    factory builds this class only then, so the plain protocol's fast and
    slow paths stay exactly as lean as they are.

    Idle timeout (L{TimeoutMixin}, timers from the factory's clock): the
    timer starts when the connection is made and restarts each time the
    transport reports that its write buffer has drained into the kernel
    (the C{resumeProducing} of a pull producer).  So it fires when no data
    has moved for C{idleTimeout} seconds: a client whose socket buffer is
    full because it does not read.  Then the connection is aborted, logged
    and counted (L{ConnectionOutcome.CUT_IDLE}).
    """

    _watching = False
    #: Slow mode: when the transport's buffer last drained (clock seconds).
    lastMoved = 0.0
    #: This connection's entry in the factory's idle L{Deadlines}, if any.
    _idle: list[Any] | None = None

    def connectionMade(self) -> None:
        factory = self.factory
        if factory.idleTimeout is not None:
            if factory.delay is None:
                # Fast mode: most poems leave the transport at once, so the
                # idle timer is an entry in one shared FIFO (see Deadlines);
                # a large poem's producer switches to TimeoutMixin.
                self._idle = factory.idleDeadlines.add(self)  # type: ignore[union-attr]
            else:
                # Slow mode writes on a schedule, not on demand: a pull
                # producer that writes nothing still tells us each time a
                # chunk drained.  No timer: each chunk time checks lastMoved
                # (see sendChunk).
                self.lastMoved = factory.clock.seconds()
                self.transport.registerProducer(_DrainWatcher(self), False)
                self._watching = True
        PoetryServerProtocol.connectionMade(self)

    def sendChunk(self) -> bool:
        """
        Slow mode with an idle timeout: before each chunk, cut the
        connection if its transport has not drained for C{idleTimeout}
        seconds (so a cut comes at a chunk time, at most one C{delay} after
        the timeout); a check per chunk costs less than restarting a timer
        at each drain.
        """
        if self._watching:
            factory = self.factory
            if factory.schedule.now - self.lastMoved >= factory.idleTimeout:  # type: ignore[operator]
                self.timeoutConnection()
                return False
        return PoetryServerProtocol.sendChunk(self)

    def _sendFast(self) -> None:
        if self._idle is not None and len(self.poem.data) > self.STREAM_CHUNK:
            self._cancelIdle()
            self.setTimeout(self.factory.idleTimeout)
            self.transport.registerProducer(_TimedPoemProducer(self), False)
        else:
            PoetryServerProtocol._sendFast(self)

    def _cancelIdle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            self.factory.idleDeadlines.cancel(idle)  # type: ignore[union-attr]

    def idleExpired(self) -> None:
        """A small fast poem did not leave the transport in time."""
        self._idle = None
        self.timeoutConnection()

    def _finished(self) -> None:
        if self._watching:
            # A registered producer would keep loseConnection from closing.
            self._watching = False
            self.transport.unregisterProducer()
            # Until the last chunk leaves the transport, the idle bound runs.
            self._idle = self.factory.idleDeadlines.add(self)  # type: ignore[union-attr]
        PoetryServerProtocol._finished(self)

    def writeConnectionLost(self) -> None:
        """The poem is all in the kernel: the linger bound replaces the idle timer."""
        self._cancelIdle()
        self.setTimeout(None)
        PoetryServerProtocol.writeConnectionLost(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelIdle()
        PoetryServerProtocol.connectionLost(self, reason)


@implementer(IPullProducer)
class _TimedPoemProducer(_PoemProducer):
    """A L{_PoemProducer} that restarts the idle timer at each drain."""

    protocol: GuardedServerProtocol

    def resumeProducing(self) -> None:
        self.protocol.resetTimeout()
        _PoemProducer.resumeProducing(self)


@implementer(IPullProducer)
class _DrainWatcher:
    """
    A pull producer that writes nothing: the transport calls
    C{resumeProducing} each time its buffer has drained, which records the
    time in the protocol's C{lastMoved} (slow mode's idle check).
    """

    def __init__(self, protocol: GuardedServerProtocol) -> None:
        self.protocol = protocol

    def resumeProducing(self) -> None:
        proto = self.protocol
        proto.lastMoved = proto.factory.clock.seconds()

    def stopProducing(self) -> None:
        """The connection is gone; the protocol logs it."""
