"""
What every fault mode shares: L{FaultProtocol} (the base of their
protocols, on the server's accounting base), L{CleanCloseFaultProtocol}
(the modes that end with a clean close, and linger as the poem protocol
does), and L{Fault} (the value that names a mode and builds its protocol).
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.interfaces import (
    IDelayedCall,
    IPullProducer,
)
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome

__all__ = [
    "CHUNK",
    "ByteCountFault",
    "CleanCloseFaultProtocol",
    "Fault",
    "FaultProtocol",
    "StreamingFaultProtocol",
    "repeated",
]

#: Bytes handed to the transport per write by the producing fault modes
#: (C{reset}, C{endless}, C{garbage}, the poem of C{latency} and
#: C{slow-close}): the most the server holds in user space for one such
#: connection, whether or not the client reads.
CHUNK = 65536


def repeated(data: bytes, size: int) -> bytes:
    """C{data} repeated (and cut) to exactly C{size} bytes."""
    copies = -(-size // len(data))
    return (data * copies)[:size]


class FaultProtocol(BaseServerProtocol):
    """
    The base of the fault modes' protocols.  The factory's C{idle_timeout},
    if set, runs (the base's L{setTimeout}, on the factory's shared
    deadlines) from the moment the connection is made; a mode that writes
    restarts it each time the transport has drained (C{resetTimeout}).

    @cvar hangs: whether the mode stops sending on purpose and waits
        (C{stall}, C{silent}).  The server's default idle timeout does not
        apply to such a mode (only an explicit C{--idle-timeout} does; see
        L{poetry.server.default_idle_timeout}), and once its client has
        closed its side such a connection is aborted after
        L{LINGER_TIMEOUT}: it will never send again, and nothing else would
        tell it that the client has gone.
    @ivar fault: the L{Fault} this connection plays (set by
        L{Fault.build}; else the factory's single C{fault}).
    @ivar number: the connection's number in accept order among those the
        factory's fault mix drew for (0 for the first).
    @ivar seed: the mix's seed.
    """

    hangs = False
    #: Whether the idle timer starts with the connection (the modes that
    #: wait on purpose start it only when they have bytes in flight).
    idle_at_start = True
    fault: Any = None
    number = 0
    seed = 0
    _hang: IDelayedCall | None = None
    _random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """
        This connection's own generator, for modes that draw (jitter, slice
        sizes): seeded from the mix's seed and the connection's number, so
        connection k of a run draws the same values in every run with that
        seed, whatever the other connections drew or the poem choice.
        """
        rng = self._random
        if rng is None:
            rng = self._random = random.Random(f"{self.seed}:{self.number}")
        return rng

    def connectionMade(self) -> None:
        factory = self.factory
        if self.fault is None:
            self.fault = factory.fault
        if self.idle_at_start and factory.idle_timeout is not None:
            self.setTimeout(factory.idle_timeout)
        BaseServerProtocol.connectionMade(self)

    def readConnectionLost(self) -> None:
        """
        The client half-closed.  A mode that hangs holds the connection for
        at most L{LINGER_TIMEOUT} more seconds, then aborts it.  Anything
        that sends goes on sending.
        """
        BaseServerProtocol.readConnectionLost(self)
        if self.hangs and self.outcome is None:
            self._hang = self.callLater(self.LINGER_TIMEOUT, self._hang_over)

    def _hang_over(self) -> None:
        """A hanging fault's client half-closed long ago: abort (a reset)."""
        self._hang = None
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        hang, self._hang = self._hang, None
        if hang is not None and hang.active():
            hang.cancel()
        BaseServerProtocol.connectionLost(self, reason)


class CleanCloseFaultProtocol(FaultProtocol):
    """
    A fault mode that ends its connection with a clean close, the way the
    poem protocol does: once every byte it means to send is in the
    transport it calls L{close_cleanly}, which half-closes
    (C{loseWriteConnection}: the FIN follows the data) and then lingers,
    reading and discarding until the client closes, for at most
    L{LINGER_TIMEOUT}, so no unread byte from the client can turn the close
    into a reset that destroys what was sent.  A client's half-close
    changes nothing until then; a cut at shutdown after the half-close is a
    clean close, before it an abort.

    It also keeps one timer of its own (L{call_later}) for modes that wait
    (C{latency}, C{bandwidth}, C{slicer}, C{slow-close}), cancelled when the
    connection is cut or lost.

    The idle timeout (the factory's C{idle_timeout}) runs only while bytes
    the mode wrote may still be waiting in the transport (L{idle_start},
    L{idle_stop}), never through a wait the mode makes on purpose: a
    C{latency:120} is not cut by a 60 s idle timeout, a client that does
    not read is.
    """

    idle_at_start = False
    _timer: IDelayedCall | None = None

    def idle_start(self) -> None:
        """Bytes are in flight: run the idle timer, if not running."""
        idle = self.factory.idle_timeout
        if idle is not None and self.timeOut is None:
            self.setTimeout(idle)

    def idle_stop(self) -> None:
        """Nothing is in flight (a drain, or a wait on purpose)."""
        if self.timeOut is not None:
            self.setTimeout(None)

    def call_later(self, seconds: float, func: Any) -> None:
        """Call C{func()} in C{seconds} on the factory's clock (one timer)."""
        self._timer = self.factory.clock.callLater(seconds, self._fire, func)

    def _fire(self, func: Any) -> None:
        self._timer = None
        func()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def close_cleanly(self, outcome: ConnectionOutcome) -> None:
        """
        Everything is in the transport: run the idle timer until it has
        left it, stop producing, then the base's lingering close.
        """
        self.idle_start()
        if getattr(self.transport, "producer", None) is self:
            # A registered producer would keep the close from completing.
            self.transport.unregisterProducer()
        FaultProtocol.close_cleanly(self, outcome)

    def timeoutConnection(self) -> None:
        """Idle: stop the mode's timer too, then abort."""
        self._cancel_timer()
        FaultProtocol.timeoutConnection(self)

    def cut(self) -> None:
        """
        At the end of the shutdown grace: a connection whose bytes are all
        in the kernel closes cleanly (what was sent stands); any other is
        aborted, its timer cancelled.
        """
        self._cancel_timer()
        if (
            not self.write_closed
            and self.outcome is not None
            and self.outcome is not ConnectionOutcome.COMPLETE
        ):
            # A fault's own bytes, cut before its close: a cut all the same.
            self.outcome = None
        FaultProtocol.cut(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_timer()
        FaultProtocol.connectionLost(self, reason)


class Fault:
    """
    One fault mode, as C{--fault} names it: which protocol a connection
    runs instead of the poem protocol, and the mode's parameters.  Calling
    it (or L{build}) builds that protocol for one connection, so a L{Fault}
    is what L{poetry.server.PoetryServerFactory.protocol_for} returns.

    @cvar name: the mode's name, as given to C{--fault}.
    @cvar protocol: the L{FaultProtocol} subclass built for each
        connection.  To change how a mode behaves, subclass its protocol and
        a L{Fault} whose C{protocol} is the subclass.
    """

    name = ""
    protocol: type[FaultProtocol] = FaultProtocol

    @property
    def hangs(self) -> bool:
        """Whether the mode hangs on purpose (L{FaultProtocol.hangs})."""
        return self.protocol.hangs

    def build(self, number: int = 0, seed: int = 0) -> FaultProtocol:
        """The protocol of connection C{number} of a mix seeded C{seed}."""
        p = self.protocol()
        p.fault = self
        p.number = number
        p.seed = seed
        return p

    def __call__(self) -> FaultProtocol:
        return self.build()

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class ByteCountFault(Fault):
    """
    A mode whose one parameter is a byte count (C{MODE:BYTES}: C{reset},
    C{truncate}, C{garbage}).

    @ivar nbytes: the count, a whole number >= 0.
    """

    def __init__(self, nbytes: int) -> None:
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise ValueError(f"{self.name} needs a byte count >= 0, not {nbytes!r}")
        self.nbytes = nbytes

    def __str__(self) -> str:
        return f"{self.name}:{self.nbytes}"


@implementer(IPullProducer)
class StreamingFaultProtocol(CleanCloseFaultProtocol):
    """
    A clean-closing mode that sends C{total} bytes (L{block}) as its own
    pull producer, one L{CHUNK} each time the transport has drained (each
    drain restarting the idle timer), then calls L{streamed}: a client that
    does not read costs the server one chunk, however large C{total}.

    Subclasses call L{start_streaming} when they are ready to send.
    """

    total = 0
    offset = 0

    def block(self, offset: int, size: int) -> bytes:
        """The C{size} bytes at C{offset} of what the mode sends."""
        raise NotImplementedError

    def streamed(self) -> None:
        """Every byte is in the transport (default: the clean close)."""
        self.close_cleanly(ConnectionOutcome.COMPLETE)

    def start_streaming(self, total: int) -> None:
        """Send C{total} bytes, a chunk per drain (at once if none)."""
        self.total = total
        if total <= 0:
            self.streamed()
            return
        self.idle_start()
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        self.resetTimeout()
        if self.offset >= self.total:
            return  # a drain while waiting after the data (slow-close)
        size = min(CHUNK, self.total - self.offset)
        data = self.block(self.offset, size)
        self.offset += size
        self.send(data)
        if self.offset >= self.total:
            self.transport.unregisterProducer()
            self.streamed()

    def stopProducing(self) -> None:
        """The connection is gone; C{connectionLost} logs it."""
