"""How long a value the store keeps, as the store publishes it.

Does: give the length each indexed column holds, by the name ``resources.user_columns`` and
``resources.group_columns`` give it, and the length of a member's display, read from the table
declarations once, so a value too long can be refused before a write (PostgreSQL would fail the
write; SQLite would keep it).
Does not: refuse anything itself, or word the refusal (``scim.documents`` does).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import String, Table

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
