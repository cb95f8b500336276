"""Everyday PATCHes applied straight to the document give what scim2-models' PATCH gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scim2_models import SCIMException

from scimbridge.scim import documents, fast_path, patch_body
from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN
from tests.unit.scim_samples import ACME
from tests.unit.scim_samples import ACME_MODELS as MODELS

EVERYDAY_PATHS = [
    "displayName",
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "name.middleName",
    "name.honorificPrefix",
    "name.honorificSuffix",
    f"{ENTERPRISE_URN}:department",
    f"{ENTERPRISE_URN}:costCenter",
    f"{ENTERPRISE_URN}:employeeNumber",
    f"{ENTERPRISE_URN}:organization",
    f"{ENTERPRISE_URN}:division",
    "active",
]
OTHER_PATHS = [
    "userName",
    "externalId",
    'emails[type eq "work"].value',
    "roles",
    f"{ENTERPRISE_URN}:manager",
    f"{ACME}:team",
    "name",
]
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
VALUES = st.one_of(
    TEXT.filter(bool),
    TEXT,
    st.booleans(),
    st.sampled_from(["True", "False", "TRUE", " true", "false ", "yes", "1", "", " "]),
    st.integers(),
    st.none(),
)


def odd_case(text: str, flips: list[bool]) -> str:
    return (
        "".join(
            char.upper() if flip else char.lower() for char, flip in zip(text, flips, strict=False)
        )
        + text[len(flips) :]
    )


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove"]))
    everyday = draw(st.integers(0, 5)) > 0
    path = draw(st.sampled_from(EVERYDAY_PATHS if everyday else OTHER_PATHS))
    if draw(st.booleans()):
        path = odd_case(path, draw(st.lists(st.booleans(), max_size=len(path))))
    if draw(st.booleans()) and not path.lower().startswith("urn:"):
        path = f"{USER_URN}:{path}"
    operation: dict[str, Any] = {"op": op, "path": path}
    if op.lower() != "remove":
        operation["value"] = draw(VALUES)
    return operation


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER_URN], "userName": "bjensen@example.com"}
    for attribute in ("displayName", "title", "locale"):
        if draw(st.booleans()):
            body[attribute] = draw(TEXT.filter(str.strip))
    if draw(st.booleans()):
        body["name"] = {"givenName": "Barbara", "familyName": "Jensen"}
    if draw(st.booleans()):
        body["active"] = draw(st.booleans())
    if draw(st.booleans()):
        body[ENTERPRISE_URN] = {"department": "Sales", "employeeNumber": "7"}
    if draw(st.booleans()):
        body[ACME] = {"team": "blue"}
    return documents.create_user(body, MODELS)


def read(body: dict[str, Any]) -> patch_body.PatchRequest:
    return patch_body.read_patch(body, MODELS, "User", max_operations=100)


def outcome(body: dict[str, Any], current: dict[str, Any], *, everyday: bool) -> Any:
    """What PATCH gives (``everyday``: the production call, which takes the short way when it
    can) or what scim2-models alone gives."""
    patch = documents.patch_user if everyday else documents.patch_user_by_model
    try:
        return patch(read(body), current, MODELS)
    except SCIMException as exc:
        return (type(exc).__name__, exc.scim_type)


def short_way(body: dict[str, Any], current: dict[str, Any]) -> bool:
    try:
        return fast_path.patched(read(body).steps, current) is not None
    except SCIMException:
        return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(current=users(), ops=st.lists(operations(), min_size=1, max_size=4))
def test_everyday_patch_matches_scim2_models(current: dict[str, Any], ops: list[Any]) -> None:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
    before = copy.deepcopy(current)
    short = outcome(body, current, everyday=True)
    event("short way" if short_way(body, current) else "scim2-models")
    assert short == outcome(body, current, everyday=False)
    assert current == before


def steps(*operations: dict[str, Any]) -> tuple[patch_body.PatchStep, ...]:
    return read({"Operations": list(operations)}).steps


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": "displayName", "value": "Barbara J"},
        {"op": "replace", "path": "name.givenName", "value": "Babs"},
        {"op": "Add", "path": f"{ENTERPRISE_URN}:department", "value": "Support"},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Remove", "path": "title"},
    ],
)
def test_entra_everyday_operations_take_the_short_way(operation: dict[str, Any]) -> None:
    current = documents.create_user(
        {
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "bjensen",
            "title": "Agent",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            ENTERPRISE_URN: {"department": "Sales"},
        },
        MODELS,
    )
    assert fast_path.patched(steps(operation), current) is not None


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": "userName", "value": "other"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "b@example.com"},
        {"op": "Add", "path": "roles", "value": [{"value": "agent"}]},
        {"op": "Replace", "path": "displayName", "value": ""},
        {"op": "Replace", "path": "displayName", "value": 5},
        {"op": "Replace", "path": f"{ENTERPRISE_URN}:department", "value": "new container"},
        {"op": "Remove", "path": "name.givenName"},
    ],
)
def test_everything_else_is_left_to_scim2_models(operation: dict[str, Any]) -> None:
    current = documents.create_user(
        {"schemas": [USER_URN], "userName": "bjensen", "name": {"givenName": "Barbara"}}, MODELS
    )
    assert fast_path.patched(steps(operation), current) is None
