"""
The pytest plugin (entry point C{pytest11}: C{poetry}): the
C{poetry_server} fixture, built on pytest-twisted.

C{poetry_server} is a function: each call starts a server on 127.0.0.1
port 0 in the test's reactor and returns its L{PoetryTestServer}; every
server it started is stopped at teardown, waiting (C{pytest_twisted.blockon})
until its connections have ended.  pytest-twisted is imported only when the
fixture is used, so installing twisted-poetry never breaks a pytest run
without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poetry.testing.server import PoetryTestServer

__all__ = ["poetry_server"]


@pytest.fixture
def poetry_server() -> Iterator[Callable[..., PoetryTestServer]]:
    """
    C{poetry_server(fault=None, delay=None, chunk_size=None, poems=None,
    seed=None, **more)}: a running L{PoetryTestServer} (C{.host},
    C{.port}, C{.address}, C{.counts()}), stopped at teardown.
    """
    try:
        import pytest_twisted
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.skip("poetry_server needs pytest-twisted (pip install pytest-twisted)")
    from twisted.internet import reactor

    servers: list[PoetryTestServer] = []

    def start(**options: Any) -> PoetryTestServer:
        server = PoetryTestServer.start(reactor, **options)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        pytest_twisted.blockon(server.stop())
