"""The outage run of ``bench/sync_bench.py``: Twilio answers 503 for minutes amid a sync.

Does: POST N users over HTTP with the worker stopped, start it, and once ``--outage-after``
seconds of syncing have passed make every Twilio route answer 503 for ``--outage`` seconds. While
Twilio is down, disable ``--disable`` users whose workers were made Available in Flex, and rename
as many others. Then Flex answers again, and the run waits for the outbox to empty. Reports the
time from recovery to the last outcome, Twilio calls per user (during the outage and in all),
dead letters, duplicate workers, every user's worker checked against the store, and what
``status`` said just before recovery. Default ``[sync]`` settings throughout.
Does not: reach any address but 127.0.0.1, or keep anything (temporary directory).

    python bench/sync_bench.py --outage 300                # 5,000 users, 5 minutes of 503s
    python bench/sync_bench.py --users 1500 --outage 120 --outage-after 30
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from scimbridge.ops.health import sync_stall
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer

if TYPE_CHECKING:
    from bench.sync_bench import Bench

SECTION = "## Flex sync through an outage"
log = logging.getLogger("sync_bench")


@dataclass
class OutageReport:
    args: argparse.Namespace
    post_seconds: float
    synced_before: int
    outage_calls: int
    total_calls: int
    recovery_seconds: float
    total_seconds: float
    status_before_recovery: str
    duplicates: int
    wrong: list[str]
    dead: int
    outcomes: dict[str, int]
    versions: str

    def markdown(self, machine: list[str]) -> str:
        a = self.args
        users = a.users
        rows = [
            ("dead letters = 0", str(self.dead), self.dead == 0),
            ("duplicate workers = 0", str(self.duplicates), self.duplicates == 0),
            (
                f"all {users} users converged with no action",
                f"{users - len(self.wrong)}",
                not self.wrong,
            ),
            (
                "time to converge after recovery",
                f"{self.recovery_seconds:.1f} s",
                True,
            ),
            (
                "Twilio calls per user",
                f"{self.total_calls / users:.3f} in all ({self.outage_calls / users:.3f} of them "
                "answered 503 during the outage)",
                True,
            ),
        ]
        return (
            "\n".join(
                [
                    SECTION,
                    "",
                    f"Run of {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
                    "",
                    *machine,
                    f"- {self.versions}",
                    "",
                    f"Command: `{a.command}`",
                    "",
                    f"Setup: as the run above ({a.latency * 1000:g} ms added latency, `If-Match` "
                    f"enforced, SQLite, default `[sync]` settings, {a.threads} threads, "
                    f"`SCIMBRIDGE_TWILIO_MAX_RPS={a.rps:g}`). {users} users POSTed over HTTP "
                    f"({self.post_seconds:.1f} s), the worker started; after {a.outage_after:g} s "
                    f"({self.synced_before} users synced) every Twilio route answered 503 for "
                    f"{a.outage:g} s. During it, {a.disable} users whose workers had been made "
                    f"Available in Flex were disabled (`active: false`) and {a.disable} others "
                    "renamed (`displayName`), over HTTP. Then Flex answered again.",
                    "",
                    "| target | measured | |",
                    "|---|---|---|",
                    *(f"| {t} | {m} | {'✓' if ok else '✗'} |" for t, m, ok in rows),
                    "",
                    f"- `status` just before recovery: {self.status_before_recovery}.",
                    f"- Whole run from worker start: {self.total_seconds:.1f} s; outcomes "
                    f"{self.outcomes}.",
                ]
            )
            + "\n"
        )


def run_outage(
    args: argparse.Namespace,
    make_bench: type[Bench],
    serve: Callable[[Any], AbstractContextManager[str]],
) -> OutageReport:
    """The outage run; ``make_bench`` and ``serve`` are ``sync_bench``'s."""
    users = args.users
    with tempfile.TemporaryDirectory(prefix="sync-outage-") as tmp, FakeFlexServer() as fake:
        fake.state.faults.set_latency(args.latency)
        fake.state.set_options(enforce_if_match=True)
        bench = make_bench(args, fake, Path(tmp))
        try:
            with (
                serve(bench.app) as base,
                httpx.Client(
                    base_url=base + "/scim/v2",
                    headers={"Authorization": "Bearer " + args.token},
                    timeout=60,
                ) as scim,
            ):
                log.warning("posting %d users over HTTP", users)
                posted = time.monotonic()
                bench.post_users(scim, users)
                post_seconds = time.monotonic() - posted
                started = bench.reset_counters()
                bench.worker.start()
                time.sleep(args.outage_after)
                synced = [u for u in bench.user_ids if bench.store.links.get(u) is not None]
                disabled = synced[: args.disable]
                for user_id in disabled:
                    link = bench.store.links.get(user_id)
                    assert link is not None and link.worker_sid
                    fake.state.update_worker(
                        link.worker_sid, activity_sid=fake.state.activity_sid("Available")
                    )
                log.warning("outage: %d s of 503s (%d users synced)", args.outage, len(synced))
                rule = fake.state.faults.add(Fault(FaultKind.UNAVAILABLE, route="*", times=None))
                calls_before = len(bench.metrics.twilio_calls)
                outage_started = time.monotonic()
                renamed = bench.user_ids[-args.disable :] if args.disable else []
                for user_id in disabled:
                    _replace(scim, user_id, "active", False)
                for user_id in renamed:
                    _replace(scim, user_id, "displayName", "Renamed during the outage")
                time.sleep(max(0.0, args.outage - (time.monotonic() - outage_started)))
                stall = sync_stall(bench.store)
                said = stall.describe() if stall else "nothing waiting"
                outage_calls = len(bench.metrics.twilio_calls) - calls_before
                fake.state.faults.remove(rule)
                recovered = time.monotonic()
                log.warning("Twilio is back; waiting for the outbox to drain")
                budget = 300 + 6 * (2 * users) / args.rps
                bench.wait_drained("after the outage", users, budget)
                done = bench.outcomes.seen[-1][0]
                names = {user_id: n for n, user_id in enumerate(bench.user_ids)}
                moved = set(renamed)

                def expected(n: int) -> str:
                    moved_name = "Renamed during the outage"
                    return moved_name if bench.user_ids[n] in moved else f"Agent {n}"

                duplicates, wrong = bench.converged(expected)
                offline = fake.state.activity_sid("Offline")
                for user_id in disabled:
                    link = bench.store.links.get(user_id)
                    worker = fake.state.worker_named(link.friendly_name or "") if link else None
                    if worker is None or worker.activity_sid != offline:
                        wrong.append(f"disabled user {names[user_id]} not offline")
                dead = len(bench.store.outbox.dead_letters())
        finally:
            bench.worker.stop()
            bench.store.database.dispose()
    return OutageReport(
        args=args,
        post_seconds=post_seconds,
        synced_before=len(synced),
        outage_calls=outage_calls,
        total_calls=len(bench.metrics.twilio_calls),
        recovery_seconds=done - recovered,
        total_seconds=done - started,
        status_before_recovery=said,
        duplicates=duplicates,
        wrong=wrong,
        dead=dead,
        outcomes=dict(sorted(Counter(o for _t, o, _u in bench.outcomes.seen).items())),
        versions=_versions(),
    )


def _replace(scim: httpx.Client, user_id: str, path: str, value: object) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": path, "value": value}],
    }
    response = scim.patch(f"/Users/{user_id}", json=body)
    if response.status_code not in (200, 204):
        raise RuntimeError(f"PATCH {user_id}: {response.status_code} {response.text[:200]}")


def _versions() -> str:
    from importlib.metadata import version

    names = ("scimbridge", "twilio", "sqlalchemy", "starlette", "uvicorn")
    return ", ".join(f"{name} {version(name)}" for name in names)
