"""The two engines' JSON functions behind :class:`~scimbridge.store.query.json_sql.JsonDialect`.

Does: SQLite through JSON1 (``json_type``, ``json_extract``, ``json_each``, GLOB for patterns)
and PostgreSQL through JSONB (``jsonb_typeof``, ``jsonb_extract_path``, ``jsonb_array_elements``,
``jsonb_each``, LIKE and ``COLLATE "C"``), each guarded so that no stored value can raise.
Does not: decide what a comparison means (``store.query.json_sql`` does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from scim2_models.path import CompareOperator
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Numeric,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TIMESTAMP

from scimbridge.store.query.json_sql import Items, JsonDialect, JsonNode, Kind


class _Sqlite(JsonDialect):
    _TYPES: dict[str, tuple[str, ...]] = {
        "string": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
        "true": ("true",),
        "false": ("false",),
        "absent": ("null", "missing"),
        "array": ("array",),
        "object": ("object",),
    }
    _TIME_FORMAT = "%Y-%m-%d %H:%M:%f"

    @staticmethod
    def _path(keys: tuple[str, ...]) -> str:
        # Keys come from model names or grammar-checked URNs; a quote would break out of the path.
        if any('"' in key or "\\" in key for key in keys):
            raise ValueError(f"unsupported JSON key in {keys!r}")
        return "$" + "".join(f'."{key}"' for key in keys)

    def _doc(self, node: JsonNode, container: str = "object") -> ColumnElement[Any]:
        """The JSON text to read from; an iterated scalar is not JSON text, so it reads as NULL."""
        if node.item_type is None:
            return node.doc
        return case((node.item_type == (container if not node.keys else "object"), node.doc))

    def _raw_kind(self, node: JsonNode) -> ColumnElement[Any]:
        if node.item_type is not None and not node.keys:
            return node.item_type
        return func.json_type(self._doc(node), self._path(node.keys))

    def kind_is(self, node: JsonNode, *kinds: Kind) -> ColumnElement[bool]:
        names = [name for kind in kinds for name in self._TYPES[kind]]
        return func.coalesce(self._raw_kind(node), "missing").in_(names)

    def text(self, node: JsonNode) -> ColumnElement[Any]:
        if node.item_type is not None and not node.keys:
            return node.doc
        return func.json_extract(self._doc(node), self._path(node.keys))

    def number(self, node: JsonNode) -> ColumnElement[Any]:
        return self.text(node)

    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        return func.strftime(self._TIME_FORMAT, value)

    def timestamp_guard(self, node: JsonNode) -> ColumnElement[bool]:
        return self.kind_is(node, "string")

    def _iterate(self, node: JsonNode, container: Literal["array", "object"]) -> Items:
        args: list[Any] = [self._doc(node, container)]
        if node.keys:
            args.append(self._path(node.keys))
        rows = func.json_each(*args).table_valued("key", "value", "type").alias()
        return Items(
            source=rows,
            node=JsonNode(rows.c.value, item_type=rows.c.type),
            position=rows.c.key,
            guard=self.kind_is(node, container),
        )

    def elements(self, node: JsonNode) -> Items:
        return self._iterate(node, "array")

    def members(self, node: JsonNode) -> tuple[Items, ColumnElement[Any]]:
        items = self._iterate(node, "object")
        return items, items.position

    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        # GLOB is case-sensitive (LIKE is not on SQLite) and can use an index for a prefix.
        escaped = "".join(f"[{char}]" if char in "*?[" else char for char in value)
        glob = {"co": f"*{escaped}*", "sw": f"{escaped}*", "ew": f"*{escaped}"}[op.value]
        return left.op("GLOB", is_comparison=True)(glob)

    def text_hint(self, document: ColumnElement[Any], value: str) -> ColumnElement[bool] | None:
        # json.dumps writes printable ASCII other than quote and backslash verbatim, so a row
        # whose text lacks the value cannot hold it; the test skips parsing most rows' JSON.
        if not value.isascii() or not value.isprintable() or '"' in value or "\\" in value:
            return None
        return func.lower(type_coerce(document, Text)).contains(value.lower(), autoescape=True)

    def nonempty_container(self, node: JsonNode) -> ColumnElement[bool]:
        return and_(
            self.kind_is(node, "array", "object"),
            func.coalesce(self.text(node), "[]").not_in(["[]", "{}"]),
        )


class _Postgres(JsonDialect):
    _TYPES: dict[str, tuple[str, ...]] = {
        "string": ("string",),
        "number": ("number",),
        "boolean": ("boolean",),
        "absent": ("null", "missing"),
        "array": ("array",),
        "object": ("object",),
    }
    # What ::timestamptz reads; a string of another shape would raise instead of not matching.
    _RFC3339 = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"

    @staticmethod
    def _expr(node: JsonNode) -> ColumnElement[Any]:
        if not node.keys:
            return node.doc
        return func.jsonb_extract_path(
            node.doc, *[literal(key, Text) for key in node.keys], type_=JSONB
        )

    def kind_is(self, node: JsonNode, *kinds: Kind) -> ColumnElement[bool]:
        raw = func.coalesce(func.jsonb_typeof(self._expr(node)), "missing")
        tests: list[ColumnElement[bool]] = []
        for kind in kinds:
            if kind in ("true", "false"):
                tests.append(and_(raw == "boolean", self.text(node) == kind))
            else:
                tests.append(raw.in_(self._TYPES[kind]))
        return or_(*tests) if len(tests) > 1 else tests[0]

    def text(self, node: JsonNode) -> ColumnElement[Any]:
        if node.keys:
            return func.jsonb_extract_path_text(
                node.doc, *[literal(key, Text) for key in node.keys], type_=Text
            )
        return node.doc.op("#>>", return_type=Text)(literal_column("'{}'"))

    def number(self, node: JsonNode) -> ColumnElement[Any]:
        return cast(self.text(node), Numeric)

    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        if isinstance(value, str):
            return literal(datetime.fromisoformat(value), TIMESTAMP(timezone=True))
        return cast(value, TIMESTAMP(timezone=True))

    def timestamp_guard(self, node: JsonNode) -> ColumnElement[bool]:
        return case(
            (
                self.kind_is(node, "string"),
                self.text(node).op("~", is_comparison=True)(self._RFC3339),
            ),
            else_=false(),
        )

    def _iterate(self, node: JsonNode, function: str, empty: str, *names: str) -> FromClause:
        guarded = case(
            (
                self.kind_is(node, "array" if function.endswith("elements") else "object"),
                self._expr(node),
            ),
            else_=literal_column(f"'{empty}'::jsonb"),
        )
        columns = [column(name, JSONB if name == "value" else Text) for name in names]
        ordinality = "ordinality" if function.endswith("elements") else None
        rows: FromClause = (
            getattr(func, function)(guarded)
            .table_valued(*columns, with_ordinality=ordinality)
            .alias()
        )
        return rows

    def elements(self, node: JsonNode) -> Items:
        rows = self._iterate(node, "jsonb_array_elements", "[]", "value")
        return Items(rows, JsonNode(rows.c.value), rows.c.ordinality, true())

    def members(self, node: JsonNode) -> tuple[Items, ColumnElement[Any]]:
        rows = self._iterate(node, "jsonb_each", "{}", "key", "value")
        return Items(rows, JsonNode(rows.c.value), rows.c.key, true()), rows.c.key

    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        if op == CompareOperator.co:
            return left.contains(value, autoescape=True)
        if op == CompareOperator.sw:
            return left.startswith(value, autoescape=True)
        return left.endswith(value, autoescape=True)

    def nonempty_container(self, node: JsonNode) -> ColumnElement[bool]:
        return case(
            (
                self.kind_is(node, "array", "object"),
                self._expr(node).not_in(
                    [literal_column("'[]'::jsonb"), literal_column("'{}'::jsonb")]
                ),
            ),
            else_=false(),
        )

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr.collate("C")


_DIALECTS: dict[str, JsonDialect] = {"sqlite": _Sqlite(), "postgresql": _Postgres()}


def json_dialect(dialect_name: str) -> JsonDialect:
    """The JSON reader for an engine's dialect name (``sqlite`` or ``postgresql``)."""
    try:
        return _DIALECTS[dialect_name]
    except KeyError:
        raise ValueError(f"filters support sqlite and postgresql, not {dialect_name!r}") from None
