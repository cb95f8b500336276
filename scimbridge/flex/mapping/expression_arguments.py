"""The arguments of an expression's function call: their values as Entra reads them, and what the
compiler knows of them before evaluation.

Does: read an evaluated value as Entra would (:func:`text`, :func:`number`, :func:`integer`,
:func:`truthy`, :func:`is_empty`); describe an argument at compile time (:class:`ArgShape`: left
empty, or a literal) and report a problem with one (:class:`ArgumentError`).
Does not: define any function (``expression_functions`` and ``expression_replace`` do) or parse
text (``expressions`` does).

Value conventions (shared with :mod:`scimbridge.flex.mapping.expressions`): ``None`` is a
missing value;
lists are multi-valued attributes; where a string is expected a list gives its first non-empty
element and a complex value gives its ``value`` sub-attribute; booleans read as ``"True"`` /
``"False"`` (Entra's .NET spelling, which is what makes ``Switch([IsSoftDeleted], , "False", "True",
"True", "False")`` work). No function raises on missing or ill-typed data; it returns ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scimbridge.flex.mapping.paths import get_key

Impl = Callable[[list[Any]], Any]
NOT_LITERAL: Any = object()


class ArgumentError(ValueError):
    """A compile-time problem with argument ``index`` (0-based) of a call, or the whole call."""

    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class ArgShape:
    """What the compiler knows about one argument before evaluation."""

    empty: bool
    literal: Any = NOT_LITERAL


def text(value: Any) -> str | None:
    """``value`` as Entra would see it as a string, or ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        for item in value:
            item_text = text(item)
            if item_text:
                return item_text
        return None
    if isinstance(value, Mapping):
        return text(get_key(value, "value"))
    return None


def number(value: Any) -> int | float | None:
    """``value`` as a number if it is one or spells one; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    value_text = text(value)
    if value_text is None:
        return None
    try:
        return int(value_text.strip())
    except ValueError:
        pass
    try:
        result = float(value_text.strip())
    except ValueError:
        return None
    return result if result == result and abs(result) != float("inf") else None


def integer(value: Any) -> int | None:
    result = number(value)
    if isinstance(result, float):
        return int(result) if result.is_integer() else None
    return result


def truthy(value: Any) -> bool:
    """Entra's CBool: ``True``, ``"True"`` (any case) and non-zero numbers are true."""
    if isinstance(value, bool):
        return value
    value_text = text(value)
    if value_text is None:
        return False
    if value_text.strip().casefold() == "true":
        return True
    numeric = number(value_text)
    return numeric is not None and numeric != 0


def is_empty(value: Any) -> bool:
    """Missing, an empty string, or a list with no non-empty element."""
    if value is None or value == "":
        return True
    if isinstance(value, list):
        return all(is_empty(item) for item in value)
    return False


def literal_string(shapes: Sequence[ArgShape], index: int, what: str) -> str:
    literal = shapes[index].literal
    if not isinstance(literal, str):
        raise ArgumentError(index, f"{what} must be a string literal")
    return literal
