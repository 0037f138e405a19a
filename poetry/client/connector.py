"""
From an L{Address} to connection attempts: L{Dialer} makes one attempt,
L{Connector} runs one try of a download (one attempt per address).

    - C{unix:PATH}: one attempt through C{reactor.connectUNIX}.
    - An IP literal: one attempt through C{connectTCP} (C{connectSSL} for
      C{tls:}).
    - A host name: resolved with the reactor's C{nameResolver}
      (L{IHostnameResolver}) to every address, IPv6 included, then each
      address tried in turn, in the resolver's order (C{getaddrinfo}'s
      RFC 6724 preference), until one connects.

Every attempt is a new L{PoetryClientFactory} (a C{ClientFactory} is meant
for one connection attempt), whose C{clientConnectionFailed} reports it;
only a failure to connect moves on to the next address.  Resolving and all
the attempts share the one timeout: each attempt's factory is given what is
left of it.  Every factory of a run shares one L{Timeouts}.

A download to one address (an IP literal or C{unix:}) without retries is
one attempt: L{poetry.client.get_poems} dials it directly, with no
L{Connector} and no record kept as it goes (its one L{AttemptRecord} is
made from its result).

Why each in turn, not Happy Eyeballs (RFC 8305, Twisted's
L{HostnameEndpoint}): a refused address fails at once, so in turn costs
nothing against a server listening on one family only (the case the issue
met: C{localhost} against a server on C{::1}); the attempts are one at a
time, so a trace reads in order and the run's concurrency counts sockets
truly.  The price is an address that drops SYNs: it uses the timeout up,
where Happy Eyeballs would have started the next after 250 ms.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any, cast

from OpenSSL import SSL
from service_identity.exceptions import VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolutionReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from poetry.addresses import Address
from poetry.client.protocol import (
    PoetryClientFactory,
    TraceRecorder,
    factory_timeouts,
)
from poetry.client.results import AttemptRecord, Poem
from poetry.client.tls import ClientTLS, VerifyingCreator
from poetry.client.traced import TracingFactory
from poetry.errors import PoemConnectionFailed, PoemTimeout, PoemTLSError, PoemTruncated

__all__ = ["Connector", "Dialer"]


@functools.lru_cache(maxsize=4096)  # a run fetches from few hosts, often
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def single_address(address: Address) -> bool:
    """Whether a try of C{address} is one attempt (no name to resolve)."""
    return address.scheme == "unix" or _is_ip(address.host)


def _destination(address: Address, host: str) -> str:
    """How an attempt's destination is shown: C{address} with C{host}."""
    if host == address.host:
        return str(address)
    return str(Address(host, address.port, address.scheme))


def _tls_error(
    failure: Failure, address: Address, creator: VerifyingCreator
) -> Failure:
    """A poem truncated by a failed TLS handshake, as L{PoemTLSError}."""
    error = failure.value
    if isinstance(error, PoemTruncated) and isinstance(
        error.reason.value, SSL.Error | VerificationError
    ):
        return Failure(PoemTLSError(address, error.reason, creator.verify_error))
    return failure


@implementer(IResolutionReceiver)
class _Resolution:
    """Collects a host name's addresses, then calls C{done} with them."""

    def __init__(self, done: Callable[[list[str]], object]) -> None:
        self._done = done
        self.hosts: list[str] = []

    def resolutionBegan(self, resolution: object) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        if address.host not in self.hosts:
            self.hosts.append(address.host)

    def resolutionComplete(self) -> None:
        self._done(self.hosts)


class Dialer:
    """
    What every connection attempt of a run shares (the reactor, the limits,
    how TLS is verified, the tracer, one L{Timeouts}), and L{dial}, which
    makes one attempt.
    """

    __slots__ = ("max_bytes", "reactor", "timeout", "timeouts", "tls", "tracer")

    def __init__(
        self,
        reactor: Any,
        *,
        timeout: float | None,
        max_bytes: int,
        tls: ClientTLS | None = None,
        tracer: TraceRecorder | None = None,
    ) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.tls = tls if tls is not None else ClientTLS()
        self.tracer = tracer
        self.timeouts = factory_timeouts(reactor)

    def dial(
        self,
        address: Address,
        host: str,
        timeout: float | None,
        task: int,
        on_data: Callable[[int], object] | None,
        on_closed: Callable[[], object],
    ) -> Deferred[Poem]:
        """
        One attempt: a new L{PoetryClientFactory} connected to C{host} (the
        host of C{address}, or one of its resolved addresses) within
        C{timeout}.  A failed TLS handshake fails it with L{PoemTLSError}.

        @return: the factory's Deferred.
        """
        factory = PoetryClientFactory(
            address,
            clock=self.reactor,
            timeout=timeout,
            max_bytes=self.max_bytes,
            tracer=self.tracer,
            task=task,
            on_data=on_data,
            on_closed=on_closed,
            timeouts=self.timeouts,
        )
        d: Deferred[Poem] = factory.deferred  # type: ignore[assignment]
        connectable: Any = factory
        if self.tracer is not None:
            connectable = TracingFactory(
                factory, self.tracer, task, _destination(address, host)
            )
        # Our own timeout covers connecting: the connector's is switched off.
        reactor = self.reactor
        if address.scheme == "tcp":
            reactor.connectTCP(host, address.port, connectable, timeout=None)
        elif address.scheme == "unix":
            reactor.connectUNIX(host, connectable, timeout=None)
        else:
            creator = self.tls.creator_for(address.host)
            d.addErrback(_tls_error, address, creator)
            reactor.connectSSL(host, address.port, connectable, creator, timeout=None)
        return d


class Connector:
    """
    One try of one download: resolve (if needed), then one attempt per
    address until one connects, within the dialer's timeout.  L{connect}'s
    Deferred fires once, with the L{Poem} or the last attempt's
    L{PoemError}; its C{on_closed} is called once every attempt's socket is
    closed.  Each attempt is appended to C{records} as it ends.
    """

    def __init__(
        self,
        address: Address,
        dialer: Dialer,
        *,
        records: list[AttemptRecord],
        try_number: int = 1,
        task: int = 1,
        on_data: Callable[[int], object] | None = None,
    ) -> None:
        self.address = address
        self.dialer = dialer
        self.reactor = dialer.reactor
        self.timeout = dialer.timeout
        self.records = records
        self.try_number = try_number
        self.tracer = dialer.tracer
        self.task = task
        self.on_data = on_data
        self._deferred: Deferred[Poem] | None = None
        self._on_closed: Callable[[], object] | None = None
        self._hosts: list[str] = []
        self._current: Deferred[Poem] | None = None
        self._open = 0
        self._deadline: float | None = None
        self._timer: Any = None

    def connect(self, on_closed: Callable[[], object]) -> Deferred[Poem]:
        """Start the try; call it once."""
        address = self.address
        if single_address(address):
            # One address: the attempt's own Deferred is the try's.
            return self._start_attempt(address.host, self.timeout, on_closed)
        d: Deferred[Poem] = Deferred(self._cancel)
        self._deferred = d
        self._on_closed = on_closed
        if self.timeout is not None:
            self._deadline = self.reactor.seconds() + self.timeout
        self._record("connector", "resolving", host=address.host)
        if self.timeout is not None:
            self._timer = self.reactor.callLater(self.timeout, self._timed_out)
        self.reactor.nameResolver.resolveHostName(
            _Resolution(self._resolved), address.host, address.port
        )
        return d

    # -- resolving ----------------------------------------------------------

    def _resolved(self, hosts: list[str]) -> None:
        if self._deferred is None:
            return  # timed out or cancelled meanwhile: nothing to connect
        self._cancel_timer()
        self._record("connector", "resolved", addresses=list(hosts))
        if not hosts:
            failure = Failure(DNSLookupError(self.address.host))
            self._finish(Failure(PoemConnectionFailed(self.address, failure)))
            return
        self._hosts = hosts
        self._attempt()

    def _timed_out(self) -> None:
        self._timer = None
        self._finish(Failure(PoemTimeout(self.address, cast(float, self.timeout))))

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # -- attempts -------------------------------------------------------------

    def _attempt(self) -> None:
        """The next resolved address, within what is left of the timeout."""
        remaining = None
        if self._deadline is not None:
            remaining = max(self._deadline - self.reactor.seconds(), 1e-3)
        self._open += 1
        d = self._start_attempt(self._hosts.pop(0), remaining, self._attempt_closed)
        self._current = d
        d.addBoth(self._attempt_ended)

    def _start_attempt(
        self, host: str, timeout: float | None, on_closed: Callable[[], object]
    ) -> Deferred[Poem]:
        """Dial C{host}; its Deferred records the attempt."""
        started = self.reactor.seconds()
        d = self.dialer.dial(
            self.address, host, timeout, self.task, self.on_data, on_closed
        )
        d.addBoth(self._ended, host, started)
        return d

    def _ended(self, outcome: object, host: str, started: float) -> object:
        """Record one attempt; pass its outcome on."""
        error = outcome.value if isinstance(outcome, Failure) else None
        elapsed = self.reactor.seconds() - started
        self.records.append(
            AttemptRecord(
                self.try_number,
                _destination(self.address, host),
                started,
                elapsed,
                error,
            )
        )
        return outcome

    def _attempt_ended(self, outcome: object) -> None:
        """One of several addresses' attempts ended: the next, or the end."""
        self._current = None
        if self._deferred is None:
            return None  # cancelled: the outer Deferred fails itself
        error = outcome.value if isinstance(outcome, Failure) else None
        if isinstance(error, PoemConnectionFailed) and self._hosts:
            self._attempt()  # this attempt never connected: the next address
            return None
        if isinstance(error, PoemTimeout) and self.timeout is not None:
            outcome = Failure(PoemTimeout(self.address, self.timeout, error.partial))
        self._finish(cast(Any, outcome))
        return None

    def _attempt_closed(self) -> None:
        self._open -= 1
        self._maybe_closed()

    # -- the end --------------------------------------------------------------

    def _finish(self, outcome: Poem | Failure) -> None:
        d, self._deferred = self._deferred, None
        self._cancel_timer()
        self._hosts = []
        if d is not None:
            d.callback(outcome)
        self._maybe_closed()

    def _maybe_closed(self) -> None:
        if self._deferred is None and self._open == 0:
            on_closed, self._on_closed = self._on_closed, None
            if on_closed is not None:
                on_closed()

    def _cancel(self, d: Deferred[Poem]) -> None:
        self._deferred = None
        self._cancel_timer()
        self._hosts = []
        current, self._current = self._current, None
        if current is not None:
            current.cancel()
        self._maybe_closed()

    def _record(self, source: str, name: str, **detail: object) -> None:
        if self.tracer is not None:
            self.tracer.record(self.task, source, name, **detail)
