"""
A profiling aid: server CPU per poem under the fast-serve load, user and
system time apart, for our server and the Twisted baselines, with the
baselines also run under C{twistd} (to price what twistd itself adds: its
global log observers, its log file); and, with C{--slow}, server CPU per
chunk-write under the slow-serve load, ours against the naive slow server.

  python -m bench.cpu                       # every kind, 3 rounds
  python -m bench.cpu ours twistd-linger --poems 40000 --rounds 5
  python -m bench.cpu --slow --clients 2000 --rounds 5

Each round runs every kind once, one after the other (order rotated), with
the same fixed number of poems (C{--poems}, 64 in flight), after a warm-up;
CPU is read from C{/proc} before and after.  User time is what our code and
Twisted's cost; system time is mostly the kernel's TCP work, about the same
for every server that makes the same system calls.  Median per kind, and
each kind's ratio to C{minimal-linger} paired by round.  No target here: the
suite (C{python -m bench}) holds the targets.

C{--slow} runs the slow-serve load instead (as C{python -m bench}'s
scenario 2 does: the 160-byte poem in 16-byte chunks every C{--delay}
seconds, C{--clients} clients connected at once by the load generator's
slow mode) against C{ours} (C{twistd -n --logfile FILE poetry --delay D
--chunk-size 16}, as the suite runs it), C{ours-nolog} and C{naive-slow}
(one C{callLater} per connection per chunk, L{bench.servers}), and reports
user and system microseconds per chunk-write, accept, lifecycle trace and
access event amortised over the poem's chunks, and each kind's user time
over C{naive-slow}'s, paired by round.  The kernel's send cost on loopback
is the same for every server; user time is what the Python costs.

C{--callgrind} runs each server under valgrind's callgrind instead and
reports user-space instructions per poem (the difference between a run of
C{--poems} and one of twice as many, so start-up cancels out), or with
C{--slow} per chunk-write (a run of C{--clients} and one of twice as many):
repeatable on a loaded machine, where CPU time is not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import servers as baselines
from bench.harness import (
    LOAD_CPU,
    ROOT,
    Server,
    build_loadgen,
    free_port,
    pinned,
    proc_user_sys,
    raise_file_limit,
)

#: A twistd application serving the minimal-linger baseline (the protocol of
#: C{bench.servers}), so twistd's own cost can be priced apart from ours.
TAC = """\
from twisted.application import internet, service
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

POEM = open({poem!r}, "rb").read()


@implementer(IHalfCloseableProtocol)
class MinimalLinger(Protocol):
    def connectionMade(self):
        self.transport.write(POEM)
        self.transport.loseWriteConnection()

    def dataReceived(self, data):
        pass

    def readConnectionLost(self):
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass


factory = Factory.forProtocol(MinimalLinger)
factory.noisy = False
application = service.Application("linger")
server = internet.TCPServer({port}, factory, backlog=1024, interface="127.0.0.1")
server.setServiceParent(application)
"""

KINDS = ("minimal", "minimal-linger", "twistd-linger", "ours", "ours-nolog")
SLOW_KINDS = ("ours", "ours-nolog", "naive-slow", "naive-slow-linger")

#: Bytes per chunk in the slow mode, as in C{python -m bench}'s scenario 2.
SLOW_CHUNK = 16


@dataclass(frozen=True)
class Slow:
    """The slow-serve load: C{clients} at once, a chunk every C{delay} s."""

    clients: int
    delay: float
    chunk: int = SLOW_CHUNK

    def pacing(self) -> list[str]:
        """The server options that make a slow server of this load."""
        return ["--delay", repr(self.delay), "--chunk-size", str(self.chunk)]


def command(
    kind: str, port: int, poem: Path, workdir: Path, slow: Slow | None = None
) -> list[str]:
    """The command line of one server C{kind} on C{port} (slow: paced)."""
    from bench.run import twistd_command

    twistd = twistd_command()
    pid = ["--pidfile", str(workdir / f"{kind}-{port}.pid")]
    log = ["--logfile", str(workdir / f"{kind}-{port}.log")]
    pacing = [] if slow is None else slow.pacing()
    if kind in ("minimal", "minimal-linger", "naive-slow", "naive-slow-linger"):
        return baselines.command(kind, port, str(poem), *pacing)
    if kind == "twistd-linger":
        tac = workdir / f"linger-{port}.tac"
        tac.write_text(TAC.format(poem=str(poem), port=port))
        return [*twistd, "-n", *log, *pid, "-y", str(tac)]
    if kind == "ours-nolog":
        log = ["--logger", "bench.servers.discarding_observer"]
    # "ours-tree" is "ours" from another checkout (--tree: see _env).
    return [
        *twistd,
        "-n",
        *log,
        *pid,
        "poetry",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
        "--poem",
        str(poem),
        *pacing,
    ]


def load(lg: Path, port: int, size: int, count: int, slow: Slow | None = None) -> int:
    """
    Run the load generator against C{port}: C{count} poems of C{size}
    bytes, 64 in flight (fast), or C{count} slow clients at once, each
    reading C{slow.chunk} bytes every C{slow.delay} s (slow).

    @return: the units served: poems (fast) or chunk-writes (slow).
    """
    if slow is None:
        mode = ["fast", "--conns", "64", "--total", str(count), "--timeout", "60"]
    else:
        mode = ["slow", "--clients", str(count), "--chunk", str(slow.chunk)]
        mode += ["--delay", repr(slow.delay), "--window", "256", "--timeout", "60"]
    out = subprocess.run(
        pinned(
            [str(lg), mode[0], "--port", str(port), "--expect", str(size), *mode[1:]],
            LOAD_CPU,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        result = json.loads(out.stdout)
    except ValueError:
        result = {}
    if result.get("poems") != count or result.get("failures"):
        raise SystemExit(f"load generator failed: {out.stdout} {out.stderr}")
    return int(result["chunks"]) if slow is not None else count


#: Set by C{--tree}: another checkout whose C{poetry} the C{ours-tree}
#: kind runs (C{ours}, the same command, with that tree first on the path).
TREE: Path | None = None


def _env(kind: str, tree: Path | None = None) -> dict[str, str]:
    """
    The environment of a server C{kind}: this checkout on the path, and for
    C{ours-tree} C{tree} (by default L{TREE}) before it.
    """
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    if kind == "ours-tree":
        tree = tree or TREE
        assert tree is not None
        path.insert(0, str(tree))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


@dataclass(frozen=True)
class Setup:
    """What every run shares: load generator, poem, work directory, load."""

    lg: Path
    poem: Path
    workdir: Path
    slow: Slow | None = None


def fast_setup(workdir: Path) -> Setup:
    """The fast-serve load in C{workdir}: the load generator, a 1 KiB poem."""
    poem = workdir / "kilobyte.txt"
    poem.write_bytes((b"All work and no play makes a poem a dull poem.\n" * 22)[:1024])
    return Setup(build_loadgen(workdir), poem, workdir)


def cpu_round(kind: str, setup: Setup, count: int) -> tuple[float, float]:
    """
    User and system microseconds per poem (per chunk-write, C{slow}) of one
    run of C{kind}, after a warm-up.
    """
    lg, poem, workdir, slow = setup.lg, setup.poem, setup.workdir, setup.slow
    port = free_port()
    cmd = command(kind, port, poem, workdir, slow)
    server = Server(kind, cmd, port, workdir, env=_env(kind))
    server.start()
    size = poem.stat().st_size
    try:
        load(lg, port, size, 500 if slow is None else 200, slow)
        u0, s0 = proc_user_sys(server.pid)
        units = load(lg, port, size, count, slow)
        u1, s1 = proc_user_sys(server.pid)
    finally:
        server.stop()
    return (u1 - u0) / units * 1e6, (s1 - s0) / units * 1e6


def instructions(
    kind: str, setup: Setup, count: int, tree: Path | None = None
) -> tuple[float, int]:
    """
    User-space instructions of C{kind} under callgrind for C{count} poems
    (slow: clients), and the units served (poems, or chunk-writes); an
    C{ours-tree} runs C{tree}'s C{poetry} (by default L{TREE}'s).
    """
    lg, poem, workdir, slow = setup.lg, setup.poem, setup.workdir, setup.slow
    port = free_port()
    out = workdir / f"callgrind-{kind}-{port}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        *command(kind, port, poem, workdir, slow),
    ]
    server = Server(kind, cmd, port, workdir, env=_env(kind, tree))
    server.start(timeout=300)
    try:
        units = load(lg, port, poem.stat().st_size, count, slow)
        time.sleep(0.5)
    finally:
        assert server.proc is not None
        server.proc.terminate()
        server.proc.wait(timeout=120)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return float(line.split()[1]), units
    raise SystemExit(f"no totals in {out}")


def instructions_per_unit(
    kind: str, setup: Setup, count: int, tree: Path | None = None
) -> float:
    """
    User-space instructions of C{kind} per poem (slow: per chunk-write):
    the difference between a run of C{count} and one of twice as many, so
    that start-up cancels out.
    """
    a, na = instructions(kind, setup, count, tree)
    b, nb = instructions(kind, setup, 2 * count, tree)
    return (b - a) / (nb - na)


def paired(mine: list[float], base: list[float]) -> str:
    """The median of C{mine} over C{base}, round by round, and its range."""
    r = [a / b for a, b in zip(mine, base, strict=True)]
    return f"{statistics.median(r):.2f}x [{min(r):.2f}-{max(r):.2f}]"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cpu")
    p.add_argument("kinds", nargs="*")
    p.add_argument("--poems", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--callgrind", action="store_true")
    p.add_argument("--slow", action="store_true", help="the slow-serve load")
    p.add_argument("--clients", type=int, default=2000, help="slow clients at once")
    p.add_argument("--delay", type=float, default=0.5, help="slow: s between chunks")
    p.add_argument(
        "--tree",
        type=Path,
        help="another checkout (git worktree add, git archive) to run as ours-tree,"
        " to compare two versions of ours in the same rounds",
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="callgrind: measure each kind N times"
    )
    args = p.parse_args(argv)
    known = (SLOW_KINDS if args.slow else KINDS) + (("ours-tree",) if args.tree else ())
    global TREE
    TREE = args.tree.resolve() if args.tree else None
    kinds: list[str] = args.kinds or list(
        ("ours", "naive-slow") if args.slow else KINDS
    )
    for k in kinds:
        if k not in known:
            p.error(f"unknown kind {k!r}; choose from {', '.join(known)}")
    raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="poetry-cpu-"))
    slow = Slow(args.clients, args.delay) if args.slow else None
    count, unit = (args.clients, "chunk") if slow else (args.poems, "poem")
    base = "naive-slow" if slow else "minimal-linger"
    try:
        if slow is None:
            setup = fast_setup(workdir)
        else:
            from bench.run import find_poem

            poem = find_poem("slow-160.txt", 160, workdir)
            setup = Setup(build_loadgen(workdir), poem, workdir, slow)
        if args.callgrind:
            per: dict[str, list[float]] = {k: [] for k in kinds}
            for r in range(args.repeat):
                for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                    per[kind].append(instructions_per_unit(kind, setup, count))
                    print(
                        f"{kind:16} {per[kind][-1]:12,.0f} instructions/{unit}",
                        flush=True,
                    )
            if args.repeat > 1:
                print()
                for kind in kinds:
                    line = f"{kind:16} median {statistics.median(per[kind]):12,.0f}"
                    line += f" [{min(per[kind]):,.0f}-{max(per[kind]):,.0f}]"
                    if base in per:
                        line += f"  /{base} {paired(per[kind], per[base])}"
                    print(line)
            return
        user: dict[str, list[float]] = {k: [] for k in kinds}
        system: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(args.rounds):
            for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                u, s = cpu_round(kind, setup, count)
                user[kind].append(u)
                system[kind].append(s)
                print(
                    f"round {r + 1} {kind:16} user {u:6.1f} sys {s:6.1f} us/{unit}",
                    flush=True,
                )
        print()
        for kind in kinds:
            u, s = statistics.median(user[kind]), statistics.median(system[kind])
            line = f"{kind:16} user {u:6.1f}  sys {s:6.1f}  total {u + s:6.1f}"
            line += f" us/{unit}"
            if base in user:
                tot = [a + b for a, b in zip(user[kind], system[kind], strict=True)]
                btot = [a + b for a, b in zip(user[base], system[base], strict=True)]
                line += f"  user/{base} {paired(user[kind], user[base])}"
                line += f"  total/{base} {paired(tot, btot)}"
            print(line)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
