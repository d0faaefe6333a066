"""Request counts and latencies per route for `GET /metrics`, in Prometheus' text format.

Labels are the route template, the method and the status: bounded sets, and no customer id or identifier
can reach a label (paths that match no route count as `<unmatched>`). Each app has its own registry, so
two apps in one process (tests, several workspaces) do not mix their counts; under Serve each replica
reports its own, and Prometheus sums them across replicas.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds; dense below 10 ms, the profile route's budget."""


class ApiMetrics:
    """The counters and histograms of one API app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "c360_api_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "c360_api_request_duration_seconds",
            "Time from the request reaching the app to its response, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
