"""
A profiling aid: server CPU per poem under the fast-serve load, user and
system time apart, for our server and the Twisted baselines, with the
baselines also run under C{twistd} (to price what twistd itself adds: its
global log observers, its log file).

  python -m bench.cpu                       # every kind, 3 rounds
  python -m bench.cpu ours twistd-linger --poems 40000 --rounds 5

Each round runs every kind once, one after the other (order rotated), with
the same fixed number of poems (C{--poems}, 64 in flight), after a warm-up;
CPU is read from C{/proc} before and after.  User time is what our code and
Twisted's cost; system time is mostly the kernel's TCP work, about the same
for every server that makes the same system calls.  Median per kind, and
each kind's ratio to C{minimal-linger} paired by round.  No target here: the
suite (C{python -m bench}) holds the targets.

C{--callgrind} runs each server under valgrind's callgrind instead and
reports user-space instructions per poem (the difference between a run of
C{--poems} and one of twice as many, so start-up cancels out): repeatable
on a loaded machine, where CPU time is not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def command(kind: str, port: int, poem: Path, workdir: Path) -> list[str]:
    """The command line of one server C{kind} on C{port}."""
    from bench.run import twistd_command

    twistd = twistd_command()
    pid = ["--pidfile", str(workdir / f"{kind}-{port}.pid")]
    log = ["--logfile", str(workdir / f"{kind}-{port}.log")]
    if kind in ("minimal", "minimal-linger"):
        return [
            sys.executable,
            "-m",
            "bench.servers",
            kind,
            "--port",
            str(port),
            "--poem",
            str(poem),
        ]
    if kind == "twistd-linger":
        tac = workdir / f"linger-{port}.tac"
        tac.write_text(TAC.format(poem=str(poem), port=port))
        return [*twistd, "-n", *log, *pid, "-y", str(tac)]
    if kind == "ours-nolog":
        log = ["--logger", "bench.servers.discarding_observer"]
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
    ]


def load(lg: Path, port: int, size: int, poems: int) -> None:
    out = subprocess.run(
        pinned(
            [
                str(lg),
                "fast",
                "--port",
                str(port),
                "--expect",
                str(size),
                "--conns",
                "64",
                "--total",
                str(poems),
                "--timeout",
                "60",
            ],
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
    if result.get("poems") != poems or result.get("failures"):
        raise SystemExit(f"load generator failed: {out.stdout} {out.stderr}")


def cpu_round(
    kind: str, lg: Path, poem: Path, workdir: Path, poems: int
) -> tuple[float, float]:
    """User and system microseconds per poem of one run of C{kind}."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    server = Server(kind, command(kind, port, poem, workdir), port, workdir, env=env)
    server.start()
    try:
        load(lg, port, poem.stat().st_size, 500)
        u0, s0 = proc_user_sys(server.pid)
        load(lg, port, poem.stat().st_size, poems)
        u1, s1 = proc_user_sys(server.pid)
    finally:
        server.stop()
    return (u1 - u0) / poems * 1e6, (s1 - s0) / poems * 1e6


def instructions(kind: str, lg: Path, poem: Path, workdir: Path, poems: int) -> float:
    """User-space instructions of C{kind} under callgrind for C{poems} poems."""
    port = free_port()
    out = workdir / f"callgrind-{kind}-{port}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        *command(kind, port, poem, workdir),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    server = Server(kind, cmd, port, workdir, env=env)
    server.start(timeout=300)
    try:
        load(lg, port, poem.stat().st_size, poems)
        time.sleep(0.5)
    finally:
        assert server.proc is not None
        server.proc.terminate()
        server.proc.wait(timeout=120)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return float(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cpu")
    p.add_argument("kinds", nargs="*", default=list(KINDS))
    p.add_argument("--poems", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--callgrind", action="store_true")
    args = p.parse_args(argv)
    for k in args.kinds:
        if k not in KINDS:
            p.error(f"unknown kind {k!r}; choose from {', '.join(KINDS)}")
    raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="poetry-cpu-"))
    try:
        lg = build_loadgen(workdir)
        poem = workdir / "kilobyte.txt"
        poem.write_bytes(
            (b"All work and no play makes a poem a dull poem.\n" * 22)[:1024]
        )
        if args.callgrind:
            for kind in args.kinds:
                a = instructions(kind, lg, poem, workdir, args.poems)
                b = instructions(kind, lg, poem, workdir, 2 * args.poems)
                print(
                    f"{kind:16} {(b - a) / args.poems:12,.0f} instructions/poem",
                    flush=True,
                )
            return
        user: dict[str, list[float]] = {k: [] for k in args.kinds}
        system: dict[str, list[float]] = {k: [] for k in args.kinds}
        for r in range(args.rounds):
            order = (
                args.kinds[r % len(args.kinds) :] + args.kinds[: r % len(args.kinds)]
            )
            for kind in order:
                u, s = cpu_round(kind, lg, poem, workdir, args.poems)
                user[kind].append(u)
                system[kind].append(s)
                print(
                    f"round {r + 1} {kind:16} user {u:6.1f} sys {s:6.1f} us/poem",
                    flush=True,
                )
        print()
        base = "minimal-linger" if "minimal-linger" in user else None
        for kind in args.kinds:
            u, s = statistics.median(user[kind]), statistics.median(system[kind])
            line = f"{kind:16} user {u:6.1f}  sys {s:6.1f}  total {u + s:6.1f} us/poem"
            if base:
                tot = [
                    (a + b) / (c + d)
                    for a, b, c, d in zip(
                        user[kind], system[kind], user[base], system[base], strict=True
                    )
                ]
                line += f"  total/{base} {statistics.median(tot):.2f}x"
            print(line)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
