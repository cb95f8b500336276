"""Which users or groups a list request selects, and one page of them.

Does: turn a parsed SCIM filter and ``sortBy`` into a :class:`Selection` (its WHERE clause and
ORDER BY from ``store.query``, and whether it is an index lookup), and read one page of a
selection with the total of its matches, without a ``count(*)`` when the page holds the last
match.
Does not: parse filters (``store.query.filters.parse_filter``), or open connections
(``store.directory`` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim2_models import Resource
from scim2_models.path import AttrPath, FilterNode
from sqlalchemy import ColumnElement, Connection, Table, func, select

from scimbridge.store.database import Database
from scimbridge.store.query import filters, sort_keys
from scimbridge.store.resources import StoredResource, stored
from scimbridge.store.tables import users

# OFFSET is a signed 64-bit integer on both engines; no row lies past it anyway.
_MAX_OFFSET = 2**62


@dataclass(frozen=True)
class Selection:
    """The resources a list request wants, in its order: what :meth:`Directory.select_users`
    and :meth:`Directory.select_groups` make of a filter and ``sortBy``.

    ``index_lookup``: the filter pins an indexed identifier by equality (``userName eq "…"``,
    ``id eq``, ``externalId eq``, group ``displayName eq``), alone or as a term of an ``and``,
    so the query costs an index lookup, whatever the number of rows stored.
    """

    table: Table
    where: ColumnElement[bool] | None
    order: ColumnElement[Any] | None
    index_lookup: bool


def selection(
    database: Database,
    table: Table,
    filter: FilterNode | None,
    sort_by: AttrPath | None,
    model: type[Resource[Any]] | None,
    descending: bool,
) -> Selection:
    """The rows of ``table`` (users or groups) ``filter`` matches, ordered by ``sort_by``
    (without it last), the names bound to ``model``."""
    dialect = database.dialect_name
    is_users = table is users
    where = order = None
    if (filter is not None or sort_by is not None) and model is None:
        raise ValueError("a filter or sortBy needs the resource model")
    if filter is not None:
        to_where = filters.user_filter if is_users else filters.group_filter
        where = to_where(filter, model, dialect)  # type: ignore[arg-type]
    if sort_by is not None:
        to_key = sort_keys.user_sort_key if is_users else sort_keys.group_sort_key
        key = to_key(sort_by, model, dialect)  # type: ignore[arg-type]
        # Resources without the attribute sort last on both engines (RFC 7644 §3.4.2.3).
        order = (key.desc() if descending else key.asc()).nulls_last()
    return Selection(table, where, order, filters.is_index_lookup(where, table))


def page(
    conn: Connection, selection: Selection, offset: int, limit: int
) -> tuple[int, list[StoredResource]]:
    """(total, rows ``offset`` to ``offset + limit``): in the selection's order, then by creation
    time and id."""
    table, where = selection.table, selection.where
    count = select(func.count()).select_from(table)
    rows_query = select(table)
    if where is not None:
        count = count.where(where)
        rows_query = rows_query.where(where)
    ordering = [selection.order] if selection.order is not None else []
    rows_query = rows_query.order_by(*ordering, table.c.created_at, table.c.id)
    rows: Sequence[Mapping[Any, Any]] = []
    if limit > 0 and offset < _MAX_OFFSET:
        rows = conn.execute(rows_query.offset(offset).limit(limit)).mappings().all()
        if len(rows) < limit and (rows or offset == 0):
            # The page holds the last match, so the total needs no count(*) (a full scan on an
            # unindexed filter).
            return offset + len(rows), [stored(r) for r in rows]
    total = int(conn.scalar(count) or 0)
    return total, [stored(r) for r in rows]
