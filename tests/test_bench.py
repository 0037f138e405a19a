"""
Tests for where C{python -m bench} writes its results: only a full run may
replace the tracked C{bench/RESULTS.md}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bench.harness import BENCH
from bench.run import SCENARIOS, default_output


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
