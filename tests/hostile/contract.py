"""What every answer to a hostile request must look like, and proof that a refusal changed nothing.

``check_answer`` is the contract: never a 5xx; every 4xx is an RFC 7644 §3.12 Error
(``application/scim+json``, the Error schema, ``status`` the HTTP status as a string, ``scimType``
from RFC 7644 Table 9 when present). ``Snapshot`` reads every row a SCIM request may write, so a
test compares the store before and after a refused request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from scimbridge.store.tables import audit_log, group_members, groups, outbox, users

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_TYPES = frozenset(
    {
        "invalidFilter",
        "tooMany",
        "uniqueness",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "sensitive",
    }
)
# scimType only applies to 400 (and 409 uniqueness, 413 tooMany) in RFC 7644 Table 9.
SCIM_TYPE_STATUSES = frozenset({400, 409, 413})


def check_answer(response: httpx.Response) -> None:
    """Fail unless ``response`` is a success or a well-formed SCIM refusal (never a 5xx)."""
    what = f"{response.request.method} {response.request.url.path}"
    root_search = response.request.url.path.rstrip("/") == "/scim/v2/.search"
    # RFC 7644 §3.4.3 lets a provider answer 501 to a search across resource types.
    assert response.status_code < 500 or (root_search and response.status_code == 501), (
        f"{what} → {response.status_code}: {response.text[:500]}"
    )
    if response.status_code < 400:
        return
    assert response.headers.get("content-type", "").startswith("application/scim+json"), (
        f"{what} → {response.status_code} as {response.headers.get('content-type')}"
    )
    error = response.json()
    assert error["schemas"] == [ERROR_SCHEMA], error
    assert error["status"] == str(response.status_code), error
    assert isinstance(error.get("detail", ""), str), error
    if "scimType" in error:
        assert error["scimType"] in SCIM_TYPES, error
        assert response.status_code in SCIM_TYPE_STATUSES, error


def refused(response: httpx.Response) -> bool:
    check_answer(response)
    return response.status_code >= 400


@dataclass(frozen=True)
class Snapshot:
    """Every row a SCIM request writes: resources with their versions, members, outbox, audit."""

    users: tuple[tuple[str, int, str], ...]
    groups: tuple[tuple[str, int, str], ...]
    members: tuple[tuple[str, str, str | None], ...]
    outbox: tuple[tuple[str, int], ...]
    audit_rows: int

    @classmethod
    def take(cls, engine: Engine) -> Snapshot:
        with engine.connect() as conn:
            return cls(
                users=tuple(
                    _documents(conn.execute(select(users.c.id, users.c.version, users.c.resource)))
                ),
                groups=tuple(
                    _documents(
                        conn.execute(select(groups.c.id, groups.c.version, groups.c.resource))
                    )
                ),
                members=tuple(
                    sorted(
                        (r[0], r[1], r[2])
                        for r in conn.execute(
                            select(
                                group_members.c.group_id,
                                group_members.c.user_id,
                                group_members.c.display,
                            )
                        )
                    )
                ),
                outbox=tuple(
                    sorted(
                        (r[0], r[1])
                        for r in conn.execute(select(outbox.c.user_id, outbox.c.generation))
                    )
                ),
                audit_rows=int(conn.scalar(select(func.count()).select_from(audit_log)) or 0),
            )


def _documents(rows: Any) -> Iterator[tuple[str, int, str]]:
    for row in sorted(rows, key=lambda r: r[0]):
        yield row[0], row[1], json.dumps(row[2], sort_keys=True)


class Store:
    """The database behind a served app, for before/after comparisons."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def snapshot(self) -> Snapshot:
        return Snapshot.take(self.engine)

    def send(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        """Send ``request``; if it is refused, assert the store is exactly as before."""
        before = self.snapshot()
        response = client.send(request)
        if refused(response):
            after = self.snapshot()
            assert after == before, f"refused {request.method} {request.url.path} changed the store"
        return response
