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

import errno
from types import ModuleType
from typing import cast

from twisted.internet import error as _error
from twisted.python.failure import Failure

from poetry.addresses import Address

__all__ = [
    "EmptyPoem",
    "PoemCallbackError",
    "PoemConnectionFailed",
    "PoemError",
    "PoemTLSError",
    "PoemTimeout",
    "PoemTooLarge",
    "PoemTruncated",
]


# Imported now, not when a message needs it: out of descriptors (EMFILE),
# importing an extension module fails, since it has to open its file.
resource: ModuleType | None
try:
    import resource
except ImportError:  # pragma: no cover (Windows)
    resource = None


def _bytes(n: int) -> str:
    return f"{n} byte" if n == 1 else f"{n} bytes"


class PoemError(Exception):
    """
    A poem could not be fetched.

    @ivar address: the server it was being fetched from.
    """

    address: Address

    retryable = False
    """
    Whether trying again may succeed (C{retries=} tries again only then):
    a timeout, a truncated poem or a connection refused may be a server
    still starting or overloaded; a poem too large, an empty poem, a
    certificate that does not verify or a host name that does not resolve
    will be the same next time.
    """

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

    retryable = True

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

    retryable = True

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


def _descriptor_limit() -> str:
    """The soft RLIMIT_NOFILE as text, for a message (read, never changed)."""
    if resource is None:  # pragma: no cover (Windows)
        return "unknown"
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


def _os_errno(value: BaseException | None) -> object:
    """The errno of an OSError, or of a Twisted ConnectError's C{osError}."""
    if isinstance(value, OSError):
        return value.errno
    return getattr(value, "osError", None)


def _describe_connect_failure(address: Address, reason: Failure) -> str:
    value = reason.value
    if isinstance(value, _error.DNSLookupError):
        return f"cannot resolve {address.host}"
    if isinstance(value, _error.ConnectionRefusedError):
        return f"{address}: connection refused"
    if isinstance(value, _error.TCPTimedOutError | _error.TimeoutError):
        return f"{address}: connection timed out"
    if isinstance(value, _error.NoRouteError):
        return f"{address}: no route to host"
    code = _os_errno(value)
    if code == errno.EMFILE:
        return (
            f"{address}: cannot open a socket: too many open files (this"
            f" process's file descriptor limit, RLIMIT_NOFILE, is"
            f" {_descriptor_limit()}: lower the concurrency or raise the limit)"
        )
    if code == errno.ENFILE:
        return (
            f"{address}: cannot open a socket: the system's table of open files is full"
        )
    message = reason.getErrorMessage().strip().rstrip(".")
    return f"{address}: connection failed: {message or type(value).__name__}"


class PoemConnectionFailed(PoemError, _error.ConnectError):
    """
    The connection could not be made: refused, host name not resolvable, no
    route, no file descriptor left (EMFILE), ...

    It is also a Twisted L{ConnectError}, so code written for Twisted's own
    errors (C{except ConnectError}, C{failure.trap(ConnectError)}) catches
    it; C{osError} is the original error's, if it had one.  (Twisted's
    L{DNSLookupError} is not a L{ConnectError}; it is reported here as
    C{cannot resolve HOST} all the same.)

    @ivar reason: the original L{Failure} from C{clientConnectionFailed}.
    """

    received = 0

    def __init__(self, address: Address, reason: Failure) -> None:
        # ConnectError's own __init__ keeps the message in args[0] and sets
        # osError; PoemError.__str__ (first in the MRO) shows the message.
        _error.ConnectError.__init__(
            self,
            getattr(reason.value, "osError", None),
            _describe_connect_failure(address, reason),
        )
        self.address = address
        self.reason = reason

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Every connection failure but a name that does not resolve."""
        return not isinstance(self.reason.value, _error.DNSLookupError)


def _tls_problem(value: BaseException) -> str:
    """The certificate or handshake problem in a TLS failure, in words."""
    name = type(value).__name__
    if name == "VerificationError":  # service_identity: the name did not match
        names = []
        for mismatch in getattr(value, "errors", None) or []:
            wanted = getattr(mismatch, "mismatched_id", mismatch)
            ident = getattr(wanted, "hostname", None) or getattr(wanted, "ip", wanted)
            names.append(
                ident.decode("ascii", "replace")
                if isinstance(ident, bytes)
                else str(ident)
            )
        return f"certificate does not name {' or '.join(names) or 'this host'}"
    reasons: list[str] = []
    for entry in getattr(value, "args", ())[:1]:
        if isinstance(entry, list):
            for item in entry:
                if isinstance(item, tuple) and item:
                    reasons.append(str(item[-1]))
    text = "; ".join(r for r in reasons if r) or str(value) or name
    return " ".join(text.split())


class PoemTLSError(PoemError):
    """
    The TLS handshake failed: the server's certificate did not verify (an
    unknown CA, an expired certificate, a host name it does not name) or
    the server does not speak TLS.  Never retried: the certificate will be
    the same next time.

    @ivar problem: the certificate or handshake problem, in words.
    @ivar reason: the L{Failure} the connection was lost with.
    @ivar verify_error: what is wrong with the certificate, when
        OpenSSL's verification failed and it could be told
        (C{"certificate has expired (on ...)"}, ...).
    """

    received = 0

    def __init__(
        self, address: Address, reason: Failure, verify_error: str | None = None
    ) -> None:
        problem = _tls_problem(cast(BaseException, reason.value))
        if verify_error and problem == "certificate verify failed":
            problem = f"{problem}: {verify_error}"
        super().__init__(address, f"{address}: TLS failed: {problem}")
        self.problem = problem
        self.reason = reason
        self.verify_error = verify_error


class PoemCallbackError(PoemError):
    """
    A callback given by the caller (C{on_data}) raised an exception while
    the poem was downloading: a bug in the caller's code, not a fault of the
    server.  The download was stopped (its connection aborted) and the
    exception logged.

    @ivar error: the exception the callback raised.
    @ivar reason: the L{Failure} of it, with its traceback.
    @ivar received: bytes received when it happened.
    """

    def __init__(
        self, address: Address, callback: str, reason: Failure, received: int = 0
    ) -> None:
        error = reason.value
        super().__init__(
            address,
            f"{address}: the {callback} callback raised"
            f" {type(error).__name__}: {' '.join(str(error).split())}",
        )
        self.callback = callback
        self.error = error
        self.reason = reason
        self.received = received
