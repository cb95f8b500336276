"""What each lever of the PostgreSQL hot path is worth: one user's store calls, measured alone.

Does: on a fresh database of ``--admin-url``'s server with ``--users`` users, run the three calls
of the load benchmark's scenarios (the ``userName eq`` lookup, a PATCH-like update of
``displayName``, a create) ``--requests`` times each, ``--concurrency`` at a time on one asyncio
loop, four ways: the directory's own call in Starlette's thread pool (how every PostgreSQL call
ran before), the same call made on the loop itself (blocking it: no hand-off, for comparison
only), ``Directory.on_loop`` with statements parsed every time, and ``Directory.on_loop`` as
``serve`` runs it (prepared once per connection). For each: calls per second, this process's CPU
per call, the PostgreSQL backends' CPU per call (read from ``/proc`` when the server runs on
this machine, else ``-``), and round trips per call counted on the wire by
``bench/round_trips.py``'s proxy (a second pass, so that the proxy's own CPU is not in the
first). Best of ``--rounds``.
Does not: speak HTTP (``bench/scim_load.py`` measures whole requests beside scim2-server), or
change any server setting.

    python bench/pg_store_calls.py --admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk_users import temporary_postgres
from round_trips import CountingProxy, through
from scim2_models import User
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from scimbridge.store.database import Database, migrate
from scimbridge.store.directory import Directory
from scimbridge.store.loop_users import LoopUsers
from scimbridge.store.query.filters import parse_filter

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
WAYS = ("thread pool", "on the loop, blocking", "async, unprepared", "async, prepared")
Call = Callable[[], Awaitable[Any]]


def backend_seconds(admin_url: str, database: str) -> float | None:
    """CPU seconds used so far by the backends serving ``database`` (None: not readable here)."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            query = text("SELECT pid FROM pg_stat_activity WHERE datname = :d")
            pids = [row[0] for row in conn.execute(query, {"d": database})]
    finally:
        engine.dispose()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Calls:
    """The three calls, made one of the four ways, on one database."""

    def __init__(self, directory: Directory, way: str, names: list[str], ids: list[str]) -> None:
        self.directory, self.way = directory, way
        self.names, self.ids = names, ids
        self.turn = 0
        assert directory.on_loop is not None
        self.on_loop = LoopUsers(directory.database.loop_pool, prepare=way != WAYS[2])  # type: ignore[arg-type]

    def _next(self) -> int:
        self.turn += 1
        return self.turn % len(self.ids)

    def _run(self, call: Callable[[], Any]) -> Awaitable[Any]:
        if self.way == WAYS[0]:
            return run_in_threadpool(call)

        async def inline() -> Any:
            return call()

        return inline()

    def scenario(self, name: str) -> Call:
        directory = self.directory

        def rename(document: dict[str, Any]) -> dict[str, Any]:
            return {**document, "displayName": uuid.uuid4().hex}

        if name == "filter":

            def lookup() -> Awaitable[Any]:
                chosen = parse_filter(f'userName eq "{self.names[self._next()]}"')
                selection = directory.select_users(chosen, model=User)
                if self.way in WAYS[2:]:
                    return self.on_loop.query_users(selection, 0, 100)
                return self._run(lambda: directory.query_users(selection, 0, 100))

            return lookup
        if name == "patch":

            async def on_loop(user_id: str) -> Any:
                while True:  # as scim.store_calls writes: again if another writer came first
                    edit = await self.on_loop.edit(user_id)
                    document = rename(edit.current.document)
                    if await edit.write(document, actor="b", action="patch"):
                        return

            def locked(user_id: str) -> Any:
                with directory.editing_user(user_id) as edit:
                    return edit.write(rename(edit.current.document), actor="b", action="patch")

            def patch() -> Awaitable[Any]:
                user_id = self.ids[self._next()]
                if self.way in WAYS[2:]:
                    return on_loop(user_id)
                return self._run(lambda: locked(user_id))

            return patch

        def post() -> Awaitable[Any]:
            document = {"schemas": [CORE], "userName": f"p.{uuid.uuid4().hex}@example.com"}
            if self.way in WAYS[2:]:
                return self.on_loop.create_user(document, actor="b")
            return self._run(lambda: directory.create_user(document, actor="b"))

        return post


async def drive(call: Call, total: int, concurrency: int) -> float:
    left = iter(range(total))

    async def worker() -> None:
        for _ in left:
            await call()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began


async def measure(args: argparse.Namespace, url: str, names: list[str], ids: list[str]) -> None:
    admin_url, database_name = args.admin_url, str(make_url(url).database)
    # No overflow: a connection closed on its way back would take its backend's CPU with it.
    database = Database.open(url, pool_size=args.concurrency + 4, max_overflow=0)
    upstream = make_url(args.admin_url)
    with CountingProxy(str(upstream.host), int(upstream.port or 5432)) as proxy:
        counted = Database.open(through(url, proxy))
        print(
            "| way | scenario | calls/s | CPU ms/call | PostgreSQL CPU ms/call | round trips/call |"
        )
        print("|---|---|---:|---:|---:|---:|")
        try:
            for scenario in ("filter", "patch", "post"):
                for way in WAYS:
                    call = Calls(Directory(database), way, names, ids).scenario(scenario)
                    await drive(call, args.warmup, args.concurrency)
                    best = (0.0, float("inf"), float("inf"))
                    for _ in range(args.rounds):
                        cpu, server = time.process_time(), backend_seconds(admin_url, database_name)
                        wall = await drive(call, args.requests, args.concurrency)
                        after = backend_seconds(admin_url, database_name)
                        used = (time.process_time() - cpu) / args.requests * 1000
                        pg = (
                            (after - server) / args.requests * 1000
                            if server is not None and after is not None
                            else float("nan")
                        )
                        if used < best[1]:
                            best = (args.requests / wall, used, pg)
                    trips_call = Calls(Directory(counted), way, names, ids).scenario(scenario)
                    await drive(trips_call, 20, 1)
                    before = proxy.counter.flights
                    await drive(trips_call, 100, 1)
                    trips = (proxy.counter.flights - before) / 100
                    pg_text = "-" if best[2] != best[2] else f"{best[2]:.2f}"
                    print(
                        f"| {way} | {scenario} | {best[0]:,.0f} | {best[1]:.2f} | {pg_text} | "
                        f"{trips:.2f} |",
                        flush=True,
                    )
        finally:
            counted.dispose()
            database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", required=True, help="a PostgreSQL server to test on")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000, help="per round, way and scenario")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    url, drop = temporary_postgres(args.admin_url)
    try:
        migrate(url)
        database = Database.open(url)
        directory = Directory(database)
        names = [f"user{n}@example.com" for n in range(args.users)]
        ids = [
            directory.create_user({"schemas": [CORE], "userName": n}, actor="b").id for n in names
        ]
        database.dispose()
        asyncio.run(measure(args, url, names, ids))
    finally:
        drop()


if __name__ == "__main__":
    main()
