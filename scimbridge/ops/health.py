"""Readiness: one entry per component, each ok or not, with no secret in it.

Does: check that the database answers, the schema is at the newest revision, a sync worker has
sent a heartbeat recently (judged from the heartbeats in the database: a worker that stopped
cleanly removed its own, and one silent for ``heartbeat_retention_seconds`` is forgotten), the
backlog and dead letters are under their thresholds, the sync has not stalled (changes waiting
while no sync succeeded for ``stalled_sync_seconds``: "Twilio unreachable for 4 min, 37 changes
waiting"), and Twilio accepted the credentials recently. The same report feeds ``/readyz`` and
``scimbridge status``.
Does not: call Twilio itself (the sync worker verifies credentials and records the time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scimbridge.config.settings import ReadinessThresholds
from scimbridge.store.objects import Store
from scimbridge.store.outbox import OUTAGE_CAUSES

SCIM_COMPONENTS = ("database", "migrations")


@dataclass(frozen=True)
class Stall:
    """Changes are waiting: ``waiting`` of them, for ``seconds`` with no sync succeeding (since
    the oldest waiting change, or the last success if later); ``error``: the latest failure."""

    seconds: float
    waiting: int
    error: str | None

    def describe(self) -> str:
        """``Twilio unreachable for 4 min, 37 changes waiting``."""
        cause = next(
            (c for c in OUTAGE_CAUSES if (self.error or "").startswith(c)),
            "no sync succeeded",
        )
        plural = "change" if self.waiting == 1 else "changes"
        return f"{cause} for {_duration(self.seconds)}, {self.waiting} {plural} waiting"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def sync_stall(store: Store, now: datetime | None = None) -> Stall | None:
    """How long the waiting changes have gone without any sync succeeding; None if none wait."""
    now = now or datetime.now(UTC)
    waiting = store.outbox.backlog()
    oldest = store.outbox.oldest_pending_age(now)
    if not waiting or oldest is None:
        return None
    last = store.state.last_success()
    seconds = oldest if last is None else min(oldest, _age(last[1], now))
    return Stall(seconds, waiting, store.outbox.latest_error())


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
    """Seconds from ``moment`` (naive means UTC) to ``now``, never negative."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


def readiness(
    store: Store,
    *,
    sync_expected: bool,
    thresholds: ReadinessThresholds,
    now: datetime | None = None,
) -> Report:
    """Check every component; a database failure stops the checks that need it."""
    now = now or datetime.now(UTC)
    report = Report()
    try:
        head = store.database.at_head()
    except Exception as exc:  # unreachable, wrong credentials, missing file: all "not ready"
        report.checks["database"] = {"ok": False, "error": type(exc).__name__}
        return report
    report.checks["database"] = {"ok": True}
    report.checks["migrations"] = {"ok": head}
    if not head:
        report.checks["migrations"]["error"] = "run `scimbridge migrate`"
        return report

    backlog = store.outbox.backlog()
    dead = store.outbox.dead_count()
    report.checks["backlog"] = {"ok": backlog <= thresholds.max_backlog, "value": backlog}
    report.checks["dead_letters"] = {"ok": dead <= thresholds.max_dead_letters, "value": dead}
    # The database says what runs: a worker that reported within the retention window is (or
    # was, if it went silent) part of the running system, whatever this process's settings say.
    beats = store.state.heartbeats()
    ages = (_age(seen, now) for seen in beats.values())
    recent = [age for age in ages if age <= thresholds.heartbeat_retention_seconds]
    if not sync_expected and not recent:
        report.checks["sync_worker"] = {"ok": True, "detail": "sync is off"}
        return report

    stall = sync_stall(store, now)
    stalled = stall is not None and stall.seconds > thresholds.stalled_sync_seconds
    progress: dict[str, Any] = {
        "ok": not stalled,
        "stalled_seconds": 0.0 if stall is None else round(stall.seconds, 1),
    }
    if stall is not None and stalled:
        progress["error"] = stall.describe()
        progress["last_error"] = stall.error
    report.checks["sync_progress"] = progress

    fresh = [age for age in recent if age <= thresholds.heartbeat_seconds]
    report.checks["sync_worker"] = {
        "ok": bool(fresh),
        "last_heartbeat_age_seconds": round(min(recent), 1) if recent else None,
        "workers": len(fresh),
    }
    if len(recent) > len(fresh):
        report.checks["sync_worker"]["silent_workers"] = len(recent) - len(fresh)
    verified = store.state.credential_check()
    verified_age = _age(verified[1], now) if verified else None
    report.checks["twilio_credentials"] = {
        "ok": verified_age is not None and verified_age <= thresholds.credentials_minutes * 60,
        "verified_age_seconds": None if verified_age is None else round(verified_age, 1),
    }
    if verified and verified[0] and verified[0] != "ok":
        report.checks["twilio_credentials"]["ok"] = False
        report.checks["twilio_credentials"]["error"] = verified[0]
    return report
