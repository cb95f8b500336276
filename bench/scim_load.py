"""SCIM load benchmark: scimbridge beside scim2-server's in-memory ASGI application.

Does: start one server at a time as a subprocess (scimbridge ``serve`` on SQLite, optionally on
PostgreSQL, and scim2-server's ``ASGIApplication`` over ``InMemoryStorage``, both under uvicorn with
one process and the same event loop (``--loop``, asyncio by default) and HTTP implementation),
preload it with N users in-process, drive it from one aiohttp session with 1 or 16 concurrent tasks
through three scenarios (filter on ``userName``, PATCH of ``displayName`` and an enterprise
attribute, POST of a new user), and report requests/s, p50/p95/p99 latency, errors, whether every
write is readable afterwards, and the server process's resident memory after the preload and at
the end (``/proc/<pid>/status``).
Does not: reach any address but 127.0.0.1, or keep anything: each server gets a fresh temporary
directory (and a fresh PostgreSQL database, dropped afterwards).

    python bench/scim_load.py --users 1000 100000 --output bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import aiohttp
from sqlalchemy.engine import make_url
from yarl import URL

# The checkout this file sits in: the servers run its scimbridge, installed or not.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bulk_users import (  # noqa: E402
    ENTERPRISE_URN,
    TOKEN,
    bulk_load,
    free_port,
    preload_name,
    server_env,
    start_serve,
    stop_process,
    temporary_postgres,
    user_body,
    wait_ready,
)

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
SCENARIOS = ("filter", "patch", "post")
ONE_RESULT = re.compile(rb'"totalResults":\s*1\b')
HELLO = re.compile(rb"^Hello, world!$")
PACKAGES = (
    "scimbridge", "scim2-server", "scim2-models", "starlette", "uvicorn", "uvloop", "httptools",
    "sqlalchemy", "pydantic", "aiohttp",
)  # fmt: skip


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Target:
    """A running server: where its SCIM endpoints are and which users it was preloaded with."""

    label: str
    base_url: str
    user_ids: list[str]
    user_names: list[str]
    process: subprocess.Popen[bytes]
    # scim2-server answers a PATCH 204 unless attributes are named; this makes it send the body.
    patch_query: str = ""
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    stop_profiler: Callable[[], None] | None = None
    profile_dir: Path | None = None
    database_url: str | None = None

    def stop(self) -> None:
        if self.stop_profiler is not None:
            self.stop_profiler()  # py-spy writes its file while the server still runs
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for cleanup in reversed(self.cleanups):
            cleanup()


def profile(target: Target, output: Path) -> Callable[[], None]:
    """Sample the server with py-spy until the returned callable stops it (before the server)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ["py-spy", "record", "--pid", str(target.process.pid), "--gil", "--nonblocking"]
    recorder = subprocess.Popen(
        [*command, "--rate", "250", "--format", "raw", "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)

    def stop() -> None:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)

    return stop


def machine_busy() -> float:
    """CPU seconds every process of the machine has spent so far, all cores added up."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle = int(fields[3]) + int(fields[4])
    return (sum(int(value) for value in fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """The ``Vm*`` lines of ``/proc/<pid>/status`` in KiB (VmRSS now, VmHWM the peak so far)."""
    sizes = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm"):
            sizes[key] = int(value.split()[0])
    return sizes


@dataclass
class Memory:
    """Resident memory of one server process, in KiB: after its preload, and after its cells."""

    server: str
    users: int
    pid: int
    after_preload: int
    at_end: int = 0
    peak: int = 0

    @classmethod
    def after_start(cls, target: Target) -> Memory:
        """Sample the server's RSS now: it answers and holds its preloaded users."""
        pid = target.process.pid
        return cls(target.label, len(target.user_ids), pid, memory_kib(pid)["VmRSS"])

    def finish(self) -> None:
        """Sample the RSS and its peak (VmHWM) once the cells are done, before the server stops."""
        sizes = memory_kib(self.pid)
        self.at_end, self.peak = sizes["VmRSS"], sizes["VmHWM"]


def start_scimbridge(workdir: Path, count: int, postgres_url: str | None, loop: str) -> Target:
    cleanups: list[Callable[[], None]] = []
    if postgres_url:
        database_url, drop = temporary_postgres(postgres_url)
        cleanups.append(drop)
        engine = "PostgreSQL"
    else:
        database_url = f"sqlite:///{workdir / 'scim.db'}"
        engine = "SQLite"
    began = time.perf_counter()
    try:
        ids, names = bulk_load(database_url, count, workdir)
        print(f"  preloaded {count:,} users in {time.perf_counter() - began:.1f}s", flush=True)
        process, base = start_serve(database_url, workdir / "server.log", loop)
    except BaseException:
        for cleanup in cleanups:
            cleanup()
        raise
    label = f"scimbridge ({engine}, {loop})"
    return Target(label, base, ids, names, process, cleanups=cleanups, database_url=database_url)


def start_hello(workdir: Path, loop: str) -> Target:
    """Starlette's hello world under the same uvicorn settings: the floor of one request."""
    port = free_port()
    log = workdir / "server.log"
    command = [sys.executable, __file__, "serve-hello", "--port", str(port), "--loop", loop]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=server_env({}), stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/", process, 60, log)
    return Target(f"starlette hello ({loop})", base, [], [], process)


def serve_hello(port: int, loop: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world!")

    app = Starlette(routes=[Route("/", hello)])
    uvicorn.run(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning", loop=loop,
        http="httptools",
    )  # fmt: skip


def start_scim2_server(workdir: Path, count: int, loop: str) -> Target:
    port = free_port()
    log = workdir / "server.log"
    ids_file = workdir / "ids.json"
    command = [sys.executable, __file__, "serve-scim2-server", "--port", str(port)]
    command += ["--users", str(count), "--ids-file", str(ids_file), "--loop", loop]
    began = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=server_env({}), stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}/v2"
    wait_ready(f"{base}/ServiceProviderConfig", process, 900, log)
    print(f"  preloaded {count} users in {time.perf_counter() - began:.1f}s", flush=True)
    ids = json.loads(ids_file.read_text())
    names = [preload_name(n) for n in range(count)]
    label = f"scim2-server (memory, {loop})"
    return Target(label, base, ids, names, process, "?excludedAttributes=groups")


def serve_scim2_server(port: int, count: int, ids_file: Path, loop: str) -> None:
    """Preload scim2-server's in-memory storage, write the user ids, then serve with uvicorn."""
    import uvicorn
    from scim2_models import (
        EnterpriseUser,
        Group,
        ResourceType,
        ScimProvider,
        UnauthorizedException,
        User,
    )
    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage
    from scim2_server.requests import ScimRequest
    from scim2_server.utils import load_default_service_provider_config

    class BearerASGIApplication(ASGIApplication):
        """Accepts the benchmark's static bearer token only, as scimbridge does."""

        def check_auth(self, request: ScimRequest) -> None:
            scheme, _, token = (request.header("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or token != TOKEN:
                raise UnauthorizedException

    user_model = User[EnterpriseUser]
    provider = ScimProvider(
        [User, EnterpriseUser, Group],
        resource_types=[ResourceType.from_resource(user_model), ResourceType.from_resource(Group)],
        config=load_default_service_provider_config(),
    )
    user_type = next(rt for rt in provider.resource_types if rt.id == "User")
    storage = InMemoryStorage()
    ids = [
        str(storage.create(user_type, user_model.model_validate(user_body(preload_name(n), n))).id)
        for n in range(count)
    ]
    partial = ids_file.with_suffix(".part")
    partial.write_text(json.dumps(ids))
    partial.rename(ids_file)
    app = BearerASGIApplication(AsyncInMemoryStorage(storage), provider)
    uvicorn.run(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning", loop=loop,
        http="httptools",
    )  # fmt: skip


# -- client ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    method: str
    url: URL
    body: bytes | None
    want: int
    # The body of a 200 must match this (a filter must find exactly one user).
    check: re.Pattern[bytes] | None = None
    # What the request writes, recorded once it has been sent: (user id, (displayName,
    # department)) for a PATCH, the userName for a POST.
    effect: tuple[str, tuple[str, str]] | str | None = None


@dataclass
class Cell:
    server: str
    users: int
    scenario: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    verified: str = "-"
    server_cpu: float = 0.0  # CPU seconds the server process spent on the measured requests
    # Share of the machine's cores that processes other than this client and the server used
    # meanwhile: a cell measured beside a busy neighbour shows it here.
    others: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def drive(
    session: aiohttp.ClientSession,
    plan: list[Planned],
    concurrency: int,
    seconds: float | None = None,
) -> tuple[float, list[float], int]:
    """Send ``plan`` with ``concurrency`` tasks, or its start if ``seconds`` run out first (no
    request starts after that); return wall seconds, the latencies of the requests sent (the
    first ``len(latencies)`` of the plan) and errors."""
    latencies = [0.0] * len(plan)
    errors = 0
    counter = itertools.count()
    sent = 0
    deadline = time.perf_counter() + seconds if seconds else float("inf")

    async def task() -> None:
        nonlocal errors, sent
        while time.perf_counter() < deadline and (index := next(counter)) < len(plan):
            sent = max(sent, index + 1)
            step = plan[index]
            began = time.perf_counter()
            try:
                async with session.request(
                    step.method, step.url, data=step.body, headers=HEADERS
                ) as response:
                    payload = await response.read()
                    ok = response.status == step.want
            except aiohttp.ClientError:
                ok, payload = False, b""
            latencies[index] = time.perf_counter() - began
            if ok and step.check is not None and not step.check.search(payload):
                ok = False
            errors += not ok

    began = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies[:sent], errors


class Scenarios:
    """Pre-built requests for one server; remembers what was written, to verify it afterwards."""

    def __init__(self, target: Target, seed: int) -> None:
        self.target = target
        self.rng = random.Random(seed)
        self.patched: dict[str, tuple[str, str]] = {}
        self.posted: list[str] = []
        self.order = self.rng.sample(range(len(target.user_ids)), len(target.user_ids))
        self.visits = itertools.count()
        self.cells = itertools.count()
        self.run = uuid.uuid4().hex[:6]

    def filter(self, tag: str, total: int) -> list[Planned]:
        names = self.target.user_names
        base = f"{self.target.base_url}/Users?filter="
        return [
            Planned(
                "GET",
                URL(base + quote(f'userName eq "{self.rng.choice(names)}"'), encoded=True),
                None,
                200,
                ONE_RESULT,
            )
            for _ in range(total)
        ]

    def hello(self, tag: str, total: int) -> list[Planned]:
        # Five times as many: a hello world answers about twenty times faster.
        url = URL(f"{self.target.base_url}/", encoded=True)
        return [Planned("GET", url, None, 200, HELLO) for _ in range(5 * total)]

    def commit(self, sent: list[Planned]) -> None:
        """Remember what the requests sent wrote, for the read-back afterwards."""
        for step in sent:
            if isinstance(step.effect, tuple):
                self.patched[step.effect[0]] = step.effect[1]
            elif isinstance(step.effect, str):
                self.posted.append(step.effect)

    def _next_user(self) -> int:
        # One fixed random order, cycled: two PATCHes of a user are len(users) requests apart, so
        # they never overlap in time and the last one sent is the last one committed.
        return self.order[next(self.visits) % len(self.order)]

    def patch(self, tag: str, total: int) -> list[Planned]:
        plan = []
        for number in range(total):
            user_id = self.target.user_ids[self._next_user()]
            display, department = f"Patched {tag} {number}", f"Dept {tag} {number}"
            operations = [
                {"op": "Replace", "path": "displayName", "value": display},
                {"op": "Replace", "path": f"{ENTERPRISE_URN}:department", "value": department},
            ]
            body = json.dumps({"schemas": [PATCH_URN], "Operations": operations}).encode()
            url = URL(
                f"{self.target.base_url}/Users/{user_id}{self.target.patch_query}", encoded=True
            )
            plan.append(Planned("PATCH", url, body, 200, effect=(user_id, (display, department))))
        return plan

    def post(self, tag: str, total: int) -> list[Planned]:
        url = URL(f"{self.target.base_url}/Users", encoded=True)
        plan = []
        for number in range(total):
            name = f"post.{self.run}.{tag}.{number}@example.com"
            body = json.dumps(user_body(name, number)).encode()
            plan.append(Planned("POST", url, body, 201, effect=name))
        return plan


async def total_users(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(f"{base}/Users?count=0", headers=HEADERS) as response:
        return int((await response.json(content_type=None))["totalResults"])


async def verify_patches(session: aiohttp.ClientSession, scenarios: Scenarios) -> str:
    """Every PATCHed user reads back the last values sent to it."""
    wrong = 0
    items = list(scenarios.patched.items())
    semaphore = asyncio.Semaphore(16)

    async def check(user_id: str, expected: tuple[str, str]) -> None:
        nonlocal wrong
        async with (
            semaphore,
            session.get(
                f"{scenarios.target.base_url}/Users/{user_id}", headers=HEADERS
            ) as response,
        ):
            body = await response.json(content_type=None)
        seen = (body.get("displayName"), (body.get(ENTERPRISE_URN) or {}).get("department"))
        wrong += seen != expected

    await asyncio.gather(*(check(user_id, expected) for user_id, expected in items))
    scenarios.patched.clear()
    return f"{len(items) - wrong}/{len(items)} read back" + (" ✓" if not wrong else " ✗")


async def verify_posts(
    session: aiohttp.ClientSession, scenarios: Scenarios, before: int, created: int
) -> str:
    """The user count grew by every 201, and a sample of new users is found by filter."""
    after = await total_users(session, scenarios.target.base_url)
    sample = scenarios.rng.sample(scenarios.posted, min(100, len(scenarios.posted)))
    found = 0
    for name in sample:
        url = URL(
            f"{scenarios.target.base_url}/Users?filter=" + quote(f'userName eq "{name}"'),
            encoded=True,
        )
        async with session.get(url, headers=HEADERS) as response:
            found += bool(ONE_RESULT.search(await response.read()))
    scenarios.posted.clear()
    ok = after - before == created and found == len(sample)
    return f"count +{after - before}/{created}, {found}/{len(sample)} found" + (
        " ✓" if ok else " ✗"
    )


async def measure(
    target: Target, scenarios: Scenarios, scenario: str, concurrency: int, args: argparse.Namespace
) -> Cell:
    """One cell: warm-up, then the measured requests, then the check of what they wrote."""
    tag = f"{scenario}{concurrency}r{next(scenarios.cells)}"
    build = getattr(scenarios, scenario)
    warmup, plan = build(tag + "w", args.warmup), build(tag, args.requests)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        before = await total_users(session, target.base_url) if scenario == "post" else 0
        _, _, warm_errors = await drive(session, warmup, concurrency)
        scenarios.commit(warmup)
        if target.profile_dir is not None:  # the measured requests only, one file per cell
            slug = re.sub(r"[^a-z0-9]+", "-", target.label.lower()).strip("-")
            name = f"{slug}-{len(target.user_ids)}-{scenario}{concurrency}.txt"
            target.stop_profiler = profile(target, target.profile_dir / name)
        ours = (process_cpu(target.process.pid), process_cpu(os.getpid()))
        busy = machine_busy()
        seconds, latencies, errors = await drive(session, plan, concurrency, args.seconds)
        if target.stop_profiler is not None:
            target.stop_profiler()
            target.stop_profiler = None
        scenarios.commit(plan[: len(latencies)])
        server_cpu = process_cpu(target.process.pid) - ours[0]
        client_cpu = process_cpu(os.getpid()) - ours[1]
        others = machine_busy() - busy - server_cpu - client_cpu
        cell = Cell(
            target.label, len(target.user_ids), scenario, concurrency, len(latencies), seconds,
            latencies, errors + warm_errors, server_cpu=server_cpu,
            others=max(0.0, others) / seconds / len(os.sched_getaffinity(0)),
        )  # fmt: skip
        if scenario == "patch":
            cell.verified = await verify_patches(session, scenarios)
        elif scenario == "post":
            created = len(latencies) + len(warmup) - cell.errors
            cell.verified = await verify_posts(session, scenarios, before, created)
    return cell


async def bench_server(
    target: Target, args: argparse.Namespace, names: tuple[str, ...] | None = None
) -> list[Cell]:
    """Every cell, ``args.rounds`` times over; each cell keeps its fastest round, but counts the
    errors of all rounds and fails if any round's writes did not all read back."""
    scenarios = Scenarios(target, args.seed)
    best: dict[tuple[str, int], Cell] = {}
    for _ in range(args.rounds):
        for scenario in names or args.scenarios:
            for concurrency in args.concurrency:
                cell = await measure(target, scenarios, scenario, concurrency, args)
                print("  " + row(cell), flush=True)
                kept = best.setdefault((scenario, concurrency), cell)
                if kept is not cell:
                    errors = kept.errors + cell.errors
                    failed = [c.verified for c in (kept, cell) if c.verified.endswith("✗")]
                    kept = best[(scenario, concurrency)] = max(kept, cell, key=lambda c: c.rate)
                    kept.errors = errors
                    kept.verified = failed[0] if failed else kept.verified
    return list(best.values())


# -- report ------------------------------------------------------------------------------------

HEADER = (
    "| server | users | scenario | conc. | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
    "| server CPU ms/req | other load | writes committed |\n"
    "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def row(cell: Cell) -> str:
    return (
        f"| {cell.server} | {cell.users:,} | {cell.scenario} | {cell.concurrency} | "
        f"{cell.requests} | {cell.rate:,.0f} | {cell.percentile(0.50):.1f} | "
        f"{cell.percentile(0.95):.1f} | {cell.percentile(0.99):.1f} | {cell.errors} | "
        f"{1000 * cell.server_cpu / cell.requests:.2f} | {100 * cell.others:.0f}% | "
        f"{cell.verified} |"
    )


def cpu_ms(cell: Cell) -> float:
    return 1000 * cell.server_cpu / cell.requests if cell.requests else float("nan")


def loop_of(label: str) -> str:
    """The event loop a cell's server ran on, from its label (``… asyncio)``)."""
    found = re.search(r"(asyncio|uvloop)\)$", label)
    return found.group(1) if found else ""


def targets(cells: list[Cell]) -> str:
    """scimbridge against the goals at concurrency 16: the geometric mean of its req/s over
    scim2-server's for filter, PATCH and POST (2x on SQLite, 1x on PostgreSQL), its worst p99
    (≤ 25 ms on SQLite, ≤ 50 ms on PostgreSQL, and ≤ the peer's), and its server CPU per request
    beside the Starlette hello-world floor on the same loop, measured in the same run."""
    at16 = [c for c in cells if c.concurrency == 16]
    peers = {(c.users, c.scenario): c for c in at16 if c.server.startswith("scim2-server")}
    floors = {loop_of(c.server): c for c in at16 if c.server.startswith("starlette hello")}
    lines = [
        "| server | users | scenario | req/s | scim2-server req/s | ratio | p99 ms | peer p99 ms "
        "| CPU ms/req | peer CPU ms/req | floor CPU ms/req | 0 errors, writes read back |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    summary = [
        "| server | users | geometric mean ratio | goal | worst p99 ms | limit | peer's worst p99 "
        "ms | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in at16:
        if cell.server.startswith("scimbridge"):
            groups.setdefault((cell.server, cell.users), []).append(cell)
    for (server, users), group in groups.items():
        ratios, p99s, peer_p99s, clean = [], [], [], True
        floor = floors.get(loop_of(server))
        for cell in group:
            peer = peers.get((users, cell.scenario))
            ratio = cell.rate / peer.rate if peer and peer.rate else float("nan")
            writes = cell.errors == 0 and not cell.verified.endswith("✗")
            clean = clean and writes
            ratios.append(ratio)
            p99s.append(cell.percentile(0.99))
            if peer:
                peer_p99s.append(peer.percentile(0.99))
            lines.append(
                f"| {server} | {users:,} | {cell.scenario} | {cell.rate:,.0f} | "
                f"{peer.rate if peer else float('nan'):,.0f} | {ratio:.2f}x | "
                f"{cell.percentile(0.99):.1f} | "
                f"{peer.percentile(0.99) if peer else float('nan'):.1f} | {cpu_ms(cell):.2f} | "
                f"{cpu_ms(peer) if peer else float('nan'):.2f} | "
                f"{cpu_ms(floor) if floor else float('nan'):.3f} | {'✓' if writes else '✗'} |"
            )
        mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else math.nan
        goal, limit = (1.0, 50.0) if "PostgreSQL" in server else (2.0, 25.0)
        peer_worst = max(peer_p99s) if peer_p99s else math.nan
        met = (
            len(group) == len(SCENARIOS) and mean >= goal and max(p99s) <= limit
            and max(p99s) <= peer_worst and clean
        )  # fmt: skip
        summary.append(
            f"| {server} | {users:,} | {mean:.2f}x | {goal:.1f}x | {max(p99s):.1f} | "
            f"{limit:.0f} | {peer_worst:.1f} | {'✓' if met else '✗'} |"
        )
    return "\n".join([*lines, "", *summary])


def scale(cells: list[Cell]) -> str:
    """Server CPU per request of each scimbridge cell at each directory size, and the ratio of
    the largest to the smallest: indexes, not scans, keep it near 1."""
    sizes = sorted({c.users for c in cells if c.server.startswith("scimbridge")})
    if len(sizes) < 2:
        return ""
    by_key = {(c.server, c.scenario, c.concurrency, c.users): c for c in cells}
    keys = sorted(
        {(c.server, c.scenario, c.concurrency) for c in cells if c.server.startswith("scimbridge")}
    )
    lines = [
        "| server | scenario | conc. | "
        + " | ".join(f"CPU ms/req, {n:,} users | req/s, {n:,}" for n in sizes)
        + f" | CPU {sizes[-1]:,} / {sizes[0]:,} |",
        "|---|---|---:|" + "---:|" * (2 * len(sizes) + 1),
    ]
    for server, scenario, concurrency in keys:
        found = [by_key.get((server, scenario, concurrency, n)) for n in sizes]
        cols = " | ".join(f"{cpu_ms(c):.2f} | {c.rate:,.0f}" if c else "- | -" for c in found)
        first, last = found[0], found[-1]
        growth = cpu_ms(last) / cpu_ms(first) if first and last else float("nan")
        lines.append(f"| {server} | {scenario} | {concurrency} | {cols} | {growth:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    versions = []
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    return "\n".join(
        [
            f"- `uname -a`: `{' '.join(platform.uname())}`",
            f"- CPUs (`nproc`): {len(os.sched_getaffinity(0))}; CPU: {model}",
            f"- Python {platform.python_version()}; " + ", ".join(versions),
        ]
    )


MEMORY_HEADER = (
    "| server | users stored | RSS after preload (MiB) | RSS at end (MiB) | peak RSS (MiB) |\n"
    "|---|---:|---:|---:|---:|"
)
MEMORY_NOTE = (
    "VmRSS and VmHWM from `/proc/<pid>/status` of the server process the benchmark started "
    "(uvicorn, one process, no worker children); after preload = once it answers with its users "
    "stored (scimbridge's are in the database, not yet read), at end = after its last cell, which "
    "includes the users its POST cells added."
)


def memory_row(memory: Memory) -> str:
    return (
        f"| {memory.server} | {memory.users:,} | {memory.after_preload / 1024:,.1f} | "
        f"{memory.at_end / 1024:,.1f} | {memory.peak / 1024:,.1f} |"
    )


SECTION = "## SCIM load: scimbridge beside scim2-server"


def report(cells: list[Cell], memories: list[Memory], argv: list[str], trips: list[str]) -> str:
    command = "python bench/scim_load.py " + shlex.join(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            SECTION,
            "",
            f"### Run of {stamp}",
            "",
            f"Command: `{command}`",
            "",
            machine(),
            "",
            HEADER,
            *(row(cell) for cell in cells),
            "",
            "Goals at concurrency 16 (the floor: Starlette's hello world on the same loop):",
            "",
            targets(cells),
            "",
            *(
                ["Cost per request by directory size:", "", scale(cells), ""]
                if scale(cells)
                else []
            ),
            *(
                ["PostgreSQL round trips per request (counted on the wire):", "", *trips, ""]
                if trips
                else []
            ),
            "Memory:",
            "",
            MEMORY_HEADER,
            *(memory_row(memory) for memory in memories),
            "",
            MEMORY_NOTE,
            "",
        ]
    )


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's ``## `` section of ``path`` (or append it), keeping the others."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(existing):
        updated = pattern.sub(lambda _match: section + "\n", existing, count=1)
    elif existing.strip():
        updated = existing.rstrip("\n") + "\n\n" + section
    else:
        updated = section
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--users",
        type=int,
        nargs="+",
        default=[1000, 100_000],
        help="users stored before each server is measured (default: 1000 100000)",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["scimbridge", "scim2-server"],
        choices=["scimbridge", "scimbridge-pg", "scim2-server"],
        help="scimbridge-pg needs --postgres-url; with --postgres-url, scimbridge-pg is added",
    )
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per cell")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests before each")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every cell this many times and keep its fastest round",
    )
    parser.add_argument("--postgres-url", help="also run scimbridge on a fresh database there")
    parser.add_argument(
        "--loops",
        nargs="+",
        default=["asyncio", "uvloop"],
        choices=["asyncio", "uvloop"],
        help="event loops scimbridge is measured on, one server each (default: both); the "
        "Starlette hello-world floor is measured on each too",
    )
    parser.add_argument(
        "--peer-loop",
        default="uvloop",
        choices=["asyncio", "uvloop"],
        help="scim2-server's event loop (default uvloop, its fastest)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="stop sending a cell's requests after this many seconds (its writes sent so far "
        "are still all read back); default: send all --requests",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the Starlette hello-world floor",
    )
    parser.add_argument(
        "--round-trips",
        type=int,
        default=0,
        metavar="N",
        help="with --postgres-url: count PostgreSQL round trips and transactions per request "
        "over N requests per scenario at concurrency 1, through a counting proxy (a separate "
        "server with 1,000 users; the throughput cells do not go through it)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each server with py-spy (GIL holder, collapsed stacks) here",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the report as this file's SCIM load section, keeping the rest",
    )
    return parser.parse_args(argv)  # fmt: skip


async def run_target(
    start: Callable[[Path], Target],
    args: argparse.Namespace,
    memories: list[Memory],
    names: tuple[str, ...] | None = None,
) -> list[Cell]:
    with tempfile.TemporaryDirectory(prefix="scimbench-") as workdir:
        target = start(Path(workdir))
        memory = Memory.after_start(target)
        print(f"  {target.label}: pid {memory.pid}, RSS {memory.after_preload / 1024:,.1f} MiB")
        target.profile_dir = args.profile
        try:
            cells = await bench_server(target, args, names)
            memory.finish()
            if target.user_ids:
                memories.append(memory)
        finally:
            target.stop()
    return cells


async def main_async(args: argparse.Namespace) -> tuple[list[Cell], list[Memory], list[str]]:
    cells: list[Cell] = []
    memories: list[Memory] = []
    servers = list(args.servers)
    if args.postgres_url and "scimbridge-pg" not in servers and "scimbridge" in servers:
        servers.append("scimbridge-pg")
    if "scimbridge-pg" in servers and not args.postgres_url:
        raise SystemExit("scimbridge-pg needs --postgres-url")
    if not args.no_floor:
        for loop in args.loops:
            print(f"starlette hello world ({loop})", flush=True)
            cells += await run_target(partial(start_hello, loop=loop), args, memories, ("hello",))
    for users in args.users:
        starters: list[Callable[[Path], Target]] = []
        for loop in args.loops:
            if "scimbridge" in servers:
                starters.append(
                    partial(start_scimbridge, count=users, postgres_url=None, loop=loop)
                )
            if "scimbridge-pg" in servers:
                pg = partial(
                    start_scimbridge, count=users, postgres_url=args.postgres_url, loop=loop
                )
                starters.append(pg)
        if "scim2-server" in servers:
            starters.append(partial(start_scim2_server, count=users, loop=args.peer_loop))
        for start in starters:
            where = "PostgreSQL" if start.keywords.get("postgres_url") else "SQLite"
            what = "scim2-server" if start.func is start_scim2_server else f"scimbridge on {where}"
            print(f"{what}, {users:,} users, {start.keywords['loop']}", flush=True)
            cells += await run_target(start, args, memories)
    trips = await count_round_trips(args) if args.round_trips and args.postgres_url else []
    return cells, memories, trips


async def count_round_trips(args: argparse.Namespace) -> list[str]:
    """PostgreSQL round trips and transactions per request, one request at a time (see
    ``bench/round_trips.py``)."""
    from round_trips import CountingProxy, through, transactions

    url = make_url(args.postgres_url)
    lines = [
        "| scenario | requests | round trips / request | transactions / request | "
        "client bytes / request |",
        "|---|---:|---:|---:|---:|",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="scimbench-") as tmp,
        CountingProxy(str(url.host), int(url.port or 5432)) as proxy,
    ):
        workdir = Path(tmp)
        database_url, drop = temporary_postgres(args.postgres_url)
        try:
            ids, names = bulk_load(database_url, 1000, workdir)
            process, base = start_serve(through(database_url, proxy), workdir / "server.log")
            target = Target("scimbridge (PostgreSQL, counted)", base, ids, names, process)
            scenarios = Scenarios(target, args.seed)
            try:
                connector = aiohttp.TCPConnector(limit=1)
                async with aiohttp.ClientSession(connector=connector) as session:
                    await drive(session, scenarios.filter("w", 50), 1)  # pool connections open
                    scenarios.commit([])
                    for scenario in SCENARIOS:
                        plan = getattr(scenarios, scenario)(f"rt{scenario}", args.round_trips)
                        await asyncio.sleep(11)  # PostgreSQL flushes a backend's stats when idle
                        xacts, flights, up = (
                            transactions(database_url),
                            proxy.counter.flights,
                            proxy.counter.bytes_up,
                        )
                        began = time.perf_counter()
                        _, latencies, errors = await drive(session, plan, 1)
                        elapsed = time.perf_counter() - began
                        scenarios.commit(plan)
                        flights, up = proxy.counter.flights - flights, proxy.counter.bytes_up - up
                        # The same time idle: what the server sends on its own (sync polls, pings).
                        idle = proxy.counter.flights
                        await asyncio.sleep(min(elapsed, 10))
                        idle_rate = (proxy.counter.flights - idle) / min(elapsed, 10)
                        await asyncio.sleep(11)
                        xacts = transactions(database_url) - xacts
                        count = len(latencies)
                        trips = (flights - idle_rate * elapsed) / count
                        # xacts also holds the idle time's own transactions (the outbox poll).
                        lines.append(
                            f"| {scenario} | {count} ({errors} errors) | {trips:.2f} | "
                            f"{xacts / count:.2f} | {up / count:,.0f} |"
                        )
                        print("  " + lines[-1], flush=True)
                    if scenarios.patched:
                        print("  " + await verify_patches(session, scenarios), flush=True)
            finally:
                stop_process(process)
        finally:
            drop()
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-scim2-server"]:
        inner = argparse.ArgumentParser(prog="scim_load.py serve-scim2-server")
        inner.add_argument("--port", type=int, required=True)
        inner.add_argument("--users", type=int, required=True)
        inner.add_argument("--ids-file", type=Path, required=True)
        inner.add_argument("--loop", default="asyncio")
        served = inner.parse_args(argv[1:])
        serve_scim2_server(served.port, served.users, served.ids_file, served.loop)
        return
    if argv[:1] == ["serve-hello"]:
        inner = argparse.ArgumentParser(prog="scim_load.py serve-hello")
        inner.add_argument("--port", type=int, required=True)
        inner.add_argument("--loop", default="asyncio")
        served = inner.parse_args(argv[1:])
        serve_hello(served.port, served.loop)
        return
    args = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    cells, memories, trips = asyncio.run(main_async(args))
    text = report(cells, memories, argv, trips)
    print(text)
    if args.output:
        write_section(args.output, text)


if __name__ == "__main__":
    main()
