"""The functions an attribute-mapping expression may call, with Entra ID's documented semantics.

Does: define, for each supported function, its arity, which arguments may be left empty, a
compile-time check of literal arguments, and the evaluation on already-evaluated argument values.
Does not: parse text (``expressions`` does) or read documents. No function does I/O, reads the
clock or draws random numbers, so a mapping always gives the same worker for the same user; that is
why Entra's ``Now``, ``Guid``, ``RandomString`` and the date functions are left out. Neither are
``SelectUniqueValue`` (needs the target directory) nor ``SingleAppRoleAssignment`` /
``AppRoleAssignmentsComplex`` (the SCIM ``roles`` attribute already carries the result).

Value conventions (shared with :mod:`scimbridge.flex.mapping.expressions`): ``None`` is a
missing value;
lists are multi-valued attributes; where a string is expected a list gives its first non-empty
element and a complex value gives its ``value`` sub-attribute; booleans read as ``"True"`` /
``"False"`` (Entra's .NET spelling, which is what makes ``Switch([IsSoftDeleted], , "False", "True",
"True", "False")`` work). No function raises on missing or ill-typed data; it returns ``None``.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class FunctionSpec:
    """Arity and binding of one function. ``bind`` checks literals and returns the evaluator."""

    name: str
    min_args: int
    max_args: int | None
    bind: Callable[[Sequence[ArgShape]], Impl]
    may_be_empty: frozenset[int] = field(default_factory=frozenset)
    integers: frozenset[int] = field(default_factory=frozenset)


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


def _literal_string(shapes: Sequence[ArgShape], index: int, what: str) -> str:
    literal = shapes[index].literal
    if not isinstance(literal, str):
        raise ArgumentError(index, f"{what} must be a string literal")
    return literal


def _dotnet_regex(pattern: str) -> str:
    """Rewrite .NET named-group syntax (``(?<n>``, ``(?'n'``, ``\\k<n>``) into Python's."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            match = re.match(r"\\k<(\w+)>", pattern[i:])
            out.append(f"(?P={match.group(1)})" if match else pattern[i : i + 2])
            i += len(match.group()) if match else 2
            continue
        named = re.match(r"\(\?(?:<(\w+)>|'(\w+)')", pattern[i:])
        if named:
            out.append(f"(?P<{named.group(1) or named.group(2)}>")
            i += len(named.group())
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _expand(template: str, match: re.Match[str]) -> str:
    """Expand .NET substitutions ``${name}``, ``$n``, ``$$`` and ``$&`` against ``match``."""

    def group(token: re.Match[str]) -> str:
        whole = token.group()
        if whole == "$$":
            return "$"
        if whole == "$&":
            return match.group()
        name = token.group(1) or token.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except (IndexError, re.error):
            return whole

    return re.sub(r"\$\{(\w+)\}|\$(\d+)|\$\$|\$&", group, template)


def _bind_replace(shapes: Sequence[ArgShape]) -> Impl:
    """Replace(source, oldValue, regexPattern, regexGroupName, replacementValue,
    replacementAttributeName, template): the five documented forms, chosen by which are given."""
    given = frozenset(i for i in range(1, 7) if i < len(shapes) and not shapes[i].empty)
    if given == {1, 4}:
        return lambda a: _replace_text(text(a[0]), text(a[1]), text(a[4]) or "")
    if given == {1, 6}:
        return lambda a: (
            None if text(a[0]) is None else _replace_text(text(a[6]), text(a[1]), text(a[0]) or "")
        )
    if given not in ({2, 4}, {2, 3, 4}, {2, 3, 5}):
        raise ArgumentError(
            None,
            "needs oldValue with replacementValue or template, or regexPattern with "
            "replacementValue, or regexPattern, regexGroupName and replacementValue or "
            "replacementAttributeName",
        )
    source_pattern = _literal_string(shapes, 2, "regexPattern")
    try:
        pattern = re.compile(_dotnet_regex(source_pattern))
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise ArgumentError(2, f"regexPattern does not compile: {exc}") from exc
    if given == {2, 4}:
        return lambda a: _regex_replace(pattern, text(a[0]), text(a[4]) or "")
    group = _literal_string(shapes, 3, "regexGroupName")
    if group not in pattern.groupindex:
        raise ArgumentError(3, f"regexGroupName {group!r} is not a named group of regexPattern")
    if given == {2, 3, 4}:
        return lambda a: _regex_replace_group(pattern, group, text(a[0]), text(a[4]) or "")
    return lambda a: _regex_extract(pattern, group, text(a[0]), text(a[5]))


def _replace_text(source: str | None, old: str | None, new: str) -> str | None:
    return source if source is None or not old else source.replace(old, new)


def _regex_replace(pattern: re.Pattern[str], source: str | None, template: str) -> str | None:
    return None if source is None else pattern.sub(lambda m: _expand(template, m), source)


def _regex_replace_group(
    pattern: re.Pattern[str], group: str, source: str | None, template: str
) -> str | None:
    if source is None:
        return None
    out: list[str] = []
    end = 0
    for match in pattern.finditer(source):
        start, stop = match.span(group)
        if start < 0 or start < end:
            continue
        out.extend((source[end:start], _expand(template, match)))
        end = stop
    out.append(source[end:])
    return "".join(out)


def _regex_extract(
    pattern: re.Pattern[str], group: str, source: str | None, fallback: str | None
) -> str | None:
    if source:
        return source
    match = pattern.search(fallback) if fallback is not None else None
    return match.group(group) if match else None


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
        FunctionSpec("Replace", 2, 7, _bind_replace, frozenset(range(1, 7))),
        fixed("Split", 2, _split),
        FunctionSpec("Switch", 4, None, _compare_arity_pairs, frozenset({1})),
        FunctionSpec("ToLower", 1, 2, _plain(_str_fn(str.lower)), frozenset({1})),
        FunctionSpec("ToUpper", 1, 2, _plain(_str_fn(str.upper)), frozenset({1})),
        fixed("Word", 3, _word, integers=frozenset({1})),
        *(fixed(name, 1, _str_fn(transform)) for name, transform in one_string.items()),
    ]
    return {spec.name.casefold(): spec for spec in specs}


FUNCTIONS: Mapping[str, FunctionSpec] = _specs()
