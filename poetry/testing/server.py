"""
A poetry server inside a test: L{PoetryTestServer}, started on 127.0.0.1
port 0 in the test's reactor from the same options as C{twistd poetry}'s
behaviour (fault or mix, delay, chunk size, poems, seed), checked by the
same validator (L{poetry.service.behaviour.Behaviour}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint

from poetry.faults import Fault
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory, default_idle_timeout
from poetry.service.behaviour import Behaviour
from poetry.service.service import PoetryService

__all__ = ["PoetryTestServer"]

#: How the test helpers name the behaviour's keys in their messages.
_NAMES = {
    "delay": "delay",
    "chunk_size": "chunk_size",
    "faults": "fault",
    "seed": "seed",
    "fault_peers": "fault_peers",
}


def _poems(poems: Sequence[bytes | str | PoemFile] | None) -> PoemLibrary:
    if poems is None:
        return PoemLibrary.bundled()
    if isinstance(poems, bytes | str):
        raise TypeError("poems must be a list of poems, not a single poem")
    files = []
    for n, poem in enumerate(poems, 1):
        if isinstance(poem, PoemFile):
            files.append(poem)
        elif isinstance(poem, bytes | str):
            data = poem.encode("utf-8") if isinstance(poem, str) else poem
            files.append(PoemFile(f"poem-{n}", data))
        else:
            raise TypeError(f"a poem must be bytes, str or a PoemFile, not {poem!r}")
    return PoemLibrary(files)


def _faults(fault: Any) -> list[str] | None:
    if fault is None:
        return None
    if isinstance(fault, str | Fault):
        fault = [fault]
    return [str(f) for f in fault]


class PoetryTestServer:
    """
    One poetry server listening on 127.0.0.1, port 0, in a test.

    @ivar host: C{"127.0.0.1"}.
    @ivar port: the port it got.
    @ivar factory: its L{PoetryServerFactory} (its C{mix}, C{live}, ...).
    @ivar service: the L{PoetryService} that listens and stops gracefully.
    """

    host = "127.0.0.1"

    def __init__(self, service: PoetryService) -> None:
        self.service = service
        self.factory = service.factory
        self.port: int = service.ports[0].getHost().port  # type: ignore[attr-defined]

    @property
    def address(self) -> str:
        """C{"127.0.0.1:PORT"}, as C{get-poetry} takes it."""
        return f"{self.host}:{self.port}"

    def counts(self) -> dict[str, int]:
        """The server's counters (L{PoetryServerFactory.counts})."""
        return self.factory.counts()

    def stop(self) -> Deferred[None]:
        """
        Stop listening, let the connections in flight finish within the
        grace, cut the rest: fires once none is left.
        """
        return self.service.stopService()

    @classmethod
    def start(
        cls,
        reactor: Any,
        *,
        fault: str | Fault | Sequence[str | Fault] | None = None,
        delay: float | None = None,
        chunk_size: int | None = None,
        poems: Sequence[bytes | str | PoemFile] | None = None,
        seed: int | None = None,
        fault_peers: Sequence[str] | None = None,
        idle_timeout: float | None = None,
        grace: float = 1.0,
    ) -> PoetryTestServer:
        """
        Listen now, on C{reactor}.

        @param fault: a fault mode (C{"reset:100"}, a L{Fault}), or a list
            of C{"MODE@PROBABILITY"} forming a mix.
        @param poems: what to serve (bytes, text or L{PoemFile}s; default:
            the bundled poems), round-robin.
        @param idle_timeout: as C{--idle-timeout} (default: twistd's).
        @param grace: seconds in-flight poems get when the server stops.
        @raise ValueError: (a L{poetry.server.rules.ConfigError}) a bad
            option, at once, in one line naming it.
        """
        behaviour = Behaviour.from_document(
            {
                "delay": delay,
                "chunk_size": chunk_size,
                "faults": _faults(fault),
                "seed": seed,
                "fault_peers": None if fault_peers is None else list(fault_peers),
            },
            _NAMES.__getitem__,
        )
        if idle_timeout is None:
            idle_timeout = default_idle_timeout(behaviour.delay, behaviour)
        factory = PoetryServerFactory(
            _poems(poems),
            delay=behaviour.delay,
            chunk_size=behaviour.chunk_size,
            mix=behaviour.mix(),
            idle_timeout=idle_timeout,
            reactor=reactor,
        )
        endpoint = TCP4ServerEndpoint(reactor, 0, interface=cls.host)
        service = PoetryService(
            factory, [endpoint], grace=grace, descriptions=["tcp:0:127.0.0.1"]
        )
        service.startService()
        return cls(service)
