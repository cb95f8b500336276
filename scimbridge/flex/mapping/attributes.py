"""The worker attribute document: what the sync may write, how it merges, how it is serialized.

Does: define the desired state of one worker (:class:`DesiredWorker`), merge its owned keys into the
attributes a worker already has without touching anyone else's keys, and hash owned attributes so
an unchanged user costs no write.
Does not: compute the desired values (``mapping`` does), call Twilio (``sync`` does), or judge
the size TaskRouter allows (:func:`scimbridge.flex.twilio.taskrouter.encode_attributes`).

Keys no SSO claim can set are never written or removed, whatever a mapping or a stored list of
previously owned keys says: ``routing`` and ``routing.*`` (the skills UI, supervisors, plugins),
``disabled_skills`` (the skills UI) and ``team_sid`` (the Teams page). Every other key may be owned:
the keys Flex SSO sets from a claim (``team_id``, ``team_name``, ``department``, ``image_url``,
``channel.<name>.capacity`` …) are the directory's when the admin maps them, as SSO would write
them on every login; unmapped, they are left alone like any key the sync does not own. The one
exception is the skills named in ``[flex.group_skills]``: inside ``routing`` and ``disabled_skills``
those, and only those, are added and removed (``flex.mapping.skills``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from scimbridge.flex.mapping.skills import ManagedSkills, merge_skills

FOREIGN_KEYS = frozenset({"routing", "disabled_skills", "team_sid"})
FOREIGN_PREFIXES = ("routing.",)
FOREIGN_REASONS = {
    "routing": "the Flex skills UI, supervisors and plugins write routing skills and levels",
    "disabled_skills": "the Flex skills UI writes disabled skills",
    "team_sid": "the Flex Teams page writes team_sid",
}


@dataclass(frozen=True)
class DesiredWorker:
    """What one user's worker should look like.

    ``attributes`` holds the owned keys that have a value; ``owned_keys`` also holds the owned keys
    that came out empty, which :func:`merge_attributes` removes from the worker (an empty string
    would break Flex Teams filters). ``problems`` are values that could not be produced; each is
    reported, and none of them stops the sync. ``held_keys`` are the owned keys whose value could
    not be produced (a source that cannot be converted): the worker keeps the value it has, its
    last good one, until the source is fixed. ``skills``: the managed
    TaskRouter skills and what the user is granted (None: no skill is managed).
    """

    friendly_name: str
    attributes: dict[str, Any]
    active: bool = True
    problems: tuple[str, ...] = ()
    owned_keys: frozenset[str] = field(default_factory=frozenset)
    held_keys: frozenset[str] = field(default_factory=frozenset)
    skills: ManagedSkills | None = None

    def owned_hash(self) -> str:
        """The hash of everything the sync writes: owned attributes and, if any, the skill grant."""
        if self.skills is None or not self.skills.managed:
            return attributes_hash(self.attributes)
        return attributes_hash({"attributes": self.attributes, "skills": self.skills.fingerprint()})


def is_foreign_key(key: str) -> bool:
    """Whether ``key`` is one no SSO claim can set (Flex routing or Teams): never this sync's."""
    folded = key.casefold()
    return folded in FOREIGN_KEYS or folded.startswith(FOREIGN_PREFIXES)


def foreign_key_reason(key: str) -> str | None:
    """Who writes ``key`` instead of the sync, fit for ``check-config``; None if it may be owned."""
    if not is_foreign_key(key):
        return None
    folded = key.casefold()
    return FOREIGN_REASONS.get(folded.split(".")[0] if folded.startswith("routing.") else folded)


def merge_attributes(
    current: Mapping[str, Any], desired: DesiredWorker, previously_owned: Collection[str]
) -> dict[str, Any]:
    """The attributes to write: ``current`` with owned keys replaced by ``desired.attributes``
    and the managed skills merged as ``desired.skills`` grants (``flex.mapping.skills``).

    A key owned now or before (``previously_owned``, e.g. from the worker link) that has no desired
    value is removed, unless it is held (``desired.held_keys``); every other key of ``current`` is
    kept as it is, foreign keys always. The skill merge touches only the
    managed skills inside ``routing`` and ``disabled_skills``.
    """
    owned = {
        key
        for key in (*desired.owned_keys, *previously_owned)
        if not is_foreign_key(key) and key not in desired.held_keys
    }
    merged = {key: value for key, value in current.items() if key not in owned}
    merged.update(
        (key, value) for key, value in desired.attributes.items() if not is_foreign_key(key)
    )
    return merge_skills(merged, desired.skills)


def _canonical(attributes: Mapping[str, Any]) -> str:
    # Sorted keys make equal attributes serialize equally; ensure_ascii=False keeps "é" 1 character.
    return json.dumps(attributes, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def attributes_hash(attributes: Mapping[str, Any]) -> str:
    """A stable SHA-256 (hex) of ``attributes``: equal for equal content, whatever the key order."""
    return hashlib.sha256(_canonical(attributes).encode("utf-8")).hexdigest()
