"""
The modes that end early with a clean close: C{refuse} (at once, nothing
sent) and C{truncate:BYTES} (the first BYTES bytes of the poem).

C{truncate} is the truncation the classic protocol cannot reveal: the poem
ends where the connection ends, so a clean close after BYTES bytes looks to
every client exactly like a poem BYTES bytes long.  Only framing would
tell: a protocol that announces the length first (a C{Content-Length},
netstrings, a length prefix as in L{twisted.protocols.basic.Int32StringReceiver})
or ends with a terminator lets its client see that fewer bytes arrived than
were promised.  C{get-poetry} reports a C{truncate} poem as a success.
"""

from __future__ import annotations

from poetry.server.faults.base import (
    ByteCountFault,
    Fault,
    FaultProtocol,
    StreamingFaultProtocol,
)
from poetry.server.outcome import ConnectionOutcome

__all__ = ["Refuse", "RefuseProtocol", "Truncate", "TruncateProtocol"]


class RefuseProtocol(FaultProtocol):
    """
    Close the connection at once, cleanly (FIN), without sending a byte: on
    the wire, an empty poem.  A client must not report it as a success.
    """

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        self.outcome = ConnectionOutcome.FAULT
        self.transport.loseConnection()


class TruncateProtocol(StreamingFaultProtocol):
    """
    Send the first C{fault.nbytes} bytes of the poem (all of it, if it is
    shorter), then close cleanly, lingering as the poem protocol does.
    """

    fault: Truncate

    def connectionMade(self) -> None:
        StreamingFaultProtocol.connectionMade(self)
        self.start_streaming(min(self.fault.nbytes, len(self.poem.data)))

    def block(self, offset: int, size: int) -> bytes:
        return self.poem.data[offset : offset + size]

    def streamed(self) -> None:
        self.close_cleanly(ConnectionOutcome.FAULT)


class Refuse(Fault):
    """C{refuse}: see L{RefuseProtocol}."""

    name = "refuse"
    protocol = RefuseProtocol


class Truncate(ByteCountFault):
    """
    C{truncate:BYTES}: see L{TruncateProtocol}.

    @ivar nbytes: how many bytes of the poem to send.
    """

    name = "truncate"
    protocol = TruncateProtocol
