"""The HTTP side of SCIM requests: bodies, query parameters, ETags, response bodies.

Does: read a JSON body within the size and depth limits (with orjson; the standard library
decides what orjson refuses), accept ``application/scim+json`` and ``application/json``, parse
list parameters (``filter``, ``startIndex``, ``count``, ``attributes``,
``excludedAttributes``, ``sortBy``, ``sortOrder``; unknown ones such as ``aadOptscim062020`` are
ignored), and build ``application/scim+json`` responses and weak ETags.
Does not: authenticate, touch the database, or interpret resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from scim2_models import (
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    PayloadTooLargeException,
    SCIMException,
)
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from scimbridge.config.settings import Limits
from scimbridge.scim.errors import SCIM_MEDIA_TYPE

LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
JSON_MEDIA_TYPES = ("application/scim+json", "application/json")


class UnsupportedMediaType(SCIMException):
    status = 415
    _default_detail = "send the body as application/scim+json or application/json"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``; iterative, so it cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# A run of 19 digits may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(rb"\d{19}")
_NOT_FAST: Any = object()


def _fast_loads(raw: bytes) -> Any:
    """``raw`` parsed by orjson, or ``_NOT_FAST`` when the standard library must decide: orjson
    refuses whatever ``json`` refuses here (and more: lone surrogates, numbers beyond a double),
    so for every body it does not accept, the standard parser gives the answer and the error
    message it always gave."""
    if _LONG_NUMBER.search(raw) is not None:
        return _NOT_FAST
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_FAST


async def read_json(request: Request, limits: Limits) -> Any:
    """Return the parsed body, or raise a SCIMException (400 invalidSyntax, 413, 415)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidSyntaxException(detail="Content-Length is not a number")
        if len(declared) > 18 or int(declared) > limits.max_body_bytes:
            raise PayloadTooLargeException(detail=f"the body exceeds {limits.max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise PayloadTooLargeException(
                    detail=f"the body exceeds {limits.max_body_bytes} bytes"
                )
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # The client went away, or was cut off for sending too slowly: nothing was applied.
        raise InvalidSyntaxException(detail="the body did not arrive in full") from exc
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidSyntaxException(detail="the request body is empty")
    body = _fast_loads(raw)
    if body is _NOT_FAST:
        body = _standard_loads(raw, limits)
    if _depth_exceeds(body, limits.max_json_depth):
        raise InvalidSyntaxException(
            detail=f"the body nests deeper than {limits.max_json_depth} levels"
        )
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return body


def _standard_loads(raw: bytes, limits: Limits) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSyntaxException(detail="the body is not valid UTF-8") from exc
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidSyntaxException(
            detail=f"the body nests deeper than {limits.max_json_depth} levels"
        ) from exc
    except ValueError as exc:
        raise InvalidSyntaxException(detail=f"the body is not valid JSON: {exc}") from exc
    return body


@dataclass(frozen=True)
class ListParams:
    filter: str | None
    start_index: int
    count: int
    attributes: list[str] | None
    excluded_attributes: list[str] | None
    sort_by: str | None
    descending: bool


def _attribute_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    return names or None


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise InvalidValueException(detail=f"{name} must be an integer, got {raw[:40]!r}") from exc


def _param(query: Mapping[str, str], name: str) -> str | None:
    """Query parameter names are matched case-insensitively (Entra and others vary)."""
    if name in query:
        return query[name]
    lowered = name.lower()
    for key, value in query.items():
        if key.lower() == lowered:
            return value
    return None


_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def _check_filter_text(text: str) -> None:
    """Refuse (invalidFilter) NUL or an unpaired surrogate in a filter, raw or as a ``\\u``
    escape in a string value: no database can compare them (PostgreSQL refuses NUL, and neither
    driver can encode a lone surrogate)."""
    values = [text]
    for literal in _STRING_LITERAL.findall(text):
        try:
            values.append(json.loads(literal))
        except ValueError:
            continue  # not a JSON string: the filter parser reports the syntax error
    for value in values:
        if "\x00" in value or (not value.isascii() and not _encodable(value)):
            raise InvalidFilterException(
                detail="filter values cannot hold NUL or unpaired surrogate characters"
            )


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_params(query: Mapping[str, str], limits: Limits) -> ListParams:
    """Parse list parameters. ``startIndex`` < 1 reads as 1; ``count`` is clamped to the limit."""
    start = _int_param(_param(query, "startIndex"), "startIndex")
    count = _int_param(_param(query, "count"), "count")
    order = (_param(query, "sortOrder") or "ascending").strip().lower()
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder must be ascending or descending")
    filter_text = _param(query, "filter")
    if filter_text is not None and len(filter_text) > limits.max_filter_length:
        raise InvalidFilterException(
            detail=f"the filter is longer than {limits.max_filter_length} characters"
        )
    if filter_text is not None:
        _check_filter_text(filter_text)
    return ListParams(
        filter=filter_text if filter_text and filter_text.strip() else None,
        start_index=max(1, start if start is not None else 1),
        count=min(max(0, count if count is not None else limits.default_count), limits.max_results),
        attributes=_attribute_list(_param(query, "attributes")),
        excluded_attributes=_attribute_list(_param(query, "excludedAttributes")),
        sort_by=(_param(query, "sortBy") or "").strip() or None,
        descending=order == "descending",
    )


SEARCH_KEYS = (
    "filter",
    "startIndex",
    "count",
    "attributes",
    "excludedAttributes",
    "sortBy",
    "sortOrder",
)


def search_query(body: Mapping[str, Any]) -> dict[str, str]:
    """A POST ``.search`` body (RFC 7644 §3.4.3) as the query parameters a GET list would carry."""
    folded = {key.lower(): value for key, value in body.items() if isinstance(key, str)}
    query: dict[str, str] = {}
    for name in SEARCH_KEYS:
        value = folded.get(name.lower())
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            query[name] = ",".join(value)
        elif isinstance(value, str | int) and not isinstance(value, bool):
            query[name] = str(value)
        else:
            raise InvalidValueException(detail=f"{name} has the wrong type in the search request")
    return query


# (scheme, Host header, server address) → "scheme://host[:port]"; bounded, since the Host
# header is the client's to choose.
_ORIGINS: dict[tuple[Any, ...], str] = {}
_ORIGINS_KEPT = 64


def _origin(scope: Mapping[str, Any]) -> str:
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")
    key = (scope.get("scheme", "http"), host, tuple(server) if server is not None else None)
    origin = _ORIGINS.get(key)
    if origin is None:
        # Starlette's own reading of the scope (``request.url``), minus the path and query,
        # which never change the scheme or the host it finds.
        url = URL(
            scope={
                "scheme": key[0],
                "server": key[2],
                "path": "/",
                "headers": [(b"host", host)] if host is not None else [],
            }
        )
        origin = f"{url.scheme}://{url.netloc}"
        if len(_ORIGINS) >= _ORIGINS_KEPT:
            _ORIGINS.clear()
        _ORIGINS[key] = origin
    return origin


def request_base_url(request: Request) -> str:
    """The SCIM base URL a request came in under: ``request.url``'s scheme and host, and the
    ``root_path`` it is mounted at (/scim/v2, behind any proxy prefix). Parsing the whole URL of
    every request for it cost a few per cent of a request."""
    root: str = request.scope.get("root_path", "")
    return _origin(request.scope) + root


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etags(header: str | None) -> set[int] | None:
    """The versions an ``If-Match``/``If-None-Match`` header names; None for absent or ``*``.

    A tag that is not one we issue (``W/"²"``, a 5000-digit number, garbage) names no version:
    it never matches (412 for ``If-Match``, no effect for ``If-None-Match``), never raises."""
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for item in header.split(","):
        tag = item.strip().removeprefix("W/").strip('"')
        # str.isdigit() is true for "²" and other non-ASCII digits int() refuses.
        if tag.isascii() and tag.isdigit() and len(tag) <= 18:
            versions.add(int(tag))
        else:
            versions.add(-1)  # names no version we ever issue: never matches
    return versions


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:
        # An integer beyond 64 bits or a key that is not a string: the standard library
        # writes them.
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def scim_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _dumps(body),
        status_code=status,
        media_type=SCIM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def list_response(resources: list[dict[str, Any]], total: int, start_index: int) -> Response:
    return scim_response(
        {
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )
