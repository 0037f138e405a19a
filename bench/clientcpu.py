"""
A profiling aid for the client fan-out scenario: the client's cost per poem
for C{poetry.client.get_poems} (C{ours}) and the bare Protocol+ClientFactory
baseline (C{minimal}), both from C{bench/clients.py}, against the minimal
Twisted server, in each of the suite's three variants:

  python -m bench.clientcpu                      # paired CPU runs, 3 rounds
  python -m bench.clientcpu --rounds 5 --poems 10000 --variants default all
  python -m bench.clientcpu --callgrind          # instructions per poem

  - C{default}: ours with its default options (20 in flight to the one
    server), minimal with 20 connections open.
  - C{c100}: ours with C{--concurrency 100 --per-server 100}, minimal 100.
  - C{all}: ours with no limits (C{--all-at-once}), minimal all at once.

Without C{--callgrind}, each round runs both clients once per variant, one
after the other (the order alternating), and reads the CPU time (user +
system, getrusage) each reports for its fetch; the median per kind and the
median of the ratios paired by round are printed.  The machine is shared, so
these figures are noisy.

With C{--callgrind}, each client runs under valgrind's callgrind, once with
C{--poems} and once with twice as many, and the difference gives user-space
instructions per poem: start-up and imports cancel out, and other
processes' load does not change the count.  It leaves out system time (the
kernel's TCP work), about the same for both clients.  No target here: the
suite (C{python -m bench --only fanout}) holds the target.
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
from pathlib import Path

from bench import clients
from bench.harness import LOAD_CPU, ROOT, Server, free_port, pinned, raise_file_limit

#: variant -> (ours' extra options, minimal's concurrency; 0: all at once)
VARIANTS: dict[str, tuple[list[str], int]] = {
    "default": ([], 20),
    "c100": (["--concurrency", "100", "--per-server", "100"], 100),
    "all": (["--all-at-once"], 0),
}

KINDS = ("minimal", "ours")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def client_command(
    kind: str, variant: str, port: int, poems: int, size: int
) -> list[str]:
    """The command line of one client run."""
    extra, concurrency = VARIANTS[variant]
    if kind == "minimal":
        return clients.command(kind, port, poems, size, concurrency or poems)
    return clients.command(kind, port, poems, size, extra=extra)


def _run(cmd: list[str]) -> dict[str, object]:
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=1200, env=_env(), cwd=ROOT
    )
    try:
        result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(
            f"client failed: {out.stdout[-500:]} {out.stderr[-2000:]}"
        ) from None
    if result.get("failures"):
        # All at once can overflow the server's listen queue (the suite
        # does not judge failures there); the figure is then suspect.
        print(f"  (lost poems, figure suspect: {result})", file=sys.stderr)
    return result


def cpu_per_poem(kind: str, variant: str, port: int, poems: int, size: int) -> float:
    """Microseconds of CPU per poem of one run of C{kind}."""
    cmd = pinned(client_command(kind, variant, port, poems, size), LOAD_CPU)
    result = _run(cmd)
    return float(result["cpu"]) / max(int(result["poems"]), 1) * 1e6  # type: ignore[call-overload]


def instructions(
    kind: str, variant: str, port: int, poems: int, size: int, workdir: Path
) -> float:
    """User-space instructions of one whole run of C{kind} under callgrind."""
    out = workdir / f"callgrind-{kind}-{variant}-{poems}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        *client_command(kind, variant, port, poems, size),
    ]
    _run(cmd)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return float(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.clientcpu")
    p.add_argument(
        "--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS)
    )
    p.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    p.add_argument("--poems", type=int, default=None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--callgrind", action="store_true")
    args = p.parse_args(argv)
    poems = args.poems or (2000 if args.callgrind else 10000)
    raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="poetry-clientcpu-"))
    try:
        poem = workdir / "kilobyte.txt"
        poem.write_bytes(
            (b"All work and no play makes a poem a dull poem.\n" * 22)[:1024]
        )
        size = poem.stat().st_size
        port = free_port()
        server_cmd = [
            sys.executable,
            "-m",
            "bench.servers",
            "minimal",
            "--port",
            str(port),
            "--poem",
            str(poem),
        ]
        with Server("minimal", server_cmd, port, workdir, env=_env()):
            for variant in args.variants:
                if args.callgrind:
                    per: dict[str, float] = {}
                    for kind in args.kinds:
                        a = instructions(kind, variant, port, poems, size, workdir)
                        b = instructions(kind, variant, port, 2 * poems, size, workdir)
                        per[kind] = (b - a) / poems
                        count = f"{per[kind]:12,.0f}"
                        print(
                            f"{variant:8} {kind:8} {count} instructions/poem",
                            flush=True,
                        )
                    if len(per) == 2:
                        ratio = per["ours"] / per["minimal"]
                        print(f"{variant:8} ours/minimal {ratio:.3f}x", flush=True)
                    continue
                cpu: dict[str, list[float]] = {k: [] for k in args.kinds}
                for r in range(args.rounds):
                    order = args.kinds if r % 2 == 0 else args.kinds[::-1]
                    for kind in order:
                        cpu[kind].append(cpu_per_poem(kind, variant, port, poems, size))
                    print(
                        f"{variant:8} round {r + 1}: "
                        + ", ".join(f"{k} {cpu[k][-1]:.1f}" for k in args.kinds)
                        + " us/poem",
                        flush=True,
                    )
                line = f"{variant:8} " + ", ".join(
                    f"{k} {statistics.median(cpu[k]):.1f}" for k in args.kinds
                )
                if len(cpu) == 2:
                    paired = [
                        a / b for a, b in zip(cpu["ours"], cpu["minimal"], strict=True)
                    ]
                    line += (
                        f" us/poem; ours/minimal {statistics.median(paired):.3f}x"
                        f" [{min(paired):.3f}-{max(paired):.3f}]"
                    )
                print(line, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
