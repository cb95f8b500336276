"""``userName eq "…"`` answers, by its shortcut, exactly what the full filter path answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.support import serving

TOKEN = "integration-static-token-42"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
NAMES = ["Ann.Lee@Contoso.com", "bob@contoso.com", "Zoë@contoso.com", "ren\u00e9@contoso.com"]


@pytest.fixture
def client(migrated_url: str) -> Iterator[httpx.Client]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with (
        serving(create_app(build_runtime(settings))) as base,
        httpx.Client(
            base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        for name in NAMES:
            created = http.post("/Users", json={"schemas": [CORE], "userName": name})
            assert created.status_code == 201, created.text
        yield http


def _list(client: httpx.Client, filter_text: str, **params: str) -> tuple[int, dict[str, object]]:
    response = client.get("/Users", params={"filter": filter_text, **params})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "name",
    [
        "ann.lee@contoso.com",  # another case
        "ANN.LEE@CONTOSO.COM",
        "Zoë@contoso.com",
        "zoë@CONTOSO.com",
        "rene\u0301@contoso.com",  # the same name, decomposed
        "nobody@contoso.com",
        "",
    ],
)
@pytest.mark.parametrize(
    "params",
    [{}, {"startIndex": "2"}, {"count": "0"}, {"attributes": "userName"}, {"count": "1"}],
    ids=["plain", "second-page", "count-0", "attributes", "count-1"],
)
def test_the_shortcut_answers_what_the_filter_answers(
    client: httpx.Client, name: str, params: dict[str, str]
) -> None:
    # The parenthesized filter means the same and is not recognized: it takes the full path.
    fast = _list(client, f'userName eq "{name}"', **params)
    full = _list(client, f'(userName eq "{name}")', **params)
    assert fast == full
    assert fast[0] == 200


def test_the_shortcut_finds_the_user_it_names(client: httpx.Client) -> None:
    status, body = _list(client, 'username EQ "BOB@contoso.com"')
    assert status == 200 and body["totalResults"] == 1
    resources = body["Resources"]
    assert isinstance(resources, list) and resources[0]["userName"] == "bob@contoso.com"
