"""
The benchmark suite: nine scenarios, each measuring our server or client
beside a baseline in the same run, printed as a table and written to
C{bench/RESULTS.md}.

    python -m bench                 # full run (a few minutes), writes RESULTS.md
    python -m bench --quick         # seconds; proves the suite works (CI)
    python -m bench --only fast     # one scenario (fast, slow, fanout,
                                    # concurrency, memory, admin, mix,
                                    # workers, haproxy;
                                    # comma-separated),
                                    # written to bench/build/RESULTS-partial.md

Each figure is the median over repetitions with its min-max range, and every
comparison is a ratio of runs paired in time (ours and the baseline measured
one after the other, order rotated each repetition), because these machines
are shared and noisy.  Targets are printed with PASS or MISS beside them; a
miss never fails the suite: it exits non-zero only when the suite itself
broke.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import clients as client_drivers
from bench import servers as baselines
from bench.harness import (
    BENCH,
    CLK_TCK,
    LOAD_CPU,
    ROOT,
    SERVER_CPU,
    BenchError,
    RssSampler,
    Server,
    Spread,
    build_loadgen,
    core_busy,
    core_times,
    free_port,
    listen_overflows,
    paired_runs,
    proc_user_sys,
    python_tool,
    raise_file_limit,
    ratios,
    run_json,
    run_measured,
)

NOT_AVAILABLE = "not available"
SCENARIOS = (
    "fast", "slow", "fanout", "concurrency", "memory", "admin", "mix", "workers",
    "haproxy",
)  # fmt: skip

#: Our server with a fault mix (scenario "mix"), by kind.  "ours-mix": every
#: connection draws from a mix (and has its peer checked) but the mix targets
#: only TEST-NET-1 (192.0.2.0/24, RFC 5737: never a real client, and nothing
#: is ever sent there), so every loopback client is served normally: the
#: mix's own cost on the fast path.  "ours-mix-hit": one connection in ten
#: plays latency:0 (the whole poem, through the fault's own protocol).
MIX_KINDS: dict[str, list[str]] = {
    "ours-mix": [
        "--fault", "reset:0@0.3", "--fault", "latency:1@0.2", "--seed", "1",
        "--fault-peer", "192.0.2.0/24",
    ],
    "ours-mix-hit": ["--fault", "latency:0@0.1", "--seed", "1"],
}  # fmt: skip


@dataclass
class Config:
    """Sizes and repetitions of one run."""

    quick: bool
    reps: int
    fast_seconds: float
    fast_conns: int
    slow_sizes: list[int]
    slow_delay: float
    slow_chunk: int
    fanout_count: int
    concurrency_unit: float
    mem_poems: int
    mem_idle: int

    @classmethod
    def make(cls, quick: bool, reps: int | None) -> Config:
        if quick:
            return cls(
                quick=True,
                reps=reps or 1,
                fast_seconds=1.0,
                fast_conns=64,
                slow_sizes=[200],
                slow_delay=0.25,
                slow_chunk=16,
                fanout_count=300,
                concurrency_unit=0.01,
                mem_poems=200,
                mem_idle=200,
            )
        return cls(
            quick=False,
            reps=reps or 3,
            fast_seconds=5.0,
            fast_conns=64,
            slow_sizes=[10000, 1000],
            slow_delay=0.5,
            slow_chunk=16,
            fanout_count=10000,
            concurrency_unit=0.05,
            mem_poems=1000,
            mem_idle=1000,
        )


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    metric: str
    ours: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


@dataclass
class Context:
    """What every scenario needs: config, paths, tools, and what exists."""

    cfg: Config
    workdir: Path
    loadgen: Path
    kilobyte: Path
    slow160: Path
    ours_server: tuple[bool, str]
    ours_client: tuple[bool, str]
    ours_cli: tuple[bool, str]
    notes: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, list[str]] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    def note(self, scenario: str, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)

    def detail(self, scenario: str, text: str) -> None:
        self.details.setdefault(scenario, []).append(text)

    def detail_runs(
        self,
        scenario: str,
        runs: Mapping[Any, Sequence[dict[str, Any]]],
        describe: Callable[[dict[str, Any]], str],
        name: Callable[[Any], str] = str,
    ) -> None:
        """
        One detail line per run of each kind in C{runs} (as L{paired_runs}
        returns them): C{KIND run N: } (the kind as C{name} writes it), then
        what C{describe} says of that run's results.
        """
        for kind, results in runs.items():
            for number, result in enumerate(results, 1):
                self.detail(scenario, f"{name(kind)} run {number}: {describe(result)}")


# --- commands -----------------------------------------------------------------


def twistd_command() -> list[str]:
    return python_tool("twistd") or [
        sys.executable,
        "-c",
        "import sys; from twisted.scripts.twistd import run; "
        "sys.argv[0] = 'twistd'; run()",
    ]


def cli_command() -> list[str]:
    return python_tool("get-poetry") or [sys.executable, "-m", "poetry"]


def python_env() -> dict[str, str]:
    """The environment with this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not paths or paths[0] != str(ROOT):
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])
    return env


def probe(cmd: Sequence[str], want: bytes, cwd: Path) -> tuple[bool, str]:
    try:
        r = subprocess.run(
            cmd,
            capture_output=True,
            timeout=60,
            cwd=cwd,
            env=python_env(),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{cmd[0]}: {e}"
    if r.returncode != 0 or want not in r.stdout + r.stderr:
        last = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
        return False, f"exit {r.returncode}: {last[-1] if last else ''}"[:200]
    return True, ""


def find_ours(
    workdir: Path,
) -> tuple[tuple[bool, str], tuple[bool, str], tuple[bool, str]]:
    """Which of our pieces exist and work: server, client library, CLI."""
    files = [
        "poetry/server/__init__.py",
        "poetry/service/__init__.py",
        "twisted_plugins/poetry_plugin.py",
    ]
    missing = [f for f in files if not (ROOT / f).exists()]
    if missing:
        server = (False, "missing " + ", ".join(missing))
    else:
        server = probe(
            [*twistd_command(), "-n", "poetry", "--help"], b"--delay", workdir
        )
    if not (ROOT / "poetry/client/__init__.py").exists():
        client = (False, "missing poetry/client/__init__.py")
    else:
        client = probe(
            [sys.executable, "-c", "from poetry.client import get_poems; print('ok')"],
            b"ok",
            workdir,
        )
    if not (ROOT / "poetry/cli/__init__.py").exists():
        cli = (False, "missing poetry/cli/__init__.py")
    else:
        cli = probe([*cli_command(), "--help"], b"usage", workdir)
        if not cli[0]:
            cli = probe([*cli_command(), "--help"], b"Usage", workdir)
    return server, client, cli


def server_for(
    ctx: Context,
    kind: str,
    poem: Path,
    *,
    delay: float | None = None,
    chunk: int | None = None,
    cpu: int | None = 0,
) -> Server:
    """A L{Server} (not started) of kind C{ours} or a baseline in bench.servers."""
    port = free_port()
    if kind in ("ours", "ours-nolog", *MIX_KINDS):
        if kind != "ours-nolog":
            logging = ["--logfile", str(ctx.workdir / f"{kind}-{port}.log")]
        else:
            logging = ["--logger", "bench.servers.discarding_observer"]
        cmd = [
            *twistd_command(),
            "-n",
            *logging,
            "--pidfile",
            str(ctx.workdir / f"ours-{port}.pid"),
            "poetry",
            "--port",
            f"tcp:{port}:interface=127.0.0.1",
            "--poem",
            str(poem),
            *MIX_KINDS.get(kind, []),
        ]
        if delay is not None:
            cmd += ["--delay", repr(delay), "--chunk-size", str(chunk)]
    else:
        log = ["--logfile", str(ctx.workdir / f"{kind}-{port}.log")]
        cmd = baselines.command(kind, port, str(poem), *log)
        if delay is not None:
            cmd += ["--delay", repr(delay), "--chunk-size", str(chunk)]
    return Server(kind, cmd, port, ctx.workdir, cpu=cpu, env=python_env())


def loadgen(ctx: Context, *args: object, timeout: float) -> dict[str, Any]:
    return run_json([str(ctx.loadgen), *map(str, args)], timeout=timeout, cpu=LOAD_CPU)


# --- formatting ---------------------------------------------------------------


def warm_up(ctx: Context, port: int) -> None:
    """Fetch 300 poems from the fast server on C{port}, as every fast run
    does first; a server that serves none is broken, not slow."""
    warm = loadgen(
        ctx,
        "fast",
        "--port",
        port,
        "--expect",
        ctx.kilobyte.stat().st_size,
        "--conns",
        ctx.cfg.fast_conns,
        "--total",
        300,
        "--timeout",
        10,
        timeout=60,
    )
    if warm["poems"] == 0:
        raise BenchError(f"warm-up on port {port} served no poems: {warm}")


def fast_load(ctx: Context, port: int, size: int) -> dict[str, Any]:
    """
    One timed fast run against the server on C{port} (poems of C{size}
    bytes): C{fast_conns} connections kept busy for C{fast_seconds}.
    """
    cfg = ctx.cfg
    return loadgen(
        ctx,
        "fast",
        "--port",
        port,
        "--expect",
        size,
        "--conns",
        cfg.fast_conns,
        "--duration",
        cfg.fast_seconds,
        "--timeout",
        10,
        timeout=cfg.fast_seconds + 60,
    )


def slow_load(ctx: Context, port: int, size: int, clients: int) -> dict[str, Any]:
    """C{clients} slow clients at once against the slow server on C{port}."""
    cfg = ctx.cfg
    return loadgen(
        ctx,
        "slow",
        "--port",
        port,
        "--expect",
        size,
        "--clients",
        clients,
        "--chunk",
        cfg.slow_chunk,
        "--delay",
        cfg.slow_delay,
        "--window",
        256,
        "--timeout",
        30,
        timeout=120,
    )


def fmt_rate(s: Spread) -> str:
    return s.fmt(",.0f")


def fmt_ratio(s: Spread) -> str:
    if not s.values:
        return "n/a"
    if len(s.values) == 1:
        return f"{s.median:.2f}x"
    return f"{s.median:.2f}x [{s.lo:.2f}-{s.hi:.2f}]"


def verdict(value: float, op: str, target: float) -> str:
    if value != value:  # NaN
        return "n/a"
    ok = value >= target if op == ">=" else value <= target
    return "PASS" if ok else "MISS"


def spread(
    runs: Sequence[dict[str, Any]], key: str | Callable[[dict[str, Any]], float]
) -> Spread:
    get = key if callable(key) else (lambda r: float(r[key]))
    return Spread([get(r) for r in runs])


def one_decimal(s: Spread) -> str:
    """A spread of microseconds (CPU per poem or chunk), as rows show them."""
    return s.fmt(".1f")


def ratio_row(
    scenario: str,
    metric: str,
    ours: Spread,
    base: Spread,
    base_name: str,
    shown: Callable[[Spread], str] = fmt_rate,
    *,
    target: str = "",
    judge: tuple[str, float] | None = None,
    absolute: bool = False,
) -> Row:
    """
    The row comparing C{ours} with C{base}, measured in the same paired
    runs: each figure as C{shown} writes it (the baseline named
    C{base_name}), the per-run ratio, C{target} as written, and the verdict
    of the ratio's median (with C{absolute}, of C{ours}' own median: a
    bound in its own unit) against C{judge} (an operator and a value), or
    C{info} without one.
    """
    r = ratios(ours.values, base.values)
    judged = ours.median if absolute else r.median
    return Row(
        scenario,
        metric,
        shown(ours),
        f"{base_name} {shown(base)}",
        fmt_ratio(r),
        target,
        verdict(judged, *judge) if judge is not None else "info",
    )


def two_decimals(s: Spread) -> str:
    """A spread of kilobytes per connection, as rows show them."""
    return s.fmt(".2f")


def unavailable(scenario: str, metric: str, why: str, baseline: str = "") -> Row:
    return Row(scenario, metric, NOT_AVAILABLE, baseline, "n/a", "", f"n/a ({why})")


# --- scenario 1: fast serve ---------------------------------------------------


#: A fast-serve run is "disturbed" when the server's core was busier than
#: the server itself by more than this fraction: another process (these
#: machines are shared) took the server's CPU, so its poems/s mean little.
DISTURBED = 0.15
RETRIES = 2


def fast_undisturbed(ctx: Context, kind: str, sc: str) -> dict[str, Any]:
    """L{fast_once}, repeated (at most L{RETRIES} times) while disturbed."""
    for attempt in range(RETRIES + 1):
        r = fast_once(ctx, kind)
        other = r["server_core_busy"] - r["server_cpu_frac"]
        r["disturbed"] = other > DISTURBED
        if not r["disturbed"]:
            return r
        ctx.note(
            sc,
            f"{kind}: a run was disturbed (server core {r['server_core_busy']:.0%} "
            f"busy, server {r['server_cpu_frac']:.0%}: another process used the "
            f"server's CPU)" + ("; repeated" if attempt < RETRIES else "; kept"),
        )
    return r


def fast_once(ctx: Context, kind: str) -> dict[str, Any]:
    size = ctx.kilobyte.stat().st_size
    server = server_for(ctx, kind, ctx.kilobyte)
    try:
        server.start()
        warm_up(ctx, server.port)
        cpu0 = server.cpu_time()
        ovf0 = listen_overflows()
        cores0 = core_times()
        lg = fast_load(ctx, server.port, size)
        cores1 = core_times()
        cpu1 = server.cpu_time()
        ovf1 = listen_overflows()
        if not server.alive():
            raise BenchError(f"server {kind} died during the run")
    finally:
        server.stop()
    poems = max(lg["poems"], 1)
    lg["server_cpu"] = cpu1 - cpu0
    lg["server_cpu_per_poem_us"] = (cpu1 - cpu0) / poems * 1e6
    lg["server_cpu_frac"] = (cpu1 - cpu0) / lg["wall"]
    lg["server_core_busy"] = core_busy(cores0, cores1, SERVER_CPU)
    lg["load_core_busy"] = core_busy(cores0, cores1, LOAD_CPU)
    lg["overflows"] = ovf1[0] - ovf0[0]
    lg["drops"] = ovf1[1] - ovf0[1]
    return lg


#: Fast serve's baselines beside C{minimal} (bench/servers.py): each that
#: closes without lingering has a C{-linger} twin keeping the wire contract.
BASELINES = (
    "minimal-linger",
    "asyncio",
    "asyncio-linger",
    "logging",
    "logging-linger",
)


def scenario_fast(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    sc = "1 fast serve"
    kinds = ["minimal", *BASELINES]
    if ctx.ours_server[0]:
        # ours-nolog: our server with every log event discarded (twistd
        # --logger), to show what the access log costs.
        kinds[:0] = ["ours", "ours-nolog"]
    runs = paired_runs(cfg.reps, kinds, lambda kind: fast_undisturbed(ctx, kind, sc))
    pps = {k: spread(v, "poems_per_s") for k, v in runs.items()}
    cpp = {k: spread(v, "server_cpu_per_poem_us") for k, v in runs.items()}

    for k, v in runs.items():
        for i, r in enumerate(v):
            ctx.detail(
                sc,
                f"{k} run {i + 1}: {r['poems_per_s']:,.0f} poems/s, "
                f"{r['poems']} poems, "
                f"{r['failures']} failures, latency p50 {r['lat_p50'] * 1e3:.2f} ms "
                f"p99 {r['lat_p99'] * 1e3:.2f} ms max {r['lat_max'] * 1e3:.1f} ms, "
                f"{r['stalls']} stalls >= 0.9 s, listen overflows {r['overflows']}, "
                f"server CPU {r['server_cpu_frac']:.0%} of a core "
                f"({r['server_cpu_per_poem_us']:.1f} us/poem), "
                f"load generator CPU {r['cpu_frac']:.0%}; cores busy (incl. kernel "
                f"softirq): server core {r['server_core_busy']:.0%}, load core "
                f"{r['load_core_busy']:.0%}",
            )
            if r["load_core_busy"] > 0.95 and r["server_core_busy"] < 0.9:
                ctx.note(
                    sc,
                    f"{k} run {i + 1}: load-generator bound (load core "
                    f"{r['load_core_busy']:.0%} busy, server core "
                    f"{r['server_core_busy']:.0%})",
                )

    rows: list[Row] = []
    # The targets are held against the baselines that keep the wire contract
    # (half-close, then close once the client has: the "-linger" kinds), the
    # same job ours does.  minimal, asyncio and logging close without
    # lingering (a client's stray bytes can reset the poem away); ours
    # against them is shown for context.  The 1.6x over logging (set when
    # logging ran at 0.54x minimal) is above what any lingering server can
    # reach against either logging baseline: minimal-linger's own ratio is
    # shown as its bound (bench/ANALYSIS.md).
    targets: dict[str, float | None] = {
        "minimal-linger": 0.90,
        "asyncio-linger": 1.25,
        "logging-linger": None,
        "asyncio": None,
        "logging": None,
    }
    for base, target in targets.items():
        metric = f"poems/s vs {base}"
        if target is None:
            metric = f"(context) {metric}"
        if "ours" not in runs:
            rows.append(
                unavailable(
                    sc, metric, ctx.ours_server[1], f"{base} {fmt_rate(pps[base])}"
                )
            )
            continue
        if target is None:
            bound = ratios(pps["minimal-linger"].values, pps[base].values)
            rows.append(
                ratio_row(
                    sc, metric, pps["ours"], pps[base], base,
                    target=f"bound {bound.median:.2f}x",
                )
            )  # fmt: skip
        else:
            rows.append(
                ratio_row(
                    sc, metric, pps["ours"], pps[base], base,
                    target=f">= {target}x", judge=(">=", target),
                )
            )  # fmt: skip
    for base in BASELINES:
        rows.append(
            ratio_row(
                sc, f"(context) {base} poems/s vs minimal", pps[base],
                pps["minimal"], "minimal",
                target={"asyncio": "ref 0.68x", "logging": "ref 0.54x"}.get(base, ""),
            )
        )  # fmt: skip
    if "ours" in runs:
        # No server that keeps the wire contract can beat minimal-linger's
        # own ratio to minimal: shown as the bound of ours vs minimal.
        bound = ratios(pps["minimal-linger"].values, pps["minimal"].values)
        for k in ("ours", "ours-nolog"):
            rows.append(
                ratio_row(
                    sc, f"(context) {k} poems/s vs minimal", pps[k],
                    pps["minimal"], "minimal",
                    target=f"bound {bound.median:.2f}x" if k == "ours" else "",
                )
            )  # fmt: skip
        for metric, k, base in [
            ("(context) ours-nolog server CPU us/poem vs minimal",
             "ours-nolog", "minimal"),
            ("server CPU us/poem vs minimal (lower is better)", "ours", "minimal"),
            ("server CPU us/poem vs minimal-linger (lower is better)",
             "ours", "minimal-linger"),
        ]:  # fmt: skip
            rows.append(ratio_row(sc, metric, cpp[k], cpp[base], base, one_decimal))
        stalls = sum(r["stalls"] for r in runs["ours"])
        ovf = sum(r["overflows"] for r in runs["ours"])
        fails = sum(r["failures"] for r in runs["ours"])
        min_stalls = sum(r["stalls"] for r in runs["minimal"])
        rows.append(
            Row(
                sc,
                "poems stalled >= 0.9 s (SYN retry)",
                str(stalls),
                f"minimal {min_stalls}",
                "",
                "0",
                "PASS" if stalls == 0 else "MISS",
            )
        )
        rows.append(
            Row(
                sc,
                "kernel listen overflows during our runs",
                str(ovf),
                "",
                "",
                "0",
                "PASS" if ovf == 0 else "MISS",
            )
        )
        rows.append(
            Row(
                sc,
                "failures",
                str(fails),
                "",
                "",
                "0",
                "PASS" if fails == 0 else "MISS",
            )
        )
    lgcpu = ", ".join(
        f"{k} {spread(v, 'cpu_frac').median:.0%}" for k, v in runs.items()
    )
    srvcpu = ", ".join(
        f"{k} {spread(v, 'server_cpu_frac').median:.0%}" for k, v in runs.items()
    )
    rows.append(Row(sc, "load generator CPU (of its core)", lgcpu, "", "", "", "info"))
    busy = ", ".join(
        f"{k} {spread(v, 'server_core_busy').median:.0%}/"
        f"{spread(v, 'load_core_busy').median:.0%}"
        for k, v in runs.items()
    )
    rows.append(
        Row(sc, "cores busy incl. softirq: server/load", busy, "", "", "", "info")
    )
    rows.append(Row(sc, "server CPU (of its core)", srvcpu, "", "", "", "info"))
    return rows


# --- scenario 2: slow serve at scale ------------------------------------------


def slow_once(ctx: Context, kind: str, clients: int) -> dict[str, Any]:
    cfg = ctx.cfg
    size = ctx.slow160.stat().st_size
    server = server_for(
        ctx, kind, ctx.slow160, delay=cfg.slow_delay, chunk=cfg.slow_chunk
    )
    try:
        server.start()
        time.sleep(0.3)
        rss0, _ = server.mem()
        cpu0 = server.cpu_time()
        us0 = proc_user_sys(server.pid)
        with RssSampler(server.pid) as sampler:
            lg = slow_load(ctx, server.port, size, clients)
        cpu1 = server.cpu_time()
        us1 = proc_user_sys(server.pid)
        _, hwm = server.mem()
        if not server.alive():
            raise BenchError(f"server {kind} died during the slow run")
    finally:
        server.stop()
    lg["server_cpu"] = cpu1 - cpu0
    lg["chunks_per_cpu_s"] = lg["chunks"] / max(cpu1 - cpu0, 1e-6)
    chunks = max(lg["chunks"], 1)
    lg["user_us_per_chunk"] = (us1[0] - us0[0]) / chunks * 1e6
    lg["user_ticks"] = round((us1[0] - us0[0]) * CLK_TCK)
    lg["sys_us_per_chunk"] = (us1[1] - us0[1]) / chunks * 1e6
    lg["rss0_kb"] = rss0
    lg["peak_kb"] = max(sampler.peak, hwm)
    lg["growth_per_conn_kb"] = (lg["peak_kb"] - rss0) / clients
    lg["wall_ideal"] = lg["dur_max"] / lg["ideal"]
    lg["span_ideal"] = lg["span"] / lg["ideal"]
    return lg


#: The fewest clock ticks of user CPU (10 ms each) a slow-serve run must
#: span for its user CPU per chunk to be judged: 50 ticks is a 2% resolution;
#: 1,000 clients (about 0.1 s of user CPU) are a tick or two from a 10%
#: swing, and are shown, not judged.
MIN_USER_TICKS = 50


def slow_runs(ctx: Context, clients: int) -> dict[str, list[dict[str, Any]]]:
    """Ours and the naive baseline at one size, cached for the memory scenario."""
    key = ("slow", clients)
    if key in ctx.cache:
        return ctx.cache[key]
    kinds = ["naive-slow", "naive-slow-linger"]
    if ctx.ours_server[0]:
        kinds[:0] = ["ours", "ours-nolog"]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for rep in range(ctx.cfg.reps):
        for kind in kinds[rep % len(kinds) :] + kinds[: rep % len(kinds)]:
            runs[kind].append(slow_once(ctx, kind, clients))
    ctx.cache[key] = runs
    return runs


def scenario_slow(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    rows: list[Row] = []
    for clients in cfg.slow_sizes:
        sc = f"2 slow serve, {clients:,} clients"
        runs = slow_runs(ctx, clients)
        ctx.detail_runs(
            sc,
            runs,
            lambda r: (
                f"{r['poems']}/{r['clients']} poems, "
                f"{r['failures']} failures, ramp {r['ramp']:.2f} s, slowest client "
                f"{r['dur_max']:.3f} s (ideal {r['ideal']:.2f} s), span "
                f"{r['span']:.2f} s, lateness p50 {r['late_p50'] * 1e3:.1f} ms "
                f"p99 {r['late_p99'] * 1e3:.1f} ms "
                f"max {r['late_max'] * 1e3:.1f} ms, "
                f"server CPU {r['server_cpu']:.2f} s, "
                f"{r['chunks_per_cpu_s']:,.0f} chunk-writes/CPU-s (per write: "
                f"user {r['user_us_per_chunk']:.1f} us, system "
                f"{r['sys_us_per_chunk']:.1f} us), RSS "
                f"{r['rss0_kb'] / 1024:.1f} -> {r['peak_kb'] / 1024:.1f} MB, "
                f"load generator CPU {r['cpu_frac']:.0%}"
            ),
        )
        naive = runs["naive-slow"]
        wall_target = 1.10 if clients >= 5000 else 1.02
        if "ours" not in runs:
            for metric in (
                "failures",
                "wall / ideal",
                "p99 lateness ms",
                "server user CPU us per chunk-write (lower is better)",
                "peak RSS growth KB/conn",
            ):
                rows.append(unavailable(sc, metric, ctx.ours_server[1]))
            continue
        ours = runs["ours"]
        fails = sum(r["failures"] for r in ours)
        rows.append(
            Row(
                sc,
                "failures",
                str(fails),
                f"naive {sum(r['failures'] for r in naive)}",
                "",
                "0",
                "PASS" if fails == 0 else "MISS",
            )
        )
        w, wn = spread(ours, "wall_ideal"), spread(naive, "wall_ideal")
        rows.append(
            ratio_row(
                sc, "wall / ideal (slowest client)", w, wn, "naive", fmt_ratio,
                target=f"<= {wall_target}x ideal", judge=("<=", wall_target),
                absolute=True,
            )
        )  # fmt: skip
        s, sn = spread(ours, "span_ideal"), spread(naive, "span_ideal")
        rows.append(
            Row(
                sc,
                "(context) first connect to last EOF / ideal",
                fmt_ratio(s),
                f"naive {fmt_ratio(sn)}",
                "",
                "",
                "info",
            )
        )
        late = spread(ours, lambda r: r["late_p99"] * 1e3)
        laten = spread(naive, lambda r: r["late_p99"] * 1e3)
        rows.append(
            ratio_row(
                sc, "p99 per-client lateness ms", late, laten, "naive", one_decimal
            )
        )
        # Issue 11, item 1: slow serve's cost is its user-space CPU per chunk,
        # held below the naive server's: naive-slow-linger, the naive server
        # keeping the wire contract as ours does (naive-slow closes without
        # lingering, so does less: context).  System time (on loopback the
        # kernel's TCP work for both ends of each send) is the same for every
        # server that sends the same chunks: it is shown, not judged, and it
        # is why the older target of 2x naive's chunk-writes per CPU-second
        # is out of reach (bench/ANALYSIS.md).
        u = spread(ours, "user_us_per_chunk")
        ul = spread(runs["naive-slow-linger"], "user_us_per_chunk")
        un = spread(naive, "user_us_per_chunk")
        # User time comes in clock ticks (/proc/PID/stat): judged only where
        # every run spans enough of them for the ratio to mean something.
        ticks = min(r["user_ticks"] for r in ours + runs["naive-slow-linger"])
        judged = ticks >= MIN_USER_TICKS
        rows.append(
            ratio_row(
                sc, "server user CPU us per chunk-write (lower is better)", u, ul,
                "naive-slow-linger", one_decimal,
                target="<= 1.0x" if judged else f"<= 1.0x (not judged: {ticks} ticks)",
                judge=("<=", 1.0) if judged else None,
            )
        )  # fmt: skip
        rows.append(
            ratio_row(
                sc, "(context) server user CPU us per chunk-write vs naive-slow",
                u, un, "naive-slow", one_decimal,
            )
        )  # fmt: skip
        y, yn = spread(ours, "sys_us_per_chunk"), spread(naive, "sys_us_per_chunk")
        rows.append(
            ratio_row(
                sc, "(context) server system CPU us per chunk-write", y, yn,
                "naive", one_decimal,
            )
        )  # fmt: skip
        c, cn = spread(ours, "chunks_per_cpu_s"), spread(naive, "chunks_per_cpu_s")
        rows.append(
            ratio_row(
                sc, "(context) chunk-writes per server CPU-s (user + system)", c, cn,
                "naive", target="was >= 2x naive",
            )
        )  # fmt: skip
        nolog = runs["ours-nolog"]
        u2 = spread(nolog, "user_us_per_chunk")
        rows.append(
            ratio_row(
                sc, "(context) ours-nolog server user CPU us per chunk-write", u2,
                un, "naive", one_decimal,
            )
        )  # fmt: skip
        w2 = spread(nolog, "wall_ideal")
        late2 = spread(nolog, lambda r: r["late_p99"] * 1e3)
        rows.append(
            Row(
                sc,
                "(context) ours-nolog wall / ideal; p99 lateness ms",
                f"{fmt_ratio(w2)}; {late2.fmt('.1f')}",
                f"naive {fmt_ratio(wn)}; {laten.fmt('.1f')}",
                "",
                "",
                "info",
            )
        )
        g, gn = spread(ours, "growth_per_conn_kb"), spread(naive, "growth_per_conn_kb")
        rows.append(
            ratio_row(
                sc, "peak RSS growth KB/conn", g, gn, "naive", two_decimals,
                target="<= 5 KB", judge=("<=", 5.0), absolute=True,
            )
        )  # fmt: skip
    return rows


# --- scenario 3: client fan-out -----------------------------------------------


def client_run(
    ctx: Context,
    kind: str,
    port: int,
    count: int,
    concurrency: int,
    size: int,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    cmd = client_drivers.command(kind, port, count, size, concurrency, extra)
    r = run_json(cmd, timeout=300, cpu=LOAD_CPU, env=python_env())
    if "error" in r:
        raise BenchError(f"client {kind} failed: {r}")
    r["cpu_per_poem_us"] = r["cpu"] / max(r["poems"], 1) * 1e6
    r["poems_per_s"] = r["poems"] / max(r["wall"], 1e-9)
    return r


def scenario_fanout(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    count = cfg.fanout_count
    size = ctx.kilobyte.stat().st_size
    rows: list[Row] = []
    # get_poems' defaults: at most 20 per server (and 100 in all), so the
    # minimal client keeps the same number in flight.
    try:
        from poetry.client import DEFAULT_CONCURRENCY, DEFAULT_PER_SERVER
    except ImportError:  # our client not there: the documented values
        DEFAULT_CONCURRENCY, DEFAULT_PER_SERVER = 100, 20
    in_flight = min(DEFAULT_PER_SERVER, DEFAULT_CONCURRENCY)
    # (label, concurrency and options for ours, concurrency for the minimal
    # client, whether failures are judged)
    variants: list[tuple[str, int, list[str], int, bool]] = [
        (f"default options ({in_flight} in flight)", 0, [], in_flight, True)
    ]
    if not cfg.quick:
        variants.append(
            ("concurrency 100, per-server 100", 100, ["--per-server", "100"], 100, True)
        )
        # The old default, for context: thousands of connections at once
        # overflow the server's listen queue on a busy machine.
        variants.append(("all at once (no limits)", 0, ["--all-at-once"], count, False))
    for label, ours_conc, ours_extra, base_conc, judged in variants:
        sc = f"3 client fan-out, {count:,} poems, {label}"
        kinds = ["minimal"] + (["ours"] if ctx.ours_client[0] else [])
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        server = server_for(ctx, "minimal", ctx.kilobyte)
        try:
            server.start()
            for rep in range(cfg.reps):
                for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                    conc = ours_conc if kind == "ours" else base_conc
                    extra = ours_extra if kind == "ours" else []
                    runs[kind].append(
                        client_run(ctx, kind, server.port, count, conc, size, extra)
                    )
        finally:
            server.stop()
        ctx.detail_runs(
            sc,
            runs,
            lambda r: (
                f"{r['poems']} poems, {r['failures']} "
                f"failures, {r['wall']:.2f} s, CPU {r['cpu']:.2f} s "
                f"({r['cpu_per_poem_us']:.0f} us/poem), peak RSS "
                f"{r['maxrss_kb'] / 1024:.1f} MB"
            ),
        )
        base = runs["minimal"]
        base_failed = sum(r["failures"] for r in base)
        if base_failed:
            ctx.note(
                sc,
                f"the minimal client lost {base_failed} poems: connections whose "
                "handshake completed on the client while the server's listen queue "
                "was full were never served and were aborted by its 30 s watchdog",
            )
        if "ours" not in runs:
            rows.append(unavailable(sc, "failures", ctx.ours_client[1]))
            rows.append(
                unavailable(
                    sc,
                    "client CPU us/poem",
                    ctx.ours_client[1],
                    f"minimal {spread(base, 'cpu_per_poem_us').fmt('.0f')}",
                )
            )
            continue
        ours = runs["ours"]
        fails = sum(r["failures"] for r in ours)
        rows.append(
            Row(
                sc,
                "failures",
                str(fails),
                f"minimal {sum(r['failures'] for r in base)}",
                "",
                "0" if judged else "",
                ("PASS" if fails == 0 else "MISS") if judged else "info",
            )
        )
        c, cb = spread(ours, "cpu_per_poem_us"), spread(base, "cpu_per_poem_us")
        rows.append(
            ratio_row(
                sc, "client CPU us/poem", c, cb, "minimal", lambda s: s.fmt(".0f"),
                target="<= 1.25x", judge=("<=", 1.25),
            )
        )  # fmt: skip
        p, pb = spread(ours, "poems_per_s"), spread(base, "poems_per_s")
        rows.append(ratio_row(sc, "(context) poems/s", p, pb, "minimal"))
    return rows


# --- scenario 4: concurrency --------------------------------------------------


def alone_times(
    ctx: Context,
    servers: Sequence[Server],
    delays: Sequence[float],
    size: int,
    chunk: int,
) -> list[float]:
    """
    Fetch one poem from each server alone, all at the same time (one load
    generator process per server): each server's own time.
    """
    procs: list[subprocess.Popen[bytes]] = []
    outs: list[Any] = []
    try:
        for s, d in zip(servers, delays, strict=True):
            f = tempfile.TemporaryFile(dir=ctx.workdir)
            outs.append(f)
            cmd = [str(ctx.loadgen), "slow", "--port", str(s.port), "--expect",
                   str(size), "--clients", "1", "--chunk", str(chunk),
                   "--delay", str(d), "--timeout", "30"]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdout=f, stdin=subprocess.DEVNULL))
        for p in procs:
            p.wait(timeout=120)
        durs = []
        for f in outs:
            f.seek(0)
            data = json.loads(f.read().decode().strip().splitlines()[-1])
            if data["failures"]:
                raise BenchError(f"single-client fetch failed: {data}")
            durs.append(float(data["dur_max"]))
        return durs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for f in outs:
            f.close()


def scenario_concurrency(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    sc = "4 concurrency, 10 slow servers"
    size = ctx.slow160.stat().st_size
    chunk = cfg.slow_chunk
    delays = [round(cfg.concurrency_unit * i, 4) for i in range(1, 11)]
    kind = "ours" if ctx.ours_server[0] else "naive-slow"
    if kind != "ours":
        ctx.note(
            sc,
            f"our server is {NOT_AVAILABLE} ({ctx.ours_server[1]}); "
            "the naive slow baseline servers stand in",
        )
    if not ctx.ours_cli[0]:
        return [unavailable(sc, "get-poetry wall / slowest server", ctx.ours_cli[1])]
    servers = [
        server_for(ctx, kind, ctx.slow160, delay=d, chunk=chunk, cpu=None)
        for d in delays
    ]
    walls: list[float] = []
    slowest: list[float] = []
    sums: list[float] = []
    try:
        for s in servers:
            s.start()
        for rep in range(cfg.reps):
            # Each server alone, all at once in separate load generators: the
            # slowest is the floor, the sum is what one-at-a-time would take.
            durs = alone_times(ctx, servers, delays, size, chunk)
            slowest.append(max(durs))
            sums.append(sum(durs))
            addresses = [f"127.0.0.1:{s.port}" for s in servers]
            r = run_measured([*cli_command(), *addresses], timeout=120)
            if r.returncode != 0:
                raise BenchError(
                    f"get-poetry exited {r.returncode}: "
                    f"{r.stderr.decode(errors='replace')[-500:]}"
                )
            walls.append(r.wall)
            ctx.detail(
                sc,
                f"run {rep + 1}: get-poetry {r.wall:.3f} s (exit "
                f"{r.returncode}, {len(r.stdout)} bytes out), servers alone "
                + ", ".join(f"{x:.2f}" for x in durs)
                + f" s; slowest {max(durs):.3f} s, sum {sum(durs):.2f} s",
            )
    finally:
        for s in servers:
            s.stop()
    start = run_measured([*cli_command(), "--help"], timeout=60)
    ctx.detail(
        sc,
        f"get-poetry --help (interpreter + import start-up) {start.wall:.3f} s; "
        f"server delays {delays} s, {size}-byte poem, {chunk}-byte chunks",
    )
    w = ratios(walls, slowest)
    s = ratios(sums, slowest)
    adjusted = ratios([x - start.wall for x in walls], slowest)
    return [
        Row(
            sc,
            "get-poetry wall / slowest server alone",
            Spread(walls).fmt(".2f", " s"),
            f"slowest {Spread(slowest).fmt('.2f', ' s')}",
            fmt_ratio(w),
            "<= 1.10",
            verdict(w.median, "<=", 1.10),
        ),
        Row(
            sc,
            "(contrast) one at a time: sum / slowest",
            Spread(sums).fmt(".2f", " s"),
            f"slowest {Spread(slowest).fmt('.2f', ' s')}",
            fmt_ratio(s),
            "",
            "info",
        ),
        Row(
            sc,
            "(context) wall less --help start-up / slowest",
            "",
            "",
            fmt_ratio(adjusted),
            "",
            "info",
        ),
        Row(
            sc,
            "(context) get-poetry --help start-up",
            f"{start.wall:.2f} s",
            "",
            "",
            "",
            "info",
        ),
    ]


# --- scenario 5: memory ---------------------------------------------------------


def scenario_memory(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    rows: list[Row] = []
    n = cfg.mem_poems
    sc = f"5 memory, get-poetry fetching {n:,} poems"
    size = ctx.kilobyte.stat().st_size
    if not ctx.ours_cli[0]:
        rows.append(unavailable(sc, "get-poetry peak RSS MB", ctx.ours_cli[1]))
    else:
        server = server_for(ctx, "minimal", ctx.kilobyte)
        ours: list[float] = []
        base: list[float] = []
        try:
            server.start()
            for _rep in range(cfg.reps):
                r = run_measured(
                    [*cli_command(), *[f"127.0.0.1:{server.port}"] * n],
                    timeout=300,
                    cpu=LOAD_CPU,
                    stdout=subprocess.DEVNULL,
                )
                if r.returncode != 0:
                    raise BenchError(
                        f"get-poetry exited {r.returncode}: "
                        f"{r.stderr.decode(errors='replace')[-500:]}"
                    )
                ours.append(r.maxrss_kb / 1024)
                b = client_run(ctx, "minimal", server.port, n, n, size)
                base.append(b["_proc_maxrss_kb"] / 1024)
                ctx.detail(
                    sc,
                    f"get-poetry {r.wall:.2f} s, peak RSS {ours[-1]:.1f} MB; "
                    f"minimal client (same {n} at once) peak RSS {base[-1]:.1f} MB",
                )
        finally:
            server.stop()
        rows.append(
            ratio_row(
                sc, "client peak RSS MB", Spread(ours), Spread(base),
                "minimal client", one_decimal,
            )
        )  # fmt: skip
    idle = cfg.mem_idle
    sc = f"5 memory, server holding {idle:,} slow connections"
    runs = slow_runs(ctx, idle)
    naive = runs["naive-slow"]
    if "ours" not in runs:
        rows.append(
            unavailable(
                sc,
                "server peak RSS MB",
                ctx.ours_server[1],
                f"naive {spread(naive, lambda r: r['peak_kb'] / 1024).fmt('.1f')}",
            )
        )
        return rows
    ours_ = runs["ours"]
    p = spread(ours_, lambda r: r["peak_kb"] / 1024)
    pn = spread(naive, lambda r: r["peak_kb"] / 1024)
    rows.append(ratio_row(sc, "server peak RSS MB", p, pn, "naive", one_decimal))
    g = spread(ours_, "growth_per_conn_kb")
    gn = spread(naive, "growth_per_conn_kb")
    rows.append(
        ratio_row(
            sc, "server RSS growth KB/conn", g, gn, "naive", two_decimals,
            target="<= 5 KB", judge=("<=", 5.0), absolute=True,
        )
    )  # fmt: skip
    return rows


# --- report ---------------------------------------------------------------------


COLUMNS = (
    "Scenario",
    "Metric",
    "Ours",
    "Baseline",
    "Ratio (median [min-max])",
    "Target",
    "Verdict",
)


def table_text(rows: Sequence[Row]) -> str:
    data = [COLUMNS] + [
        (r.scenario, r.metric, r.ours, r.baseline, r.ratio, r.target, r.verdict)
        for r in rows
    ]
    widths = [min(max(len(row[i]) for row in data), 44) for i in range(len(COLUMNS))]
    lines = []
    for j, row in enumerate(data):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table_markdown(rows: Sequence[Row]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = (r.scenario, r.metric, r.ours, r.baseline, r.ratio, r.target, r.verdict)
        out.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return "\n".join(out)


def git_commit() -> str:
    """The checkout's commit, and whether poetry/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=ROOT,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "poetry", "twisted_plugins"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=ROOT,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" (poetry/ has uncommitted changes)" if dirty else "")


def machine() -> dict[str, str]:
    import twisted

    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cc = shutil.which("cc") or "cc"
    try:
        ccv = subprocess.run(
            [cc, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        ccv = "unknown"
    return {
        "CPU": model,
        "Cores": f"{os.cpu_count()} "
        f"(usable by this process: {len(os.sched_getaffinity(0))})",
        "Kernel": platform.release(),
        "Python": platform.python_version(),
        "Twisted": twisted.__version__,
        "C compiler": ccv,
        "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Commit": git_commit(),
    }


METHOD = """
- Every figure is the median over the repetitions with [min-max]; every ratio
  is taken per repetition between runs made back to back (order rotated), and
  the median and range of those ratios are shown. Targets are judged on the
  median ratio; a miss is reported, never fatal.
- Servers run pinned to CPU 0 (taskset); the C load generator (bench/loadgen.c,
  built with `cc -O2` at bench time) and the client under test on CPU 1.
  Server CPU is the server process's own CPU time (user + system, all threads,
  /proc/PID/task/*/schedstat in ns, else /proc/PID/stat) over the measured
  window; RSS is VmRSS sampled every 20 ms (and VmHWM). "Cores busy" is from
  /proc/stat and includes the kernel's softirq work for loopback TCP.
- Our server is `twistd -n --logfile FILE poetry --port
  tcp:PORT:interface=127.0.0.1 --poem FILE [--delay D --chunk-size N]`: its
  default access logging, written to a file as twistd does when daemonized.
  The logging baseline writes one `log.msg` line per connection through the
  same kind of text file observer. Every baseline listens with backlog 1024,
  as ours does.
- Fast serve: {cfg.fast_conns} connections in flight for {cfg.fast_seconds:g} s
  after a 300-poem warm-up; a poem counts when the connection closes cleanly
  after exactly the poem's length. Latency is connect() to EOF; "stalls" are
  poems slower than 0.9 s (a SYN retry after a listen-queue overflow costs
  1 s); listen overflows are the kernel's TcpExt ListenOverflows counter
  (machine-wide). A run whose server core was busier than the server itself
  by more than 15 points (another process took the CPU) is repeated, at most
  twice, and noted.
- Slow serve: {cfg.slow_chunk}-byte chunks every {cfg.slow_delay:g} s of a
  160-byte poem; clients connect with at most 256 waiting for their first
  byte, then all stay connected. A client's lateness is the largest, over its
  chunks, of arrival - (connect start + k x delay); "wall / ideal" is the
  slowest client's connect-to-EOF time over the ideal 9 x delay.
  Chunk-writes are counted from what the clients received. On loopback the
  kernel's TCP work for both ends of a send is charged to the sender as
  system time, the same for every server, so it bounds the ratio; the user /
  system split (/proc/PID/stat) shows it.
- Client fan-out: each client is its own process (bench/clients.py) and
  reports the CPU time of the fetch itself (getrusage; imports excluded); the
  server is the minimal Twisted baseline.
- Concurrency: ten slow servers (chunk delay 1..10 units); "slowest" and
  "sum" come from fetching each server alone, all at the same time, with the
  load generator; get-poetry's wall time includes interpreter start-up (shown
  separately).
"""


def write_results(
    path: Path,
    ctx: Context,
    rows: Sequence[Row],
    elapsed: float,
    argv: Sequence[str],
    errors: Sequence[str],
) -> None:
    cfg = ctx.cfg
    m = machine()
    out = [
        "# Benchmark results",
        "",
        f"Written by `{' '.join(['python -m bench', *argv])}` "
        f"({'quick' if cfg.quick else 'full'} mode, {cfg.reps} repetition(s) "
        f"per figure, {elapsed:.0f} s). Do not edit by hand: rerun the suite.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in m.items()],
        "",
        "## Method",
        "",
        METHOD.format(cfg=cfg).strip(),
        "",
        "## Results",
        "",
        table_markdown(rows),
        "",
    ]
    judged = [r for r in rows if r.verdict in ("PASS", "MISS")]
    missed = [r for r in judged if r.verdict == "MISS"]
    out += [
        f"Targets met: {len(judged) - len(missed)} of {len(judged)}.",
        "",
        *[
            f"- MISS: {r.scenario}: {r.metric}: {r.ours}"
            + (f" (ratio {r.ratio})" if r.ratio else "")
            + f", target {r.target}"
            for r in missed
        ],
        "",
    ]
    if errors:
        out += ["## Errors", "", *[f"- {e}" for e in errors], ""]
    analysis = BENCH / "ANALYSIS.md"
    if not cfg.quick and analysis.exists():
        out += [analysis.read_text().strip(), ""]
    if ctx.notes:
        out += ["## Notes", ""]
        for sc, notes in ctx.notes.items():
            out += [f"- {sc}: {n}" for n in notes]
        out.append("")
    out += ["## Per-run details", ""]
    for sc, lines in ctx.details.items():
        out += [f"### {sc}", "", *[f"- {line}" for line in lines], ""]
    path.write_text("\n".join(out))


# --- main -------------------------------------------------------------------------


def find_poem(name: str, size: int, workdir: Path) -> Path:
    """poems/NAME, or a generated stand-in of SIZE bytes if it is not there yet."""
    p = ROOT / "poems" / name
    if p.is_file() and p.stat().st_size > 0:
        return p
    line = b"a stand-in line for the benchmark poem, until the real one lands\n"
    data = (line * (size // len(line) + 1))[: size - 1] + b"\n"
    q = workdir / name
    q.write_bytes(data)
    return q


# --- scenario 6: slow serve with the admin endpoint polled ---------------------


def scenario_admin(ctx: Context) -> list[Row]:
    """Slow serve with the status page polled (L{bench.admin})."""
    from bench.admin import scenario_admin as rows

    return rows(ctx)


# --- scenario 7: fast serve with a fault mix ------------------------------------


def scenario_mix(ctx: Context) -> list[Row]:
    """
    What a fault mix costs fast serve: our server with a mix that every
    connection draws from (but that targets no loopback client) against the
    same server without faults, runs paired and alternated as in "fast".
    """
    cfg = ctx.cfg
    sc = "7 fault mix"
    if not ctx.ours_server[0]:
        return [unavailable(sc, "poems/s with a mix vs none", ctx.ours_server[1])]
    kinds = ["ours", *MIX_KINDS]
    runs = paired_runs(cfg.reps, kinds, lambda kind: fast_undisturbed(ctx, kind, sc))
    pps = {k: spread(v, "poems_per_s") for k, v in runs.items()}
    cpp = {k: spread(v, "server_cpu_per_poem_us") for k, v in runs.items()}
    ctx.detail_runs(
        sc,
        runs,
        lambda r: (
            f"{r['poems_per_s']:,.0f} poems/s, {r['poems']} "
            f"poems, {r['failures']} failures, server CPU "
            f"{r['server_cpu_per_poem_us']:.1f} us/poem"
        ),
    )
    rows = []
    rows.append(
        ratio_row(
            sc,
            "poems/s, every connection drawing from a mix (none hit), vs no faults",
            pps["ours-mix"], pps["ours"], "no faults",
            target=">= 0.95x", judge=(">=", 0.95),
        )
    )  # fmt: skip
    rows.append(
        ratio_row(
            sc, "(context) server CPU us/poem with the mix vs no faults",
            cpp["ours-mix"], cpp["ours"], "no faults", one_decimal,
        )
    )  # fmt: skip
    rows.append(
        ratio_row(
            sc,
            "(context) poems/s, 10% of connections playing latency:0, vs no faults",
            pps["ours-mix-hit"], pps["ours"], "no faults",
        )
    )  # fmt: skip
    fails = sum(r["failures"] for k in MIX_KINDS for r in runs[k])
    rows.append(
        Row(sc, "failures", str(fails), "", "", "0", "PASS" if fails == 0 else "MISS")
    )
    return rows


# Issue 14's scenarios live in their own module, which uses this one's parts.
from bench.scaling import scenario_haproxy, scenario_workers  # noqa: E402

RUNNERS: dict[str, Callable[[Context], list[Row]]] = {
    "fast": scenario_fast,
    "slow": scenario_slow,
    "fanout": scenario_fanout,
    "concurrency": scenario_concurrency,
    "memory": scenario_memory,
    "admin": scenario_admin,
    "mix": scenario_mix,
    "workers": scenario_workers,
    "haproxy": scenario_haproxy,
}


def default_output(quick: bool, only: Sequence[str]) -> Path:
    """
    Where results go without C{--output}: only a full run (every scenario,
    full sizes) writes the tracked C{bench/RESULTS.md}; a quick run writes
    C{bench/build/RESULTS-quick.md} and a partial one (C{--only})
    C{bench/build/RESULTS-partial.md}, both ignored by git, so neither
    overwrites the full results.
    """
    if quick:
        return BENCH / "build" / "RESULTS-quick.md"
    if set(only) != set(SCENARIOS):
        return BENCH / "build" / "RESULTS-partial.md"
    return BENCH / "RESULTS.md"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one repetition: proves the suite works",
    )
    p.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ", ".join(SCENARIOS)
    )
    p.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions per figure (default 3; quick: 1)",
    )
    p.add_argument(
        "--output",
        default=None,
        help="results file (default bench/RESULTS.md for a full run; "
        "bench/build/RESULTS-quick.md with --quick and "
        "bench/build/RESULTS-partial.md with --only, so neither "
        "overwrites the full results)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (server logs, binaries)",
    )
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    for s in only:
        if s not in RUNNERS:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be at least 1")
    cfg = Config.make(args.quick, args.reps)
    output = Path(args.output) if args.output else default_output(cfg.quick, only)

    raise_file_limit()
    # Every process started from here (twistd, get-poetry, the drivers)
    # imports this checkout's poetry and bench packages, whatever the venv
    # holds.
    os.environ["PYTHONPATH"] = python_env()["PYTHONPATH"]
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="poetry-bench-"))
    rows: list[Row] = []
    errors: list[str] = []
    try:
        loadgen_path = build_loadgen(workdir)
        server, client, cli = find_ours(workdir)
        ctx = Context(
            cfg,
            workdir,
            loadgen_path,
            find_poem("kilobyte.txt", 1024, workdir),
            find_poem("slow-160.txt", 160, workdir),
            server,
            client,
            cli,
        )
        for name, (ok, why) in (
            ("server", server),
            ("client", client),
            ("get-poetry", cli),
        ):
            state = "available" if ok else f"{NOT_AVAILABLE} ({why})"
            print(f"our {name}: {state}", flush=True)
        for name in only:
            t = time.monotonic()
            print(f"-- {name} ...", flush=True)
            try:
                got = RUNNERS[name](ctx)
            except (
                BenchError,
                OSError,
                ValueError,
                KeyError,
                subprocess.SubprocessError,
            ) as e:
                errors.append(f"{name}: {e}")
                traceback.print_exc()
                got = [
                    Row(name, "ERROR", str(e).splitlines()[0][:80], "", "", "", "ERROR")
                ]
            rows.extend(got)
            print(table_text(got), flush=True)
            print(f"   ({time.monotonic() - t:.1f} s)", flush=True)
        elapsed = time.monotonic() - t0
        print()
        print(table_text(rows))
        missed = [r for r in rows if r.verdict == "MISS"]
        judged = [r for r in rows if r.verdict in ("PASS", "MISS")]
        print(f"\ntargets met: {len(judged) - len(missed)} of {len(judged)}")
        for r in missed:
            print(f"  MISS {r.scenario}: {r.metric} (target {r.target})")
        output.parent.mkdir(parents=True, exist_ok=True)
        write_results(output, ctx, rows, elapsed, argv, errors)
        print(f"\nwrote {output} ({elapsed:.0f} s)")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if errors:
        print("\nthe suite broke:\n" + "\n".join(errors), file=sys.stderr)
        return 1
    return 0
