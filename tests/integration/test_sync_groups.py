"""Group changes reach the workers of the group's members: SCIM over HTTP → outbox → fake Flex.

Roles granted by ``[flex.group_roles]`` follow the group's *name*, so renaming or deleting a group
must re-sync every member, or a worker keeps a privilege nobody grants any more. Every test runs on
SQLite and on PostgreSQL, and drains the real sync worker synchronously.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import Harness, running

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ADMINS = "Contoso Flex Admins"
ANN, BOB = "ann.lee@contoso.com", "bob.ng@contoso.com"
FLEX = {"group_roles": {ADMINS: ["admin", "wfo.full_access"], "Flex Supervisors": "supervisor"}}


@pytest.fixture
def groups(fake: FakeFlexServer, migrated_url: str) -> Iterator[Harness]:
    with running(fake, migrated_url, flex=FLEX) as harness:
        yield harness


def roles(sync: Harness, name: str) -> list[str]:
    return sorted(sync.attributes(name)["roles"])


def admins_with(sync: Harness, *user_ids: str) -> str:
    """The group "Contoso Flex Admins" holding ``user_ids``, synced; returns its id."""
    response = sync.scim.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": ADMINS,
            "members": [{"value": user_id} for user_id in user_ids],
        },
    )
    assert response.status_code == 201, response.text
    sync.settle()
    return str(response.json()["id"])


def patch_group(sync: Harness, group_id: str, *ops: dict[str, Any], flag: bool = False) -> None:
    response = sync.scim.patch(
        f"/Groups/{group_id}",
        params={"aadOptscim062020": ""} if flag else None,
        json={"schemas": [PATCH], "Operations": list(ops)},
    )
    assert response.status_code in (200, 204), response.text


RENAMES = {
    "replace with path": ({"op": "Replace", "path": "displayName", "value": "Flex Alumni"}, False),
    "replace with path, RFC flag": (
        {"op": "replace", "path": "displayName", "value": "Flex Alumni"},
        True,
    ),
    "path-less replace": ({"op": "Replace", "value": {"displayName": "Flex Alumni"}}, False),
    "path-less replace, RFC flag": (
        {"op": "replace", "value": {"displayName": "Flex Alumni", "externalId": "g-1"}},
        True,
    ),
}


@pytest.mark.parametrize("shape", RENAMES, ids=list(RENAMES))
def test_renaming_the_admin_group_takes_admin_away_from_its_members(
    groups: Harness, shape: str
) -> None:
    ann, bob = groups.post_user(ANN), groups.post_user(BOB, "Bob Ng")
    group_id = admins_with(groups, ann, bob)
    assert roles(groups, ANN) == roles(groups, BOB) == ["admin", "wfo.full_access"]
    operation, flag = RENAMES[shape]
    patch_group(groups, group_id, operation, flag=flag)
    assert groups.store.outbox.backlog() == 2, "the rename queued both members with it"
    groups.settle()
    assert roles(groups, ANN) == roles(groups, BOB) == ["agent"]


def test_renaming_into_a_mapped_name_grants_its_roles(groups: Harness) -> None:
    ann = groups.post_user(ANN)
    group_id = admins_with(groups, ann)
    patch_group(
        groups, group_id, {"op": "Replace", "path": "displayName", "value": "Flex Supervisors"}
    )
    groups.settle()
    assert roles(groups, ANN) == ["supervisor"]


def test_put_with_a_new_name_and_fewer_members_resyncs_the_kept_and_the_removed(
    groups: Harness,
) -> None:
    ann, bob = groups.post_user(ANN), groups.post_user(BOB, "Bob Ng")
    group_id = admins_with(groups, ann, bob)
    response = groups.scim.put(
        f"/Groups/{group_id}",
        json={"schemas": [GROUP], "displayName": "Flex Alumni", "members": [{"value": ann}]},
    )
    assert response.status_code == 200, response.text
    answered = response.json()
    assert [member["value"] for member in answered["members"]] == [ann], "the members it left"
    assert response.headers["ETag"] == answered["meta"]["version"]
    groups.settle()
    assert roles(groups, ANN) == roles(groups, BOB) == ["agent"]


def test_put_that_keeps_the_name_leaves_members_alone(groups: Harness) -> None:
    ann = groups.post_user(ANN)
    group_id = admins_with(groups, ann)
    response = groups.scim.put(
        f"/Groups/{group_id}",
        json={
            "schemas": [GROUP],
            "displayName": ADMINS,
            "externalId": "g-1",
            "members": [{"value": ann}],
        },
    )
    assert response.status_code == 200, response.text
    assert groups.store.outbox.backlog() == 0, "nothing a worker reads changed"
    assert roles(groups, ANN) == ["admin", "wfo.full_access"]


def test_deleting_the_admin_group_takes_admin_away(groups: Harness) -> None:
    ann, bob = groups.post_user(ANN), groups.post_user(BOB, "Bob Ng")
    group_id = admins_with(groups, ann, bob)
    assert groups.scim.delete(f"/Groups/{group_id}").status_code == 204
    assert groups.store.outbox.backlog() == 2
    groups.settle()
    assert roles(groups, ANN) == roles(groups, BOB) == ["agent"]


def test_removing_a_member_takes_admin_away_from_that_member_only(groups: Harness) -> None:
    ann, bob = groups.post_user(ANN), groups.post_user(BOB, "Bob Ng")
    group_id = admins_with(groups, ann, bob)
    patch_group(groups, group_id, {"op": "remove", "path": f'members[value eq "{bob}"]'}, flag=True)
    groups.settle()
    assert roles(groups, ANN) == ["admin", "wfo.full_access"]
    assert roles(groups, BOB) == ["agent"]


def test_group_changes_queue_nothing_when_the_mapping_reads_no_groups(sync: Harness) -> None:
    ann = sync.post_user(ANN)
    sync.settle()
    group_id = admins_with(sync, ann)
    patch_group(sync, group_id, {"op": "Replace", "path": "displayName", "value": "Flex Alumni"})
    assert sync.scim.delete(f"/Groups/{group_id}").status_code == 204
    assert sync.store.outbox.backlog() == 0
    assert roles(sync, ANN) == ["agent"]
