"""
The server as Twisted application services: L{PoetryService}, a
L{MultiService} of one L{ListeningService} (a
L{StreamServerEndpointService}) per C{--port} and one L{GracefulStop}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any, cast

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.logger import ILogObserver, Logger
from twisted.python.components import Componentized

from poetry.logfile import BufferedFileLogObserver, ReopeningLogFile
from poetry.server import (
    ACCESS_NAMESPACE,
    LIFECYCLE_NAMESPACE,
    PoetryServerFactory,
    format_address,
)
from poetry.service.messages import plural, version_line

__all__ = ["CannotListen", "GracefulStop", "ListeningService", "PoetryService"]


class CannotListen(SystemExit, Exception):
    """
    An endpoint cannot listen (port in use, permission denied, no such
    interface).  The message is one line.

    It is a L{SystemExit}, so C{twistd} and C{twist} print just the message
    and exit 1, no traceback; and an L{Exception}, so a daemonizing twistd
    that meets it after forking reports it through its status pipe (it only
    catches C{Exception}) instead of leaving the parent waiting for ever.
    Under a runner it is raised by L{poetry.service.tap.makeService}, before
    twistd forks or starts logging, so the whole line reaches the terminal.
    """


class ListeningService(StreamServerEndpointService):
    """
    Listens on one endpoint, at once: a failure to listen is
    L{CannotListen}, raised by L{privilegedStartService} itself (Twisted's
    C{_raiseSynchronously}, documented on L{StreamServerEndpointService});
    an endpoint that does not listen synchronously is refused the same way.
    Listening a second time (twistd's C{privilegedStartService} after
    L{poetry.service.tap.makeService} listened) does nothing.

    @ivar description: the endpoint as the user wrote it, for messages.
    @ivar port: the listening port, while listening.
    """

    _raiseSynchronously = True
    _waitingForPort: Deferred[Any] | None

    log = Logger()

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        factory: IProtocolFactory,
        description: str,
        *,
        what: str = "Poetry server",
    ) -> None:
        super().__init__(endpoint, factory)
        self.description = description
        #: What listens, for the log line (C{Poetry server}, C{Admin endpoint}).
        self.what = what
        self.port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        """
        Listen, unless already listening.

        @raise CannotListen: if the endpoint cannot listen, at once.
        """
        if self._waitingForPort is not None:
            return
        self._raiseSynchronously = True
        try:
            super().privilegedStartService()
        except Exception as error:
            self._waitingForPort = None
            reason = getattr(error, "socketError", None) or error
            strerror = getattr(reason, "strerror", None) or str(reason)
            raise CannotListen(
                f"poetry: cannot listen on {self.description}: {strerror}"
            ) from None
        waiting = self._waitingForPort
        assert waiting is not None
        if waiting.called:
            waiting.addCallback(self._listening)
        else:
            waiting.cancel()
            self._waitingForPort = None
            raise CannotListen(
                f"poetry: endpoint {self.description} did not listen at once; "
                "only endpoints that listen synchronously are supported"
            )

    def _listening(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        self.log.info(
            "{what} listening on {address}",
            what=self.what,
            address=format_address(port.getHost()),
        )
        return port

    def stopService(self) -> Deferred[None]:
        """Stop listening (if listening); a later start listens anew."""
        if self._waitingForPort is None:
            self.running = False
            return succeed(None)
        self.port = None
        d: Deferred[None] = super().stopService()
        self._waitingForPort = None
        return d


class GracefulStop(Service):
    """
    Stops the poems in flight: waits up to C{grace} seconds for them to
    finish (L{PoetryServerFactory.drain}), cuts the rest, and logs the
    counts.  L{cut_now} (a second signal) cuts at once.

    Under a L{PoetryService} it stops after the listening ports, so no new
    connection arrives while it waits.
    """

    log = Logger()

    def __init__(self, factory: PoetryServerFactory, grace: float) -> None:
        self.factory = factory
        self.grace = grace
        self._stopping = False
        #: The stop line's fields (L{STOP_FIELDS}), once stopped.
        self.report: dict[str, int] | None = None

    def startService(self) -> None:
        super().startService()
        factory = self.factory
        mode = (
            "fast"
            if factory.delay is None
            else f"slow: {factory.chunk_size} bytes every {factory.delay} s"
        )
        mix = factory.mix
        if mix is not None:
            # The seed, chosen or given, so that any run can be replayed.
            only = mix.only
            if only is not None and not mix.peers:
                mode = f"fault: {only}; seed {mix.seed}"
            else:
                mode = f"faults: {mix}"
        if factory.trace_chunks:
            mode += "; tracing connections and chunks"
        elif factory.trace_lifecycle:
            mode += "; tracing connections"
        count = len(factory.library)
        self.log.info(
            "{version} serving {count} " + plural(count, "poem") + " ({mode})",
            version=version_line(),
            count=count,
            mode=mode,
        )

    def cut_now(self) -> None:
        """
        Stop waiting for in-flight poems: cut them at once (a reset, like any
        cut at shutdown).  Before L{stopService} this makes the grace zero.
        """
        self.grace = 0.0
        if self._stopping:
            in_flight = len(self.factory.live)
            self.log.info(
                "Cutting {in_flight} " + plural(in_flight, "poem") + " in flight now",
                in_flight=in_flight,
            )
            self.factory.cut_all()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        self._stopping = True
        factory = self.factory
        in_flight = len(factory.live)
        if in_flight:
            self.log.info(
                "Stopping: {in_flight} "
                + plural(in_flight, "poem")
                + " in flight, waiting up to {grace} s",
                in_flight=in_flight,
                grace=self.grace,
            )
        cut_before = factory.cut_at_shutdown
        served_before = factory.served
        d = factory.drain(self.grace)
        d.addCallback(lambda _: self._report(served_before, cut_before))
        return d

    def _report(self, served_before: int, cut_before: int) -> None:
        self._stopping = False
        counts = self.factory.counts()
        fields = stop_fields(counts, served_before, cut_before)
        self.report = fields
        log_stop_summary(self.log, fields)


#: The fields of the stop line, in the order it names them.
STOP_FIELDS = (
    "served",
    "finished",
    "cut",
    "gone",
    "refused",
    "refused_per_peer",
    "cut_idle",
    "faults",
    "client_resets",
    "linger_timeouts",
    "health_checks",
    "bytes_sent",
)


def stop_fields(
    counts: dict[str, int], served_before: int, cut_before: int
) -> dict[str, int]:
    """The stop line's fields from a factory's L{counts<PoetryServerFactory.counts>}."""
    return {
        "served": counts["served"],
        "finished": counts["served"] - served_before,
        "cut": counts["cut_at_shutdown"] - cut_before,
        "gone": counts["clients_gone"],
        "refused": counts["refused"],
        "refused_per_peer": counts["refused_per_peer"],
        "cut_idle": counts["cut_idle"],
        "faults": counts["faults"],
        "client_resets": counts["client_resets"],
        "linger_timeouts": counts["linger_timeouts"],
        "health_checks": counts["health_checks"],
        "bytes_sent": counts["bytes_sent"],
    }


def log_stop_summary(
    log: Logger, fields: dict[str, int], workers: int | None = None
) -> None:
    """
    Log the stop line: C{Poetry server stopped: ...} with every field of
    L{STOP_FIELDS}; with C{workers}, the line sums that many workers' and
    says so (C{Poetry server stopped (2 workers): ...}).
    """
    head = "Poetry server stopped"
    extra: dict[str, int] = {}
    if workers is not None:
        head += " ({workers} " + plural(workers, "worker") + ")"
        extra["workers"] = workers
    log.info(
        head
        + ": {served} "
        + plural(fields["served"], "poem")
        + " served, {finished} finished during shutdown, {cut} cut at "
        "shutdown, {gone} " + plural(fields["gone"], "client") + " gone, "
        "{refused} refused, {refused_per_peer} refused per peer, "
        "{cut_idle} cut idle, {faults} "
        + plural(fields["faults"], "fault")
        + ", {client_resets} "
        + plural(fields["client_resets"], "client reset")
        + ", {linger_timeouts} "
        + plural(fields["linger_timeouts"], "linger timeout")
        + ", {health_checks} "
        + plural(fields["health_checks"], "health check")
        + ", {bytes_sent} "
        + plural(fields["bytes_sent"], "byte")
        + " sent",
        **fields,
        **extra,
    )


class PoetryService(MultiService):
    """
    The poetry server: one L{ListeningService} per endpoint and a
    L{GracefulStop}, under one L{MultiService}.

    Starting listens on every endpoint (in C{privilegedStartService}, so
    ports below 1024 work under C{twistd --uid}; unless L{listen} already
    did) and logs the address each one got (so C{tcp:0} reports its port),
    then the start-up line.  Stopping stops listening at once, then waits
    for in-flight poems for at most C{grace} seconds, cuts the rest, and
    logs the counts; the L{Deferred} it returns keeps twistd running until
    then.  L{cut_now} ends the wait early.

    @ivar listeners: the L{ListeningService}s, one per endpoint.
    @ivar stopper: the L{GracefulStop}.
    @ivar log_file: the log file the service's process writes, if it opened
        one (see L{poetry.service.tap.makeService}); L{ProcessSignals}
        reopens it.
    """

    def __init__(
        self,
        factory: PoetryServerFactory,
        endpoints: Sequence[IStreamServerEndpoint],
        *,
        grace: float = 5.0,
        descriptions: Sequence[str] | None = None,
        admin: tuple[IStreamServerEndpoint, IProtocolFactory, str] | None = None,
    ) -> None:
        """
        @param admin: the admin endpoint, its protocol factory (see
            L{poetry.admin.admin_factory}) and its description, if the
            server has one.
        """
        super().__init__()
        self.factory = factory
        descriptions = list(descriptions or [repr(e) for e in endpoints])
        # MultiService stops its children in reverse: the listeners, added
        # last, stop listening before the graceful stop starts waiting.
        self.stopper = GracefulStop(factory, grace)
        self.stopper.setServiceParent(self)
        self.listeners = [
            ListeningService(endpoint, factory, description)
            for endpoint, description in zip(endpoints, descriptions, strict=True)
        ]
        for listener in self.listeners:
            listener.setServiceParent(self)
        #: The admin endpoint's L{ListeningService}, if there is one (added
        #: last, it stops listening first).
        self.admin_listener: ListeningService | None = None
        if admin is not None:
            endpoint, admin_factory, description = admin
            self.admin_listener = ListeningService(
                endpoint, admin_factory, description, what="Admin endpoint"
            )
            self.admin_listener.setServiceParent(self)
        self.log_file: ReopeningLogFile | None = None
        #: The observer writing L{log_file}, once twistd was given it.
        self.log_observer: BufferedFileLogObserver | None = None
        #: The reactor trigger that installs L{ProcessSignals}, if any.
        self.signals_trigger: Any = None

    @property
    def grace(self) -> float:
        """Seconds in-flight poems get at shutdown (the L{GracefulStop}'s)."""
        return self.stopper.grace

    @property
    def ports(self) -> list[IListeningPort]:
        """The listening ports, while listening."""
        return [lst.port for lst in self.listeners if lst.port is not None]

    def listen(self) -> None:
        """
        Listen on every endpoint, once (later calls do nothing while the
        ports are open).

        @raise CannotListen: if an endpoint cannot listen; then nothing is
            left listening.
        """
        every = list(self.listeners)
        if self.admin_listener is not None:
            every.append(self.admin_listener)
        for listener in every:
            try:
                listener.privilegedStartService()
            except CannotListen:
                for other in every:
                    other.stopService()
                raise

    def privilegedStartService(self) -> None:
        """
        Listen on every endpoint, before privileges are shed.

        @raise CannotListen: if an endpoint cannot listen; then nothing is
            left listening.
        """
        Service.privilegedStartService(self)
        self.listen()

    def startService(self) -> None:
        """Listen (unless already listening), then log the start-up line."""
        self.listen()
        super().startService()

    def setServiceParent(self, parent: Any) -> None:
        """
        Join C{parent}; if it is twistd's application and the service opened
        a log file, give it the log observer (twistd's documented
        L{ILogObserver} component), so twistd logs to that file instead of
        opening its own.
        """
        super().setServiceParent(parent)
        if (
            self.log_file is not None
            and isinstance(parent, Componentized)
            and parent.getComponent(ILogObserver, None) is None
        ):
            self.log_observer = BufferedFileLogObserver(
                cast(IO[Any], self.log_file),
                self.factory.clock,
                (ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE),
            )
            parent.setComponent(ILogObserver, self.log_observer)

    def cut_now(self) -> None:
        """Cut the poems in flight at once (L{GracefulStop.cut_now})."""
        self.stopper.cut_now()

    def log_reopened(self) -> None:
        """
        L{log_file} was reopened (L{ProcessSignals}); here nothing else
        writes it (workers do: L{poetry.service.workers.WorkersService}).
        """

    def stopService(self) -> Deferred[None]:
        """Stop listening, drain within the grace, cut the rest."""
        d = super().stopService()
        d.addCallback(lambda _: None)
        return d
