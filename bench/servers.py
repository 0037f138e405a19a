"""
The baseline servers the benchmarks measure ours against, each run as its own
process: C{python -m bench.servers KIND --port P --poem FILE [options]}.

  - C{minimal}: the least a Twisted poetry server can do: C{connectionMade}
    writes the poem and calls C{loseConnection}.
  - C{minimal-linger}: C{minimal} keeping the project's wire contract: it
    provides C{IHalfCloseableProtocol}, half-closes after the poem
    (C{loseWriteConnection}) and closes once the client has closed its side,
    so stray client bytes cannot turn the end into a reset.  This is the
    least a I{correct} server does (no linger bound, no accounting, no log),
    the fair baseline for what our server's bookkeeping costs.
  - C{logging}: C{minimal} plus one C{log.msg} line per connection, written by
    the same kind of observer twistd installs (a text file observer on a
    L{LogFile}), so each line is formatted and written at once.
  - C{logging-linger}: C{minimal-linger} plus the same C{log.msg} line.
  - C{asyncio}: an asyncio streams server (C{asyncio.start_server}) doing
    what C{minimal} does.
  - C{asyncio-linger}: the same asyncio server keeping the wire contract as
    C{minimal-linger} does: C{write_eof} after the poem, read and discard
    until the client closes, then close.

C{minimal}, C{logging}, C{asyncio} and C{naive-slow} close without lingering: a client's
stray bytes can turn their close into a reset that destroys the poem in
flight, so they do less than the project's server must.  Each has a
C{-linger} twin that does the same job as ours; the suite's targets are
held against the twins, and the others are shown for context.
  - C{naive-slow}: a slow server the simple way: one C{callLater} per
    connection per chunk, each scheduled C{delay} after the previous one ran.
  - C{naive-slow-linger}: the same keeping the wire contract: it half-closes
    after the last chunk and closes once the client has.

All of them listen on 127.0.0.1 with the same backlog as ours
(L{BACKLOG}, the project's default), so no baseline loses to a listen-queue
overflow that ours does not have.
"""

from __future__ import annotations

import argparse
import resource
import sys
from collections.abc import Callable
from typing import Any

#: The listen backlog of every baseline: poetry.service.DEFAULT_BACKLOG.
BACKLOG = 1024


def command(kind: str, port: int, poem: str, *options: str) -> list[str]:
    """
    The command line that runs the baseline C{kind} of this module on
    C{port} serving the file C{poem}, with more C{options} (C{--logfile},
    C{--delay}, C{--chunk-size}).
    """
    return [
        sys.executable,
        "-m",
        "bench.servers",
        kind,
        "--port",
        str(port),
        "--poem",
        poem,
        *options,
    ]


def discarding_observer() -> Callable[[dict[str, Any]], None]:
    """
    A log observer factory for C{twistd --logger bench.servers.discarding_observer}:
    every event is dropped.  Running our server with it shows what the access
    log costs (the suite's "ours, log discarded" context row).

    The observer provides L{twisted.logger.ILogObserver}: twistd hands one
    that does not to a L{twisted.logger.LegacyLogObserverWrapper}, which
    turns every event into a legacy one first (about as much work per event
    as writing the access line), so the row would not show a discarded log.
    """
    from twisted.logger import ILogObserver
    from zope.interface import provider

    @provider(ILogObserver)
    def discard(event: dict[str, Any]) -> None:
        pass

    return discard


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_twisted(kind: str, port: int, poem: bytes, args: argparse.Namespace) -> None:
    """Run one of the Twisted baselines until killed."""
    from twisted.internet import reactor
    from twisted.internet.interfaces import IHalfCloseableProtocol
    from twisted.internet.protocol import Factory, Protocol
    from zope.interface import implementer

    @implementer(IHalfCloseableProtocol)
    class MinimalLinger(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(poem)
            self.transport.loseWriteConnection()

        def dataReceived(self, data: bytes) -> None:
            pass

        def readConnectionLost(self) -> None:
            self.transport.loseConnection()

        def writeConnectionLost(self) -> None:
            pass

    if kind == "minimal":

        class Minimal(Protocol):
            def connectionMade(self) -> None:
                self.transport.write(poem)
                self.transport.loseConnection()

        factory = Factory.forProtocol(Minimal)

    elif kind == "minimal-linger":
        factory = Factory.forProtocol(MinimalLinger)

    elif kind in ("logging", "logging-linger"):
        from twisted.logger import globalLogBeginner, textFileLogObserver
        from twisted.python import log
        from twisted.python.logfile import LogFile

        log_file = LogFile.fromFullPath(args.logfile)
        globalLogBeginner.beginLoggingTo(
            [textFileLogObserver(log_file)], redirectStandardIO=False
        )

        def log_sent(transport: Any) -> None:
            peer = transport.getPeer()
            log.msg(f"sent {len(poem)} bytes to {peer.host}:{peer.port}")

        class Logging(Protocol):
            def connectionMade(self) -> None:
                self.transport.write(poem)
                self.transport.loseConnection()
                log_sent(self.transport)

        class LoggingLinger(MinimalLinger):
            def connectionMade(self) -> None:
                MinimalLinger.connectionMade(self)
                log_sent(self.transport)

        factory = Factory.forProtocol(Logging if kind == "logging" else LoggingLinger)

    elif kind in ("naive-slow", "naive-slow-linger"):
        delay, size = args.delay, args.chunk_size

        class NaiveSlow(Protocol):
            sent = 0
            call = None

            def connectionMade(self) -> None:
                self.send()

            def send(self) -> None:
                self.call = None
                end = self.sent + size
                self.transport.write(poem[self.sent : end])
                self.sent = end
                if self.sent >= len(poem):
                    self.finish()
                else:
                    self.call = reactor.callLater(delay, self.send)

            def finish(self) -> None:
                self.transport.loseConnection()

            def connectionLost(self, reason: object) -> None:
                if self.call is not None and self.call.active():
                    self.call.cancel()

        @implementer(IHalfCloseableProtocol)
        class NaiveSlowLinger(NaiveSlow):
            def finish(self) -> None:
                self.transport.loseWriteConnection()

            def readConnectionLost(self) -> None:
                self.transport.loseConnection()

            def writeConnectionLost(self) -> None:
                pass

        lingers = kind == "naive-slow-linger"
        factory = Factory.forProtocol(NaiveSlowLinger if lingers else NaiveSlow)
    else:
        raise SystemExit(f"unknown server kind {kind!r}")

    factory.noisy = False
    reactor.listenTCP(port, factory, backlog=BACKLOG, interface="127.0.0.1")
    reactor.run()


def run_asyncio(port: int, poem: bytes, linger: bool) -> None:
    """Run an asyncio streams baseline until killed."""
    import asyncio

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(poem)
        writer.close()

    async def handle_lingering(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(poem)
        writer.write_eof()
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(
            handle_lingering if linger else handle, "127.0.0.1", port, backlog=BACKLOG
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.servers")
    kinds = [
        "minimal",
        "minimal-linger",
        "logging",
        "logging-linger",
        "asyncio",
        "asyncio-linger",
        "naive-slow",
        "naive-slow-linger",
    ]
    p.add_argument("kind", choices=kinds)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--poem", required=True)
    p.add_argument("--logfile", default="baseline.log")
    p.add_argument("--delay", type=float, default=0.5)
    p.add_argument("--chunk-size", type=int, default=16)
    args = p.parse_args(argv)
    _raise_file_limit()
    with open(args.poem, "rb") as f:
        poem = f.read()
    if args.kind.startswith("asyncio"):
        run_asyncio(args.port, poem, linger=args.kind == "asyncio-linger")
    else:
        run_twisted(args.kind, args.port, poem, args)


if __name__ == "__main__":
    sys.exit(main())
