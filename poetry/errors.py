"""
The ways a poem download can fail, as exception classes callers can catch.

Every failure is a L{PoemError} naming the server's L{Address}; the subclasses
carry what is useful to report or recover: the bytes received so far, the
limit or timeout that was hit, the original L{Failure}.  C{str()} of each is a
one-line message fit for a summary, for example::

    127.0.0.1:10001: timed out after 5.0 s with 120 bytes received
    cannot resolve nosuchhost.invalid
    127.0.0.1:1: connection refused
"""

from __future__ import annotations

from twisted.internet import error as _error
from twisted.python.failure import Failure

from poetry.addresses import Address

__all__ = [
    "EmptyPoem",
    "PoemConnectionFailed",
    "PoemError",
    "PoemTimeout",
    "PoemTooLarge",
    "PoemTruncated",
]


def _bytes(n: int) -> str:
    return f"{n} byte" if n == 1 else f"{n} bytes"


class PoemError(Exception):
    """
    A poem could not be fetched.

    @ivar address: the server it was being fetched from.
    """

    address: Address

    def __init__(self, address: Address, message: str) -> None:
        super().__init__(message)
        self.address = address

    def __str__(self) -> str:
        return str(self.args[0])


class PoemTimeout(PoemError):
    """
    The download (connecting plus reading) took longer than its timeout.

    @ivar seconds: the timeout that expired.
    @ivar partial: the bytes received before it expired (maybe none).
    """

    def __init__(self, address: Address, seconds: float, partial: bytes = b"") -> None:
        super().__init__(
            address,
            f"{address}: timed out after {float(seconds)!r} s"
            f" with {_bytes(len(partial))} received",
        )
        self.seconds = seconds
        self.partial = partial

    @property
    def received(self) -> int:
        """How many bytes arrived before the timeout."""
        return len(self.partial)


class PoemTruncated(PoemError):
    """
    The connection closed uncleanly (lost, reset, aborted) before the server
    finished the poem: what arrived is not the whole poem.

    @ivar partial: the bytes received before the connection was lost.
    @ivar reason: the L{Failure} the connection was lost with.
    """

    def __init__(self, address: Address, partial: bytes, reason: Failure) -> None:
        super().__init__(
            address,
            f"{address}: poem truncated after {_bytes(len(partial))}"
            f" ({type(reason.value).__name__})",
        )
        self.partial = partial
        self.reason = reason

    @property
    def received(self) -> int:
        """How many bytes arrived before the connection was lost."""
        return len(self.partial)


class PoemTooLarge(PoemError):
    """
    The server sent more than the client's size limit, so the client cut the
    connection off.

    @ivar limit: the limit in bytes.
    @ivar received: how many bytes had arrived when the limit was passed.
    """

    def __init__(self, address: Address, limit: int, received: int) -> None:
        super().__init__(
            address,
            f"{address}: poem larger than the {_bytes(limit)} limit"
            f" ({_bytes(received)} received)",
        )
        self.limit = limit
        self.received = received


class EmptyPoem(PoemError):
    """
    The server closed the connection cleanly without sending a single byte.
    """

    received = 0

    def __init__(self, address: Address) -> None:
        super().__init__(address, f"{address}: server sent an empty poem")


def _describeConnectFailure(address: Address, reason: Failure) -> str:
    value = reason.value
    if isinstance(value, _error.DNSLookupError):
        return f"cannot resolve {address.host}"
    if isinstance(value, _error.ConnectionRefusedError):
        return f"{address}: connection refused"
    if isinstance(value, _error.TCPTimedOutError | _error.TimeoutError):
        return f"{address}: connection timed out"
    if isinstance(value, _error.NoRouteError):
        return f"{address}: no route to host"
    message = reason.getErrorMessage().strip().rstrip(".")
    return f"{address}: connection failed: {message or type(value).__name__}"


class PoemConnectionFailed(PoemError):
    """
    The connection could not be made: refused, host name not resolvable, no
    route, ...  (Twisted's L{DNSLookupError} is not a L{ConnectError}; it is
    reported here as C{cannot resolve HOST} all the same.)

    @ivar reason: the original L{Failure} from C{clientConnectionFailed}.
    """

    received = 0

    def __init__(self, address: Address, reason: Failure) -> None:
        super().__init__(address, _describeConnectFailure(address, reason))
        self.reason = reason
