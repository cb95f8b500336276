"""A running scimbridge (real HTTP, a real database on each engine) and an Entra-like client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.support import serving

TOKEN = "e2e-static-token-0123456789"


class EntraClient:
    """Sends requests the way Entra's provisioning service does (feature flag optional)."""

    def __init__(self, base_url: str, flag: str | None) -> None:
        self.base = base_url + "/scim/v2"
        self.flag = flag
        self.http = httpx.Client(
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/scim+json; charset=utf-8",
            },
            timeout=30,
        )

    def url(self, path: str) -> str:
        joiner = "&" if "?" in path else "?"
        return self.base + path + (joiner + self.flag if self.flag else "")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(self.url(path), params=params or None)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(self.url(path), json=body)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.http.put(self.url(path), json=body)

    def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": list(operations),
        }
        return self.http.patch(self.url(path), json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(self.url(path))


@pytest.fixture
def scim_base(migrated_url: str) -> Iterator[str]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with serving(create_app(build_runtime(settings))) as base:
        yield base


@pytest.fixture(params=[None, "aadOptscim062020"], ids=["default", "aadOptscim062020"])
def entra(request: pytest.FixtureRequest, scim_base: str) -> Iterator[EntraClient]:
    client = EntraClient(scim_base, request.param)
    yield client
    client.http.close()
