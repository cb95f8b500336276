"""CPU per SCIM request of the application alone: the ASGI app ``serve`` builds, driven in-process.

Does: build the application exactly as ``scimbridge serve`` does (settings from the environment,
the migrated SQLite file, or ``--postgres-url``, the runtime, its lifespan and background
services, the access log written to a file), store ``--users`` users through it, then send it
the load benchmark's requests (``bench/scim_load.py``: a ``userName`` filter, Entra's PATCH of
``displayName`` and the enterprise ``department``, a POST of a new user; also a GET by id) as
ASGI calls, ``--concurrency`` at a time on one event loop, and report the process's CPU
microseconds per request, best of ``--rounds`` (every thread counted: SQLite's work and the
checkpoint thread's too). Every answer's status is checked, a filter must find its one user, and
every PATCHed user is read back with the last values sent. ``--profile FILE`` writes a cProfile
of one more round of each scenario.
Does not: open sockets or parse HTTP (``bench/http_overhead.py`` measures uvicorn's protocol, and
``bench/scim_load.py`` the whole server beside scim2-server): what is left is what scimbridge
itself spends, which a shared machine's load disturbs far less than requests per second.

    python bench/app_cost.py [--users 1000] [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk_users import ENTERPRISE_URN, TOKEN, preload_name, temporary_postgres, user_body

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCENARIOS = ("filter", "patch", "post", "get")
Request = tuple[str, str, str, bytes, int]  # method, path, query, body, expected status


class Client:
    """Sends ASGI requests to ``app`` and returns (status, body)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}

    async def start(self) -> None:
        """Run the lifespan's startup (background services), as uvicorn does."""
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan = asyncio.ensure_future(self.app(scope, self._events.get, self._answers.put))
        await self._events.put({"type": "lifespan.startup"})
        answer = await self._answers.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {answer}")

    async def stop(self) -> None:
        await self._events.put({"type": "lifespan.shutdown"})
        await self._answers.get()
        await self._lifespan

    async def call(
        self, method: str, path: str, query: str = "", body: bytes = b""
    ) -> tuple[int, bytes]:
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"user-agent", b"Microsoft.Identity.Provisioning"),
            (b"accept", b"application/scim+json"),
        ]
        if body:
            headers += [
                (b"content-type", b"application/scim+json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": dict(self.state),
        }
        chunks: list[bytes] = []
        status = 0
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


class Plans:
    """The requests of each scenario, and what the writes must read back as."""

    def __init__(self, names: list[str], ids: list[str], seed: int) -> None:
        self.names, self.ids = names, ids
        self.rng = random.Random(seed)
        self.order = self.rng.sample(range(len(ids)), len(ids))
        self.visits = 0
        self.patched: dict[str, tuple[str, str]] = {}
        self.run = f"{seed}-{time.monotonic_ns() % 10**6}"

    def plan(self, scenario: str, tag: str, total: int) -> list[Request]:
        if scenario == "filter":
            return [
                ("GET", "/scim/v2/Users", "filter=" + quote(f'userName eq "{name}"'), b"", 200)
                for name in (self.rng.choice(self.names) for _ in range(total))
            ]
        if scenario == "get":
            return [
                ("GET", f"/scim/v2/Users/{self.rng.choice(self.ids)}", "", b"", 200)
                for _ in range(total)
            ]
        if scenario == "post":
            return [
                (
                    "POST",
                    "/scim/v2/Users",
                    "",
                    json.dumps(user_body(f"post.{self.run}.{tag}.{n}@example.com", n)).encode(),
                    201,
                )
                for n in range(total)
            ]
        plan: list[Request] = []
        for number in range(total):
            user_id = self.ids[self.order[self.visits % len(self.order)]]
            self.visits += 1
            display, department = f"Patched {tag} {number}", f"Dept {tag} {number}"
            operations = [
                {"op": "Replace", "path": "displayName", "value": display},
                {"op": "Replace", "path": f"{ENTERPRISE_URN}:department", "value": department},
            ]
            body = json.dumps({"schemas": [PATCH_URN], "Operations": operations}).encode()
            plan.append(("PATCH", f"/scim/v2/Users/{user_id}", "", body, 200))
            self.patched[user_id] = (display, department)
        return plan


async def run_plan(client: Client, plan: list[Request], concurrency: int) -> None:
    """Send ``plan`` with ``concurrency`` requests in flight; raise on any unexpected answer."""
    pending = iter(plan)

    async def worker() -> None:
        for method, path, query, body, expected in pending:
            status, answer = await client.call(method, path, query, body)
            if status != expected:
                raise RuntimeError(f"{method} {path}: {status} {answer[:300]!r}")
            if query.startswith("filter=") and b'"totalResults":1' not in answer:
                raise RuntimeError(f"{method} {path}?{query}: {answer[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def verify(client: Client, plans: Plans) -> None:
    for user_id, (display, department) in plans.patched.items():
        status, answer = await client.call("GET", f"/scim/v2/Users/{user_id}")
        user = json.loads(answer)
        if (
            status != 200
            or user["displayName"] != display
            or user[ENTERPRISE_URN]["department"] != department
        ):
            raise RuntimeError(f"user {user_id} did not read back: {answer[:300]!r}")


def build_app(database_url: str, log_file: Path) -> Any:
    os.environ["SCIMBRIDGE_DATABASE_URL"] = database_url
    os.environ["SCIMBRIDGE_BEARER_TOKEN"] = TOKEN
    from rich.console import Console

    from scimbridge.app import create_app
    from scimbridge.cli.database import open_database
    from scimbridge.config.settings import load_settings
    from scimbridge.ops.logging import configure_logging
    from scimbridge.runtime import build_runtime

    settings = load_settings()
    sink = log_file.open("a")
    with redirect_stderr(sink):  # the handler keeps this stream: the log goes to the file
        configure_logging(settings.log_format, settings.log_level, settings.secrets())
    database = open_database(
        settings,
        Console(file=sink),
        command="serve",
        create=True,
        migrate_first=settings.is_sqlite,
        inline=True,
    )
    runtime = build_runtime(settings, database=database, sync_threads=1)
    return create_app(runtime)


async def measure(args: argparse.Namespace, database_url: str, directory: Path) -> None:
    log_file = directory / "serve.log"
    client = Client(build_app(database_url, log_file))
    await client.start()
    names = [preload_name(n) for n in range(args.users)]
    ids = []
    for number, name in enumerate(names):
        status, answer = await client.call(
            "POST", "/scim/v2/Users", body=json.dumps(user_body(name, number)).encode()
        )
        if status != 201:
            raise RuntimeError(f"preload: {status} {answer[:300]!r}")
        ids.append(json.loads(answer)["id"])
    plans = Plans(names, ids, args.seed)
    print(f"{'scenario':<8} {'µs CPU/req':>11} {'µs wall/req':>12}  (best of {args.rounds})")
    for scenario in args.scenarios:
        await run_plan(client, plans.plan(scenario, "warm", args.warmup), args.concurrency)
        best_cpu = best_wall = float("inf")
        for round_number in range(args.rounds):
            plan = plans.plan(scenario, f"r{round_number}", args.requests)
            cpu, wall = time.process_time(), time.perf_counter()
            await run_plan(client, plan, args.concurrency)
            best_cpu = min(best_cpu, (time.process_time() - cpu) / len(plan))
            best_wall = min(best_wall, (time.perf_counter() - wall) / len(plan))
        print(f"{scenario:<8} {best_cpu * 1e6:>11.0f} {best_wall * 1e6:>12.0f}", flush=True)
    if args.profile is not None:
        for scenario in args.scenarios:
            plan = plans.plan(scenario, "profiled", args.requests)
            profiler = cProfile.Profile()
            profiler.enable()
            await run_plan(client, plan, args.concurrency)
            profiler.disable()
            path = args.profile.with_name(f"{args.profile.name}.{scenario}")
            profiler.dump_stats(path)
            print(f"\n== {scenario}: {path}")
            pstats.Stats(str(path)).sort_stats("tottime").print_stats(args.top)
    await verify(client, plans)
    print(f"{len(plans.patched)} PATCHed users read back")
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000, help="per round and scenario")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--postgres-url", help="measure on a fresh database there instead")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=Path, help="write cProfile stats to FILE.<scenario>")
    parser.add_argument("--top", type=int, default=30, help="functions printed per profile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scimbridge-app-cost-") as tmp:
        directory = Path(tmp)
        if args.postgres_url:
            url, drop = temporary_postgres(args.postgres_url)
            try:
                asyncio.run(measure(args, url, directory))
            finally:
                drop()
        else:
            asyncio.run(measure(args, f"sqlite:///{directory / 'scim.db'}", directory))


if __name__ == "__main__":
    main()
