"""``scimbridge status``: what an operator (or cron, or a probe) needs at a glance.

Does: gather the backlog, the dead letters (by userName) with their reasons, the users whose
worker misses a mapped value (by userName), the last successful sync, an outage in progress, the
live tokens (names only) and the readiness checks into one report, for a table or ``--json``.
Mapping problems do not make the report unhealthy: they are the directory's data to fix, not an
outage. Every stored string printed is escaped for rich markup, so a reason that names
``[flex.attributes.x]`` prints as it is.
Does not: change anything, call Twilio, or show any token or secret.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scimbridge.config.settings import ReadinessThresholds
from scimbridge.ops.health import readiness
from scimbridge.store.objects import Store


def status_report(
    store: Store, *, thresholds: ReadinessThresholds, sync_expected: bool, static_token: bool
) -> dict[str, Any]:
    """The report of ``store``, judged by ``thresholds`` (``[ops]``).

    ``sync_expected``: this environment names a Twilio account; ``static_token``: it sets
    ``SCIMBRIDGE_BEARER_TOKEN`` (shown beside the stored tokens, never its value).
    """
    # Whether the sync runs is read from the heartbeats in the database (readiness does), not
    # from this command's environment: `status` runs beside the server, rarely with its settings.
    report = readiness(store, sync_expected=sync_expected, thresholds=thresholds)
    result: dict[str, Any] = {"healthy": report.ok, "checks": report.checks}
    if not report.checks.get("migrations", {}).get("ok"):
        return result
    last = store.state.last_success()
    worker_check = report.checks.get("sync_worker", {})
    result["sync"] = {
        "enabled": "detail" not in worker_check,
        "workers": worker_check.get("workers", 0),
        "backlog": store.outbox.backlog(),
        "oldest_pending_seconds": store.outbox.oldest_pending_age(),
        "last_successful_sync": last[0] if last else None,
    }
    result["dead_letters"] = [
        {
            "user_id": letter.user_id,
            "user_name": letter.user_name,
            "attempts": letter.attempts,
            "reason": letter.last_error,
            "dead_since": letter.dead_at.isoformat(),
        }
        for letter in store.outbox.dead_letters()
    ]
    result["mapping_problems"] = [
        {"user_name": user_name, "problems": list(problems)}
        for user_name, problems in store.links.mapping_problems()
    ]
    result["tokens"] = [
        {"name": record.name, "created": record.created_at.isoformat()}
        for record in store.tokens.list_tokens()
        if record.live
    ]
    result["static_token"] = static_token
    return result


def print_status(result: dict[str, Any], console: Console) -> None:
    checks = Table("component", "ok", "detail", title="readiness")
    for name, check in result["checks"].items():
        detail = ", ".join(f"{k}={v}" for k, v in check.items() if k != "ok")
        mark = "[green]yes[/green]" if check["ok"] else "[red]no[/red]"
        checks.add_row(escape(name), mark, escape(detail))
    console.print(checks)
    sync = result.get("sync")
    if sync:
        if not sync["enabled"]:
            running = "off (no sync worker has reported)"
        elif sync["workers"]:
            running = f"on ({sync['workers']} sync worker(s) reporting)"
        else:
            running = "stalled (no sync worker reported recently)"
        console.print(
            f"sync: {running} · backlog {sync['backlog']} · "
            f"last successful sync {sync['last_successful_sync'] or 'never'}"
        )
    stalled = result["checks"].get("sync_progress", {})
    if not stalled.get("ok", True):
        console.print(f"[red]{escape(stalled['error'])}[/red]")
        if stalled.get("last_error"):
            console.print(f"last error: {escape(stalled['last_error'])}")
    letters = result.get("dead_letters") or []
    if letters:
        table = Table("userName", "attempts", "since", "reason", title="dead letters")
        for letter in letters:
            table.add_row(
                escape(letter["user_name"] or f"(deleted user {letter['user_id']})"),
                str(letter["attempts"]),
                letter["dead_since"],
                escape(letter["reason"] or ""),
            )
        console.print(table)
        console.print("retry them with `scimbridge resync`")
    problems = result.get("mapping_problems") or []
    if problems:
        table = Table("userName", "problem", title="mapping problems (the worker keeps its value)")
        for entry in problems:
            for problem in entry["problems"]:
                table.add_row(escape(entry["user_name"]), escape(problem))
        console.print(table)
        console.print(
            "fix the source in the directory; `scimbridge check-config --user U` explains"
        )
    live = result.get("tokens")
    if live is not None:
        names = escape(", ".join(t["name"] for t in live) or "none")
        static = " (+ static token)" if result.get("static_token") else ""
        console.print(f"live tokens: {names}{static}", highlight=False)
    console.print("[green]healthy[/green]" if result["healthy"] else "[red]unhealthy[/red]")
