"""
The server's configuration, validated once: L{ServerConfig}, a frozen
record built from the command line's words by L{ServerConfig.from_options}
(which L{poetry.service.options.Options} calls) and read by
L{poetry.service.tap.makeService} to build the factory and the endpoints.

Every rule about a value lives here, in one place; a bad value is a
L{ConfigError} whose message is one line naming the option and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import serverFromString

from poetry.faults import Fault, Stall, parse_fault
from poetry.library import LibraryError, PoemLibrary
from poetry.server import PoetryServerFactory, default_idle_timeout
from poetry.server.proxy import PROXY_PREFIX, is_proxied

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_PORT",
    "MAX_WORKERS",
    "MIN_DELAY",
    "MIN_IDLE_TIMEOUT",
    "ConfigError",
    "ServerConfig",
    "normalize_endpoint",
]

DEFAULT_PORT = "tcp:10000:interface=127.0.0.1"

#: Listen backlog used unless a description sets its own.  Twisted's default
#: of 50 overflows with 64 clients connecting at once, and every overflow
#: costs a client a one-second SYN retry.
DEFAULT_BACKLOG = 1024

_BACKLOG_TYPES = {"tcp", "tcp6", "unix", "ssl"}

#: Smallest accepted --delay: a shorter one makes every chunk due at once,
#: so the reactor spends whole seconds writing without serving anything else.
MIN_DELAY = 0.001

#: Most accepted --workers: more processes than this on one machine is a
#: typo, not a plan (each is a Python process with its own poems).
MAX_WORKERS = 64

#: Smallest accepted --idle-timeout: a shorter one cuts every connection
#: before its first byte can move.
MIN_IDLE_TIMEOUT = 0.1


class ConfigError(ValueError):
    """A configuration value breaks a rule; the message is one line."""


def normalize_endpoint(description: str) -> str:
    """
    Turn a C{--port} value into a full server endpoint description: a bare
    number means C{tcp:NUMBER:interface=127.0.0.1}; a C{tcp:} (C{tcp6:})
    description that names no interface listens on 127.0.0.1 (C{::1}), so
    nothing is reachable beyond loopback unless the user says so
    (C{interface=0.0.0.0}); and stream endpoints that take a backlog get
    L{DEFAULT_BACKLOG} unless they name one.
    """
    description = description.strip()
    if is_proxied(description):
        inner = description[len(PROXY_PREFIX) :]
        return PROXY_PREFIX + normalize_endpoint(inner)
    if description.isdigit():
        description = f"tcp:{description}:interface=127.0.0.1"
    kind = description.split(":", 1)[0].lower()
    if kind in ("tcp", "tcp6") and "interface=" not in description:
        loopback = "127.0.0.1" if kind == "tcp" else "\\:\\:1"
        description += f":interface={loopback}"
    if kind in _BACKLOG_TYPES and "backlog=" not in description:
        description += f":backlog={DEFAULT_BACKLOG}"
    return description


def _number(name: str, value: Any, kind: type = float, minimum: float = 1) -> Any:
    """
    Parse C{value} as a finite C{kind} of at least C{minimum}, or raise a
    L{ConfigError} naming the option and the rule (the same words for every
    way it can be wrong).
    """
    if kind is int:
        rule = f"a whole number >= {minimum:g}"
    else:
        rule = f"a finite number >= {minimum:g}"
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not (math.isfinite(number) and number >= minimum):
        raise ConfigError(f"--{name} must be {rule}, not {value!r}")
    return number


def _positive(name: str, value: Any) -> float:
    """Parse C{value} as a positive finite number, or raise L{ConfigError}."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"--{name} must be a finite number > 0, not {value!r}")
    return number


def _endpoint(given: str) -> str:
    """The normalized description of C{given}, checked by parsing it."""
    description = normalize_endpoint(given)
    try:
        # Parsing needs no reactor: the endpoint is only built here.
        serverFromString(None, description)
    except Exception as e:
        raise ConfigError(f"invalid endpoint description {given!r}: {e}") from None
    return description


@dataclass(frozen=True)
class ServerConfig:
    """
    What C{twistd poetry} was asked to do, every value checked and typed.

    Build one with L{from_options} (from the command line's words); building
    one directly checks the typed values against the same rules.

    @ivar library: the poems.
    @ivar ports: the endpoint descriptions to listen on, normalized
        (L{normalize_endpoint}).
    @ivar given: the C{--port} values as the user wrote them, for messages.
    @ivar delay: seconds between slow-mode chunks; L{None} for fast mode.
    @ivar chunk_size: bytes per slow-mode (or stall) chunk.
    @ivar grace: seconds in-flight poems get at shutdown.
    @ivar idle_timeout: seconds without data moving before a connection is
        cut (L{None}: never).
    @ivar trace: trace every connection's lifecycle and chunks.
    @ivar workers: worker processes (1: serve in the one process).
    """

    library: PoemLibrary
    ports: tuple[str, ...] = (normalize_endpoint(DEFAULT_PORT),)
    given: tuple[str, ...] = (DEFAULT_PORT,)
    delay: float | None = None
    chunk_size: int = PoetryServerFactory.DEFAULT_CHUNK_SIZE
    grace: float = 5.0
    max_connections: int | None = None
    max_per_peer: int | None = None
    idle_timeout: float | None = PoetryServerFactory.DEFAULT_IDLE_TIMEOUT
    fault: Fault | None = None
    trace: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        """Check the rules that relate typed values to each other."""
        if self.delay is not None:
            _number("delay", self.delay, float, MIN_DELAY)
            if self.fault is not None:
                raise ConfigError("--delay cannot be combined with --fault")
        _number("chunk-size", self.chunk_size, int, 1)
        _positive("grace", self.grace)
        for name, limit in [
            ("max-connections", self.max_connections),
            ("max-per-peer", self.max_per_peer),
        ]:
            if limit is not None:
                _number(name, limit, int, 1)
        if self.idle_timeout is not None:
            _number("idle-timeout", self.idle_timeout, float, MIN_IDLE_TIMEOUT)
            if self.delay is not None and self.idle_timeout <= self.delay:
                raise ConfigError(
                    "--idle-timeout must be longer than --delay"
                    " (slow connections move data only every --delay seconds)"
                )
        _workers(self.workers)
        if len(self.ports) != len(self.given) or not self.ports:
            raise ConfigError("ports and given must name the same endpoints")

    @classmethod
    def from_options(cls, words: Mapping[str, Any]) -> ServerConfig:
        """
        Check and type the command line's words (the keys of
        L{poetry.service.options.Options}: C{delay}, C{chunk-size},
        C{grace}, C{max-connections}, C{max-per-peer}, C{idle-timeout},
        C{fault}, C{trace}, C{random}, C{ports}, C{poem_files},
        C{poemDirs}), each given as the user wrote it or L{None}.

        @raise ConfigError: for the first bad value, in one line.
        """
        fault: Fault | None = None
        if words.get("fault") is not None:
            try:
                fault = parse_fault(words["fault"])
            except ValueError as e:
                raise ConfigError(f"--fault: {e}") from None
        delay = None
        if words.get("delay") is not None:
            delay = _number("delay", words["delay"], float, MIN_DELAY)
        chunk_size = PoetryServerFactory.DEFAULT_CHUNK_SIZE
        if words.get("chunk-size") is not None:
            chunk_size = _number("chunk-size", words["chunk-size"], int, 1)
            if delay is None and not isinstance(fault, Stall):
                raise ConfigError(
                    "--chunk-size needs --delay (slow mode) or --fault stall"
                )
        grace = _positive("grace", words.get("grace", 5.0))
        limits = {}
        for name in ("max-connections", "max-per-peer"):
            value = words.get(name)
            limits[name] = None if value is None else _number(name, value, int, 1)
        if words.get("idle-timeout") is None:
            idle_timeout = default_idle_timeout(delay, fault)
        else:
            idle_timeout = _number(
                "idle-timeout", words["idle-timeout"], float, MIN_IDLE_TIMEOUT
            )
        given: Sequence[str] = words.get("ports") or [DEFAULT_PORT]
        ports = tuple(_endpoint(g) for g in given)
        random = bool(words.get("random"))
        files = words.get("poem_files") or []
        dirs = words.get("poemDirs") or []
        return cls(
            library=_library(files, dirs, random),
            ports=ports,
            given=tuple(given),
            delay=delay,
            chunk_size=chunk_size,
            grace=grace,
            max_connections=limits["max-connections"],
            max_per_peer=limits["max-per-peer"],
            idle_timeout=idle_timeout,
            fault=fault,
            trace=bool(words.get("trace")),
            workers=_workers(words.get("workers", 1)),
        )

    def build_factory(self, reactor: Any) -> PoetryServerFactory:
        """The server factory this configuration describes, on C{reactor}."""
        return PoetryServerFactory(
            self.library,
            delay=self.delay,
            chunk_size=self.chunk_size,
            max_connections=self.max_connections,
            fault=self.fault,
            idle_timeout=self.idle_timeout,
            max_per_peer=self.max_per_peer,
            trace=True if self.trace else None,
            reactor=reactor,
        )


def _workers(value: Any) -> int:
    """Parse C{--workers}: a whole number from 1 to L{MAX_WORKERS}."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if (
        isinstance(value, bool)
        or not 1 <= number <= MAX_WORKERS
        or str(number) != str(value).strip()
    ):
        raise ConfigError(
            f"--workers must be a whole number from 1 to {MAX_WORKERS}, not {value!r}"
        )
    return number


def _library(files: Sequence[str], dirs: Sequence[str], random: bool) -> PoemLibrary:
    """The poems named on the command line, or the bundled ones."""
    try:
        if files or dirs:
            return PoemLibrary.from_paths(files, dirs, random=random)
        return PoemLibrary.bundled(random=random)
    except LibraryError as e:
        raise ConfigError(str(e)) from None
