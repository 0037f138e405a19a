"""
Server fault modes: ways the poetry server misbehaves on purpose, so that
clients (ours and others) can be tested against every failure a real server
can produce.  C{twistd -n poetry --fault MODE} picks one for the whole server.

Each mode is a protocol class, a L{BaseServerProtocol} that misbehaves in
its C{connectionMade} instead of sending its poem, and a small L{Fault}
value (what C{--fault} parses to, with the mode's parameters) whose
C{protocol} the factory builds for every connection while the mode is set
(L{poetry.server.PoetryServerFactory.protocol_for}):

  - C{stall}: L{Stall} (L{StallProtocol}) sends the first chunk
    (C{--chunk-size} bytes, default
    L{poetry.server.PoetryServerFactory.DEFAULT_CHUNK_SIZE}), then keeps the
    connection open and sends nothing more.
  - C{reset:BYTES}: L{Reset} (L{ResetProtocol}) sends exactly BYTES bytes of
    poem text (the poem, repeated if it is shorter), then aborts the
    connection, which TCP reports to the client as a reset (RST), not a
    clean end (FIN).
  - C{silent}: L{Silent} (L{SilentProtocol}) accepts the connection and
    never sends anything.
  - C{endless}: L{Endless} (L{EndlessProtocol}) sends the poem over and
    over, forever, as fast as the client reads it and no faster.
  - C{refuse}: L{Refuse} (L{RefuseProtocol}) closes the connection at once,
    cleanly, with zero bytes sent.

Whatever the mode, every connection stays in the factory's C{live} set, so
graceful shutdown (C{drain}/C{cut_all}) and C{--idle-timeout} cut the ones
that would otherwise never end (the default idle timeout does not apply to
C{stall} and C{silent}, which hang on purpose: L{FaultProtocol.hangs}).  A
client's half-close changes nothing for the modes that send; every cut is a
reset.  Every protocol that writes more than one chunk (C{reset},
C{endless}) is its own pull producer: it writes only when the transport's
buffer has drained, so a client that does not read never makes the server
buffer more than one L{CHUNK}.

To add a mode: a L{FaultProtocol} subclass that misbehaves in
C{connectionMade} (handing every byte to C{send}, setting C{outcome} if it
ends the connection on purpose), a L{Fault} subclass naming it, and its
name in L{parse_fault} (C{_SIMPLE}, or a case of its own if it takes an
argument) and L{MODES}.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IPullProducer
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome

__all__ = [
    "CHUNK",
    "MODES",
    "Endless",
    "EndlessProtocol",
    "Fault",
    "FaultProtocol",
    "Refuse",
    "RefuseProtocol",
    "Reset",
    "ResetProtocol",
    "Silent",
    "SilentProtocol",
    "Stall",
    "StallProtocol",
    "parse_fault",
]

#: Bytes handed to the transport per write by the producing fault modes
#: (C{reset}, C{endless}): the most the server holds in user space for one
#: such connection, whether or not the client reads.
CHUNK = 65536


def _repeated(data: bytes, size: int) -> bytes:
    """C{data} repeated (and cut) to exactly C{size} bytes."""
    copies = -(-size // len(data))
    return (data * copies)[:size]


class FaultProtocol(BaseServerProtocol):
    """
    The base of the fault modes' protocols.  The factory's C{idle_timeout},
    if set, runs as a L{TimeoutMixin} timer from the moment the connection
    is made; a mode that writes restarts it each time the transport has
    drained (C{resetTimeout}).

    @cvar hangs: whether the mode stops sending on purpose and waits
        (C{stall}, C{silent}).  The server's default idle timeout does not
        apply to such a mode (only an explicit C{--idle-timeout} does; see
        L{poetry.server.default_idle_timeout}), and once its client has
        closed its side such a connection is aborted after
        L{LINGER_TIMEOUT}: it will never send again, and nothing else would
        tell it that the client has gone.
    @ivar fault: the L{Fault} this connection plays (the factory's).
    """

    hangs = False
    fault: Fault
    _hang: IDelayedCall | None = None

    def connectionMade(self) -> None:
        factory = self.factory
        self.fault = factory.fault  # type: ignore[assignment]
        if factory.idle_timeout is not None:
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


class StallProtocol(FaultProtocol):
    """
    Send the first chunk of the poem (the factory's C{chunk_size}, so
    C{--chunk-size}), then nothing, without closing: a server that hangs
    mid-poem.  Only a client timeout, the server's C{--idle-timeout} or its
    shutdown ends the connection.
    """

    hangs = True

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        self.send(self.poem.data[: self.factory.chunk_size])


class SilentProtocol(FaultProtocol):
    """
    Accept the connection and never send a byte: a server that hangs before
    the poem.  Only a client timeout, the server's C{--idle-timeout} or its
    shutdown ends the connection.
    """

    hangs = True


class RefuseProtocol(FaultProtocol):
    """
    Close the connection at once, cleanly (FIN), without sending a byte: on
    the wire, an empty poem.  A client must not report it as a success.
    """

    def connectionMade(self) -> None:
        FaultProtocol.connectionMade(self)
        self.outcome = ConnectionOutcome.FAULT
        self.transport.loseConnection()


@implementer(IPullProducer)
class ResetProtocol(FaultProtocol):
    """
    Send exactly C{fault.nbytes} bytes of poem text (the poem repeated if it
    is shorter), then abort the connection: the client sees a TCP reset,
    i.e. a truncated poem, never a clean end.

    The protocol is its own pull producer: it writes one L{CHUNK} each time
    the transport has drained, so C{reset:100000000} costs one chunk of
    memory per connection, not 100 MB.  It holds one block of the poem
    repeated (L{CHUNK} plus at most twice the poem), never C{nbytes}: each
    chunk is a slice of that block starting at the right offset into the
    poem.

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
            self._block = _repeated(
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
    client's size limit, and since the protocol is its own pull producer, a
    client that does not read costs the server one chunk of memory, not an
    ever-growing buffer.
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


class Fault:
    """
    One fault mode, as C{--fault} names it: which protocol every connection
    runs instead of the poem protocol, and the mode's parameters.

    @cvar name: the mode's name, as given to C{--fault}.
    @cvar protocol: the L{FaultProtocol} subclass the factory builds for
        each connection.  To change how a mode behaves, subclass its
        protocol and a L{Fault} whose C{protocol} is the subclass.
    """

    name = ""
    protocol: type[FaultProtocol] = FaultProtocol

    @property
    def hangs(self) -> bool:
        """Whether the mode hangs on purpose (L{FaultProtocol.hangs})."""
        return self.protocol.hangs

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class Stall(Fault):
    """C{stall}: see L{StallProtocol}."""

    name = "stall"
    protocol = StallProtocol


class Silent(Fault):
    """C{silent}: see L{SilentProtocol}."""

    name = "silent"
    protocol = SilentProtocol


class Refuse(Fault):
    """C{refuse}: see L{RefuseProtocol}."""

    name = "refuse"
    protocol = RefuseProtocol


class Reset(Fault):
    """
    C{reset:BYTES}: see L{ResetProtocol}.

    @ivar nbytes: how many bytes to send before the reset.
    """

    name = "reset"
    protocol = ResetProtocol

    def __init__(self, nbytes: int) -> None:
        if nbytes < 0:
            raise ValueError(f"reset needs a byte count >= 0, not {nbytes!r}")
        self.nbytes = nbytes

    def __str__(self) -> str:
        return f"reset:{self.nbytes}"


class Endless(Fault):
    """C{endless}: see L{EndlessProtocol}."""

    name = "endless"
    protocol = EndlessProtocol


#: The modes C{--fault} accepts, as its help and error messages spell them.
MODES = "stall, reset:BYTES, silent, endless or refuse"

_SIMPLE: dict[str, type[Fault]] = {
    "stall": Stall,
    "silent": Silent,
    "endless": Endless,
    "refuse": Refuse,
}


def parse_fault(text: str) -> Fault:
    """
    Parse a C{--fault} value: C{stall}, C{reset:BYTES}, C{silent}, C{endless}
    or C{refuse} (case and surrounding blanks ignored).

    @raise ValueError: with a one-line message naming the bad value, for an
        unknown mode or a C{reset} byte count that is not a whole number
        >= 0.
    """
    spec = text.strip().lower()
    name, colon, argument = spec.partition(":")
    if name == "reset":
        if not colon:
            raise ValueError(f"fault mode {text!r} needs a byte count, like reset:100")
        if not (argument.isascii() and argument.isdigit()):
            raise ValueError(
                f"fault mode {text!r}: BYTES must be a whole number >= 0,"
                f" not {argument!r}"
            )
        return Reset(int(argument))
    kind = _SIMPLE.get(name)
    if kind is None or colon:
        raise ValueError(f"unknown fault mode {text!r} (expected {MODES})")
    return kind()
