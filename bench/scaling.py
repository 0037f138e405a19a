"""
Scenarios of issue 14, past one core: C{workers} (fast serve with
C{--workers 2} against C{--workers 1}, and what the supervision costs) and
C{haproxy} (poems per second through a real HAProxy against direct).  Both
run in the same way as the fast scenario (the C load generator, 64
connections in flight, runs paired in time, order rotated), but unpinned:
two workers need both cores, which they share with the load generator (and
HAProxy), as they would on this 2-core machine in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    BenchError,
    Server,
    free_port,
    kill,
    listening,
    paired_runs,
    proc_cpu,
)
from bench.run import (
    Context,
    Row,
    fast_load,
    one_decimal,
    python_env,
    ratio_row,
    spread,
    twistd_command,
    unavailable,
    warm_up,
)

__all__ = ["scenario_haproxy", "scenario_workers"]


def children(pid: int) -> list[int]:
    """The child processes of C{pid} (its workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def ours(ctx: Context, port: str, *extra: str) -> Server:
    """Our server on C{port} (a description), logging to a file, unpinned."""
    number = free_port()
    cmd = [
        *twistd_command(),
        "-n",
        "--logfile",
        str(ctx.workdir / f"scaling-{number}.log"),
        "--pidfile",
        str(ctx.workdir / f"scaling-{number}.pid"),
        "poetry",
        "--port",
        port.format(port=number),
        "--poem",
        str(ctx.kilobyte),
        *extra,
    ]
    return Server("ours", cmd, number, ctx.workdir, cpu=None, env=python_env())


def measure(ctx: Context, port: int, pids: list[int]) -> dict[str, Any]:
    """A warm-up, then one timed fast run against C{port}; CPU of C{pids}."""
    size = ctx.kilobyte.stat().st_size
    warm_up(ctx, port)
    cpu0 = [proc_cpu(p) for p in pids]
    lg = fast_load(ctx, port, size)
    cpu1 = [proc_cpu(p) for p in pids]
    poems = max(lg["poems"], 1)
    lg["cpu_per_poem_us"] = [
        (b - a) / poems * 1e6 for a, b in zip(cpu0, cpu1, strict=True)
    ]
    return lg


def workers_once(ctx: Context, workers: int) -> dict[str, Any]:
    server = ours(ctx, "tcp:{port}:interface=127.0.0.1", "--workers", str(workers))
    try:
        server.start()
        pids = [server.pid]
        if workers > 1:
            for _ in range(200):
                pids = [server.pid, *children(server.pid)]
                if len(pids) == workers + 1:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # every worker adopting the socket
        r = measure(ctx, server.port, pids)
        if not server.alive():
            raise BenchError(f"--workers {workers} server died during the run")
    finally:
        server.stop()
    per = r["cpu_per_poem_us"]
    r["parent_us"] = per[0] if workers > 1 else 0.0
    r["total_us"] = sum(per)
    return r


def scenario_workers(ctx: Context) -> list[Row]:
    sc = "8 workers"
    if not ctx.ours_server[0]:
        return [unavailable(sc, "poems/s --workers 2 vs 1", ctx.ours_server[1])]
    runs = paired_runs(ctx.cfg.reps, (1, 2), lambda n: workers_once(ctx, n))
    pps = {k: spread(v, "poems_per_s") for k, v in runs.items()}
    ctx.detail_runs(
        sc,
        runs,
        lambda r: (
            f"{r['poems_per_s']:,.0f} poems/s, "
            f"{r['failures']} failures, p99 {r['lat_p99'] * 1e3:.2f} ms, CPU per "
            f"poem {r['total_us']:.1f} us (parent {r['parent_us']:.1f} us), "
            f"load generator CPU {r['cpu_frac']:.0%}"
        ),
        lambda k: f"--workers {k}",
    )
    parent = spread(runs[2], "parent_us")
    total = {k: spread(v, "total_us") for k, v in runs.items()}
    fails = sum(r["failures"] for v in runs.values() for r in v)
    return [
        ratio_row(
            sc,
            "poems/s --workers 2 vs --workers 1",
            pps[2],
            pps[1],
            "--workers 1",
            target=">= 1.3x",
            judge=(">=", 1.3),
        ),
        Row(
            sc,
            "supervision CPU per poem (the parent, us)",
            parent.fmt(".1f"),
            "",
            "",
            "",
            "info",
        ),
        ratio_row(
            sc,
            "CPU per poem, all processes (us)",
            total[2],
            total[1],
            "--workers 1",
            one_decimal,
        ),
        Row(sc, "failures", str(fails), "", "", "0", "PASS" if fails == 0 else "MISS"),
    ]


HAPROXY_CFG = """\
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend poetry
    bind 127.0.0.1:{front}
    default_backend poets
backend poets
    balance leastconn
    server poet1 127.0.0.1:{backend} send-proxy-v2 check inter 1s
"""


def find_haproxy() -> str | None:
    found = shutil.which("haproxy")
    if found is None and os.access("/usr/sbin/haproxy", os.X_OK):
        found = "/usr/sbin/haproxy"
    return found


def haproxy_once(ctx: Context, haproxy: str, through: bool) -> dict[str, Any]:
    port = (
        "haproxy:tcp:{port}:interface=127.0.0.1"
        if through
        else "tcp:{port}:interface=127.0.0.1"
    )
    server = ours(ctx, port)
    balancer = None
    try:
        server.start()
        target, pids = server.port, [server.pid]
        if through:
            front = free_port()
            cfg = Path(ctx.workdir) / f"haproxy-{front}.cfg"
            cfg.write_text(HAPROXY_CFG.format(front=front, backend=server.port))
            balancer = subprocess.Popen(
                [haproxy, "-db", "-f", str(cfg)],
                cwd=ctx.workdir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(200):
                if listening(front):
                    break
                time.sleep(0.02)
            target, pids = front, [server.pid, balancer.pid]
        r = measure(ctx, target, pids)
    finally:
        if balancer is not None:
            kill(balancer)
        server.stop()
    r["server_us"] = r["cpu_per_poem_us"][0]
    r["haproxy_us"] = r["cpu_per_poem_us"][1] if through else 0.0
    return r


def scenario_haproxy(ctx: Context) -> list[Row]:
    sc = "9 haproxy"
    metric = "poems/s through HAProxy vs direct"
    haproxy = find_haproxy()
    if not ctx.ours_server[0]:
        return [unavailable(sc, metric, ctx.ours_server[1])]
    if haproxy is None:
        return [unavailable(sc, metric, "haproxy not installed")]
    runs = paired_runs(
        ctx.cfg.reps, (False, True), lambda through: haproxy_once(ctx, haproxy, through)
    )
    ctx.detail_runs(
        sc,
        runs,
        lambda r: (
            f"{r['poems_per_s']:,.0f} poems/s, {r['failures']} failures, p99 "
            f"{r['lat_p99'] * 1e3:.2f} ms, server {r['server_us']:.1f} us/poem, "
            f"HAProxy {r['haproxy_us']:.1f} us/poem"
        ),
        lambda k: "through HAProxy" if k else "direct",
    )
    pps = {k: spread(v, "poems_per_s") for k, v in runs.items()}
    fails = sum(r["failures"] for v in runs.values() for r in v)
    return [
        ratio_row(sc, metric, pps[True], pps[False], "direct"),
        Row(
            sc,
            "server CPU per poem behind HAProxy (us)",
            spread(runs[True], "server_us").fmt(".1f"),
            f"direct {spread(runs[False], 'server_us').fmt('.1f')}",
            "",
            "",
            "info",
        ),
        Row(
            sc,
            "HAProxy CPU per poem (us)",
            spread(runs[True], "haproxy_us").fmt(".1f"),
            "",
            "",
            "",
            "info",
        ),
        Row(sc, "failures", str(fails), "", "", "0", "PASS" if fails == 0 else "MISS"),
    ]
