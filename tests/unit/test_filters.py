"""SCIM filters and sortBy run as SQL, on SQLite and PostgreSQL, against a small directory.

The directory is a dozen users and four groups written with SQLAlchemy Core, the indexed
columns computed as the repository computes them. Each filter must return exactly the expected
ids; a property test checks generated filters against ``ScimFilter.match`` (scim2-models'
in-memory evaluator) on the same users.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import (
    URN,
    EnterpriseUser,
    Extension,
    Group,
    InvalidFilterException,
    InvalidValueException,
    ScimFilter,
    User,
)
from sqlalchemy import ColumnElement, Engine, create_engine, insert, select

from scimbridge.store import filters
from scimbridge.store.database import create_db_engine
from scimbridge.store.repository import group_columns, user_columns
from scimbridge.store.tables import group_members, groups, metadata, users
from tests.conftest import _fresh_postgres_database


class FlexAgent(Extension):
    """A declared custom extension, with every JSON type a filter compares."""

    __schema__ = URN("urn:ietf:params:scim:schemas:extension:flex:2.0:User")
    skill: str | None = None
    level: int | None = None
    certified: bool | None = None
    hired: datetime | None = None


UserModel = User[EnterpriseUser | FlexAgent]  # type: ignore[misc]
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
FLEX = "urn:ietf:params:scim:schemas:extension:flex:2.0:User"
CONTOSO = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"  # declared by no model
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def _work(value: str, primary: bool | None = True) -> dict[str, Any]:
    return {"value": value, "type": "work", "primary": primary}


# id → (wire attributes validated by the model, attributes no model declares)
DIRECTORY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "u-alice": (
        {
            "userName": "Alice.Smith@contoso.com",
            "displayName": "Alice Smith",
            "externalId": "0a21f0f2-8d3b",
            "title": "Account Executive",
            "active": True,
            "name": {"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
            "emails": [_work("alice.smith@contoso.com"), {"value": "alice@home.example"}],
            "roles": [{"value": "Agent", "primary": True, "type": "WindowsAzureActiveDirectoryRole"}],
            ENTERPRISE: {"department": "Sales", "manager": {"value": "u-carol"}},
            FLEX: {"skill": "sales", "level": 3, "certified": True, "hired": "2021-03-01T09:00:00Z"},
        },
        {},
    ),
    "u-bob": (
        {
            "userName": "bob@contoso.com",
            "displayName": "Bob Jones",
            "externalId": "jyoung",
            "active": False,
            "name": {"givenName": "Bob", "familyName": "Jones"},
            "emails": [_work("bob@contoso.com")],
            ENTERPRISE: {"department": "Support", "manager": {"value": "u-carol"}},
            FLEX: {"level": 1},
        },
        {},
    ),
    "u-carol": (
        {
            "userName": "Carol.Manager@contoso.com",
            "displayName": "Carol Manager",
            "active": True,
            "name": {"familyName": "Manager"},
            "emails": [_work("carol@contoso.com")],
            "roles": [{"value": "Supervisor", "primary": True}, {"value": "Agent", "primary": False}],
            ENTERPRISE: {"department": "Sales"},
            FLEX: {"level": 5, "certified": False, "hired": "2019-06-30T22:00:00+02:00"},
        },
        {},
    ),
    "u-dave": (
        {"userName": "dave_1%ops", "active": True, "emails": [_work("dave@contoso.com", None)]},
        {},
    ),
    "u-daveish": ({"userName": "daveA1Bops", "active": True}, {}),
    "u-erin": ({"userName": "ERIN@Contoso.com", "active": True, "title": ""}, {}),
    "u-frank": (
        {
            "userName": "frank.muller@contoso.com",
            "displayName": "Frank Müller",
            "active": True,
            "name": {"givenName": "Frank", "familyName": "Müller"},
        },
        {},
    ),
    "u-grace": (
        {
            "userName": "grace@contoso.com",
            "displayName": "Grace Hopper",
            "active": True,
            "emails": [
                {"value": "grace@partner.example", "type": "other"},
                _work("grace@contoso.com", False),
            ],
            ENTERPRISE: {"department": "Support", "manager": {"value": "u-alice"}},
        },
        {CONTOSO: {"costCode": "CC-17"}},
    ),
    "u-heidi": (
        {
            "userName": "heidi@contoso.com",
            "externalId": "EXT-heidi",
            "active": True,
            FLEX: {"skill": "support", "level": 10},
        },
        {},
    ),
    "u-ivan": (
        {"userName": "ivan@contoso.com", "nickName": "Vanya", "active": True},
        {CONTOSO: {"costCode": "cc-99"}},
    ),
    "u-mallory": ({"userName": "x' OR 1=1 --", "active": True}, {}),
    "u-trent": (
        {"userName": "trent@contoso.com", "displayName": "Trent", "active": False},
        {"urn:ietf:params:scim:schemas:extension:contoso:2.0:User": {"COSTCODE": "cc-17"}},
    ),
}
ALL = set(DIRECTORY)
GROUPS = {
    "g-sales": ({"displayName": "Sales", "externalId": "grp-1"}, ["u-alice", "u-carol"]),
    "g-support": ({"displayName": "Support"}, ["u-bob", "u-grace"]),
    "g-empty": ({"displayName": "Empty Team"}, []),
    "g-admins": ({"displayName": "Flex Admins", "externalId": "GRP-2"}, ["u-alice"]),
}


def _created(position: int) -> datetime:
    return T0 + timedelta(days=30 * position, seconds=position)


def _documents() -> dict[str, dict[str, Any]]:
    """Stored documents: the model's dump (as the repository keeps it) plus undeclared objects."""
    return {
        user_id: {**UserModel.model_validate(wire).model_dump(mode="json"), **undeclared}
        for user_id, (wire, undeclared) in DIRECTORY.items()
    }


def _reference_users() -> list[Any]:
    """The same users as scim2-models objects, with id and meta as a response carries them."""
    result = []
    for position, (user_id, document) in enumerate(_documents().items()):
        declared = {k: v for k, v in document.items() if not k.lower().endswith("contoso:2.0:user")}
        meta = {"created": _created(position), "lastModified": _created(position) + timedelta(1)}
        result.append(UserModel.model_validate({**declared, "id": user_id, "meta": meta}))
    return result


def _populate(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        for position, (user_id, document) in enumerate(_documents().items()):
            conn.execute(
                insert(users).values(
                    id=user_id,
                    resource=document,
                    version=position + 1,
                    created_at=_created(position),
                    updated_at=_created(position) + timedelta(1),
                    **user_columns(document),
                )
            )
        for position, (group_id, (document, members)) in enumerate(GROUPS.items()):
            conn.execute(
                insert(groups).values(
                    id=group_id,
                    resource=document,
                    version=1,
                    created_at=_created(position),
                    updated_at=_created(position),
                    **group_columns(document),
                )
            )
            for member in members:
                conn.execute(insert(group_members).values(group_id=group_id, user_id=member))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def directory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One populated database per engine, shared by the read-only tests of this module."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('filters') / 'db'}")
        _populate(engine)
        yield engine
        engine.dispose()
        return
    databases = _fresh_postgres_database()
    engine = create_engine(next(databases))
    try:
        _populate(engine)
        yield engine
    finally:
        engine.dispose()
        databases.close()


def user_ids(engine: Engine, expression: str) -> set[str]:
    where = filters.user_filter(expression, UserModel, engine.dialect.name)
    with engine.connect() as conn:
        return set(conn.scalars(select(users.c.id).where(where)))


def group_ids(engine: Engine, expression: str) -> set[str]:
    where = filters.group_filter(expression, Group, engine.dialect.name)
    with engine.connect() as conn:
        return set(conn.scalars(select(groups.c.id).where(where)))


USER_CASES = [
    # What Entra sends: eq, and, matching attributes, any value case.
    ('userName eq "Alice.Smith@contoso.com"', {"u-alice"}),
    ('USERNAME eq "ALICE.SMITH@CONTOSO.COM"', {"u-alice"}),
    ('userName eq "erin@contoso.com"', {"u-erin"}),
    ('userName eq "4f5d2b1e-9c1f-4c0e-a1b2-3c4d5e6f7a8b"', set()),
    ('externalId eq "jyoung"', {"u-bob"}),
    ('externalId eq "JYOUNG"', set()),
    ("externalId eq jyoung", {"u-bob"}),
    ("(externalId eq jyoung)", {"u-bob"}),
    ("userName eq bob@contoso.com", {"u-bob"}),
    ('id eq "u-bob"', {"u-bob"}),
    ('displayName eq "FRANK MÜLLER"', {"u-frank"}),
    ('DisplayName eq "alice smith"', {"u-alice"}),
    ('emails[type eq "work"].value eq "ALICE.SMITH@contoso.com"', {"u-alice"}),
    ('emails[type eq "work" and primary eq true].value eq "alice.smith@contoso.com"', {"u-alice"}),
    ('emails[type eq "work"].value eq "grace@partner.example"', set()),
    ('emails[Type eq "other"].Value eq "GRACE@partner.example"', {"u-grace"}),
    ('emails.value eq "grace@partner.example"', {"u-grace"}),
    ('emails eq "grace@contoso.com"', {"u-grace"}),
    ('emails[type eq "work"]', {"u-alice", "u-bob", "u-carol", "u-dave", "u-grace"}),
    ('emails[type eq "work" and not (primary eq true)]', {"u-dave", "u-grace"}),
    ('id eq "u-alice" and manager eq "u-carol"', {"u-alice"}),
    ('manager eq "u-carol"', {"u-alice", "u-bob"}),
    (f'{ENTERPRISE}:manager eq "u-carol"', {"u-alice", "u-bob"}),
    (f'{ENTERPRISE}:manager.value eq "u-alice"', {"u-grace"}),
    (f"{ENTERPRISE}:manager pr", {"u-alice", "u-bob", "u-grace"}),
    (f'{ENTERPRISE}:department eq "sales"', {"u-alice", "u-carol"}),
    ('department eq "SUPPORT"', {"u-bob", "u-grace"}),
    # Beyond Entra: every operator, grouping, the reference tests' "garbage" filters.
    ('userName eq "bob@contoso.com" and (displayName co "bob" or displayName co "alice")', {"u-bob"}),
    ('userName sw "A" or userName sw "b"', {"u-alice", "u-bob"}),
    ('meta.Created gt "2024-06-01T00:00:00Z"', ALL - set(list(DIRECTORY)[:6])),
    ('meta.created lt "2024-01-31T14:00:02+02:00"', {"u-alice", "u-bob"}),
    ('meta.lastModified le "2024-01-02T12:00:00Z"', {"u-alice"}),
    ('meta.resourceType eq "User"', ALL),
    ('meta.version eq "W/\\"2\\""', {"u-bob"}),
    ("meta pr", ALL),
    ("active eq false", {"u-bob", "u-trent"}),
    ('active eq "True"', ALL - {"u-bob", "u-trent"}),
    ('userName co "e_1%"', {"u-dave"}),
    ('userName sw "DAVE_"', {"u-dave"}),
    ('userName ew "%ops"', {"u-dave"}),
    ('userName co "a"', {"u-alice", "u-carol", "u-dave", "u-daveish", "u-frank", "u-grace", "u-ivan"}),
    ('externalId sw "ext"', set()),
    ('externalId sw "EXT"', {"u-heidi"}),
    ("userName eq \"x' OR 1=1 --\"", {"u-mallory"}),
    ("title pr", {"u-alice"}),
    ('title eq ""', {"u-erin"}),
    ("not (displayName pr)", {"u-dave", "u-daveish", "u-erin", "u-heidi", "u-ivan", "u-mallory"}),
    ('nickName ne "vanya"', ALL - {"u-ivan"}),
    ('emails.value ne "bob@contoso.com"', ALL - {"u-bob"}),
    ("emails.value eq null", ALL - {"u-alice", "u-bob", "u-carol", "u-dave", "u-grace"}),
    ('name.familyName eq "smith"', {"u-alice"}),
    ('name.familyName sw "mü"', {"u-frank"}),
    ("name pr and not (name.givenName pr)", {"u-carol"}),
    ('roles[primary eq "True"].value eq "supervisor"', {"u-carol"}),
    ('roles.value eq "Agent"', {"u-alice", "u-carol"}),
    ('roles[value eq "agent" and primary eq false]', {"u-carol"}),
    ('groups.value eq "g-sales"', {"u-alice", "u-carol"}),
    ('groups[display eq "support"]', {"u-bob", "u-grace"}),
    ("groups pr", {"u-alice", "u-bob", "u-carol", "u-grace"}),
    # A declared custom extension: numbers, booleans and times compare as such.
    (f"{FLEX}:level gt 3", {"u-carol", "u-heidi"}),
    (f'{FLEX}:level le "3"', {"u-alice", "u-bob"}),
    (f"{FLEX}:certified eq false", {"u-carol"}),
    (f"{FLEX}:certified ne true", ALL - {"u-alice"}),
    (f'{FLEX}:hired lt "2020-01-01T00:00:00Z"', {"u-carol"}),
    (f'{FLEX}:hired eq "2019-06-30T20:00:00Z"', {"u-carol"}),
    (f'{FLEX}:skill eq "SUPPORT"', {"u-heidi"}),
    # Undeclared custom extension attributes (Entra, non-gallery apps): names in any case.
    (f'{CONTOSO}:costCode eq "CC-17"', {"u-grace", "u-trent"}),
    (f'{CONTOSO.upper()}:COSTCODE eq "cc-99"', {"u-ivan"}),
    (f'{CONTOSO}:costCode sw "cc-1"', {"u-grace", "u-trent"}),
    (f"{CONTOSO}:costCode pr", {"u-grace", "u-ivan", "u-trent"}),
    (f'{CONTOSO}:costCode ne "cc-17"', ALL - {"u-grace", "u-trent"}),
    (f"{CONTOSO}:costCode eq null", ALL - {"u-grace", "u-ivan", "u-trent"}),
]


@pytest.mark.parametrize(("expression", "expected"), USER_CASES)
def test_user_filter_selects_exactly(directory: Engine, expression: str, expected: set[str]) -> None:
    assert user_ids(directory, expression) == expected


GROUP_CASES = [
    ('displayName eq "SALES"', {"g-sales"}),
    ('displayname eq "flex admins"', {"g-admins"}),
    ('externalId eq "grp-1"', {"g-sales"}),
    ('members[value eq "u-alice"]', {"g-sales", "g-admins"}),
    ('members.value eq "u-bob"', {"g-support"}),
    ('members eq "u-grace"', {"g-support"}),
    ('members[display co "hopper"]', {"g-support"}),
    ('members[value eq "u-alice"] and displayName sw "s"', {"g-sales"}),
    ('members.value ne "u-alice"', {"g-support", "g-empty"}),
    ("members pr", {"g-sales", "g-support", "g-admins"}),
    ("not (members pr)", {"g-empty"}),
    ('meta.resourceType eq "Group"', set(GROUPS)),
    ('members.type eq "User"', {"g-sales", "g-support", "g-admins"}),
]


@pytest.mark.parametrize(("expression", "expected"), GROUP_CASES)
def test_group_filter_selects_exactly(directory: Engine, expression: str, expected: set[str]) -> None:
    assert group_ids(directory, expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        'nickname eq "x" and',
        "userName eq",
        "",
        'foo eq "x"',
        'emails[foo eq "x"]',
        "active gt true",
        f'{FLEX}:level eq "three"',
        'emails.value eq "not-an-email"',
        'urn:example:other:2.0:User:name eq "x"',
        f'{CONTOSO}:costCode.sub eq "x"',
        f'{CONTOSO}:costCode[value eq "x"]',
        'meta.location eq "https://example.com/Users/u-bob"',
        'password eq "hunter2"',
        'title eq "unterminated',
    ],
)
def test_invalid_filters_are_refused_as_invalid_filter(expression: str) -> None:
    with pytest.raises(InvalidFilterException) as refused:
        filters.user_filter(expression, UserModel, "sqlite")
    assert refused.value.scim_type == "invalidFilter"
    assert refused.value.status == 400


def test_membership_references_cannot_be_filtered() -> None:
    with pytest.raises(InvalidFilterException):
        filters.group_filter('members.$ref eq "../Users/u-bob"', Group, "postgresql")


def test_limits_name_what_was_exceeded() -> None:
    long = 'userName eq "' + "a" * 100 + '"'
    with pytest.raises(InvalidFilterException, match="longer than 64 characters"):
        filters.user_filter(long, UserModel, "sqlite", max_length=64)
    many = " or ".join(f'userName eq "u{i}"' for i in range(6))
    with pytest.raises(InvalidFilterException, match="6 comparisons; at most 5"):
        filters.user_filter(many, UserModel, "sqlite", max_terms=5)
    inner = 'emails[type eq "work" and value co "a" and primary eq true]'
    with pytest.raises(InvalidFilterException, match="at most 2"):
        filters.user_filter(inner, UserModel, "sqlite", max_terms=2)


def test_values_travel_as_bound_parameters(directory: Engine) -> None:
    where = filters.user_filter("userName eq \"x' OR 1=1 --\"", UserModel, directory.dialect.name)
    assert "1=1" not in str(where.compile(dialect=directory.dialect))


def test_user_name_eq_uses_the_index(sqlite_url: str) -> None:
    """At 100k users a scan is what operators notice; eq must be an index lookup."""
    engine = create_db_engine(sqlite_url)
    try:
        for expression, column in [
            ('userName eq "Bob@Contoso.com"', "user_name_key=?"),
            ('externalId eq "jyoung"', "external_id=?"),
        ]:
            plan = _query_plan(engine, select(users.c.id).where(
                filters.user_filter(expression, UserModel, "sqlite")
            ))
            assert "INDEX" in plan and column in plan, plan
        plan = _query_plan(
            engine, select(groups.c.id).where(filters.group_filter('displayName eq "Sales"', Group, "sqlite"))
        )
        assert "INDEX" in plan and "display_name_key=?" in plan, plan
    finally:
        engine.dispose()


def _query_plan(engine: Engine, query: Any) -> str:
    compiled = query.compile(dialect=engine.dialect)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


# -- sortBy -----------------------------------------------------------------------------------


def sorted_ids(engine: Engine, sort_by: str, *, descending: bool = False) -> list[str]:
    """Ids of the users that have a value for ``sort_by``, in sortBy order."""
    key: ColumnElement[Any] = filters.user_sort_key(sort_by, UserModel, engine.dialect.name)
    query = select(users.c.id).where(key.is_not(None))
    query = query.order_by(key.desc() if descending else key, users.c.id)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def test_sort_by_user_name_ignores_case(directory: Engine) -> None:
    ids = sorted_ids(directory, "userName")
    assert ids[:4] == ["u-alice", "u-bob", "u-carol", "u-dave"] and ids[-1] == "u-mallory"


def test_sort_by_numbers_is_numeric(directory: Engine) -> None:
    assert sorted_ids(directory, f"{FLEX}:level") == ["u-bob", "u-alice", "u-carol", "u-heidi"]
    assert sorted_ids(directory, f"{FLEX}:LEVEL", descending=True)[0] == "u-heidi"


def test_sort_by_multi_valued_uses_the_primary_value(directory: Engine) -> None:
    # grace's primary email is none, so her first (partner.example) counts.
    assert sorted_ids(directory, "emails") == ["u-alice", "u-bob", "u-carol", "u-dave", "u-grace"]
    assert sorted_ids(directory, "emails.value", descending=True)[0] == "u-grace"


def test_sort_by_sub_attributes_extensions_and_times(directory: Engine) -> None:
    assert sorted_ids(directory, "name.familyName") == ["u-bob", "u-carol", "u-frank", "u-alice"]
    assert sorted_ids(directory, "department") == ["u-alice", "u-carol", "u-bob", "u-grace"]
    assert sorted_ids(directory, f"{FLEX}:hired") == ["u-carol", "u-alice"]
    assert sorted_ids(directory, "meta.created", descending=True)[0] == "u-trent"
    assert sorted_ids(directory, f"{CONTOSO}:costcode") == ["u-grace", "u-trent", "u-ivan"]


@pytest.mark.parametrize(
    "sort_by", ['emails[type eq "work"].value', "nosuch", "name", "groups", "meta.location", "a.b.c"]
)
def test_unsortable_attributes_are_refused(sort_by: str) -> None:
    with pytest.raises(InvalidValueException):
        filters.user_sort_key(sort_by, UserModel, "sqlite")


def test_group_sort_by_display_name(directory: Engine) -> None:
    key = filters.group_sort_key("displayName", Group, directory.dialect.name)
    with directory.connect() as conn:
        ordered = list(conn.scalars(select(groups.c.id).order_by(key)))
    assert ordered == ["g-empty", "g-admins", "g-sales", "g-support"]


# -- the SQL agrees with scim2-models' evaluator ------------------------------------------------

REFERENCE_USERS = _reference_users()
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
_TIMES = {"meta.created": _created(4), "meta.lastModified": _created(7), f"{FLEX}:hired": T0}
_PRESENCE = ["title", "nickName", "name", "emails", "roles", "displayName", "externalId",
             f"{ENTERPRISE}:manager", f"{FLEX}:level", "emails.primary", "name.givenName"]


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


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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

