"""Generated filters return, in SQL, exactly the users scim2-models' ``ScimFilter.match`` selects.

``ScimFilter.match`` is the reference semantics; the property runs on both engines over the
directory of ``filter_directory``. Left out on purpose: Entra's leniencies (which differ from the
reference by design) and upper-case non-ASCII letters in JSON-held strings (SQLite's ``lower()``
folds ASCII only).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import InvalidFilterException, ScimFilter
from sqlalchemy import Engine

from tests.unit.filter_directory import (
    ENTERPRISE,
    FLEX,
    T0,
    UserModel,
    created,
    populated_engine,
    reference_users,
    user_ids,
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def directory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One populated database per engine, shared by this module's read-only tests."""
    yield from populated_engine(request.param, tmp_path_factory)


REFERENCE_USERS = reference_users()
_STRING_VALUES = {
    "userName": ["alice.smith@contoso.com", "Bob@Contoso.com", "dave_1%ops", "erin@contoso.com"],
    "displayName": ["alice smith", "Frank Müller", "Trent", "bob"],
    "title": ["Account Executive", "", "account"],
    "nickName": ["vanya", "VANYA"],
    "externalId": ["jyoung", "JYOUNG", "EXT-heidi", "0a21f0f2-8d3b"],
    "id": ["u-alice", "u-bob", "U-BOB"],
    "name.familyName": ["Smith", "müller", "Jones", "manager"],
    "name.givenName": ["alice", "Frank"],
    "emails.type": ["work", "other", "WORK"],
    "roles.value": ["agent", "Supervisor"],
    f"{ENTERPRISE}:department": ["sales", "Support"],
    f"{ENTERPRISE}:manager.value": ["u-carol", "u-alice", "U-CAROL"],
    f"{FLEX}:skill": ["sales", "SUPPORT"],
}
_EMAILS = ["alice.smith@contoso.com", "GRACE@partner.example", "bob@contoso.com", "zed@contoso.com"]
_BOOLEANS = ["active", "emails.primary", "roles.primary", f"{FLEX}:certified"]
_TIMES = {"meta.created": created(4), "meta.lastModified": created(7), f"{FLEX}:hired": T0}
_PRESENCE = [
    "title",
    "nickName",
    "name",
    "emails",
    "roles",
    "displayName",
    "externalId",
    f"{ENTERPRISE}:manager",
    f"{FLEX}:level",
    "emails.primary",
    "name.givenName",
]


def _literal(value: Any) -> str:
    return ScimFilter.quote(value)


def _fragments(values: list[str]) -> st.SearchStrategy[str]:
    whole = st.sampled_from(values)
    return st.one_of(
        whole,
        whole.flatmap(lambda v: st.integers(0, len(v)).map(lambda i: v[i : i + 3])),
        st.text(alphabet="aeE%_.@-ü", max_size=3),
    )


@st.composite
def _comparisons(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["string", "email", "boolean", "number", "time", "presence"]))
    if kind == "string":
        attr = draw(st.sampled_from(sorted(_STRING_VALUES)))
        op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]))
        value: Any = draw(st.one_of(_fragments(_STRING_VALUES[attr]), st.none()))
    elif kind == "email":
        attr = draw(st.sampled_from(["emails.value", "emails"]))
        op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "lt"]))
        value = draw(_fragments(_EMAILS) if op in ("co", "sw", "ew") else st.sampled_from(_EMAILS))
    elif kind == "boolean":
        attr, op = draw(st.sampled_from(_BOOLEANS)), draw(st.sampled_from(["eq", "ne"]))
        value = draw(st.one_of(st.booleans(), st.none()))
    elif kind == "number":
        attr = f"{FLEX}:level"
        op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]))
        value = draw(st.sampled_from([0, 1, 3, 3.5, 5, 10, 11]))
    elif kind == "time":
        attr = draw(st.sampled_from(sorted(_TIMES)))
        op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]))
        shift = draw(st.sampled_from([-86400 * 40, -1, 0, 1, 86400 * 90]))
        value = (_TIMES[attr] + timedelta(seconds=shift)).isoformat()
    else:
        return f"{draw(st.sampled_from(_PRESENCE))} pr"
    return f"{attr} {op} {_literal(value)}"


@st.composite
def _selections(draw: st.DrawFn) -> str:
    attr = draw(st.sampled_from(["emails", "roles"]))
    inner = draw(
        st.sampled_from(
            [
                'type eq "work"',
                "primary eq true",
                'type eq "work" and primary eq true',
                'not (type eq "work")',
                "value pr",
                'value co "a"',
                'value sw "S"',
                'type eq "other" or primary eq false',
            ]
        )
    )
    return f"{attr}[{inner}]"


_FILTERS = st.recursive(
    st.one_of(_comparisons(), _selections()),
    lambda children: st.one_of(
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
        children.map(lambda c: f"not ({c})"),
    ),
    max_leaves=4,
)


@settings(max_examples=150, deadline=None)
@given(expression=_FILTERS)
def test_sql_matches_scim2_models_evaluator(directory: Engine, expression: str) -> None:
    try:
        bound = ScimFilter[UserModel](expression)
        expected = {user.id for user in REFERENCE_USERS if bound.match(user)}
    except InvalidFilterException:
        with pytest.raises(InvalidFilterException):
            user_ids(directory, expression)
        return
    assert user_ids(directory, expression) == expected


def test_reference_users_match_the_stored_documents(directory: Engine) -> None:
    """Guards the property test: both sides see the same users."""
    assert {user.id for user in REFERENCE_USERS} == user_ids(directory, "id pr")
