"""
Tests for where C{python -m bench} writes its results: only a full run may
replace the tracked C{bench/RESULTS.md}.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import ILogObserver
from twisted.trial.unittest import SynchronousTestCase

from bench import ablation
from bench import cpu as bench_cpu
from bench import run as bench_run
from bench import servers as bench_servers
from bench.harness import BENCH
from bench.run import SCENARIOS, Config, Row, default_output


class DefaultOutputTests(SynchronousTestCase):
    """L{default_output}."""

    def test_onlyAFullRunWritesResults(self) -> None:
        """
        Every scenario at full size writes bench/RESULTS.md; --only (even
        all but one scenario) writes bench/build/RESULTS-partial.md; --quick
        writes bench/build/RESULTS-quick.md.
        """
        self.assertEqual(default_output(False, list(SCENARIOS)), BENCH / "RESULTS.md")
        partial = BENCH / "build" / "RESULTS-partial.md"
        self.assertEqual(default_output(False, ["fast", "slow"]), partial)
        self.assertEqual(default_output(False, list(SCENARIOS[:-1])), partial)
        quick = BENCH / "build" / "RESULTS-quick.md"
        self.assertEqual(default_output(True, list(SCENARIOS)), quick)
        self.assertEqual(default_output(True, ["fast"]), quick)


def _fast_run(poems_per_s: float, cpu_us: float) -> dict[str, Any]:
    """A canned result of one fast-serve run."""
    return {
        "poems_per_s": poems_per_s,
        "server_cpu_per_poem_us": cpu_us,
        "poems": int(poems_per_s * 5),
        "failures": 0,
        "lat_p50": 0.003,
        "lat_p99": 0.005,
        "lat_max": 0.01,
        "stalls": 0,
        "overflows": 0,
        "server_cpu_frac": 0.99,
        "cpu_frac": 0.6,
        "server_core_busy": 1.0,
        "load_core_busy": 0.6,
    }


def _describe_every_run(
    scenario: str, runs: dict[str, list[dict[str, Any]]], describe: Any, name: Any = str
) -> None:
    """C{Context.detail_runs} without a context: describe every canned run."""
    for results in runs.values():
        for result in results:
            describe(result)


class FastServeRowsTests(SynchronousTestCase):
    """The fast-serve scenario's targets, from canned runs."""

    RATES = {
        "ours": 18_000.0,
        "ours-nolog": 19_000.0,
        "minimal": 26_000.0,
        "minimal-linger": 20_000.0,
        "asyncio": 17_000.0,
        "asyncio-linger": 14_000.0,
        "logging": 15_000.0,
        "logging-linger": 12_000.0,
    }

    def rows(self) -> dict[str, Row]:
        def fake(ctx: Any, kind: str, sc: str) -> dict[str, Any]:
            return _fast_run(self.RATES[kind], 1e6 / self.RATES[kind])

        self.patch(bench_run, "fast_undisturbed", fake)
        ctx = SimpleNamespace(
            cfg=Config.make(True, 1),
            ours_server=(True, ""),
            detail=lambda sc, text: None,
            detail_runs=_describe_every_run,
            note=lambda sc, text: None,
        )
        return {r.metric: r for r in bench_run.scenario_fast(ctx)}  # type: ignore[arg-type]

    def test_targetAgainstMinimalLinger(self) -> None:
        """
        The 0.90x target is held against minimal-linger (here 0.90x: met);
        ours vs minimal is context, beside the bound minimal-linger's own
        ratio to minimal sets for any server keeping the wire contract.
        """
        rows = self.rows()
        linger = rows["poems/s vs minimal-linger"]
        self.assertEqual((linger.target, linger.verdict), (">= 0.9x", "PASS"))
        self.assertEqual(linger.ratio.split()[0], "0.90x")
        self.assertNotIn("poems/s vs minimal", rows)
        context = rows["(context) ours poems/s vs minimal"]
        self.assertEqual((context.target, context.verdict), ("bound 0.77x", "info"))

    def test_targetsAgainstLingeringBaselines(self) -> None:
        """
        The 1.25x over asyncio is held against asyncio-linger (the asyncio
        server keeping the wire contract); ours vs the baselines that do not
        linger, and vs logging-linger (whose old 1.6x no lingering server
        can reach), are context, each beside minimal-linger's own ratio.
        """
        rows = self.rows()
        target = rows["poems/s vs asyncio-linger"]
        self.assertEqual((target.target, target.verdict), (">= 1.25x", "PASS"))
        self.assertEqual(target.ratio.split()[0], "1.29x")
        for base, bound in (
            ("asyncio", "1.18x"),
            ("logging", "1.33x"),
            ("logging-linger", "1.67x"),
        ):
            row = rows[f"(context) poems/s vs {base}"]
            self.assertEqual((row.target, row.verdict), (f"bound {bound}", "info"))
            self.assertNotIn(f"poems/s vs {base}", rows)

    def test_missBelowAsyncioLinger(self) -> None:
        """Below 1.25x asyncio-linger is a miss, whatever asyncio does."""
        self.RATES = dict(self.RATES, asyncio=10_000.0)
        self.RATES["asyncio-linger"] = 14_500.0
        row = self.rows()["poems/s vs asyncio-linger"]
        self.assertEqual(row.verdict, "MISS")

    def test_missBelowTarget(self) -> None:
        """Below 0.90x of minimal-linger is a miss."""
        self.RATES = dict(self.RATES, ours=17_900.0)
        self.assertEqual(self.rows()["poems/s vs minimal-linger"].verdict, "MISS")


def _slow_run(user_us: float, sys_us: float, ticks: int = 100) -> dict[str, Any]:
    """A canned result of one slow-serve run."""
    return {
        "poems": 100,
        "clients": 100,
        "failures": 0,
        "ramp": 0.1,
        "dur_max": 4.6,
        "ideal": 4.5,
        "span": 4.7,
        "late_p50": 0.01,
        "late_p99": 0.02,
        "late_max": 0.03,
        "server_cpu": 1.0,
        "chunks_per_cpu_s": 1e6 / (user_us + sys_us),
        "user_us_per_chunk": user_us,
        "user_ticks": ticks,
        "sys_us_per_chunk": sys_us,
        "rss0_kb": 40_000.0,
        "peak_kb": 40_200.0,
        "growth_per_conn_kb": 2.0,
        "wall_ideal": 4.6 / 4.5,
        "span_ideal": 4.7 / 4.5,
        "cpu_frac": 0.3,
    }


class SlowServeRowsTests(SynchronousTestCase):
    """The slow-serve scenario's CPU target, from canned runs."""

    USER = {
        "ours": 9.0,
        "ours-nolog": 8.5,
        "naive-slow": 8.0,
        "naive-slow-linger": 10.0,
    }

    TICKS = 100

    def rows(self) -> dict[str, Row]:
        def fake(ctx: Any, kind: str, clients: int) -> dict[str, Any]:
            return _slow_run(self.USER[kind], 12.0, self.TICKS)

        self.patch(bench_run, "slow_once", fake)
        ctx = SimpleNamespace(
            cfg=Config.make(True, 1),
            ours_server=(True, ""),
            cache={},
            detail=lambda sc, text: None,
            detail_runs=_describe_every_run,
            note=lambda sc, text: None,
        )
        rows = bench_run.scenario_slow(ctx)  # type: ignore[arg-type]
        return {r.metric: r for r in rows}

    def test_userCpuPerChunkIsTheTarget(self) -> None:
        """
        Issue 11's target: user CPU per chunk-write at most the naive
        server's that keeps the wire contract (naive-slow-linger; here
        0.90x: met, though above naive-slow's, which is context);
        chunk-writes per CPU-second, system time included, is context.
        """
        rows = self.rows()
        row = rows["server user CPU us per chunk-write (lower is better)"]
        self.assertEqual((row.target, row.verdict), ("<= 1.0x", "PASS"))
        self.assertEqual(row.ratio.split()[0], "0.90x")
        self.assertTrue(row.baseline.startswith("naive-slow-linger "))
        plain = rows["(context) server user CPU us per chunk-write vs naive-slow"]
        self.assertEqual((plain.ratio.split()[0], plain.verdict), ("1.12x", "info"))
        rate = rows["(context) chunk-writes per server CPU-s (user + system)"]
        self.assertEqual(rate.verdict, "info")

    def test_notJudgedOnTooFewTicks(self) -> None:
        """
        Runs whose user CPU spans fewer than MIN_USER_TICKS clock ticks are
        shown, not judged: at 10 ms a tick, a tick is a 10% swing there.
        """
        self.TICKS = bench_run.MIN_USER_TICKS - 1
        self.USER = dict(self.USER, ours=10.5)
        row = self.rows()["server user CPU us per chunk-write (lower is better)"]
        self.assertEqual(row.verdict, "info")
        self.assertEqual(row.target, "<= 1.0x (not judged: 49 ticks)")
        self.TICKS = bench_run.MIN_USER_TICKS
        row = self.rows()["server user CPU us per chunk-write (lower is better)"]
        self.assertEqual(row.verdict, "MISS")

    def test_missAboveNaive(self) -> None:
        """More user CPU per chunk than naive-slow-linger's is a miss."""
        self.USER = dict(self.USER, ours=10.5)
        row = self.rows()["server user CPU us per chunk-write (lower is better)"]
        self.assertEqual(row.verdict, "MISS")


class DiscardingObserverTests(SynchronousTestCase):
    """The observer of the "log discarded" rows (C{twistd --logger})."""

    def test_usedAsItIs(self) -> None:
        """
        It provides L{ILogObserver}, so twistd's C{AppLogger} installs it
        as it is: one that does not is wrapped in a
        L{LegacyLogObserverWrapper}, whose per-event work the row would
        then measure instead of a discarded log.
        """
        observer = bench_servers.discarding_observer()
        self.assertTrue(ILogObserver.providedBy(observer))
        self.assertIsNone(observer({"log_format": "x", "log_time": 0.0}))


class CpuAidTests(SynchronousTestCase):
    """C{python -m bench.cpu}'s server commands."""

    def test_commands(self) -> None:
        """
        Each kind is the server it names: the baselines from bench.servers,
        twistd-linger a twistd application whose protocol lingers as
        minimal-linger's does, ours twistd's poetry plugin (with a log file,
        or every event discarded).
        """
        workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-test-"))
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        poem = workdir / "poem.txt"
        poem.write_bytes(b"a poem\n")
        linger = bench_cpu.command("minimal-linger", 1234, poem, workdir)
        self.assertEqual(linger[1:4], ["-m", "bench.servers", "minimal-linger"])
        tac = bench_cpu.command("twistd-linger", 1234, poem, workdir)
        self.assertEqual(tac[-2], "-y")
        namespace: dict[str, Any] = {}
        exec(compile(Path(tac[-1]).read_text(), tac[-1], "exec"), namespace)
        self.assertEqual(namespace["POEM"], b"a poem\n")
        self.assertEqual(namespace["server"].args[0], 1234)
        self.assertTrue(
            IHalfCloseableProtocol.implementedBy(namespace["MinimalLinger"])
        )
        ours = bench_cpu.command("ours", 1234, poem, workdir)
        self.assertIn("poetry", ours)
        self.assertIn("--logfile", ours)
        nolog = bench_cpu.command("ours-nolog", 1234, poem, workdir)
        self.assertIn("bench.servers.discarding_observer", nolog)

    def test_slowCommands(self) -> None:
        """
        With the slow load, ours and naive-slow are paced alike (the
        delay, 16-byte chunks), ours still with its log file; ours-tree is
        ours with the other checkout first on the path.
        """
        workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-test-"))
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        poem = workdir / "poem.txt"
        poem.write_bytes(b"a poem\n")
        slow = bench_cpu.Slow(clients=100, delay=0.25)
        pacing = ["--delay", "0.25", "--chunk-size", "16"]
        naive = bench_cpu.command("naive-slow", 1234, poem, workdir, slow)
        self.assertEqual(naive[1:4], ["-m", "bench.servers", "naive-slow"])
        self.assertEqual(naive[-4:], pacing)
        ours = bench_cpu.command("ours", 1234, poem, workdir, slow)
        self.assertEqual(ours[-4:], pacing)
        self.assertIn("--logfile", ours)
        self.assertNotIn("--delay", bench_cpu.command("ours", 1234, poem, workdir))
        self.patch(bench_cpu, "TREE", workdir)
        path = bench_cpu._env("ours-tree")["PYTHONPATH"].split(os.pathsep)
        self.assertEqual(path[0], str(workdir))
        self.assertNotIn(str(workdir), bench_cpu._env("ours")["PYTHONPATH"])
        self.assertEqual(
            bench_cpu.paired([2.0, 3.0, 1.0], [1.0, 2.0, 2.0]), "1.50x [0.50-2.00]"
        )


#: Run in a subprocess with an ablated copy first on the path: one
#: connection of the factory twistd builds from the command line, through
#: the linger, reporting what the cuts should have cut.
_ONE_CONNECTION = """
import json, sys
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
import poetry
from poetry.service.options import Options

options = Options()
options.parseOptions(["--poem", sys.argv[1]])
factory = options.config.build_factory(MemoryReactorClock())
events = []
factory.access_log = Logger(namespace="poetry.access", observer=events.append)
addr = IPv4Address("TCP", "127.0.0.1", 40000)
proto = factory.buildProtocol(addr)
proto.makeConnection(StringTransport(peerAddress=addr))
proto.writeConnectionLost()
lingering = sum(len(d) for d in factory.lingers.values())
proto.readConnectionLost()
proto.connectionLost(Failure(ConnectionDone()))
print(json.dumps({"poetry": poetry.__file__, "idle": factory.idle_timeout,
                  "lingering": lingering, "events": len(events),
                  "sent": proto.sent, "served": factory.served}))
"""


class AblationTests(SynchronousTestCase):
    """C{python -m bench.ablation}'s copies of the source."""

    def setUp(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-ablation-test-"))
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.poem = self.workdir / "poem.txt"
        self.poem.write_bytes(b"a poem\n")

    def one_connection(self, tree: Path | None) -> dict[str, Any]:
        """What one connection of twistd's factory did, in C{tree}'s copy."""
        env = dict(os.environ)
        if tree is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
        out = subprocess.run(
            [sys.executable, "-c", _ONE_CONNECTION, str(self.poem)],
            capture_output=True,
            text=True,
            env=env,
            # As the bench runs its servers: away from the checkout, which
            # "-c" would put first on the path.
            cwd=self.workdir,
            timeout=60,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def test_eachStepCutsItsFeature(self) -> None:
        """
        Every cut is found in the checkout, and each step's copy (the one
        imported: first on the path) lacks what its cuts name and only
        that: the idle timer, then the linger bound, then the access
        event, the poem served and counted in every one.
        """
        expected = [
            (60.0, 1, 1),  # the checkout as it is
            (None, 1, 1),  # no idle timer
            (None, 0, 1),  # and no linger bound
            (None, 0, 0),  # and no access event
        ]
        self.assertEqual(len(ablation.CUTS), len(expected) - 1)
        for steps, (idle, lingering, events) in enumerate(expected):
            tree = ablation.ablated_tree(self.workdir, steps) if steps else None
            got = self.one_connection(tree)
            if tree is not None:
                self.assertTrue(got["poetry"].startswith(str(tree)), got["poetry"])
            self.assertEqual(
                (got["idle"], got["lingering"], got["events"]),
                (idle, lingering, events),
                f"step {steps}",
            )
            self.assertEqual((got["sent"], got["served"]), (7, 1), f"step {steps}")

    def test_cutNotFound(self) -> None:
        """
        A cut whose code has moved names itself and says what to update,
        and leaves the file as it was.
        """
        (self.workdir / "f.py").write_text("x = 1\n")
        cut = ablation.Cut("no x", "f.py", "x = 2\n", "")
        e = self.assertRaises(ablation.CutNotFound, cut.apply, self.workdir)
        self.assertEqual(
            str(e),
            "cut 'no x': its code is in f.py 0 times, not once: update"
            " bench/ablation.py",
        )
        self.assertEqual((self.workdir / "f.py").read_text(), "x = 1\n")
