"""
The modes that hang on purpose: C{stall} (the first chunk, then nothing)
and C{silent} (nothing at all).  Only a client timeout, an explicit
C{--idle-timeout}, a client that half-closes (aborted L{LINGER_TIMEOUT}
later) or the server's shutdown ends them.
"""

from __future__ import annotations

from poetry.server.faults.base import Fault, FaultProtocol

__all__ = ["Silent", "SilentProtocol", "Stall", "StallProtocol"]


class StallProtocol(FaultProtocol):
    """
    Send the first chunk of the poem (the factory's C{chunk_size}, so
    C{--chunk-size}), then nothing, without closing: a server that hangs
    mid-poem.
    """

    hangs = True

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        self.send(self.poem.data[: self.factory.chunk_size])


class SilentProtocol(FaultProtocol):
    """Accept the connection and never send a byte: a server that hangs."""

    hangs = True


class Stall(Fault):
    """C{stall}: see L{StallProtocol}."""

    name = "stall"
    protocol = StallProtocol


class Silent(Fault):
    """C{silent}: see L{SilentProtocol}."""

    name = "silent"
    protocol = SilentProtocol
