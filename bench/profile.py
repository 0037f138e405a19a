"""
Profiles of our server and client under the benchmark loads, with py-spy
(a sampling profiler: C{pip install py-spy}; it attaches to the running
process, so the code runs unmodified and at nearly full speed):

  python -m bench.profile fast     # our server, fast serve (1 KB, 64 in flight)
  python -m bench.profile slow     # our server, slow serve (N clients at once)
  python -m bench.profile fanout   # our client, get_poems fan-out

Prints the functions with the most samples, by own time ("self": the code of
that function, not what it calls) and inclusive ("total"), and keeps the
collapsed stacks (a flame graph's input) in C{bench/build/}.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    BENCH,
    LOAD_CPU,
    ROOT,
    BenchError,
    build_loadgen,
    kill,
    pinned,
    raise_file_limit,
)


def pyspy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def record(
    args: list[str], out: Path, duration: float | None = None
) -> subprocess.Popen[bytes]:
    cmd = [pyspy(), "record", "--format", "raw", "--rate", "250", "-o", str(out)]
    if duration is not None:
        cmd += ["--duration", str(int(duration))]
    return subprocess.Popen(
        [*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def summarize(path: Path, top: int = 25, focus: str = "poetry/") -> str:
    """Top functions by self and inclusive samples from py-spy's raw output."""
    self_count: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = [short(f) for f in stack.split(";")]
        if not frames:
            continue
        self_count[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    lines = [f"{samples} samples", "", "self%   function (file:line)"]
    for f, n in self_count.most_common(top):
        lines.append(f"{100 * n / samples:5.1f}   {f}")
    lines += ["", "total%  function (file:line)"]
    for f, n in total.most_common(top + 10):
        lines.append(f"{100 * n / samples:5.1f}   {f}")
    lines += ["", f"total%  functions in {focus}"]
    for f, n in total.most_common():
        if focus in f:
            lines.append(f"{100 * n / samples:5.1f}   {f}")
    return "\n".join(lines)


def short(frame: str) -> str:
    """'func (path/to/file.py)': the path shortened, the line number dropped."""
    frame = re.sub(r":\d+\)$", ")", frame)
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3"):
        i = frame.find(marker)
        if i >= 0:
            j = frame.rfind("(", 0, i)
            frame = frame[: j + 1] + frame[i + len(marker) :]
    return frame


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("scenario", choices=["fast", "slow", "fanout"])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--clients", type=int, default=10000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument(
        "--client",
        default="ours",
        choices=["ours", "minimal"],
        help="fanout: which client to profile",
    )
    args = p.parse_args(argv)
    raise_file_limit()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    from bench.run import Config, Context, find_poem, server_for

    outdir = BENCH / "build"
    outdir.mkdir(exist_ok=True)
    suffix = f"-{args.client}" if args.scenario == "fanout" else ""
    out = outdir / f"profile-{args.scenario}{suffix}.txt"
    workdir = Path(tempfile.mkdtemp(prefix="poetry-profile-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        lg = build_loadgen(workdir)
        kb = find_poem("kilobyte.txt", 1024, workdir)
        s160 = find_poem("slow-160.txt", 160, workdir)
        cfg = Config.make(False, 1)
        ok = (True, "")
        ctx = Context(cfg, workdir, lg, kb, s160, ok, ok, ok)
        if args.scenario == "fanout":
            server = server_for(ctx, "minimal", kb)
            server.start()
            try:
                prof = record(
                    [
                        "--",
                        *pinned(
                            [
                                sys.executable,
                                "-m",
                                "bench.clients",
                                args.client,
                                "--port",
                                str(server.port),
                                "--count",
                                str(args.clients),
                                "--expect",
                                str(kb.stat().st_size),
                            ],
                            LOAD_CPU,
                        ),
                    ],
                    out,
                )
                procs.append(prof)
                prof.wait(timeout=600)
            finally:
                server.stop()
        else:
            slow = args.scenario == "slow"
            server = server_for(
                ctx,
                "ours",
                s160 if slow else kb,
                delay=0.5 if slow else None,
                chunk=16 if slow else None,
            )
            server.start()
            try:
                time.sleep(0.3)
                if slow:
                    load = [
                        str(lg),
                        "slow",
                        "--port",
                        str(server.port),
                        "--expect",
                        "160",
                        "--clients",
                        str(args.clients),
                        "--chunk",
                        "16",
                        "--delay",
                        "0.5",
                        "--timeout",
                        "30",
                    ]
                    seconds = 7.0
                else:
                    load = [
                        str(lg),
                        "fast",
                        "--port",
                        str(server.port),
                        "--expect",
                        str(kb.stat().st_size),
                        "--conns",
                        "64",
                        "--duration",
                        str(args.seconds + 2),
                    ]
                    seconds = args.seconds
                gen = subprocess.Popen(pinned(load, LOAD_CPU), stdout=subprocess.PIPE)
                procs.append(gen)
                prof = record(["--pid", str(server.pid)], out, duration=seconds)
                procs.append(prof)
                prof.wait(timeout=seconds + 60)
                stdout, _ = gen.communicate(timeout=120)
                print(stdout.decode().strip())
            finally:
                server.stop()
        if not out.exists():
            raise BenchError(f"py-spy wrote no profile to {out}")
        print(summarize(out, args.top))
        print(f"\ncollapsed stacks: {out}")
    finally:
        for proc in procs:
            kill(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
