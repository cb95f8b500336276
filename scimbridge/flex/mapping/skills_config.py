"""``[flex.group_skills]`` and ``[flex.attribute_skills]``: which TaskRouter skills the directory
manages, and who grants them.

Does: parse the two tables into a :class:`SkillConfig`, reporting every bad entry with its TOML key
(a skill that is not a non-empty string, a level that is not an integer from 0 to 1000, an empty
group name, an unknown key); know the set of *managed* skills (the only ones the sync may add to or
remove from a worker). Does not: look at a user or a worker (``skills`` does).

Shape::

    [flex.group_skills]        # group display name → skill(s), each with an optional level
    "Queue - Spanish" = { skill = "spanish", level = 5 }
    "Queue - Billing" = "billing"
    "Queue - Tier 2" = ["refunds", { skill = "billing", level = 8 }]

    [flex.attribute_skills]    # optional: skills from one user attribute as well
    source = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User:skills"
                               # it holds e.g. "spanish:5, billing"
    manage = ["french"]        # skills only the attribute grants (group skills are managed)

Group names match case-insensitively, as ``[flex.group_roles]`` does; skill names are kept exactly
as written, because TaskRouter compares them case-sensitively.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scimbridge.flex.mapping.paths import PathError, parse_path
from scimbridge.flex.mapping.roles import toml_key

MAX_LEVEL = 1000
GRANT_KEYS = ("skill", "level")
ATTRIBUTE_KEYS = ("source", "manage")


@dataclass(frozen=True)
class SkillGrant:
    """One skill a group (or the attribute) grants; ``level`` None: no level."""

    skill: str
    level: int | None = None


@dataclass(frozen=True)
class SkillConfig:
    """The parsed tables. ``group_skills`` keys are case-folded group names.

    ``retired`` are skills an admin asked ``resync --remove-skill`` to take off every worker:
    managed for that run, granted by nobody.
    """

    group_skills: Mapping[str, tuple[SkillGrant, ...]] = field(default_factory=dict)
    source: str | None = None
    source_skills: frozenset[str] = frozenset()
    retired: frozenset[str] = frozenset()

    @property
    def managed(self) -> frozenset[str]:
        """Every skill the sync adds and removes; all others are left as they are."""
        named = {grant.skill for grants in self.group_skills.values() for grant in grants}
        return frozenset(named) | self.source_skills | self.retired

    def grants_of(self, group: str) -> tuple[SkillGrant, ...]:
        return self.group_skills.get(group.strip().casefold(), ())

    def retiring(self, names: Collection[str]) -> SkillConfig:
        """This config that also removes ``names`` from every worker (``resync --remove-skill``).

        Raises ``ValueError`` naming the first skill that is still managed: removing it would
        only last until the next sync grants it again.
        """
        for name in names:
            problem = skill_name_problem(name)
            if problem:
                raise ValueError(f"--remove-skill: {problem}")
            if name in self.managed:
                raise ValueError(
                    f"the skill {name!r} is still managed (flex.group_skills or "
                    "flex.attribute_skills); remove its entry first, then --remove-skill it"
                )
        return replace(self, retired=self.retired | frozenset(names))


def skill_name_problem(value: Any) -> str | None:
    """Why ``value`` cannot name a TaskRouter skill, or None."""
    if not isinstance(value, str):
        return f"a skill must be a string, got {_show(value)}"
    if not value.strip():
        return "a skill name must not be empty"
    if value != value.strip():
        return f"the skill {value!r} has spaces around it; TaskRouter would not match it"
    return None


def level_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a skill level, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LEVEL:
        return f"a level must be an integer from 0 to {MAX_LEVEL}, got {_show(value)}"
    return None


def parse_skill_config(group_skills: Any, attribute_skills: Any) -> tuple[SkillConfig, list[str]]:
    """Parse ``flex.group_skills`` and ``flex.attribute_skills``; return every problem found."""
    problems: list[str] = []
    table: dict[str, tuple[SkillGrant, ...]] = {}
    spelled: dict[str, str] = {}
    if not isinstance(group_skills, Mapping):
        problems.append("flex.group_skills: must be a table of group names to skills")
        group_skills = {}
    for raw_name, raw_grants in group_skills.items():
        name = str(raw_name)
        where = toml_key("flex.group_skills", name)
        if not name.strip():
            problems.append(f"{where}: an empty group name cannot be matched")
            continue
        folded = name.strip().casefold()
        if folded in spelled:
            problems.append(
                f"{where}: names the same group as {spelled[folded]!r} "
                "(group names match case-insensitively)"
            )
            continue
        spelled[folded] = name
        table[folded] = _parse_grants(raw_grants, where, problems)
    source, source_skills = _parse_attribute(attribute_skills, problems)
    config = SkillConfig(group_skills=table, source=source, source_skills=source_skills)
    return config, problems


def _parse_grants(raw: Any, where: str, problems: list[str]) -> tuple[SkillGrant, ...]:
    items = raw if isinstance(raw, list) else [raw]
    grants: list[SkillGrant] = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(raw, list) else where
        grant = _parse_grant(item, at, problems)
        if grant is not None:
            grants.append(grant)
    if not items:
        problems.append(f"{where}: grants no skill (an empty array)")
    return tuple(grants)


def _parse_grant(item: Any, where: str, problems: list[str]) -> SkillGrant | None:
    if isinstance(item, str):
        problem = skill_name_problem(item)
        if problem:
            problems.append(f"{where}: {problem}")
            return None
        return SkillGrant(item)
    if not isinstance(item, Mapping):
        problems.append(
            f"{where}: must be a skill name, {{ skill = ..., level = ... }} or an array of them, "
            f"got {_show(item)}"
        )
        return None
    problems.extend(
        f"{where}.{key}: unknown key (known: {', '.join(GRANT_KEYS)})"
        for key in item
        if key not in GRANT_KEYS
    )
    if "skill" not in item:
        problems.append(f'{where}: needs skill = "<name>"')
        return None
    problem = skill_name_problem(item["skill"])
    if problem:
        problems.append(f"{where}.skill: {problem}")
        return None
    level = item.get("level")
    problem = level_problem(level) if level is not None else None
    if problem:
        problems.append(f"{where}.level: {problem}")
        return None
    return SkillGrant(item["skill"], level)


def _parse_attribute(raw: Any, problems: list[str]) -> tuple[str | None, frozenset[str]]:
    where = "flex.attribute_skills"
    if raw is None:
        return None, frozenset()
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table with source (and optionally manage)")
        return None, frozenset()
    problems.extend(
        f"{where}.{key}: unknown key (known: {', '.join(ATTRIBUTE_KEYS)})"
        for key in raw
        if key not in ATTRIBUTE_KEYS
    )
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append(f"{where}.source: must be the SCIM path of the user attribute")
        source = None
    else:
        try:
            parse_path(source)
        except PathError as exc:
            problems.append(f"{where}.source: {exc}")
            source = None
    manage = raw.get("manage", [])
    if not isinstance(manage, list):
        problems.append(f"{where}.manage: must be an array of skill names")
        manage = []
    names: set[str] = set()
    for index, name in enumerate(manage):
        problem = skill_name_problem(name)
        if problem:
            problems.append(f"{where}.manage[{index}]: {problem}")
        else:
            names.add(name)
    return source, frozenset(names)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
