"""
Server fault modes: ways the poetry server misbehaves on purpose, so that
clients (ours and others) can be tested against every failure a real server
can produce.  C{twistd -n poetry --fault MODE} picks one for the whole server.

Each mode is a small strategy object with a C{start(protocol)} method, called
by L{poetry.server.GuardedServerProtocol.connectionMade} in place of the
normal fast or slow sending:

  - C{stall}: L{Stall} sends the first chunk (C{--chunk-size} bytes, default
    L{poetry.server.PoetryServerFactory.DEFAULT_CHUNK_SIZE}), then keeps the
    connection open and sends nothing more.
  - C{reset:BYTES}: L{Reset} sends exactly BYTES bytes of poem text (the
    poem, repeated if it is shorter), then aborts the connection, which TCP
    reports to the client as a reset (RST), not a clean end (FIN).
  - C{silent}: L{Silent} accepts the connection and never sends anything.
  - C{endless}: L{Endless} sends the poem over and over, forever, as fast as
    the client reads it and no faster.
  - C{refuse}: L{Refuse} closes the connection at once, cleanly, with zero
    bytes sent.

Whatever the mode, every connection stays in the factory's C{live} set, so
graceful shutdown (C{drain}/C{cutAll}) and C{--idle-timeout} cut the ones
that would otherwise never end (the default idle timeout does not apply to
C{stall} and C{silent}, which hang on purpose: L{Fault.hangs}).  A client's
half-close changes nothing for the modes that send; every cut is a reset.
Everything that writes more than one chunk (C{reset}, C{endless}) is a pull
producer: it writes only when the transport's buffer has drained, so a
client that does not read never makes the server buffer more than one
L{CHUNK}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.interfaces import IPullProducer
from zope.interface import implementer

from poetry.server import ConnectionOutcome

if TYPE_CHECKING:
    from poetry.server import GuardedServerProtocol

__all__ = [
    "CHUNK",
    "MODES",
    "Endless",
    "Fault",
    "Refuse",
    "Reset",
    "Silent",
    "Stall",
    "parseFault",
]

#: Bytes handed to the transport per write by the producing fault modes
#: (C{reset}, C{endless}): the most the server holds in user space for one
#: such connection, whether or not the client reads.
CHUNK = 65536


def _repeated(data: bytes, size: int) -> bytes:
    """C{data} repeated (and cut) to exactly C{size} bytes."""
    copies = -(-size // len(data))
    return (data * copies)[:size]


class Fault:
    """
    One fault mode: how a connection misbehaves instead of sending its poem.

    @cvar name: the mode's name, as given to C{--fault}.
    @cvar hangs: whether the mode stops sending on purpose and waits
        (C{stall}, C{silent}).  The server's default idle timeout does not
        apply to such a mode (only an explicit C{--idle-timeout} does; see
        L{poetry.server.defaultIdleTimeout}), and once its client has
        closed its side such a connection is aborted after
        L{poetry.server.PoetryServerProtocol.LINGER_TIMEOUT}.
    """

    name = ""
    hangs = False

    def start(self, protocol: GuardedServerProtocol) -> None:
        """
        Begin misbehaving on a connection that was just made.  The protocol's
        C{poem}, C{started} and C{factory} are set; C{protocol.sent} must be
        kept equal to the bytes handed to the transport.
        """
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class Stall(Fault):
    """
    Send the first chunk of the poem (the factory's C{chunkSize}, so
    C{--chunk-size}), then nothing, without closing: a server that hangs
    mid-poem.  Only a client timeout, the server's C{--idle-timeout} or its
    shutdown ends the connection.
    """

    name = "stall"
    hangs = True

    def start(self, protocol: GuardedServerProtocol) -> None:
        first = protocol.poem.data[: protocol.factory.chunkSize]
        protocol.transport.write(first)
        protocol.sent = len(first)


class Silent(Fault):
    """
    Accept the connection and never send a byte: a server that hangs before
    the poem.  Only a client timeout, the server's C{--idle-timeout} or its
    shutdown ends the connection.
    """

    name = "silent"
    hangs = True

    def start(self, protocol: GuardedServerProtocol) -> None:
        """Do nothing at all."""


class Refuse(Fault):
    """
    Close the connection at once, cleanly (FIN), without sending a byte: on
    the wire, an empty poem.  A client must not report it as a success.
    """

    name = "refuse"

    def start(self, protocol: GuardedServerProtocol) -> None:
        protocol.outcome = ConnectionOutcome.FAULT
        protocol.transport.loseConnection()


class Reset(Fault):
    """
    Send exactly C{nbytes} bytes of poem text (the poem repeated if it is
    shorter), then abort the connection: the client sees a TCP reset, i.e.
    a truncated poem, never a clean end.  The bytes are streamed, one
    L{CHUNK} per drain, so C{reset:100000000} costs one chunk of memory per
    connection, not 100 MB.

    The abort waits until the transport has handed every byte to the kernel
    (a pull producer learns that from C{resumeProducing}); on loopback the
    bytes then reach the client before the reset.  Across a real network a
    reset discards what the kernel had not yet sent, so a client may get
    fewer than C{nbytes} bytes, never more.

    @ivar nbytes: how many bytes to send before the reset.
    """

    name = "reset"

    def __init__(self, nbytes: int) -> None:
        if nbytes < 0:
            raise ValueError(f"reset needs a byte count >= 0, not {nbytes!r}")
        self.nbytes = nbytes

    def __str__(self) -> str:
        return f"reset:{self.nbytes}"

    def start(self, protocol: GuardedServerProtocol) -> None:
        protocol.transport.registerProducer(
            _ResetProducer(protocol, protocol.poem.data, self.nbytes), False
        )


@implementer(IPullProducer)
class _ResetProducer:
    """
    Streams C{nbytes} bytes of C{poem} repeated, one L{CHUNK} at a time as
    the transport drains, then, on the drain after the last chunk, aborts
    the connection.  It holds one block of the poem repeated (L{CHUNK} plus
    at most twice the poem), never C{nbytes}: each chunk is a slice of that
    block starting at the right offset into the poem.
    """

    def __init__(
        self, protocol: GuardedServerProtocol, poem: bytes, nbytes: int
    ) -> None:
        self.protocol = protocol
        self.nbytes = nbytes
        self.period = len(poem)
        size = min(nbytes, CHUNK + self.period)
        self.block = _repeated(poem, size) if nbytes else b""

    def resumeProducing(self) -> None:
        proto = self.protocol
        proto.resetTimeout()
        left = self.nbytes - proto.sent
        if left <= 0:
            proto.outcome = ConnectionOutcome.FAULT
            proto.transport.unregisterProducer()
            proto.transport.abortConnection()
            return
        start = proto.sent % self.period
        chunk = self.block[start : start + min(CHUNK, left)]
        proto.sent += len(chunk)
        proto.transport.write(chunk)

    def stopProducing(self) -> None:
        """The connection is gone; the protocol logs it."""


class Endless(Fault):
    """
    Send the poem over and over, forever, one L{CHUNK} (of whole copies of the
    poem) each time the transport's buffer has drained: it exercises a
    client's size limit, and since it is a pull producer, a client that does
    not read costs the server one chunk of memory, not an ever-growing buffer.
    """

    name = "endless"

    def start(self, protocol: GuardedServerProtocol) -> None:
        data = protocol.poem.data
        block = data * max(1, CHUNK // len(data))
        protocol.transport.registerProducer(_EndlessProducer(protocol, block), False)


@implementer(IPullProducer)
class _EndlessProducer:
    """Writes the same block of poem text every time the transport drains."""

    def __init__(self, protocol: GuardedServerProtocol, block: bytes) -> None:
        self.protocol = protocol
        self.block = block

    def resumeProducing(self) -> None:
        proto = self.protocol
        proto.resetTimeout()
        proto.sent += len(self.block)
        proto.transport.write(self.block)

    def stopProducing(self) -> None:
        """The connection is gone; the protocol logs it."""


#: The modes C{--fault} accepts, as its help and error messages spell them.
MODES = "stall, reset:BYTES, silent, endless or refuse"

_SIMPLE: dict[str, type[Fault]] = {
    "stall": Stall,
    "silent": Silent,
    "endless": Endless,
    "refuse": Refuse,
}


def parseFault(text: str) -> Fault:
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
