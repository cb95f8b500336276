"""Managed skills: the config tables, who grants what, and the merge into a worker's routing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.mapping.desired import desired_worker, explain
from scimbridge.flex.mapping.expressions import MappingError
from scimbridge.flex.mapping.skills import (
    ManagedSkills,
    merge_skills,
    resolve_skills,
    skill_changes,
)
from scimbridge.flex.mapping.skills_config import parse_skill_config

FLEX_AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
SOURCE = f"{FLEX_AGENT}:skills"
TABLE = {
    "Queue - Spanish": {"skill": "spanish", "level": 5},
    "Queue - Billing": "billing",
    "Spanish Experts": {"skill": "spanish", "level": 9},
}
ANN: dict[str, Any] = {"userName": "ann.lee@contoso.com", "displayName": "Ann Lee"}


def skills(granted: dict[str, int | None], *managed: str) -> ManagedSkills:
    return ManagedSkills(frozenset(managed) | frozenset(granted), granted)


def test_groups_grant_skills_case_insensitively_and_the_highest_level_wins() -> None:
    config, problems = parse_skill_config(TABLE, None)
    assert problems == []
    resolution = resolve_skills(config, ["queue - SPANISH", "Spanish Experts"], None)
    assert resolution.skills.granted == {"spanish": 9}
    assert resolution.skills.managed == {"spanish", "billing"}
    assert resolution.origins["spanish"] == (
        "group 'Spanish Experts' (level 9)",
        "group 'queue - SPANISH' (level 5)",
    )


def test_a_group_may_grant_several_skills() -> None:
    config, problems = parse_skill_config(
        {"Tier 2": ["refunds", {"skill": "vip", "level": 2}]}, None
    )
    assert problems == []
    assert resolve_skills(config, ["tier 2"], None).skills.granted == {"refunds": None, "vip": 2}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"Queue": 5},
            "flex.group_skills.Queue: must be a skill name, { skill = ..., level = ... }",
        ),
        ({"Queue": {"skill": 5}}, "flex.group_skills.Queue.skill: a skill must be a string, got 5"),
        ({"Queue": {"skill": ""}}, "flex.group_skills.Queue.skill: a skill name must not be empty"),
        ({"Queue": ""}, "flex.group_skills.Queue: a skill name must not be empty"),
        (
            {"Queue - Spanish": {"skill": "spanish", "level": 1001}},
            'flex.group_skills."Queue - Spanish".level: a level must be an integer from 0 to 1000',
        ),
        ({"Q": {"skill": "s", "level": "5"}}, "flex.group_skills.Q.level: a level must be an int"),
        ({"Q": {"skill": "s", "level": True}}, "flex.group_skills.Q.level: a level must be an int"),
        ({"Q": {"skill": "s", "lvl": 1}}, "flex.group_skills.Q.lvl: unknown key"),
        ({" ": "spanish"}, 'flex.group_skills." ": an empty group name cannot be matched'),
        ({"Q": "a", "q": "b"}, "flex.group_skills.q: names the same group as 'Q'"),
        ({"Q": ["a", 3]}, "flex.group_skills.Q[1]: must be a skill name"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_table_and_the_entry(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping({"group_skills": table})
    assert any(problem.startswith(message) for problem in caught.value.problems), (
        caught.value.problems
    )


def test_the_merge_keeps_every_unmanaged_skill_and_level_in_order() -> None:
    worker = {
        "routing": {
            "skills": ["sales", "billing", "support"],
            "levels": {"sales": 3, "billing": 1},
        },
        "disabled_skills": {"skills": ["vip"], "levels": {"vip": 2}},
        "team_name": "London",
    }
    merged = merge_skills(worker, skills({"spanish": 5}, "billing"))
    assert merged == {
        "routing": {
            "skills": ["sales", "support", "spanish"],
            "levels": {"sales": 3, "spanish": 5},
        },
        "disabled_skills": {"skills": ["vip"], "levels": {"vip": 2}},
        "team_name": "London",
    }
    assert skill_changes(worker, merged) == (
        "+spanish",
        "-billing",
        "billing level 1→none",
        "spanish level none→5",
    )


def test_a_grant_without_a_level_keeps_a_supervisors_level() -> None:
    worker = {"routing": {"skills": ["billing"], "levels": {"billing": 7}}}
    assert merge_skills(worker, skills({"billing": None})) == worker


def test_a_disabled_managed_skill_stays_disabled_while_granted_and_goes_when_not() -> None:
    worker = {
        "routing": {"skills": ["sales"], "levels": {}},
        "disabled_skills": {"skills": ["spanish"], "levels": {"spanish": 2}},
    }
    granted = merge_skills(worker, skills({"spanish": 5}))
    assert granted["routing"] == {"skills": ["sales"], "levels": {}}
    assert granted["disabled_skills"] == {"skills": ["spanish"], "levels": {"spanish": 5}}
    revoked = merge_skills(granted, skills({}, "spanish"))
    assert revoked["disabled_skills"] == {"skills": [], "levels": {}}
    assert revoked["routing"] == {"skills": ["sales"], "levels": {}}


def test_nothing_managed_or_a_grant_in_place_leaves_the_document_equal() -> None:
    worker: dict[str, Any] = {"email": "a@b.c"}
    assert merge_skills(worker, None) == worker
    assert merge_skills(worker, skills({}, "spanish")) == worker, "no routing block is invented"
    once = merge_skills(worker, skills({"spanish": 5}))
    assert once == {"email": "a@b.c", "routing": {"skills": ["spanish"], "levels": {"spanish": 5}}}
    assert merge_skills(once, skills({"spanish": 5})) == once


def test_a_routing_block_of_another_shape_is_left_alone() -> None:
    worker = {"routing": {"skills": "spanish"}}
    assert merge_skills(worker, skills({"billing": 1})) == worker


NAMES = st.sampled_from(["a", "b", "c", "d", "E", "e"])


@given(
    current=st.lists(NAMES, unique=True),
    levels=st.dictionaries(NAMES, st.integers(0, 10)),
    off=st.lists(NAMES, unique=True),
    managed=st.frozensets(NAMES),
    granted=st.dictionaries(NAMES, st.none() | st.integers(0, 10)),
)
def test_merge_properties(
    current: list[str],
    levels: dict[str, int],
    off: list[str],
    managed: frozenset[str],
    granted: dict[str, int | None],
) -> None:
    grant = ManagedSkills(managed | frozenset(granted), granted)
    worker = {"routing": {"skills": current, "levels": levels}, "disabled_skills": {"skills": off}}
    before = copy.deepcopy(worker)
    merged = merge_skills(worker, grant)
    assert worker == before, "the input is not changed"
    assert merge_skills(merged, grant) == merged, "idempotent"
    on = merged["routing"]["skills"]
    assert [s for s in current if s not in grant.managed] == [
        s for s in on if s not in grant.managed
    ]
    for skill in grant.managed:
        assert (skill in on) == (skill in granted and skill not in off)
        assert (skill in merged["disabled_skills"]["skills"]) == (skill in granted and skill in off)
    for skill, level in levels.items():
        if skill not in grant.managed:
            assert merged["routing"]["levels"][skill] == level


def test_the_attribute_source_adds_managed_skills_and_reports_the_rest() -> None:
    config, problems = parse_skill_config(
        {"Queue - Spanish": {"skill": "spanish", "level": 5}},
        {"source": SOURCE, "manage": ["billing"]},
    )
    assert problems == []
    resolution = resolve_skills(
        config, ["Queue - Spanish"], "spanish:7, billing, french:2, bad:x, cap:1001"
    )
    assert resolution.skills.granted == {"spanish": 7, "billing": None}
    assert resolution.origins["spanish"] == (
        "attribute (level 7)",
        "group 'Queue - Spanish' (level 5)",
    )
    joined = " | ".join(resolution.problems)
    assert "'french' from" in joined and "not managed" in joined
    assert "'bad:x'" in joined and "'cap:1001'" in joined


def test_the_skills_attribute_is_not_also_copied_as_a_worker_key() -> None:
    mapping = parse_mapping(
        {"group_skills": {"Q": "billing"}, "attribute_skills": {"source": SOURCE}}
    )
    document = {**ANN, FLEX_AGENT: {"skills": "billing:3", "site": "Leeds"}}
    desired = desired_worker(document, [], mapping)
    assert "skills" not in desired.attributes and desired.attributes["site"] == "Leeds"
    assert desired.skills is not None and desired.skills.granted == {"billing": 3}


def test_check_config_rows_show_each_managed_skill_and_where_it_came_from() -> None:
    mapping = parse_mapping({"group_skills": TABLE})
    rows = {
        row[0]: row[1:] for row in explain(ANN, ["Queue - Spanish", "Spanish Experts"], mapping)
    }
    assert rows["skill spanish"] == (
        9,
        "group 'Spanish Experts' (level 9); group 'Queue - Spanish' (level 5); "
        "the highest level wins",
    )
    assert rows["skill billing"][0] is None
    assert "not granted" in rows["skill billing"][1]


def test_the_owned_hash_changes_with_the_grant_only_when_skills_are_managed() -> None:
    plain = desired_worker(ANN, [], parse_mapping({}))
    mapping = parse_mapping({"group_skills": TABLE})
    none = desired_worker(ANN, [], mapping)
    some = desired_worker(ANN, ["Queue - Billing"], mapping)
    assert plain.owned_hash() != none.owned_hash() != some.owned_hash()
    assert desired_worker(ANN, [], parse_mapping({})).owned_hash() == plain.owned_hash()
