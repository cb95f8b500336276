"""Entra's group and app-role sequences, replayed end to end over HTTP."""

from __future__ import annotations

import json
import uuid

from tests.e2e.conftest import EntraClient
from tests.e2e.test_entra_user_lifecycle import CORE, new_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def new_group(entra: EntraClient) -> dict[str, object]:
    response = entra.post(
        "/Groups",
        {
            "schemas": [GROUP, ADSCIM],
            "externalId": str(uuid.uuid4()),
            "displayName": f"Agents {uuid.uuid4().hex[:6]}",
            "meta": {"resourceType": "Group"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def member_ids(entra: EntraClient, group_id: object) -> set[str]:
    body = entra.get(f"/Groups/{group_id}").json()
    return {m["value"] for m in body.get("members", [])}


def test_group_create_filter_and_exclude_members(entra: EntraClient) -> None:
    group = new_group(entra)
    assert group["id"] and group.get("members", []) == []
    found = entra.get(
        "/Groups",
        filter=f'displayName eq "{str(group["displayName"]).upper()}"',
        excludedAttributes="members",
    ).json()
    assert [r["id"] for r in found["Resources"]] == [group["id"]]
    assert "members" not in found["Resources"][0]
    duplicate = entra.post("/Groups", {"schemas": [GROUP], "displayName": group["displayName"]})
    assert duplicate.status_code == 409
    assert duplicate.json()["scimType"] == "uniqueness"


def test_membership_add_remove_non_rfc_and_replace(entra: EntraClient) -> None:
    group = new_group(entra)
    gid = group["id"]
    a, b, c = (new_user(entra)["id"] for _ in range(3))
    added = entra.patch(
        f"/Groups/{gid}",
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": a}, {"value": b}, {"value": c}],
        },
    )
    assert added.status_code == 204, added.text
    assert member_ids(entra, gid) == {a, b, c}
    # Without the flag Entra removes with a value list: only the listed members go.
    removed = entra.patch(
        f"/Groups/{gid}", {"op": "Remove", "path": "members", "value": [{"value": a}]}
    )
    assert removed.status_code == 204, removed.text
    assert member_ids(entra, gid) == {b, c}
    flagged = entra.patch(f"/Groups/{gid}", {"op": "remove", "path": f'members[value eq "{b}"]'})
    assert flagged.status_code == 204
    assert member_ids(entra, gid) == {c}
    replaced = entra.patch(
        f"/Groups/{gid}", {"op": "replace", "path": "members", "value": [{"value": a}]}
    )
    assert replaced.status_code == 204
    assert member_ids(entra, gid) == {a}
    both = entra.patch(
        f"/Groups/{gid}",
        {"op": "add", "path": "members", "value": [{"value": b}]},
        {"op": "remove", "path": f'members[value eq "{b}"]'},
    )
    assert both.status_code == 204
    assert member_ids(entra, gid) == {a}
    cleared = entra.patch(f"/Groups/{gid}", {"op": "remove", "path": "members"})
    assert cleared.status_code == 204
    assert member_ids(entra, gid) == set()


def test_rename_and_path_less_replace(entra: EntraClient) -> None:
    group = new_group(entra)
    renamed = entra.patch(
        f"/Groups/{group['id']}", {"op": "Replace", "path": "displayName", "value": "Tier 2"}
    )
    assert renamed.status_code == 204
    external = entra.patch(
        f"/Groups/{group['id']}",
        {"op": "replace", "value": {"externalId": "x-1", "displayName": "Tier 3"}},
    )
    assert external.status_code == 204
    body = entra.get(f"/Groups/{group['id']}").json()
    assert (body["displayName"], body["externalId"]) == ("Tier 3", "x-1")


def test_deleting_a_user_removes_it_from_its_groups(entra: EntraClient) -> None:
    group = new_group(entra)
    a, b = (new_user(entra)["id"] for _ in range(2))
    entra.patch(
        f"/Groups/{group['id']}",
        {"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}]},
    )
    assert entra.delete(f"/Users/{a}").status_code == 204
    assert member_ids(entra, group["id"]) == {b}
    assert entra.delete(f"/Groups/{group['id']}").status_code == 204
    assert entra.get(f"/Groups/{group['id']}").status_code == 404


def test_single_app_role_post_and_json_string_patch(entra: EntraClient) -> None:
    user = new_user(
        entra,
        roles=[{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
    )
    assert (
        user["roles"]
        == [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        or user["roles"][0]["value"] == "Admin"
    )  # type: ignore[index]
    encoded = json.dumps({"id": "06b0", "value": "25", "displayName": "Role1234"})
    patched = entra.patch(
        f"/Users/{user['id']}", {"op": "Add", "path": "roles", "value": [{"value": encoded}]}
    )
    assert patched.status_code == 200, patched.text
    roles = patched.json()["roles"]
    assert {"value": "25", "display": "Role1234"}.items() <= next(
        r for r in roles if r["value"] == "25"
    ).items()
    assert all(not str(r["value"]).startswith("{") for r in roles)


def test_complex_roles_are_add_only_and_assertive_replace_replaces(entra: EntraClient) -> None:
    user = new_user(
        entra,
        roles=[
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "displayName": "Agent",
                "value": "agent",
            },
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "displayName": "Sup",
                "value": "supervisor",
            },
        ],
    )
    assert {r["value"] for r in user["roles"]} == {"agent", "supervisor"}  # type: ignore[union-attr]
    assert {r.get("display") for r in user["roles"]} == {"Agent", "Sup"}  # type: ignore[union-attr]
    added = entra.patch(
        f"/Users/{user['id']}",
        {
            "op": "Add",
            "path": "roles",
            "value": [{"value": json.dumps({"value": "admin", "displayName": "Admin"})}],
        },
    )
    assert {r["value"] for r in added.json()["roles"]} == {"agent", "supervisor", "admin"}
    replaced = entra.patch(
        f"/Users/{user['id']}",
        {
            "op": "replace",
            "path": "roles",
            "value": [
                {
                    "primary": False,
                    "type": "WindowsAzureActiveDirectoryRole",
                    "display": "Agent",
                    "value": "agent",
                }
            ],
        },
    )
    assert [r["value"] for r in replaced.json()["roles"]] == ["agent"]


def test_validator_adds_primary_role_through_a_filter(entra: EntraClient) -> None:
    user = new_user(entra)
    response = entra.patch(
        f"/Users/{user['id']}",
        {"op": "add", "path": 'roles[primary eq "True"].display', "value": "Supervisor"},
        {"op": "add", "path": 'roles[primary eq "True"].value', "value": "supervisor"},
        {
            "op": "add",
            "path": 'roles[primary eq "True"].type',
            "value": "WindowsAzureActiveDirectoryRole",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == [
        {
            "display": "Supervisor",
            "value": "supervisor",
            "type": "WindowsAzureActiveDirectoryRole",
            "primary": True,
        }
    ]


def test_core_schema_only_body_is_enough(entra: EntraClient) -> None:
    response = entra.post("/Users", {"schemas": [CORE], "userName": f"min_{uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201
