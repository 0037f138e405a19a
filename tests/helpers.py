"""
Helpers shared by several test modules: parsing C{twistd poetry} options,
ending a protocol's connection by hand, a bounded wait on the real reactor,
a bounded blocking wait for tests of server processes, a minimal client
that collects whatever a server sends over a real loopback socket, and the
trace of one download on a real reactor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure

from poetry.service import BadOptions, Options

#: The client's trace of one poem downloaded over a real socket, callback by
#: callback as C{source.name} (consecutive C{dataReceived} calls once): the
#: order Twisted makes them in, shared by the library's and the CLI's tests.
POEM_TRACE = [
    "factory.doStart",
    "factory.startedConnecting",
    "timeout.scheduled",
    "factory.buildProtocol",
    "protocol.makeConnection",
    "protocol.connectionMade",
    "protocol.dataReceived",
    "protocol.connectionLost",
    "timeout.cancelled",
    "factory.clientConnectionLost",
    "factory.doStop",
]


def wait_until(
    condition: Callable[[], object], what: str, tries: int = 200, pause: float = 0.05
) -> None:
    """
    Block (no reactor: for tests of real server processes) until
    C{condition()} is true, checking C{tries} times C{pause} seconds apart;
    fail with C{timed out waiting for WHAT} if it never is.
    """
    for _ in range(tries):
        if condition():
            return
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}")


class BoundedClock(Clock):
    """
    A L{Clock} that fails the test instead of spinning: a timer that keeps
    re-arming itself for the instant it runs at (a wrong comparison in a
    deadline structure does that) would make C{advance} loop forever; here
    the L{LIMIT}th call scheduled for one instant raises L{AssertionError}.
    """

    LIMIT = 1000

    _instant = -1.0
    _scheduled = 0

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        when = self.seconds() + delay
        if when != self._instant:
            self._instant, self._scheduled = when, 0
        self._scheduled += 1
        if self._scheduled >= self.LIMIT:
            raise AssertionError(
                f"{self.LIMIT} calls scheduled for the instant {when}: a timer loop"
            )
        return super().callLater(delay, callable, *args, **kw)


def parse(*argv: str) -> Options:
    """
    C{twistd poetry} options parsed from C{argv}; a bad command line raises
    the L{UsageError} that L{BadOptions} carries.
    """
    options = Options()
    try:
        options.parseOptions(list(argv))
    except BadOptions as e:
        raise e.error from None
    return options


def lose(proto: Protocol, exc: type[Exception] = ConnectionDone) -> None:
    """Deliver connectionLost as the reactor would after a close."""
    proto.connectionLost(Failure(exc()))


async def waitFor(condition: Callable[[], object], tries: int = 2000) -> None:
    """
    Let the reactor run (5 ms at a time, a bounded number of times) until
    C{condition()} is true; fail if it never is.
    """
    for _ in range(tries):
        if condition():
            return
        await deferLater(reactor, 0.005)
    raise AssertionError(f"condition never became true: {condition}")


class Collect(Protocol):
    """Test client: sends C{junk} if any, collects until the connection ends."""

    def __init__(self, junk: bytes = b"") -> None:
        self.junk = junk
        self.chunks: list[bytes] = []
        self.done: Deferred[tuple[bytes, Failure]] = Deferred()

    def connectionMade(self) -> None:
        if self.junk:
            self.transport.write(self.junk)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback((b"".join(self.chunks), reason))


class CollectFactory(ClientFactory):
    """
    Builds one L{Collect}; C{result} fires with what it collected and how the
    connection ended, or fails if the connection cannot be made.
    """

    def __init__(self, junk: bytes = b"") -> None:
        self.junk = junk
        self.result: Deferred[tuple[bytes, Failure]] = Deferred()
        #: The L{Collect} built, once the connection is made.
        self.built: Collect | None = None

    def buildProtocol(self, addr: Any) -> Collect:
        p = self.built = Collect(self.junk)
        p.done.chainDeferred(self.result)
        return p

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.result.errback(reason)


def fetch(portNumber: int, junk: bytes = b"") -> Deferred[tuple[bytes, Failure]]:
    """
    Read one poem from 127.0.0.1:C{portNumber} (sending C{junk} first, if
    any): fire with its bytes and the reason the connection ended.
    """
    f = CollectFactory(junk)
    reactor.connectTCP("127.0.0.1", portNumber, f, timeout=5)
    return f.result
