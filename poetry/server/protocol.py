"""
The poem protocol: sends one poem, fast or slow, under an optional idle
timeout, then ends the connection with a lingering close.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import (
    IPullProducer,
)
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.server.accesslog import chunk_event
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome

__all__ = ["PoetryServerProtocol"]

# A global: reading an Enum member from its class costs ten times more (3.11).
_COMPLETE = ConnectionOutcome.COMPLETE


@implementer(IPullProducer)
class PoetryServerProtocol(BaseServerProtocol):
    """
    Sends one poem, then ends the connection with a lingering close.

    Fast mode (the factory's C{delay} is L{None}) writes the poem at once; a
    poem larger than L{STREAM_CHUNK} is streamed, the protocol being its own
    pull producer: one chunk each time the transport's buffer has drained.
    Slow mode writes C{chunk_size} bytes at each of the factory's
    L{SlowSchedule} ticks (L{send_chunk}).

    A client's half-close (C{nc -N}) changes nothing.  The lingering close,
    as nginx does it: after the last byte the server half-closes
    (C{loseWriteConnection}) and reads and discards until the client closes,
    for at most L{LINGER_TIMEOUT}, so no unread byte from the client makes
    the kernel reset the connection while the poem is in flight.

    The factory's C{idle_timeout}, if set, cuts a connection on which no data
    has moved for that long (L{ConnectionOutcome.CUT_IDLE}) until the poem
    is all in the kernel (C{writeConnectionLost}).  It is one timer in every
    mode, the base's L{setTimeout} on the factory's shared deadlines,
    restarted (L{resetTimeout}) each time the transport's buffer drains: a
    streamed poem hears drains as the pull producer it is; a slow poem
    registers itself as a pull producer for them (one that writes nothing:
    the schedule writes its chunks).

    @cvar STREAM_CHUNK: poems up to this many bytes are written in one
        C{write}; larger ones this many bytes at a time.  It bounds what the
        server holds in user space for a client that does not read.
    """

    STREAM_CHUNK = 65536

    #: How much of the poem has been sent (C{sent} counts every byte
    #: written, a subclass's own included).
    offset: int = 0
    #: This connection's entry in the factory's L{SlowSchedule}, while it
    #: has one.
    _entry: list[Any] | None = None
    #: Registered as the transport's pull producer: streaming a big poem
    #: (fast mode), or hearing drains for the idle timeout (slow mode).
    _producing = False

    def connectionMade(self) -> None:
        BaseServerProtocol.connectionMade(self)
        factory = self.factory
        timeout = factory.idle_timeout
        if timeout is not None:
            # From when the connection was made: the base's clock read.
            self.setTimeout(timeout, self.started)
        if factory.delay is None:
            data = self.poem.data
            if len(data) > self.STREAM_CHUNK:
                self._producing = True
                self.transport.registerProducer(self, False)
                return
            self.offset = len(data)
            self.send(data)
            # _finished without its producer check: none was registered.
            self.close_cleanly(_COMPLETE)
            return
        if timeout is not None:
            self._producing = True
            self.transport.registerProducer(self, False)
        if self.send_chunk():
            factory.schedule.add(self, self.started + factory.delay)

    def resumeProducing(self) -> None:
        """
        The transport's buffer has drained: data moved, so restart the idle
        timer.  Fast mode: write the next L{STREAM_CHUNK}; after the last
        one, stop producing.  (Slow mode writes on the schedule.)
        """
        self.resetTimeout()
        if self.factory.delay is not None:
            return
        data = self.poem.data
        offset = self.offset
        chunk = data[offset : offset + self.STREAM_CHUNK]
        self.offset = end = offset + len(chunk)
        self.send(chunk)
        if end >= len(data):
            self._finished()

    def stopProducing(self) -> None:
        """The connection is gone; C{connectionLost} logs it."""

    def send_chunk(self) -> bool:
        """
        Write the next C{chunk_size} bytes of the poem; close the connection
        after the last one.

        @return: whether more of the poem remains to be sent.
        """
        factory = self.factory
        data = self.poem.data
        offset = self.offset
        chunk = data[offset : offset + factory.chunk_size]
        self.offset = end = offset + len(chunk)
        self.send(chunk)
        if factory.trace_chunks:
            chunk_format, fields = chunk_event(self, offset)
            factory.lifecycle_log.debug(chunk_format, **fields)
        if end >= len(data):
            self._finished()
            return False
        return True

    def _finished(self) -> None:
        """
        The whole poem has been handed to the transport: half-close and
        linger.  The outcome is L{ConnectionOutcome.COMPLETE} unless the
        client resets or outstays L{LINGER_TIMEOUT}.
        """
        if self._producing:
            # A registered producer would keep the transport from closing;
            # the idle timer runs on until the poem has left the transport.
            self._producing = False
            self.transport.unregisterProducer()
        self.close_cleanly(_COMPLETE)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._entry is not None:
            self.factory.schedule.discard(self)
        BaseServerProtocol.connectionLost(self, reason)
