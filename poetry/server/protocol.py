"""
The poem protocol: sends one poem, fast or slow, then ends the connection
with a lingering close.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableDescriptor, IPullProducer
from twisted.internet.protocol import connectionDone
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.addresses import formatAddress
from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome

__all__ = ["PoetryServerProtocol"]


class PoetryServerProtocol(BaseServerProtocol):
    """
    Sends one poem, then ends the connection with a lingering close.

    Fast mode (the factory's C{delay} is L{None}) writes the poem at once; a
    poem larger than L{STREAM_CHUNK} is streamed by a pull producer.  Slow
    mode writes C{chunkSize} bytes at each of the factory's L{SlowSchedule}
    ticks (L{sendChunk}).

    A client's half-close (its FIN: C{shutdown(SHUT_WR)}, C{nc -N}, asyncio's
    C{write_eof}) changes nothing: C{readConnectionLost} only notes that the
    client will send no more, and the poem goes on.

    The lingering close, as nginx does it: after the last byte the server
    half-closes (C{loseWriteConnection}: the kernel sends what it holds, then
    a FIN) and keeps reading and discarding until the client closes; only
    then does it close the socket.  Closing a socket while the client's
    bytes are unread makes the kernel send a reset that can destroy the poem
    in flight; lingering never leaves them unread.  A transport that cannot
    half-close (not an L{IHalfCloseableDescriptor}) is closed with
    C{loseConnection}.

    @cvar STREAM_CHUNK: poems up to this many bytes are written in one
        C{write}; larger ones are sent by a pull producer this many bytes at a
        time.  It bounds what the server holds in user space for a client that
        does not read: at most one chunk, however large the poem.
    """

    STREAM_CHUNK = 65536

    #: How much of the poem has been sent: the offset of its next byte.
    #: (C{sent} counts every byte written, a subclass's own included.)
    offset: int = 0
    #: This connection's entry in the factory's L{SlowSchedule}, if any.
    _entry: list[Any] | None = None
    #: This connection's entry in the factory's linger L{Deadlines}.
    _linger: list[Any] | None = None

    def connectionMade(self) -> None:
        BaseServerProtocol.connectionMade(self)
        factory = self.factory
        if factory.delay is None:
            self._sendFast()
        else:
            self.sendChunk()
            if self.offset < len(self.poem.data):
                factory.schedule.add(self, self.started + factory.delay)

    def _sendFast(self) -> None:
        data = self.poem.data
        if len(data) <= self.STREAM_CHUNK:
            self.offset = len(data)
            self.send(data)
            self._finished()
        else:
            self.transport.registerProducer(_PoemProducer(self), False)

    def sendChunk(self) -> bool:
        """
        Write the next C{chunkSize} bytes of the poem; close the connection
        after the last one.

        @return: whether more of the poem remains to be sent.
        """
        data = self.poem.data
        factory = self.factory
        offset = self.offset
        chunk = data[offset : offset + factory.chunkSize]
        self.offset = end = offset + len(chunk)
        self.send(chunk)
        if factory.traceChunks:
            factory.events.emit(
                factory.lifecycleLog,
                LogLevel.debug,
                "{peer} chunk: {bytes} bytes at offset {offset}",
                {
                    "lifecycle": "chunk",
                    "peer": formatAddress(self.transport.getPeer()),
                    "bytes": len(chunk),
                    "offset": offset,
                },
            )
        if end >= len(data):
            self._finished()
            return False
        return True

    def _finished(self) -> None:
        """
        The whole poem has been handed to the transport: half-close and
        linger (see the class docstring).  The outcome is
        L{ConnectionOutcome.COMPLETE} unless the client resets or outstays
        L{LINGER_TIMEOUT}.
        """
        self.outcome = ConnectionOutcome.COMPLETE
        if IHalfCloseableDescriptor.providedBy(self.transport):
            cast(Any, self.transport).loseWriteConnection()
        else:
            self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        """
        The client half-closed: keep sending.  If the server had half-closed
        already (the poem is in the kernel), both sides are done: close.
        """
        self.readClosed = True
        if self.writeClosed:
            self._cancelLinger()
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """
        The server's half-close is done: every byte is in the kernel and
        the FIN follows it.  Close now if the client has half-closed too,
        else linger for at most L{LINGER_TIMEOUT} seconds.
        """
        self.writeClosed = True
        if self.readClosed:
            self.transport.loseConnection()
        else:
            self._linger = self.factory.lingerDeadlines(self.LINGER_TIMEOUT).add(self)

    def lingerExpired(self) -> None:
        """The client did not close within L{LINGER_TIMEOUT}: close it."""
        self._linger = None
        self.outcome = ConnectionOutcome.LINGER_TIMEOUT
        self.transport.loseConnection()

    def _cancelLinger(self) -> None:
        linger, self._linger = self._linger, None
        if linger is not None:
            self.factory.lingerDeadlines(self.LINGER_TIMEOUT).cancel(linger)

    def cut(self) -> None:
        """
        End this connection at the end of the shutdown grace.  One whose
        poem is all in the kernel (lingering: it lingers through the grace,
        like any connection, so no stray byte from its client can turn the
        close into a reset) is closed cleanly: its poem is complete.  Any
        other is aborted (L{BaseServerProtocol.cut}).
        """
        if self.writeClosed:
            self._cancelLinger()
            self.transport.loseConnection()
            return
        BaseServerProtocol.cut(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelLinger()
        if self.outcome is ConnectionOutcome.COMPLETE and not isinstance(
            reason.value, ConnectionDone
        ):
            # Reset by the client after the whole poem was handed over: if
            # it was all in the kernel, the client reset instead of closing.
            self.outcome = (
                ConnectionOutcome.CLIENT_RESET
                if self.writeClosed
                else ConnectionOutcome.CLIENT_GONE
            )
        BaseServerProtocol.connectionLost(self, reason)


@implementer(IPullProducer)
class _PoemProducer:
    """
    A pull producer (L{twisted.internet.interfaces.IPullProducer}) that hands
    a large poem to the transport one L{PoetryServerProtocol.STREAM_CHUNK} at
    a time, each chunk only once the transport's buffer has drained.
    """

    def __init__(self, protocol: PoetryServerProtocol) -> None:
        self.protocol = protocol

    def resumeProducing(self) -> None:
        proto = self.protocol
        data = proto.poem.data
        offset = proto.offset
        chunk = data[offset : offset + proto.STREAM_CHUNK]
        proto.offset = end = offset + len(chunk)
        proto.send(chunk)
        if end >= len(data):
            proto.transport.unregisterProducer()
            proto._finished()

    def stopProducing(self) -> None:
        """The connection is gone; L{PoetryServerProtocol} logs it."""
