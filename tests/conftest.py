"""Fixtures shared by every suite: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests use the server named by ``SCIMBRIDGE_TEST_POSTGRES_URL`` (an admin URL; each test
gets its own database, dropped afterwards). Without it they are skipped, unless
``SCIMBRIDGE_REQUIRE_POSTGRES=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from scimbridge.store.database import migrate, normalize_url

POSTGRES_ENV = "SCIMBRIDGE_TEST_POSTGRES_URL"

# Tests talk to local fakes only; a region or edge would rewrite every Twilio URL.
for _var in ("TWILIO_REGION", "TWILIO_EDGE"):
    os.environ.pop(_var, None)


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("SCIMBRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{POSTGRES_ENV} is not set but SCIMBRIDGE_REQUIRE_POSTGRES=1")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    return normalize_url(url)


def _fresh_postgres_database() -> Iterator[str]:
    admin = postgres_admin_url()
    name = f"sb_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def terminate_backends(admin: Engine, database: str, *, wait: bool = False) -> int:
    """Terminate every other session on ``database``, as a PostgreSQL restart would; with
    ``wait``, return only once they are gone. Returns how many there were."""
    with admin.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid, :wait_ms)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database, "wait_ms": 5000 if wait else 0},
            )
            or 0
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each engine (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scimbridge.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """A database at the newest schema revision, on each engine."""
    migrate(database_url)
    return database_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database, for tests whose behaviour does not depend on the engine."""
    url = f"sqlite:///{tmp_path / 'scimbridge.db'}"
    migrate(url)
    return url
