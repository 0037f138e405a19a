"""
The poetry server inside your own tests: a real server on 127.0.0.1 (port
0) in the test's reactor, playing any fault mode or mix, stopped cleanly
when the test ends.

  - pytest (with pytest-twisted): the C{poetry_server} fixture, registered
    by this distribution's C{pytest11} entry point
    (L{poetry.testing.plugin}): C{server = poetry_server(fault="reset:100")}.
  - trial: C{server = await startPoetryServer(self, fault="reset:100")};
    the server stops in the test's cleanups (C{addCleanup}).
  - anything else: L{start_poetry_server}C{(reactor, ...)}; call its
    C{stop()} yourself.

Each returns (or fires with) a L{PoetryTestServer}: C{.host}, C{.port},
C{.address} (C{"127.0.0.1:PORT"}), C{.counts()}.

C{startPoetryServer} is spelled as the issue and trial spell their helpers
(C{addCleanup}, C{successResultOf}): a name for trial's C{TestCase} API, the
one exception to the project's PEP 8 names (docs/design.md, "Naming").
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed

from poetry.testing.server import PoetryTestServer

__all__ = ["PoetryTestServer", "startPoetryServer", "start_poetry_server"]


def start_poetry_server(
    reactor: Any = None, **options: Any
) -> Deferred[PoetryTestServer]:
    """
    Start a L{PoetryTestServer} on C{reactor} (default: the global one)
    with C{options} (C{fault}, C{delay}, C{chunk_size}, C{poems}, C{seed},
    C{fault_peers}, C{idle_timeout}, C{grace}: see
    L{PoetryTestServer.start}).  It listens before this returns; the
    L{Deferred} has already fired.  Stop it with its C{stop()}.

    @raise ValueError: a bad option, at once.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    return succeed(PoetryTestServer.start(reactor, **options))


def startPoetryServer(testCase: Any, **options: Any) -> Deferred[PoetryTestServer]:
    """
    For a trial C{TestCase}: L{start_poetry_server} on the global reactor
    (trial's), stopped by C{testCase.addCleanup}, which waits until every
    connection has ended (within C{grace}, default 1 s), so the test leaves
    the reactor clean.

    @raise ValueError: a bad option, at once.
    """
    d = start_poetry_server(None, **options)

    def cleanup(server: PoetryTestServer) -> PoetryTestServer:
        testCase.addCleanup(server.stop)
        return server

    return d.addCallback(cleanup)
