"""Replicas: one and two ``serve`` processes on one PostgreSQL database against one fake Twilio.

Does: for 1 and then 2 processes (each on a fresh database and a fresh fake Flex whose account
budget is ``--budget`` requests/s, enforced: beyond it the fake answers 429), start that many
``scimbridge serve`` with ``SCIMBRIDGE_TWILIO_MAX_RPS`` = budget / processes as the README says,
then 1. POST ``--users`` new users spread over the processes at concurrency 16 and wait until every
one has its worker; 2. PATCH every user's ``displayName`` (owned as ``full_name``) and wait until
every worker shows it. Reports SCIM requests/s of each stage, the time until Twilio converged,
the Twilio calls by route (the fake records those it answers 429 too, so a throttled and retried
write counts twice), whether each change was synced exactly once (one ``workers.create`` per user
in stage 1, one ``worker.update`` per user in stage 2, no duplicate worker), and the Twilio
request rate of all processes together and of each (each process has its own API key of the
account, so the fake tells them apart): mean, and the most requests in any sliding 1 s window,
as they arrived at the fake, against the budget.
Does not: reach any address but 127.0.0.1; the databases it creates are dropped.

    python bench/replicas.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:55439/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bulk_users import (  # noqa: E402
    TOKEN,
    server_env,
    start_serve,
    stop_process,
    temporary_postgres,
    user_body,
)

from scimbridge.testing.fakeflex.options import FakeFlexOptions  # noqa: E402
from scimbridge.testing.fakeflex.server import FakeFlexServer  # noqa: E402

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def send(
    bases: list[str], requests: list[tuple[str, str, dict[str, Any]]], want: int
) -> tuple[float, int, list[str]]:
    """Send (method, path, body) round-robin over the processes, 16 at a time; seconds, errors
    and the ``id`` of each answer."""
    queue = list(enumerate(requests))
    ids = [""] * len(requests)
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while queue:
            index, (method, path, body) = queue.pop()
            url = bases[index % len(bases)] + path
            async with session.request(method, url, json=body, headers=HEADERS) as response:
                payload = await response.json(content_type=None)
                if response.status != want:
                    errors += 1
                else:
                    ids[index] = str(payload.get("id", ""))

    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        await asyncio.gather(*(worker(session) for _ in range(16)))
    return time.perf_counter() - began, errors, ids


def wait_until(check: Any, timeout: float) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if check():
            return time.perf_counter() - began
        time.sleep(0.25)
    raise RuntimeError(f"Twilio did not converge within {timeout:.0f}s")


def most_in_one_second(stamps: list[float]) -> int:
    """The most requests in any sliding window of one second (half-open)."""
    most, start = 0, 0
    for end in range(len(stamps)):
        while stamps[end] - stamps[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def rates(fake: FakeFlexServer, since: float) -> dict[str, Any]:
    recorded = [r for r in fake.state.requests.all() if r.at >= since]
    stamps = sorted(r.at for r in recorded)
    if len(stamps) < 2:
        return {"requests": len(stamps)}
    by_key: dict[str, list[float]] = {}
    for r in recorded:
        by_key.setdefault(r.auth_username or "-", []).append(r.at)
    return {
        "requests": len(stamps),
        "mean_rps": round(len(stamps) / (stamps[-1] - stamps[0]), 1),
        "max_in_1s": most_in_one_second(stamps),
        "max_in_1s_each": sorted(most_in_one_second(sorted(at)) for at in by_key.values()),
    }


def stage(
    fake: FakeFlexServer,
    route: str,
    expected: int,
    done: Any,
    since: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Wait for Twilio to converge; what it took and whether each change landed exactly once."""
    converge = wait_until(done, args.timeout)
    time.sleep(2)  # anything still coming (a duplicate) arrives now
    requests = fake.state.requests.all()
    by_route = Counter(f"{r.method} {r.route}" for r in requests)
    writes = sum(1 for r in requests if r.route == route)
    counted = rates(fake, since)
    return {
        **counted,
        "mean_within_budget": counted.get("mean_rps", 0) <= args.budget,
        "every_second_within_budget": counted.get("max_in_1s", 0) <= args.budget,
        "converged_s": round(converge, 1),
        "calls": dict(sorted(by_route.items())),
        f"{route}": writes,
        "exactly_once": writes == expected,
    }


def run(processes: int, args: argparse.Namespace) -> dict[str, Any]:
    options = FakeFlexOptions(rate_limit_per_second=int(args.budget), enforce_rate_limit=True)
    database_url, drop = temporary_postgres(args.postgres_url)
    servers: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory(prefix="replicas-") as tmp,
        FakeFlexServer(options=options) as fake,
    ):
        try:
            subprocess.run(
                [sys.executable, "-m", "scimbridge", "migrate"],
                env=server_env({"SCIMBRIDGE_DATABASE_URL": database_url}),
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            env = fake.environment() | {"SCIMBRIDGE_TWILIO_MAX_RPS": str(share(args, processes))}
            bases = []
            for number in range(processes):
                log = Path(tmp) / f"serve{number}.log"
                key, secret = fake.state.add_api_key()
                own = env | {"TWILIO_API_KEY": key, "TWILIO_API_SECRET": secret}
                process, base = start_serve(database_url, log, extra_env=own)
                servers.append(process)
                bases.append(base)
            tag = uuid.uuid4().hex[:6]
            names = [f"replica.{tag}.{n}@example.com" for n in range(args.users)]
            posts = [("POST", "/Users", user_body(name, n)) for n, name in enumerate(names)]
            since = time.monotonic()
            seconds, errors, ids = asyncio.run(send(bases, posts, 201))
            created = {
                "scim_rps": round(len(posts) / seconds, 1),
                "scim_errors": errors,
                **stage(
                    fake,
                    "workers.create",
                    args.users,
                    lambda: len(fake.state.workers()) >= args.users,
                    since,
                    args,
                ),
                "workers": len(fake.state.workers()),
            }
            print(json.dumps({"processes": processes, "stage": "POST", **created}), flush=True)
            fake.state.requests.clear()
            patches = [
                (
                    "PATCH",
                    f"/Users/{user_id}",
                    {
                        "schemas": [PATCH_URN],
                        "Operations": [
                            {"op": "Replace", "path": "displayName", "value": f"Renamed {n}"}
                        ],
                    },
                )
                for n, user_id in enumerate(ids)
            ]
            since = time.monotonic()
            seconds, errors, _ = asyncio.run(send(bases, patches, 200))

            def renamed() -> bool:
                shown = {json.loads(w.attributes).get("full_name") for w in fake.state.workers()}
                return all(f"Renamed {n}" in shown for n in range(args.users))

            patched = {
                "scim_rps": round(len(patches) / seconds, 1),
                "scim_errors": errors,
                **stage(fake, "worker.update", args.users, renamed, since, args),
                "workers": len(fake.state.workers()),
            }
            print(json.dumps({"processes": processes, "stage": "PATCH", **patched}), flush=True)
        finally:
            for process in servers:
                stop_process(process)
            drop()
    return {"processes": processes, "max_rps_each": share(args, processes),
            "post": created, "patch": patched}  # fmt: skip


def share(args: argparse.Namespace, processes: int) -> float:
    """Each process's ``SCIMBRIDGE_TWILIO_MAX_RPS``, as the README says: the budget divided by
    the number of processes, rounded down to a whole number."""
    return float(int(args.budget // processes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--budget", type=float, default=20.0, help="the account's Twilio req/s")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=600.0, help="per stage, s")
    args = parser.parse_args()
    results = [run(n, args) for n in args.processes]
    print(
        json.dumps(
            {
                "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "users": args.users,
                "budget_rps": args.budget,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
