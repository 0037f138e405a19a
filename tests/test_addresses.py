"""
Tests for L{poetry.addresses}: parsing C{PORT}, C{HOST:PORT} and
C{[IPv6]:PORT}, and the one-line errors for everything else.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import (
    HostnameAddress,
    IPv4Address,
    IPv6Address,
    UNIXAddress,
)
from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import (
    DEFAULT_HOST,
    Address,
    AddressError,
    check_address,
    format_address,
    parse_address,
)


class ParseAddressTests(SynchronousTestCase):
    """L{parse_address} accepts the three documented forms."""

    def test_portOnly(self) -> None:
        """A bare port means that port on 127.0.0.1."""
        self.assertEqual(parse_address("10001"), Address("127.0.0.1", 10001))
        self.assertEqual(DEFAULT_HOST, "127.0.0.1")

    def test_hostAndPort(self) -> None:
        """C{HOST:PORT} gives that host and port."""
        self.assertEqual(
            parse_address("poems.example.com:7"), Address("poems.example.com", 7)
        )
        self.assertEqual(parse_address("10.0.0.1:65535"), Address("10.0.0.1", 65535))
        self.assertEqual(parse_address("localhost:1"), Address("localhost", 1))

    def test_ipv6(self) -> None:
        """C{[IPv6]:PORT} gives the literal without its brackets."""
        self.assertEqual(parse_address("[::1]:10001"), Address("::1", 10001))
        self.assertEqual(parse_address("[2001:db8::7]:80"), Address("2001:db8::7", 80))

    def test_strFormatsIPv6InBrackets(self) -> None:
        """C{str()} writes an IPv6 host in brackets, others plainly."""
        self.assertEqual(str(Address("::1", 10001)), "[::1]:10001")
        self.assertEqual(str(Address("127.0.0.1", 10001)), "127.0.0.1:10001")
        self.assertTrue(Address("::1", 1).is_ipv6)
        self.assertFalse(Address("localhost", 1).is_ipv6)

    def test_frozen(self) -> None:
        """An L{Address} is immutable and hashable (usable as a dict key)."""
        address = Address("h", 1)
        with self.assertRaises(AttributeError):
            address.port = 2  # type: ignore[misc]
        self.assertEqual({address: 1}[Address("h", 1)], 1)

    @given(
        host=st.sampled_from(["127.0.0.1", "::1", "fe80::1", "example.org", "a-b.c"]),
        port=st.integers(min_value=1, max_value=65535),
    )
    def test_roundTrip(self, host: str, port: int) -> None:
        """Any valid address's C{str()} parses back to the same address."""
        address = Address(host, port)
        self.assertEqual(parse_address(str(address)), address)


class BadAddressTests(SynchronousTestCase):
    """Bad addresses raise L{AddressError} with a one-line message."""

    def assertBad(self, text: str, fragment: str) -> AddressError:
        """C{text} is rejected with a message naming it and saying C{fragment}."""
        with self.assertRaises(AddressError) as caught:
            parse_address(text)
        error = caught.exception
        message = str(error)
        self.assertIn(repr(text), message)
        self.assertIn(fragment, message)
        self.assertNotIn("\n", message)
        self.assertEqual(error.text, text)
        self.assertIsInstance(error, ValueError)
        return error

    def test_notAnAddress(self) -> None:
        """C{abc} is neither a port nor HOST:PORT."""
        self.assertBad(
            "abc", "expected PORT, HOST:PORT, [IPv6]:PORT, tls:HOST:PORT or unix:PATH"
        )

    def test_missingPort(self) -> None:
        """C{host:} has no port."""
        self.assertBad("host:", "missing port")
        self.assertBad("[::1]", "missing port")
        self.assertBad("[::1]:", "missing port")

    def test_portOutOfRange(self) -> None:
        """Ports 0 and above 65535 are out of range."""
        self.assertBad("0", "port 0 is out of range 1-65535")
        self.assertBad("65536", "port 65536 is out of range")
        self.assertBad(":99999", "port 99999 is out of range")
        self.assertBad("host:0", "port 0 is out of range")

    def test_portNotANumber(self) -> None:
        """A port must be ASCII digits."""
        self.assertBad("host:http", "port 'http' is not a number")
        self.assertBad("host:-1", "is not a number")
        self.assertBad("host:\u0661\u0662", "is not a number")

    def test_emptyHost(self) -> None:
        """C{:80} and C{[]:80} have an empty host."""
        self.assertBad(":80", "empty host")
        self.assertBad("[]:80", "empty host")

    def test_empty(self) -> None:
        """An empty argument is refused."""
        self.assertBad("", "empty address")

    def test_unbracketedIPv6(self) -> None:
        """An IPv6 literal with a port must be bracketed."""
        self.assertBad("::1:10001", "needs brackets")
        self.assertBad("2001:db8::1:80", "needs brackets")

    def test_badIPv6(self) -> None:
        """Brackets must hold an IPv6 literal, and be closed."""
        self.assertBad("[nothost]:80", "is not an IPv6 address")
        self.assertBad("[::1:80", "missing ']'")
        self.assertBad("[::1]80", "expected ':PORT' after ']'")

    def test_badHostName(self) -> None:
        """Spaces, slashes and other junk are not host names."""
        self.assertBad("my host:80", "not a valid host name")
        self.assertBad("http://x:80", "not a valid host name")
        self.assertBad("-bad:80", "not a valid host name")

    def test_bareIPv6(self) -> None:
        """A bare IPv6 literal (no brackets, no port) is pointed at brackets."""
        self.assertBad("::1", "needs brackets")


class CheckAddressTests(SynchronousTestCase):
    """L{check_address} checks a host and a port given separately."""

    def test_valid(self) -> None:
        """Names, IPv4 and bare IPv6 literals pass, as L{Address}es."""
        for host in ("127.0.0.1", "::1", "example.org", "a" * 63, "host."):
            self.assertEqual(check_address(host, 80), Address(host, 80))

    def test_invalid(self) -> None:
        """Each bad host or port is an L{AddressError} saying what is wrong."""
        for host, port, problem in (
            ("", 1, "empty host"),
            ("a\x00b", 1, "NUL"),
            ("a b", 1, "white space"),
            ("a" * 64, 1, "label longer than 63 characters (64)"),
            ("[::1]", 1, "without brackets"),
            ("h", 70000, "out of range"),
        ):
            with self.assertRaises(AddressError) as caught:
                check_address(host, port)
            self.assertIn(problem, str(caught.exception))
            self.assertIsInstance(caught.exception, ValueError)

    def test_wrongTypes(self) -> None:
        """A host that is not a str or a port that is not an int: TypeError."""
        for host, port in ((b"h", 1), ("h", "1"), ("h", 1.0), ("h", True)):
            with self.assertRaises(TypeError):
                check_address(host, port)


class FormatAddressTests(SynchronousTestCase):
    """L{format_address} shows any Twisted address as the logs and traces do."""

    def test_everyKind(self) -> None:
        """
        IPv4 as C{host:port}, IPv6 in brackets, a C{HostnameAddress} as its
        name and port (bytes decoded), a UNIX address as its path (bytes
        decoded), anything else with C{str}.
        """
        self.assertEqual(
            format_address(IPv4Address("TCP", "10.0.0.1", 7)), "10.0.0.1:7"
        )
        self.assertEqual(format_address(IPv6Address("TCP", "::1", 7)), "[::1]:7")
        self.assertEqual(
            format_address(HostnameAddress(b"example.org", 7)), "example.org:7"
        )
        self.assertEqual(format_address(HostnameAddress(b"::1", 7)), "[::1]:7")
        self.assertEqual(format_address(UNIXAddress(b"/run/p.sock")), "/run/p.sock")
        self.assertEqual(format_address(UNIXAddress(None)), "UNIXAddress(None)")
        self.assertEqual(format_address(None), "None")
