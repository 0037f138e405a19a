"""
Running the poetry server under twistd or twist: the command-line L{Options},
L{makeService}, and L{PoetryService}, which owns the listening ports and the
graceful shutdown.

The plugin in C{twisted/plugins/poetry_plugin.py} only points here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from poetry.faults import MODES, Stall, parseFault
from poetry.library import LibraryError, PoemLibrary
from poetry.server import PoetryServerFactory, defaultIdleTimeout, formatAddress

__all__ = [
    "DEFAULT_PORT",
    "CannotListen",
    "Options",
    "PoetryService",
    "makeService",
    "normalizeEndpoint",
]

DEFAULT_PORT = "tcp:10000:interface=127.0.0.1"

#: Listen backlog used unless a description sets its own.  Twisted's default
#: of 50 overflows with 64 clients connecting at once, and every overflow
#: costs a client a one-second SYN retry.
DEFAULT_BACKLOG = 1024

_BACKLOG_TYPES = {"tcp", "tcp6", "unix", "ssl"}


class CannotListen(SystemExit, Exception):
    """
    An endpoint cannot listen (port in use, permission denied, no such
    interface).  The message is one line.

    It is a L{SystemExit}, so C{twistd -n} and C{twist} print just the
    message and exit 1, no traceback; and an L{Exception}, so a daemonizing
    twistd reports it through its status pipe (it only catches
    C{Exception}) instead of leaving the parent process waiting for ever.
    """


def normalizeEndpoint(description: str) -> str:
    """
    Turn a C{--port} value into a full server endpoint description: a bare
    number means C{tcp:NUMBER:interface=127.0.0.1}, and stream endpoints that
    take a backlog get L{DEFAULT_BACKLOG} unless they name one.
    """
    description = description.strip()
    if description.isdigit():
        description = f"tcp:{description}:interface=127.0.0.1"
    kind = description.split(":", 1)[0].lower()
    if kind in _BACKLOG_TYPES and "backlog=" not in description:
        description += f":backlog={DEFAULT_BACKLOG}"
    return description


def _positive(name: str, value: Any, kind: type = float) -> Any:
    """Parse C{value} as a positive C{kind}, or raise a usage error naming it."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        noun = "whole number" if kind is int else "number"
        raise usage.UsageError(
            f"--{name} must be a positive {noun}, not {value!r}"
        ) from None
    if not (number > 0 and math.isfinite(number)):
        raise usage.UsageError(
            f"--{name} must be a finite positive number, not {value!r}"
        )
    return number


class Options(usage.Options):
    """
    Options of C{twistd poetry} / C{twist poetry}.
    """

    synopsis = "[options]"
    longdesc = (
        "Serve poems over TCP: each client that connects gets one poem, then "
        "the server closes the connection.  Fast by default; with --delay, "
        "slow: --chunk-size bytes every --delay seconds."
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
        ["delay", "d", None, "Slow mode: seconds between chunks (default: fast mode)."],
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
            "Seconds to let in-flight poems finish at shutdown before cutting them.",
        ],
        [
            "max-connections",
            None,
            None,
            "Refuse connections beyond this many live ones (default: no limit).",
        ],
        [
            "max-per-peer",
            None,
            None,
            "Refuse connections from one IP address beyond this many live ones "
            "(default: no limit).",
        ],
        [
            "idle-timeout",
            None,
            None,
            "Abort a connection on which no data has moved for this many seconds: "
            "a client that does not read, or a stalled fault (default: "
            f"{PoetryServerFactory.DEFAULT_IDLE_TIMEOUT:g}, or twice --delay if "
            "that is longer; none for --fault stall and silent; with --delay it "
            "must be longer than the delay).",
        ],
        [
            "fault",
            None,
            None,
            f"Misbehave on purpose, to test clients: {MODES}.  stall sends the "
            "first --chunk-size bytes then hangs; reset:BYTES sends BYTES bytes "
            "then resets the connection; silent never sends; endless streams the "
            "poem forever; refuse closes at once with nothing sent.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["ports"] = []
        self["poemFiles"] = []
        self["poemDirs"] = []

    def opt_port(self, description: str) -> None:
        """
        Listen on this endpoint description (repeatable; default
        tcp:10000:interface=127.0.0.1; a bare number means
        tcp:NUMBER:interface=127.0.0.1).
        """
        self["ports"].append(description)

    opt_p = opt_port

    def opt_poem(self, path: str) -> None:
        """Serve this poem file (repeatable; default: the bundled poems)."""
        self["poemFiles"].append(path)

    def opt_poems(self, path: str) -> None:
        """Serve every *.txt file in this directory (repeatable)."""
        self["poemDirs"].append(path)

    def postOptions(self) -> None:
        if self["fault"] is not None:
            try:
                self["fault"] = parseFault(self["fault"])
            except ValueError as e:
                raise usage.UsageError(f"--fault: {e}") from None
        if self["delay"] is not None:
            self["delay"] = _positive("delay", self["delay"])
            if self["fault"] is not None:
                raise usage.UsageError("--delay cannot be combined with --fault")
        if self["chunk-size"] is not None:
            self["chunk-size"] = _positive("chunk-size", self["chunk-size"], int)
            if self["delay"] is None and not isinstance(self["fault"], Stall):
                raise usage.UsageError(
                    "--chunk-size needs --delay (slow mode) or --fault stall"
                )
        else:
            self["chunk-size"] = PoetryServerFactory.DEFAULT_CHUNK_SIZE
        self["grace"] = _positive("grace", self["grace"])
        if self["max-connections"] is not None:
            self["max-connections"] = _positive(
                "max-connections", self["max-connections"], int
            )
        if self["max-per-peer"] is not None:
            self["max-per-peer"] = _positive("max-per-peer", self["max-per-peer"], int)
        if self["idle-timeout"] is None:
            self["idle-timeout"] = defaultIdleTimeout(self["delay"], self["fault"])
        else:
            self["idle-timeout"] = _positive("idle-timeout", self["idle-timeout"])
            if self["delay"] is not None and self["idle-timeout"] <= self["delay"]:
                raise usage.UsageError(
                    "--idle-timeout must be longer than --delay"
                    " (slow connections move data only every --delay seconds)"
                )

        ports = []
        for given in self["ports"] or [DEFAULT_PORT]:
            p = normalizeEndpoint(given)
            try:
                # Parsing needs no reactor: the endpoint is only built here.
                serverFromString(None, p)
            except Exception as e:
                raise usage.UsageError(
                    f"invalid endpoint description {given!r}: {e}"
                ) from None
            ports.append(p)
        self["given"] = self["ports"] or [DEFAULT_PORT]
        self["ports"] = ports

        try:
            if self["poemFiles"] or self["poemDirs"]:
                library = PoemLibrary.fromPaths(
                    self["poemFiles"], self["poemDirs"], random=self["random"]
                )
            else:
                library = PoemLibrary.bundled(random=self["random"])
        except LibraryError as e:
            raise usage.UsageError(str(e)) from None
        self["library"] = library


class PoetryService(service.Service):
    """
    Listens on endpoints with a L{PoetryServerFactory}, and stops gracefully.

    Starting listens on every endpoint and logs the address each one got
    (so C{tcp:0} reports its port).  Stopping stops listening at once, then
    waits for in-flight poems for at most C{grace} seconds, cuts the rest,
    and logs the counts; the L{Deferred} it returns keeps twistd running
    until then.

    @ivar ports: the listening ports, once started.
    """

    log = Logger()

    def __init__(
        self,
        factory: PoetryServerFactory,
        endpoints: Sequence[IStreamServerEndpoint],
        *,
        grace: float = 5.0,
        descriptions: Sequence[str] | None = None,
    ) -> None:
        self.factory = factory
        self.endpoints = list(endpoints)
        self.descriptions = list(descriptions or [repr(e) for e in self.endpoints])
        self.grace = grace
        self.ports: list[IListeningPort] = []

    def privilegedStartService(self) -> None:
        """
        Listen on every endpoint (here, before privileges are shed, so that
        ports below 1024 work under C{twistd --uid}).

        @raise CannotListen: if an endpoint cannot listen.
        """
        service.Service.privilegedStartService(self)
        self.ports = []
        for endpoint, description in zip(
            self.endpoints, self.descriptions, strict=True
        ):
            result: list[Any] = []
            endpoint.listen(self.factory).addBoth(result.append)
            outcome = result[0] if result else None
            if isinstance(outcome, Failure):
                for port in self.ports:
                    port.stopListening()
                self.ports = []
                error = outcome.value
                reason = getattr(error, "socketError", None) or error
                strerror = getattr(reason, "strerror", None) or str(reason)
                raise CannotListen(
                    f"poetry: cannot listen on {description}: {strerror}"
                )
            if outcome is None:
                raise CannotListen(
                    f"poetry: endpoint {description} did not listen at once; "
                    "only endpoints that listen synchronously are supported"
                )
            self.ports.append(outcome)
            self.log.info(
                "Poetry server listening on {address}",
                address=formatAddress(outcome.getHost()),
            )

    def startService(self) -> None:
        if not self.ports:
            self.privilegedStartService()
        service.Service.startService(self)
        mode = (
            "fast"
            if self.factory.delay is None
            else f"slow: {self.factory.chunkSize} bytes every {self.factory.delay} s"
        )
        if self.factory.fault is not None:
            mode = f"fault: {self.factory.fault}"
        if self.factory.traceChunks:
            mode += "; tracing connections and chunks"
        elif self.factory.traceLifecycle:
            mode += "; tracing connections"
        self.log.info(
            "Serving {count} poems ({mode})",
            count=len(self.factory.library),
            mode=mode,
        )

    def stopService(self) -> Deferred[None]:
        service.Service.stopService(self)
        ports, self.ports = self.ports, []
        inFlight = len(self.factory.live)
        if inFlight:
            self.log.info(
                "Stopping: {inFlight} poems in flight, waiting up to {grace} s",
                inFlight=inFlight,
                grace=self.grace,
            )
        cutBefore = self.factory.cutAtShutdown
        servedBefore = self.factory.served
        d: Deferred[Any] = gatherResults(
            [maybeDeferred(p.stopListening) for p in ports], consumeErrors=True
        )
        d.addCallback(lambda _: self.factory.drain(self.grace))

        def report(_: object) -> None:
            self.factory.events.flush()
            counts = self.factory.counts()
            self.log.info(
                "Poetry server stopped: {served} poems served, {finished} finished "
                "during shutdown, {cut} cut at shutdown, {gone} clients gone, "
                "{refused} refused, {refusedPerPeer} refused per peer, "
                "{cutIdle} cut idle, {faults} faults, {clientResets} client resets, "
                "{lingerTimeouts} linger timeouts, {bytesSent} bytes sent",
                served=counts["served"],
                finished=counts["served"] - servedBefore,
                cut=counts["cutAtShutdown"] - cutBefore,
                gone=counts["clientsGone"],
                refused=counts["refused"],
                refusedPerPeer=counts["refusedPerPeer"],
                cutIdle=counts["cutIdle"],
                faults=counts["faults"],
                clientResets=counts["clientResets"],
                lingerTimeouts=counts["lingerTimeouts"],
                bytesSent=counts["bytesSent"],
            )

        d.addCallback(report)
        return d


def makeService(options: Options) -> PoetryService:
    """
    Build the service twistd runs from parsed L{Options}.  This is an entry
    point, so it is where the global reactor is used.
    """
    from twisted.internet import reactor

    factory = PoetryServerFactory(
        options["library"],
        delay=options["delay"],
        chunk_size=options["chunk-size"],
        max_connections=options["max-connections"],
        fault=options["fault"],
        idle_timeout=options["idle-timeout"],
        max_per_peer=options["max-per-peer"],
        trace=True if options["trace"] else None,
        reactor=reactor,
    )
    endpoints = [serverFromString(reactor, p) for p in options["ports"]]
    return PoetryService(
        factory, endpoints, grace=options["grace"], descriptions=options["given"]
    )
