"""
The client's API: plain functions returning Deferreds.

    - L{get_poem} fetches one poem.
    - L{get_poems} fetches many at once, at most L{DEFAULT_CONCURRENCY} in
      all and L{DEFAULT_PER_SERVER} from any one server unless told
      otherwise, and reports one L{DownloadResult} per address.

Every argument is checked before anything starts: a bad one raises
L{TypeError} or L{ValueError} at once, never a Deferred that does not fire.

The library never changes process-wide state: it does not raise the file
descriptor limit (RLIMIT_NOFILE).  A caller whose concurrency needs more
descriptors than the process may open sees the downloads that could not get
one fail with L{PoemConnectionFailed} naming the limit (EMFILE); a program
raises the limit in its entry point (C{get-poetry}'s C{main} does).

Using it from your own Twisted program::

    from twisted.internet import task
    from poetry import get_poem

    async def main(reactor):
        poem = await get_poem("127.0.0.1", 10001, timeout=5.0, reactor=reactor)
        print(poem.text)

    task.react(main)
"""

from __future__ import annotations

import math
import operator
import os
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast

from twisted.internet.defer import Deferred, succeed

from poetry.addresses import Address, check_address, parse_address
from poetry.client.connector import Connector, Dialer, single_address
from poetry.client.protocol import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    TCPReactor,
    TraceRecorder,
)
from poetry.client.results import AttemptRecord, DownloadResult, Poem
from poetry.client.retries import DEFAULT_RETRY_DELAY, Backoff, Retrying
from poetry.client.scheduler import DownloadScheduler
from poetry.client.tls import ClientTLS

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PER_SERVER",
    "get_poem",
    "get_poems",
]

DEFAULT_CONCURRENCY = 100
"""
How many downloads L{get_poems} runs at once by default, in all.  It keeps
a run well inside the usual 1,024 file descriptors of a process (one per
connection) and is the order of C{curl --parallel}'s default (50).
"""

DEFAULT_PER_SERVER = 20
"""
How many downloads L{get_poems} runs at once to any one server (one
L{Address}) by default.  All at once, thousands of connections to one
server overflow its listen queue (Twisted's default backlog is 50; the
kernel then drops SYNs, and each retry costs the client one, three, seven
seconds), so downloads fail by timeout that never needed to: 20 stays below
any such backlog and, against a local server, fetches as fast as 100 (see
bench/RESULTS.md).  Browsers use 6 per host for HTTP/1.1.
"""


def _reactor(reactor: object | None) -> TCPReactor:
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    return cast(TCPReactor, reactor)


def _check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(
            f"timeout must be a positive, finite number of seconds (or None"
            f" for no limit), not {timeout!r}"
        )
    return timeout


def _check_count(name: str, value: object, *, none_allowed: bool) -> int | None:
    """C{value} as a whole number >= 1 (or None if allowed)."""
    if value is None and none_allowed:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(cast(Any, value))
    except TypeError:
        raise TypeError(
            f"{name} must be a whole number (an int), not {value!r}"
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be at least 1, not {number!r}")
    return number


def _check_limits(timeout: object, max_bytes: object) -> None:
    _check_timeout(timeout)
    _check_count("max_bytes", max_bytes, none_allowed=False)


def _check_retries(retries: object, retry_delay: object, tls: object) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"retries must be an int, not {type(retries).__name__}")
    if retries < 0:
        raise ValueError(f"retries must be at least 0, not {retries!r}")
    if isinstance(retry_delay, bool) or not isinstance(retry_delay, int | float):
        raise TypeError(
            f"retry_delay must be a number of seconds, not {type(retry_delay).__name__}"
        )
    if not (retry_delay >= 0 and math.isfinite(retry_delay)):
        raise ValueError(
            f"retry_delay must be a finite number of seconds >= 0, not {retry_delay!r}"
        )
    if tls is not None and not isinstance(tls, ClientTLS):
        raise TypeError(f"tls must be a ClientTLS or None, not {type(tls).__name__}")


class _Download:
    """
    What one download needs besides its address: the run's settings and
    L{Dialer}, and L{start}, which starts one download.
    """

    __slots__ = ("backoff", "dialer", "reactor", "retries", "tracer")

    def __init__(
        self,
        reactor: Any,
        *,
        timeout: float | None,
        max_bytes: int,
        tracer: TraceRecorder | None,
        retries: int,
        retry_delay: float,
        tls: ClientTLS | None,
    ) -> None:
        self.reactor = reactor
        self.tracer = tracer
        self.retries = retries
        self.backoff = Backoff(base=retry_delay)
        self.dialer = Dialer(
            reactor, timeout=timeout, max_bytes=max_bytes, tls=tls, tracer=tracer
        )

    def one_attempt(self, address: Address) -> bool:
        """Whether a download of C{address} is one attempt, unrecorded."""
        return self.retries == 0 and single_address(address)

    def dial_one(
        self,
        address: Address,
        task: int,
        on_data: Callable[[int], object] | None,
        on_closed: Callable[[], object],
    ) -> Deferred[Poem]:
        """Start a download that is L{one_attempt}: dial it, nothing more."""
        dialer = self.dialer
        return dialer.dial(
            address, address.host, dialer.timeout, task, on_data, on_closed
        )

    def start(
        self,
        address: Address,
        task: int,
        on_data: Callable[[int], object] | None,
        on_closed: Callable[[], object],
        records: list[AttemptRecord] | None,
    ) -> Deferred[Poem]:
        """
        Start the download: its tries, each through a L{Connector}, each
        attempt appended to C{records}; or, if it is L{one_attempt} and no
        C{records} are asked for, that one attempt dialled directly.
        """
        if records is None and self.one_attempt(address):
            return self.dial_one(address, task, on_data, on_closed)
        dialer = self.dialer
        kept = [] if records is None else records

        def start_try(number: int, try_closed: Callable[[], object]) -> Deferred[Poem]:
            connector = Connector(
                address,
                dialer,
                records=kept,
                try_number=number,
                task=task,
                on_data=on_data,
            )
            return connector.connect(try_closed)

        if self.retries == 0:
            return start_try(1, on_closed)
        retrying = Retrying(
            start_try,
            retries=self.retries,
            backoff=self.backoff,
            clock=self.reactor,
            tracer=self.tracer,
            task=task,
        )
        return retrying.start(on_closed)


def get_poem(
    host: str | Address,
    port: int | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reactor: object | None = None,
    tracer: TraceRecorder | None = None,
    task: int | None = None,
    on_data: Callable[[int], object] | None = None,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    tls: ClientTLS | None = None,
) -> Deferred[Poem]:
    """
    Fetch one poem from C{host}:C{port}.

    Every argument is checked before anything starts: a bad one raises
    L{TypeError} or L{ValueError} at once, never a Deferred that does not
    fire.

    @param host: a host name (labels of at most 63 characters, 253 in all)
        or an IPv4/IPv6 literal (without brackets); or an L{Address} (any
        scheme: C{parse_address("unix:/run/poetry.sock")}), with no port.
    @param port: an C{int} in 1-65535.
    @param timeout: seconds (positive, finite) allowed for connecting plus
        downloading, or L{None} for no limit at all: then neither the
        library nor Twisted's connector ends the download; only the
        operating system gives up connecting (on Linux after about two
        minutes of unanswered SYNs), and a server that accepts and never
        closes is waited for forever.
    @param max_bytes: the largest poem accepted (an C{int} >= 1).
    @param reactor: provides L{IReactorTCP} and L{IReactorTime}; the global
        reactor if L{None}.
    @param tracer: records every lifecycle callback, if given.
    @param task: the download's number in the trace (default 1).
    @param on_data: called with the size of each chunk as it arrives.  If it
        raises, the download is stopped and fails with L{PoemCallbackError}
        carrying the exception (which is also logged).
    @param retries: how many more times to try after a retryable failure
        (refused, reset or truncated, timed out: L{PoemError.retryable}),
        each try with its own C{timeout}; 0 (the default) tries once.
    @param retry_delay: seconds before the first retry (>= 0), doubling
        for each next one up to L{MAX_RETRY_DELAY}, each with jitter (see
        L{poetry.client.retries.Backoff}).
    @param tls: how C{tls:} servers are verified (L{ClientTLS}); L{None}:
        against the system's CAs.

    @return: a L{Deferred} firing with a L{Poem}, or failing with a
        L{PoemError} (the last try's).  Cancelling it stops the download
        and fails it with L{CancelledError}.

    @raise TypeError: (synchronously) for an argument of the wrong type.
    @raise ValueError: (synchronously) for a bad value (L{AddressError}
        for the host or port).
    """
    _check_limits(timeout, max_bytes)
    _check_retries(retries, retry_delay, tls)
    if isinstance(host, Address) and port is None:
        address = check_address(host.host, host.port, host.scheme)
    else:
        address = check_address(host, port)
    download = _Download(
        _reactor(reactor),
        timeout=timeout,
        max_bytes=max_bytes,
        tracer=tracer,
        retries=retries,
        retry_delay=retry_delay,
        tls=tls,
    )
    return download.start(address, 1 if task is None else task, on_data, _nothing, None)


def _nothing() -> None:
    pass


_FD_RESERVE = 32
"""File descriptors left free for everything that is not a download."""


def _open_file_count() -> int:
    for fd_dir in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(fd_dir))
        except OSError:
            continue
    return 0


def _to_address(address: object, parsed: dict[object, Address]) -> Address:
    """
    C{address} as a checked L{Address}; each distinct value (text, pair or
    L{Address}) is parsed or checked once, remembered in C{parsed}.

    @raise TypeError: if C{address} is none of the accepted kinds.
    @raise AddressError: if it is malformed.
    """
    try:
        result = parsed.get(address)
    except TypeError:  # unhashable: a list, say
        result = None
    if result is not None:
        return result
    if isinstance(address, Address):
        result = check_address(address.host, address.port, address.scheme)
    elif isinstance(address, str):
        result = parse_address(address)
    elif isinstance(address, tuple) and len(address) == 2:
        result = check_address(*address)
    else:
        raise TypeError(
            "each address must be an Address, a (host, port) tuple or address"
            f" text such as '10001' or 'host:10001', not {address!r}"
        )
    parsed[address] = result
    return result


def get_poems(
    addresses: Iterable[Address | str | tuple[str, int]],
    *,
    concurrency: int | None = DEFAULT_CONCURRENCY,
    per_server: int | None = DEFAULT_PER_SERVER,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reactor: object | None = None,
    tracer: TraceRecorder | None = None,
    on_data: Callable[[int, int], object] | None = None,
    on_outcome: Callable[[DownloadResult], object] | None = None,
    keep_outcomes: bool = True,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    tls: ClientTLS | None = None,
) -> Deferred[list[DownloadResult]]:
    """
    Fetch a poem from each address, many at once.

    Downloads start in input order, as long as both limits allow: at most
    C{concurrency} in all and C{per_server} to any one server.  A download
    holds its slot until its connection is really closed (not merely until
    its result is known: an aborted socket closes a reactor turn after a
    timeout), so at most C{concurrency} sockets are ever open.

    The library never raises the process's file descriptor limit.  If
    C{concurrency} (plus what the process already has open) exceeds it, the
    downloads that find no descriptor fail with L{PoemConnectionFailed}
    (C{cannot open a socket: too many open files (... RLIMIT_NOFILE, is
    N ...)}); the others are unaffected.  Raise the limit in your program's
    entry point, or lower C{concurrency}.  Under the C{select()} reactor
    (at most 1,024 descriptors whatever the limit) the concurrency is
    capped below that.

    @param addresses: a list (any iterable but a string) of L{Address}es,
        C{(host, port)} pairs, or address text (C{"10001"},
        C{"host:10001"}, C{"[::1]:10001"}).
    @param concurrency: at most this many downloads in flight in all (an
        C{int} >= 1), default L{DEFAULT_CONCURRENCY}; L{None}: no total
        limit.
    @param per_server: at most this many in flight to any one server (an
        C{int} >= 1), default L{DEFAULT_PER_SERVER}; L{None}: no limit per
        server.  Raise it for a server known to take more (a slow server
        serving many clients at once, say).
    @param timeout: per download, once it starts; see L{get_poem}.
    @param max_bytes: per download; see L{get_poem}.
    @param reactor: see L{get_poem}.
    @param tracer: records every download's callbacks; task numbers are the
        1-based positions in C{addresses}.
    @param on_data: called as C{on_data(index, nbytes)} for each chunk; if
        it raises, that download fails with L{PoemCallbackError}.
    @param on_outcome: called with each L{DownloadResult} as soon as that
        download ends (in completion order); if it raises, the error is
        logged.  It may cancel the returned Deferred: the download it is
        given already counts as ended.
    @param retries: per download; see L{get_poem}.  A download keeps its
        slot (in all and per server) while it waits to retry.
    @param retry_delay: see L{get_poem}.
    @param tls: see L{get_poem}.
    @param keep_outcomes: if false, each L{DownloadResult} (and its poem) is
        given only to C{on_outcome} and not kept, so memory follows the
        downloads in flight rather than the total; the result is then an
        empty list.

    @return: a L{Deferred} firing, once every download has ended, with one
        L{DownloadResult} per address in input order.  It never fails: one
        failure never stops the others.  Cancelling it stops every download
        still queued or running; it then fires with all the results, the
        unfinished ones failed with L{CancelledError}.

    @raise TypeError: (synchronously) for an argument of the wrong type (a
        string for C{addresses}, a float concurrency, ...).
    @raise ValueError: (synchronously) for a bad value (L{AddressError} for
        an address).
    """
    _check_limits(timeout, max_bytes)
    _check_retries(retries, retry_delay, tls)
    total = _check_count("concurrency", concurrency, none_allowed=True)
    per_server = _check_count("per_server", per_server, none_allowed=True)
    if isinstance(addresses, str | bytes | bytearray):
        raise TypeError(
            "addresses must be a list of addresses, not a single "
            f"{type(addresses).__name__} ({addresses!r})"
        )
    parsed: dict[object, Address] = {}
    targets = [_to_address(a, parsed) for a in addresses]
    if not targets:
        return succeed([])
    clock = _reactor(reactor)
    count = len(targets)
    limit = count if total is None else min(total, count)
    if _is_select_reactor(clock):
        limit = max(1, min(limit, 1024 - _open_file_count() - _FD_RESERVE))
    per_server_cap = count if per_server is None else per_server
    download = _Download(
        clock,
        timeout=timeout,
        max_bytes=max_bytes,
        tracer=tracer,
        retries=retries,
        retry_delay=retry_delay,
        tls=tls,
    )
    dial = download.dialer.dial
    # Each download's attempts, kept as they happen only when it may make
    # more than one; the one attempt of the others is made from its result
    # (DownloadResult.attempts), if anyone asks.
    records: dict[int, list[AttemptRecord]] = {}

    def fetch(index: int, on_closed: Callable[[], object]) -> Deferred[Poem]:
        address = targets[index]
        data = None if on_data is None else partial(on_data, index)
        if not retries and single_address(address):
            return dial(address, address.host, timeout, index + 1, data, on_closed)
        kept = records[index] = []
        return download.start(address, index + 1, data, on_closed, kept)

    def attempts_of(index: int) -> tuple[AttemptRecord, ...] | None:
        kept = records.pop(index, None)
        return None if kept is None else tuple(kept)

    scheduler = DownloadScheduler(
        targets,
        fetch,
        clock,
        limit=limit,
        per_server=per_server_cap,
        keep_results=keep_outcomes,
        on_result=on_outcome,
        attempts_of=attempts_of,
    )
    return scheduler.start()


def _is_select_reactor(reactor: object) -> bool:
    """Whether C{reactor} is limited to FD_SETSIZE (1024) descriptors."""
    selectreactor = sys.modules.get("twisted.internet.selectreactor")
    if selectreactor is None:
        return False
    return isinstance(reactor, selectreactor.SelectReactor)
