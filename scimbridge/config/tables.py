"""The one reader of TOML tables (and of the variables that override them).

Does: read typed values out of one table by key, refusing unknown keys, and collect every problem
it meets, each prefixed with its TOML key path (``sync.max_attempts must be at least 1``), into a
:class:`Problems` shared by every table of one document, which raises them all at once.
Does not: know what any table means (``config.settings`` and the parsers of ``[flex]`` and
``[auth]`` do) or read files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scimbridge.config.errors import ConfigError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class Problems:
    """Every problem found so far, in the order found."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, message: str) -> None:
        self.found.append(message)

    def raise_any(self) -> None:
        """Raise one :class:`ConfigError` carrying every problem; nothing when there is none."""
        if not self.found:
            return
        if len(self.found) == 1:
            raise ConfigError(self.found[0])
        raise ConfigError(
            f"{len(self.found)} problems: " + "; ".join(self.found), problems=self.found
        )


class TableReader:
    """One table of the document, at key path ``path`` (``sync``, ``scim.limits``).

    Each reading method returns the value, or ``default`` after noting a problem; the caller
    goes on reading, so every problem of every table is found in one pass.
    """

    def __init__(
        self, raw: Any, path: str, problems: Problems, known: Iterable[str] | None = None
    ) -> None:
        self.path = path
        self.problems = problems
        if not isinstance(raw, Mapping):
            problems.add(f"[{path}] must be a table")
            raw = {}
        self.raw: Mapping[str, Any] = raw
        if known is not None:
            unknown = set(raw) - set(known)
            if unknown:
                problems.add(f"unknown [{path}] keys: {', '.join(sorted(unknown))}")

    @classmethod
    def section(
        cls,
        doc: Mapping[str, Any],
        path: str,
        problems: Problems,
        known: Iterable[str] | None = None,
    ) -> TableReader:
        """The table at ``path`` (dotted) of ``doc``; empty when absent."""
        raw: Any = doc
        for part in path.split("."):
            raw = raw.get(part, {}) if isinstance(raw, Mapping) else raw
        return cls(raw, path, problems, known)

    def name(self, key: str) -> str:
        """The key path of ``key`` in this table, as messages say it."""
        return f"{self.path}.{key}"

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def given(self) -> list[str]:
        """The keys the table sets, in its order."""
        return list(self.raw)

    def integer(self, key: str, default: int, *, minimum: int = 1, name: str | None = None) -> int:
        return self.integer_value(
            self.raw.get(key, default), name or self.name(key), default, minimum
        )

    def integer_value(self, value: Any, name: str, default: int, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.problems.add(f"{name} must be an integer")
            return default
        try:
            result = int(value)
        except ValueError:
            self.problems.add(f"{name} must be an integer, got {value!r}")
            return default
        if result < minimum:
            self.problems.add(f"{name} must be at least {minimum}")
            return default
        return result

    def number(self, key: str, default: float, *, name: str | None = None) -> float:
        """A positive number."""
        return self.number_value(self.raw.get(key, default), name or self.name(key), default)

    def number_value(self, value: Any, name: str, default: float) -> float:
        try:
            result = float(value)
        except (TypeError, ValueError):
            self.problems.add(f"{name} must be a number, got {value!r}")
            return default
        if result <= 0:
            self.problems.add(f"{name} must be positive")
            return default
        return result

    def flag(self, key: str, default: bool, *, name: str | None = None) -> bool:
        return self.flag_value(self.raw.get(key, default), name or self.name(key), default)

    def flag_value(self, value: Any, name: str, default: bool) -> bool:
        """``true``/``false``, or one of the words an environment variable may say it with."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS:
            return True
        if isinstance(value, str) and value.strip().lower() in FALSE_WORDS:
            return False
        self.problems.add(f"{name} must be true or false, got {value!r}")
        return default
