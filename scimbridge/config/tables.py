"""The one reader of TOML tables (and of the variables that override them).

Does: read typed values out of one table by key, refusing unknown keys, and collect every problem
it meets, each prefixed with its TOML key path (``sync.max_attempts must be at least 1, got 0``),
into a :class:`Problems` shared by every table of one document, which raises them all at once.
Every parser of the file reads through it: ``config.settings``, ``flex.mapping.config`` (with
``skills_config``) and ``scim.auth_config``.
Does not: know what any table means (those parsers do) or read files.

Two spellings, one per table family, so that messages operators already know stay as they are:
the settings and ``[auth]`` tables say ``sync.max_attempts must be …`` and ``unknown [sync] keys:
a, b``; the ``[flex]`` tables (``colon=True``) say ``flex.mode: must be …`` and name each unknown
key with the known ones. The settings tables also take the words an environment variable would use
(``"5"``, ``"yes"``), as they always have; ``strict=True`` tables take TOML types only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar, cast

from scimbridge.config.errors import ConfigError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
_T = TypeVar("_T")


def toml_key(base: str, name: str) -> str:
    """``base.name`` as TOML spells it, quoting ``name`` unless it is a bare key."""
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return f"{base}.{name}" if bare else f'{base}."{name}"'


class Problems:
    """Every problem found so far, in the order found, with the top-level table of each."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self._tables: list[str | None] = []

    def add(self, message: str, table: str | None = None) -> None:
        """Note ``message``; ``table`` is the top-level TOML table it is in (None: elsewhere)."""
        self.found.append(message)
        self._tables.append(table)

    def first_only(self, read: Callable[[Problems], _T], table: str | None) -> _T | None:
        """What ``read`` reads into problems of its own, or None after noting here the first of
        them: for a table whose later keys mean nothing once one is wrong (a missing tenant)."""
        own = Problems()
        value = read(own)
        if own.found:
            self.add(own.found[0], table)
            return None
        return value

    def in_table(self, table: str) -> list[str]:
        """The problems found in the top-level table ``table``."""
        return [m for m, t in zip(self.found, self._tables, strict=True) if t == table]

    def raise_any(self, error: type[ConfigError] = ConfigError) -> None:
        """Raise one ``error`` carrying every problem; nothing when there is none.

        One problem is its own sentence. Several are one to a line, under ``[flex] has 2
        problem(s):`` when all are in one table, else under ``7 problems:``.
        """
        if not self.found:
            return
        if len(self.found) == 1:
            raise error(self.found[0], problems=self.found)
        tables = set(self._tables)
        only = next(iter(tables)) if len(tables) == 1 else None
        header = (
            f"[{only}] has {len(self.found)} problem(s):"
            if only is not None
            else f"{len(self.found)} problems:"
        )
        raise error(header + "\n  " + "\n  ".join(self.found), problems=self.found)


class TableReader:
    """One table of the document, at key path ``path`` (``sync``, ``scim.limits``).

    Each reading method returns the value, or ``default`` after noting a problem; the caller
    goes on reading, so every problem of every table is found in one pass. ``known`` (in the
    order messages list them) makes every other key a problem.
    """

    def __init__(
        self,
        raw: Any,
        path: str,
        problems: Problems,
        known: Iterable[str] | None = None,
        *,
        colon: bool = False,
        strict: bool = False,
        must: str = "a table",
    ) -> None:
        self.path = path
        self.problems = problems
        self.colon = colon
        self.strict = strict
        self.top: str | None = None if path == "environment" else path.split(".")[0]
        if not isinstance(raw, Mapping):
            self.note_table(f"must be {must}")
            raw = {}
        self.raw: Mapping[str, Any] = raw
        if known is not None:
            self._refuse_unknown(list(known))

    @classmethod
    def section(
        cls,
        doc: Mapping[str, Any],
        path: str,
        problems: Problems,
        known: Iterable[str] | None = None,
        **options: Any,
    ) -> TableReader:
        """The table at ``path`` (dotted) of ``doc``; empty when absent."""
        raw: Any = doc
        for part in path.split("."):
            raw = raw.get(part, {}) if isinstance(raw, Mapping) else raw
        return cls(raw, path, problems, known, **options)

    def table(
        self, key: str, known: Iterable[str] | None = None, *, must: str = "a table"
    ) -> TableReader:
        """The sub-table ``key`` (empty when absent), read the way this one is."""
        return self.child(self.raw.get(key, {}), self.name(key), known, must=must)

    def child(
        self, raw: Any, path: str, known: Iterable[str] | None = None, *, must: str = "a table"
    ) -> TableReader:
        """A table at ``path`` inside this one (an array's element, an inline table)."""
        return TableReader(
            raw, path, self.problems, known, colon=self.colon, strict=self.strict, must=must
        )

    def _refuse_unknown(self, known: list[str]) -> None:
        unknown = [key for key in self.raw if key not in known]
        if not unknown:
            return
        if self.colon:
            for key in unknown:
                self.say(key, f"unknown key (known: {', '.join(known)})")
        else:
            self.problems.add(f"unknown [{self.path}] keys: {', '.join(sorted(unknown))}", self.top)

    # --- saying what is wrong ---------------------------------------------------------------

    def note(self, where: str, text: str) -> None:
        """Note ``text`` about ``where`` (a key path): ``where must …`` or ``where: must …``."""
        self.problems.add(f"{where}{':' if self.colon else ''} {text}", self.top)

    def say(self, key: str, text: str) -> None:
        """Note ``text`` about ``key`` of this table."""
        self.note(self.name(key), text)

    def note_table(self, text: str) -> None:
        """Note ``text`` about this table as a whole (``[auth.x] must be a table``)."""
        self.note(self.path if self.colon else f"[{self.path}]", text)

    def extend(self, messages: Iterable[str]) -> None:
        """Note problems another reader of this table's values worded already."""
        for message in messages:
            self.problems.add(message, self.top)

    # --- the keys -----------------------------------------------------------------------------

    def name(self, key: str) -> str:
        """The key path of ``key`` in this table, as messages say it."""
        return toml_key(self.path, key)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def given(self) -> list[str]:
        """The keys the table sets, in its order."""
        return [str(key) for key in self.raw]

    def dataclass_values(self, defaults: object, *, minimum: int = 1) -> dict[str, Any]:
        """The keys this table sets that name fields of the dataclass ``defaults``, each read as
        its default's type: ``bool`` a flag, ``int`` an integer of at least ``minimum``, ``float``
        a positive number. For tables whose keys are exactly a settings dataclass."""
        kinds = {f.name: type(getattr(defaults, f.name)) for f in fields(defaults)}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        for key in self.given():
            kind = kinds.get(key)
            default: Any = getattr(defaults, key, None)
            if kind is bool:
                values[key] = self.flag(key, default)
            elif kind is int:
                values[key] = self.integer(key, default, minimum=minimum)
            elif kind is float:
                values[key] = self.number(key, default)
        return values

    # --- values -------------------------------------------------------------------------------

    def text(
        self, key: str, default: str | None = None, *, required: bool = False, strip: bool = False
    ) -> str | None:
        """A non-empty string; ``default`` when absent (a problem too when ``required``)."""
        value = self.raw.get(key, default)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.say(key, "must be a non-empty string")
            return default
        return value.strip() if strip else value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A string or a list of non-empty strings, stripped."""
        value = self.raw.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.say(key, "must be a string or a list of strings")
            return default
        return tuple(v.strip() for v in value)

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw.get(key, default)
        if value not in allowed:
            self.say(key, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
            return default
        return str(value)

    def integer(
        self,
        key: str,
        default: int,
        *,
        minimum: int = 1,
        maximum: int | None = None,
        name: str | None = None,
    ) -> int:
        return self.integer_value(
            self.raw.get(key, default), name or self.name(key), default, minimum, maximum
        )

    def integer_value(
        self, value: Any, name: str, default: int, minimum: int = 1, maximum: int | None = None
    ) -> int:
        allowed: tuple[type, ...] = (int,) if self.strict else (int, str)
        if isinstance(value, bool) or not isinstance(value, allowed):
            self.note(name, "must be an integer")
            return default
        try:
            result = int(cast(int | str, value))
        except ValueError:
            self.note(name, f"must be an integer, got {value!r}")
            return default
        if result < minimum or (maximum is not None and result > maximum):
            bounds = (
                f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            )
            self.note(name, f"must be {bounds}, got {result}")
            return default
        return result

    def number(
        self, key: str, default: float, *, minimum: float | None = None, name: str | None = None
    ) -> float:
        """A positive number, or one of at least ``minimum``."""
        return self.number_value(
            self.raw.get(key, default), name or self.name(key), default, minimum
        )

    def number_value(
        self, value: Any, name: str, default: float, minimum: float | None = None
    ) -> float:
        if minimum is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
                self.note(name, f"must be a number of at least {minimum:g}")
                return default
            return float(value)
        try:
            if self.strict and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TypeError
            result = float(value)
        except (TypeError, ValueError):
            self.note(name, f"must be a number, got {value!r}")
            return default
        if result <= 0:
            self.note(name, "must be positive")
            return default
        return result

    def flag(self, key: str, default: bool, *, name: str | None = None) -> bool:
        return self.flag_value(self.raw.get(key, default), name or self.name(key), default)

    def flag_value(self, value: Any, name: str, default: bool) -> bool:
        """``true``/``false``, or (unless strict) a word an environment variable says it with."""
        if isinstance(value, bool):
            return value
        if not self.strict and isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
        self.note(name, f"must be true or false, got {value!r}")
        return default
