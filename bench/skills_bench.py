"""Skills benchmark: the Twilio calls one Entra group change costs, per affected member.

Does: start the fake TaskRouter in this process (``If-Match`` enforced, every request recorded)
and scimbridge (uvicorn on 127.0.0.1, SQLite in a temporary directory) managing
``[flex.group_skills]``; store N agents over HTTP, each with a skill and a level of a supervisor's
own; put them all in "Spanish Experts" (spanish, level 9) and half in "Queue - Spanish" (spanish,
level 5); then make one group change at a time as Entra sends it (add, remove with a value, remove
all, rename, delete), drain the sync, and count the calls by route, the workers whose managed
skills changed, the most writes any of them got, and the writes to workers whose skills did not
change (read from the fake's request recording and its worker state). Prints a markdown table.
Does not: reach any address but 127.0.0.1, or time anything (the calls are the cost on the live
API; ``sync_bench.py`` measures rates).

    python bench/skills_bench.py --agents 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sync_bench import machine, serving  # noqa: E402

from scimbridge.app import create_app  # noqa: E402
from scimbridge.config.settings import load_settings  # noqa: E402
from scimbridge.runtime import build_drainer, build_runtime  # noqa: E402
from scimbridge.store.database import create_db_engine, migrate  # noqa: E402
from scimbridge.testing.fakeflex.server import FakeFlexServer  # noqa: E402

TOKEN = "skills-bench-token-0123456789"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SKILLS = {
    "Spanish Experts": {"skill": "spanish", "level": 9},
    "Queue - Spanish": {"skill": "spanish", "level": 5},
    "Queue - Billing": "billing",
}
SUPERVISOR = {"routing": {"skills": ["sales"], "levels": {"sales": 3}}}


class Bench:
    def __init__(self, fake: FakeFlexServer, directory: Path) -> None:
        self.fake = fake
        database_url = f"sqlite:///{directory / 'scimbridge.db'}"
        migrate(database_url)
        env = {
            "SCIMBRIDGE_DATABASE_URL": database_url,
            "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "SCIMBRIDGE_TWILIO_BASE_URL": fake.url,
            "SCIMBRIDGE_TWILIO_WORKSPACE_SID": fake.workspace_sid,
            "SCIMBRIDGE_TWILIO_MAX_RPS": "1000",
        }
        self.settings = load_settings(env=env, document={"flex": {"group_skills": SKILLS}})
        assert self.settings.twilio is not None
        self.engine = create_db_engine(self.settings.database_url)
        self.runtime = build_runtime(self.settings, engine=self.engine, sync_threads=0)
        self.store = self.runtime.store
        self.worker = build_drainer(self.runtime)
        self.app = create_app(self.runtime)

    def drain(self) -> Counter[str]:
        """Sync until the outbox is empty; the Twilio calls it took, by route."""
        self.fake.state.requests.clear()
        while self.store.outbox.backlog():
            self.worker.drain_once()
        return Counter(request.route for request in self.fake.state.requests.all())


def skills_by_worker(fake: FakeFlexServer) -> dict[str, Any]:
    """Each worker's ``routing`` and ``disabled_skills``, by SID."""
    found = {}
    for record in fake.state.workers():
        attributes = json.loads(record.attributes)
        found[record.sid] = (attributes.get("routing"), attributes.get("disabled_skills"))
    return found


def group(scim: httpx.Client, name: str, members: list[str]) -> str:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    response = scim.post("/Groups", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def patch(scim: httpx.Client, group_id: str, *operations: dict[str, Any]) -> None:
    body = {"schemas": [PATCH], "Operations": list(operations)}
    scim.patch(f"/Groups/{group_id}", json=body).raise_for_status()


def run(agents: int) -> list[str]:
    rows: list[str] = []
    with FakeFlexServer() as fake, tempfile.TemporaryDirectory() as directory:
        fake.state.set_options(enforce_if_match=True)
        bench = Bench(fake, Path(directory))
        with (
            serving(bench.app) as base,
            httpx.Client(
                base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            ) as scim,
        ):
            ids = []
            for n in range(agents):
                name = f"agent{n:04d}@contoso.com"
                body = {"schemas": [CORE], "userName": name, "displayName": f"Agent {n}"}
                response = scim.post("/Users", json=body)
                response.raise_for_status()
                ids.append(str(response.json()["id"]))
            bench.drain()
            for record in fake.state.workers():
                attributes = {**json.loads(record.attributes), **SUPERVISOR}
                fake.state.update_worker(record.sid, attributes=json.dumps(attributes))
            for user_id in ids:  # the sync sees the supervisors' edits once
                bench.store.outbox.enqueue_many([user_id], "bench")
            bench.drain()
            experts = group(scim, "Spanish Experts", ids)
            bench.drain()
            half = ids[: agents // 2]
            queue = group(scim, "Queue - Spanish", half)
            bench.drain()
            billing = group(scim, "Queue - Billing", [])
            ten = [{"value": user_id} for user_id in ids[:10]]

            def measure(label: str, action: Callable[[], Any]) -> None:
                before = skills_by_worker(fake)
                action()
                calls = bench.drain()
                after = skills_by_worker(fake)
                changed = {sid for sid in after if after[sid] != before.get(sid)}
                writes = Counter(
                    request.path.rsplit("/", 1)[-1]
                    for request in fake.state.requests.all()
                    if request.route == "worker.update"
                )
                rest = ", ".join(f"{route} {count}" for route, count in sorted(calls.items()))
                most = max((writes[sid] for sid in changed), default=0)
                idle = sum(count for sid, count in writes.items() if sid not in changed)
                rows.append(f"| {label} | {len(changed)} | {rest or 'none'} | {most} | {idle} |")

            measure(
                "Add 10 members to Queue - Billing",
                lambda: patch(scim, billing, {"op": "Add", "path": "members", "value": ten}),
            )
            measure(
                "Remove (with value) the 10 from Queue - Billing",
                lambda: patch(scim, billing, {"op": "Remove", "path": "members", "value": ten}),
            )
            measure(
                f"Remove {len(half)} from Queue - Spanish (they keep level 9)",
                lambda: patch(scim, queue, {"op": "Remove", "path": "members"}),
            )
            measure(
                f"Add the {len(half)} back to Queue - Spanish (level 5 < 9)",
                lambda: patch(
                    scim,
                    queue,
                    {"op": "Add", "path": "members", "value": [{"value": u} for u in half]},
                ),
            )
            rename = {"op": "Replace", "path": "displayName", "value": "Spanish Experts (old)"}
            measure(
                f"Rename Spanish Experts ({len(half)} fall to level 5, the rest lose spanish)",
                lambda: patch(scim, experts, rename),
            )
            back = {"op": "Replace", "value": {"displayName": "Spanish Experts"}}
            measure("Rename it back (path-less Replace)", lambda: patch(scim, experts, back))
            measure(
                f"Delete Queue - Spanish ({len(half)} members; they keep level 9)",
                lambda: scim.delete(f"/Groups/{queue}").raise_for_status(),
            )
            measure(
                f"Delete Spanish Experts ({agents} members lose spanish)",
                lambda: scim.delete(f"/Groups/{experts}").raise_for_status(),
            )
            measure(
                "Delete Queue - Billing (no members)",
                lambda: scim.delete(f"/Groups/{billing}").raise_for_status(),
            )
        bench.engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args()
    rows = run(args.agents)
    print(*machine(), sep="\n")
    print()
    print(
        "| group change (as Entra sends it) | workers whose skills changed | Twilio calls | "
        "most writes to one changed worker | writes to unchanged workers |"
    )
    print("|---|---:|---|---:|---:|")
    print(*rows, sep="\n")


if __name__ == "__main__":
    main()
