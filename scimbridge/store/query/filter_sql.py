"""The walk from a bound SCIM filter tree to one SQLAlchemy boolean expression.

Does: resolve each attribute of a filter against its scim2-models model, and read it from where
the store keeps it: an indexed column, the group membership table, or the JSON document; build
correlated ``EXISTS`` for multi-valued attributes and value selections. Meanings follow
``ScimFilter.match`` (scim2-models' ``_Evaluator``): ``ne`` is ``NOT eq`` (on a multi-valued
attribute: no value equals), values of another type never match, ``pr`` per RFC 7644.
Does not: parse or bound filters, apply Entra's leniencies (``store.query.filters`` does), or know
which columns a table has (``store.query.filter_columns`` does).
"""

from __future__ import annotations

from dataclasses import replace
from inspect import isclass
from typing import Any, Protocol, cast

from scim2_models import BaseModel, Extension, InvalidFilterException, SCIMException, ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from scimbridge.config.settings import CUSTOM_EXTENSION_PREFIX
from scimbridge.store.query.filter_columns import (
    ColumnTarget,
    Relation,
    Targets,
    compare_column,
    fold,
    present_column,
)
from scimbridge.store.query.json_sql import JsonDialect, JsonNode, compare, present, present_object

# Operators whose string operand every matching value contains.
_HINTED = frozenset(
    {CompareOperator.eq, CompareOperator.co, CompareOperator.sw, CompareOperator.ew}
)


def bound_filter(model: type[BaseModel], node: Any) -> ScimFilter[Any]:
    """``ScimFilter[model](node)``: checks operators and values against the model."""
    return cast(ScimFilter[Any], ScimFilter[model](node))  # type: ignore[valid-type]


def is_complex(binding: AttributeBinding) -> bool:
    """Whether the bound attribute (not its sub-attribute) holds sub-attributes."""
    return isclass(binding.field_type) and issubclass(binding.field_type, BaseModel)


def json_keys(binding: AttributeBinding) -> tuple[tuple[str, ...], str | None]:
    """The document keys of a bound attribute (extension URN first) and its sub-attribute key."""
    schema = getattr(binding.model, "__schema__", None)
    rest, prefix = binding.urn, cast(tuple[str, ...], ())
    if schema and binding.urn.lower().startswith(f"{schema}:".lower()):
        rest = binding.urn[len(schema) + 1 :]
        if issubclass(binding.model, Extension):
            prefix = (str(schema),)
    attr, _, sub = rest.partition(".")
    return (*prefix, attr), sub or None


class Leaves(Protocol):
    """What a filter's leaves mean in one place: a resource, an array item, a membership row."""

    def compare(self, node: Comparison) -> ColumnElement[bool]: ...
    def present(self, node: Present) -> ColumnElement[bool]: ...
    def select(self, node: ValuePath) -> ColumnElement[bool]: ...


class Scope:
    """The attributes one filter (or the inner filter of a value selection) can name.

    ``bound`` resolves names against the model; ``root`` is the JSON document (None when there
    is none, as in a membership row); ``row`` is the whole stored document of the row (None
    inside value selections): extension objects no model declares are read from it, and its
    text is searched first for compared strings, to skip parsing rows that cannot match.
    """

    def __init__(
        self,
        d: JsonDialect,
        bound: ScimFilter[Any],
        root: JsonNode | None,
        targets: Targets,
        *,
        row: JsonNode | None = None,
        known_schemas: frozenset[str] = frozenset(),
    ) -> None:
        self.d, self.bound, self.root, self.targets = d, bound, root, targets
        self.row, self.known_schemas = row, known_schemas

    # -- resolution -----------------------------------------------------------------------

    def is_undeclared(self, attr_path: AttrPath) -> bool:
        """An extension URN the model does not declare (Entra's custom extension attributes)."""
        uri = (attr_path.uri or "").lower()
        return (
            self.row is not None
            and uri.startswith(CUSTOM_EXTENSION_PREFIX)
            and uri not in self.known_schemas
        )

    def _column(self, binding: AttributeBinding) -> ColumnTarget | None:
        key = (binding.field_name, binding.sub_field_name)
        if binding.model is not self.bound.model or key not in self.targets.columns:
            return None
        target = self.targets.columns[key]
        if target is None:
            raise InvalidFilterException(detail=f"'{binding.urn}' cannot be filtered on")
        return target

    def _relation(self, binding: AttributeBinding) -> Relation | None:
        if binding.model is not self.bound.model:
            return None
        return self.targets.relations.get(binding.field_name)

    def _document(self, binding: AttributeBinding) -> tuple[JsonNode, str | None]:
        if self.root is None:
            raise InvalidFilterException(detail=f"'{binding.urn}' cannot be filtered on")
        keys, sub = json_keys(binding)
        return self.root.child(*keys), sub

    def _relation_rows(
        self, relation: Relation, sub: str | None
    ) -> tuple[Any, ColumnElement[bool], ColumnTarget | None, dict[str, ColumnTarget | None]]:
        if self.targets.owner_id is None:
            raise InvalidFilterException(detail="memberships cannot be filtered here")
        source, correlated, columns = relation.rows(self.targets.owner_id)
        if sub is not None and columns.get(sub) is None:
            raise InvalidFilterException(detail=f"'{sub}' of a membership cannot be filtered on")
        return source, correlated, columns.get(sub) if sub else None, columns

    # -- leaves ---------------------------------------------------------------------------

    def compare(self, node: Comparison) -> ColumnElement[bool]:
        """The comparison ``node`` (never ``ne``: the visitor negates ``eq``)."""
        if self.is_undeclared(node.attr_path):
            return self._compare_undeclared(node)
        binding = self.bound.resolve_comparison(node.attr_path, strict=True)
        assert binding is not None  # bound filters always resolve or raise under strict
        operand = binding.comparable(coerce_value(binding, node.value, node.op))
        if (target := self._column(binding)) is not None:
            return compare_column(self.d, target, node.op, operand)
        if (relation := self._relation(binding)) is not None:
            source, correlated, column, _ = self._relation_rows(relation, binding.sub_field_name)
            assert column is not None  # comparisons on members address members.value at least
            rows: Select[Any] = select(literal_column("1")).select_from(source).where(correlated)
            if operand is None and node.op == CompareOperator.eq:
                return or_(~rows.exists(), rows.where(column.expr.is_(None)).exists())
            return rows.where(compare_column(self.d, column, node.op, operand)).exists()
        hinted = [operand] if node.op in _HINTED and isinstance(operand, str) else []
        return self._hinted(self._compare_document(binding, node.op, operand), hinted)

    def _compare_document(
        self, binding: AttributeBinding, op: CompareOperator, operand: Any
    ) -> ColumnElement[bool]:
        head, sub = self._document(binding)
        if binding.is_multivalued:
            items = self.d.elements(head)
            leaf = items.node.child(sub) if sub else items.node
            if operand is None and op == CompareOperator.eq:
                missing = and_(
                    ~self.d.kind_is(items.node, "absent"), self.d.kind_is(leaf, "absent")
                )
                return or_(self.d.kind_is(head, "absent"), items.exists(missing))
            return items.exists(compare(self.d, leaf, op, operand, case_exact=binding.case_exact))
        if sub is None and is_complex(binding):
            # A complex value equals no scalar (scim2-models), only null when it is absent.
            is_null = operand is None and op == CompareOperator.eq
            return self.d.kind_is(head, "absent") if is_null else false()
        leaf = head.child(sub) if sub else head
        return compare(self.d, leaf, op, operand, case_exact=binding.case_exact)

    def _hinted(self, test: ColumnElement[bool], values: list[str]) -> ColumnElement[bool]:
        """``test``, preceded by the engine's cheap text search for ``values`` in the row."""
        if self.row is None:
            return test
        hints = [self.d.text_hint(self.row.doc, value) for value in values]
        usable = [hint for hint in hints if hint is not None]
        return and_(*usable, test) if usable else test

    def present(self, node: Present) -> ColumnElement[bool]:
        if self.is_undeclared(node.attr_path):
            rows, value = self.undeclared_rows(node.attr_path)
            return rows.where(present(self.d, value)).exists()
        binding = self.bound.resolve(node.attr_path, strict=True)
        assert binding is not None
        if (target := self._column(binding)) is not None:
            return present_column(target)
        if (relation := self._relation(binding)) is not None:
            source, correlated, column, _ = self._relation_rows(relation, binding.sub_field_name)
            rows = select(literal_column("1")).select_from(source).where(correlated)
            return rows.where(present_column(column)).exists() if column else rows.exists()
        head, sub = self._document(binding)
        if binding.is_multivalued:
            items = self.d.elements(head)
            if sub:
                return items.exists(present(self.d, items.node.child(sub)))
            if is_complex(binding):
                return items.exists(present_object(self.d, items.node))
            return items.exists(present(self.d, items.node))
        if sub:
            return present(self.d, head.child(sub))
        return present_object(self.d, head) if is_complex(binding) else present(self.d, head)

    def select(self, node: ValuePath) -> ColumnElement[bool]:
        """``attr[filter]``: some value of the multi-valued attribute satisfies ``filter``."""
        if self.is_undeclared(node.attr_path):
            raise InvalidFilterException(
                detail=f"'{node.attr_path}' is not declared; only simple comparisons apply to it"
            )
        binding = self.bound.resolve(node.attr_path, strict=True)
        assert binding is not None
        item_model = binding.field_type
        if (relation := self._relation(binding)) is not None:
            source, correlated, _, columns = self._relation_rows(relation, None)
            targets = Targets(columns={(name, None): col for name, col in columns.items()})
            inner = Scope(
                self.d,
                bound_filter(cast(type[BaseModel], item_model), node.val_filter),
                None,
                targets,
            )
            where = SqlVisitor(inner).visit(node.val_filter)
            return select(literal_column("1")).select_from(source).where(correlated, where).exists()
        head, _ = self._document(binding)
        items = self.d.elements(head)
        if not is_complex(binding):
            where = SqlVisitor(_ScalarScope(self.d, items.node, binding)).visit(node.val_filter)
            return items.exists(where)
        bound = bound_filter(cast(type[BaseModel], item_model), node.val_filter)
        where = SqlVisitor(Scope(self.d, bound, items.node, Targets())).visit(node.val_filter)
        return self._hinted(items.exists(where), _required_strings(bound, node.val_filter))

    # -- extension attributes no model declares ----------------------------------------------

    def undeclared_rows(
        self, attr_path: AttrPath, *, refuse: type[SCIMException] = InvalidFilterException
    ) -> tuple[Select[Any], JsonNode]:
        """Rows of each member ``attr`` of each object ``uri`` in the document (any case)."""
        if attr_path.sub_attr is not None or self.row is None:
            raise refuse(detail=f"'{attr_path}' is not declared; only its own value can be used")
        extensions, extension_name = self.d.members(self.row)
        attributes, attribute_name = self.d.members(extensions.node)
        source = extensions.source.join(attributes.source, true())
        rows: Select[Any] = (
            select(literal_column("1"))
            .select_from(source)
            .where(
                extensions.guard,
                attributes.guard,
                func.lower(extension_name) == (attr_path.uri or "").lower(),
                func.lower(attribute_name) == attr_path.attr.lower(),
            )
        )
        return rows, attributes.node

    def _compare_undeclared(self, node: Comparison) -> ColumnElement[bool]:
        rows, value = self.undeclared_rows(node.attr_path)
        operand = fold(node.value) if isinstance(node.value, str) else node.value
        if operand is None and node.op == CompareOperator.eq:
            return ~rows.where(~self.d.kind_is(value, "absent")).exists()
        test = rows.where(compare(self.d, value, node.op, operand, case_exact=False)).exists()
        return self._hinted(
            test, [operand] if node.op in _HINTED and isinstance(operand, str) else []
        )


def _required_strings(bound: ScimFilter[Any], val_filter: FilterNode) -> list[str]:
    """Strings every matching item holds: operands of eq/co/sw/ew terms joined by ``and``."""
    and_terms = isinstance(val_filter, LogicalExpr) and val_filter.op == LogicalOperator.and_
    terms = val_filter.terms if isinstance(val_filter, LogicalExpr) and and_terms else (val_filter,)
    required = []
    for term in terms:
        if isinstance(term, Comparison) and term.op in _HINTED:
            binding = bound.resolve_comparison(term.attr_path, strict=False)
            operand = coerce_value(binding, term.value, term.op) if binding else None
            if binding is not None and isinstance(operand, str):
                required.append(binding.comparable(operand))
    return required


class _ScalarScope:
    """The values of a multi-valued attribute that is not complex: ``value`` is the item itself."""

    def __init__(self, d: JsonDialect, item: JsonNode, binding: AttributeBinding) -> None:
        self.d, self.item, self.binding = d, item, binding

    def _targets_item(self, attr_path: AttrPath) -> bool:
        return attr_path.attr.lower() == "value" and not attr_path.sub_attr and not attr_path.uri

    def compare(self, node: Comparison) -> ColumnElement[bool]:
        if not self._targets_item(node.attr_path):
            return false()
        operand = self.binding.comparable(node.value)
        return compare(self.d, self.item, node.op, operand, case_exact=self.binding.case_exact)

    def present(self, node: Present) -> ColumnElement[bool]:
        return present(self.d, self.item) if self._targets_item(node.attr_path) else false()

    def select(self, node: ValuePath) -> ColumnElement[bool]:
        return false()


class SqlVisitor(FilterVisitor[ColumnElement[bool]]):
    """Turns a filter tree into a two-valued SQL boolean through a :class:`Scope`."""

    def __init__(self, scope: Leaves) -> None:
        self.scope = scope

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        if node.op == CompareOperator.ne:
            return not_(self.scope.compare(replace(node, op=CompareOperator.eq)))
        return self.scope.compare(node)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        return self.scope.present(node)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        return self.scope.select(node)
