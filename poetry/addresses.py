"""
Server addresses as the client takes them on the command line.

An address is written C{PORT}, C{HOST:PORT} or C{[IPv6]:PORT} (TCP; the
host defaults to C{127.0.0.1}), C{tls:HOST:PORT} (TCP with TLS, the host
name verified against the server's certificate) or C{unix:PATH} (a UNIX
socket).  L{parse_address} turns the text into an L{Address}
or raises L{AddressError}, whose one-line message names the bad argument and
says what is wrong with it, fit to show as a usage error.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_HOST",
    "SCHEMES",
    "Address",
    "AddressError",
    "check_address",
    "format_address",
    "parse_address",
]

DEFAULT_HOST = "127.0.0.1"
"""The host used when an address gives only a port."""

SCHEMES = ("tcp", "tls", "unix")
"""How an L{Address} is reached: plain TCP, TCP with TLS, a UNIX socket."""

_PORT = re.compile(r"[0-9]+")
# A host name (RFC 1123 labels, leniently: underscores are seen in the wild) or
# an IPv4 literal.  Anything else, such as spaces, slashes or "@", is a typo.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


class AddressError(ValueError):
    """
    A server address cannot be parsed.  C{str()} is one line naming the bad
    argument, for example C{invalid address 'host:': missing port}.

    @ivar text: the argument as given.
    @ivar problem: what is wrong with it.
    """

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"invalid address {text!r}: {problem}")
        self.text = text
        self.problem = problem


@dataclass(frozen=True, slots=True, repr=False)
class Address:
    """
    A server address: a host (name, IPv4 or IPv6 literal without brackets)
    and a port, reached over C{scheme} (one of L{SCHEMES}).  For C{"unix"}
    the host is the socket's path and the port is 0.

    C{str()} gives C{host:port}, with an IPv6 literal in brackets
    (C{[::1]:10001}), C{tls:host:port} or C{unix:path}, so the text parses
    back to the same address.
    """

    host: str
    port: int
    scheme: str = "tcp"

    @property
    def is_ipv6(self) -> bool:
        """Whether the host is an IPv6 literal."""
        return self.scheme != "unix" and ":" in self.host

    @property
    def is_unix(self) -> bool:
        """Whether this is a UNIX socket (its path is L{host})."""
        return self.scheme == "unix"

    @property
    def is_tls(self) -> bool:
        """Whether the connection is made over TLS."""
        return self.scheme == "tls"

    @property
    def host_port(self) -> str:
        """C{host:port} (IPv6 in brackets) without the scheme; the path for unix."""
        if self.scheme == "unix":
            return self.host
        return _host_port(self.host, self.port)

    def __repr__(self) -> str:
        scheme = "" if self.scheme == "tcp" else f", scheme={self.scheme!r}"
        return f"Address(host={self.host!r}, port={self.port!r}{scheme})"

    def __str__(self) -> str:
        if self.scheme == "tcp":
            return self.host_port
        return f"{self.scheme}:{self.host_port}"


def _host_port(host: str, port: object) -> str:
    """C{host:port}, an IPv6 literal in brackets: how every address is shown."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def format_address(address: object) -> str:
    """
    How logs and traces show a Twisted address object (an L{IAddress}):
    C{host:port} for IPv4, C{[host]:port} for IPv6 (as L{Address} does), the
    name and port of a C{HostnameAddress}, the path of a UNIX address, or
    C{str()} of anything else.
    """
    host = getattr(address, "host", None)
    if host is None:
        hostname = getattr(address, "hostname", None)  # HostnameAddress: bytes
        if isinstance(hostname, bytes):
            host = hostname.decode("ascii", "replace")
    port = getattr(address, "port", None)
    if host is None or port is None:
        name = getattr(address, "name", None) or address
        return os.fsdecode(name) if isinstance(name, bytes) else str(name)
    # As str(Address(host, port)), without building a frozen dataclass for
    # every access-log event.
    return _host_port(host, port)


def _port(text: str, port: str) -> int:
    if not port:
        raise AddressError(text, "missing port")
    if not _PORT.fullmatch(port):
        raise AddressError(text, f"port {port!r} is not a number")
    value = int(port)
    if not 1 <= value <= 65535:
        raise AddressError(text, f"port {value} is out of range 1-65535")
    return value


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


_FORMS = "PORT, HOST:PORT, [IPv6]:PORT, tls:HOST:PORT or unix:PATH"


def parse_address(text: str) -> Address:
    """
    Parse C{PORT}, C{HOST:PORT}, C{[IPv6]:PORT}, C{tls:} followed by one of
    those, or C{unix:PATH} into an L{Address}.

    @raise AddressError: if the text is none of those forms, the port is not
        a number in 1-65535, the host is empty or not a valid host name or IP
        literal, an IPv6 literal is not in brackets, or a UNIX path is empty
        or holds a NUL.
    """
    if not text:
        raise AddressError(text, f"empty address; expected {_FORMS}")
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() == "unix":
        if not rest:
            raise AddressError(text, "empty UNIX socket path")
        if "\x00" in rest:
            raise AddressError(text, "the UNIX socket path contains a NUL character")
        return Address(rest, 0, "unix")
    if colon and scheme.lower() == "tls":
        if not rest:
            raise AddressError(text, "missing HOST:PORT after 'tls:'")
        try:
            tcp = _parse_tcp(rest)
        except AddressError as e:
            raise AddressError(text, e.problem) from None
        return Address(tcp.host, tcp.port, "tls")
    return _parse_tcp(text)


def _parse_tcp(text: str) -> Address:
    """Parse C{PORT}, C{HOST:PORT} or C{[IPv6]:PORT}."""
    if _PORT.fullmatch(text):
        return Address(DEFAULT_HOST, _port(text, text))
    if text.startswith("["):
        close = text.find("]")
        if close == -1:
            raise AddressError(text, "missing ']' after IPv6 address")
        host, rest = text[1:close], text[close + 1 :]
        if not host:
            raise AddressError(text, "empty host")
        if not rest:
            raise AddressError(text, "missing port")
        if not rest.startswith(":"):
            raise AddressError(text, "expected ':PORT' after ']'")
        if not _is_ipv6(host):
            raise AddressError(text, f"{host!r} is not an IPv6 address")
        return Address(host, _port(text, rest[1:]))
    if ":" not in text:
        raise AddressError(text, f"expected {_FORMS}")
    host, port = text.rsplit(":", 1)
    if ":" in host:
        if _is_ipv6(host) or _is_ipv6(text):
            raise AddressError(text, "an IPv6 address needs brackets: [IPv6]:PORT")
        raise AddressError(text, f"{host!r} is not a valid host name")
    number = _port(text, port)
    if not host:
        raise AddressError(text, "empty host")
    if not _HOSTNAME.fullmatch(host):
        raise AddressError(text, f"{host!r} is not a valid host name")
    return Address(host, number)


def _host_problem(host: str) -> str | None:
    """What is wrong with C{host} as a host to connect to, or L{None}."""
    if not host:
        return "empty host"
    if _HOSTNAME.fullmatch(host) or _is_ipv6(host):
        return None
    if host.startswith("[") and host.endswith("]") and _is_ipv6(host[1:-1]):
        return f"{host!r}: an IPv6 address is given without brackets here"
    if "\x00" in host:
        return f"{host!r} contains a NUL character"
    if any(c.isspace() for c in host):
        return f"{host!r} contains white space"
    if len(host.rstrip(".")) > 253:
        return f"host name longer than 253 characters ({len(host)})"
    for label in host.rstrip(".").split("."):
        if len(label) > 63:
            return f"host name label longer than 63 characters ({len(label)})"
    return f"{host!r} is not a valid host name or IP address"


def check_address(host: object, port: object, scheme: object = "tcp") -> Address:
    """
    Check a host and port given separately (as to L{poetry.get_poem}) and
    return them as an L{Address}.

    The host is a host name (labels of letters, digits, C{-} and C{_}, at
    most 63 characters each, 253 in all), an IPv4 literal or an IPv6 literal
    without brackets; the port an C{int} in 1-65535.  For C{scheme="unix"}
    the host is a non-empty path without NUL and the port is 0.

    @raise TypeError: if the host is not a C{str} or the port not an C{int}.
    @raise AddressError: (a L{ValueError}) if either is out of range or
        malformed, or the scheme is not one of L{SCHEMES}.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if scheme not in SCHEMES:
        raise AddressError(f"{scheme}:{host}", f"scheme must be one of {SCHEMES}")
    if scheme == "unix":
        if not host or "\x00" in host or port != 0:
            raise AddressError(
                f"unix:{host}", "a UNIX socket needs a path without NUL, and port 0"
            )
        return Address(host, 0, "unix")
    text = str(Address(host, port, str(scheme)))
    problem = _host_problem(host)
    if problem is not None:
        raise AddressError(text, problem)
    if not 1 <= port <= 65535:
        raise AddressError(text, f"port {port} is out of range 1-65535")
    return Address(host, port, str(scheme))
