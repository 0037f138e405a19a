"""
End to end, as a user runs it: the service that C{twistd poetry} builds from
its command line, on 127.0.0.1 port 0, and the client library fetching from
it over real loopback sockets.

These are pytest tests driven by pytest-twisted: the C{poetry_service}
fixture starts services in the test's reactor and stops them at teardown,
and each test is a coroutine run by C{pytest_twisted.ensureDeferred}.  Trial
does not collect them (it runs only C{TestCase}s), so they run under
C{python -m pytest}; the unit tests stay trial C{SynchronousTestCase}s that
both runners run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.python.failure import Failure

from poetry import get_poem, get_poems
from poetry.errors import EmptyPoem, PoemTimeout, PoemTooLarge, PoemTruncated
from poetry.library import PoemLibrary
from poetry.service import PoetryService, makeService
from tests.helpers import parse, waitFor

StartService = Callable[..., PoetryService]


@pytest_twisted.async_yield_fixture
async def poetry_service() -> AsyncIterator[StartService]:
    """
    A function that builds and starts the service C{twistd poetry ARGS...}
    would run, listening on 127.0.0.1 port 0; every service it started is
    stopped (and its connections drained) at teardown.
    """
    started: list[PoetryService] = []

    def start(*argv: str) -> PoetryService:
        service = makeService(parse("--port", "tcp:0", *argv))
        service.startService()
        started.append(service)
        return service

    yield start
    for service in started:
        if service.running:
            await service.stopService()


def port_of(service: PoetryService) -> int:
    """The port number the service listens on."""
    return service.ports[0].getHost().port  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def big_poem(tmp_path: Path) -> Path:
    """A 231,000-byte poem file: more than the kernel's socket buffers hold."""
    path = tmp_path / "big.txt"
    line = b"a line of verse that is long enough to matter, again and again\n"
    path.write_bytes((line * (231_000 // len(line) + 1))[:231_000])
    return path


class HalfClosing(Protocol):
    """A client that half-closes at once (as C{nc -N} does), then reads."""

    def __init__(self, done: Deferred[tuple[bytes, Failure]]) -> None:
        self.done = done
        self.chunks: list[bytes] = []

    def connectionMade(self) -> None:
        self.transport.loseWriteConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback((b"".join(self.chunks), reason))


class HalfClosingFactory(ClientFactory):
    def __init__(self) -> None:
        self.result: Deferred[tuple[bytes, Failure]] = Deferred()

    def buildProtocol(self, addr: Any) -> HalfClosing:
        return HalfClosing(self.result)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.result.errback(reason)


@pytest_twisted.ensureDeferred
async def test_serves_the_bundled_poems(poetry_service: StartService) -> None:
    """
    The default service serves the bundled poems round-robin: three
    downloads get three different bundled poems, byte for byte, and the
    server counts each as served once the client's close reaches it.
    """
    service = poetry_service()
    bundled = {p.data for p in PoemLibrary.bundled().poems}
    results = await get_poems([("127.0.0.1", port_of(service))] * 3, timeout=10)
    poems = [r.poem.data for r in results if r.poem is not None]
    assert len(poems) == 3
    assert len(set(poems)) == 3
    assert set(poems) <= bundled
    await waitFor(lambda: service.factory.counts()["served"] == 3)


@pytest_twisted.ensureDeferred
async def test_half_closing_client_gets_the_whole_poem(
    poetry_service: StartService, big_poem: Path
) -> None:
    """
    A client that half-closes before reading gets the whole poem and a
    clean close, in fast mode (a poem larger than the socket buffers) and in
    slow mode (many chunks after the client's FIN).
    """
    want = big_poem.read_bytes()
    fast = poetry_service("--poem", str(big_poem))
    slow = poetry_service(
        "--poem", str(big_poem), "--delay", "0.001", "--chunk-size", "40000"
    )
    for service in (fast, slow):
        factory = HalfClosingFactory()
        reactor.connectTCP("127.0.0.1", port_of(service), factory)  # type: ignore[attr-defined]
        data, reason = await factory.result
        assert len(data) == len(want)
        assert data == want
        assert reason.check(ConnectionDone)


@pytest_twisted.ensureDeferred
async def test_faults_as_the_client_sees_them(poetry_service: StartService) -> None:
    """
    Each fault mode that ends a connection reaches get_poem as its own
    error: a reset is a truncated poem after exactly BYTES bytes, refuse is
    an empty poem, endless is too large, silent times out.
    """
    reset = poetry_service("--fault", "reset:100")
    refuse = poetry_service("--fault", "refuse")
    endless = poetry_service("--fault", "endless")
    silent = poetry_service("--fault", "silent")
    with pytest.raises(PoemTruncated) as truncated:
        await get_poem("127.0.0.1", port_of(reset), timeout=10)
    assert len(truncated.value.partial) == 100
    with pytest.raises(EmptyPoem):
        await get_poem("127.0.0.1", port_of(refuse), timeout=10)
    with pytest.raises(PoemTooLarge):
        await get_poem("127.0.0.1", port_of(endless), timeout=10, max_bytes=50_000)
    with pytest.raises(PoemTimeout) as timedOut:
        await get_poem("127.0.0.1", port_of(silent), timeout=0.2)
    assert timedOut.value.partial == b""


@pytest_twisted.ensureDeferred
async def test_stop_cuts_slow_poems_with_a_reset(poetry_service: StartService) -> None:
    """
    A poem still in flight when the service's grace runs out is cut with a
    reset: get_poem reports it truncated (never a shorter poem that looks
    complete), and the server counts it as cut at shutdown.
    """
    service = poetry_service("--delay", "5", "--chunk-size", "10", "--grace", "0.05")
    downloading = get_poem("127.0.0.1", port_of(service), timeout=30)
    await waitFor(lambda: any(p.sent >= 10 for p in service.factory.live))
    stopped = service.stopService()
    with pytest.raises(PoemTruncated) as cut:
        await downloading
    assert len(cut.value.partial) == 10
    await stopped
    assert service.factory.counts()["cut_at_shutdown"] == 1
