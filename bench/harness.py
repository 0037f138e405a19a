"""
The benchmark harness: building the C load generator, starting and always
killing server processes (pinned to a CPU), sampling their CPU time and RSS
from /proc, running load-generator and client processes with timeouts, and
small statistics helpers.

Everything here is bounded: every wait has a timeout, every process started
is killed in a C{finally}, and every socket is on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

#: CPUs for the server and for the load (load generator, client under test).
SERVER_CPU = 0
LOAD_CPU = 1


class BenchError(Exception):
    """The suite itself broke (a process failed to start, bad output...)."""


def raise_file_limit() -> int:
    """
    Raise this process's soft RLIMIT_NOFILE to the hard limit; every process
    spawned from here (twistd included) inherits it.  Returns the new limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    """C{cmd} run under C{taskset} on one CPU (unchanged if not possible)."""
    if cpu is None or cpu_count() < 2 or not shutil.which("taskset"):
        return list(cmd)
    return ["taskset", "-c", str(cpu), *cmd]


def build_loadgen(builddir: Path) -> Path:
    """Compile bench/loadgen.c with C{cc -O2} into C{builddir}."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise BenchError("no C compiler (cc) found: the load generator needs one")
    out = builddir / "loadgen"
    r = subprocess.run(
        [cc, "-O2", "-o", str(out), str(BENCH / "loadgen.c")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise BenchError(f"building loadgen failed:\n{r.stderr}")
    return out


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:PORT (read from /proc, no connect)."""
    want = f":{port:04X}"
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def listen_overflows() -> tuple[int, int]:
    """The kernel's TcpExt ListenOverflows and ListenDrops counters."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return (0, 0)
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("TcpExt:"):
            names = lines[i].split()[1:]
            values = lines[i + 1].split()[1:]
            d = dict(zip(names, values, strict=False))
            return (int(d.get("ListenOverflows", 0)), int(d.get("ListenDrops", 0)))
    return (0, 0)


def core_times() -> dict[int, tuple[int, int]]:
    """Per CPU: (busy, total) clock ticks since boot, from /proc/stat."""
    out: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                ticks = [int(v) for v in vals[:8]]
                idle = ticks[3] + ticks[4]
                out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def core_busy(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpu: int
) -> float:
    """Fraction of the time CPU was busy (user, system, irq, softirq, steal)."""
    if cpu not in before or cpu not in after:
        return float("nan")
    busy = after[cpu][0] - before[cpu][0]
    total = after[cpu][1] - before[cpu][1]
    return busy / total if total else float("nan")


def proc_cpu(pid: int) -> float:
    """
    CPU seconds (user + system) used so far by every thread of a process.

    Read from /proc/PID/task/*/schedstat (nanoseconds) when the kernel has
    it, since /proc/PID/stat counts in clock ticks (10 ms), too coarse for a
    short window; otherwise utime + stime from /proc/PID/stat.
    """
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_user_sys(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc/PID/stat (ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


class RssSampler:
    """Polls a process's VmRSS in a thread; C{peak} is the largest seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss, _ = proc_mem(self.pid)
            except OSError:
                return
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            self.peak = max(self.peak, proc_mem(self.pid)[0])
        except OSError:
            pass


def kill(proc: subprocess.Popen[Any], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after C{grace} seconds; always reaps."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class Server:
    """
    A server process: started pinned to a CPU, waited for until it listens,
    measured from /proc, and killed by L{stop} (call it in a C{finally}).
    """

    name: str
    cmd: list[str]
    port: int
    workdir: Path
    cpu: int | None = SERVER_CPU
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self, timeout: float = 20.0) -> Server:
        out = self.workdir / f"{self.name}-{self.port}.out"
        self.logs.append(out)
        with open(out, "wb") as f:
            self.proc = subprocess.Popen(
                pinned(self.cmd, self.cpu),
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env={**(self.env or os.environ), "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise BenchError(
                    f"server {self.name} exited ({self.proc.returncode}) before "
                    f"listening:\n{tail(out)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(
                    f"server {self.name} did not listen within {timeout} s"
                )
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_time(self) -> float:
        return proc_cpu(self.pid)

    def mem(self) -> tuple[int, int]:
        return proc_mem(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            kill(self.proc)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class Finished:
    """A child process's exit status, output and own resource usage."""

    returncode: int
    stdout: bytes
    stderr: bytes
    wall: float
    cpu: float
    maxrss_kb: int


def run_measured(
    cmd: Sequence[str],
    *,
    timeout: float,
    cpu: int | None = None,
    stdout: Any = subprocess.PIPE,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Finished:
    """
    Run a command to completion (killed after C{timeout} seconds), and report
    its own CPU time and peak RSS from C{wait4}'s rusage.
    """
    import tempfile

    with tempfile.TemporaryFile() as errf, tempfile.TemporaryFile() as outf:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            pinned(cmd, cpu),
            stdout=outf if stdout is subprocess.PIPE else stdout,
            stderr=errf,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
        )
        try:
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    wall = time.monotonic() - t0
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, ru = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    raise BenchError(
                        f"timed out after {timeout} s: {' '.join(cmd)[:200]}"
                    )
                time.sleep(0.005)
        finally:
            if proc.returncode is None:
                proc.kill()
                try:
                    os.wait4(proc.pid, 0)
                except ChildProcessError:
                    pass
                proc.returncode = -9
        outf.seek(0)
        errf.seek(0)
        return Finished(
            proc.returncode,
            outf.read(),
            errf.read(),
            wall,
            ru.ru_utime + ru.ru_stime,
            ru.ru_maxrss,
        )


def run_json(
    cmd: Sequence[str],
    *,
    timeout: float,
    cpu: int | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a command that prints one JSON object; add its wall/cpu/maxrss."""
    r = run_measured(cmd, timeout=timeout, cpu=cpu, env=env)
    text = r.stdout.decode(errors="replace").strip()
    try:
        data: dict[str, Any] = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(
            f"{' '.join(cmd)[:200]} exited {r.returncode} without JSON:\n"
            f"{text[-2000:]}\n{r.stderr.decode(errors='replace')[-2000:]}"
        ) from None
    data["_proc_wall"] = r.wall
    data["_proc_cpu"] = r.cpu
    data["_proc_maxrss_kb"] = r.maxrss_kb
    data["_returncode"] = r.returncode
    return data


def python_tool(name: str) -> list[str]:
    """A console script installed beside this interpreter, or None-equivalent."""
    p = Path(sys.executable).parent / name
    return [str(p)] if p.exists() else []


# --- statistics ---------------------------------------------------------------


@dataclass
class Spread:
    """Median and range of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def lo(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self) -> float:
        return max(self.values) if self.values else float("nan")

    def fmt(self, spec: str = ".3g", unit: str = "") -> str:
        if not self.values:
            return "n/a"
        if len(self.values) == 1:
            return f"{self.median:{spec}}{unit}"
        return f"{self.median:{spec}}{unit} [{self.lo:{spec}}-{self.hi:{spec}}]"


def ratios(ours: Sequence[float], base: Sequence[float]) -> Spread:
    """Per-repetition ratios ours[i] / base[i] (runs are paired in time)."""
    return Spread([a / b for a, b in zip(ours, base, strict=False) if b])


K = TypeVar("K")


def paired_runs(
    reps: int, kinds: Sequence[K], measure: Callable[[K], dict[str, Any]]
) -> dict[K, list[dict[str, Any]]]:
    """
    C{measure(kind)} for every kind, C{reps} times, the kinds' order rotated
    each repetition (no kind always runs first): run i of one kind and run
    i of another are paired in time, which is what L{ratios} compares.
    """
    runs: dict[K, list[dict[str, Any]]] = {k: [] for k in kinds}
    for rep in range(reps):
        shift = rep % len(kinds)
        for kind in [*kinds[shift:], *kinds[:shift]]:
            runs[kind].append(measure(kind))
    return runs
