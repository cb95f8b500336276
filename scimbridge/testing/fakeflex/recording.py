"""Request recording of the fake Flex server.

Does: keep every API request (not the ``/__fake__`` control calls) in arrival order with its route
name, method, path, query, headers and decoded body (form fields or JSON), for assertions in-process
or over ``GET /__fake__/requests``.

Does not: keep secrets. The ``Authorization`` header is replaced by the Basic-auth username alone
(an ``AC``/``SK`` SID), never the token or secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it. Header names are lower-case."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    auth_username: str | None
    form: dict[str, str] = field(default_factory=dict)
    json_body: object = None
    at: float = 0.0  # time.monotonic() when it arrived, for rate assertions

    @property
    def if_match(self) -> str | None:
        return self.headers.get("if-match")

    def as_dict(self) -> dict[str, object]:
        return {
            "route": self.route,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "auth_username": self.auth_username,
            "form": self.form,
            "json": self.json_body,
            "at": self.at,
        }


def basic_auth(authorization: str | None) -> tuple[str, str] | None:
    """Decode ``Basic <b64(user:password)>``; None if absent or malformed."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def decode_body(content_type: str, body: bytes) -> tuple[dict[str, str], object]:
    """(form fields, JSON value) of a body; the first value wins for repeated form keys."""
    if not body:
        return {}, None
    if content_type.startswith("application/x-www-form-urlencoded"):
        form: dict[str, str] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(key, value)
        return form, None
    try:
        return {}, json.loads(body)
    except ValueError:
        return {}, None


def make_record(
    route: str,
    method: str,
    path: str,
    query_string: bytes,
    headers: Mapping[str, str],
    body: bytes,
) -> RecordedRequest:
    """Build a record from raw request parts, dropping the Authorization secret."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        query.setdefault(key, value)
    credentials = basic_auth(headers.get("authorization"))
    kept = {k: v for k, v in headers.items() if k != "authorization"}
    form, json_body = decode_body(headers.get("content-type", ""), body)
    return RecordedRequest(
        route=route,
        method=method,
        path=path,
        query=query,
        headers=kept,
        auth_username=credentials[0] if credentials else None,
        form=form,
        json_body=json_body,
        at=time.monotonic(),
    )


class RequestLog:
    """Append-only list of recorded requests guarded by the shared lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._records: list[RecordedRequest] = []

    def append(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)

    def all(self, route: str | None = None) -> list[RecordedRequest]:
        """Recorded requests in arrival order, optionally only one route."""
        with self._lock:
            return [r for r in self._records if route is None or r.route == route]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
