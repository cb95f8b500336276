"""A small directory for filter tests: a dozen users and four groups, on SQLite or PostgreSQL.

Rows are written with SQLAlchemy Core, the indexed columns computed as the repository computes
them; the documents are the model's dump, as the repository stores them, plus extension objects
no model declares (as Entra sends for non-gallery apps).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scim2_models import URN, EnterpriseUser, Extension, Group, User
from sqlalchemy import Engine, create_engine, insert, select

from scimbridge.store.database import create_db_engine
from scimbridge.store.query import filters
from scimbridge.store.resources import group_columns, user_columns
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
            "roles": [
                {"value": "Agent", "primary": True, "type": "WindowsAzureActiveDirectoryRole"}
            ],
            ENTERPRISE: {"department": "Sales", "manager": {"value": "u-carol"}},
            FLEX: {
                "skill": "sales",
                "level": 3,
                "certified": True,
                "hired": "2021-03-01T09:00:00Z",
            },
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
            "emails": [
                {"value": "zz-carol@contoso.com", "type": "other"},
                _work("carol@contoso.com"),
            ],
            "roles": [
                {"value": "Supervisor", "primary": True},
                {"value": "Agent", "primary": False},
            ],
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


def created(position: int) -> datetime:
    return T0 + timedelta(days=30 * position, seconds=position)


def _documents() -> dict[str, dict[str, Any]]:
    """Stored documents: the model's dump (as the repository keeps it) plus undeclared objects."""
    return {
        user_id: {**UserModel.model_validate(wire).model_dump(mode="json"), **undeclared}
        for user_id, (wire, undeclared) in DIRECTORY.items()
    }


def reference_users() -> list[Any]:
    """The same users as scim2-models objects, with id and meta as a response carries them."""
    result = []
    for position, (user_id, document) in enumerate(_documents().items()):
        declared = {k: v for k, v in document.items() if not k.lower().endswith("contoso:2.0:user")}
        meta = {"created": created(position), "lastModified": created(position) + timedelta(1)}
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
                    created_at=created(position),
                    updated_at=created(position) + timedelta(1),
                    **user_columns(document),
                )
            )
        for position, (group_id, (document, members)) in enumerate(GROUPS.items()):
            conn.execute(
                insert(groups).values(
                    id=group_id,
                    resource=document,
                    version=1,
                    created_at=created(position),
                    updated_at=created(position),
                    **group_columns(document),
                )
            )
            for member in members:
                conn.execute(insert(group_members).values(group_id=group_id, user_id=member))


def populated_engine(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The directory in a fresh database of ``kind`` (sqlite or postgres), for a module fixture."""
    if kind == "sqlite":
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
