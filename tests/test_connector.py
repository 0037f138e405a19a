"""
Tests for L{poetry.client.connector.Connector}: from an address to
connection attempts, on L{MemoryReactorClock} with a fake resolver.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import CancelledError
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    NoRouteError,
)
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import parse_address
from poetry.client import ClientTLS, PoetryClientFactory, get_poem, get_poems
from poetry.client.tls import VerifyingCreator, certificate_problem
from poetry.client.traced import TracingFactory
from poetry.errors import (
    PoemConnectionFailed,
    PoemTimeout,
    PoemTLSError,
    PoemTruncated,
)

from .certificates import make_pki
from .resolver import FakeResolver
from .test_client import POEM, Recorder

NAME = "poetry.test"


def reactor_for(answers: dict[str, list[str]], **kw: Any) -> MemoryReactorClock:
    reactor = MemoryReactorClock()
    reactor.installNameResolver(FakeResolver(answers, **kw))
    return reactor


def held_resolver() -> tuple[FakeResolver, MemoryReactorClock]:
    """
    A reactor whose resolver holds its answer for C{NAME} (127.0.0.1)
    until the test calls C{resolver.complete()}.
    """
    resolver = FakeResolver({NAME: ["127.0.0.1"]}, hold=True)
    reactor = MemoryReactorClock()
    reactor.installNameResolver(resolver)
    return resolver, reactor


def serve(factory: Any, host: str, port: int, data: bytes = POEM) -> Any:
    """Connect C{factory} to a fake server at C{host}, which sends C{data}."""
    kind = IPv6Address if ":" in host else IPv4Address
    peer = kind("TCP", host, port)
    proto = factory.buildProtocol(peer)
    proto.makeConnection(StringTransport(peerAddress=peer))
    proto.dataReceived(data)
    proto.connectionLost(Failure(ConnectionDone()))
    return proto


def refuse(factory: Any) -> None:
    factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))


class EachInTurnTests(SynchronousTestCase):
    """A host name's addresses are tried in turn, one new factory each."""

    def test_firstRefusedSecondServes(self) -> None:
        """
        The first address refuses: the second is tried with a new
        factory, and its poem is the result, with the asked-for address
        and the real peer.
        """
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poem(NAME, 10001, reactor=reactor)
        self.assertEqual(len(reactor.tcpClients), 1)
        host, port, first, timeout, _ = reactor.tcpClients[0]
        self.assertEqual((host, port, timeout), ("::1", 10001, None))
        self.assertIsInstance(first, PoetryClientFactory)
        refuse(first)
        self.assertEqual(len(reactor.tcpClients), 2)
        host, port, second, _, _ = reactor.tcpClients[1]
        self.assertEqual((host, port), ("127.0.0.1", 10001))
        self.assertIsNot(second, first)
        serve(second, host, port)
        poem = self.successResultOf(d)
        self.assertEqual(poem.data, POEM)
        self.assertEqual(str(poem.address), f"{NAME}:10001")
        self.assertEqual(str(poem.peer), "127.0.0.1:10001")
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_attemptsRecorded(self) -> None:
        """C{DownloadResult.attempts} holds both attempts, the refusal first."""
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poems([f"{NAME}:10001"], reactor=reactor)
        refuse(reactor.tcpClients[0][2])
        serve(reactor.tcpClients[1][2], "127.0.0.1", 10001)
        [result] = self.successResultOf(d)
        self.assertTrue(result.ok)
        self.assertEqual(
            [(a.try_number, a.destination) for a in result.attempts],
            [(1, "[::1]:10001"), (1, "127.0.0.1:10001")],
        )
        self.assertIsInstance(result.attempts[0].error, PoemConnectionFailed)
        self.assertIsNone(result.attempts[1].error)
        self.assertEqual(result.tries, 1)

    def test_allRefused(self) -> None:
        """Every address refuses: the last refusal is the error."""
        reactor = reactor_for({NAME: ["::1", "127.0.0.1", "127.0.0.2"]})
        d = get_poem(NAME, 10001, reactor=reactor)
        for index in range(3):
            refuse(reactor.tcpClients[index][2])
        self.assertEqual(len(reactor.tcpClients), 3)
        error = self.failureResultOf(d, PoemConnectionFailed).value
        self.assertEqual(str(error), f"{NAME}:10001: connection refused")
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_anyConnectFailureMovesOn(self) -> None:
        """Not only a refusal: no route to the first address also moves on."""
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poem(NAME, 10001, reactor=reactor)
        reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(NoRouteError()))
        serve(reactor.tcpClients[1][2], "127.0.0.1", 10001)
        self.assertEqual(self.successResultOf(d).data, POEM)

    def test_connectedFailureDoesNotMoveOn(self) -> None:
        """
        An attempt that connected and was cut off is the try's result: the
        next address is not tried (only a failure to connect moves on).
        """
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poem(NAME, 10001, reactor=reactor)
        factory = reactor.tcpClients[0][2]
        proto = factory.buildProtocol(IPv6Address("TCP", "::1", 10001))
        proto.makeConnection(StringTransport())
        proto.dataReceived(b"half a")
        proto.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(d, PoemTruncated)
        self.assertEqual(len(reactor.tcpClients), 1)

    def test_ipLiteralIsNotResolved(self) -> None:
        """An IP literal is connected to at once; the resolver is not asked."""
        resolver = FakeResolver({})
        reactor = MemoryReactorClock()
        reactor.installNameResolver(resolver)
        get_poem("::1", 10001, reactor=reactor)
        get_poem("127.0.0.1", 10001, reactor=reactor)
        self.assertEqual(resolver.asked, [])
        self.assertEqual([c[0] for c in reactor.tcpClients], ["::1", "127.0.0.1"])


class OneTimeoutTests(SynchronousTestCase):
    """Resolving and every attempt of a try share its one timeout."""

    def test_nextAttemptGetsWhatIsLeft(self) -> None:
        """
        The first attempt fails after 4 of 10 seconds: the second has the
        6 left, and the timeout names the whole 10.
        """
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poem(NAME, 10001, reactor=reactor, timeout=10)
        reactor.advance(4)
        refuse(reactor.tcpClients[0][2])
        self.assertEqual(reactor.tcpClients[1][2].timeout, 6)
        reactor.advance(5.9)
        self.assertNoResult(d)
        reactor.advance(0.1)
        error = self.failureResultOf(d, PoemTimeout).value
        self.assertEqual(error.seconds, 10)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_resolvingTimesOut(self) -> None:
        """A resolver that never answers: the timeout, and no connection later."""
        resolver, reactor = held_resolver()
        d = get_poem(NAME, 10001, reactor=reactor, timeout=3)
        reactor.advance(2.9)
        self.assertNoResult(d)
        reactor.advance(0.1)
        self.assertEqual(self.failureResultOf(d, PoemTimeout).value.seconds, 3)
        resolver.complete()
        self.assertEqual(reactor.tcpClients, [])

    def test_resolvedInTimeCancelsTheTimer(self) -> None:
        """An answer in time: the resolving timer is cancelled."""
        resolver, reactor = held_resolver()
        d = get_poem(NAME, 10001, reactor=reactor, timeout=3)
        reactor.advance(1)
        resolver.complete()
        serve(reactor.tcpClients[0][2], "127.0.0.1", 10001)
        self.successResultOf(d)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_cancelWhileResolving(self) -> None:
        """A cancel while resolving: CancelledError, and no connection later."""
        resolver, reactor = held_resolver()
        d = get_poems([f"{NAME}:10001"], reactor=reactor, timeout=3)
        d.cancel()
        [result] = self.successResultOf(d)
        self.assertIsInstance(result.error, CancelledError)
        resolver.complete()
        self.assertEqual(reactor.tcpClients, [])
        self.assertEqual(reactor.getDelayedCalls(), [])


class SchemeTests(SynchronousTestCase):
    """C{unix:} goes through connectUNIX, C{tls:} through connectSSL."""

    def test_unix(self) -> None:
        """A UNIX socket path is connected to with connectUNIX, unresolved."""
        reactor = reactor_for({})
        d = get_poems(["unix:/run/poetry.sock"], reactor=reactor)
        self.assertEqual(reactor.tcpClients, [])
        [(path, factory, timeout, _)] = reactor.unixClients
        self.assertEqual((path, timeout), ("/run/poetry.sock", None))
        proto = factory.buildProtocol(None)
        proto.makeConnection(StringTransport())
        proto.dataReceived(POEM)
        proto.connectionLost(Failure(ConnectionDone()))
        [result] = self.successResultOf(d)
        self.assertEqual(result.poem.data, POEM)
        self.assertEqual(str(result.address), "unix:/run/poetry.sock")
        self.assertEqual(result.attempts[0].destination, "unix:/run/poetry.sock")

    def test_tls(self) -> None:
        """
        A C{tls:} address resolves, then connects with connectSSL and a
        creator for the host name asked for (not the resolved address).
        """
        reactor = reactor_for({NAME: ["127.0.0.1"]})
        get_poem(parse_address(f"tls:{NAME}:10443"), reactor=reactor)
        self.assertEqual(reactor.tcpClients, [])
        [(host, port, factory, creator, timeout, _)] = reactor.sslClients
        self.assertEqual((host, port, timeout), ("127.0.0.1", 10443, None))
        self.assertIsInstance(factory, PoetryClientFactory)
        self.assertIsInstance(creator, VerifyingCreator)
        self.assertEqual(creator._inner._hostname, NAME)

    def test_plainTcpIsNotTls(self) -> None:
        """A plain address goes through connectTCP even when a policy is given."""
        reactor = reactor_for({})
        get_poem("127.0.0.1", 10001, reactor=reactor, tls=ClientTLS.insecure())
        self.assertEqual(len(reactor.tcpClients), 1)
        self.assertEqual(reactor.sslClients, [])

    def test_handshakeFailureIsPoemTLSError(self) -> None:
        """
        An OpenSSL error ending the connection is a L{PoemTLSError} naming
        the problem the verify callback saw, and it is not retried.
        """
        reactor = reactor_for({})
        d = get_poem(parse_address("tls:127.0.0.1:10443"), reactor=reactor, retries=3)
        [(_, _, factory, _, _, _)] = reactor.sslClients
        proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 10443))
        proto.makeConnection(StringTransport())
        reason = SSL.Error([("SSL routines", "", "certificate verify failed")])
        proto.connectionLost(Failure(reason))
        error = self.failureResultOf(d, PoemTLSError).value
        self.assertEqual(
            str(error), "tls:127.0.0.1:10443: TLS failed: certificate verify failed"
        )
        self.assertFalse(error.retryable)
        self.assertEqual(len(reactor.sslClients), 1)
        self.assertEqual(reactor.getDelayedCalls(), [])


class TracedAttemptTests(SynchronousTestCase):
    """With a tracer, each attempt's factory is wrapped and traced."""

    def test_attemptsInTheTrace(self) -> None:
        """
        The trace shows resolving, the addresses, and one
        C{startedConnecting} per attempt with its destination.
        """
        tracer = Recorder()
        reactor = reactor_for({NAME: ["::1", "127.0.0.1"]})
        d = get_poem(NAME, 10001, reactor=reactor, tracer=tracer)
        first = reactor.tcpClients[0][2]
        self.assertIsInstance(first, TracingFactory)
        refuse(first)
        second = reactor.tcpClients[1][2]
        serve(second, "127.0.0.1", 10001)
        self.successResultOf(d)
        events = [(s, n, detail) for _, s, n, detail in tracer.events]
        self.assertEqual(events[0], ("connector", "resolving", {"host": NAME}))
        self.assertEqual(
            events[1],
            ("connector", "resolved", {"addresses": ["::1", "127.0.0.1"]}),
        )
        started = [detail for s, n, detail in events if n == "startedConnecting"]
        self.assertEqual(
            started,
            [
                {"destination": "[::1]:10001", "address": f"{NAME}:10001"},
                {"destination": "127.0.0.1:10001", "address": f"{NAME}:10001"},
            ],
        )
        self.assertIn(
            ("factory", "clientConnectionFailed", {"reason": "ConnectionRefusedError"}),
            events,
        )


class CertificateProblemTests(SynchronousTestCase):
    """L{certificate_problem} names what is wrong with a server's chain."""

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory(prefix="poetry-pki-")
        self.addCleanup(directory.cleanup)
        self.directory = Path(directory.name)

    def chain(self, **kw: Any) -> list[x509.Certificate]:
        pki = make_pki(self.directory, **kw)
        return [x509.load_pem_x509_certificate(pki.server_cert.read_bytes())]

    def test_expired(self) -> None:
        """An expired leaf is named, with its end."""
        problem = certificate_problem(self.chain(expired=True))
        self.assertIsNotNone(problem)
        self.assertTrue(str(problem).startswith("certificate has expired (on "))

    def test_notYetValid(self) -> None:
        """A leaf checked before its start is not valid yet."""
        chain = self.chain()
        early = chain[0].not_valid_before_utc - datetime.timedelta(hours=1)
        problem = certificate_problem(chain, early)
        self.assertTrue(str(problem).startswith("certificate is not valid yet"))

    def test_unknownIssuer(self) -> None:
        """Nothing else wrong: the issuer is named as not trusted."""
        self.assertEqual(
            certificate_problem(self.chain()),
            "issuer 'CN=twisted-poetry test CA' is not a trusted CA",
        )

    def test_selfSigned(self) -> None:
        """A lone certificate that issued itself is self-signed."""
        pki = make_pki(self.directory)
        ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        self.assertEqual(certificate_problem([ca]), "self-signed certificate")


class OneAttemptTests(SynchronousTestCase):
    """
    A download to one address without retries is dialled straight to its
    factory (no L{Connector}); its one L{AttemptRecord} comes from its
    result, and is the same as a recorded one would be.
    """

    def test_attemptFromTheResult(self) -> None:
        """
        The poem arrives 2 s after the start at 1 s: one attempt, try 1,
        to the address as text, started at 1 s, 2 s long, no error.
        """
        reactor = reactor_for({})
        reactor.advance(1)
        d = get_poems(["127.0.0.1:10001"], reactor=reactor)
        reactor.advance(2)
        serve(reactor.tcpClients[0][2], "127.0.0.1", 10001)
        [result] = self.successResultOf(d)
        [attempt] = result.attempts
        self.assertEqual(attempt, (1, "127.0.0.1:10001", 1.0, 2.0, None))
        self.assertEqual((result.started, result.elapsed, result.tries), (1.0, 2.0, 1))

    def test_failedAttemptCarriesTheError(self) -> None:
        """A refused download's one attempt carries the same error object."""
        reactor = reactor_for({})
        d = get_poems(["[::1]:10001"], reactor=reactor)
        refuse(reactor.tcpClients[0][2])
        [result] = self.successResultOf(d)
        [attempt] = result.attempts
        self.assertIsInstance(result.error, PoemConnectionFailed)
        self.assertIs(attempt.error, result.error)
        self.assertEqual(attempt.destination, "[::1]:10001")

    def test_cancelledRunningAndQueued(self) -> None:
        """
        Cancelled: the running download made its one attempt (cancelled),
        the queued one made none.
        """
        reactor = reactor_for({})
        d = get_poems(["10001", "10002"], concurrency=1, reactor=reactor)
        d.cancel()
        running, queued = self.successResultOf(d)
        [attempt] = running.attempts
        self.assertIsInstance(attempt.error, CancelledError)
        self.assertEqual(queued.attempts, ())
        self.assertIsNone(queued.started)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_retriesAreRecorded(self) -> None:
        """With retries, each try's attempt is recorded as it ends."""
        reactor = reactor_for({})
        d = get_poems(["10001"], retries=1, retry_delay=0, reactor=reactor)
        refuse(reactor.tcpClients[0][2])
        reactor.advance(0)
        serve(reactor.tcpClients[1][2], "127.0.0.1", 10001)
        [result] = self.successResultOf(d)
        self.assertEqual(
            [(a.try_number, type(a.error).__name__) for a in result.attempts],
            [(1, "PoemConnectionFailed"), (2, "NoneType")],
        )

    def test_tlsHandshakeFailureWithoutRetries(self) -> None:
        """
        A one-attempt C{tls:} download whose handshake fails ends with a
        L{PoemTLSError}, and so does its attempt.
        """
        reactor = reactor_for({})
        d = get_poems(["tls:127.0.0.1:10443"], reactor=reactor)
        [(_, _, factory, _, _, _)] = reactor.sslClients
        proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 10443))
        proto.makeConnection(StringTransport())
        reason = SSL.Error([("SSL routines", "", "certificate verify failed")])
        proto.connectionLost(Failure(reason))
        [result] = self.successResultOf(d)
        self.assertIsInstance(result.error, PoemTLSError)
        self.assertIsInstance(result.attempts[0].error, PoemTLSError)
        self.assertEqual(result.attempts[0].destination, "tls:127.0.0.1:10443")

    def test_peerIsTheAddressAskedFor(self) -> None:
        """
        A peer equal to the address asked for is that same object; another
        peer (the server answered from elsewhere) is its own address.
        """
        reactor = reactor_for({})
        d = get_poems(["127.0.0.1:10001", "127.0.0.1:10002"], reactor=reactor)
        serve(reactor.tcpClients[0][2], "127.0.0.1", 10001)
        serve(reactor.tcpClients[1][2], "127.0.0.2", 10002)
        same, other = self.successResultOf(d)
        assert same.poem is not None and other.poem is not None
        self.assertIs(same.poem.peer, same.poem.address)
        self.assertEqual(str(other.poem.peer), "127.0.0.2:10002")
        self.assertEqual(str(other.poem.address), "127.0.0.1:10002")
