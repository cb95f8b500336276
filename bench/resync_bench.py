"""Resync benchmark: 10,000 workers, 1 % drift, against the fake Flex server.

Does: start the fake TaskRouter in this process, store N users (SQLite in a temporary directory,
or the PostgreSQL database given), seed their workers straight into the fake, run a first resync
(which adopts every worker: links only, no Twilio write), make 1 % drift of four kinds (worker
deleted in Flex, owned attribute edited in Flex, worker renamed in Flex, displayName changed in
the store while the sync was stopped), run the resync again, then once more with no drift, and
print for each run the Twilio calls by route and the time.
Does not: reach any address but 127.0.0.1, or measure Twilio's own latency (the fake answers in
about a millisecond; on the live API the calls, not the diff, dominate).

    python bench/resync_bench.py --workers 10000 --drift 0.01
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import delete

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scimbridge.config.settings import load_settings  # noqa: E402
from scimbridge.flex.mapping.attributes import merge_attributes  # noqa: E402
from scimbridge.flex.mapping.desired import desired_worker  # noqa: E402
from scimbridge.flex.sync.resync import Resync  # noqa: E402
from scimbridge.runtime import build_drainer, build_runtime  # noqa: E402
from scimbridge.store.database import create_db_engine, migrate  # noqa: E402
from scimbridge.store.tables import outbox  # noqa: E402
from scimbridge.testing.fakeflex.server import FakeFlexServer  # noqa: E402

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
KINDS = ("deleted in Flex", "attribute edited in Flex", "renamed in Flex", "changed in store")


def user_document(n: int) -> dict[str, Any]:
    name = f"agent{n:05d}@contoso.com"
    return {
        "schemas": [CORE],
        "userName": name,
        "displayName": f"Agent {n}",
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


def run(label: str, fake: FakeFlexServer, resync: Resync) -> dict[str, Any]:
    fake.state.requests.clear()
    started = time.perf_counter()
    plan = resync.plan()
    planned = time.perf_counter()
    outcome = resync.apply(plan)
    done = time.perf_counter()
    calls = Counter(request.route for request in fake.state.requests.all())
    probe = sum(
        1 for r in fake.state.requests.all() if (r.if_match or "").startswith('"scimbridge-')
    )
    result = {
        "run": label,
        "counts": plan.counts(),
        "calls": dict(sorted(calls.items())),
        "calls_total": sum(calls.values()),
        "probe_calls": probe,
        "plan_seconds": round(planned - started, 2),
        "apply_seconds": round(done - planned, 2),
        "failures": len(outcome.failures),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--drift", type=float, default=0.01, help="share of workers drifted")
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeFlexServer() as fake:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        migrate(url)
        env = {
            "SCIMBRIDGE_DATABASE_URL": url,
            "SCIMBRIDGE_BEARER_TOKEN": "bench-token-0123456789",
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "SCIMBRIDGE_TWILIO_BASE_URL": fake.url,
            "SCIMBRIDGE_TWILIO_WORKSPACE_SID": fake.workspace_sid,
            "SCIMBRIDGE_TWILIO_MAX_RPS": "10000",
        }
        settings = load_settings(env=env, document={})
        twilio = settings.twilio
        assert twilio is not None
        engine = create_db_engine(url)
        runtime = build_runtime(settings, engine=engine, sync_threads=0)
        mapping = runtime.mapping
        started = time.perf_counter()
        ids = [
            runtime.store.directory.create_user(user_document(n), actor="bench").id
            for n in range(args.workers)
        ]
        with engine.begin() as conn:
            conn.execute(delete(outbox))  # a steady state: nothing waits for the sync
        for n in range(args.workers):
            desired = desired_worker(user_document(n), [], mapping)
            attributes = merge_attributes({"routing": {"skills": ["sales"]}}, desired, ())
            fake.state.create_worker(desired.friendly_name, attributes=json.dumps(attributes))
        print(f"seeded {args.workers} users and workers in {time.perf_counter() - started:.1f}s")

        def resync() -> Resync:
            worker = build_drainer(runtime)
            return Resync(runtime.store, worker.reconciler)

        adopt = run("first resync: adopt every worker", fake, resync())
        drifted = max(4, int(args.workers * args.drift))
        for index, n in enumerate(range(0, args.workers, args.workers // drifted)):
            name = user_document(n)["userName"]
            record = fake.state.worker_named(name)
            assert record is not None
            kind = KINDS[index % len(KINDS)]
            if kind == "deleted in Flex":
                fake.state.delete_worker(record.sid)
            elif kind == "attribute edited in Flex":
                attributes = {**json.loads(record.attributes), "full_name": "edited"}
                fake.state.update_worker(record.sid, attributes=json.dumps(attributes))
            elif kind == "renamed in Flex":
                fake.state.update_worker(record.sid, friendly_name=f"old.{name}")
            else:
                runtime.store.directory.update_user(
                    ids[n],
                    lambda doc: {**doc, "displayName": "Changed"},
                    actor="bench",
                    action="patch",
                )
        with engine.begin() as conn:
            conn.execute(delete(outbox))  # the sync worker is stopped: only resync sees them
        drift = run(f"resync with {drifted} drifted ({', '.join(KINDS)})", fake, resync())
        steady = run("resync with no drift", fake, resync())
        engine.dispose()
    print(
        json.dumps(
            {
                "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "database": "PostgreSQL" if args.database_url else "SQLite",
                "workers": args.workers,
                "runs": [adopt, drift, steady],
            }
        )
    )


if __name__ == "__main__":
    main()
