"""Request counts and latencies per route for `GET /metrics`, in Prometheus' text format, and for
personalization the fallbacks per part and reason code and the model version answering each part.

Labels are the route template, the method and the status: bounded sets, and no customer id or identifier
can reach a label (paths that match no route count as `<unmatched>`). Each app keeps its own counts, so two
apps in one process (tests, several workspaces) do not mix them; under Serve each replica reports its own,
and Prometheus sums them across replicas.

The counts live in this object and reach `prometheus_client` only as metric families at render time (a
custom collector). Its own `Counter` and `Histogram` keep their values in whatever store the process chose
when `prometheus_client` was first imported, and `import feast.metrics` sets `PROMETHEUS_MULTIPROC_DIR`: after
that, every counter of the same name in the process (and in any process sharing the folder) adds into one
memory-mapped value, so two apps' requests were counted together.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds; dense below 10 ms, the profile route's budget."""


class ApiMetrics:
    """The request counter and latency histogram of one API app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        """(route, method) -> a count per bucket (the last: above every bound), then the sum of seconds."""
        self._fallbacks: dict[tuple[str, str], int] = {}
        self._versions: dict[str, str] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (route, method, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            cells = self._latency.setdefault((route, method), [0.0] * (len(LATENCY_BUCKETS) + 2))
            cells[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            cells[-1] += seconds

    def part(self, part: str, fallback: str | None, version: str | None) -> None:
        """One personalization part answered: its fallback reason (None: the model answered) and the model
        version in use (None: no model; the last version seen is kept). Both are bounded sets: part names
        and reason codes are constants, versions change when a model is promoted."""
        with self._lock:
            if fallback is not None:
                key = (part, fallback)
                self._fallbacks[key] = self._fallbacks.get(key, 0) + 1
            if version is not None:
                self._versions[part] = version

    def collect(self) -> Iterator[Metric]:
        """The metric families, as `prometheus_client` asks a registered collector for them."""
        with self._lock:
            requests = dict(self._requests)
            latency = {k: list(v) for k, v in self._latency.items()}
            fallbacks, versions = dict(self._fallbacks), dict(self._versions)
        counter = CounterMetricFamily(
            "c360_api_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, n in sorted(requests.items()):
            counter.add_metric(list(labels), n)
        yield counter
        histogram = HistogramMetricFamily(
            "c360_api_request_duration_seconds",
            "Time from the request reaching the app to its response, by route template and method.",
            labels=["route", "method"],
        )
        for labels, cells in sorted(latency.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), cells[:-1], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            histogram.add_metric(list(labels), buckets, sum_value=cells[-1])
        yield histogram
        fell_back = CounterMetricFamily(
            "c360_personalize_fallbacks",
            "Personalization parts answered by their fallback, by part and reason code.",
            labels=["part", "reason"],
        )
        for labels, n in sorted(fallbacks.items()):
            fell_back.add_metric(list(labels), n)
        yield fell_back
        in_use = GaugeMetricFamily(
            "c360_model_version_info",
            "The model version answering each personalization part (1 for the version in use).",
            labels=["part", "version"],
        )
        for part, version in sorted(versions.items()):
            in_use.add_metric([part, version], 1)
        yield in_use

    def render(self) -> bytes:
        return generate_latest(self.registry)
