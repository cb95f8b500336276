"""resync at scale: ``scimbridge resync`` and ``resync --dry-run`` over 100,000 workers.

Does: start the fake Flex server in this process; learn the worker scimbridge keeps for a user by
letting ``serve`` sync one template user to it (so the seeded workers are exactly what the sync
writes, whatever the mapping); bulk-load N users into a fresh database (``bench/bulk_users.py``)
and seed N matching workers straight into the fake; then run the real CLI as a subprocess:
``resync --dry-run``, then ``resync`` (it adopts every worker: links only) and ``resync --dry-run``
again (unless ``--no-adopt``), and for each report wall time, CPU time and peak RSS of the
process (``ru_maxrss`` from ``wait4``), Twilio calls by route, the page sizes it asked for, and
Twilio writes (none expected).
Does not: reach any address but 127.0.0.1, or keep anything (temporary directory, and the
PostgreSQL database it creates is dropped).

    python bench/resync_scale.py --workers 100000 [--postgres-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bulk_users import (  # noqa: E402
    NUMBER,
    bulk_load,
    post_user,
    preload_name,
    server_env,
    start_serve,
    stop_process,
    temporary_postgres,
    user_body,
)

from scimbridge.testing.fakeflex.server import FakeFlexServer  # noqa: E402

WRITES = ("POST", "DELETE")
PEAK_RSS_LIMIT_MIB = 300


def template_worker(fake: FakeFlexServer, workdir: Path) -> tuple[str, str]:
    """The friendly name and attributes ``serve``'s sync gives the template user's worker."""
    database_url = f"sqlite:///{workdir / 'template.db'}"
    log = workdir / "template.log"
    process, base = start_serve(database_url, log, extra_env=fake.environment())
    try:
        post_user(base, user_body(preload_name(NUMBER), NUMBER))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = fake.state.workers()
            if workers:
                record = workers[0]
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the template user was not synced within 60 s")
    finally:
        stop_process(process)
    fake.state.delete_worker(record.sid)
    fake.state.requests.clear()
    return str(record.friendly_name), str(record.attributes)


def seed_workers(fake: FakeFlexServer, name: str, attributes: str, count: int) -> None:
    """``count`` workers like the template, through the fake's own ``create_worker`` (every rule
    checked, the unique friendly name included: an index lookup, whatever the count)."""
    for number in range(count):
        digits = f"{number:06d}"
        fake.state.create_worker(
            name.replace(NUMBER, digits).replace(NUMBER.lower(), digits),
            attributes=attributes.replace(NUMBER, digits).replace(NUMBER.lower(), digits),
        )


def run_cli(args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``scimbridge <args>``; its exit code, wall seconds and peak RSS (MiB)."""
    began = time.perf_counter()
    output = log.with_suffix(".out")
    with log.open("ab") as sink, output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scimbridge", *args], env=env, stdout=out, stderr=sink
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    printed = [line.strip() for line in output.read_text().splitlines() if line.strip()]
    return {
        "printed": printed[-6:],
        "exit": process.returncode,
        "seconds": round(time.perf_counter() - began, 1),
        # Its own CPU: the wall time also holds the fake's, which shares this process.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def calls(fake: FakeFlexServer) -> dict[str, Any]:
    requests = fake.state.requests.all()
    sizes = Counter(r.query.get("PageSize", "-") for r in requests if r.method == "GET")
    return {
        "calls": dict(sorted(Counter(f"{r.method} {r.route}" for r in requests).items())),
        "calls_total": len(requests),
        "page_sizes_asked": dict(sizes),
        "writes": sum(r.method in WRITES for r in requests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=100_000)
    parser.add_argument(
        "--no-adopt", action="store_true", help="only the first dry run (no resync, no second)"
    )
    parser.add_argument("--postgres-url", help="use a fresh database there (default: SQLite)")
    args = parser.parse_args()
    drop = None
    with tempfile.TemporaryDirectory(prefix="resync-scale-") as tmp, FakeFlexServer() as fake:
        workdir = Path(tmp)
        began = time.perf_counter()
        name, attributes = template_worker(fake, workdir)
        if args.postgres_url:
            database_url, drop = temporary_postgres(args.postgres_url)
        else:
            database_url = f"sqlite:///{workdir / 'scim.db'}"
        try:
            bulk_load(database_url, args.workers, workdir)
            seed_workers(fake, name, attributes, args.workers)
            seconds = time.perf_counter() - began
            print(f"seeded {args.workers:,} users and workers in {seconds:.0f}s", flush=True)
            env = server_env({"SCIMBRIDGE_DATABASE_URL": database_url} | fake.environment())
            runs = []
            commands = [("resync --dry-run, workers not yet linked", ["resync", "--dry-run"])]
            if not args.no_adopt:
                commands += [
                    ("resync (adopts every worker: links only)", ["resync"]),
                    ("resync --dry-run, every worker linked", ["resync", "--dry-run"]),
                ]
            for label, command in commands:
                fake.state.requests.clear()
                result = {"run": label, **run_cli(command, env, workdir / "cli.log"), **calls(fake)}
                result["peak_rss_ok"] = result["peak_rss_mib"] <= PEAK_RSS_LIMIT_MIB
                print(json.dumps(result), flush=True)
                runs.append(result)
            if any(r["exit"] != 0 for r in runs):
                print((workdir / "cli.log").read_text()[-3000:])
        finally:
            if drop is not None:
                drop()
    print(
        json.dumps(
            {
                "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "database": "PostgreSQL" if args.postgres_url else "SQLite",
                "workers": args.workers,
                "template_worker_attributes": json.loads(attributes),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
