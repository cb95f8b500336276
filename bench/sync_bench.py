"""Flex sync benchmark: initial sync, a steady owned-attribute change, PATCH-to-worker freshness.

Does: start the fake TaskRouter server in-process (added latency on every route, ``If-Match``
enforced) and scimbridge itself (uvicorn on 127.0.0.1, SQLite in a temporary directory) with the
real sync worker from ``scimbridge.runtime`` under the ``SCIMBRIDGE_TWILIO_MAX_RPS`` cap; then
1. POST N users over HTTP with the worker stopped, start it, and measure the initial sync: wall
   time, achieved Twilio requests/s, calls per user by route, duplicate workers, convergence;
2. PATCH ``displayName`` (owned as ``full_name``) of every user over HTTP while the worker runs,
   and count the calls per user;
3. with the worker idle, PATCH one user at a time and time the SCIM response to the new
   ``full_name`` being visible in the fake (polled every 5 ms in-process): p50/p95/p99.
Prints a markdown report; ``--output`` writes it as the ``## Flex sync`` section of a file,
leaving every other section as it is.
Does not: reach any address but 127.0.0.1, talk to Twilio, or keep anything (temporary directory).

    python bench/sync_bench.py                     # the targets: 5,000 users, 50 ms, 20 req/s
    python bench/sync_bench.py --users 200 --output bench/RESULTS.md

``--outage SECONDS`` runs the outage benchmark instead (``bench/sync_outage.py``): Twilio answers
503 for that long in the middle of the initial sync; its section is ``## Flex sync through an
outage``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client.registry import Collector

# The checkout this file sits in: run its scimbridge, installed or not.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scimbridge.app import create_app  # noqa: E402
from scimbridge.config.settings import load_settings  # noqa: E402
from scimbridge.flex.sync.writes import PROBE_ETAG  # noqa: E402
from scimbridge.ops.metrics import Metrics  # noqa: E402
from scimbridge.runtime import build_runtime  # noqa: E402
from scimbridge.store.database import migrate  # noqa: E402
from scimbridge.store.objects import Store  # noqa: E402
from scimbridge.testing.fakeflex.server import FakeFlexServer  # noqa: E402

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TOKEN = "sync-bench-token-0123456789"
SECTION = "## Flex sync"
POLL_SECONDS = 0.005
HTTP_CLIENTS = 8

log = logging.getLogger("sync_bench")


def user_name(number: int) -> str:
    return f"agent{number:05d}@bench.example.com"


# -- what the run observes -----------------------------------------------------------------------


class TimedMetrics(Metrics):
    """The application's metrics, plus the moment and endpoint of every Twilio request."""

    def __init__(self, store: Store | None = None, *, collectors: Sequence[Collector] = ()) -> None:
        super().__init__(store, collectors=collectors)
        self.twilio_calls: list[tuple[float, str, int]] = []

    def twilio_request(self, endpoint: str, status: int) -> None:
        self.twilio_calls.append((time.monotonic(), endpoint, status))
        super().twilio_request(endpoint, status)


@dataclass
class Outcomes:
    """Every sync outcome with the moment it was reported (``on_outcome`` of the worker)."""

    metrics: Metrics | None = None  # the runtime's, once it is built
    seen: list[tuple[float, str, str]] = field(default_factory=list)

    def __call__(self, outcome: str, user_id: str, seconds: float) -> None:
        self.seen.append((time.monotonic(), outcome, user_id))
        if self.metrics is not None:
            self.metrics.sync_outcome(outcome, user_id, seconds)


@dataclass
class Phase:
    """What one phase cost: Twilio requests (scimbridge's view and the fake's) and outcomes."""

    name: str
    started: float
    ended: float
    requests: list[tuple[float, str, int]]
    routes: Counter[str]
    probes: int
    outcomes: Counter[str]

    @property
    def rate(self) -> float:
        """Requests per second from the first request to the last one."""
        if len(self.requests) < 2:
            return 0.0
        return (len(self.requests) - 1) / (self.requests[-1][0] - self.requests[0][0])

    @property
    def failed(self) -> int:
        return sum(1 for _t, _e, status in self.requests if not 200 <= status < 300)

    def failures(self) -> str:
        """Non-2xx answers counted by endpoint and status (0: no response arrived)."""
        seen = Counter(
            f"{endpoint} {status}"
            for _t, endpoint, status in self.requests
            if not 200 <= status < 300
        )
        return ", ".join(f"{key}: {count}" for key, count in sorted(seen.items())) or "none"


# -- the system under test -----------------------------------------------------------------------


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port until the block ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="scim-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("scimbridge did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Bench:
    """The fake, scimbridge's SCIM API over HTTP, and its sync worker (started on demand)."""

    def __init__(self, args: argparse.Namespace, fake: FakeFlexServer, directory: Path) -> None:
        self.args = args
        self.fake = fake
        database_url = f"sqlite:///{directory / 'scimbridge.db'}"
        migrate(database_url)
        self.settings = load_settings(
            env={
                "SCIMBRIDGE_DATABASE_URL": database_url,
                "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
                "TWILIO_ACCOUNT_SID": fake.account_sid,
                "TWILIO_AUTH_TOKEN": fake.auth_token,
                "SCIMBRIDGE_TWILIO_BASE_URL": fake.url,
                "SCIMBRIDGE_TWILIO_WORKSPACE_SID": fake.workspace_sid,
                "SCIMBRIDGE_TWILIO_MAX_RPS": f"{args.rps:g}",
            },
            document={},
        )
        assert self.settings.twilio is not None
        # The process scimbridge serve builds, drainer and all: woken by every commit that
        # queues a change, as serve's is. The bench starts and stops that drainer itself (the
        # POSTs are made with it stopped), so the app's lifespan leaves it alone.
        self.outcomes = Outcomes()
        self.runtime = build_runtime(
            self.settings,
            sync_threads=args.threads,
            on_outcome=self.outcomes,
            metrics=TimedMetrics,
        )
        assert isinstance(self.runtime.metrics, TimedMetrics)
        self.metrics = self.outcomes.metrics = self.runtime.metrics
        self.store = self.runtime.store
        assert self.runtime.drainer is not None
        self.worker = self.runtime.drainer
        served = [service for service in self.runtime.services if service is not self.worker]
        self.app = create_app(dataclasses.replace(self.runtime, services=tuple(served)))
        self.user_ids: list[str] = []

    # -- SCIM over HTTP -----------------------------------------------------------------------

    def post_users(self, scim: httpx.Client, count: int) -> None:
        def post(number: int) -> str:
            name = user_name(number)
            body = {
                "schemas": [CORE],
                "userName": name,
                "displayName": f"Agent {number}",
                "emails": [{"value": name, "type": "work", "primary": True}],
                "active": True,
            }
            response = scim.post("/Users", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST {name}: {response.status_code} {response.text[:200]}")
            return str(response.json()["id"])

        with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
            self.user_ids = list(pool.map(post, range(count)))

    @staticmethod
    def patch_display_name(scim: httpx.Client, user_id: str, display_name: str) -> None:
        body = {
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "displayName", "value": display_name}],
        }
        response = scim.patch(f"/Users/{user_id}", json=body)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"PATCH {user_id}: {response.status_code} {response.text[:200]}")

    # -- measuring ----------------------------------------------------------------------------

    def reset_counters(self) -> float:
        self.fake.state.requests.clear()
        self.metrics.twilio_calls.clear()
        self.outcomes.seen.clear()
        return time.monotonic()

    def phase(self, name: str, started: float) -> Phase:
        recorded = self.fake.state.requests.all()
        ended = self.outcomes.seen[-1][0] if self.outcomes.seen else time.monotonic()
        return Phase(
            name=name,
            started=started,
            ended=ended,
            requests=sorted(self.metrics.twilio_calls),
            routes=Counter(record.route for record in recorded),
            probes=sum(1 for record in recorded if record.if_match == PROBE_ETAG),
            outcomes=Counter(outcome for _t, outcome, _u in self.outcomes.seen),
        )

    def wait_drained(self, label: str, expected_outcomes: int, timeout: float) -> None:
        """Until the outbox is empty and every expected outcome was reported."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 30
        while True:
            pending = self.store.outbox.backlog()
            done = len(self.outcomes.seen)
            if pending == 0 and done >= expected_outcomes:
                return
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"{label}: {pending} pending, {done} outcomes after {timeout}s")
            if now >= next_report:
                calls = len(self.metrics.twilio_calls)
                log.warning(
                    "%s: %d outcomes, %d pending, %d Twilio calls", label, done, pending, calls
                )
                next_report = now + 30
            time.sleep(0.25)

    def converged(self, display_name: Callable[[int], str]) -> tuple[int, list[str]]:
        """(workers per friendly_name > 1 count, users whose worker does not match)."""
        workers = self.fake.state.workers()
        names = Counter(worker.friendly_name.casefold() for worker in workers)
        duplicates = sum(count - 1 for count in names.values() if count > 1)
        by_name = {worker.friendly_name.casefold(): worker for worker in workers}
        wrong: list[str] = []
        for number, user_id in enumerate(self.user_ids):
            worker = by_name.get(user_name(number).casefold())
            link = self.store.links.get(user_id)
            attributes = json.loads(worker.attributes) if worker else {}
            if (
                worker is None
                or link is None
                or link.worker_sid != worker.sid
                or attributes.get("full_name") != display_name(number)
                or attributes.get("email") != user_name(number)
            ):
                wrong.append(user_name(number))
        return duplicates, wrong

    def freshness(self, scim: httpx.Client, samples: int, spacing: float) -> list[float]:
        """Seconds from each PATCH response to the new full_name in the fake, one at a time."""
        latencies: list[float] = []
        count = min(samples, len(self.user_ids))
        for sample in range(samples):
            number = sample % count
            user_id = self.user_ids[number]
            link = self.store.links.get(user_id)
            assert link is not None and link.worker_sid is not None
            wanted = f"Fresh {sample} of agent {number}"
            self.patch_display_name(scim, user_id, wanted)
            answered = time.monotonic()
            deadline = answered + 30
            while True:
                record = self.fake.state.get_worker(link.worker_sid)
                if json.loads(record.attributes).get("full_name") == wanted:
                    latencies.append(time.monotonic() - answered)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"freshness: {wanted!r} never reached the fake")
                time.sleep(POLL_SECONDS)
            # Idle between samples: the outbox row is settled and the bucket refilled.
            while self.store.outbox.backlog():
                time.sleep(POLL_SECONDS)
            time.sleep(spacing)
        return latencies


# -- the report ----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def machine() -> list[str]:
    cpu = "unknown"
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", with_model.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=False)
    return [
        f"- `uname -a`: `{uname.stdout.strip() or platform.platform()}`",
        f"- CPUs (`nproc`): {os.cpu_count()}; model: {cpu}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
    ]


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def routes_text(routes: Counter[str], users: int) -> str:
    return ", ".join(
        f"{route} {count} ({count / users:.3f}/user)" for route, count in routes.most_common()
    )


@dataclass
class Report:
    args: argparse.Namespace
    command: str
    post_seconds: float
    initial: Phase
    steady: Phase
    fresh: list[float]
    duplicates: int
    unconverged: list[str]
    steady_unconverged: list[str]
    dead: int

    def markdown(self) -> str:
        users, cap = self.args.users, self.args.rps
        initial, steady = self.initial, self.steady
        once = (
            initial.probes + initial.routes["workspace.fetch"] + initial.routes["activities.list"]
        )
        create_total = sum(initial.routes.values())
        create_per_user = (create_total - once) / users
        steady_per_user = sum(steady.routes.values()) / users
        wall = initial.ended - initial.started
        p50, p95, p99 = (percentile(self.fresh, q) for q in (0.50, 0.95, 0.99))
        rows = [
            (
                f"initial sync rate ≥ 95 % of {cap:g} req/s",
                f"{initial.rate:.2f} req/s ({initial.rate / cap:.1%})",
                initial.rate >= 0.95 * cap,
            ),
            ("duplicate workers = 0", str(self.duplicates), self.duplicates == 0),
            (
                f"all {users} users converged",
                f"{users - len(self.unconverged)} (dead letters: {self.dead})",
                not self.unconverged and self.dead == 0,
            ),
            (
                "Twilio calls per created user ≤ 2",
                f"{create_per_user:.3f} (+{once} once per process; all calls/user "
                f"{create_total / users:.4f})",
                create_per_user <= 2.0,
            ),
            (
                "Twilio calls per steady attribute change ≤ 1.2",
                f"{steady_per_user:.3f}",
                steady_per_user <= 1.2 and not self.steady_unconverged,
            ),
            (
                "PATCH→worker freshness p99 ≤ 1 s (idle)",
                f"{p99 * 1000:.0f} ms (p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                f"max {max(self.fresh) * 1000:.0f} ms; n={len(self.fresh)})",
                p99 <= 1.0,
            ),
        ]
        lines = [
            SECTION,
            "",
            f"Run of {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
            "",
            *machine(),
            "",
            f"Command: `{self.command}`",
            "",
            "Setup: the fake TaskRouter server in-process with "
            f"{self.args.latency * 1000:g} ms added latency on every route and `If-Match` "
            "enforced; scimbridge served by uvicorn on 127.0.0.1 in the same process (SQLite in "
            "a temporary directory, default `[sync]` settings) with the sync worker built by "
            f"`scimbridge.runtime.build_runtime`, woken by every enqueue as `serve`'s is "
            f"({self.args.threads} threads, "
            f"`SCIMBRIDGE_TWILIO_MAX_RPS={cap:g}`). The {users} users are POSTed over HTTP with "
            f"the worker stopped ({self.post_seconds:.1f} s); the worker is then started and the "
            "initial sync timed. The steady change PATCHes `displayName` (owned as `full_name`) "
            "of every user over HTTP while the worker runs. Freshness: one PATCH at a time, the "
            "worker idle between them, from the PATCH response to the new `full_name` in the "
            "fake's state (polled every 5 ms).",
            "",
            "| target | measured | |",
            "|---|---|---|",
            *(f"| {target} | {measured} | {mark(ok)} |" for target, measured, ok in rows),
            "",
            f"- Initial sync: {wall:.1f} s from worker start to the last outcome; "
            f"{len(initial.requests)} Twilio requests ({initial.failed} not 2xx: "
            f"{initial.failures()}); outcomes "
            f"{dict(initial.outcomes)}.",
            f"- Initial sync calls by route: {routes_text(initial.routes, users)}; If-Match "
            f"probes: {initial.probes}.",
            f"- Steady change: {steady.ended - steady.started:.1f} s, {steady.rate:.2f} req/s, "
            f"{len(steady.requests)} requests ({steady.failed} not 2xx: {steady.failures()}); "
            f"by route: "
            f"{routes_text(steady.routes, users)}; outcomes {dict(steady.outcomes)}.",
        ]
        return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, title: str = SECTION) -> None:
    """Replace this benchmark's section of ``path`` (or append it), keeping every other one."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(existing):
        updated = pattern.sub(lambda _match: section + "\n", existing, count=1)
    elif existing.strip():
        updated = existing.rstrip("\n") + "\n\n" + section
    else:
        updated = section
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


# -- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Report:
    users = args.users
    budget = 120 + 3 * (2 * users + 10) / args.rps  # three times the cap-bound minimum
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp, FakeFlexServer() as fake:
        fake.state.faults.set_latency(args.latency)
        fake.state.set_options(enforce_if_match=True)
        bench = Bench(args, fake, Path(tmp))
        try:
            with (
                serving(bench.app) as base,
                httpx.Client(
                    base_url=base + "/scim/v2",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=60,
                    limits=httpx.Limits(max_connections=HTTP_CLIENTS),
                ) as scim,
            ):
                log.warning("posting %d users over HTTP", users)
                posted = time.monotonic()
                bench.post_users(scim, users)
                post_seconds = time.monotonic() - posted

                log.warning("initial sync of %d users", users)
                started = bench.reset_counters()
                bench.worker.start()
                bench.wait_drained("initial sync", users, budget)
                initial = bench.phase("initial", started)
                duplicates, unconverged = bench.converged(lambda n: f"Agent {n}")
                dead = len(bench.store.outbox.dead_letters())

                log.warning("steady change of %d users", users)
                started = bench.reset_counters()
                with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
                    list(
                        pool.map(
                            lambda item: bench.patch_display_name(
                                scim, item[1], f"Agent {item[0]} Renamed"
                            ),
                            enumerate(bench.user_ids),
                        )
                    )
                bench.wait_drained("steady change", users, budget)
                steady = bench.phase("steady", started)
                _dups, steady_unconverged = bench.converged(lambda n: f"Agent {n} Renamed")

                log.warning("freshness: %d single PATCHes", args.samples)
                time.sleep(1.0)
                fresh = bench.freshness(scim, args.samples, args.spacing)
        finally:
            bench.worker.stop()
            bench.store.database.dispose()
    return Report(
        args=args,
        command=args.command,
        post_seconds=post_seconds,
        initial=initial,
        steady=steady,
        fresh=fresh,
        duplicates=duplicates,
        unconverged=unconverged,
        steady_unconverged=steady_unconverged,
        dead=dead,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5000, help="users to create and sync")
    parser.add_argument("--latency", type=float, default=0.05, help="added latency per request, s")
    parser.add_argument("--rps", type=float, default=20.0, help="SCIMBRIDGE_TWILIO_MAX_RPS")
    parser.add_argument("--threads", type=int, default=4, help="sync worker threads")
    parser.add_argument("--samples", type=int, default=100, help="freshness PATCHes")
    parser.add_argument("--spacing", type=float, default=0.3, help="idle seconds between them")
    parser.add_argument("--output", type=Path, help="write the '## Flex sync' section here")
    parser.add_argument("--outage", type=float, help="run the outage benchmark: 503s this long, s")
    parser.add_argument("--outage-after", type=float, default=60.0, help="syncing before it, s")
    parser.add_argument("--disable", type=int, default=100, help="users disabled (and renamed)")
    args = parser.parse_args(argv)
    args.token = TOKEN
    args.command = "python bench/sync_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    if args.outage is not None:
        from bench.sync_outage import SECTION as OUTAGE_SECTION
        from bench.sync_outage import run_outage

        section = run_outage(args, Bench, serving).markdown(machine())
        title = OUTAGE_SECTION
    else:
        section = run(args).markdown()
        title = SECTION
    print(section)
    if args.output:
        write_section(args.output, section, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
