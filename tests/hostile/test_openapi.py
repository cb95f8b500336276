"""Schemathesis over the published OpenAPI description, against the real app over HTTP.

Every operation gets requests generated from its schema, conforming and not: answers must be no
5xx, have a documented status, content type and schema, and every refusal must be a SCIM error
that changed nothing. ``GET /openapi.json`` serves the very file these tests read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

import scimbridge.scim
from tests.hostile.conftest import FAST, SLOW, TOKEN, Api
from tests.hostile.contract import check_answer

DESCRIPTION = Path(scimbridge.scim.__file__).parent / "openapi.json"
# The default run fuzzes; the coverage phase (boundary and negative values per parameter, some
# hundred requests per operation) runs with the long fuzz under `-m slow`.
schema = schemathesis.openapi.from_path(
    DESCRIPTION, config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
)
long_schema = schemathesis.openapi.from_path(DESCRIPTION)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_description_is_served_without_auth(api: Api) -> None:
    response = httpx.get(api.base + "/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    assert response.json()["openapi"].startswith("3.")


def _aim(case: schemathesis.Case[Any], api: Api) -> None:
    """Point half of the item operations (but DELETE) at the seeded resources."""
    resource_id = case.path_parameters.get("id") if case.path_parameters else None
    if resource_id is None or case.method.upper() == "DELETE" or len(str(resource_id)) % 2:
        return
    if case.path.startswith("/scim/v2/Users/"):
        case.path_parameters["id"] = api.user_ids[2]
    elif case.path.startswith("/scim/v2/Groups/"):
        case.path_parameters["id"] = api.group_id


def _exercise(case: schemathesis.Case[Any], api: Api) -> None:
    _aim(case, api)
    before = api.store.snapshot()
    response = case.call(base_url=api.base, headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=CHECKS)
    answer = httpx.Response(
        response.status_code,
        headers=[(name, value) for name, values in response.headers.items() for value in values],
        content=response.content,
        request=httpx.Request(case.method, api.base + case.formatted_path),
    )
    check_answer(answer)
    if response.status_code >= 400:
        assert api.store.snapshot() == before, (
            f"refused {case.method} {case.path} changed the store"
        )


@schema.parametrize()
@settings(FAST, max_examples=15)
def test_every_operation_holds_its_contract(case: schemathesis.Case[Any], api: Api) -> None:
    _exercise(case, api)


@pytest.mark.slow
@long_schema.parametrize()
@settings(SLOW, max_examples=500)
def test_every_operation_holds_its_contract_long(case: schemathesis.Case[Any], api: Api) -> None:
    _exercise(case, api)
