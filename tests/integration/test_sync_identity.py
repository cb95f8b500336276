"""A user's worker identity at its edges: a UPN change after a Flex SSO login under the new name,
and a UPN taken over by someone else while its old owner is being renamed.

SCIM over HTTP → outbox → the real sync worker → the real ``twilio`` client → the fake Flex, on
SQLite and PostgreSQL. SSO logins go through the fake's control endpoint, which makes the worker
the way Flex does at a just-in-time login; the Flex UI's routing edits go through ``twilio``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext

from scimbridge.flex.sync.resync import Resync
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import Harness, running

OLD, NEW = "ann.lee@contoso.com", "ann.ruiz@contoso.com"
ROUTING = {
    "routing": {"skills": ["sales", "support"], "levels": {"sales": 3}},
    "disabled_skills": {"skills": ["billing"], "levels": {}},
    "channel.chat.capacity": 3,
    "channel.voice.availability": False,
}
CLAIMS = {"email": NEW, "full_name": "Ann Ruiz", "roles": "agent", "team_name": "London"}


def sso_login(fake: FakeFlexServer, username: str, claims: dict[str, Any]) -> dict[str, Any]:
    """What a Flex SSO login under ``username`` does, through the fake's control endpoint."""
    response = requests.post(
        f"{fake.url}/__fake__/sso-login", json={"username": username, "claims": claims}, timeout=10
    )
    assert response.status_code == 200, response.text
    worker: dict[str, Any] = response.json()
    return worker


def change_upn(sync: Harness, user_id: str, upn: str, display_name: str) -> None:
    """Entra's PATCH after a UPN change: userName, the work email and the display name."""
    sync.patch(
        user_id,
        {"op": "Replace", "path": "userName", "value": upn},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": upn},
        {"op": "Replace", "path": "displayName", "value": display_name},
    )


@pytest.mark.parametrize("on_delete", ["delete", "offline"])
def test_upn_change_after_an_sso_login_under_the_new_name_ends_with_one_worker(
    fake: FakeFlexServer, migrated_url: str, ws: WorkspaceContext, on_delete: str
) -> None:
    with running(fake, migrated_url, flex={"on_delete": on_delete}) as sync:
        user_id = sync.post_user(OLD)
        sync.drain()
        old_sid = sync.worker_named(OLD).sid
        ws.workers(old_sid).update(attributes=json.dumps({**sync.attributes(OLD), **ROUTING}))
        jit = sso_login(fake, NEW, CLAIMS)  # the agent signs in with the new UPN first
        assert jit["sid"] != old_sid
        assert json.loads(jit["attributes"])["contact_uri"] == "client:ann_2Eruiz_40contoso_2Ecom"
        sync.outcomes.clear()

        change_upn(sync, user_id, NEW, "Ann Ruiz")
        sync.drain()

        assert sync.store.outbox.dead_letters() == [] and sync.store.outbox.backlog() == 0
        assert sync.outcomes == [("renamed", user_id)]
        assert sync.worker_named(NEW).sid == jit["sid"], "the worker the agent is signed in to"
        attributes = sync.attributes(NEW)
        assert ROUTING.items() <= attributes.items(), "the old worker's skills and channels"
        assert attributes["email"] == NEW and attributes["full_name"] == "Ann Ruiz"
        assert attributes["contact_uri"] == "client:ann_2Eruiz_40contoso_2Ecom"
        assert attributes["team_name"] == "London", "what the login wrote stays"
        link = sync.store.links.get(user_id)
        assert link is not None and (link.worker_sid, link.friendly_name) == (jit["sid"], NEW)
        others = [w for w in sync.workers() if w.sid != jit["sid"]]
        if on_delete == "delete":
            assert others == []
        else:
            assert [w.sid for w in others] == [old_sid]
            assert sync.activity(OLD) == "Offline"
        assert sync.store.links.get_by_worker(old_sid) is None

        sync.outcomes.clear()
        sync.resync(user_id)
        assert sync.outcomes == [("unchanged", user_id)]
        assert ROUTING.items() <= sync.attributes(NEW).items()


def test_an_sso_worker_a_disabled_user_adopts_is_made_unavailable(sync: Harness) -> None:
    user_id = sync.post_user(OLD)
    sync.drain()
    sso_login(sync.fake, NEW, CLAIMS)
    sync.set_worker(NEW, activity="Available")
    change_upn(sync, user_id, NEW, "Ann Ruiz")
    sync.replace(user_id, "active", False)
    sync.drain()
    assert [w.friendly_name for w in sync.workers()] == [NEW]
    assert sync.activity(NEW) == "Offline"
    assert sync.store.outbox.dead_letters() == []


def test_a_worker_another_live_user_holds_is_never_adopted(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    flex = {"friendly_name": 'emails[type eq "work"].value'}
    with running(fake, migrated_url, flex=flex) as sync:
        ann = sync.post_user(OLD, emails=[{"value": "ann@contoso.com", "type": "work"}])
        sync.post_user(
            "bob.ng@contoso.com", "Bob Ng", emails=[{"value": "bob@contoso.com", "type": "work"}]
        )
        sync.drain()
        bob_sid = sync.worker_named("bob@contoso.com").sid
        sync.replace(ann, 'emails[type eq "work"].value', "bob@contoso.com")
        sync.drain()
        dead = sync.store.outbox.dead_letters()
        assert [letter.user_id for letter in dead] == [ann]
        assert "two users map to one friendly_name" in (dead[0].last_error or "")
        assert "'bob.ng@contoso.com'" in (dead[0].last_error or "")
        assert sync.worker_named("bob@contoso.com").sid == bob_sid
        assert sync.attributes("bob@contoso.com")["full_name"] == "Bob Ng"
        assert sync.worker_named("ann@contoso.com").sid != bob_sid, "ann keeps her own worker"


X, Z = "sam.lee@contoso.com", "sam.lee.old@contoso.com"


def test_a_upn_reused_during_its_old_owners_rename_gets_its_worker_once_the_name_is_free(
    sync: Harness,
) -> None:
    first = sync.post_user(X, "Sam Lee")
    sync.drain()
    first_sid = sync.worker_named(X).sid
    sync.set_worker(X, attributes={**sync.attributes(X), **ROUTING})
    outage = sync.fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="worker.update", times=None))
    sync.replace(first, "userName", Z)
    sync.drain()  # the rename meets a transient error and waits for its retry
    second = sync.post_user(X, "Sam Lee (new)")
    for _ in range(10):  # longer than max_attempts: waiting for a name is never a dead letter
        sync.drain()
        time.sleep(0.005)
    assert second not in {letter.user_id for letter in sync.store.outbox.dead_letters()}
    assert ("dead", second) not in sync.outcomes
    assert [w.sid for w in sync.workers()] == [first_sid], "nobody took the first user's worker"
    plan = Resync(sync.store, sync.sync_worker().reconciler).plan()
    assert [(f.user_id, f.reason.split(":")[0]) for f in plan.failures] == [
        (second, "waiting for friendly_name 'sam.lee@contoso.com'")
    ]

    sync.fake.faults.remove(outage)
    sync.settle()

    assert sync.store.outbox.dead_letters() == []
    assert sync.worker_named(Z).sid == first_sid
    assert ROUTING.items() <= sync.attributes(Z).items()
    assert sync.worker_named(X).sid != first_sid
    reused = sync.attributes(X)
    assert reused["full_name"] == "Sam Lee (new)" and "routing" not in reused
    assert len(sync.workers()) == 2


def test_the_rename_that_frees_a_name_wakes_the_user_waiting_for_it(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    with running(fake, migrated_url, sync={"backoff_base": 120.0, "backoff_cap": 120.0}) as sync:
        first = sync.post_user(X, "Sam Lee")
        sync.drain()
        outage = sync.fake.faults.add(
            Fault(FaultKind.UNAVAILABLE, route="worker.update", times=None)
        )
        sync.replace(first, "userName", Z)
        sync.drain()
        second = sync.post_user(X, "Sam Lee (new)")
        sync.drain()  # waits, backing off for up to two minutes
        sync.fake.faults.remove(outage)
        sync.resync(first)  # one pass: the rename lands and the waiting user is due at once
        assert {w.friendly_name for w in sync.workers()} == {X, Z}
        assert sync.store.outbox.backlog() == 0
        assert ("created", second) in sync.outcomes


def test_resync_adopts_the_sso_worker_the_same_way(sync: Harness, ws: WorkspaceContext) -> None:
    user_id = sync.post_user(OLD)
    sync.drain()
    old_sid = sync.worker_named(OLD).sid
    ws.workers(old_sid).update(attributes=json.dumps({**sync.attributes(OLD), **ROUTING}))
    jit = sso_login(sync.fake, NEW, CLAIMS)
    change_upn(sync, user_id, NEW, "Ann Ruiz")  # its sync has not run yet
    resync = Resync(sync.store, sync.sync_worker().reconciler)
    plan = resync.plan()
    assert plan.orphans == [], "the login's worker is the user's, not an orphan"
    outcome = resync.apply(plan)
    assert outcome.failures == []
    assert [w.sid for w in sync.workers()] == [jit["sid"]]
    assert ROUTING.items() <= sync.attributes(NEW).items()
    sync.settle()
    assert sync.store.outbox.dead_letters() == []


def test_users_api_mode_hands_the_user_over_to_the_login_made_flex_user(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    env = {"SCIMBRIDGE_FLEX_INSTANCE_SID": fake.flex_instance_sid}
    with running(fake, migrated_url, flex={"mode": "users_api"}, env=env) as sync:
        user_id = sync.post_user(OLD)
        sync.drain()
        old_user = fake.state.users.by_username(OLD)
        assert old_user is not None
        sync.set_worker(OLD, attributes={**sync.attributes(OLD), **ROUTING})
        jit = sso_login(fake, NEW, CLAIMS)
        change_upn(sync, user_id, NEW, "Ann Ruiz")
        sync.drain()
        assert sync.store.outbox.dead_letters() == [] and sync.store.outbox.backlog() == 0
        assert [w.sid for w in sync.workers()] == [jit["sid"]]
        attributes = sync.attributes(NEW)
        assert ROUTING.items() <= attributes.items()
        assert attributes["full_name"] == "Ann Ruiz"
        new_user = fake.state.users.by_username(NEW)
        assert new_user is not None and new_user.worker_sid == jit["sid"]
        retired = fake.state.users.by_username(OLD)
        assert retired is not None and retired.deactivated
        link = sync.store.links.get(user_id)
        assert link is not None and link.flex_user_sid == new_user.sid
