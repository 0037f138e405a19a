"""
The server's configuration, validated once: L{ServerConfig}, a frozen
record built from the command line's words by L{ServerConfig.from_options}
(which L{poetry.service.options.Options} calls) and read by
L{poetry.service.tap.makeService} to build the factory and the endpoints.

Every rule about a value lives here, in one place; a bad value is a
L{ConfigError} whose message is one line naming the option and the rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import serverFromString

from poetry.faults import Fault
from poetry.library import LibraryError, PoemLibrary
from poetry.server import PoetryServerFactory, default_idle_timeout
from poetry.server.mix import FaultMix, Network
from poetry.server.proxy import PROXY_PREFIX, is_proxied
from poetry.server.rules import (
    MIN_DELAY,
    MIN_IDLE_TIMEOUT,
    ConfigError,
    check_idle_timeout,
    number,
    positive,
)
from poetry.service.behaviour import KEYS, Behaviour, load_behaviour

__all__ = [
    "DEFAULT_BACKLOG",
    "DEFAULT_PORT",
    "MAX_WORKERS",
    "MIN_DELAY",
    "MIN_IDLE_TIMEOUT",
    "ConfigError",
    "ServerConfig",
    "listens_on_loopback",
    "normalize_endpoint",
    "read_admin_token",
]

DEFAULT_PORT = "tcp:10000:interface=127.0.0.1"

#: Listen backlog used unless a description sets its own.  Twisted's default
#: of 50 overflows with 64 clients connecting at once, and every overflow
#: costs a client a one-second SYN retry.
DEFAULT_BACKLOG = 1024

_BACKLOG_TYPES = {"tcp", "tcp6", "unix", "ssl"}

#: The shortest admin token accepted (C{--admin-token-file}): a shorter one
#: could be guessed.
MIN_TOKEN_LENGTH = 16

#: The largest token file read: a token is one short line.
_MAX_TOKEN_FILE = 4096

#: Most accepted --workers: more processes than this on one machine is a
#: typo, not a plan (each is a Python process with its own poems).
MAX_WORKERS = 64

_INTERFACE = re.compile(r"(?:^|:)interface=((?:\\.|[^:])*)")


def normalize_endpoint(description: str) -> str:
    """
    Turn a C{--port} value into a full server endpoint description: a bare
    number means C{tcp:NUMBER:interface=127.0.0.1}; a C{tcp:} or C{ssl:}
    (C{tcp6:}) description that names no interface listens on 127.0.0.1
    (C{::1}), so
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
    if kind in ("tcp", "tcp6", "ssl") and "interface=" not in description:
        loopback = "\\:\\:1" if kind == "tcp6" else "127.0.0.1"
        description += f":interface={loopback}"
    if kind in _BACKLOG_TYPES and "backlog=" not in description:
        description += f":backlog={DEFAULT_BACKLOG}"
    return description


def listens_on_loopback(description: str) -> bool:
    """
    Whether a normalized server endpoint description (L{normalize_endpoint})
    can be reached from this host only: a UNIX socket, or an C{interface=}
    that is a loopback address (C{127.0.0.0/8}, C{::1}).  Anything else
    (no interface, a host name, another address) counts as beyond loopback.
    """
    kind = description.split(":", 1)[0].lower()
    if kind == "unix":
        return True
    found = _INTERFACE.search(description)
    if found is None:
        return False
    interface = re.sub(r"\\(.)", r"\1", found.group(1))
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False


def read_admin_token(path: str) -> bytes:
    """
    The admin token in the file C{path}: its one line, surrounding blanks
    removed, at least L{MIN_TOKEN_LENGTH} visible ASCII characters.

    @raise ConfigError: naming the file and the problem, in one line.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_TOKEN_FILE + 1)
    except OSError as e:
        raise ConfigError(f"--admin-token-file {path!r}: {e.strerror or e}") from None
    token = data.strip()
    if len(data) > _MAX_TOKEN_FILE or b"\n" in token:
        raise ConfigError(f"--admin-token-file {path!r}: the token must be one line")
    if not (token.isascii() and all(33 <= c <= 126 for c in token)):
        raise ConfigError(
            f"--admin-token-file {path!r}: the token must be visible ASCII"
            " characters, without blanks"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"--admin-token-file {path!r}: the token must be at least"
            f" {MIN_TOKEN_LENGTH} characters, not {len(token)}"
        )
    return token


def _number(name: str, value: Any, kind: type = float, minimum: float = 1) -> Any:
    """L{number} for option C{--name}."""
    return number(f"--{name}", value, kind, minimum)


def _positive(name: str, value: Any) -> float:
    """L{positive} for option C{--name}."""
    return positive(f"--{name}", value)


def _endpoint(given: str, option: str = "") -> str:
    """The normalized description of C{given}, checked by parsing it."""
    description = normalize_endpoint(given)
    try:
        # Parsing needs no reactor: the endpoint is only built here.
        serverFromString(None, description)
    except Exception as e:
        raise ConfigError(
            f"{option}invalid endpoint description {given!r}: {e}"
        ) from None
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
    @ivar fault: the one fault every connection plays (shorthand for
        C{faults=((fault, 1.0),)}; set from C{faults} when that is all it
        holds).
    @ivar faults: the fault mix's C{(fault, probability)} pairs.
    @ivar seed: the mix's seed (L{None}: chosen, and logged, at start-up).
    @ivar fault_peers: the networks whose clients get faults (empty: all).
    @ivar trace: trace every connection's lifecycle and chunks.
    @ivar admin: the admin endpoint's description, normalized (L{None}: no
        admin endpoint); beyond loopback only with C{admin_token}.
    @ivar admin_given: C{--admin} as the user wrote it, for messages.
    @ivar admin_token: the bearer token every admin request must carry
        (L{None}: none needed).
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
    admin: str | None = None
    admin_given: str | None = None
    admin_token: bytes | None = None
    faults: tuple[tuple[Fault, float], ...] = ()
    seed: int | None = None
    fault_peers: tuple[Network, ...] = ()
    workers: int = 1

    def __post_init__(self) -> None:
        """Check the rules that relate typed values to each other."""
        if self.fault is not None:
            if self.faults:
                raise ConfigError("give fault or faults, not both")
            object.__setattr__(self, "faults", ((self.fault, 1.0),))
        elif len(self.faults) == 1 and self.faults[0][1] >= 1:
            object.__setattr__(self, "fault", self.faults[0][0])
        behaviour = self.behaviour
        default_size = behaviour.chunk_size == PoetryServerFactory.DEFAULT_CHUNK_SIZE
        Behaviour.from_document(
            {
                "delay": behaviour.delay,
                "chunk_size": None if default_size else behaviour.chunk_size,
                "faults": [f"{f}@{p!r}" for f, p in behaviour.faults],
                "seed": behaviour.seed,
                "fault_peers": [str(n) for n in behaviour.fault_peers],
            },
            KEYS.__getitem__,
        )
        _positive("grace", self.grace)
        for name, limit in [
            ("max-connections", self.max_connections),
            ("max-per-peer", self.max_per_peer),
        ]:
            if limit is not None:
                _number(name, limit, int, 1)
        if self.idle_timeout is not None:
            check_idle_timeout(
                "--idle-timeout", self.idle_timeout, self.delay, "--delay",
                MIN_IDLE_TIMEOUT,
            )  # fmt: skip
        _workers(self.workers)
        if len(self.ports) != len(self.given) or not self.ports:
            raise ConfigError("ports and given must name the same endpoints")
        if self.admin is None:
            if self.admin_token is not None:
                raise ConfigError("--admin-token-file needs --admin")
        elif self.admin_token is None and not listens_on_loopback(self.admin):
            raise ConfigError(
                f"--admin {self.admin_given or self.admin!r} listens beyond"
                " loopback: give --admin-token-file FILE, or listen on"
                " 127.0.0.1"
            )

    @classmethod
    def from_options(cls, words: Mapping[str, Any]) -> ServerConfig:
        """
        Check and type the command line's words (the keys of
        L{poetry.service.options.Options}: C{delay}, C{chunk-size},
        C{grace}, C{max-connections}, C{max-per-peer}, C{idle-timeout},
        C{fault}, C{trace}, C{random}, C{ports}, C{poem_files},
        C{poem_dirs}), each given as the user wrote it or L{None}.

        @raise ConfigError: for the first bad value, in one line.
        """
        behaviour = _behaviour(words)
        delay = behaviour.delay
        grace = _positive("grace", words.get("grace", 5.0))
        limits = {}
        for name in ("max-connections", "max-per-peer"):
            value = words.get(name)
            limits[name] = None if value is None else _number(name, value, int, 1)
        if words.get("idle-timeout") is None:
            idle_timeout = default_idle_timeout(delay, behaviour)
        else:
            idle_timeout = check_idle_timeout(
                "--idle-timeout", words["idle-timeout"], delay, "--delay",
                MIN_IDLE_TIMEOUT,
            )  # fmt: skip
        given: Sequence[str] = words.get("ports") or [DEFAULT_PORT]
        ports = tuple(_endpoint(g) for g in given)
        random = bool(words.get("random"))
        files = words.get("poem_files") or []
        dirs = words.get("poem_dirs") or []
        admin_given = words.get("admin")
        admin = None if admin_given is None else _endpoint(admin_given, "--admin ")
        token_file = words.get("admin-token-file")
        admin_token = None if token_file is None else read_admin_token(token_file)
        return cls(
            library=_library(files, dirs, random),
            ports=ports,
            given=tuple(given),
            delay=delay,
            chunk_size=behaviour.chunk_size,
            grace=grace,
            max_connections=limits["max-connections"],
            max_per_peer=limits["max-per-peer"],
            idle_timeout=idle_timeout,
            faults=behaviour.faults,
            seed=behaviour.seed,
            fault_peers=behaviour.fault_peers,
            trace=bool(words.get("trace")),
            admin=admin,
            admin_given=admin_given,
            admin_token=admin_token,
            workers=_workers(words.get("workers", 1)),
        )

    @property
    def behaviour(self) -> Behaviour:
        """What the server does with each connection (L{Behaviour})."""
        return Behaviour(
            self.delay, self.chunk_size, self.faults, self.seed, self.fault_peers
        )

    def mix(self) -> FaultMix | None:
        """A new fault mix of this configuration (L{None}: no faults)."""
        return self.behaviour.mix()

    def build_factory(self, reactor: Any) -> PoetryServerFactory:
        """The server factory this configuration describes, on C{reactor}."""
        return PoetryServerFactory(
            self.library,
            delay=self.delay,
            chunk_size=self.chunk_size,
            max_connections=self.max_connections,
            mix=self.mix(),
            idle_timeout=self.idle_timeout,
            max_per_peer=self.max_per_peer,
            trace=True if self.trace else None,
            reactor=reactor,
        )


def _behaviour(words: Mapping[str, Any]) -> Behaviour:
    """
    The behaviour the command line declares: in C{--faults FILE}, or in
    its own options (never both), through the one validator.
    """
    path = words.get("faults")
    if path is None:
        return Behaviour.from_words(words)
    given = [
        option
        for key, option in [
            ("fault_specs", "--fault"),
            ("delay", "--delay"),
            ("chunk-size", "--chunk-size"),
            ("seed", "--seed"),
            ("fault_peers", "--fault-peer"),
        ]
        if words.get(key)
    ]
    if given:
        raise ConfigError(
            f"--faults {path} declares the behaviour: give {given[0]} there"
            " (its key), not on the command line too"
        )
    return load_behaviour(path)


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
