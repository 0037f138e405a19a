"""
Unit tests of the service's parts without sockets: L{ServerConfig},
L{ListeningService} and L{PoetryService}'s listening on fake endpoints, and
L{GracefulStop} on a L{Clock}.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import CannotListenError, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from poetry.service import (
    CannotListen,
    ConfigError,
    GracefulStop,
    ListeningService,
    PoetryService,
    ServerConfig,
)
from tests.helpers import parse

LIBRARY = PoemLibrary([PoemFile("p", b"a poem in several chunks\n")])


class FakePort:
    """An L{IListeningPort} that records whether it stopped listening."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.stopped = 0

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", self.number)

    def stopListening(self) -> Deferred[None]:
        self.stopped += 1
        return succeed(None)


class FakeEndpoint:
    """
    An L{IStreamServerEndpoint} that listens at once on a L{FakePort}, fails
    with C{error}, or (C{pending}) never answers.
    """

    def __init__(
        self, number: int, error: Exception | None = None, pending: bool = False
    ) -> None:
        self.port = FakePort(number)
        self.error = error
        self.pending = pending
        self.listens = 0
        self.waiting: list[Deferred[Any]] = []

    def listen(self, factory: object) -> Deferred[Any]:
        self.listens += 1
        if self.pending:
            d: Deferred[Any] = Deferred()
            self.waiting.append(d)
            return d
        if self.error is not None:
            return fail(self.error)
        return succeed(self.port)


def in_use(number: int) -> CannotListenError:
    return CannotListenError("127.0.0.1", number, OSError(98, "Address already in use"))


class AbortRecordingTransport(StringTransport):
    """A L{StringTransport} that tells an abort from a clean close."""

    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


class ServerConfigTests(SynchronousTestCase):
    """L{ServerConfig}: the options checked once, frozen."""

    def test_optionsCarryTheConfig(self) -> None:
        """
        L{Options.postOptions} leaves a L{ServerConfig} holding the typed
        values, the same ones the option mapping shows.
        """
        options = parse("--delay", "0.5", "--chunk-size", "3", "--port", "tcp:0")
        config = options.config
        self.assertIsInstance(config, ServerConfig)
        self.assertEqual((config.delay, config.chunk_size), (0.5, 3))
        self.assertEqual(config.idle_timeout, options["idle-timeout"])
        self.assertEqual(config.given, ("tcp:0",))
        self.assertEqual(list(config.ports), options["ports"])

    def test_frozen(self) -> None:
        """A configuration cannot be changed once checked."""
        config = parse().config
        with self.assertRaises(dataclasses.FrozenInstanceError):
            config.grace = 0.0  # type: ignore[misc]

    def test_rulesHoldForDirectConstruction(self) -> None:
        """
        A L{ServerConfig} built directly (by a library user) is checked by
        the same rules, with the same words, as the command line.
        """
        cases: list[tuple[dict[str, Any], str]] = [
            ({"delay": 1.0, "idle_timeout": 1.0}, "--idle-timeout must be longer"),
            ({"grace": float("inf")}, "--grace must be a finite number > 0"),
            ({"grace": 0.0}, "--grace must be a finite number > 0"),
            ({"delay": 0.0}, "--delay must be a finite number >= 0.001"),
            ({"delay": float("inf")}, "--delay must be a finite number"),
            ({"chunk_size": 0}, "--chunk-size must be a whole number >= 1"),
            ({"max_connections": 0}, "--max-connections must be a whole number"),
            ({"max_per_peer": 0}, "--max-per-peer must be a whole number"),
            ({"idle_timeout": 0.01}, "--idle-timeout must be a finite number >="),
        ]
        for fields, expected in cases:
            with self.assertRaises(ConfigError, msg=fields) as cm:
                ServerConfig(LIBRARY, **fields)
            self.assertIn(expected, str(cm.exception), fields)
        ServerConfig(LIBRARY, delay=1.0, idle_timeout=1.5)

    def test_idleTimeoutEqualToDelayRefused(self) -> None:
        """
        An idle timeout equal to the delay is refused on the command line
        (a slow connection moves data only every delay seconds); one just
        longer is accepted.
        """
        from twisted.python.usage import UsageError

        with self.assertRaises(UsageError) as cm:
            parse("--delay", "2", "--idle-timeout", "2")
        self.assertIn("--idle-timeout must be longer than --delay", str(cm.exception))
        self.assertEqual(
            parse("--delay", "2", "--idle-timeout", "2.5")["idle-timeout"], 2.5
        )

    def test_buildFactory(self) -> None:
        """The factory is built from the configuration's values."""
        clock = Clock()
        config = ServerConfig(
            LIBRARY, delay=0.5, chunk_size=4, max_connections=3, max_per_peer=2,
            idle_timeout=7.0, trace=True,
        )  # fmt: skip
        factory = config.build_factory(clock)
        self.assertIs(factory.library, LIBRARY)
        self.assertEqual((factory.delay, factory.chunk_size), (0.5, 4))
        self.assertEqual(factory.idle_timeout, 7.0)
        self.assertTrue(factory.trace_chunks)
        self.assertIs(factory.clock, clock)


class ListeningTests(SynchronousTestCase):
    """L{PoetryService} listening through L{ListeningService}s."""

    def make(self, *endpoints: FakeEndpoint) -> PoetryService:
        factory = PoetryServerFactory(LIBRARY, reactor=Clock())
        return PoetryService(
            factory,
            list(endpoints),  # type: ignore[arg-type]
            descriptions=[f"tcp:{e.port.number}" for e in endpoints],
            grace=1.0,
        )

    def test_builtFromTwistedParts(self) -> None:
        """
        The service is a L{MultiService} of one
        L{StreamServerEndpointService} per endpoint and a L{GracefulStop}.
        """
        service = self.make(FakeEndpoint(1), FakeEndpoint(2))
        self.assertIsInstance(service, MultiService)
        children = list(service)
        self.assertEqual(len(children), 3)
        self.assertEqual(
            [isinstance(c, StreamServerEndpointService) for c in children],
            [False, True, True],
        )
        self.assertIsInstance(children[0], GracefulStop)

    def test_listensOnceThroughEveryStart(self) -> None:
        """
        L{PoetryService.listen} (makeService, before twistd forks), then
        twistd's C{privilegedStartService} and C{startService}: each
        endpoint is listened on once, and the ports are the ones it gave.
        """
        one, two = FakeEndpoint(1), FakeEndpoint(2)
        service = self.make(one, two)
        service.listen()
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual((one.listens, two.listens), (1, 1))
        self.assertEqual(service.ports, [one.port, two.port])
        self.assertTrue(service.running)

    def test_startAfterPrivilegedStartListensOnce(self) -> None:
        """
        C{startService} after C{privilegedStartService} (twistd's order)
        does not listen a second time.
        """
        endpoint = FakeEndpoint(1)
        service = self.make(endpoint)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(endpoint.listens, 1)
        self.assertEqual(service.ports, [endpoint.port])

    def test_startAloneListens(self) -> None:
        """C{startService} without C{privilegedStartService} listens too."""
        endpoint = FakeEndpoint(1)
        service = self.make(endpoint)
        with capturedLogs() as events:
            service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(endpoint.listens, 1)
        text = [formatEvent(e) for e in events]
        self.assertEqual(text[0], "Poetry server listening on 127.0.0.1:1")
        self.assertIn("serving 1 poem (fast)", text[1])

    def test_secondPortFailingClosesTheFirst(self) -> None:
        """
        When the second endpoint cannot listen, L{CannotListen} (one line
        naming it and the reason) is raised at once and the first port is
        closed: nothing is left listening.
        """
        first, second = FakeEndpoint(1), FakeEndpoint(2, in_use(2))
        service = self.make(first, second)
        with self.assertRaises(CannotListen) as cm:
            service.privilegedStartService()
        self.assertEqual(
            str(cm.exception.code),
            "poetry: cannot listen on tcp:2: Address already in use",
        )
        self.assertEqual(first.port.stopped, 1)
        self.assertEqual(service.ports, [])

    def test_failureLogsNothingElse(self) -> None:
        """
        A listen failure is raised, not also logged as an unhandled error
        (Twisted's default for L{StreamServerEndpointService}).
        """
        service = self.make(FakeEndpoint(2, in_use(2)))
        with capturedLogs() as events, self.assertRaises(CannotListen):
            service.listen()
        self.assertEqual([e for e in events if e.get("log_failure")], [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_endpointThatDoesNotListenAtOnce(self) -> None:
        """
        An endpoint that does not listen synchronously is refused with one
        line, and its pending attempt is cancelled.
        """
        endpoint = FakeEndpoint(3, pending=True)
        service = self.make(endpoint)
        with self.assertRaises(CannotListen) as cm:
            service.privilegedStartService()
        self.assertIn("did not listen at once", str(cm.exception.code))
        self.assertEqual(len(endpoint.waiting), 1)
        # Cancelled, and the cancellation handled: no failure left behind.
        self.assertIsNone(self.successResultOf(endpoint.waiting[0]))
        self.assertEqual(service.ports, [])

    def test_stopClosesEveryPort(self) -> None:
        """Stopping stops listening on every port, once."""
        one, two = FakeEndpoint(1), FakeEndpoint(2)
        service = self.make(one, two)
        service.startService()
        stopped = service.stopService()
        self.assertEqual(self.successResultOf(stopped), None)
        self.assertEqual((one.port.stopped, two.port.stopped), (1, 1))
        self.assertEqual(service.ports, [])
        self.assertFalse(service.running)

    def test_listenerAlone(self) -> None:
        """
        A L{ListeningService} listens in C{privilegedStartService}, keeps its
        port, and a second C{privilegedStartService} does nothing; once
        stopped, starting listens anew.
        """
        endpoint = FakeEndpoint(5)
        factory = PoetryServerFactory(LIBRARY, reactor=Clock())
        listener = ListeningService(endpoint, factory, "tcp:5")  # type: ignore[arg-type]
        listener.privilegedStartService()
        listener.privilegedStartService()
        self.assertEqual(endpoint.listens, 1)
        self.assertIs(listener.port, endpoint.port)
        self.successResultOf(listener.stopService())
        self.assertIsNone(listener.port)
        self.assertEqual(endpoint.port.stopped, 1)
        listener.startService()
        self.assertEqual(endpoint.listens, 2)
        self.assertIs(listener.port, endpoint.port)
        self.successResultOf(listener.stopService())
        self.assertEqual(endpoint.port.stopped, 2)


class GracefulStopTests(SynchronousTestCase):
    """L{GracefulStop} on a L{Clock}: drain within the grace, then cut."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = PoetryServerFactory(
            LIBRARY, delay=10.0, chunk_size=2, reactor=self.clock
        )
        self.stopper = GracefulStop(self.factory, grace=5.0)
        self.stopper.startService()

    def connect(self) -> tuple[Any, AbortRecordingTransport]:
        proto = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
        assert proto is not None
        transport = AbortRecordingTransport()
        proto.makeConnection(transport)
        self.addCleanup(self.factory.schedule.stop)
        return proto, transport

    def test_cutsAtTheGraceBound(self) -> None:
        """
        A slow poem still in flight is not cut before the grace is over,
        and is aborted (a reset, not a clean close) exactly at it; the stop
        then reports one poem cut.
        """
        proto, transport = self.connect()
        with capturedLogs() as events:
            stopped = self.stopper.stopService()
            self.clock.advance(4.999)
            self.assertFalse(transport.aborted)
            self.assertNoResult(stopped)
            self.clock.advance(0.001)
            self.assertTrue(transport.aborted)
            proto.connectionLost(Failure(ConnectionLost()))
        self.successResultOf(stopped)
        text = "\n".join(formatEvent(e) for e in events)
        self.assertIn("Stopping: 1 poem in flight, waiting up to 5.0 s", text)
        self.assertIn("0 finished during shutdown, 1 cut at shutdown", text)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_finishedWithinGraceIsNotCut(self) -> None:
        """
        A poem that ends during the grace fires the stop at once, without
        waiting for the bound, and nothing is cut.
        """
        proto, transport = self.connect()
        stopped = self.stopper.stopService()
        self.clock.advance(1.0)
        proto.connectionLost(Failure(ConnectionLost()))
        self.successResultOf(stopped)
        self.assertFalse(transport.aborted)
        self.assertEqual(self.factory.cut_at_shutdown, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cutNowDuringTheStop(self) -> None:
        """
        L{GracefulStop.cut_now} (a second signal) during the wait aborts at
        once, before the grace is over.
        """
        proto, transport = self.connect()
        stopped = self.stopper.stopService()
        self.clock.advance(0.5)
        self.stopper.cut_now()
        self.assertTrue(transport.aborted)
        proto.connectionLost(Failure(ConnectionLost()))
        self.successResultOf(stopped)
        self.assertEqual(self.factory.cut_at_shutdown, 1)

    def test_nothingInFlight(self) -> None:
        """With no poem in flight the stop fires at once, with no timer."""
        with capturedLogs() as events:
            self.successResultOf(self.stopper.stopService())
        text = "\n".join(formatEvent(e) for e in events)
        self.assertNotIn("Stopping:", text)
        self.assertIn("Poetry server stopped: 0 poems served", text)
        self.assertEqual(self.clock.getDelayedCalls(), [])
