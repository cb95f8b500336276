"""SCIM filters and sortBy run as SQL on SQLite and PostgreSQL, each returning exactly its ids.

The directory (``filter_directory``) holds a dozen users and four groups; the cases cover what
Entra sends, every operator, Entra's legacy forms, undeclared extension attributes, refusals,
the index a userName lookup uses, and sortBy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from scim2_models import Group, InvalidFilterException, InvalidValueException
from sqlalchemy import ColumnElement, Engine, select

from scimbridge.store.database import create_db_engine
from scimbridge.store.query import filters
from scimbridge.store.tables import groups, users
from tests.unit.filter_directory import (
    ALL,
    CONTOSO,
    DIRECTORY,
    ENTERPRISE,
    FLEX,
    GROUPS,
    UserModel,
    group_ids,
    populated_engine,
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
    (
        'userName eq "bob@contoso.com" and (displayName co "bob" or displayName co "alice")',
        {"u-bob"},
    ),
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
    (
        'userName co "a"',
        {"u-alice", "u-carol", "u-dave", "u-daveish", "u-frank", "u-grace", "u-ivan"},
    ),
    ('externalId sw "ext"', set()),
    ('externalId sw "EXT"', {"u-heidi"}),
    ('userName eq "x\' OR 1=1 --"', {"u-mallory"}),
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
def test_user_filter_selects_exactly(
    directory: Engine, expression: str, expected: set[str]
) -> None:
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
def test_group_filter_selects_exactly(
    directory: Engine, expression: str, expected: set[str]
) -> None:
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


def test_only_sqlite_and_postgresql_are_known() -> None:
    with pytest.raises(ValueError, match="mysql"):
        filters.user_filter('userName eq "x"', UserModel, "mysql")


def test_values_travel_as_bound_parameters(directory: Engine) -> None:
    where = filters.user_filter('userName eq "x\' OR 1=1 --"', UserModel, directory.dialect.name)
    assert "1=1" not in str(where.compile(dialect=directory.dialect))


def test_user_name_eq_uses_the_index(sqlite_url: str) -> None:
    """At 100k users a scan is what operators notice; eq must be an index lookup."""
    engine = create_db_engine(sqlite_url)
    try:
        for expression, column in [
            ('userName eq "Bob@Contoso.com"', "user_name_key=?"),
            ('externalId eq "jyoung"', "external_id=?"),
        ]:
            plan = _query_plan(
                engine,
                select(users.c.id).where(filters.user_filter(expression, UserModel, "sqlite")),
            )
            assert "INDEX" in plan and column in plan, plan
        plan = _query_plan(
            engine,
            select(groups.c.id).where(
                filters.group_filter('displayName eq "Sales"', Group, "sqlite")
            ),
        )
        assert "INDEX" in plan and "display_name_key=?" in plan, plan
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("expression", "lookup"),
    [
        ('userName eq "Bob@Contoso.com"', True),
        ('id eq "u-bob"', True),
        ('externalId eq "jyoung"', True),
        ('active eq true and userName eq "bob@contoso.com"', True),
        ('userName eq "a" or userName eq "b"', False),
        ('userName co "bob"', False),
        ('not (userName eq "bob@contoso.com")', False),
        ('title eq "Agent"', False),
        ('emails[type eq "work"].value eq "bob@contoso.com"', False),
    ],
)
def test_index_lookups_are_told_apart_from_scans(
    sqlite_url: str, expression: str, lookup: bool
) -> None:
    """What runs on the event loop as one user's call must never scan the table."""
    where = filters.user_filter(expression, UserModel, "sqlite")
    assert filters.is_index_lookup(where, users) is lookup
    if lookup:
        engine = create_db_engine(sqlite_url)
        try:
            plan = _query_plan(engine, select(users.c.id).where(where))
        finally:
            engine.dispose()
        assert "SCAN" not in plan and "USING" in plan, plan


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
    # carol's primary email is her second; grace has no primary, so her first counts.
    assert sorted_ids(directory, "emails") == ["u-alice", "u-bob", "u-carol", "u-dave", "u-grace"]
    assert sorted_ids(directory, "emails.value", descending=True)[0] == "u-grace"


def test_sort_by_sub_attributes_extensions_and_times(directory: Engine) -> None:
    assert sorted_ids(directory, "name.familyName") == ["u-bob", "u-carol", "u-frank", "u-alice"]
    assert sorted_ids(directory, "department") == ["u-alice", "u-carol", "u-bob", "u-grace"]
    assert sorted_ids(directory, f"{FLEX}:hired") == ["u-carol", "u-alice"]
    assert sorted_ids(directory, "meta.created", descending=True)[0] == "u-trent"
    assert sorted_ids(directory, f"{CONTOSO}:costcode") == ["u-grace", "u-trent", "u-ivan"]


@pytest.mark.parametrize(
    "sort_by",
    ['emails[type eq "work"].value', "nosuch", "name", "groups", "meta.location", "a.b.c"],
)
def test_unsortable_attributes_are_refused(sort_by: str) -> None:
    with pytest.raises(InvalidValueException):
        filters.user_sort_key(sort_by, UserModel, "sqlite")


def test_group_sort_by_display_name(directory: Engine) -> None:
    key = filters.group_sort_key("displayName", Group, directory.dialect.name)
    with directory.connect() as conn:
        ordered = list(conn.scalars(select(groups.c.id).order_by(key)))
    assert ordered == ["g-empty", "g-admins", "g-sales", "g-support"]
