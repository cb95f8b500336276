"""The store objects of one migrated database, on SQLite and on PostgreSQL (``migrated_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scimbridge.store.database import Database
from scimbridge.store.objects import Store

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def user(name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [CORE_USER], "userName": name, **extra}


def group(name: str) -> dict[str, Any]:
    return {"schemas": [CORE_GROUP], "displayName": name}


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    database = Database.open(migrated_url)
    yield database
    database.dispose()


@pytest.fixture
def store(database: Database) -> Store:
    return Store.of(database)
