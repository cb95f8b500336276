"""A small reader of SCIM attribute paths over a stored user document.

Does: parse the paths a mapping names (``userName``, ``name.givenName``,
``emails[type eq "work"].value``, ``urn:…:enterprise:2.0:User:department``) and read them from a
JSON-ready SCIM document, matching attribute names case-insensitively as SCIM requires.
Does not: validate documents against a schema, write values, or understand more filter grammar than
``attr op value`` terms joined by ``and`` (ops ``eq ne co sw ew`` and ``attr pr``). The SCIM layer
owns the full RFC 7644 grammar; this reader only has to find values in documents that layer stored.

Reading never raises: a missing attribute, a type mismatch or a filter that matches nothing all
read as ``None``. A path that crosses a multi-valued attribute reads as a list of the values found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CORE_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
MAX_PATH_LENGTH = 512
FILTER_OPERATORS = ("eq", "ne", "co", "sw", "ew")

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$\-]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_KEYWORD = re.compile(r"[A-Za-z]+")

FilterValue = str | int | float | bool | None


class PathError(ValueError):
    """A path does not parse. ``offset`` is the 0-based index of the offending character."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at position {offset + 1}")
        self.reason = message
        self.offset = offset


@dataclass(frozen=True)
class PathComparison:
    """One filter term: ``attribute operator value``; operator ``pr`` ignores ``value``."""

    attribute: str
    operator: str
    value: FilterValue = None


@dataclass(frozen=True)
class Step:
    """One attribute name, optionally narrowed by filter terms that must all hold."""

    name: str
    terms: tuple[PathComparison, ...] = ()


@dataclass(frozen=True)
class ScimPath:
    """A parsed path. ``schema`` is the URN prefix if the path carried one."""

    text: str
    schema: str | None
    steps: tuple[Step, ...]


@lru_cache(maxsize=1024)
def parse_path(text: str) -> ScimPath:
    """Parse ``text`` or raise :class:`PathError` saying where it went wrong."""
    if not text.strip():
        raise PathError("empty attribute path", 0)
    if len(text) > MAX_PATH_LENGTH:
        raise PathError(f"attribute path longer than {MAX_PATH_LENGTH} characters", MAX_PATH_LENGTH)
    schema: str | None = None
    start = 0
    if text[:4].lower() == "urn:":
        head_end = text.find("[")
        head = text if head_end < 0 else text[:head_end]
        colon = head.rfind(":")
        schema, start = text[:colon], colon + 1
        if start >= len(text):
            raise PathError("schema URN without an attribute name", len(text))
    return ScimPath(text=text, schema=schema, steps=_PathParser(text, start).steps())


class _PathParser:
    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.pos = start

    def steps(self) -> tuple[Step, ...]:
        steps = [self._step()]
        while self.pos < len(self.text):
            if self.text[self.pos] != ".":
                raise PathError(f"unexpected {self.text[self.pos]!r}", self.pos)
            self.pos += 1
            steps.append(self._step())
        return tuple(steps)

    def _step(self) -> Step:
        name = self._name()
        terms: tuple[PathComparison, ...] = ()
        if self._peek() == "[":
            self.pos += 1
            terms = self._filter()
        return Step(name, terms)

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise PathError("expected an attribute name", self.pos)
        self.pos = match.end()
        return match.group()

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_spaces(self) -> None:
        while self._peek() == " ":
            self.pos += 1

    def _keyword(self) -> str:
        self._skip_spaces()
        match = _KEYWORD.match(self.text, self.pos)
        if not match:
            raise PathError("expected a filter operator", self.pos)
        self.pos = match.end()
        return match.group().lower()

    def _filter(self) -> tuple[PathComparison, ...]:
        terms = [self._term()]
        while True:
            self._skip_spaces()
            if self._peek() == "]":
                self.pos += 1
                return tuple(terms)
            word = _KEYWORD.match(self.text, self.pos)
            if not word or word.group().lower() != "and":
                raise PathError("expected 'and' or ']'", self.pos)
            self.pos = word.end()
            terms.append(self._term())

    def _term(self) -> PathComparison:
        self._skip_spaces()
        attribute = self._name()
        self._skip_spaces()
        at = self.pos
        operator = self._keyword()
        if operator == "pr":
            return PathComparison(attribute, operator)
        if operator not in FILTER_OPERATORS:
            raise PathError(f"unsupported filter operator {operator!r}", at)
        self._skip_spaces()
        return PathComparison(attribute, operator, self._value())

    def _value(self) -> FilterValue:
        char = self._peek()
        if char == '"':
            return self._string()
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return float(number.group()) if number.group(1) else int(number.group())
        at = self.pos
        word = _KEYWORD.match(self.text, self.pos)
        literals: dict[str, FilterValue] = {"true": True, "false": False, "null": None}
        if word and word.group().lower() in literals:
            self.pos = word.end()
            return literals[word.group().lower()]
        raise PathError("expected a quoted string, number, true, false or null", at)

    def _string(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return "".join(chars)
            chars.append(char)
        raise PathError("unterminated string", start)


def get_key(node: Mapping[str, Any], name: str) -> Any:
    """``node[name]`` with the key matched case-insensitively (exact first); ``None`` if absent."""
    if name in node:
        return node[name]
    folded = name.casefold()
    for key, value in node.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def read_path(document: Mapping[str, Any], path: ScimPath) -> Any:
    """The value at ``path`` in ``document``: scalar, list (multi-valued), dict or ``None``."""
    root: Any = document
    if path.schema is not None and path.schema.casefold() != CORE_USER_SCHEMA.casefold():
        root = get_key(document, path.schema)
    values: list[Any] = [root]
    multi = False
    for step in path.steps:
        found: list[Any] = []
        for node in values:
            if not isinstance(node, Mapping):
                continue
            value = get_key(node, step.name)
            if isinstance(value, list):
                multi = True
                items = value
            else:
                items = [value]
            if step.terms:
                items = [i for i in items if isinstance(i, Mapping) and _matches(i, step.terms)]
            found.extend(i for i in items if i is not None)
        values = found
    if not values:
        return None
    return values if multi else values[0]


def _matches(element: Mapping[str, Any], terms: tuple[PathComparison, ...]) -> bool:
    return all(_holds(get_key(element, term.attribute), term) for term in terms)


def _holds(actual: Any, term: PathComparison) -> bool:
    if term.operator == "pr":
        return actual not in (None, "", [], {})
    if term.operator == "ne":
        return not _holds(actual, PathComparison(term.attribute, "eq", term.value))
    if actual is None or term.value is None:
        return term.operator == "eq" and actual is None and term.value is None
    left, right = _comparable(actual), _comparable(term.value)
    if term.operator == "eq":
        return left == right
    if term.operator == "co":
        return right in left
    if term.operator == "sw":
        return left.startswith(right)
    return left.endswith(right)


def _comparable(value: Any) -> str:
    # SCIM compares caseExact=false strings case-insensitively; booleans match "True"/"true" too.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()
