"""Readiness: one entry per component, each ok or not, with no secret in it.

Does: check that the database answers, the schema is at the newest revision, a sync worker has
sent a heartbeat recently, the backlog and dead letters are under their thresholds, and Twilio
accepted the credentials recently. The same report feeds ``/readyz`` and ``scimbridge status``.
Does not: call Twilio itself (the sync worker verifies credentials and records the time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from scimbridge.config import ReadinessThresholds
from scimbridge.store import links, outbox
from scimbridge.store.database import at_head

SCIM_COMPONENTS = ("database", "migrations")


@dataclass
class Report:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check["ok"] for check in self.checks.values())

    @property
    def scim_ok(self) -> bool:
        """What serving SCIM needs: the database answers and the schema is new enough."""
        return all(self.checks.get(name, {}).get("ok") for name in SCIM_COMPONENTS)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ok else "not ready", "checks": self.checks}


def _age(moment: datetime, now: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


def readiness(
    engine: Engine,
    *,
    sync_expected: bool,
    thresholds: ReadinessThresholds,
    now: datetime | None = None,
) -> Report:
    """Check every component; a database failure stops the checks that need it."""
    now = now or datetime.now(UTC)
    report = Report()
    try:
        head = at_head(engine)
    except Exception as exc:  # unreachable, wrong credentials, missing file: all "not ready"
        report.checks["database"] = {"ok": False, "error": type(exc).__name__}
        return report
    report.checks["database"] = {"ok": True}
    report.checks["migrations"] = {"ok": head}
    if not head:
        report.checks["migrations"]["error"] = "run `scimbridge migrate`"
        return report

    backlog = outbox.backlog(engine)
    dead = len(outbox.dead_letters(engine))
    report.checks["backlog"] = {"ok": backlog <= thresholds.max_backlog, "value": backlog}
    report.checks["dead_letters"] = {"ok": dead <= thresholds.max_dead_letters, "value": dead}
    if not sync_expected:
        report.checks["sync_worker"] = {"ok": True, "detail": "sync is off"}
        return report

    beats = links.heartbeats(engine)
    freshest = min((_age(seen, now) for seen in beats.values()), default=None)
    report.checks["sync_worker"] = {
        "ok": freshest is not None and freshest <= thresholds.heartbeat_seconds,
        "last_heartbeat_age_seconds": None if freshest is None else round(freshest, 1),
        "workers": len(beats),
    }
    verified = links.read_state(engine, links.TWILIO_VERIFIED)
    verified_age = _age(verified[1], now) if verified else None
    report.checks["twilio_credentials"] = {
        "ok": verified_age is not None and verified_age <= thresholds.credentials_minutes * 60,
        "verified_age_seconds": None if verified_age is None else round(verified_age, 1),
    }
    if verified and verified[0] and verified[0] != "ok":
        report.checks["twilio_credentials"]["ok"] = False
        report.checks["twilio_credentials"]["error"] = verified[0]
    return report
