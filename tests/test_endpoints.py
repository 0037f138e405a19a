"""
Every address form over real loopback sockets, few and short: a UNIX
socket, IPv6 (C{::1}, and a host name whose server listens on C{::1} only),
and TLS against C{twistd poetry --port ssl:...} with a CA and a server
certificate made in the test, through the library and through
C{get-poetry}.
"""

from __future__ import annotations

import io
import socket
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, TestCase

from poetry import cli
from poetry.addresses import parse_address
from poetry.client import ClientTLS, get_poem, get_poems
from poetry.errors import PoemTLSError
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from poetry.service import makeService

from .certificates import PKI, make_pki
from .helpers import parse
from .resolver import FakeResolver
from .test_client import POEM


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _has_ipv6_loopback()


def _server_factory() -> PoetryServerFactory:
    return PoetryServerFactory(PoemLibrary([PoemFile("p", POEM)]), reactor=reactor)


def _temp_dir(case: TestCase) -> Path:
    # Short: a UNIX socket path has at most 107 bytes.
    directory = tempfile.TemporaryDirectory(prefix="poetry-")
    case.addCleanup(directory.cleanup)
    return Path(directory.name)


def _listen(case: TestCase, port: Any, factory: PoetryServerFactory) -> Any:
    case.addCleanup(factory.drain, 5.0)
    case.addCleanup(port.stopListening)
    return port


class UnixSocketTests(TestCase):
    """C{unix:PATH}."""

    async def test_fetch(self) -> None:
        """A poem from a server listening on a UNIX socket, byte-identical."""
        path = _temp_dir(self) / "poetry.sock"
        factory = _server_factory()
        _listen(self, reactor.listenUNIX(str(path), factory), factory)
        poem = await get_poem(parse_address(f"unix:{path}"), timeout=10)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(str(poem.address), f"unix:{path}")

    async def test_missingSocket(self) -> None:
        """No socket at the path: a connection failure naming it."""
        path = _temp_dir(self) / "nothing.sock"
        [result] = await get_poems([f"unix:{path}"], timeout=10)
        self.assertIn(f"unix:{path}: connection failed", str(result.error))


class IPv6Tests(TestCase):
    """C{[::1]:PORT}, and a name that resolves to C{::1} among others."""

    def setUp(self) -> None:
        if not HAS_IPV6:
            raise SkipTest("this machine has no IPv6 loopback (::1)")

    def _serve_on_ipv6(self) -> int:
        factory = _server_factory()
        port = _listen(self, reactor.listenTCP(0, factory, interface="::1"), factory)
        return int(port.getHost().port)

    async def test_literal(self) -> None:
        """A poem from C{[::1]:PORT}."""
        number = self._serve_on_ipv6()
        poem = await get_poem("::1", number, timeout=10)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(str(poem.peer), f"[::1]:{number}")

    async def test_firstFamilyRefusesSecondServes(self) -> None:
        """
        Over real sockets: a name resolving to 127.0.0.1 then ::1, the
        server on ::1 only: 127.0.0.1 refuses, ::1 serves.
        """
        number = self._serve_on_ipv6()
        previous = reactor.installNameResolver(
            FakeResolver({"poetry.test": ["127.0.0.1", "::1"]})
        )
        self.addCleanup(reactor.installNameResolver, previous)
        [result] = await get_poems([f"poetry.test:{number}"], timeout=10)
        self.assertTrue(result.ok, result.error)
        self.assertEqual(
            [(a.destination, type(a.error).__name__) for a in result.attempts],
            [
                (f"127.0.0.1:{number}", "PoemConnectionFailed"),
                (f"[::1]:{number}", "NoneType"),
            ],
        )

    async def test_localhostOnIPv6Only(self) -> None:
        """
        The issue's case: C{localhost:PORT} against a server on C{::1} only
        is fetched (the resolver's IPv4 address, if tried first, refuses).
        """
        try:
            infos = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        except OSError:
            infos = []
        if not any(info[4][0] == "::1" for info in infos):
            raise SkipTest("localhost does not resolve to ::1 on this machine")
        number = self._serve_on_ipv6()
        [result] = await get_poems([f"localhost:{number}"], timeout=10)
        self.assertTrue(result.ok, result.error)
        self.assertEqual(str(result.poem.peer), f"[::1]:{number}")  # type: ignore[union-attr]
        self.assertEqual(result.attempts[-1].destination, f"[::1]:{number}")


async def _run_cli(*argv: str) -> tuple[int, bytes, list[str]]:
    stdout, stderr = io.BytesIO(), io.StringIO()
    status = await cli.run(argv, reactor=reactor, stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue().splitlines()


class TLSTests(TestCase):
    """
    C{tls:HOST:PORT} against C{twistd poetry --port ssl:0:...}: verified
    with C{--cacert}, failing verification (one line, exit 1), C{--insecure}.
    """

    def serve_tls(self, pki: PKI, *options: str) -> int:
        description = (
            f"ssl:0:interface=127.0.0.1:privateKey={pki.server_key}"
            f":certKey={pki.server_cert}"
        )
        service = makeService(parse("--port", description, *options))
        service.startService()
        self.addCleanup(service.stopService)
        return int(service.ports[0].getHost().port)  # type: ignore[attr-defined]

    def setUp(self) -> None:
        self.pki = make_pki(_temp_dir(self))
        self.port = self.serve_tls(self.pki)

    async def test_verified(self) -> None:
        """Trusting the test's CA, both the name and the IP literal verify."""
        tls = ClientTLS.from_ca_file(self.pki.ca_cert)
        for host in ("localhost", "127.0.0.1"):
            address = parse_address(f"tls:{host}:{self.port}")
            poem = await get_poem(address, timeout=10, tls=tls)
            self.assertTrue(poem.data.strip(), host)

    async def test_cleanClosingFaultOverTLS(self) -> None:
        """
        A fault mode that ends with a clean close (C{truncate}) ends a TLS
        connection as the poem protocol does, with the close alert after
        its bytes (the base's close_cleanly): all its bytes, then a clean
        end, never a FIN that beats the TLS records.
        """
        port = self.serve_tls(self.pki, "--fault", "truncate:7")
        tls = ClientTLS.from_ca_file(self.pki.ca_cert)
        poem = await get_poem(
            parse_address(f"tls:127.0.0.1:{port}"), timeout=10, tls=tls
        )
        self.assertEqual(len(poem.data), 7)

    async def test_cliCacert(self) -> None:
        """C{get-poetry --cacert CA tls:...}: the poem, status 0."""
        status, out, err = await _run_cli(
            "-q", "--cacert", str(self.pki.ca_cert), f"tls:127.0.0.1:{self.port}"
        )
        self.assertEqual((status, err), (0, []))
        self.assertTrue(out)

    async def test_unknownCA(self) -> None:
        """
        The system's CAs do not know the test's CA: one line naming the
        problem, exit 1, not retried.
        """
        status, _, err = await _run_cli(
            "-q", "--retries", "3", f"tls:127.0.0.1:{self.port}"
        )
        self.assertEqual(status, 1)
        self.assertEqual(len(err), 1, err)
        self.assertIn(f"tls:127.0.0.1:{self.port}: TLS failed:", err[0])
        self.assertIn(
            "certificate verify failed: issuer 'CN=twisted-poetry test CA' is not"
            " a trusted CA",
            err[0],
        )
        self.assertNotIn("tries", err[0])

    async def test_nameMismatch(self) -> None:
        """A certificate for other names: the error names the host asked for."""
        pki = make_pki(_temp_dir(self), names=("poetry.example",))
        port = self.serve_tls(pki)
        tls = ClientTLS.from_ca_file(pki.ca_cert)
        with self.assertRaises(PoemTLSError) as caught:
            await get_poem(parse_address(f"tls:localhost:{port}"), timeout=10, tls=tls)
        self.assertIn("certificate does not name localhost", str(caught.exception))

    async def test_expired(self) -> None:
        """An expired server certificate is named as such."""
        pki = make_pki(_temp_dir(self), expired=True)
        port = self.serve_tls(pki)
        tls = ClientTLS.from_ca_file(pki.ca_cert)
        d: Deferred[Any] = get_poem(
            parse_address(f"tls:127.0.0.1:{port}"), timeout=10, tls=tls
        )
        with self.assertRaises(PoemTLSError) as caught:
            await d
        self.assertIn("certificate has expired", str(caught.exception))

    async def test_insecure(self) -> None:
        """C{--insecure}: the poem without verification, and one loud line."""
        status, out, err = await _run_cli(
            "-q", "--insecure", f"tls:127.0.0.1:{self.port}"
        )
        self.assertEqual(status, 0)
        self.assertTrue(out)
        self.assertEqual(len(err), 1, err)
        self.assertIn("warning: --insecure", err[0])
        self.assertIn("NOT verified", err[0])

    async def test_plainServer(self) -> None:
        """A C{tls:} address whose server does not speak TLS: a TLS error."""
        factory = _server_factory()
        port = _listen(
            self, reactor.listenTCP(0, factory, interface="127.0.0.1"), factory
        )
        address = parse_address(f"tls:127.0.0.1:{port.getHost().port}")
        [result] = await get_poems([address], timeout=10, tls=ClientTLS.insecure())
        self.assertIsInstance(result.error, PoemTLSError)
