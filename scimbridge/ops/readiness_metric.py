"""``scimbridge_readiness_check{check}``: the ``/readyz`` report as a Prometheus gauge.

Does: at each scrape, run the same readiness report ``/readyz`` answers with and export one
sample per check (``database``, ``migrations``, ``backlog``, ``dead_letters``, ``sync_worker``,
``twilio_credentials``): 1 when it passes, 0 when not, so an alert can say which one failed.
Does not: decide what ready means (``ops.health`` does), or fail a scrape: when the report
cannot be made at all, the series is left out and ``database`` is reported 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scimbridge.ops.health import Report

log = logging.getLogger("scimbridge.metrics")


class ReadinessCollector(Collector):
    """Exports ``report()`` (the ``/readyz`` report of this process) when scraped."""

    def __init__(self, report: Callable[[], Report]) -> None:
        self._report = report

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "scimbridge_readiness_check",
            "1 when this /readyz check passes, 0 when it fails.",
            labels=["check"],
        )
        try:
            report = self._report()
        except Exception as exc:  # a scrape must not fail because a check raised
            log.warning("metrics could not compute readiness: %s", type(exc).__name__)
            report = Report(checks={"database": {"ok": False}})
        for name, check in report.checks.items():
            family.add_metric([name], 1.0 if check.get("ok") else 0.0)
        yield family
