"""
What each feature the server turns on by default costs, in user-space
instructions per poem under the fast-serve load (callgrind: repeatable on
a shared, noisy machine, where throughput is not).

  python -m bench.ablation                  # needs valgrind; a few minutes
  python -m bench.ablation --poems 3000 --repeat 2

It copies this checkout's C{poetry} package several times, each copy with
one more default feature cut out of its source (L{CUTS}, cumulative):

  1. no idle timer: L{default_idle_timeout} gives L{None}, so C{twistd
     poetry} runs without C{--idle-timeout}'s 60 s default;
  2. no linger bound: C{writeConnectionLost} leaves the connection off the
     factory's C{lingers} (the lingering close itself stays);
  3. no access event: C{connection_ended} builds and publishes none.

Each copy runs as C{python -m bench.cpu}'s C{ours-tree} (C{twistd -n
--logfile FILE poetry}, the copy first on the path), beside
C{minimal-linger}, C{ours} and C{ours-nolog} (the access event built and
published, its text never written: what the text observer costs).  The
table gives each kind's instructions per poem, its ratio to
C{minimal-linger}'s, and what each step saved: the price of that feature.
The cuts are measuring instruments, not options: a server without them
breaks the wire contract's bounds (docs/design.md).

A cut whose code has moved stops the run with a one-line error naming it
(L{CutNotFound}); C{tests/test_bench.py} applies every cut to the checkout,
so the suite fails first.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.harness import ROOT, raise_file_limit

__all__ = ["CUTS", "Cut", "CutNotFound", "ablated_tree", "main"]


class CutNotFound(Exception):
    """A cut's code is not in its file (once): the source has moved on."""


@dataclass(frozen=True)
class Cut:
    """
    One default feature cut out of a copy of the source: C{old}, found
    exactly once in C{path} (relative to the checkout), becomes C{new}.
    """

    name: str
    path: str
    old: str
    new: str

    def apply(self, tree: Path) -> None:
        """Cut the feature out of the copy in C{tree}."""
        file = tree / self.path
        text = file.read_text()
        found = text.count(self.old)
        if found != 1:
            raise CutNotFound(
                f"cut {self.name!r}: its code is in {self.path} {found} times,"
                " not once: update bench/ablation.py"
            )
        file.write_text(text.replace(self.old, self.new))


_LINGERS = "            lingers = self._lingers = self.factory.lingers"
_ACCESS = "        log_access(\n            self.access_log,\n"

CUTS = (
    Cut(
        "no idle timer",
        "poetry/server/factory.py",
        "def default_idle_timeout(delay: float | None, fault: MayHang | None)"
        " -> float | None:\n",
        "def default_idle_timeout(delay: float | None, fault: MayHang | None)"
        " -> float | None:\n    return None  # bench.ablation\n",
    ),
    Cut(
        "no linger bound",
        "poetry/server/base.py",
        _LINGERS,
        "            return  # bench.ablation\n" + _LINGERS,
    ),
    Cut(
        "no access event",
        "poetry/server/factory.py",
        _ACCESS,
        "        if False:  # bench.ablation\n    " + _ACCESS,
    ),
)
"""The cuts, in the order they are made: step N has the first N."""


def ablated_tree(workdir: Path, steps: int, source: Path = ROOT) -> Path:
    """
    A copy of C{source}'s C{poetry} package in C{workdir} with the first
    C{steps} of L{CUTS} made.

    @raise CutNotFound: if one of them is not in the source.
    """
    tree = workdir / f"cut-{steps}"
    shutil.copytree(
        source / "poetry", tree / "poetry", ignore=shutil.ignore_patterns("__pycache__")
    )
    for cut in CUTS[:steps]:
        cut.apply(tree)
    return tree


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ablation")
    p.add_argument("--poems", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=1, help="measure each kind N times")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("python -m bench.ablation: valgrind is not installed")
    raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="poetry-ablation-"))
    try:
        try:
            trees = [ablated_tree(workdir, n) for n in range(1, len(CUTS) + 1)]
        except CutNotFound as e:
            raise SystemExit(f"python -m bench.ablation: {e}") from None
        setup = cpu.fast_setup(workdir)
        runs: list[tuple[str, str, Path | None]] = [
            ("minimal-linger", "minimal-linger", None),
            ("ours", "ours", None),
            ("ours-nolog", "ours-nolog", None),
        ]
        for n, tree in enumerate(trees, 1):
            label = " + ".join(c.name for c in CUTS[:n])
            runs.append((label, "ours-tree", tree))
        per: dict[str, list[float]] = {label: [] for label, _, _ in runs}
        for _ in range(args.repeat):
            for label, kind, tree in runs:
                count = cpu.instructions_per_unit(kind, setup, args.poems, tree)
                per[label].append(count)
                print(f"{label:50} {count:10,.0f} instructions/poem", flush=True)
        median = {label: statistics.median(v) for label, v in per.items()}
        base = median["minimal-linger"]
        print(f"\n{'kind':50} {'instr/poem':>10} {'/minimal-linger':>15}  saved")
        previous = median["ours"]
        for label, _, tree in runs:
            saved = ""
            if label == "ours-nolog":
                saved = f"{median['ours'] - median[label]:,.0f} (the text line)"
            elif tree is not None:
                saved = f"{previous - median[label]:,.0f}"
                previous = median[label]
            ratio = median[label] / base
            print(f"{label:50} {median[label]:10,.0f} {ratio:14.2f}x  {saved}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
