"""Every request limit is configurable, enforced with a SCIM error that changes nothing, and
advertised where SCIM has a place for it (``/ServiceProviderConfig``: ``filter.maxResults``;
``bulk`` unsupported, so ``maxOperations``/``maxPayloadSize`` are 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import CORE, GROUP, PATCH_OP, Api, serve_api

TIGHT = {
    "max_body_bytes": 2048,
    "max_json_depth": 6,
    "max_filter_length": 64,
    "max_filter_terms": 3,
    "max_results": 2,
    "default_count": 1,
    "max_patch_operations": 4,
}


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder: Path = tmp_path_factory.mktemp("limits")
    with serve_api(f"sqlite:///{folder / 'scimbridge.db'}", {"limits": TIGHT}) as served:
        yield served


def _patch(operations: int) -> dict[str, object]:
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "title", "value": str(n)} for n in range(operations)
        ],
    }


def test_limits_are_advertised(tight: Api) -> None:
    config = tight.request("GET", "/ServiceProviderConfig").json()
    assert config["filter"] == {"supported": True, "maxResults": TIGHT["max_results"]}
    assert config["bulk"] == {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}


def test_body_over_the_limit_is_413(tight: Api) -> None:
    body = {"schemas": [CORE], "userName": "big@contoso.com", "displayName": "x" * 3000}
    response = tight.request("POST", "/Users", json=body)
    assert response.status_code == 413
    # The declared length alone is enough; the body is not read (a chunked body is counted).
    streamed = tight.request(
        "POST",
        "/Users",
        content=iter([json.dumps(body).encode()]),
        headers={"Content-Type": "application/scim+json"},
    )
    assert streamed.status_code == 413


def test_depth_over_the_limit_is_invalid_syntax(tight: Api) -> None:
    nested: object = "deep"
    for _ in range(TIGHT["max_json_depth"]):
        nested = {"a": nested}
    response = tight.request(
        "POST", "/Users", json={"schemas": [CORE], "userName": "d@x.com", "name": nested}
    )
    assert response.status_code == 400 and response.json()["scimType"] == "invalidSyntax"


@pytest.mark.parametrize(
    "expression",
    [
        'userName eq "' + "a" * 64 + '"',
        'userName eq "a" or userName eq "b" or userName eq "c" or userName eq "d"',
    ],
    ids=["too long", "too many terms"],
)
def test_filters_over_the_limits_are_invalid_filter(tight: Api, expression: str) -> None:
    for response in (
        tight.request("GET", "/Users", params={"filter": expression}),
        tight.request("POST", "/Groups/.search", json={"filter": expression}),
    ):
        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidFilter"


def test_count_is_clamped_to_max_results(tight: Api) -> None:
    page = tight.request("GET", "/Users", params={"count": "99999999"}).json()
    assert page["itemsPerPage"] == TIGHT["max_results"]
    assert page["totalResults"] == 3
    default = tight.request("GET", "/Users").json()
    assert default["itemsPerPage"] == TIGHT["default_count"]


def test_patch_over_the_operation_limit_is_refused(tight: Api) -> None:
    user = f"/Users/{tight.user_ids[0]}"
    refused = tight.request("PATCH", user, json=_patch(TIGHT["max_patch_operations"] + 1))
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    accepted = tight.request("PATCH", user, json=_patch(TIGHT["max_patch_operations"]))
    assert accepted.status_code == 200
    group = tight.request(
        "PATCH",
        f"/Groups/{tight.group_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": []}] * 5,
        },
    )
    assert group.status_code == 400


def test_the_defaults_hold_without_configuration(api: Api) -> None:
    config = api.request("GET", "/ServiceProviderConfig").json()
    assert config["filter"]["maxResults"] == 1000
    big = {"schemas": [GROUP], "displayName": "x" * (1024 * 1024)}
    assert api.request("POST", "/Groups", json=big).status_code == 413
