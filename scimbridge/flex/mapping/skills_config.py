"""``[flex.group_skills]`` and ``[flex.attribute_skills]``: which TaskRouter skills the directory
manages, and who grants them.

Does: read the two tables (through :class:`~scimbridge.config.tables.TableReader`) into a
:class:`SkillConfig`, noting every bad entry with its TOML key (a skill that is not a non-empty
string, a level that is not an integer from 0 to 1000, an empty group name, an unknown key); know
the set of *managed* skills (the only ones the sync may add to or remove from a worker). Does not:
look at a user or a worker (``skills`` does).

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

from scimbridge.config.tables import Problems, TableReader
from scimbridge.flex.mapping.paths import PathError, parse_path

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


def read_skill_config(flex: TableReader) -> SkillConfig:
    """``group_skills`` and ``attribute_skills`` of the ``[flex]`` table ``flex``; every problem
    noted with its key path."""
    groups = flex.table("group_skills", must="a table of group names to skills")
    table: dict[str, tuple[SkillGrant, ...]] = {}
    spelled: dict[str, str] = {}
    for name in groups.given():
        where = groups.name(name)
        if not name.strip():
            groups.note(where, "an empty group name cannot be matched")
            continue
        folded = name.strip().casefold()
        if folded in spelled:
            groups.note(
                where,
                f"names the same group as {spelled[folded]!r} "
                "(group names match case-insensitively)",
            )
            continue
        spelled[folded] = name
        table[folded] = _read_grants(groups, groups.raw[name], where)
    source, source_skills = _read_attribute(flex)
    return SkillConfig(group_skills=table, source=source, source_skills=source_skills)


def parse_skill_config(group_skills: Any, attribute_skills: Any) -> tuple[SkillConfig, list[str]]:
    """The two tables alone (tests): the config and every problem found."""
    problems = Problems()
    raw = {"group_skills": group_skills}
    if attribute_skills is not None:
        raw["attribute_skills"] = attribute_skills
    config = read_skill_config(TableReader(raw, "flex", problems, colon=True, strict=True))
    return config, problems.found


def _read_grants(groups: TableReader, raw: Any, where: str) -> tuple[SkillGrant, ...]:
    items = raw if isinstance(raw, list) else [raw]
    grants: list[SkillGrant] = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(raw, list) else where
        grant = _read_grant(groups, item, at)
        if grant is not None:
            grants.append(grant)
    if not items:
        groups.note(where, "grants no skill (an empty array)")
    return tuple(grants)


def _read_grant(groups: TableReader, item: Any, where: str) -> SkillGrant | None:
    if isinstance(item, str):
        problem = skill_name_problem(item)
        if problem:
            groups.note(where, problem)
            return None
        return SkillGrant(item)
    if not isinstance(item, Mapping):
        groups.note(
            where,
            "must be a skill name, { skill = ..., level = ... } or an array of them, "
            f"got {_show(item)}",
        )
        return None
    grant = groups.child(item, where, GRANT_KEYS)
    if "skill" not in grant:
        grant.note(where, 'needs skill = "<name>"')
        return None
    problem = skill_name_problem(item["skill"])
    if problem:
        grant.say("skill", problem)
        return None
    level = item.get("level")
    problem = level_problem(level) if level is not None else None
    if problem:
        grant.say("level", problem)
        return None
    return SkillGrant(item["skill"], level)


def _read_attribute(flex: TableReader) -> tuple[str | None, frozenset[str]]:
    if "attribute_skills" not in flex:
        return None, frozenset()
    table = flex.table(
        "attribute_skills", ATTRIBUTE_KEYS, must="a table with source (and optionally manage)"
    )
    if not isinstance(flex.raw["attribute_skills"], Mapping):
        return None, frozenset()
    source = table.raw.get("source")
    if not isinstance(source, str) or not source.strip():
        table.say("source", "must be the SCIM path of the user attribute")
        source = None
    else:
        try:
            parse_path(source)
        except PathError as exc:
            table.say("source", str(exc))
            source = None
    manage = table.raw.get("manage", [])
    if not isinstance(manage, list):
        table.say("manage", "must be an array of skill names")
        manage = []
    names: set[str] = set()
    for index, name in enumerate(manage):
        problem = skill_name_problem(name)
        if problem:
            table.note(f"{table.name('manage')}[{index}]", problem)
        else:
            names.add(name)
    return source, frozenset(names)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
