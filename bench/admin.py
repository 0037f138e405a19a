"""
The admin scenario: slow serve with the control plane in use.  Our server
serves N slow clients (10,000 in a full run) twice, paired in time: once
plain, once with C{--admin} and a poller asking for what an open status page
asks for (C{/api/status} and C{/api/timeline.svg}) and C{/metrics}, once a
second.  The target is the issue's: with the status page polled, slow
serve's wall/ideal stays within 1.10x; the figures beside it are the same
run without the admin endpoint, and what the poller saw (the status answer's
size and the slowest answer).

    python -m bench.admin poll --port P     # the poller (run by the scenario)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from bench.harness import LOAD_CPU, BenchError, free_port, pinned

#: What an open status page fetches each second, and a Prometheus scrape.
POLLED = ("/api/status", "/api/timeline.svg", "/metrics")


def poll(port: int, interval: float = 1.0) -> dict[str, Any]:
    """
    Fetch L{POLLED} from 127.0.0.1:C{port} every C{interval} seconds until
    SIGTERM; return what was seen.
    """
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    seen: dict[str, Any] = {"polls": 0, "errors": 0, "max_s": 0.0, "status_bytes": 0}
    next_at = time.monotonic()
    # Bounded: a full run lasts minutes; an hour of polls is far beyond it.
    for _ in range(3600):
        if stop:
            break
        for path in POLLED:
            started = time.monotonic()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}{path}", timeout=10
                ) as response:
                    body = response.read()
            except OSError:
                seen["errors"] += 1
                continue
            seen["max_s"] = max(seen["max_s"], time.monotonic() - started)
            if path == "/api/status":
                seen["status_bytes"] = max(seen["status_bytes"], len(body))
        seen["polls"] += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return seen


def admin_once(ctx: Any, clients: int, with_admin: bool) -> dict[str, Any]:
    """One slow run of our server, with or without the admin endpoint polled."""
    from bench.run import python_env, server_for, slow_load

    cfg = ctx.cfg
    size = ctx.slow160.stat().st_size
    server = server_for(
        ctx, "ours", ctx.slow160, delay=cfg.slow_delay, chunk=cfg.slow_chunk
    )
    admin_port = free_port()
    if with_admin:
        server.cmd += ["--admin", f"tcp:{admin_port}:interface=127.0.0.1"]
    poller = None
    try:
        server.start()
        time.sleep(0.3)
        if with_admin:
            poller = subprocess.Popen(
                pinned(
                    [
                        sys.executable,
                        "-m",
                        "bench.admin",
                        "poll",
                        "--port",
                        str(admin_port),
                    ],
                    LOAD_CPU,
                ),
                stdout=subprocess.PIPE,
                env=python_env(),
            )
        lg = slow_load(ctx, server.port, size, clients)
        if not server.alive():
            raise BenchError("server ours (admin) died during the slow run")
        if poller is not None:
            poller.send_signal(signal.SIGTERM)
            out, _ = poller.communicate(timeout=30)
            lg["poller"] = json.loads(out)
            poller = None
    finally:
        if poller is not None:
            poller.kill()
            poller.wait()
        server.stop()
    lg["wall_ideal"] = lg["dur_max"] / lg["ideal"]
    return lg


def scenario_admin(ctx: Any) -> list[Any]:
    """The admin scenario's rows (see the module docstring)."""
    from bench.run import Row, fmt_ratio, ratio_row, spread, unavailable

    clients = max(ctx.cfg.slow_sizes)
    sc = f"6 slow serve with the status page polled, {clients:,} clients"
    if not ctx.ours_server[0]:
        return [unavailable(sc, "wall / ideal", ctx.ours_server[1])]
    runs: dict[str, list[dict[str, Any]]] = {"admin": [], "plain": []}
    for rep in range(ctx.cfg.reps):
        order = [True, False] if rep % 2 == 0 else [False, True]
        for with_admin in order:
            key = "admin" if with_admin else "plain"
            runs[key].append(admin_once(ctx, clients, with_admin))
    for key, values in runs.items():
        for i, r in enumerate(values):
            seen = r.get("poller")
            polled = (
                f", {seen['polls']} polls ({seen['errors']} errors), slowest answer "
                f"{seen['max_s'] * 1e3:.0f} ms, status {seen['status_bytes']:,} bytes"
                if seen
                else ""
            )
            ctx.detail(
                sc,
                f"{key} run {i + 1}: {r['poems']}/{r['clients']} poems, "
                f"{r['failures']} failures, slowest client {r['dur_max']:.3f} s "
                f"(ideal {r['ideal']:.2f} s), lateness p99 "
                f"{r['late_p99'] * 1e3:.1f} ms{polled}",
            )
    admin, plain = runs["admin"], runs["plain"]
    fails = sum(r["failures"] for r in admin)
    errors = sum(r["poller"]["errors"] for r in admin)
    w, wp = spread(admin, "wall_ideal"), spread(plain, "wall_ideal")
    slowest = spread(admin, lambda r: r["poller"]["max_s"] * 1e3)
    status = spread(admin, lambda r: r["poller"]["status_bytes"] / 1024)
    return [
        Row(
            sc,
            "failures; poll errors",
            f"{fails}; {errors}",
            "",
            "",
            "0; 0",
            "PASS" if fails == 0 and errors == 0 else "MISS",
        ),
        ratio_row(
            sc,
            "wall / ideal (slowest client), admin polled",
            w,
            wp,
            "no admin",
            fmt_ratio,
            target="<= 1.10x ideal",
            judge=("<=", 1.10),
            absolute=True,
        ),
        Row(
            sc,
            "(context) slowest admin answer ms; status KB",
            f"{slowest.fmt('.0f')}; {status.fmt('.0f')}",
            "",
            "",
            "",
            "info",
        ),
    ]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "poll" and argv[1] == "--port":
        print(json.dumps(poll(int(argv[2]))), flush=True)
        return 0
    print("usage: python -m bench.admin poll --port PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
