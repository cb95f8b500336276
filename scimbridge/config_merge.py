"""Render ``[flex.attributes]`` rules as TOML and merge them into a configuration file.

Does: turn rule tables (worker key → ``{"source": …, "type": …}``) into TOML text, and merge them
into an existing TOML file keeping everything else in it byte for byte (other tables, comments,
order, formatting: tomlkit edits the document it parsed instead of re-serializing data), then
replace the file atomically (a temporary file in the same directory, flushed to disk, then
``os.replace``), so a reader or a crash sees the old file or the new one, never half of either.
Does not: decide what the rules are (``flex.claims_policy``) or validate the mapping they make
(``check-config`` does, as for any hand-written file).

A rule for a worker key the file already maps is replaced by the new one, and reported, because
the point of the merge is that the key comes out as the policy wrote it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

RuleTables = Mapping[str, Mapping[str, str]]


class MergeError(ValueError):
    """The file cannot take the rules (not TOML, or ``flex.attributes`` is not a table)."""


@dataclass(frozen=True)
class MergeResult:
    """What the merge did: the keys added, and the keys whose existing rule was replaced."""

    added: tuple[str, ...]
    replaced: tuple[str, ...]


def render_attributes(rules: RuleTables) -> str:
    """The TOML text of ``[flex.attributes.<key>]`` tables, one per rule, in ``rules`` order."""
    document = tomlkit.document()
    _merge(document, rules)
    return tomlkit.dumps(document)


def merge_into_file(path: Path, rules: RuleTables) -> MergeResult:
    """Merge ``rules`` into the TOML file at ``path`` (created if missing), atomically."""
    try:
        original = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError(f"cannot read {path}: {exc}") from None
    try:
        document = tomlkit.parse(original)
    except tomlkit.exceptions.ParseError as exc:
        raise MergeError(f"{path} is not TOML: {exc}") from None
    result = _merge(document, rules)
    text = tomlkit.dumps(document)
    tomllib.loads(text)  # what the service will read must parse; tomlkit guarantees it
    try:
        _replace(path, text)
    except OSError as exc:
        raise MergeError(f"cannot write {path}: {exc.strerror or exc}") from None
    return result


def _merge(document: TOMLDocument, rules: RuleTables) -> MergeResult:
    flex = _table(document, "flex", "flex")
    attributes = _table(flex, "attributes", "flex.attributes")
    added: list[str] = []
    replaced: list[str] = []
    for key, rule in rules.items():
        (replaced if key in attributes else added).append(key)
        table = tomlkit.table()
        for name, value in rule.items():
            # 'emails[type eq "work"].value' reads better than "emails[type eq \"work\"].value"
            literal = '"' in value and "'" not in value and "\n" not in value
            table.add(name, tomlkit.string(value, literal=literal))
        attributes[key] = table
    return MergeResult(tuple(added), tuple(replaced))


def _table(parent: TOMLDocument | Table, key: str, where: str) -> Table:
    if key not in parent:
        parent.add(key, tomlkit.table(is_super_table=True))
    found = parent[key]
    if not isinstance(found, Table):
        raise MergeError(f"[{where}] in the file is not a table, so rules cannot be added to it")
    return found


def _replace(path: Path, text: str) -> None:
    directory = path.resolve().parent
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
