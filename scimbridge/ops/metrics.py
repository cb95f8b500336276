"""Prometheus metrics, all prefixed ``scimbridge_``.

Does: count SCIM requests (method, resource, status) and their latency, sync attempts by outcome,
Twilio requests by endpoint and status; and read the sync backlog, dead letters, users with
mapping problems, the last successful sync and how long the sync has been stalled from the
database at scrape time, so those gauges are right whichever process is scraped. Export
``scimbridge_build_info{version,python}`` (always 1), ``python_info``, and the scraped process's
``process_*`` and ``python_gc_*``. No ``_created`` series (turned off for the whole process, as
most exporters do). With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to a shared,
writable directory: counters and histograms then aggregate across processes, and
``process_*``/``python_gc_*`` are left out (they would describe only whichever process answered
the scrape).
Does not: authenticate ``/metrics`` (the app checks ``SCIMBRIDGE_METRICS_TOKEN``) or label
anything with user names, tokens or other personal or secret data.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scimbridge import __version__
from scimbridge.ops.health import sync_stall
from scimbridge.store.objects import Store

log = logging.getLogger("scimbridge.metrics")
SCIM_RESOURCES = frozenset(
    {"Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", ".search"}
)
_SCIM_RESOURCE_NAMES = {name.lower(): name for name in SCIM_RESOURCES}
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def scim_resource(path: str) -> str:
    """The SCIM resource a request path names, as a bounded label value."""
    parts = path.split("/")
    if len(parts) < 4 or parts[1:3] != ["scim", "v2"]:
        return "other" if not path.startswith(("/healthz", "/readyz", "/metrics")) else "ops"
    # Endpoint names match in any case (scim.routes): label them as RFC 7644 spells them.
    return _SCIM_RESOURCE_NAMES.get(parts[3].lower(), "other")


class StoreCollector(Collector):
    """Gauges computed from the shared database when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        backlog = GaugeMetricFamily(
            "scimbridge_sync_backlog", "Users waiting for a sync (pending outbox rows)."
        )
        dead = GaugeMetricFamily(
            "scimbridge_sync_dead_letters", "Users whose sync was dead-lettered."
        )
        problems = GaugeMetricFamily(
            "scimbridge_sync_mapping_problems",
            "Users whose worker keeps an old value because a mapped source cannot be converted.",
        )
        last = GaugeMetricFamily(
            "scimbridge_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful worker sync (0 if none yet).",
        )
        stalled = GaugeMetricFamily(
            "scimbridge_sync_stalled_seconds",
            "How long changes have waited with no sync succeeding (0 when none wait): an "
            "outage once it passes [ops] stalled_sync_seconds.",
        )
        try:
            backlog.add_metric([], self.store.outbox.backlog())
            dead.add_metric([], self.store.outbox.dead_count())
            problems.add_metric([], len(self.store.links.mapping_problems()))
            stall = sync_stall(self.store)
            stalled.add_metric([], 0.0 if stall is None else stall.seconds)
            state = self.store.state.last_success()
            last.add_metric([], _timestamp(state[0]) if state and state[0] else 0.0)
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("metrics could not read the database: %s", type(exc).__name__)
            return
        yield backlog
        yield dead
        yield problems
        yield last
        yield stalled


class BuildInfoCollector(Collector):
    """``scimbridge_build_info``: 1, labelled with what is running (a collector, not a Gauge, so
    that it needs no multiprocess mode)."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "scimbridge_build_info",
            "Always 1; the labels say which scimbridge and Python answer.",
            labels=["version", "python"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        yield info


def _timestamp(iso: str) -> float:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Metrics:
    """The metrics of one application instance (its own registry; no global state)."""

    def __init__(self, store: Store | None = None, *, collectors: Sequence[Collector] = ()) -> None:
        # A process-wide switch of prometheus_client; only counters and histograms have them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter(
            "scimbridge_scim_requests",
            "SCIM requests answered.",
            ["method", "resource", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scimbridge_scim_request_duration_seconds",
            "Time to answer a SCIM request.",
            ["method", "resource"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sync_attempts = Counter(
            "scimbridge_sync_attempts",
            "Worker convergence attempts, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.sync_latency = Histogram(
            "scimbridge_sync_duration_seconds",
            "Time to converge one user's worker.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.twilio_requests = Counter(
            "scimbridge_twilio_requests",
            "Requests sent to Twilio, by endpoint and HTTP status (0: no response).",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self._store = StoreCollector(store) if store is not None else None
        # Collectors every scrape reports besides the counted metrics (the store's gauges too).
        self._shared: list[Collector] = [BuildInfoCollector(), PLATFORM_COLLECTOR]
        if self._store is not None:
            self._shared.append(self._store)
        # ``collectors`` are reported in every mode: they must read shared state (the database),
        # not this process's memory.
        self._shared.extend(collectors)
        if not self.multiprocess:
            for collector in (*self._shared, PROCESS_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)

    def observe_request(self, method: str, path: str, status: int, seconds: float) -> None:
        resource = scim_resource(path)
        if resource == "ops":
            return
        self.requests.labels(method, resource, str(status)).inc()
        self.latency.labels(method, resource).observe(seconds)

    def sync_outcome(self, outcome: str, user_id: str, seconds: float) -> None:
        self.sync_attempts.labels(outcome).inc()
        self.sync_latency.observe(seconds)

    def twilio_request(self, endpoint: str, status: int) -> None:
        self.twilio_requests.labels(endpoint, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in self._shared:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
