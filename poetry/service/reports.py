"""
C{--workers N}: what the parent learns from its workers when they stop.
Each worker, on its way out, emits one L{WORKER_REPORT_NAMESPACE} event with
its stop line's fields; L{WorkerReports} keeps one report per worker process
that exited (its own, or, for a worker killed before it could send one, its
last counts snapshot) and sums them for the parent's one stop line.
"""

from __future__ import annotations

from poetry.service.service import STOP_FIELDS, stop_fields

__all__ = ["WORKER_REPORT_NAMESPACE", "WorkerReports"]

#: The namespace of the events a worker sends the parent about itself (not
#: relayed as log events): its counts snapshots (C{counts}, C{status}) and,
#: once it has stopped, its stop line's fields (C{report}).
WORKER_REPORT_NAMESPACE = "poetry.worker.report"


class WorkerReports:
    """
    The stop reports of the worker processes that exited, in the order they
    exited, and their sum.

    @ivar reports: one stop line's fields (L{STOP_FIELDS}) per exited worker
        that sent a report or at least one counts snapshot.
    """

    def __init__(self) -> None:
        self.reports: list[dict[str, int]] = []

    def worker_ended(
        self, report: dict[str, int] | None, counts: dict[str, int] | None
    ) -> None:
        """
        A worker process exited, after sending C{report} (its stop line's
        fields) or, if it died first, with C{counts} its last snapshot
        (L{PoetryServerFactory.counts}), which stands for it: everything it
        served counts, and none of it finished during a shutdown.  A worker
        that sent neither adds nothing.
        """
        if report is not None:
            self.reports.append(report)
        elif counts is not None:
            counts = {"health_checks": 0} | counts
            self.reports.append(
                stop_fields(counts, counts["served"], counts["cut_at_shutdown"])
            )

    def totals(self) -> dict[str, int]:
        """The stop line's fields summed over every report (0 without any)."""
        totals = dict.fromkeys(STOP_FIELDS, 0)
        for report in self.reports:
            for name in STOP_FIELDS:
                totals[name] += int(report.get(name, 0))
        return totals
