"""
Client drivers for the fan-out and memory scenarios, each run as its own
process so its CPU time and peak RSS are its own:

  C{python -m bench.clients KIND --port P --count N --concurrency C --expect LEN}

  - C{minimal}: the baseline: a bare L{Protocol} that counts bytes and a
    L{ClientFactory} per connection, keeping at most C connections open.
  - C{ours}: C{poetry.client.get_poems} with N copies of the address: its
    default options unless C{--concurrency C} and/or C{--per-server S} are
    given (C{--all-at-once}: no limits at all, C{concurrency=None,
    per_server=None}).

Prints one JSON object: poems, failures, bytes, wall and CPU seconds of the
fetch itself (imports and reactor start-up excluded) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any


def command(
    kind: str,
    port: int,
    count: int,
    size: int,
    concurrency: int = 0,
    extra: Sequence[str] = (),
) -> list[str]:
    """
    The command line that runs this module's client C{kind} fetching
    C{count} poems of C{size} bytes from C{port} (C{concurrency}: the
    minimal client's limit, 0 for its default; C{extra}: more options).
    """
    cmd = [
        sys.executable,
        "-m",
        "bench.clients",
        kind,
        "--port",
        str(port),
        "--count",
        str(count),
        "--expect",
        str(size),
    ]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    return [*cmd, *extra]


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_minimal(
    reactor: Any,
    port: int,
    count: int,
    concurrency: int,
    expect: int,
    timeout: float = 30.0,
) -> Any:
    """
    Fetch C{count} poems with bare Twisted; a Deferred of (ok, failed, bytes).

    The one addition to a bare client is a watchdog (one timer for the whole
    run, not one per connection): if no poem has finished for C{timeout}
    seconds, the connections still open are aborted and counted as failed.
    A connection whose handshake completed on our side while the server's
    listen queue was full can otherwise wait for data forever.
    """
    from twisted.internet.defer import Deferred
    from twisted.internet.error import ConnectionDone
    from twisted.internet.protocol import ClientFactory, Protocol

    state = {"ok": 0, "failed": 0, "bytes": 0, "started": 0, "open": 0}
    finished: Deferred[tuple[int, int, int]] = Deferred()
    live: set[Protocol] = set()
    progress = [reactor.seconds()]

    class Counter(Protocol):
        received = 0

        def connectionMade(self) -> None:
            live.add(self)

        def dataReceived(self, data: bytes) -> None:
            self.received += len(data)

        def connectionLost(self, reason: Any) -> None:
            live.discard(self)
            state["bytes"] += self.received
            if reason.check(ConnectionDone) and self.received == expect:
                state["ok"] += 1
            else:
                state["failed"] += 1
            done()

    class OneShot(ClientFactory):
        protocol = Counter
        noisy = False

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            state["failed"] += 1
            done()

    def start() -> None:
        while state["open"] < concurrency and state["started"] < count:
            state["started"] += 1
            state["open"] += 1
            reactor.connectTCP("127.0.0.1", port, OneShot(), timeout=timeout)

    def done() -> None:
        state["open"] -= 1
        progress[0] = reactor.seconds()
        if state["ok"] + state["failed"] == count:
            if watchdog.active():
                watchdog.cancel()
            finished.callback((state["ok"], state["failed"], state["bytes"]))
        else:
            start()

    def watch() -> None:
        nonlocal watchdog
        if reactor.seconds() - progress[0] > timeout:
            for proto in list(live):
                proto.transport.abortConnection()
        watchdog = reactor.callLater(1.0, watch)

    watchdog = reactor.callLater(1.0, watch)
    start()
    return finished


def run_ours(
    reactor: Any,
    port: int,
    count: int,
    concurrency: int | None,
    expect: int,
    per_server: int | None = None,
    all_at_once: bool = False,
) -> Any:
    """
    Fetch C{count} poems with C{poetry.client.get_poems}: its defaults,
    except C{concurrency}/C{per_server} when given (non-zero), or no limits
    at all with C{all_at_once}.
    """
    from poetry.client import get_poems

    addresses = [f"127.0.0.1:{port}"] * count
    kwargs: dict[str, Any] = {"reactor": reactor}
    if all_at_once:
        kwargs.update(concurrency=None, per_server=None)
    if concurrency:
        kwargs["concurrency"] = concurrency
    if per_server:
        kwargs["per_server"] = per_server
    d = get_poems(addresses, **kwargs)

    def tally(outcomes: Any) -> tuple[int, int, int]:
        # As lean as the minimal client's counting: the figure is the
        # client's, not this loop's.
        ok = failed = nbytes = 0
        for outcome in outcomes:
            poem = outcome.poem
            if poem is None:
                failed += 1
                continue
            size = len(poem.data)
            nbytes += size
            if size == expect:
                ok += 1
            else:
                failed += 1
        return ok, failed, nbytes

    return d.addCallback(tally)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.clients")
    p.add_argument("kind", choices=["minimal", "ours"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=0)
    p.add_argument("--per-server", type=int, default=0)
    p.add_argument("--all-at-once", action="store_true")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--profile", default=None, help="write cProfile stats here")
    args = p.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from twisted.internet import reactor
    from twisted.internet.task import react

    if args.kind == "ours":
        # Imported here, before the clock starts: the figure is the fetch.
        import poetry.client  # noqa: F401

    result: dict[str, Any] = {}

    def job(reactor: Any) -> Any:
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        cpu0, t0 = _cpu(), time.monotonic()
        if profiler:
            profiler.enable()
        if args.kind == "minimal":
            d = run_minimal(
                reactor, args.port, args.count, args.concurrency or 1000, args.expect
            )
        else:
            d = run_ours(
                reactor,
                args.port,
                args.count,
                args.concurrency,
                args.expect,
                args.per_server,
                args.all_at_once,
            )

        def record(r: tuple[int, int, int]) -> None:
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            ok, failed, nbytes = r
            result.update(
                poems=ok,
                failures=failed,
                bytes=nbytes,
                wall=time.monotonic() - t0,
                cpu=_cpu() - cpu0,
            )

        return d.addCallback(record)

    del reactor
    try:
        react(job)
    except SystemExit as e:
        if e.code not in (0, None):
            print(json.dumps({"error": f"exit {e.code}", **result}))
            raise
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
