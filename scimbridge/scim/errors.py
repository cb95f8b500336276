"""RFC 7644 §3.12 error responses.

Does: turn a refusal (a scim2-models ``SCIMException``, a store error, or a status and a detail)
into an ``application/scim+json`` Error body with a string ``status`` and the right ``scimType``.
Does not: decide *whether* a request is refused, or log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from scim2_models import SCIMException
from starlette.responses import Response

from scimbridge.store.errors import (
    Conflict,
    NotFound,
    StoreError,
    StoreUnavailable,
    TooLong,
    UnknownMembers,
    VersionMismatch,
)

SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
RETRY_AFTER_SECONDS = 5


def error_response(
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, object] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=SCIM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def from_scim_exception(exc: SCIMException) -> Response:
    return error_response(exc.status, exc.detail, exc.scim_type or None)


# The SCIM attribute each indexed column is read from, for the refusal's wording.
_COLUMN_ATTRIBUTES = {
    "user_name": "userName",
    "user_name_key": "userName",
    "external_id": "externalId",
    "display_name": "displayName",
    "display_name_key": "displayName",
    "email_key": "emails.value",
}


def from_store_error(exc: StoreError) -> Response:
    if isinstance(exc, NotFound):
        return error_response(404, f"{exc.resource_type} {exc.resource_id} not found")
    if isinstance(exc, Conflict):
        return error_response(409, f"{exc.attribute} is already in use", "uniqueness")
    if isinstance(exc, VersionMismatch):
        return error_response(412, "the resource changed since the version named in If-Match")
    if isinstance(exc, TooLong):
        attribute = _COLUMN_ATTRIBUTES.get(exc.column, exc.column)
        return error_response(
            400, f"{attribute} is longer than {exc.limit} characters", "invalidValue"
        )
    if isinstance(exc, UnknownMembers):
        return error_response(400, str(exc), "invalidValue")
    if isinstance(exc, StoreUnavailable):
        return database_unavailable()
    return error_response(500, "internal error")


def database_unavailable() -> Response:
    """503 with ``Retry-After``: the database could not be reached or stayed locked."""
    return error_response(
        503,
        "the database is unavailable; nothing was changed, retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
