"""The functions an attribute-mapping expression may call, with Entra ID's documented semantics.

Does: define, for each supported function, its arity, which arguments may be left empty, a
compile-time check of literal arguments, and the evaluation on already-evaluated argument values;
the text, logical and multi-valued functions are here, ``Replace`` in ``expression_replace``.
Does not: parse text (``expressions`` does), read documents, or define how an argument's value is
read (``expression_arguments`` does). No function does I/O, reads the clock or draws random
numbers, so a mapping always gives the same worker for the same user; that is why Entra's
``Now``, ``Guid``, ``RandomString`` and the date functions are left out. Neither are
``SelectUniqueValue`` (needs the target directory) nor ``SingleAppRoleAssignment`` /
``AppRoleAssignmentsComplex`` (the SCIM ``roles`` attribute already carries the result).

Value conventions: see :mod:`scimbridge.flex.mapping.expression_arguments`.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimbridge.flex.mapping.expression_arguments import (
    ArgShape,
    ArgumentError,
    Impl,
    integer,
    is_empty,
    text,
    truthy,
)
from scimbridge.flex.mapping.expression_replace import bind_replace


@dataclass(frozen=True)
class FunctionSpec:
    """Arity and binding of one function. ``bind`` checks literals and returns the evaluator."""

    name: str
    min_args: int
    max_args: int | None
    bind: Callable[[Sequence[ArgShape]], Impl]
    may_be_empty: frozenset[int] = field(default_factory=frozenset)
    integers: frozenset[int] = field(default_factory=frozenset)


def _plain(impl: Impl) -> Callable[[Sequence[ArgShape]], Impl]:
    return lambda _shapes: impl


def _str_fn(transform: Callable[[str], Any]) -> Impl:
    def impl(args: list[Any]) -> Any:
        source = text(args[0])
        return None if source is None else transform(source)

    return impl


def _append(args: list[Any]) -> str | None:
    source = text(args[0])
    return None if source is None else source + (text(args[1]) or "")


def _coalesce(args: list[Any]) -> Any:
    return next((value for value in args if not is_empty(value)), None)


def _count(args: list[Any]) -> int:
    if args[0] is None:
        return 0
    return len([v for v in args[0] if v is not None]) if isinstance(args[0], list) else 1


def _instr(args: list[Any]) -> int | None:
    haystack, needle = text(args[0]), text(args[1])
    start = integer(args[2]) if len(args) > 2 and args[2] is not None else 1
    if haystack is None or needle is None or start is None:
        return None
    return haystack.find(needle, max(start, 1) - 1) + 1


def _item(args: list[Any]) -> Any:
    index = integer(args[1])
    values = args[0] if isinstance(args[0], list) else [args[0]]
    if index is None or not 1 <= index <= len(values):
        return None
    return values[index - 1]


def _flatten(values: list[Any]) -> list[str]:
    parts: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            item_text = text(item)
            if item_text:
                parts.append(item_text)
    return parts


def _join(args: list[Any]) -> str | None:
    # Entra documents Join(", ", "", [surname], [givenName]) as "Doe, John": empties are skipped.
    return (text(args[0]) or "").join(_flatten(args[1:])) or None


def _left(args: list[Any]) -> str | None:
    source, count = text(args[0]), integer(args[1])
    if source is None:
        return ""
    if count is None:
        return None
    return source if count < 0 else source[:count]


def _mid(args: list[Any]) -> str | None:
    source, start, length = text(args[0]), integer(args[1]), integer(args[2])
    if source is None or start is None or length is None:
        return None
    begin = max(start, 1) - 1
    return source[begin : begin + max(length, 0)]


# Letters NFD does not decompose; Entra's NormalizeDiacritics table maps them like this.
_DIACRITIC_LETTERS = str.maketrans(
    {
        "\u00e6": "ae",
        "\u00c6": "AE",
        "\u00f8": "oe",
        "\u00d8": "OE",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u00df": "ss",
        "\u0142": "l",
        "\u0141": "L",
        "\u0131": "i",
        "\u0111": "d",
        "\u0110": "D",
    }
)


def _normalize_diacritics(source: str) -> str:
    decomposed = unicodedata.normalize("NFD", source.translate(_DIACRITIC_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pcase(args: list[Any]) -> str | None:
    source = text(args[0])
    separators = text(args[1]) if len(args) > 1 else None
    if source is None:
        return None
    out: list[str] = []
    at_word_start = True
    for char in source:
        is_separator = char in separators if separators else not char.isalnum()
        out.append(char if is_separator else char.upper() if at_word_start else char.lower())
        at_word_start = is_separator
    return "".join(out)


def _remove_duplicates(args: list[Any]) -> list[Any] | None:
    if args[0] is None:
        return None
    seen: list[Any] = []
    for value in args[0] if isinstance(args[0], list) else [args[0]]:
        if value not in seen:
            seen.append(value)
    return seen


def _split(args: list[Any]) -> list[str] | None:
    source, delimiter = text(args[0]), text(args[1])
    if source is None:
        return None
    pieces = source.split(delimiter) if delimiter else [source]
    # Entra's example splits "PermissionSetOne, PermissionSetTwo" into names without the space.
    return [piece.strip() for piece in pieces if piece.strip()]


def _switch(args: list[Any]) -> Any:
    source = text(args[0])
    for index in range(2, len(args) - 1, 2):
        key = text(args[index])
        if source == key or (source is None and key == ""):
            return args[index + 1]
    return args[1]


def _word(args: list[Any]) -> str | None:
    source, index, delimiters = text(args[0]), integer(args[1]), text(args[2]) or " "
    if source is None or index is None or index < 1:
        return ""
    words = [w for w in re.split("[" + re.escape(delimiters) + "]", source) if w]
    return words[index - 1] if index <= len(words) else ""


def _compare_arity_pairs(shapes: Sequence[ArgShape]) -> Impl:
    if len(shapes) % 2:
        raise ArgumentError(len(shapes) - 1, "Switch takes key/value pairs: one value is missing")
    return _switch


def _specs() -> dict[str, FunctionSpec]:
    def fixed(name: str, count: int, impl: Impl, **extra: Any) -> FunctionSpec:
        return FunctionSpec(name, count, count, _plain(impl), **extra)

    one_string: dict[str, Callable[[str], Any]] = {
        "ConvertToBase64": lambda s: base64.b64encode(s.encode("utf-16-le")).decode("ascii"),
        "ConvertToUTF8Hex": lambda s: s.encode("utf-8").hex().upper(),
        "NormalizeDiacritics": _normalize_diacritics,
        "StripSpaces": lambda s: s.replace(" ", ""),
    }
    specs = [
        fixed("Append", 2, _append),
        FunctionSpec("Coalesce", 1, None, _plain(_coalesce)),
        fixed("CBool", 1, lambda a: truthy(a[0])),
        fixed("Count", 1, _count),
        fixed("CStr", 1, lambda a: text(a[0])),
        fixed("IgnoreFlowIfNullOrEmpty", 1, lambda a: None if is_empty(a[0]) else a[0]),
        fixed("IIF", 3, lambda a: a[1] if truthy(a[0]) else a[2]),
        FunctionSpec("InStr", 2, 3, _plain(_instr), frozenset({2}), frozenset({2})),
        fixed("IsNull", 1, lambda a: a[0] is None or a[0] == []),
        fixed("IsNullOrEmpty", 1, lambda a: is_empty(a[0])),
        fixed("IsPresent", 1, lambda a: not is_empty(a[0])),
        fixed("IsString", 1, lambda a: isinstance(a[0], str)),
        fixed("Item", 2, _item, integers=frozenset({1})),
        FunctionSpec("Join", 2, None, _plain(_join)),
        fixed("Left", 2, _left, integers=frozenset({1})),
        fixed("Mid", 3, _mid, integers=frozenset({1, 2})),
        fixed("Not", 1, lambda a: not truthy(a[0])),
        FunctionSpec("PCase", 1, 2, _plain(_pcase), frozenset({1})),
        fixed("RemoveDuplicates", 1, _remove_duplicates),
        FunctionSpec("Replace", 2, 7, bind_replace, frozenset(range(1, 7))),
        fixed("Split", 2, _split),
        FunctionSpec("Switch", 4, None, _compare_arity_pairs, frozenset({1})),
        FunctionSpec("ToLower", 1, 2, _plain(_str_fn(str.lower)), frozenset({1})),
        FunctionSpec("ToUpper", 1, 2, _plain(_str_fn(str.upper)), frozenset({1})),
        fixed("Word", 3, _word, integers=frozenset({1})),
        *(fixed(name, 1, _str_fn(transform)) for name, transform in one_string.items()),
    ]
    return {spec.name.casefold(): spec for spec in specs}


FUNCTIONS: Mapping[str, FunctionSpec] = _specs()
