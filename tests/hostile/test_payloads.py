"""Hostile request bodies through the real app over HTTP: never a 5xx, refusals change nothing.

Covers raw bytes that are not JSON or not UTF-8, deep nesting, duplicate keys, enormous numbers,
odd Content-Types, users and groups with wrong types in every attribute, and PATCH bodies with
junk operations, paths and values, on every write endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import BUDGETS, GROUP, PATCH_OP, Api
from tests.hostile.strategies import (
    CONTENT_TYPES,
    GROUP_PATHS,
    RAW_BODIES,
    USER_PATHS,
    group_bodies,
    patch_bodies,
    user_bodies,
)

WRITES = ["POST /Users", "POST /Groups", "PUT user", "PUT group", "PATCH user", "PATCH group"]


def _target(api: Api, write: str) -> tuple[str, str]:
    method, what = write.split(" ")
    if what == "user":
        return method, f"/Users/{api.user_ids[2]}"
    if what == "group":
        return method, f"/Groups/{api.group_id}"
    return method, what


def encode(body: Any) -> bytes:
    """JSON as a client would send it; lone surrogates go out as ``\\udXXX`` escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


@pytest.mark.parametrize("budget", BUDGETS)
def test_raw_bodies_with_any_content_type(engine_api: Api, budget: settings) -> None:
    @budget
    @given(
        write=st.sampled_from([*WRITES, "POST /Users/.search", "POST /Groups/.search"]),
        body=RAW_BODIES,
        content_type=CONTENT_TYPES,
    )
    def run(write: str, body: bytes, content_type: str) -> None:
        method, path = _target(engine_api, write)
        headers = {"Content-Type": content_type} if content_type else {}
        engine_api.request(method, path, content=body, headers=headers)

    run()


@pytest.mark.parametrize("budget", BUDGETS)
def test_user_bodies_with_wrong_types_everywhere(engine_api: Api, budget: settings) -> None:
    @budget
    @given(body=user_bodies(), replace=st.booleans())
    def run(body: dict[str, Any], replace: bool) -> None:
        path = f"/Users/{engine_api.user_ids[2]}" if replace else "/Users"
        response = engine_api.request(
            "PUT" if replace else "POST",
            path,
            content=encode(body),
            headers={"Content-Type": "application/scim+json"},
        )
        if response.status_code == 201:
            # Keep the store small: what was created goes again (and must be deletable).
            assert engine_api.http.delete(f"/Users/{response.json()['id']}").status_code == 204

    run()


@pytest.mark.parametrize("budget", BUDGETS)
def test_group_bodies_with_wrong_types_and_member_shapes(engine_api: Api, budget: settings) -> None:
    @budget
    @given(data=st.data(), replace=st.booleans())
    def run(data: st.DataObject, replace: bool) -> None:
        body = data.draw(group_bodies([*engine_api.user_ids, "no-such-user", ""]))
        path = f"/Groups/{engine_api.group_id}" if replace else "/Groups"
        response = engine_api.request(
            "PUT" if replace else "POST",
            path,
            content=encode(body),
            headers={"Content-Type": "application/scim+json"},
        )
        if response.status_code == 201:
            assert engine_api.http.delete(f"/Groups/{response.json()['id']}").status_code == 204

    run()


@pytest.mark.parametrize("budget", BUDGETS)
def test_patch_bodies_on_users(engine_api: Api, budget: settings) -> None:
    @budget
    @given(body=patch_bodies(USER_PATHS), if_match=st.sampled_from([None, "*", 'W/"1"', "junk"]))
    def run(body: Any, if_match: str | None) -> None:
        headers = {"Content-Type": "application/scim+json"}
        if if_match is not None:
            headers["If-Match"] = if_match
        engine_api.request(
            "PATCH", f"/Users/{engine_api.user_ids[2]}", content=encode(body), headers=headers
        )

    run()


@pytest.mark.parametrize("budget", BUDGETS)
def test_patch_bodies_on_groups(engine_api: Api, budget: settings) -> None:
    @budget
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(patch_bodies(GROUP_PATHS))
        if isinstance(body, dict) and isinstance(body.get("Operations"), list):
            # Give member operations real ids to work with, sometimes.
            for operation in body["Operations"]:
                if isinstance(operation, dict) and data.draw(st.booleans()):
                    operation["value"] = data.draw(
                        st.lists(st.sampled_from(engine_api.user_ids).map(lambda v: {"value": v}))
                    )
        engine_api.request(
            "PATCH",
            f"/Groups/{engine_api.group_id}",
            content=encode(body),
            headers={"Content-Type": "application/scim+json"},
        )

    run()


# -- the named cases, each exactly once -----------------------------------------------------------


def _nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _user(**attributes: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "named@contoso.com",
        **attributes,
    }


NAMED_BODIES: list[tuple[str, bytes]] = [
    ("deep arrays", b"[" * 100_000 + b"]" * 100_000),
    ("deep objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    ("deep in a user", encode(_user(name={"x": _nested_list(40)}))),
    ("100k emails", encode(_user(emails=[{"value": f"a{i}@x.com"} for i in range(100_000)]))),
    ("two megabytes", encode(_user(displayName="x" * 2_000_000))),
    ("NUL in userName", encode(_user(userName="nul\x00name"))),
    ("NUL in a key", encode({**_user(), "display\x00Name": "x"})),
    ("lone surrogate", encode(_user(displayName="\ud800"))),
    ("surrogate in a key", encode({**_user(), "\udfff": "x"})),
    ("CESU-8 surrogate bytes", b'{"userName": "\xed\xa0\x80"}'),
    ("overlong UTF-8", b'{"userName": "\xc0\xaf"}'),
    ("1e400", b'{"schemas": [], "userName": "big", "x": 1e400}'),
    ("10**5000", b'{"userName": "big", "active": ' + b"1" * 5000 + b"}"),
    (
        "2**64",
        encode(
            _user(**{"urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User": {"n": 2**64}})
        ),
    ),
    ("duplicate keys", b'{"userName": "dup@x.com", "userName": {"a": 1}}'),
    ("very long attribute name", encode({**_user(), "a" * 100_000: "x"})),
    (
        "very long URN attribute",
        encode(
            {
                **_user(),
                "urn:ietf:params:scim:schemas:extension:" + "x" * 50_000 + ":2.0:User": {"a": 1},
            }
        ),
    ),
    ("userName too long", encode(_user(userName="u" * 600))),
    ("userName of spaces", encode(_user(userName="   "))),
    ("emails of strings", encode(_user(emails=["a@x.com", 1, None, True]))),
    ("roles junk", encode(_user(roles=[[], {}, "x" * 5000, {"value": {"a": 1}}]))),
    ("manager loop", encode({**_user(), "manager": [{"value": "a"}, {"value": "b"}]})),
]


@pytest.mark.parametrize(("name", "body"), NAMED_BODIES, ids=[name for name, _ in NAMED_BODIES])
def test_named_hostile_user_bodies(engine_api: Api, name: str, body: bytes) -> None:
    for method, path in (("POST", "/Users"), ("PUT", f"/Users/{engine_api.user_ids[2]}")):
        response = engine_api.request(
            method, path, content=body, headers={"Content-Type": "application/scim+json"}
        )
        if response.status_code == 201:
            assert engine_api.http.delete(f"/Users/{response.json()['id']}").status_code == 204


TOO_LONG: list[tuple[str, str, Any]] = [
    ("userName", "userName", "u" * 513),
    ("userName folding past the column", "userName", "\u0130" * 300),
    ("displayName", "displayName", "d" * 513),
    ("externalId", "externalId", "e" * 513),
    ("work email", "emails", [{"type": "work", "value": "v" * 513}]),
]


@pytest.mark.parametrize(
    ("attribute", "value"), [t[1:] for t in TOO_LONG], ids=[t[0] for t in TOO_LONG]
)
def test_values_longer_than_their_column_are_invalid_value_on_both_engines(
    engine_api: Api, attribute: str, value: Any
) -> None:
    """PostgreSQL would refuse the write (varchar(512)), SQLite keep it: both refuse it first."""
    user = f"/Users/{engine_api.user_ids[2]}"
    body = {**_user(userName="long@contoso.com"), attribute: value}
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": attribute, "value": value}],
    }
    for method, path, payload in (
        ("POST", "/Users", body),
        ("PUT", user, body),
        ("PATCH", user, patch),
    ):
        response = engine_api.request(method, path, json=payload)
        assert response.status_code == 400, (method, response.text)
        assert response.json()["scimType"] == "invalidValue"


def test_group_names_and_member_displays_longer_than_their_column(engine_api: Api) -> None:
    group = f"/Groups/{engine_api.group_id}"
    long_name = {"schemas": [GROUP], "displayName": "g" * 513}
    assert engine_api.request("POST", "/Groups", json=long_name).status_code == 400
    assert engine_api.request("PUT", group, json=long_name).status_code == 400
    member = {"value": engine_api.user_ids[2], "display": "m" * 513}
    patched = engine_api.request(
        "PATCH",
        group,
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [member]}],
        },
    )
    assert patched.status_code == 400 and patched.json()["scimType"] == "invalidValue"


def test_ten_thousand_members_in_one_group(api: Api) -> None:
    """10k unknown member ids are refused in one piece; the same list by PATCH likewise."""
    members = [{"value": f"00000000-0000-4000-8000-{n:012d}"} for n in range(10_000)]
    created = api.request(
        "POST",
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "big",
            "members": members,
        },
    )
    assert created.status_code == 400 and created.json()["scimType"] == "invalidValue"
    patched = api.request(
        "PATCH",
        f"/Groups/{api.group_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": members}],
        },
    )
    assert patched.status_code == 400
