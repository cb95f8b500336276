"""A small subset of TaskRouter's TargetWorkersExpression for the fake's worker list.

Does: parse clauses ``<key> <op> <value>`` joined by ``AND``/``and`` or ``OR``/``or`` (AND binds
tighter), where key is a dotted attribute path or ``sid``/``friendly_name``/``activity_sid``/
``activity_name``, op is ``==``, ``!=``, ``HAS``, ``IN`` or ``NOT IN``, and value is a quoted
string, a number, ``true``/``false`` or a ``[...]`` list of those; ``1==1`` matches everything.

Does not: support parentheses, ``CONTAINS``, comparisons (``<``, ``>``) or the rest of the real
expression language; anything outside the subset is 400/20001.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from scimbridge.testing.fakeflex.records import invalid

_CLAUSE = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][\w.]*|1)\s*(?P<op>==|!=|\bHAS\b|\bNOT\s+IN\b|\bIN\b)\s*
    (?P<value>"[^"]*"|'[^']*'|\[[^\]]*\]|-?\d+(?:\.\d+)?|true|false|1)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_OR = re.compile(r"\s+(?:OR|or|\|\|)\s+")
_AND = re.compile(r"\s+(?:AND|and|&&)\s+")


def _literal(text: str) -> object:
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    if text.startswith("["):
        items = [i.strip() for i in text[1:-1].split(",") if i.strip()]
        return [_literal(i) for i in items]
    return json.loads(text.lower() if text.lower() in ("true", "false") else text)


def _lookup(subject: Mapping[str, object], key: str) -> object:
    if key in subject:
        return subject[key]
    current: object = subject
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _clause(text: str, subject: Mapping[str, object]) -> bool:
    match = _CLAUSE.match(text)
    if match is None:
        raise invalid(f"Invalid TargetWorkersExpression clause: {text.strip()}")
    key, op = match["key"], " ".join(match["op"].upper().split())
    value = _literal(match["value"])
    if key == "1":
        return op == "==" and value == 1
    actual = _lookup(subject, key)
    if op == "==":
        return actual == value
    if op == "!=":
        return actual != value
    if op == "HAS":
        return isinstance(actual, list) and value in actual
    members = value if isinstance(value, list) else [value]
    inside = actual in members
    return inside if op == "IN" else not inside


def evaluate(expression: str, subject: Mapping[str, object]) -> bool:
    """True if the worker described by ``subject`` (attributes + built-in keys) matches."""
    if not expression.strip():
        raise invalid("TargetWorkersExpression must not be empty")
    return any(
        all(_clause(part, subject) for part in _AND.split(alternative))
        for alternative in _OR.split(expression)
    )
