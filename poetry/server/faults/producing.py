"""
The modes that send many chunks as pull producers, whatever the client
reads: C{reset:BYTES} (then a TCP reset), C{endless} (for ever) and
C{garbage:BYTES} (bytes that are not UTF-8, then a clean close).  Each
writes one L{CHUNK} per drain of the transport, so a client that does not
read costs the server one chunk, never C{BYTES}.
"""

from __future__ import annotations

from twisted.internet.interfaces import IPullProducer
from zope.interface import implementer

from poetry.server.faults.base import (
    CHUNK,
    ByteCountFault,
    Fault,
    FaultProtocol,
    StreamingFaultProtocol,
    repeated,
)
from poetry.server.outcome import ConnectionOutcome

__all__ = [
    "GARBAGE",
    "Endless",
    "EndlessProtocol",
    "Garbage",
    "GarbageProtocol",
    "Reset",
    "ResetProtocol",
]


@implementer(IPullProducer)
class ResetProtocol(FaultProtocol):
    """
    Send exactly C{fault.nbytes} bytes of poem text (the poem repeated if it
    is shorter), then abort the connection: the client sees a TCP reset,
    i.e. a truncated poem, never a clean end.

    It holds one block of the poem repeated (L{CHUNK} plus at most twice
    the poem), never C{nbytes}: each chunk is a slice of that block
    starting at the right offset into the poem.

    The abort waits until the transport has handed every byte to the kernel
    (the drain after the last chunk); on loopback the bytes then reach the
    client before the reset.  Across a real network a reset discards what
    the kernel had not yet sent, so a client may get fewer than C{nbytes}
    bytes, never more.
    """

    fault: Reset
    _block = b""

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        nbytes = self.fault.nbytes
        if nbytes:
            self._block = repeated(
                self.poem.data, min(nbytes, CHUNK + len(self.poem.data))
            )
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        self.resetTimeout()
        left = self.fault.nbytes - self.sent
        if left <= 0:
            self.outcome = ConnectionOutcome.FAULT
            self.transport.unregisterProducer()
            self.transport.abortConnection()
            return
        start = self.sent % len(self.poem.data)
        self.send(self._block[start : start + min(CHUNK, left)])

    def stopProducing(self) -> None:
        """The connection is gone; C{connectionLost} logs it."""


@implementer(IPullProducer)
class EndlessProtocol(FaultProtocol):
    """
    Send the poem over and over, forever, one L{CHUNK} (of whole copies of
    the poem) each time the transport's buffer has drained: it exercises a
    client's size limit.
    """

    _block = b""

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        data = self.poem.data
        self._block = data * max(1, CHUNK // len(data))
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        self.resetTimeout()
        self.send(self._block)

    def stopProducing(self) -> None:
        """The connection is gone; C{connectionLost} logs it."""


#: What C{garbage} sends, over and over: no prefix of it (and so of what
#: the client gets) is valid UTF-8, since its first byte, C{0xff}, never
#: appears in UTF-8; the rest are lone continuation bytes, an overlong
#: form, a truncated sequence and an encoded surrogate.
GARBAGE = b"\xff\xfe\x80\xbf\xc0\xaf\xe2\x28\xa1\xed\xa0\x80\xf8\x88\x80\x80"


class GarbageProtocol(StreamingFaultProtocol):
    """
    Send C{fault.nbytes} bytes that are not valid UTF-8 (L{GARBAGE},
    repeated), then close cleanly: on the wire a complete "poem" that no
    text decoder accepts.  A client must not print it as text unchanged
    without saying so.
    """

    fault: Garbage
    _block = b""

    def connectionMade(self) -> None:
        StreamingFaultProtocol.connectionMade(self)
        nbytes = self.fault.nbytes
        self._block = repeated(GARBAGE, min(nbytes, CHUNK) + len(GARBAGE))
        self.start_streaming(nbytes)

    def block(self, offset: int, size: int) -> bytes:
        start = offset % len(GARBAGE)
        return self._block[start : start + size]

    def streamed(self) -> None:
        self.close_cleanly(ConnectionOutcome.FAULT)


class Reset(ByteCountFault):
    """
    C{reset:BYTES}: see L{ResetProtocol}.

    @ivar nbytes: how many bytes to send before the reset.
    """

    name = "reset"
    protocol = ResetProtocol


class Endless(Fault):
    """C{endless}: see L{EndlessProtocol}."""

    name = "endless"
    protocol = EndlessProtocol


class Garbage(ByteCountFault):
    """
    C{garbage:BYTES}: see L{GarbageProtocol}.

    @ivar nbytes: how many bytes of garbage to send.
    """

    name = "garbage"
    protocol = GarbageProtocol
