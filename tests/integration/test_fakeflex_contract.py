"""Contract test: the fake Flex server's 2xx responses match Twilio's OpenAPI response schemas.

The specs are the copies in ``tests/data`` (twilio/twilio-oai, MIT). OpenAPI 3.0 ``nullable`` is
turned into JSON Schema ``null`` types, ``$ref``s resolve inside the spec, ``date-time`` and ``uri``
formats are checked, and every rendered object must carry exactly the schema's properties.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from scimbridge.testing.fakeflex.server import FakeFlexServer

DATA = Path(__file__).parent.parent / "data"
SPEC_URI = "urn:twilio-oai:{}"
FORMATS = FormatChecker()


def _is_twilio_date(value: object) -> bool:
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    return not isinstance(value, str) or re.fullmatch(pattern, value) is not None


def _is_absolute_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


FORMATS.checks("date-time")(_is_twilio_date)
FORMATS.checks("uri")(_is_absolute_uri)


def _jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable: true`` becomes a ``null`` alternative."""
    if isinstance(node, list):
        return [_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _jsonschema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") is True:
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _spec(name: str) -> tuple[dict[str, Any], Registry]:
    spec = _jsonschema(json.loads((DATA / name).read_text()))
    registry = Registry().with_resource(SPEC_URI.format(name), DRAFT202012.create_resource(spec))
    return spec, registry


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def validate(spec_name: str, path: str, method: str, response: requests.Response) -> Any:
    """Check the status is one the spec declares and the body matches its schema; return it."""
    spec, registry = _spec(spec_name)
    status = str(response.status_code)
    assert status in spec["paths"][path][method]["responses"], f"{method} {path} → {status}"
    pointer = _pointer("paths", path, method, "responses", status, "content")
    ref = f"{SPEC_URI.format(spec_name)}#/{pointer}/application~1json/schema"
    validator = Draft202012Validator({"$ref": ref}, registry=registry, format_checker=FORMATS)
    body = response.json()
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    return body


def properties_of(spec_name: str, component: str) -> set[str]:
    spec, _ = _spec(spec_name)
    return set(spec["components"]["schemas"][component]["properties"])


TASKROUTER = "twilio_taskrouter_v1.json"
WORKER = "/v1/Workspaces/{WorkspaceSid}/Workers/{Sid}"
WORKERS = "/v1/Workspaces/{WorkspaceSid}/Workers"


def test_worker_create_fetch_update_and_list(fake: FakeFlexServer, http: requests.Session) -> None:
    base = f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers"
    created = validate(TASKROUTER, WORKERS, "post", http.post(base, data={"FriendlyName": "a@b.c"}))
    assert set(created) == properties_of(TASKROUTER, "taskrouter.v1.workspace.worker")
    url = f"{base}/{created['sid']}"
    validate(TASKROUTER, WORKER, "get", http.get(url))
    validate(TASKROUTER, WORKER, "post", http.post(url, data={"Attributes": '{"x":[1]}'}))
    for n in range(3):
        http.post(base, data={"FriendlyName": f"w{n}"})
    first = validate(TASKROUTER, WORKERS, "get", http.get(base, params={"PageSize": 2}))
    assert first["meta"]["next_page_url"]
    validate(TASKROUTER, WORKERS, "get", http.get(first["meta"]["next_page_url"]))
    fake.state.set_options(null_list_attributes=True)
    validate(TASKROUTER, WORKERS, "get", http.get(base))
    deleted = http.delete(url)
    spec, _ = _spec(TASKROUTER)
    assert str(deleted.status_code) in spec["paths"][WORKER]["delete"]["responses"]
    assert deleted.content == b""


def test_workspace_and_activities(fake: FakeFlexServer, http: requests.Session) -> None:
    ws_url = f"{fake.url}/v1/Workspaces/{fake.workspace_sid}"
    workspace = validate(TASKROUTER, "/v1/Workspaces/{Sid}", "get", http.get(ws_url))
    assert set(workspace) == properties_of(TASKROUTER, "taskrouter.v1.workspace")
    listed = validate(
        TASKROUTER,
        "/v1/Workspaces/{WorkspaceSid}/Activities",
        "get",
        http.get(f"{ws_url}/Activities", params={"FriendlyName": "Offline"}),
    )
    [offline] = listed["activities"]
    assert set(offline) == properties_of(TASKROUTER, "taskrouter.v1.workspace.activity")
    validate(
        TASKROUTER,
        "/v1/Workspaces/{WorkspaceSid}/Activities/{Sid}",
        "get",
        http.get(f"{ws_url}/Activities/{offline['sid']}"),
    )


def test_worker_reservations(fake: FakeFlexServer, http: requests.Session) -> None:
    base = f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers"
    worker = http.post(base, data={"FriendlyName": "r@b.c"}).json()
    fake.state.offer_reservation(worker["sid"])
    path = "/v1/Workspaces/{WorkspaceSid}/Workers/{WorkerSid}/Reservations"
    url = f"{base}/{worker['sid']}/Reservations"
    listed = validate(
        TASKROUTER, path, "get", http.get(url, params={"ReservationStatus": "pending"})
    )
    [pending] = listed["reservations"]
    component = "taskrouter.v1.workspace.worker.worker_reservation"
    assert set(pending) == properties_of(TASKROUTER, component)
    one = f"{url}/{pending['sid']}"
    validate(TASKROUTER, path + "/{Sid}", "get", http.get(one))
    rejected = http.post(one, data={"ReservationStatus": "rejected"})
    assert (
        validate(TASKROUTER, path + "/{Sid}", "post", rejected)["reservation_status"] == "rejected"
    )


def test_flex_user_v2(fake: FakeFlexServer, http: requests.Session) -> None:
    user = fake.state.users.provision("v2@example.com", email="v2@example.com", roles=["agent"])[0]
    url = f"{fake.url}/v2/Instances/{fake.flex_instance_sid}/Users/{user.sid}"
    path = "/v2/Instances/{InstanceSid}/Users/{FlexUserSid}"
    fetched = validate("twilio_flex_v2.json", path, "get", http.get(url))
    assert set(fetched) == properties_of("twilio_flex_v2.json", "flex.v2.flex_user")
    validate("twilio_flex_v2.json", path, "post", http.post(url, data={"Locale": "fr-FR"}))


def test_the_validator_rejects_a_wrong_shape() -> None:
    _, registry = _spec(TASKROUTER)
    ref = SPEC_URI.format(TASKROUTER) + "#/components/schemas/taskrouter.v1.workspace.worker"
    validator = Draft202012Validator({"$ref": ref}, registry=registry, format_checker=FORMATS)
    assert not validator.is_valid({"available": "no"})
    assert not validator.is_valid({"date_created": "2024-01-01 00:00:00"})
    assert not validator.is_valid({"sid": "XX123"})
    assert validator.is_valid({"attributes": None, "sid": "WK" + "a" * 32})
