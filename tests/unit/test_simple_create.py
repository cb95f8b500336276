"""Everyday POST /Users bodies turned into documents without scim2-models give what it gives."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scim2_models import SCIMException

from scimbridge.scim import dialect, documents, fast_path
from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN
from tests.unit.scim_samples import ACME, ENTRA_TUTORIAL_POST
from tests.unit.scim_samples import ACME_MODELS as MODELS

CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
CORE_STRINGS = [
    "externalId",
    "displayName",
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
]
NAME_PARTS = [
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
]
ENTERPRISE_STRINGS = ["employeeNumber", "costCenter", "organization", "division", "department"]
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
# Everyday strings: non-empty, now and then long enough for the column limits (512, measured
# case-folded: "İ" folds to two characters).
STRINGS = st.integers(0, 9).flatmap(
    lambda pick: (
        st.sampled_from(["x" * 512, "x" * 513, "İ" * 256, "İ" * 257, " "])
        if pick == 0
        else TEXT.filter(bool)
    )
)
BOOLEANS = st.one_of(st.booleans(), st.sampled_from(["True", "False", "true", "FALSE"]))
# Values no everyday body holds: the short way must leave them to scim2-models.
ODD = st.one_of(
    st.just(""),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["yes", "1", " true", "off", "t"]),
    st.lists(TEXT, max_size=2),
    st.dictionaries(TEXT, TEXT, max_size=2),
)
EMAIL_TYPES = ["work", "Work", "WORK", "home", "other", "corporate"]
PHONE_TYPES = ["work", "mobile", "Mobile", "fax", "pager", "home", "other", "desk"]


def odd_case(text: str, flips: list[bool]) -> str:
    return (
        "".join(
            char.upper() if flip else char.lower() for char, flip in zip(text, flips, strict=False)
        )
        + text[len(flips) :]
    )


@st.composite
def spelled(draw: st.DrawFn, name: str) -> str:
    """``name``, as sent: mostly canonical, sometimes in another case."""
    if draw(st.integers(0, 3)) > 0:
        return name
    return odd_case(name, draw(st.lists(st.booleans(), max_size=len(name))))


@st.composite
def strings(draw: st.DrawFn, names: list[str], min_size: int = 0) -> dict[str, Any]:
    chosen = draw(
        st.lists(st.sampled_from(names), unique=True, min_size=min_size, max_size=len(names))
    )
    return {draw(spelled(name)): draw(STRINGS) for name in chosen}


@st.composite
def entries(draw: st.DrawFn, types: list[str]) -> list[dict[str, Any]]:
    result = []
    primaries = 0
    for _ in range(draw(st.integers(0, 3))):
        entry: dict[str, Any] = {draw(spelled("value")): draw(STRINGS)}
        if draw(st.booleans()):
            entry[draw(spelled("type"))] = draw(st.sampled_from(types))
        if draw(st.booleans()):
            entry[draw(spelled("display"))] = draw(STRINGS)
        if draw(st.booleans()):
            primary = draw(BOOLEANS)
            primaries += str(primary).lower() == "true"
            if primaries > 1:
                primary = False
            entry[draw(spelled("primary"))] = primary
        result.append(dict(draw(st.permutations(list(entry.items())))))
    return result


@st.composite
def everyday_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A POST body inside the everyday shape, the way Entra and its samples send it."""
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["schemas"] = draw(st.sampled_from([[USER_URN], [USER_URN, ENTERPRISE_URN], []]))
    body[draw(spelled("userName"))] = draw(STRINGS)
    body.update(draw(strings(CORE_STRINGS)))
    if draw(st.booleans()):
        body[draw(spelled("name"))] = draw(strings(NAME_PARTS, min_size=1))
    if draw(st.booleans()):
        body[draw(spelled("active"))] = draw(BOOLEANS)
    if draw(st.booleans()):
        body[draw(spelled("emails"))] = draw(entries(EMAIL_TYPES))
    if draw(st.booleans()):
        body[draw(spelled("phoneNumbers"))] = draw(entries(PHONE_TYPES))
    if draw(st.booleans()):
        body["roles"] = []
    if draw(st.booleans()):
        body[ENTERPRISE_URN] = draw(strings(ENTERPRISE_STRINGS))
    # The legacy top-level and URN-prefixed spellings, unless they would put one attribute
    # twice (in two spellings) into the enterprise object.
    sent = {key.lower() for key in body.get(ENTERPRISE_URN, {})}
    if draw(st.integers(0, 4)) == 0 and "department" not in sent:
        body["department"] = draw(STRINGS)
    if draw(st.integers(0, 4)) == 0 and "costcenter" not in sent:
        body[f"{ENTERPRISE_URN}:costCenter"] = draw(STRINGS)
    if draw(st.integers(0, 4)) == 0:
        body[CUSTOM] = {"site": draw(STRINGS), "level": draw(st.integers(0, 9))}
    if draw(st.integers(0, 4)) == 0:
        body["meta"] = {"resourceType": "User"}
        body["id"] = "ignored"
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.sampled_from(["title", "addresses", "manager", "nickName"]))] = None
    return dict(draw(st.permutations(list(body.items()))))


def unusual(draw: st.DrawFn, body: dict[str, Any]) -> None:
    """Put one thing into ``body`` that the short way must leave to scim2-models."""
    kind = draw(st.integers(0, 11))
    if kind == 0:
        body[draw(st.sampled_from(["userName", *CORE_STRINGS, "active"]))] = draw(ODD)
    elif kind == 1:
        body.pop("userName", None)
        body[draw(st.sampled_from(["userName", "UserName"]))] = draw(st.sampled_from(["", " "]))
    elif kind == 2:
        body["name"] = draw(
            st.one_of(ODD, st.fixed_dictionaries({"givenName": ODD}), st.just({"nick": "x"}))
        )
    elif kind == 3:
        body["emails"] = [
            {"value": "a@example.com", "primary": True},
            {"value": "b@example.com", "primary": draw(st.sampled_from([True, "True"]))},
        ]
    elif kind == 4:
        entry = {"value": "a@example.com", draw(st.sampled_from(["type", "primary", "$ref"])): ""}
        body[draw(st.sampled_from(["emails", "phoneNumbers"]))] = draw(
            st.sampled_from([[entry], [{}], entry, "a@example.com", [None, entry]])
        )
    elif kind == 5:
        body["roles"] = draw(
            st.sampled_from(
                [
                    [
                        {
                            "value": "agent",
                            "primary": "True",
                            "type": "WindowsAzureActiveDirectoryRole",
                        }
                    ],
                    ["supervisor"],
                    [{}],
                ]
            )
        )
    elif kind == 6:
        body[ENTERPRISE_URN] = draw(
            st.sampled_from(
                [
                    {"manager": {"value": "m-1"}},
                    {"department": ""},
                    {"department": 5},
                    {"employeeNumber": "1", "EmployeeNumber": "2"},
                    {"unknown": "x"},
                    {},
                ]
            )
        )
    elif kind == 7:
        body[ACME] = {"team": draw(st.one_of(STRINGS, ODD))}
    elif kind == 8:
        body[
            draw(
                st.sampled_from(
                    [
                        "addresses",
                        "ims",
                        "photos",
                        "entitlements",
                        "x509Certificates",
                        "groups",
                        "profileUrl",
                        "password",
                        "user_name",
                        "display_name",
                        "EnterpriseUser",
                        "titel",
                        f"{USER_URN}:title",
                    ]
                )
            )
        ] = draw(st.one_of(STRINGS, ODD, st.just([{"value": "x"}])))
    elif kind == 9:
        body["USERNAME"] = draw(STRINGS)  # userName spelled twice
    elif kind == 10:
        body["schemas"] = draw(st.sampled_from([[ACME], ["urn:example:other"], "x", [5]]))
    else:
        body[draw(st.sampled_from(["emails", "phoneNumbers", "roles"]))] = draw(
            st.sampled_from([[], {}, "", [[]]])
        )


@st.composite
def bodies(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A POST body and whether it is an everyday one (about three in four are)."""
    body = draw(everyday_bodies())
    everyday = draw(st.integers(0, 3)) > 0
    if not everyday:
        for _ in range(draw(st.integers(1, 2))):
            unusual(draw, body)
    return body, everyday


def outcome(body: dict[str, Any], *, everyday: bool) -> Any:
    """What POST gives (``everyday``: the production call, which takes the short way when it
    can) or what scim2-models alone gives."""
    create = documents.create_user if everyday else documents.create_user_by_model
    try:
        return create(body, MODELS)
    except SCIMException as exc:
        return (type(exc).__name__, exc.scim_type)


def short_way(body: Any) -> bool:
    try:
        attributes = dialect.user_body(body, MODELS).attributes
    except SCIMException:
        return False
    return fast_path.created(attributes) is not None


def same(short: Any, slow: Any) -> None:
    assert short == slow
    if isinstance(slow, dict):  # the same order of keys too, as stored and returned
        assert json.dumps(short) == json.dumps(slow)


def test_everyday_create_matches_scim2_models() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=bodies())
    def check(case: tuple[dict[str, Any], bool]) -> None:
        body, everyday = case
        short = short_way(body)
        event("short way" if short else "scim2-models")
        if everyday:
            seen["everyday"] += 1
            seen["short"] += short
        same(outcome(body, everyday=True), outcome(body, everyday=False))

    check()
    # Not vacuous: every everyday body generated took the short way.
    assert seen["everyday"] > 100
    assert seen["short"] == seen["everyday"]


# -- examples -----------------------------------------------------------------------------------


def bench_body() -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from scim_load import user_body
    finally:
        sys.path.pop(0)
    body: dict[str, Any] = user_body("bench.user000001@example.com", 1)
    return body


LEGACY = {
    "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
    "userName": "UserName123",
    "active": "True",
    "addresses": None,
    "displayName": "John Doe",
    "emails": [{"Primary": "True", "Type": "Work", "Value": "jdoe@example.com"}],
    "externalId": "UserName123",
    "meta": {"resourceType": "User"},
    "name": {"familyName": "Doe", "givenName": "John"},
    "phoneNumbers": [{"type": "mobile", "value": "+44 20 7946 0000"}],
    "title": None,
    "department": "Sales",
    "manager": None,
    "roles": [],
    CUSTOM: {"CustomAttribute": "55555555555"},
}


@pytest.mark.parametrize("body", [bench_body(), ENTRA_TUTORIAL_POST, LEGACY], ids=str)
def test_entra_bodies_take_the_short_way(body: dict[str, Any]) -> None:
    assert short_way(body)
    same(outcome(body, everyday=True), outcome(body, everyday=False))


def test_the_bench_body_as_stored() -> None:
    body = bench_body()
    assert documents.create_user(body, MODELS) == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": "ext-bench.user000001@example.com",
        "userName": "bench.user000001@example.com",
        "name": {"familyName": "User1", "givenName": "Bench"},
        "displayName": "Bench User 1",
        "active": True,
        "emails": [{"value": "bench.user000001@example.com", "type": "work", "primary": True}],
        ENTERPRISE_URN: {"employeeNumber": "1", "costCenter": "C1", "department": "Sales"},
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"roles": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "A"}]},
        {ACME: {"team": "blue"}},
        {
            "emails": [
                {"value": "a@example.com", "primary": True},
                {"value": "b@example.com", "primary": True},
            ]
        },
        {"active": "yes"},
        {"displayName": ""},
        {"title": 5},
        {"addresses": [{"locality": "Leeds"}]},
        {ENTERPRISE_URN: {"manager": "m-1"}},
        {"userName": "", "displayName": "x"},
        {"profileUrl": "https://example.com/u"},
    ],
    ids=str,
)
def test_everything_else_is_left_to_scim2_models(extra: dict[str, Any]) -> None:
    body = {**bench_body(), **extra}
    assert not short_way(body)
    same(outcome(body, everyday=True), outcome(body, everyday=False))


@pytest.mark.parametrize("sent", ["False", "false", False])
def test_string_active_takes_the_short_way(sent: Any) -> None:
    body = {**bench_body(), "active": sent}
    assert dialect.user_body(body, MODELS).attributes["active"] == sent  # dialect keeps it as sent
    assert short_way(body)
    assert outcome(body, everyday=True)["active"] is False
    same(outcome(body, everyday=True), outcome(body, everyday=False))


def test_long_values_are_the_stores_to_refuse_on_both_ways() -> None:
    # The directory refuses a value longer than its column (tests/hostile, tests/contract).
    body = {**bench_body(), "userName": "x" * 513}
    assert short_way(body)
    same(outcome(body, everyday=True), outcome(body, everyday=False))
