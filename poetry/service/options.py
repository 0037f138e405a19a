"""
The command line of C{twistd poetry} / C{twist poetry}: L{Options}, whose
C{postOptions} turns the words into a L{ServerConfig} (where every rule
about a value lives), and L{BadOptions}, the one-line error both runners
print.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from twisted.python import usage

from poetry.faults import MODES
from poetry.server import PoetryServerFactory
from poetry.server.rules import MIN_DELAY, MIN_IDLE_TIMEOUT, ConfigError
from poetry.service.config import MAX_WORKERS, ServerConfig
from poetry.service.messages import version_line

__all__ = ["BadOptions", "Options"]


class BadOptions(SystemExit):
    """
    The command line is wrong: one line, C{poetry: PROBLEM (see --help)},
    printed by Python on stderr, and exit status 1, under both C{twistd} and
    C{twist}.  (A L{usage.UsageError} would make twistd print the whole
    option list first, and twist exit 64.)

    @ivar error: the L{usage.UsageError} it replaces.
    """

    def __init__(self, error: usage.UsageError) -> None:
        super().__init__(f"poetry: {error} (see --help)")
        self.error = error


def _repeatable(key: str, help: str) -> Callable[[Options, str], None]:
    """
    An C{opt_} method for an option that may be given many times: each
    value is appended to the list C{options[key]} (L{Options} starts every
    one of them empty), and C{help} is its --help text, collapsed to one
    paragraph (L{usage.Options} wraps a method's docstring but keeps the
    indentation of its continuation lines).
    """

    def opt(self: Options, value: str) -> None:
        self[key].append(value)

    opt.__doc__ = " ".join(help.split())
    opt.repeatable_key = key  # type: ignore[attr-defined]
    return opt


class Options(usage.Options):
    """
    Options of C{twistd poetry} / C{twist poetry}.
    """

    #: The checked configuration, once L{postOptions} has run.
    config: ServerConfig

    synopsis = "[options]"
    longdesc = (
        "Serve poems over TCP: each client that connects gets one poem, then "
        "the server closes the connection.  Fast by default; with --delay, "
        "slow: --chunk-size bytes every --delay seconds.  SIGTERM, SIGINT, "
        "SIGHUP and SIGQUIT stop gracefully (--grace; a second one cuts at "
        "once); SIGUSR1 reopens the --logfile; SIGUSR2 and SIGALRM are ignored."
    )

    optFlags = [
        [
            "random",
            "r",
            "Pick each connection's poem at random (default: round-robin).",
        ],
        [
            "trace",
            "t",
            "Trace every connection's lifecycle: connectionMade (peer, poem), "
            "each slow-mode chunk (bytes, offset; debug level) and why the "
            "connection was lost, clean or not (added to its poetry.access "
            "line).  Without it only slow mode traces connectionMade and "
            "connectionLost, so that --delay shows connections interleave while "
            "fast mode stays lean.  Under twist add --log-level=debug to see "
            "the chunks; twistd shows every level.",
        ],
    ]
    optParameters = [
        [
            "delay",
            "d",
            None,
            f"Slow mode: seconds between chunks, at least {MIN_DELAY:g} "
            "(default: fast mode).",
        ],
        [
            "chunk-size",
            "c",
            None,
            "Slow mode: bytes per chunk "
            f"(default {PoetryServerFactory.DEFAULT_CHUNK_SIZE}).",
        ],
        [
            "grace",
            "g",
            "5",
            "Seconds to let in-flight poems finish at shutdown before cutting "
            "them (finite, > 0; a second SIGINT or SIGTERM cuts at once).",
        ],
        [
            "max-connections",
            None,
            None,
            "Refuse connections beyond this many live ones, a whole number >= 1 "
            "(default: no limit).",
        ],
        [
            "max-per-peer",
            None,
            None,
            "Refuse connections from one IP address beyond this many live ones, "
            "a whole number >= 1 (default: no limit).",
        ],
        [
            "idle-timeout",
            None,
            None,
            "Abort a connection on which no data has moved for this many seconds: "
            "a client that does not read, or a stalled fault (default: "
            f"{PoetryServerFactory.DEFAULT_IDLE_TIMEOUT:g}, or twice --delay if "
            "that is longer; none for --fault stall and silent; at least "
            f"{MIN_IDLE_TIMEOUT:g}; with --delay it must be longer than the delay).",
        ],
        [
            "workers",
            None,
            "1",
            "Serve with this many worker processes, 1 to "
            f"{MAX_WORKERS}: the server listens on every --port, then each "
            "worker adopts the listening sockets and serves (use about one per "
            "core); a worker that dies is restarted.  1 (the default): serve in "
            "this process.",
        ],
        [
            "seed",
            None,
            None,
            "Seed of the fault mix (a whole number >= 0): with the same seed "
            "and mix, connection k (in accept order) gets the same fault in "
            "every run (default: chosen at random and logged at start-up).",
        ],
        [
            "faults",
            None,
            None,
            "Read the behaviour (delay, chunk_size, faults, seed, fault_peers) "
            "from this JSON or TOML file (TOML if its name ends in .toml), "
            "checked before anything listens; not with those options.",
        ],
        [
            "admin",
            None,
            None,
            "Also serve the admin HTTP endpoint (status page at /, JSON at "
            "/api/status, Prometheus metrics at /metrics) on this endpoint "
            "description, with --port's rules: a bare number listens on "
            "127.0.0.1 only.  Beyond loopback it needs --admin-token-file "
            "(default: no admin endpoint).",
        ],
        [
            "admin-token-file",
            None,
            None,
            "A file holding the admin token (one line, at least 16 visible "
            "characters): every admin request must then carry "
            "'Authorization: Bearer TOKEN', else 401.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        for name in dir(type(self)):
            key = getattr(getattr(type(self), name), "repeatable_key", None)
            if key is not None:
                self[key] = []
        self["fault"] = None

    opt_fault = _repeatable(
        "fault_specs",
        "Misbehave on purpose, to test clients: MODE or MODE@PROBABILITY "
        "(repeatable: a mix, each connection drawing at most one fault, the "
        "probabilities adding up to at most 1; the rest are served "
        f"normally).  MODE is one of {MODES}.  See docs/reliability.md.",
    )
    opt_fault_peer = _repeatable(
        "fault_peers",
        "Only clients from this network (CIDR, like 10.0.0.0/8, or an "
        "address) get faults; others are served normally (repeatable).",
    )
    opt_port = opt_p = _repeatable(
        "ports",
        "Listen on this endpoint description (repeatable; default "
        "tcp:10000:interface=127.0.0.1; a bare number, or a tcp: description "
        "naming no interface, listens on 127.0.0.1 only: add "
        "interface=0.0.0.0 to listen beyond loopback).",
    )
    opt_poem = _repeatable(
        "poem_files",
        "Serve this poem file (repeatable; default: the bundled poems): a "
        "regular file (not a FIFO or device) of at most 16 MiB.",
    )
    opt_poems = _repeatable(
        "poem_dirs",
        "Serve every *.txt file in this directory (repeatable; same rules as "
        "--poem for each file).",
    )

    def opt_version(self) -> None:
        """Show the versions of twisted-poetry and Twisted, and exit."""
        print(version_line())
        raise SystemExit(0)

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Parse the command line.

        @raise BadOptions: for any usage error, so that both runners print
            one line and exit 1.
        """
        #: The words as given: a worker process parses the same ones.
        self.argv = list(sys.argv[1:] if options is None else options)
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            raise BadOptions(e) from None

    def postOptions(self) -> None:
        """
        Check every value once, into L{config} (a frozen L{ServerConfig});
        the typed values are also left under their option names, for
        readers of the mapping.

        @raise usage.UsageError: for the first bad value, in one line.
        """
        try:
            config = ServerConfig.from_options(self)
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None
        self.config = config
        self.update(
            {
                "fault": config.fault,
                "seed": config.seed,
                "delay": config.delay,
                "chunk-size": config.chunk_size,
                "grace": config.grace,
                "max-connections": config.max_connections,
                "max-per-peer": config.max_per_peer,
                "idle-timeout": config.idle_timeout,
                "workers": config.workers,
                "given": list(config.given),
                "ports": list(config.ports),
                "library": config.library,
                "admin": config.admin,
            }
        )
