"""A served scimbridge with a few seeded resources, shared by each hostile-input module.

The server lives for a whole module (hypothesis runs many examples against one server); each
example proves by itself that a refusal changed nothing, so examples do not depend on each other.
``api`` runs on SQLite; ``engine_api`` on SQLite and PostgreSQL, for the inputs whose handling
reaches SQL (filters, sorting, paging).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.database import create_db_engine, migrate
from tests.conftest import _fresh_postgres_database
from tests.hostile.contract import Store
from tests.support import serving

TOKEN = "hostile-input-token-0123456789"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# The default run: deterministic and small; `pytest -m slow` runs the same properties longer.
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
SLOW = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BUDGETS = [
    pytest.param(FAST, id="fast"),
    pytest.param(SLOW, id="long", marks=pytest.mark.slow),
]


@dataclass
class Api:
    """A running service: ``http`` (authenticated, at /scim/v2), the store behind it, seeds."""

    base: str
    http: httpx.Client
    store: Store
    user_ids: list[str] = field(default_factory=list)
    group_id: str = ""

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send one request; a refusal must be a SCIM error and leave the store untouched."""
        return self.store.send(self.http, self.http.build_request(method, path, **options))


def seed(http: httpx.Client) -> tuple[list[str], str]:
    user_ids = []
    for n in range(3):
        response = http.post(
            "/Users",
            json={
                "schemas": [CORE, ENTERPRISE],
                "userName": f"seed{n}@contoso.com",
                "displayName": f"Seed {n}",
                "externalId": f"ext-{n}",
                "active": True,
                "emails": [{"value": f"seed{n}@contoso.com", "type": "work", "primary": True}],
                "roles": [{"value": "agent", "primary": True}],
                ENTERPRISE: {"department": "Sales", "employeeNumber": str(n)},
            },
        )
        assert response.status_code == 201, response.text
        user_ids.append(response.json()["id"])
    group = http.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Seed group",
            "members": [{"value": user_ids[0]}, {"value": user_ids[1]}],
        },
    )
    assert group.status_code == 201, group.text
    return user_ids, group.json()["id"]


@contextmanager
def serve_api(database_url: str, scim: dict[str, Any] | None = None) -> Iterator[Api]:
    migrate(database_url)
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": database_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN},
        document={"scim": scim or {}},
    )
    with ExitStack() as stack:
        engine = create_db_engine(database_url)
        stack.callback(engine.dispose)
        base = stack.enter_context(serving(create_app(build_runtime(settings))))
        http = stack.enter_context(
            httpx.Client(
                base_url=base + "/scim/v2",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            )
        )
        user_ids, group_id = seed(http)
        yield Api(base, http, Store(engine), user_ids, group_id)


def _sqlite_url(factory: pytest.TempPathFactory) -> str:
    folder: Path = factory.mktemp(f"hostile-{uuid.uuid4().hex[:6]}")
    return f"sqlite:///{folder / 'scimbridge.db'}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_api(_sqlite_url(tmp_path_factory)) as served:
        yield served


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    if request.param == "sqlite":
        with serve_api(_sqlite_url(tmp_path_factory)) as served:
            yield served
        return
    for url in _fresh_postgres_database():
        with serve_api(url) as served:
            yield served
