"""The worker attribute document: what the sync may write, how it merges, how it is serialized.

Does: define the desired state of one worker (:class:`DesiredWorker`), merge its owned keys into the
attributes a worker already has without touching anyone else's keys, serialize attributes the way
TaskRouter counts them (minified JSON, at most 4096 characters, never truncated), and hash owned
attributes so an unchanged user costs no write.
Does not: compute the desired values (``mapping`` does) or call Twilio (``sync`` does).

Keys owned by others are never written or removed, whatever a mapping or a stored list of previously
owned keys says: ``routing`` and ``routing.*`` (skills UI), ``disabled_skills``, ``team_sid`` and
``team_*`` (Teams, Insights), ``channel`` and ``channel.*`` (capacity).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ATTRIBUTES_LENGTH = 4096
FOREIGN_KEYS = frozenset({"routing", "disabled_skills", "team_sid", "channel"})
FOREIGN_PREFIXES = ("routing.", "team_", "channel.")


class AttributesTooLarge(ValueError):
    """The attribute JSON would exceed TaskRouter's limit; ``reason`` says by how much and why."""

    def __init__(self, reason: str, length: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.length = length


@dataclass(frozen=True)
class DesiredWorker:
    """What one user's worker should look like.

    ``attributes`` holds the owned keys that have a value; ``owned_keys`` also holds the owned keys
    that came out empty, which :func:`merge_attributes` removes from the worker (an empty string
    would break Flex Teams filters). ``problems`` are values that could not be produced; each is
    reported and its key left out, and none of them stops the sync.
    """

    friendly_name: str
    attributes: dict[str, Any]
    active: bool = True
    problems: tuple[str, ...] = ()
    owned_keys: frozenset[str] = field(default_factory=frozenset)


def is_foreign_key(key: str) -> bool:
    """Whether ``key`` belongs to Flex routing, teams or capacity, never to this sync."""
    folded = key.casefold()
    return folded in FOREIGN_KEYS or folded.startswith(FOREIGN_PREFIXES)


def merge_attributes(
    current: Mapping[str, Any], desired: DesiredWorker, previously_owned: Collection[str]
) -> dict[str, Any]:
    """The attributes to write: ``current`` with owned keys replaced by ``desired.attributes``.

    A key owned now or before (``previously_owned``, e.g. from the worker link) that has no desired
    value is removed; every other key of ``current`` is kept as it is, foreign keys always.
    """
    owned = {key for key in (*desired.owned_keys, *previously_owned) if not is_foreign_key(key)}
    merged = {key: value for key, value in current.items() if key not in owned}
    merged.update(
        (key, value) for key, value in desired.attributes.items() if not is_foreign_key(key)
    )
    return merged


def _canonical(attributes: Mapping[str, Any]) -> str:
    # Sorted keys make equal attributes serialize equally; ensure_ascii=False keeps "é" 1 character.
    return json.dumps(attributes, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def attributes_json(attributes: Mapping[str, Any]) -> str:
    """Minified JSON with sorted keys; raises :class:`AttributesTooLarge` past 4096 characters."""
    serialized = _canonical(attributes)
    if len(serialized) > MAX_ATTRIBUTES_LENGTH:
        sizes = sorted(
            ((len(_canonical({key: value})) - 2, key) for key, value in attributes.items()),
            reverse=True,
        )
        largest = ", ".join(f"{key} ({size})" for size, key in sizes[:3])
        raise AttributesTooLarge(
            f"worker attributes would be {len(serialized)} characters of JSON; TaskRouter allows "
            f"{MAX_ATTRIBUTES_LENGTH}. Largest keys: {largest}",
            len(serialized),
        )
    return serialized


def attributes_hash(attributes: Mapping[str, Any]) -> str:
    """A stable SHA-256 (hex) of ``attributes``: equal for equal content, whatever the key order."""
    return hashlib.sha256(_canonical(attributes).encode("utf-8")).hexdigest()
