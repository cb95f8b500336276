"""Managed TaskRouter skills: which ones a user is granted, and how they merge into a worker.

Does: resolve the skills a user's groups (and, when configured, one user attribute) grant, with
the highest level winning and where each came from (:func:`resolve_skills`); merge a grant into a
worker's current attributes, touching only the managed skills (:func:`merge_skills`); say how two
attribute documents differ in skills, for ``resync --dry-run`` (:func:`skill_changes`).
Does not: parse the configuration (``skills_config``), call Twilio or read the store.

The merge, for every managed skill:

- granted, not disabled: in ``routing.skills`` (kept where it is, else appended), and its level in
  ``routing.levels`` when the grant has one (a grant without a level keeps whatever level is there);
- granted, but in ``disabled_skills.skills`` (a supervisor turned it off): stays disabled, is not
  put back into ``routing.skills``; a granted level goes to ``disabled_skills.levels``;
- not granted: removed from ``routing.skills``, ``routing.levels`` and ``disabled_skills``.

Every other skill, level and key is kept exactly as it is, in its order. A worker whose ``routing``
or ``disabled_skills`` is not the shape TaskRouter documents is left alone rather than repaired.
Nothing managed, or a grant already in place, gives back an equal document (so no write).

The attribute source holds ``"spanish:5, billing"`` (or a list of such strings). It adds to what
the groups grant (the union; the highest level wins across both). It may grant only managed skills:
anything else is reported and not written, so an attribute can never take over a skill a
supervisor set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimbridge.flex.mapping.skills_config import SkillConfig, level_problem, skill_name_problem

SKILLS_KEY = "routing.skills"


@dataclass(frozen=True)
class ManagedSkills:
    """What the sync writes of skills: the ``managed`` names and the ``granted`` ones (name →
    level or None). Part of a desired worker."""

    managed: frozenset[str]
    granted: Mapping[str, int | None] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-ready value equal for equal grants, for the owned-attributes hash."""
        return {"managed": sorted(self.managed), "granted": sorted(self.granted.items())}


@dataclass(frozen=True)
class SkillResolution:
    """The skills of one user. ``origins``: skill → where each grant came from, highest first."""

    skills: ManagedSkills
    origins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def resolve_skills(config: SkillConfig, groups: Sequence[str], attribute: Any) -> SkillResolution:
    """The managed skills a member of ``groups`` whose skills attribute reads ``attribute`` gets."""
    found: dict[str, list[tuple[int | None, str]]] = {}
    for group in groups:
        for grant in config.grants_of(group):
            found.setdefault(grant.skill, []).append((grant.level, f"group {group!r}"))
    problems: list[str] = []
    if config.source is not None:
        for skill, level in _attribute_skills(attribute, config.source, problems):
            if skill in config.managed - config.retired:
                found.setdefault(skill, []).append((level, "attribute"))
            else:
                problems.append(
                    f"{SKILLS_KEY}: {skill!r} from {config.source} is not managed "
                    "(add it to flex.attribute_skills.manage); not written"
                )
    granted: dict[str, int | None] = {}
    origins: dict[str, tuple[str, ...]] = {}
    for skill, grants in found.items():
        # Highest level first, no level last; stable, so equal levels keep the group order.
        ranked = sorted(grants, key=lambda grant: 1 if grant[0] is None else -grant[0])
        granted[skill] = ranked[0][0]
        origins[skill] = tuple(
            origin if level is None else f"{origin} (level {level})" for level, origin in ranked
        )
    return SkillResolution(ManagedSkills(config.managed, granted), origins, tuple(problems))


def _attribute_skills(value: Any, source: str, problems: list[str]) -> list[tuple[str, int | None]]:
    """``"spanish:5, billing"`` (or a list of such strings) → (skill, level) pairs."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    pairs: list[tuple[str, int | None]] = []
    for item in items:
        if not isinstance(item, str):
            problems.append(f"{SKILLS_KEY}: {source} holds a non-text value; ignored")
            continue
        for piece in (part.strip() for part in item.split(",")):
            if not piece:
                continue
            name, colon, level_text = piece.rpartition(":") if ":" in piece else (piece, "", "")
            name, level_text = name.strip(), level_text.strip()
            whole = level_text.isascii() and level_text.isdigit()
            level = int(level_text) if colon and whole else None
            problem = skill_name_problem(name)
            if colon and not problem:
                problem = level_problem(level if whole else level_text)
            if problem:
                problems.append(f"{SKILLS_KEY}: {piece!r} from {source}: {problem}; ignored")
                continue
            pairs.append((name, level))
    return pairs


def merge_skills(attributes: Mapping[str, Any], skills: ManagedSkills | None) -> dict[str, Any]:
    """``attributes`` with the managed skills made as ``skills`` grants (see the module rules)."""
    merged = dict(attributes)
    if skills is None or not skills.managed:
        return merged
    routing = attributes.get("routing", {})
    disabled = attributes.get("disabled_skills", {})
    if not isinstance(routing, Mapping) or not isinstance(disabled, Mapping):
        return merged
    current, levels = routing.get("skills", []), routing.get("levels", {})
    off, off_levels = disabled.get("skills", []), disabled.get("levels", {})
    if not _shapes_ok(current, levels) or not _shapes_ok(off, off_levels):
        return merged
    managed, granted = skills.managed, skills.granted
    switched_off = {name for name in off if name in granted}

    def keep(name: Any) -> bool:
        return name not in managed or (name in granted and name not in switched_off)

    new_skills = [name for name in current if keep(name)]
    new_skills += [name for name in sorted(granted) if name not in new_skills + list(off)]
    new_levels = {name: level for name, level in levels.items() if keep(name)}
    new_off = [name for name in off if name not in managed or name in granted]
    new_off_levels = {
        name: level for name, level in off_levels.items() if name not in managed or name in granted
    }
    for name, level in granted.items():
        if name in switched_off:
            if level is not None:
                new_off_levels[name] = level
            elif name in levels and name not in new_off_levels:
                new_off_levels[name] = levels[name]  # carry a supervisor's level along
        elif level is not None:
            new_levels[name] = level
    if "routing" in attributes or new_skills or new_levels:
        merged["routing"] = _with(routing, new_skills, new_levels)
    if "disabled_skills" in attributes:
        merged["disabled_skills"] = _with(disabled, new_off, new_off_levels)
    return merged


def _shapes_ok(names: Any, levels: Any) -> bool:
    return isinstance(names, list) and isinstance(levels, Mapping)


def _with(block: Mapping[str, Any], names: list[Any], levels: dict[str, Any]) -> dict[str, Any]:
    """``block`` (routing or disabled_skills) with new skills and levels; keys absent before and
    empty now stay absent, so a grant already in place leaves the document equal."""
    updated = dict(block)
    for key, value in (("skills", names), ("levels", levels)):
        if key in block or value:
            updated[key] = value
    return updated


def skill_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """What a skill merge changes: ``+spanish``, ``-billing``, ``spanish level 3→5``,
    ``-billing (disabled)``; empty when nothing does."""
    old_on, old_levels = _block(before, "routing")
    new_on, new_levels = _block(after, "routing")
    old_off, old_off_levels = _block(before, "disabled_skills")
    new_off, new_off_levels = _block(after, "disabled_skills")
    changes = [f"+{name}" for name in new_on if name not in old_on]
    changes += [f"-{name}" for name in old_on if name not in new_on]
    for name in sorted(old_levels.keys() | new_levels.keys()):
        if old_levels.get(name) != new_levels.get(name):
            changes.append(f"{name} level {_level(old_levels, name)}→{_level(new_levels, name)}")
    changes += [f"-{name} (disabled)" for name in old_off if name not in new_off]
    for name in sorted(old_off_levels.keys() | new_off_levels.keys()):
        if old_off_levels.get(name) != new_off_levels.get(name):
            was, now = _level(old_off_levels, name), _level(new_off_levels, name)
            changes.append(f"{name} level {was}→{now} (disabled)")
    return tuple(changes)


def _block(attributes: Mapping[str, Any], key: str) -> tuple[list[Any], dict[str, Any]]:
    block = attributes.get(key)
    if not isinstance(block, Mapping):
        return [], {}
    names, levels = block.get("skills", []), block.get("levels", {})
    return (
        [name for name in names if isinstance(name, str)] if isinstance(names, list) else [],
        {str(k): v for k, v in levels.items()} if isinstance(levels, Mapping) else {},
    )


def _level(levels: Mapping[str, Any], name: str) -> str:
    return "none" if levels.get(name) is None else str(levels[name])
