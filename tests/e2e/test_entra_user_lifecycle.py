"""Entra's documented user sequences over HTTP, with and without aadOptscim062020."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import EntraClient

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def new_user(entra: EntraClient, **extra: object) -> dict[str, object]:
    name = f"Test_User_{uuid.uuid4().hex[:8]}@contoso.com"
    body = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": str(uuid.uuid4()),
        "userName": name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": name.lower()}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"},
        "roles": [],
        **extra,
    }
    response = entra.post("/Users", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_test_connection_finds_nothing_with_an_empty_list(entra: EntraClient) -> None:
    for path, attribute in (("/Users", "userName"), ("/Groups", "displayName")):
        response = entra.get(path, filter=f'{attribute} eq "{uuid.uuid4()}"')
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/scim+json")
        body = response.json()
        assert body["schemas"] == [LIST]
        assert body["totalResults"] == 0
        assert body["Resources"] == []


def test_create_returns_the_full_resource_and_a_location(entra: EntraClient) -> None:
    user = new_user(entra)
    assert user["id"]
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"]["created"] and user["meta"]["lastModified"]
    assert user["meta"]["version"].startswith('W/"')
    assert user["emails"][0]["value"] == user["userName"].lower()  # type: ignore[index,union-attr]
    fetched = entra.get(f"/Users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["userName"] == user["userName"]


def test_matching_query_is_case_insensitive_on_user_name(entra: EntraClient) -> None:
    user = new_user(entra)
    shouted = str(user["userName"]).upper()
    found = entra.get("/Users", filter=f'userName eq "{shouted}"').json()
    assert [r["id"] for r in found["Resources"]] == [user["id"]]
    by_external = entra.get("/Users", filter=f'externalId eq "{user["externalId"]}"').json()
    assert by_external["totalResults"] == 1


def test_duplicate_user_name_is_409_uniqueness(entra: EntraClient) -> None:
    user = new_user(entra)
    again = entra.post("/Users", {"schemas": [CORE], "userName": str(user["userName"]).swapcase()})
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    assert again.json()["status"] == "409"


def test_patch_sequence_of_the_default_dialect(entra: EntraClient) -> None:
    user = new_user(entra)
    uid = user["id"]
    response = entra.patch(
        f"/Users/{uid}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@contoso.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Lee-Smith"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "55555555555"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+44 20 7946 0000"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["emails"][0]["value"] == "new@contoso.com"
    assert body["name"]["familyName"] == "Lee-Smith"
    assert body[ENTERPRISE]["employeeNumber"] == "55555555555"
    assert body["nickName"] == "Babs"
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "+44 20 7946 0000"}]
    found = entra.get("/Users", filter='emails[type eq "work"].value eq "NEW@contoso.com"').json()
    assert [r["id"] for r in found["Resources"]] == [uid]


def test_path_less_replace_with_dotted_and_urn_keys(entra: EntraClient) -> None:
    user = new_user(entra)
    response = entra.patch(
        f"/Users/{user['id']}",
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{ENTERPRISE}:employeeNumber": "Aklq",
            },
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["displayName"] == "Bjfe"
    assert body["name"]["givenName"] == "Kkom"
    assert body["name"]["familyName"] == "Unua"
    assert body[ENTERPRISE]["employeeNumber"] == "Aklq"
    assert "name.givenName" not in body


def test_disable_with_string_false_keeps_the_user_visible(entra: EntraClient) -> None:
    user = new_user(entra)
    uid = user["id"]
    assert (
        entra.patch(f"/Users/{uid}", {"op": "Replace", "path": "active", "value": "False"}).json()[
            "active"
        ]
        is False
    )
    assert entra.get(f"/Users/{uid}").json()["active"] is False
    found = entra.get("/Users", filter=f'userName eq "{user["userName"]}"').json()
    assert found["Resources"][0]["active"] is False
    assert (
        entra.patch(f"/Users/{uid}", {"op": "replace", "value": {"active": "True"}}).json()[
            "active"
        ]
        is True
    )
    assert (
        entra.patch(f"/Users/{uid}", {"op": "replace", "path": "active", "value": False}).json()[
            "active"
        ]
        is False
    )


def test_manager_set_change_and_remove_in_every_shape(entra: EntraClient) -> None:
    boss = new_user(entra)
    other = new_user(entra)
    user = new_user(entra)
    uid = user["id"]
    legacy = entra.patch(
        f"/Users/{uid}",
        {
            "op": "Add",
            "path": "manager",
            "value": [{"$ref": f"{entra.base}/Users/{boss['id']}", "value": boss["id"]}],
        },
    )
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()[ENTERPRISE]["manager"]["value"] == boss["id"]
    found = entra.get(
        "/Users", filter=f'id eq "{uid}" and manager eq "{boss["id"]}"', attributes="id"
    )
    assert found.json()["totalResults"] == 1
    as_string = entra.patch(
        f"/Users/{uid}", {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": other["id"]}
    )
    assert as_string.json()[ENTERPRISE]["manager"]["value"] == other["id"]
    as_object = entra.patch(
        f"/Users/{uid}",
        {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}},
    )
    assert as_object.json()[ENTERPRISE]["manager"]["value"] == boss["id"]
    for removal in (
        {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": {"value": ""}},
        {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": ""},
        {"op": "Remove", "path": f"{ENTERPRISE}:manager"},
    ):
        entra.patch(
            f"/Users/{uid}", {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}
        )
        removed = entra.patch(f"/Users/{uid}", removal)
        assert removed.status_code == 200, (removal, removed.text)
        assert "manager" not in removed.json().get(ENTERPRISE, {}), removal


def test_delete_then_404_and_delete_twice_404(entra: EntraClient) -> None:
    user = new_user(entra)
    assert entra.delete(f"/Users/{user['id']}").status_code == 204
    gone = entra.get(f"/Users/{user['id']}")
    assert gone.status_code == 404
    assert gone.json()["status"] == "404"
    assert entra.delete(f"/Users/{user['id']}").status_code == 404
    assert (
        entra.get("/Users", filter=f'userName eq "{user["userName"]}"').json()["totalResults"] == 0
    )


def test_legacy_post_with_nulls_and_malformed_urn_is_accepted(entra: EntraClient) -> None:
    name = f"legacy_{uuid.uuid4().hex[:6]}"
    response = entra.post(
        "/Users",
        {
            "schemas": [CORE, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
            "userName": name,
            "externalId": name,
            "active": "True",
            "addresses": None,
            "phoneNumbers": None,
            "title": None,
            "department": None,
            "manager": None,
            "meta": {"resourceType": "User"},
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["active"] is True
    legacy_filter = entra.get("/Users", filter=f"externalId eq {name}")
    assert legacy_filter.status_code in (200, 400)
    if legacy_filter.status_code == 200:
        assert legacy_filter.json()["totalResults"] == 1


def test_custom_extension_undeclared_is_stored_as_sent(entra: EntraClient) -> None:
    urn = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
    user = new_user(entra, **{urn: {"site": "London", "skillLevel": 3}})
    assert user[urn] == {"site": "London", "skillLevel": 3}
    patched = entra.patch(
        f"/Users/{user['id']}", {"op": "Replace", "path": f"{urn}:site", "value": "Leeds"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()[urn]["site"] == "Leeds"
    assert entra.get(f"/Users/{user['id']}").json()[urn] == {"site": "Leeds", "skillLevel": 3}


def test_pagination_with_start_index_and_count(entra: EntraClient) -> None:
    ids = {new_user(entra)["id"] for _ in range(5)}
    seen: set[str] = set()
    for start in (1, 3, 5):
        page = entra.get("/Users", startIndex=start, count=2).json()
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"]) <= 2
        assert page["totalResults"] >= 5
        seen.update(r["id"] for r in page["Resources"])
    assert ids <= seen
