"""scim2-tester, the SCIM compliance checker, run against the real service over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.support import serving

TOKEN = "scim2-tester-token"


@pytest.fixture
def scim_client(migrated_url: str) -> Iterator[SyncSCIMClient]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with (
        serving(create_app(build_runtime(settings))) as base,
        Client(base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        yield SyncSCIMClient(http)


def test_scim2_tester_passes_fully(scim_client: SyncSCIMClient) -> None:
    results = check_server(scim_client)
    failures = [
        f"{r.resource_type or '-'} {r.title}: {r.reason}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert len(results) > 100
    assert failures == []
