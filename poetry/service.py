"""
Running the poetry server under twistd or twist: the command-line L{Options},
L{makeService}, and L{PoetryService}, which owns the listening ports and the
graceful shutdown.

The plugin in C{twisted/plugins/poetry_plugin.py} only points here.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Sequence
from typing import IO, Any, cast

from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import ILogObserver, Logger
from twisted.python import usage
from twisted.python.components import Componentized
from twisted.python.failure import Failure

from poetry import __version__
from poetry.faults import MODES, Stall, parseFault
from poetry.library import LibraryError, PoemLibrary
from poetry.logfile import BufferedFileLogObserver, ReopeningLogFile
from poetry.server import (
    ACCESS_NAMESPACE,
    LIFECYCLE_NAMESPACE,
    PoetryServerFactory,
    defaultIdleTimeout,
    formatAddress,
)

__all__ = [
    "DEFAULT_PORT",
    "BadOptions",
    "CannotListen",
    "Options",
    "PoetryService",
    "ProcessSignals",
    "makeService",
    "normalizeEndpoint",
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

#: Smallest accepted --idle-timeout: a shorter one cuts every connection
#: before its first byte can move.
MIN_IDLE_TIMEOUT = 0.1


def projectVersion() -> str:
    """The installed distribution's version (L{poetry.__version__})."""
    return __version__


def versionLine() -> str:
    """C{twisted-poetry 0.1.0 (Twisted 26.10.0)}."""
    from twisted import __version__ as twistedVersion

    return f"twisted-poetry {projectVersion()} (Twisted {twistedVersion})"


def plural(count: int, noun: str) -> str:
    """C{noun} or C{noun + "s"}, whichever goes with C{count}."""
    return noun if count == 1 else f"{noun}s"


class CannotListen(SystemExit, Exception):
    """
    An endpoint cannot listen (port in use, permission denied, no such
    interface).  The message is one line.

    It is a L{SystemExit}, so C{twistd} and C{twist} print just the message
    and exit 1, no traceback; and an L{Exception}, so a daemonizing twistd
    that meets it after forking reports it through its status pipe (it only
    catches C{Exception}) instead of leaving the parent waiting for ever.
    Under a runner it is raised by L{makeService}, before twistd forks or
    starts logging, so the whole line reaches the terminal.
    """


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


def normalizeEndpoint(description: str) -> str:
    """
    Turn a C{--port} value into a full server endpoint description: a bare
    number means C{tcp:NUMBER:interface=127.0.0.1}; a C{tcp:} (C{tcp6:})
    description that names no interface listens on 127.0.0.1 (C{::1}), so
    nothing is reachable beyond loopback unless the user says so
    (C{interface=0.0.0.0}); and stream endpoints that take a backlog get
    L{DEFAULT_BACKLOG} unless they name one.
    """
    description = description.strip()
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
    usage error naming the option and the rule (the same words for every
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
        raise usage.UsageError(f"--{name} must be {rule}, not {value!r}")
    return number


def _positive(name: str, value: Any, kind: type = float) -> Any:
    """Parse C{value} as a positive finite C{kind}, or raise a usage error."""
    if kind is int:
        return _number(name, value, int, 1)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise usage.UsageError(f"--{name} must be a finite number > 0, not {value!r}")
    return number


def _oneLine(method: Callable[..., Any]) -> Callable[..., Any]:
    """
    Collapse an C{opt_} method's docstring to one paragraph: L{usage.Options}
    wraps it for --help but keeps the indentation of its continuation lines.
    """
    method.__doc__ = " ".join((method.__doc__ or "").split())
    return method


class Options(usage.Options):
    """
    Options of C{twistd poetry} / C{twist poetry}.
    """

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

    @_oneLine
    def opt_port(self, description: str) -> None:
        """
        Listen on this endpoint description (repeatable; default
        tcp:10000:interface=127.0.0.1; a bare number, or a tcp: description
        naming no interface, listens on 127.0.0.1 only: add
        interface=0.0.0.0 to listen beyond loopback).
        """
        self["ports"].append(description)

    opt_p = opt_port

    @_oneLine
    def opt_poem(self, path: str) -> None:
        """
        Serve this poem file (repeatable; default: the bundled poems): a
        regular file (not a FIFO or device) of at most 16 MiB.
        """
        self["poemFiles"].append(path)

    @_oneLine
    def opt_poems(self, path: str) -> None:
        """
        Serve every *.txt file in this directory (repeatable; same rules as
        --poem for each file).
        """
        self["poemDirs"].append(path)

    def opt_version(self) -> None:
        """Show the versions of twisted-poetry and Twisted, and exit."""
        print(versionLine())
        raise SystemExit(0)

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Parse the command line.

        @raise BadOptions: for any usage error, so that both runners print
            one line and exit 1.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            raise BadOptions(e) from None

    def postOptions(self) -> None:
        if self["fault"] is not None:
            try:
                self["fault"] = parseFault(self["fault"])
            except ValueError as e:
                raise usage.UsageError(f"--fault: {e}") from None
        if self["delay"] is not None:
            self["delay"] = _number("delay", self["delay"], float, MIN_DELAY)
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
            self["idle-timeout"] = _number(
                "idle-timeout", self["idle-timeout"], float, MIN_IDLE_TIMEOUT
            )
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

    Starting listens on every endpoint (unless L{listen} already did) and
    logs the address each one got (so C{tcp:0} reports its port).  Stopping
    stops listening at once, then waits for in-flight poems for at most
    C{grace} seconds, cuts the rest, and logs the counts; the L{Deferred} it
    returns keeps twistd running until then.  L{cutNow} ends the wait early.

    @ivar ports: the listening ports, once listening.
    @ivar logFile: the log file the service's process writes, if it opened
        one (see L{makeService}); L{ProcessSignals} reopens it.
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
        self.logFile: ReopeningLogFile | None = None
        #: The observer writing L{logFile}, once twistd was given it.
        self.logObserver: BufferedFileLogObserver | None = None
        #: The reactor trigger that installs L{ProcessSignals}, if any.
        self.signalsTrigger: Any = None
        self._stopping = False

    def listen(self) -> None:
        """
        Listen on every endpoint, once (later calls do nothing while the
        ports are open).

        @raise CannotListen: if an endpoint cannot listen; then nothing is
            left listening.
        """
        if self.ports:
            return
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

    def privilegedStartService(self) -> None:
        """
        Listen on every endpoint (here, before privileges are shed, so that
        ports below 1024 work under C{twistd --uid}).

        @raise CannotListen: if an endpoint cannot listen.
        """
        service.Service.privilegedStartService(self)
        self.listen()

    def setServiceParent(self, parent: Any) -> None:
        """
        Join C{parent}; if it is twistd's application and the service opened
        a log file, give it the log observer (twistd's documented
        L{ILogObserver} component), so twistd logs to that file instead of
        opening its own.
        """
        super().setServiceParent(parent)
        if (
            self.logFile is not None
            and isinstance(parent, Componentized)
            and parent.getComponent(ILogObserver, None) is None
        ):
            self.logObserver = BufferedFileLogObserver(
                cast(IO[Any], self.logFile),
                self.factory.clock,
                (ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE),
            )
            parent.setComponent(ILogObserver, self.logObserver)

    def startService(self) -> None:
        self.listen()
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
        count = len(self.factory.library)
        self.log.info(
            "{version} serving {count} " + plural(count, "poem") + " ({mode})",
            version=versionLine(),
            count=count,
            mode=mode,
        )

    def cutNow(self) -> None:
        """
        Stop waiting for in-flight poems: cut them at once (a reset, like any
        cut at shutdown).  Before L{stopService} this makes its grace zero.
        """
        self.grace = 0.0
        if self._stopping:
            inFlight = len(self.factory.live)
            self.log.info(
                "Cutting {inFlight} " + plural(inFlight, "poem") + " in flight now",
                inFlight=inFlight,
            )
            self.factory.cutAll()

    def stopService(self) -> Deferred[None]:
        service.Service.stopService(self)
        self._stopping = True
        ports, self.ports = self.ports, []
        inFlight = len(self.factory.live)
        if inFlight:
            self.log.info(
                "Stopping: {inFlight} "
                + plural(inFlight, "poem")
                + " in flight, waiting up to {grace} s",
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
            self._stopping = False
            counts = self.factory.counts()
            fields = {
                "served": counts["served"],
                "finished": counts["served"] - servedBefore,
                "cut": counts["cutAtShutdown"] - cutBefore,
                "gone": counts["clientsGone"],
                "refused": counts["refused"],
                "refusedPerPeer": counts["refusedPerPeer"],
                "cutIdle": counts["cutIdle"],
                "faults": counts["faults"],
                "clientResets": counts["clientResets"],
                "lingerTimeouts": counts["lingerTimeouts"],
                "bytesSent": counts["bytesSent"],
            }
            self.log.info(
                "Poetry server stopped: {served} "
                + plural(fields["served"], "poem")
                + " served, {finished} finished during shutdown, {cut} cut at "
                "shutdown, {gone} " + plural(fields["gone"], "client") + " gone, "
                "{refused} refused, {refusedPerPeer} refused per peer, "
                "{cutIdle} cut idle, {faults} "
                + plural(fields["faults"], "fault")
                + ", {clientResets} "
                + plural(fields["clientResets"], "client reset")
                + ", {lingerTimeouts} "
                + plural(fields["lingerTimeouts"], "linger timeout")
                + ", {bytesSent} "
                + plural(fields["bytesSent"], "byte")
                + " sent",
                **fields,
            )

        d.addCallback(report)
        return d


class ProcessSignals:
    """
    What the server process does on each signal a daemon is sent: this is
    entry-point wiring, installed by L{makeService} once the reactor runs
    (after its own handlers, which it replaces), never by library code.

      - C{SIGTERM}, C{SIGINT}, C{SIGHUP}, C{SIGQUIT}: graceful stop (the
        service's C{--grace}); the same signal again, or another of them,
        cuts the poems still in flight at once.  SIGTERM and SIGINT go
        through the reactor's own handler, so, as Twisted does, the process
        ends by re-raising that signal once shut down; SIGHUP and SIGQUIT
        end with status 0.
      - C{SIGUSR1}: reopen the log file (logrotate's C{create} and
        C{postrotate kill -USR1}); nothing else, and nothing without one.
      - C{SIGUSR2}, C{SIGALRM}: ignored (logged), instead of killing the
        process outright.

    A handler only hands the signal to the reactor thread
    (C{callFromThread}); the work happens there.
    """

    GRACEFUL = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    REOPEN = ("SIGUSR1",)
    IGNORED = ("SIGUSR2", "SIGALRM")

    log = Logger()

    def __init__(
        self,
        service: PoetryService,
        reactor: Any,
        *,
        install: Callable[[int, Any], object] = signal.signal,
    ) -> None:
        self.service = service
        self.reactor = reactor
        self._install = install
        self.stopRequested = False

    def install(self) -> None:
        """Install a handler for every signal named above."""
        for name in (*self.GRACEFUL, *self.REOPEN, *self.IGNORED):
            number = getattr(signal, name, None)
            if number is not None:
                self._install(number, self._handler)
        self.log.info(
            "Signals: {graceful} stop gracefully (again: cut at once); "
            "{reopen} reopens the log file; {ignored} ignored",
            graceful=", ".join(self.GRACEFUL),
            reopen=", ".join(self.REOPEN),
            ignored=", ".join(self.IGNORED),
        )

    def _handler(self, number: int, frame: object) -> None:
        self.reactor.callFromThread(self.received, number)

    def received(self, number: int) -> None:
        """Act on signal C{number} (in the reactor thread)."""
        name = signal.Signals(number).name
        if name in self.GRACEFUL:
            if self.stopRequested:
                self.log.info("Received {signal} again: cutting now", signal=name)
                self.service.cutNow()
                return
            self.stopRequested = True
            if name == "SIGINT":
                self.reactor.sigInt(number)
            elif name == "SIGTERM":
                self.reactor.sigTerm(number)
            else:
                self.log.info("Received {signal}, shutting down.", signal=name)
                self.reactor.stop()
        elif name in self.REOPEN:
            logFile = self.service.logFile
            if logFile is None:
                self.log.info(
                    "Received {signal}: no log file to reopen", signal=name
                )
                return
            if self.service.logObserver is not None:
                self.service.logObserver.flush()  # the old file's last lines
            logFile.reopen()
            self.log.info(
                "Received {signal}: reopened the log file {path}",
                signal=name,
                path=logFile.path,
            )
        else:
            self.log.info("Received {signal}: ignored", signal=name)


def _twistdLogFile(runner: Any) -> ReopeningLogFile | None:
    """
    The log file twistd would open for these command-line options, opened
    the way logrotate needs (L{ReopeningLogFile}); L{None} where twistd logs
    elsewhere (stdout under C{-n} without C{--logfile}, syslog, a custom
    C{--logger}) or the runner is not twistd.
    """
    if runner is None or "nodaemon" not in runner or "syslog" not in runner:
        return None
    if runner.get("logger") or runner.get("syslog"):
        return None
    name = runner.get("logfile") or ""
    if name == "-" or (runner["nodaemon"] and not name):
        return None
    return ReopeningLogFile.fromFullPath(name or "twistd.log")


def makeService(options: Options) -> PoetryService:
    """
    Build the service twistd runs from parsed L{Options}.  This is an entry
    point, so it is where the global reactor is used.

    When the options came from a runner's command line (C{twistd} or
    C{twist}: C{options.parent} is set), this also does the process-level
    wiring: it listens at once, before twistd starts logging, forks into a
    daemon, writes its pidfile or sheds privileges (as nginx binds before
    it daemonizes), so that a port in use is one plain line on the terminal
    and exit status 1 in every mode; under twistd with a log file it opens
    that file for append (L{ReopeningLogFile}); and it installs
    L{ProcessSignals} once the reactor runs.
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
    result = PoetryService(
        factory, endpoints, grace=options["grace"], descriptions=options["given"]
    )
    runner = getattr(options, "parent", None)
    if runner is not None:
        result.listen()
        result.logFile = _twistdLogFile(runner)
        signals = ProcessSignals(result, reactor)
        result.signalsTrigger = reactor.addSystemEventTrigger(
            "after", "startup", signals.install
        )
    return result
