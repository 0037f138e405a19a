"""
Tests for L{poetry.errors}: every failure is a catchable L{PoemError}
carrying its data, with a clear one-line message.
"""

from __future__ import annotations

import errno
import resource

from twisted.internet import error
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import Address
from poetry.errors import (
    EmptyPoem,
    PoemCallbackError,
    PoemConnectionFailed,
    PoemError,
    PoemTimeout,
    PoemTooLarge,
    PoemTruncated,
)

ADDRESS = Address("127.0.0.1", 10001)


class MessageTests(SynchronousTestCase):
    """C{str()} of each error is one clear line naming the server."""

    def test_timeout(self) -> None:
        """A timeout says after how long and how much had arrived."""
        e = PoemTimeout(ADDRESS, 5.0, b"x" * 120)
        self.assertEqual(
            str(e), "127.0.0.1:10001: timed out after 5.0 s with 120 bytes received"
        )
        self.assertEqual((e.address, e.seconds, e.received), (ADDRESS, 5.0, 120))
        self.assertEqual(e.partial, b"x" * 120)

    def test_timeoutSingular(self) -> None:
        """One byte is "1 byte"; an integer timeout still reads as seconds."""
        self.assertEqual(
            str(PoemTimeout(ADDRESS, 2, b"x")),
            "127.0.0.1:10001: timed out after 2.0 s with 1 byte received",
        )

    def test_truncated(self) -> None:
        """A truncated poem keeps the partial bytes and the original failure."""
        reason = Failure(error.ConnectionLost())
        e = PoemTruncated(ADDRESS, b"Roses", reason)
        self.assertEqual(
            str(e), "127.0.0.1:10001: poem truncated after 5 bytes (ConnectionLost)"
        )
        self.assertEqual((e.partial, e.received), (b"Roses", 5))
        self.assertIs(e.reason, reason)

    def test_tooLarge(self) -> None:
        """Too large names the limit and what arrived."""
        e = PoemTooLarge(ADDRESS, 1000, 1016)
        self.assertEqual(
            str(e),
            "127.0.0.1:10001: poem larger than the 1000 bytes limit"
            " (1016 bytes received)",
        )
        self.assertEqual((e.limit, e.received), (1000, 1016))

    def test_empty(self) -> None:
        """An empty poem says so."""
        e = EmptyPoem(ADDRESS)
        self.assertEqual(str(e), "127.0.0.1:10001: server sent an empty poem")
        self.assertEqual(e.received, 0)

    def test_refused(self) -> None:
        """A refused connection reads "HOST:PORT: connection refused"."""
        reason = Failure(error.ConnectionRefusedError())
        e = PoemConnectionFailed(Address("127.0.0.1", 1), reason)
        self.assertEqual(str(e), "127.0.0.1:1: connection refused")
        self.assertIs(e.reason, reason)

    def test_dnsLookup(self) -> None:
        """
        Twisted's DNSLookupError (not a ConnectError) reads "cannot resolve
        HOST".
        """
        reason = Failure(error.DNSLookupError("nosuchhost.invalid"))
        e = PoemConnectionFailed(Address("nosuchhost.invalid", 80), reason)
        self.assertEqual(str(e), "cannot resolve nosuchhost.invalid")
        self.assertFalse(isinstance(reason.value, error.ConnectError))

    def test_connectTimeoutAndNoRoute(self) -> None:
        """Connect timeouts and unreachable hosts have their own words."""
        self.assertEqual(
            str(PoemConnectionFailed(ADDRESS, Failure(error.TCPTimedOutError()))),
            "127.0.0.1:10001: connection timed out",
        )
        self.assertEqual(
            str(PoemConnectionFailed(ADDRESS, Failure(error.NoRouteError()))),
            "127.0.0.1:10001: no route to host",
        )

    def test_otherConnectError(self) -> None:
        """Any other connect error keeps its own message, on one line."""
        e = PoemConnectionFailed(
            ADDRESS, Failure(error.ConnectError(string="Too many open files"))
        )
        self.assertIn("127.0.0.1:10001: connection failed:", str(e))
        self.assertIn("Too many open files", str(e))
        self.assertNotIn("\n", str(e))

    def test_tooManyOpenFiles(self) -> None:
        """
        EMFILE (as Twisted reports a socket it could not create:
        C{ConnectBindError(24, ...)}, or a plain OSError) names the
        process's descriptor limit and what to do about it.
        """
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
        for value in (
            error.ConnectBindError(errno.EMFILE, "Too many open files"),
            OSError(errno.EMFILE, "Too many open files"),
        ):
            e = PoemConnectionFailed(ADDRESS, Failure(value))
            self.assertEqual(
                str(e),
                "127.0.0.1:10001: cannot open a socket: too many open files"
                " (this process's file descriptor limit, RLIMIT_NOFILE, is "
                f"{limit}: lower the concurrency or raise the limit)",
            )
        e = PoemConnectionFailed(
            ADDRESS, Failure(error.ConnectBindError(errno.ENFILE, "x"))
        )
        self.assertIn("the system's table of open files is full", str(e))

    def test_callback(self) -> None:
        """A failing callback is named, with the exception, on one line."""
        e = PoemCallbackError(ADDRESS, "on_data", Failure(ValueError("two\nlines")), 7)
        self.assertEqual(
            str(e), "127.0.0.1:10001: the on_data callback raised ValueError: two lines"
        )
        self.assertIsInstance(e.error, ValueError)
        self.assertEqual((e.received, e.callback), (7, "on_data"))

    def test_ipv6Address(self) -> None:
        """An IPv6 server is named in brackets."""
        e = EmptyPoem(Address("::1", 10001))
        self.assertTrue(str(e).startswith("[::1]:10001: "))


class HierarchyTests(SynchronousTestCase):
    """Every failure can be caught as L{PoemError}."""

    def test_allArePoemErrors(self) -> None:
        """Each class subclasses L{PoemError} and carries the address."""
        reason = Failure(error.ConnectionLost())
        errors = [
            PoemTimeout(ADDRESS, 1.0),
            PoemTruncated(ADDRESS, b"", reason),
            PoemTooLarge(ADDRESS, 1, 2),
            EmptyPoem(ADDRESS),
            PoemConnectionFailed(ADDRESS, Failure(error.ConnectionRefusedError())),
            PoemCallbackError(ADDRESS, "on_data", Failure(KeyError("k"))),
        ]
        for e in errors:
            self.assertIsInstance(e, PoemError)
            self.assertEqual(e.address, ADDRESS)
            self.assertIsInstance(e.received, int)
        with self.assertRaises(PoemError):
            raise errors[0]

    def test_connectionFailedIsAConnectError(self) -> None:
        """
        L{PoemConnectionFailed} is also Twisted's L{error.ConnectError}, so
        C{except ConnectError} and C{Failure.trap(ConnectError)} catch it;
        its message and data are unchanged, and C{osError} is the original's.
        """
        reason = Failure(error.ConnectBindError(errno.EMFILE, "Too many"))
        e = PoemConnectionFailed(ADDRESS, reason)
        self.assertIsInstance(e, error.ConnectError)
        self.assertIsInstance(e, PoemError)
        self.assertEqual(e.osError, errno.EMFILE)
        self.assertEqual(e.address, ADDRESS)
        self.assertIs(e.reason, reason)
        self.assertTrue(str(e).startswith("127.0.0.1:10001: cannot open a socket"))
        refused = PoemConnectionFailed(ADDRESS, Failure(error.ConnectionRefusedError()))
        self.assertEqual(str(refused), "127.0.0.1:10001: connection refused")
        with self.assertRaises(error.ConnectError):
            raise refused
        self.assertIs(Failure(refused).trap(error.ConnectError), error.ConnectError)
