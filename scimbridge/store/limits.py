"""How long a value the store keeps, as the store publishes it.

Does: give the length each indexed column holds, by the name ``resources.user_columns`` and
``resources.group_columns`` give it, and the length of a member's display, read from the table
declarations once; refuse (``TooLong``) a row whose indexed value is longer than its column holds,
measured as stored (case-folded keys can grow), before a write: PostgreSQL would fail the write,
SQLite would keep it.
Does not: word the refusal for a client (``scim.errors`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import String, Table

from scimbridge.store.errors import TooLong
from scimbridge.store.tables import group_members, groups, users


def _lengths(table: Table) -> Mapping[str, int]:
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }


# Column name → the most characters it holds (columns without a limit are absent).
USER_COLUMN_LENGTHS: Mapping[str, int] = _lengths(users)
GROUP_COLUMN_LENGTHS: Mapping[str, int] = _lengths(groups)
# The most characters of a member display the client sent.
MEMBER_DISPLAY_LENGTH: int = _lengths(group_members)["display"]


def checked(columns: dict[str, Any], lengths: Mapping[str, int]) -> dict[str, Any]:
    """``columns`` (a row's indexed values), refused with ``TooLong`` if one exceeds its length."""
    for name, value in columns.items():
        limit = lengths.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise TooLong(name, limit)
    return columns
