"""The server's Prometheus metrics, through prometheus_client: requests by endpoint, model and status, a latency
histogram by endpoint, rows predicted by model; summed over the worker processes when there are several. Per model
version, the statistics extension's figures (runtime/repository.py Statistics), readiness and refused loads, and the
requests shed as busy: those of the process that answers the scrape. With ``--drift-window``, the drift gauges of
runtime/serve_drift.py, computed at each scrape."""

from __future__ import annotations

import os
import time

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode, set by serve for --workers > 1
ROUTES = (
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/predict",
    "/metrics",
    "/openapi.json",
    "/v2/models/stats",
    "/v2/repository/index",
)
INFER = "/v2/models/{name}/infer"
VERSIONED_INFER = "/v2/models/{name}/versions/{version}/infer"


class Metrics:
    """The metrics of one app, in a registry of its own (two apps in one process do not mix their counts)."""

    def __init__(self, repository, admission, drift=None) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.content_type = CONTENT_TYPE_LATEST
        self.repository = repository
        self.versions = VersionCollector(repository, admission)
        self.registry.register(self.versions)
        self.requests = Counter(
            "logreg_requests",
            'Requests (HTTP; gRPC calls as endpoint "grpc METHOD", status the code name)',
            ["endpoint", "model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "logreg_request_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.rows = Counter("logreg_rows_predicted", "Rows predicted", ["model"], registry=self.registry)
        self.drift = drift  # a serve_drift.DriftCollector, or None
        if drift is not None:
            self.registry.register(drift)
        self._children: dict = {}  # labels() looks its child up under a lock each call: cached for the hot path

    def observe(self, endpoint: str, model: str, status: int, seconds: float, rows: int = 0) -> None:
        key = (endpoint, model, status)
        try:
            requests, latency, predicted = self._children[key]
        except KeyError:
            requests = self.requests.labels(endpoint, model, str(status))
            latency = self.latency.labels(endpoint)
            predicted = self.rows.labels(model) if model else None
            self._children[key] = requests, latency, predicted
        requests.inc()
        latency.observe(seconds)
        if rows and status in (200, "OK") and predicted is not None:
            predicted.inc(rows)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry)
        # several worker processes (--workers N): each writes its counts to files there; a scrape sums them all
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(self.versions)  # a version's statistics are this process's own, like a drift window
        if self.drift is not None:  # a window is this process's own: the gauges of the worker that answers
            registry.register(self.drift)
        return generate_latest(registry)

    @staticmethod
    def infer_endpoint(path: str) -> str:
        return VERSIONED_INFER if "/versions/" in path else INFER

    def endpoint(self, path: str) -> tuple[str, str]:
        """The route template and model name of a path (unknown paths pool under one label)."""
        if path in ROUTES:
            return path, ""
        models = self.repository.slots
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
            model = parts[2] if parts[2] in models else "unknown"
            rest = parts[3:]
            if len(rest) >= 2 and rest[0] == "versions":
                rest = ["versions", "{version}", *rest[2:]]
            return "/v2/models/{name}" + ("/" + "/".join(rest) if rest else ""), model
        if len(parts) == 5 and parts[:3] == ["v2", "repository", "models"]:
            return "/v2/repository/models/{name}/" + parts[4], parts[3] if parts[3] in models else "unknown"
        if path == "/predict" and len(models) == 1:
            return path, next(iter(models))
        return "(unknown)", ""


class MetricsMiddleware:
    """Counts every request with its final status and times it (pure ASGI, so errors answered by the exception
    handlers are counted with their 4xx)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            endpoint, model = self.metrics.endpoint(scope["path"])
            rows = scope.get("state", {}).get("rows") or 0
            self.metrics.observe(endpoint, model, status[0], time.perf_counter() - started, rows)


class VersionCollector:
    """A prometheus_client collector of each served version's statistics and readiness, the loads refused and the
    requests shed, read at each scrape from the repository (versions come and go while the server runs)."""

    def __init__(self, repository, admission) -> None:
        self.repository, self.admission = repository, admission

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["model", "version"]
        requests = CounterMetricFamily(
            "logreg_inference_requests", "Infer and predict requests by outcome", labels=[*labels, "outcome"]
        )
        seconds = CounterMetricFamily(
            "logreg_inference_seconds",
            "Cumulative seconds of requests (success, fail) and of their phases (queue, compute_*)",
            labels=[*labels, "phase"],
        )
        rows = CounterMetricFamily("logreg_inference_rows", "Rows scored", labels=labels)
        runs = CounterMetricFamily(
            "logreg_inference_executions", "Model runs (fewer than requests when batched)", labels=labels
        )
        ready = GaugeMetricFamily(
            "logreg_model_ready", "1 when the version is ready (its test vectors passed)", labels=labels
        )
        for entry in self.repository.served():
            key = [entry.name, entry.version]
            document = entry.stats.document(entry.name, entry.version)
            phases = document["inference_stats"]
            for outcome in ("success", "fail"):
                requests.add_metric([*key, outcome], phases[outcome]["count"])
            for phase in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output"):
                seconds.add_metric([*key, phase], phases[phase]["ns"] / 1e9)
            rows.add_metric(key, document["inference_count"])
            runs.add_metric(key, document["execution_count"])
            ready.add_metric(key, 1.0 if entry.ready else 0.0)
        yield from (requests, seconds, rows, runs, ready)
        yield CounterMetricFamily(
            "logreg_model_load_failures",
            "Model versions refused (unreadable, or failing their test vectors)",
            value=self.repository.failures,
        )
        yield CounterMetricFamily(
            "logreg_requests_shed", "Requests answered busy (--max-queue, --request-timeout)", value=self.admission.shed
        )
