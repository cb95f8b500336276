"""Entra's ``Replace``: its five documented forms, and .NET regular expressions read by Python.

Does: choose the form of a ``Replace`` call by which arguments are given (plain text, a regex, a
named group replaced, or a named group extracted from a fallback attribute), compile its literal
``regexPattern`` once with .NET named-group syntax rewritten into Python's, and expand .NET
substitutions (``${name}``, ``$n``, ``$$``, ``$&``) in the replacement.
Does not: define the other functions (``expression_functions`` does) or parse text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from scimbridge.flex.mapping.expression_arguments import (
    ArgShape,
    ArgumentError,
    Impl,
    literal_string,
    text,
)


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


def bind_replace(shapes: Sequence[ArgShape]) -> Impl:
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
    source_pattern = literal_string(shapes, 2, "regexPattern")
    try:
        pattern = re.compile(_dotnet_regex(source_pattern))
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise ArgumentError(2, f"regexPattern does not compile: {exc}") from exc
    if given == {2, 4}:
        return lambda a: _regex_replace(pattern, text(a[0]), text(a[4]) or "")
    group = literal_string(shapes, 3, "regexGroupName")
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
