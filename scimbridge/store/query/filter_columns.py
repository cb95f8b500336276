"""Where user and group attributes live outside the JSON document, and how those are compared.

Does: map the attributes the store keeps in columns (``id``, ``externalId``, ``userName``,
``displayName``, ``active``, ``meta.*``) and in the membership table (group ``members``, user
``groups``) to SQL, and compare or test them with the meaning ``store.query.json_sql`` gives
JSON values: two-valued, values of another type never match, strings already in comparison form.
Does not: resolve attribute names (``store.query.filter_sql``) or read JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unicodedata import normalize

from scim2_models.path import CompareOperator
from sqlalchemy import ColumnElement, String, Table, and_, false, literal_column, true
from sqlalchemy import cast as sql_cast

from scimbridge.store.query.json_sql import PATTERNS, JsonDialect, compare_strings, order
from scimbridge.store.tables import group_members, groups, users


def fold(value: str) -> str:
    """NFC + lowercase: the comparison form of a case-insensitive string."""
    return normalize("NFC", normalize("NFC", value).lower())


@dataclass(frozen=True)
class ColumnTarget:
    """An attribute kept in a column; strings there are in the attribute's comparison form."""

    expr: ColumnElement[Any]
    nullable: bool = False


@dataclass(frozen=True)
class Relation:
    """A multi-valued attribute kept as rows of a link table (``members``, ``groups``)."""

    link: Table
    owner_key: str
    other_key: str
    other: Table
    item_type: str

    def rows(
        self, owner_id: ColumnElement[Any]
    ) -> tuple[Any, ColumnElement[bool], dict[str, ColumnTarget | None]]:
        """A fresh FROM clause, its correlation to ``owner_id``, and each sub-attribute's column."""
        link, other = self.link.alias(), self.other.alias()
        source = link.join(other, other.c.id == link.c[self.other_key])
        columns: dict[str, ColumnTarget | None] = {
            "value": ColumnTarget(link.c[self.other_key]),
            "display": ColumnTarget(other.c.display_name_key, nullable=True),
            # type is not caseExact: kept folded, as operands arrive.
            "type": ColumnTarget(literal_column(f"'{fold(self.item_type)}'", String)),
            "ref": None,
        }
        return source, link.c[self.owner_key] == owner_id, columns


@dataclass(frozen=True)
class Targets:
    """Where a scope's attributes live besides the JSON document.

    ``columns`` maps (attribute, sub-attribute) Python names to a column, ``ALWAYS_PRESENT``
    for a complex attribute the store always fills (``meta``), or None when it cannot be
    filtered on. ``relations`` maps an attribute name to its link table.
    """

    columns: Mapping[tuple[str, str | None], ColumnTarget | None] = field(default_factory=dict)
    relations: Mapping[str, Relation] = field(default_factory=dict)
    owner_id: ColumnElement[Any] | None = None


ALWAYS_PRESENT = ColumnTarget(literal_column("1"))


def compare_column(
    d: JsonDialect, target: ColumnTarget, op: CompareOperator, operand: Any
) -> ColumnElement[bool]:
    """``column op operand`` (not ``ne``), False on a NULL column or an operand of another type."""
    expr = target.expr
    if target is ALWAYS_PRESENT:
        return false()
    if operand is None:
        return expr.is_(None) if op == CompareOperator.eq and target.nullable else false()
    if isinstance(operand, str):
        if not isinstance(expr.type, String):
            return false()
        test = compare_strings(d, expr, op, operand)
    elif op in PATTERNS:
        return false()
    elif isinstance(operand, datetime):
        moment = operand if operand.tzinfo else operand.replace(tzinfo=UTC)
        test = order(op, expr, moment.astimezone(UTC))
    else:
        test = order(op, expr, operand)
    return and_(expr.is_not(None), test) if target.nullable else test


def present_column(target: ColumnTarget) -> ColumnElement[bool]:
    """RFC 7644 ``pr`` on a column: not NULL, and not an empty string."""
    expr = target.expr
    if target is ALWAYS_PRESENT:
        return true()
    test = expr != "" if isinstance(expr.type, String) else true()
    return and_(expr.is_not(None), test) if target.nullable else test


def _common_columns(
    table: Table, resource_type: str
) -> dict[tuple[str, str | None], ColumnTarget | None]:
    return {
        ("id", None): ColumnTarget(table.c.id),
        ("external_id", None): ColumnTarget(table.c.external_id, nullable=True),
        ("display_name", None): ColumnTarget(
            table.c.display_name_key, nullable=bool(table.c.display_name_key.nullable)
        ),
        ("meta", None): ALWAYS_PRESENT,
        ("meta", "created"): ColumnTarget(table.c.created_at),
        ("meta", "last_modified"): ColumnTarget(table.c.updated_at),
        ("meta", "resource_type"): ColumnTarget(literal_column(f"'{resource_type}'", String)),
        # The ETag the HTTP layer sends for this version.
        ("meta", "version"): ColumnTarget(
            literal_column("'W/\"'", String)
            + sql_cast(table.c.version, String)
            + literal_column("'\"'", String)
        ),
        ("meta", "location"): None,
    }


USER_TARGETS = Targets(
    columns={
        **_common_columns(users, "User"),
        ("user_name", None): ColumnTarget(users.c.user_name_key),
        ("active", None): ColumnTarget(users.c.active),
        ("password", None): None,
    },
    relations={"groups": Relation(group_members, "user_id", "group_id", groups, "direct")},
    owner_id=users.c.id,
)
GROUP_TARGETS = Targets(
    columns=_common_columns(groups, "Group"),
    relations={"members": Relation(group_members, "group_id", "user_id", users, "User")},
    owner_id=groups.c.id,
)
