"""The sync end to end: SCIM over HTTP → outbox → sync worker → real twilio client → fake Flex.

Every test runs on SQLite and on PostgreSQL. The worker is drained synchronously, except where a
test is about the background service itself.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from scimbridge.flex.sync.writes import PROBE_ETAG
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, Harness, in_background, running, wait_for

ANN = "ann.lee@contoso.com"
ANN_ATTRIBUTES = {
    "email": ANN,
    "full_name": "Ann Lee",
    "roles": ["agent"],
    "contact_uri": "client:ann_2Elee_40contoso_2Ecom",
}
ROUTING = {
    "routing": {"skills": ["sales", "support"], "levels": {"sales": 3}},
    "disabled_skills": {"skills": ["billing"], "levels": {}},
    "team_sid": "TEaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "team_name": "London",
    "channel.chat.capacity": 3,
    "helpline": "uk",
}


def created(sync: Harness, user_name: str = ANN, display_name: str = "Ann Lee") -> str:
    user_id = sync.post_user(user_name, display_name)
    sync.drain()
    sync.calls()
    sync.outcomes.clear()
    return user_id


def test_post_creates_the_worker_after_the_response_and_records_the_link(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    assert sync.calls() == [], "the SCIM request itself must not call Twilio"
    assert sync.drain() == 1
    worker = sync.worker_named(ANN)
    assert sync.attributes(ANN) == ANN_ATTRIBUTES
    assert sync.activity(ANN) == "Offline"
    assert sync.outcomes == [("created", user_id)]
    link = sync.store.links.get(user_id)
    assert link is not None
    assert (link.worker_sid, link.friendly_name, link.activity_state) == (
        worker.sid,
        ANN,
        "enabled",
    )
    assert link.attributes_hash and link.last_synced_at and link.last_error is None
    assert sync.store.state.read("last_successful_sync") is not None
    assert sync.worker.owner in sync.store.state.heartbeats()
    assert sync.store.outbox.backlog() == 0


def test_creating_a_worker_costs_a_lookup_and_a_create(sync: Harness) -> None:
    created(sync, "first@contoso.com")  # the first sync also learns whether If-Match is honoured
    sync.post_user("bob@contoso.com", "Bob")
    sync.drain()
    assert [route for route, _ in sync.calls()] == ["workers.list", "workers.create"]


def test_one_log_line_per_outcome_with_user_id_and_no_personal_data(
    sync: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="scimbridge.sync"):
        user_id = sync.post_user(ANN, "Ann Lee")
        sync.drain()
    lines = [r for r in caplog.records if getattr(r, "event", None) == "sync"]
    assert [(r.outcome, r.user_id) for r in lines] == [("created", user_id)]  # type: ignore[attr-defined]
    assert "Ann Lee" not in caplog.text
    assert sync.fake.auth_token not in caplog.text


@pytest.mark.parametrize("if_match", [True, False], ids=["if-match-honoured", "if-match-ignored"])
def test_display_name_change_writes_only_full_name_and_keeps_routing(
    fake: FakeFlexServer, migrated_url: str, if_match: bool
) -> None:
    fake.state.set_options(enforce_if_match=if_match)
    with running(fake, migrated_url) as sync:
        user_id = created(sync)
        sync.set_worker(ANN, attributes={**sync.attributes(ANN), **ROUTING})
        sync.replace(user_id, "displayName", "Ann B. Lee")
        sync.drain()
        assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, **ROUTING, "full_name": "Ann B. Lee"}
        assert sync.outcomes == [("updated", user_id)]
        # Twice more, with no change: nothing is written, nothing undone.
        sync.calls()
        sync.resync(user_id)
        sync.resync(user_id)
        assert [route for route, _ in sync.calls()] == ["worker.fetch", "worker.fetch"]
        assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, **ROUTING, "full_name": "Ann B. Lee"}


def test_steady_owned_change_is_one_conditional_update_when_if_match_is_honoured(
    sync: Harness,
) -> None:
    sync.fake.state.set_options(enforce_if_match=True)
    ids = [created(sync, f"agent{n}@contoso.com", f"Agent {n}") for n in range(5)]
    for n, user_id in enumerate(ids):
        sync.replace(user_id, "displayName", f"Agent {n} Renamed")
    sync.drain()
    calls = sync.calls()
    assert [route for route, _ in calls] == ["worker.update"] * 5
    assert all(etag for _, etag in calls), "each write is conditional on the remembered ETag"
    for n in range(5):
        assert sync.attributes(f"agent{n}@contoso.com")["full_name"] == f"Agent {n} Renamed"


def test_disable_rename_and_reenable_cost_one_call_each_when_if_match_is_honoured(
    sync: Harness,
) -> None:
    sync.fake.state.set_options(enforce_if_match=True)
    user_id = created(sync)
    sync.drain()
    sync.replace(user_id, "active", False)
    sync.drain()
    assert [route for route, _ in sync.calls()] == ["activities.list", "worker.update"]
    sync.replace(user_id, "userName", "ann.brown@contoso.com")
    sync.drain()
    assert [route for route, _ in sync.calls()] == ["worker.update"]
    sync.replace(user_id, "active", True)
    sync.drain()
    assert [route for route, _ in sync.calls()] == ["worker.fetch"]
    assert [outcome for outcome, _ in sync.outcomes] == ["disabled", "renamed", "enabled"]
    assert sync.activity("ann.brown@contoso.com") == "Offline"


def test_conditional_write_that_meets_someone_elses_change_merges_instead(sync: Harness) -> None:
    sync.fake.state.set_options(enforce_if_match=True)
    user_id = created(sync)
    sync.set_worker(ANN, attributes={**sync.attributes(ANN), "routing": {"skills": ["vip"]}})
    sync.replace(user_id, "displayName", "Ann B. Lee")
    sync.drain()
    routes = [route for route, _ in sync.calls()]
    assert routes == ["worker.update", "worker.fetch", "worker.update"]
    assert sync.attributes(ANN)["routing"] == {"skills": ["vip"]}
    assert sync.attributes(ANN)["full_name"] == "Ann B. Lee"


def test_unmapped_change_writes_nothing(sync: Harness) -> None:
    user_id = created(sync)
    sync.replace(user_id, "title", "Team lead")
    sync.drain()
    assert [route for route, _ in sync.calls()] == ["worker.fetch"]
    assert sync.outcomes == [("unchanged", user_id)]


def test_a_key_removed_in_flex_is_put_back(sync: Harness) -> None:
    user_id = created(sync)
    sync.set_worker(ANN, attributes={"email": ANN, **ROUTING})
    sync.resync(user_id)
    assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, **ROUTING}


def test_rename_renames_the_same_worker(sync: Harness) -> None:
    user_id = created(sync)
    sid = sync.worker_named(ANN).sid
    sync.set_worker(ANN, attributes={**sync.attributes(ANN), **ROUTING})
    sync.replace(user_id, "userName", "ann.brown@contoso.com")
    sync.drain()
    assert [w.sid for w in sync.workers()] == [sid]
    renamed = sync.worker_named("ann.brown@contoso.com")
    assert renamed.sid == sid
    attributes = sync.attributes("ann.brown@contoso.com")
    assert attributes["contact_uri"] == "client:ann_2Ebrown_40contoso_2Ecom"
    assert attributes["routing"] == ROUTING["routing"]
    assert sync.outcomes == [("renamed", user_id)]
    link = sync.store.links.get(user_id)
    assert link is not None and link.friendly_name == "ann.brown@contoso.com"


def test_disable_moves_offline_rejecting_reservations_and_reenable_leaves_it_to_the_agent(
    sync: Harness,
) -> None:
    user_id = created(sync)
    sync.set_worker(ANN, activity="Available")
    sync.replace(user_id, "active", False)
    sync.drain()
    assert sync.activity(ANN) == "Offline"
    update = [r for r in sync.fake.state.requests.all() if r.route == "worker.update"][-1]
    assert update.form["RejectPendingReservations"] == "true"
    assert sync.outcomes == [("disabled", user_id)]
    # While disabled, the worker is kept offline whoever makes it available.
    sync.set_worker(ANN, activity="Available")
    sync.resync(user_id)
    assert sync.activity(ANN) == "Offline"
    # Re-enabled: the agent chooses when to become available; the sync does not undo it.
    sync.replace(user_id, "active", True)
    sync.drain()
    assert sync.activity(ANN) == "Offline"
    assert sync.outcomes[-1] == ("enabled", user_id)
    sync.set_worker(ANN, activity="Available")
    sync.resync(user_id)
    assert sync.activity(ANN) == "Available"
    assert sync.attributes(ANN) == ANN_ATTRIBUTES


def test_reenable_moves_to_the_available_activity_when_configured(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    flex = {"unavailable_activity": "Unavailable", "available_activity": "Available"}
    with running(fake, migrated_url, flex=flex) as sync:
        user_id = created(sync)
        sync.replace(user_id, "active", False)
        sync.drain()
        assert sync.activity(ANN) == "Unavailable"
        sync.replace(user_id, "active", True)
        sync.drain()
        assert sync.activity(ANN) == "Available"


def test_disable_with_on_disable_delete_removes_the_worker_and_reenable_recreates_it(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    with running(fake, migrated_url, flex={"on_disable": "delete"}) as sync:
        user_id = created(sync)
        sync.replace(user_id, "active", False)
        sync.drain()
        assert sync.workers() == []
        assert sync.outcomes == [("disabled", user_id)]
        sync.replace(user_id, "active", True)
        sync.drain()
        assert sync.attributes(ANN) == ANN_ATTRIBUTES
        assert sync.outcomes[-1] == ("enabled", user_id)


def test_delete_moves_offline_then_deletes_the_worker(fake: FakeFlexServer, sync: Harness) -> None:
    fake.state.set_options(refuse_delete_available=True)
    user_id = created(sync)
    sync.set_worker(ANN, activity="Available")
    sync.delete(user_id)
    sync.drain()
    assert sync.workers() == []
    routes = [route for route, _ in sync.calls()]
    assert routes[-2:] == ["worker.update", "worker.delete"]
    assert sync.outcomes == [("deleted", user_id)]
    assert sync.store.links.get(user_id) is None
    sync.resync(user_id)  # converging a deleted user again is harmless
    assert sync.outcomes[-1] == ("deleted", user_id)
    assert sync.store.outbox.dead_letters() == []


def test_delete_of_a_worker_already_gone_is_fine(sync: Harness) -> None:
    user_id = created(sync)
    sync.fake.state.delete_worker(sync.worker_named(ANN).sid)
    sync.delete(user_id)
    sync.drain()
    assert sync.outcomes == [("deleted", user_id)]
    assert sync.store.outbox.dead_letters() == []


def test_keep_offline_policy_keeps_the_worker_and_a_returning_user_adopts_it(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    with running(fake, migrated_url, flex={"on_delete": "offline"}) as sync:
        user_id = created(sync)
        sid = sync.worker_named(ANN).sid
        sync.set_worker(ANN, activity="Available")
        sync.delete(user_id)
        sync.drain()
        assert sync.activity(ANN) == "Offline"
        link = sync.store.links.get(user_id)
        assert link is not None and link.activity_state == "retired"
        returning = sync.post_user(ANN)
        sync.drain()
        assert [w.sid for w in sync.workers()] == [sid]
        adopted = sync.store.links.get(returning)
        assert adopted is not None and adopted.worker_sid == sid
        assert sync.store.links.get(user_id) is None


def test_existing_worker_is_adopted_by_friendly_name(sync: Harness) -> None:
    existing = sync.fake.state.create_worker(
        "Ann.Lee@Contoso.com", attributes='{"routing":{"skills":["sales"]},"email":"old@x.com"}'
    )
    user_id = sync.post_user(ANN)
    sync.drain()
    assert [w.sid for w in sync.workers()] == [existing.sid]
    assert sync.worker_named(ANN).friendly_name == ANN
    assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, "routing": {"skills": ["sales"]}}
    lookups = [r for r in sync.fake.state.requests.all() if r.route == "workers.list"]
    assert lookups and all("TargetWorkersExpression" not in r.query for r in lookups)
    link = sync.store.links.get(user_id)
    assert link is not None and link.worker_sid == existing.sid


def test_worker_deleted_in_flex_is_recreated(sync: Harness) -> None:
    user_id = created(sync)
    sync.fake.state.delete_worker(sync.worker_named(ANN).sid)
    sync.resync(user_id)
    assert sync.attributes(ANN) == ANN_ATTRIBUTES
    assert len(sync.workers()) == 1


def test_custom_extension_attribute_becomes_a_worker_attribute(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    urn = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
    scim = {"extensions": [{"urn": urn, "attributes": {"site": "string"}}]}
    with running(fake, migrated_url, scim=scim) as sync:
        user_id = sync.post_user(ANN, schemas=[CORE, urn], extra={urn: {"site": "London"}})
        sync.drain()
        assert sync.attributes(ANN)["site"] == "London"
        sync.replace(user_id, f"{urn}:site", "Leeds")
        sync.drain()
        assert sync.attributes(ANN)["site"] == "Leeds"
        sync.patch(user_id, {"op": "Remove", "path": f"{urn}:site"})
        sync.drain()
        assert "site" not in sync.attributes(ANN), "a key we stopped producing is removed"


def test_roles_come_from_app_roles_and_groups(fake: FakeFlexServer, migrated_url: str) -> None:
    flex = {
        "role_map": {"Flex Supervisor": "supervisor"},
        "group_roles": {"Contoso Flex Admins": ["admin"]},
    }
    with running(fake, migrated_url, flex=flex) as sync:
        user_id = sync.post_user(
            ANN, roles=[{"value": "Flex Supervisor", "type": "WindowsAzureActiveDirectoryRole"}]
        )
        sync.drain()
        assert sync.attributes(ANN)["roles"] == ["supervisor"]
        group = sync.scim.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Contoso Flex Admins",
                "members": [{"value": user_id}],
            },
        )
        assert group.status_code == 201, group.text
        sync.drain()
        assert sorted(sync.attributes(ANN)["roles"]) == ["admin", "supervisor"]


def test_sso_login_and_sync_do_not_undo_each_other(sync: Harness) -> None:
    user_id = created(sync)
    claims: dict[str, Any] = {"email": ANN, "full_name": "Ann Lee", "roles": "agent"}
    for _ in range(3):
        sync.fake.state.sso_login(ANN, claims)
        sync.set_worker(ANN, attributes={**sync.attributes(ANN), **ROUTING})
        sync.resync(user_id)
        assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, **ROUTING}
    assert [r for r in sync.fake.state.requests.all() if r.route == "worker.update"] == []
    assert len(sync.workers()) == 1
    assert {outcome for outcome, _ in sync.outcomes} == {"unchanged"}


def test_sso_login_before_the_first_sync_is_adopted(sync: Harness) -> None:
    sync.fake.state.sso_login(ANN, {"email": ANN, "full_name": "Ann Lee", "roles": "agent"})
    sync.post_user(ANN)
    sync.drain()
    assert len(sync.workers()) == 1
    assert sync.attributes(ANN) == ANN_ATTRIBUTES
    writes = [r for r in sync.fake.state.requests.all() if r.route == "worker.update"]
    assert [r.if_match for r in writes] == [PROBE_ETAG], "only the one-time If-Match probe"


def test_two_sync_workers_draining_together_converge_each_user_once(sync: Harness) -> None:
    names = [f"agent{n:02d}@contoso.com" for n in range(24)]
    ids = {sync.post_user(name, name.split("@")[0]) for name in names}
    with in_background(sync.sync_worker(threads=2), sync.sync_worker(threads=2)):
        sync.wait_drained()
    assert sync.store.outbox.backlog() == 0
    assert sorted(w.friendly_name for w in sync.workers()) == names
    creates = [r for r in sync.fake.state.requests.all() if r.route == "workers.create"]
    assert len(creates) == len(names)
    assert sorted(user_id for _, user_id in sync.outcomes) == sorted(ids)
    assert {outcome for outcome, _ in sync.outcomes} == {"created"}


def test_sync_runs_inside_serve_by_default(fake: FakeFlexServer, migrated_url: str) -> None:
    with running(fake, migrated_url, serve_sync=True) as sync:
        user_id = sync.post_user(ANN)
        wait_for(lambda: fake.state.worker_named(ANN) is not None, 20, "the worker to appear")
        sync.replace(user_id, "displayName", "Ann B. Lee")
        wait_for(lambda: sync.attributes(ANN)["full_name"] == "Ann B. Lee", 20, "the rename")
        sync.delete(user_id)
        wait_for(lambda: fake.state.worker_named(ANN) is None, 20, "the worker to go")


def test_users_api_mode_provisions_and_deprovisions_flex_users(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    env = {"SCIMBRIDGE_FLEX_INSTANCE_SID": fake.flex_instance_sid}
    with running(fake, migrated_url, flex={"mode": "users_api"}, env=env) as sync:
        user_id = sync.post_user(ANN)
        sync.drain()
        flex_user = fake.state.users.by_username(ANN)
        assert flex_user is not None and not flex_user.deactivated
        assert flex_user.worker_sid == sync.worker_named(ANN).sid
        assert sync.attributes(ANN) == ANN_ATTRIBUTES
        link = sync.store.links.get(user_id)
        assert link is not None and link.flex_user_sid == flex_user.sid
        sync.set_worker(ANN, attributes={**sync.attributes(ANN), **ROUTING})
        sync.replace(user_id, "displayName", "Ann B. Lee")
        sync.drain()
        assert sync.attributes(ANN) == {**ANN_ATTRIBUTES, **ROUTING, "full_name": "Ann B. Lee"}
        assert len(fake.state.users.all()) == 1
        sync.delete(user_id)
        sync.drain()
        gone = fake.state.users.by_username(ANN)
        assert gone is not None and gone.deactivated and gone.worker_sid is None
        assert sync.workers() == []
        assert sync.outcomes[-1] == ("deleted", user_id)
