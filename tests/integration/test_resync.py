"""``scimbridge resync``: out-of-band drift in Flex is found by one listing and converged.

Drift is made behind the sync's back through the fake's state; the resync talks to the fake over
HTTP with the real ``twilio`` client, on SQLite and on PostgreSQL. Call counts are read from the
fake's request recording.
"""

from __future__ import annotations

import json
from collections import Counter

from typer.testing import CliRunner, Result

from scimbridge.cli.main import app
from scimbridge.flex.sync.resync import Resync
from scimbridge.flex.sync.writes import PROBE_ETAG
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import Harness, running, twilio_env

ROUTING = {"routing": {"skills": ["sales"], "levels": {"sales": 3}}, "channel.chat.capacity": 2}
NAMES = ("ann", "bob", "cat", "dan", "eve", "fay", "gus")
runner = CliRunner()


def email(name: str) -> str:
    return f"{name}@contoso.com"


def provisioned(sync: Harness, *names: str) -> dict[str, str]:
    """Users created over SCIM and synced; returns user ids by short name."""
    ids = {name: sync.post_user(email(name), name.title()) for name in names}
    sync.settle()
    sync.calls()
    return ids


def resync_of(sync: Harness, page_size: int = 1000) -> Resync:
    """A resync as its own process builds it: a fresh Twilio client and reconciler."""
    reconciler = sync.sync_worker().reconciler
    return Resync(sync.store, reconciler, page_size=page_size)


def run_cli(sync: Harness, *args: str, answer: str | None = None) -> Result:
    env = twilio_env(sync.fake, sync.settings.database_url)
    return runner.invoke(app, ["resync", *args], env=env, input=answer)


def drift(sync: Harness, ids: dict[str, str]) -> None:
    """One of each: ann's worker deleted, bob's full_name changed and a routing key added, cat's
    routing key added (not drift), dan's worker renamed, eve (disabled) made available, gus
    deleted in the store while his worker stayed, and a worker nobody maps to."""
    sync.replace(ids["eve"], "active", False)
    sync.drain()
    state = sync.fake.state
    state.delete_worker(sync.worker_named(email("ann")).sid)
    sync.set_worker(email("bob"), attributes={**sync.attributes(email("bob")), "full_name": "X"})
    sync.set_worker(email("bob"), attributes={**sync.attributes(email("bob")), **ROUTING})
    sync.set_worker(email("cat"), attributes={**sync.attributes(email("cat")), **ROUTING})
    sync.set_worker(email("dan"), friendly_name="dan.old@contoso.com")
    sync.set_worker(email("eve"), activity="Available")
    sync.delete(ids["gus"])  # the sync of this deletion has not run yet
    state.create_worker("stranger@contoso.com", attributes='{"routing":{"skills":["x"]}}')
    sync.calls()


EXPECTED = {
    "create": 1,
    "update": 2,
    "make_unavailable": 1,
    "delete": 1,
    "unchanged": 2,
    "orphans": 1,
}


def routes(sync: Harness) -> Counter[str]:
    """Twilio requests since the last look, by route; the If-Match probe counted apart."""
    seen = Counter("probe" if etag == PROBE_ETAG else route for route, etag in sync.calls())
    return seen


def test_resync_reports_each_drift_converges_it_and_then_finds_none(sync: Harness) -> None:
    ids = provisioned(sync, *NAMES)
    bob_sid, dan_sid = sync.worker_named(email("bob")).sid, sync.worker_named(email("dan")).sid
    drift(sync, ids)
    resync = resync_of(sync)
    plan = resync.plan()
    assert plan.counts() == EXPECTED
    assert [w.friendly_name for w in plan.orphans] == ["stranger@contoso.com"]
    assert routes(sync) == {"workers.list": 1}, "the diff is local: one listing, nothing else"
    outcome = resync.apply(plan)
    assert outcome.ok and outcome.failures == []
    # One call per drifted user; bob's attributes were edited in Flex, so fetch + If-Match write.
    assert routes(sync) == {
        "workers.create": 1,  # ann
        "worker.fetch": 1,  # bob
        "worker.update": 1 + 1 + 1,  # bob, dan (rename), eve (offline)
        "activities.list": 1,  # eve: the unavailable activity, once per run
        "reservations.list": 1,  # gus: already offline, so his pending ones are looked up
        "worker.delete": 1,  # gus
        "probe": 1,  # once per run: is If-Match honoured?
    }
    assert sync.attributes(email("ann"))["full_name"] == "Ann"
    assert sync.attributes(email("bob")) == {
        **sync.attributes(email("fay")),
        "full_name": "Bob",
        "email": email("bob"),
        "contact_uri": "client:bob_40contoso_2Ecom",
        **ROUTING,
    }
    assert sync.attributes(email("cat"))["routing"] == ROUTING["routing"]
    assert sync.worker_named(email("bob")).sid == bob_sid
    assert sync.worker_named(email("dan")).sid == dan_sid
    assert sync.activity(email("eve")) == "Offline"
    assert sync.fake.state.worker_named(email("gus")) is None
    assert sync.fake.state.worker_named("stranger@contoso.com") is not None, "kept: no --prune"
    ann_link = sync.store.links.get(ids["ann"])
    assert ann_link is not None and ann_link.worker_sid == sync.worker_named(email("ann")).sid
    assert sync.store.links.get(ids["gus"]) is None
    again = resync.plan()
    assert again.counts() == {**dict.fromkeys(EXPECTED, 0), "unchanged": 6, "orphans": 1}
    assert again.drifted == []
    assert routes(sync) == {"workers.list": 1}


def test_listing_follows_pages_and_costs_pages_plus_drifted(sync: Harness) -> None:
    ids = provisioned(sync, *NAMES[:5])
    sync.set_worker(email("ann"), friendly_name="ann.renamed@contoso.com")
    sync.fake.state.delete_worker(sync.worker_named(email("bob")).sid)
    sync.calls()
    resync = resync_of(sync, page_size=2)
    plan = resync.plan()
    assert plan.listed == 4
    resync.apply(plan)
    seen = routes(sync)
    assert seen["workers.list"] == 2, "4 workers, 2 a page"
    assert seen == {"workers.list": 2, "worker.update": 1, "workers.create": 1, "probe": 1}
    assert {link.user_id for link in sync.store.links.list_links()} == set(ids.values())


def test_store_changes_cost_one_conditional_write_each_once_if_match_is_known(
    sync: Harness,
) -> None:
    sync.fake.state.set_options(enforce_if_match=True)
    ids = provisioned(sync, "ann", "bob", "cat")
    for name in ("ann", "bob", "cat"):
        sync.replace(ids[name], "displayName", f"{name.title()} Renamed")
    sync.calls()  # the outbox is not drained: a stopped sync worker, say
    resync = resync_of(sync)
    resync.apply(resync.plan())
    calls = sync.calls()
    # The first write learns that If-Match is honoured; the next ones write against the link.
    assert Counter(route for route, _ in calls) == {
        "workers.list": 1,
        "worker.fetch": 1,
        "worker.update": 4,
    }
    assert all(etag for route, etag in calls if route == "worker.update")
    for name in ("ann", "bob", "cat"):
        assert sync.attributes(email(name))["full_name"] == f"{name.title()} Renamed"


def test_cli_prints_the_summary_converges_and_exits_zero(sync: Harness) -> None:
    drift(sync, provisioned(sync, *NAMES))
    result = run_cli(sync)
    assert result.exit_code == 0, result.output
    for label, count in [
        ("to create", 1),
        ("to update", 2),
        ("to make unavailable", 1),
        ("to delete", 1),
        ("unchanged", 2),
        ("orphans", 1),
    ]:
        assert any(
            line.split("│")[1:3] and label in line and f" {count} " in line
            for line in result.stdout.splitlines()
        ), f"{label}: {count} not in\n{result.stdout}"
    assert "stranger@contoso.com" in result.stdout
    assert sync.attributes(email("bob"))["routing"] == ROUTING["routing"]
    again = run_cli(sync)
    assert again.exit_code == 0
    assert "to create" in again.stdout and "converged 0 user(s)" in again.stdout


def test_dry_run_writes_nothing(sync: Harness) -> None:
    drift(sync, provisioned(sync, *NAMES))
    before = {w.sid: (w.friendly_name, w.attributes, w.activity_sid) for w in sync.workers()}
    links_before = sync.store.links.list_links()
    result = run_cli(sync, "--dry-run", "--prune", "--yes")
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout
    writes = [r for r in sync.fake.state.requests.all() if r.method != "GET"]
    assert writes == []
    after = {w.sid: (w.friendly_name, w.attributes, w.activity_sid) for w in sync.workers()}
    assert after == before
    assert sync.store.links.list_links() == links_before


def test_prune_moves_the_orphan_offline_then_deletes_it_after_confirmation(
    sync: Harness,
) -> None:
    sync.fake.state.set_options(refuse_delete_available=True)
    provisioned(sync, "ann")
    stranger = sync.fake.state.create_worker(
        "stranger@contoso.com", activity_sid=sync.fake.state.activity_sid("Available")
    )
    declined = run_cli(sync, "--prune", answer="n\n")
    assert declined.exit_code == 0, declined.output
    assert sync.fake.state.worker_named("stranger@contoso.com") is not None
    sync.calls()
    pruned = run_cli(sync, "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 1 orphan worker(s)" in pruned.stdout
    assert sync.fake.state.worker_named("stranger@contoso.com") is None
    assert [w.friendly_name for w in sync.workers()] == [email("ann")]
    calls = [r for r in sync.fake.state.requests.all() if r.path.endswith(stranger.sid)]
    assert [r.route for r in calls] == ["worker.update", "worker.delete"]
    assert calls[0].form["RejectPendingReservations"] == "true"


def test_dead_lettered_users_are_revived_and_converged(sync: Harness) -> None:
    ids = provisioned(sync, "ann")
    bob = sync.post_user(email("bob"), "Bob")
    # Refused once for a reason fixed since (an outage never dead-letters: it is waited out).
    (claim,) = sync.store.outbox.claim("test", limit=5, lease_seconds=30)
    sync.store.outbox.dead_letter(claim, "workers.create: HTTP 400: refused")
    assert [letter.user_id for letter in sync.store.outbox.dead_letters()] == [bob]
    long_name = "x" * 60 + "@contoso.com"  # past TaskRouter's 64 characters: cannot sync
    too_long = sync.post_user(long_name, "Long")
    sync.settle()
    assert {letter.user_id for letter in sync.store.outbox.dead_letters()} == {bob, too_long}
    sync.calls()
    result = run_cli(sync)
    assert result.exit_code == 1, result.output
    assert f"dead-lettered user {bob} retried: ok" in result.stdout
    assert f"dead-lettered user {too_long} retried: failed again" in result.stdout
    assert "64" in result.stderr and long_name in result.stderr
    assert sync.attributes(email("bob"))["full_name"] == "Bob"
    link = sync.store.links.get(too_long)
    assert link is not None and link.last_error and "64" in link.last_error
    # The failure is queued again, so the sync worker and `status` keep showing it.
    sync.settle()
    assert [letter.user_id for letter in sync.store.outbox.dead_letters()] == [too_long]
    assert sync.store.links.get(ids["ann"]) is not None


def test_user_option_looks_at_one_user_without_listing_everyone(sync: Harness) -> None:
    ids = provisioned(sync, "ann", "bob", "cat")
    sync.set_worker(email("ann"), attributes={**sync.attributes(email("ann")), "full_name": "X"})
    sync.set_worker(email("cat"), attributes={**sync.attributes(email("cat")), "full_name": "X"})
    sync.fake.state.delete_worker(sync.worker_named(email("bob")).sid)
    sync.calls()
    result = run_cli(sync, "--user", "ANN@Contoso.com")
    assert result.exit_code == 0, result.output
    assert sync.attributes(email("ann"))["full_name"] == "Ann"
    assert sync.attributes(email("cat"))["full_name"] == "X", "other users are left alone"
    # The linked worker is fetched (with its ETag), then written once.
    assert [route for route, _ in sync.calls()][:2] == ["worker.fetch", "worker.update"]
    result = run_cli(sync, "--user", email("bob"))
    assert result.exit_code == 0, result.output
    lists = [r for r in sync.fake.state.requests.all() if r.route == "workers.list"]
    assert lists and all(r.query.get("FriendlyName") == email("bob") for r in lists)
    assert sync.store.links.get(ids["bob"]) is not None
    assert sync.worker_named(email("bob")).sid == sync.store.links.get(ids["bob"]).worker_sid  # type: ignore[union-attr]
    missing = run_cli(sync, "--user", "nobody@contoso.com")
    assert missing.exit_code == 1
    assert "nobody@contoso.com" in missing.stderr


def test_null_list_attributes_are_fetched_to_diff(sync: Harness) -> None:
    provisioned(sync, "ann", "bob")
    sync.set_worker(email("bob"), attributes={**sync.attributes(email("bob")), "full_name": "X"})
    sync.fake.state.set_options(null_list_attributes=True)
    sync.calls()
    resync = resync_of(sync)
    plan = resync.plan()
    assert plan.fetched == 2
    assert plan.counts()["update"] == 1 and plan.counts()["unchanged"] == 1
    assert routes(sync) == {"workers.list": 1, "worker.fetch": 2}
    resync.apply(plan)
    assert sync.attributes(email("bob"))["full_name"] == "Bob"


def test_keep_offline_policy_keeps_a_deleted_users_worker_offline(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    with running(fake, migrated_url, flex={"on_delete": "offline"}) as sync:
        ids = provisioned(sync, "ann", "bob")
        sync.delete(ids["ann"])
        sync.drain()
        sync.set_worker(email("ann"), activity="Available")
        sync.calls()
        plan = resync_of(sync).plan()
        assert plan.counts() == {
            **dict.fromkeys(EXPECTED, 0),
            "make_unavailable": 1,
            "unchanged": 1,
        }, "a retired worker is no orphan"
        resync_of(sync).apply(plan)
        assert sync.activity(email("ann")) == "Offline"
        assert json.loads(sync.worker_named(email("ann")).attributes)["full_name"] == "Ann"
