"""Resources as the directory stores them, and the indexed columns read from their documents.

Does: name what a read returns (:class:`StoredResource`), what a group change asks of its
membership (:class:`MembershipChange`), the comparison form of case-insensitive values
(:func:`comparison_key`), and the indexed columns of a user or group document.
Does not: read or write rows (``store.directory`` does), or parse SCIM payloads.

A *document* is a resource as stored: the wire form without ``id``, ``meta`` and (for groups)
``members``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unicodedata import normalize


def comparison_key(value: str) -> str:
    """NFC + lowercase: the form case-insensitive attributes are compared and kept unique in."""
    return normalize("NFC", normalize("NFC", value).lower())


@dataclass(frozen=True)
class StoredResource:
    """A user or group as stored: its id, document, version (the ETag's number, 1 on create,
    one more on each change) and times (aware, UTC). The store fills all of them but the
    document; ``meta`` is the HTTP layer's to render from them."""

    id: str
    document: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MembershipChange:
    """Member ids to add and remove, applied after ``replace`` (None: membership kept)."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    replace: frozenset[str] | None = None
    # Member display names the client sent, by member id (kept as sent, returned on GET).
    displays: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove and self.replace is None


def utc(value: datetime) -> datetime:
    """``value`` as an aware time: SQLite hands back naive UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stored(row: Mapping[Any, Any]) -> StoredResource:
    """The resource of a ``users`` or ``groups`` row."""
    return StoredResource(
        id=row["id"],
        document=dict(row["resource"]),
        version=row["version"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _work_email(document: Mapping[str, Any]) -> str | None:
    emails = [e for e in document.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    for pick in (
        lambda e: e.get("type") == "work",
        lambda e: e.get("primary") is True,
        lambda e: True,
    ):
        for email in emails:
            if pick(email):
                return str(email["value"])
    return None


def user_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of a user document."""
    user_name = str(document["userName"])
    display_name = document.get("displayName")
    email = _work_email(document)
    return {
        "user_name": user_name,
        "user_name_key": comparison_key(user_name),
        "external_id": document.get("externalId"),
        "display_name": display_name,
        "display_name_key": comparison_key(display_name) if display_name else None,
        "email_key": comparison_key(email) if email else None,
        "active": document.get("active", True) is not False,
    }


def group_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of a group document."""
    display_name = str(document["displayName"])
    return {
        "display_name": display_name,
        "display_name_key": comparison_key(display_name),
        "external_id": document.get("externalId"),
    }
