"""
The server's Prometheus metrics (C{GET /metrics}): L{ServerMetrics}, a
registry of its own (never C{prometheus_client}'s process-wide one) with
one collector reading the server's counters when scraped, and a duration
histogram fed as connections end.  Text exposition by
C{prometheus_client.generate_latest}.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from poetry.server.base import BaseServerProtocol
from poetry.server.outcome import ConnectionOutcome
from poetry.server.view import ServerView, fault_mode

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "ServerMetrics"]

#: The exposition format's content type.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

#: Connection duration histogram buckets, seconds: fast poems take
#: milliseconds, slow ones and hanging faults minutes.
DURATION_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

#: The refusal counters, by the limit that refused.
_REFUSALS = {"max_connections": "refused", "max_per_peer": "refused_per_peer"}


class ServerMetrics(Collector):
    """
    Every metric of one server.  Most are read from its L{ServerView} at
    scrape time (nothing is counted twice); what only the end of a
    connection knows (its duration, the fault mode it played) is recorded
    by L{connection_ended}, which the view calls.

      - C{poetry_connections_ended_total{outcome}}: connections by how they
        ended (a L{ConnectionOutcome} name, lower case);
      - C{poetry_bytes_sent_total}: bytes handed to transports, live
        connections included;
      - C{poetry_live_connections}: connections being served now;
      - C{poetry_connection_duration_seconds}: a histogram of how long
        connections lasted;
      - C{poetry_refused_total{limit}}: connections refused, by limit;
      - C{poetry_fault_activations_total{mode}}: connections that played a
        fault mode, live ones included.
    """

    def __init__(self, view: ServerView) -> None:
        self.view = view
        self.registry = CollectorRegistry(auto_describe=False)
        self.duration = Histogram(
            "poetry_connection_duration_seconds",
            "How long server connections lasted, in seconds.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        #: Ended connections that played a fault mode, by mode.
        self.faults_ended: dict[str, int] = {}
        self.registry.register(self)
        view.observe(self.connection_ended)

    def ended_faults(self) -> dict[str, int]:
        """Ended connections that played a fault mode, by mode (a copy)."""
        return dict(self.faults_ended)

    def connection_ended(self, protocol: BaseServerProtocol) -> None:
        """Record how long C{protocol}'s connection lasted, and its mode."""
        self.duration.observe(max(0.0, self.view.now() - protocol.started))
        mode = fault_mode(protocol)
        if mode is not None:
            self.faults_ended[mode] = self.faults_ended.get(mode, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """The metrics read at scrape time."""
        view = self.view
        ended = view.ended()
        outcomes = CounterMetricFamily(
            "poetry_connections_ended",
            "Server connections that have ended, by how they ended.",
            labels=["outcome"],
        )
        for outcome in ConnectionOutcome:
            outcomes.add_metric([outcome.name.lower()], ended[outcome])
        yield outcomes
        counts = view.counts()
        yield CounterMetricFamily(
            "poetry_bytes_sent",
            "Bytes handed to transports, over all connections.",
            value=counts["bytes_sent"] + view.bytes_sent_live(),
        )
        yield GaugeMetricFamily(
            "poetry_live_connections",
            "Connections being served now.",
            value=counts["live"],
        )
        refused = CounterMetricFamily(
            "poetry_refused",
            "Connections refused, by the limit that refused them.",
            labels=["limit"],
        )
        for limit, name in _REFUSALS.items():
            refused.add_metric([limit], counts[name])
        yield refused
        faults = CounterMetricFamily(
            "poetry_fault_activations",
            "Connections that played a fault mode, by mode (live ones too).",
            labels=["mode"],
        )
        modes = self.ended_faults()
        for mode, live in view.live_faults().items():
            modes[mode] = modes.get(mode, 0) + live
        for mode in sorted(modes):
            faults.add_metric([mode], modes[mode])
        yield faults

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
