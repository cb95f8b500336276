"""User → worker: which attributes a stored SCIM user gets on its TaskRouter worker.

Does: evaluate a :class:`FlexMapping` (parsed from ``[flex]``, see :mod:`.config` for the TOML
shape) against a stored SCIM user document and the display names of its groups, giving a
:class:`DesiredWorker` (friendly_name, owned attributes, active) and, for ``check-config --user``,
an explanation of where every value came from.
Does not: do I/O, read the clock, or know the SCIM wire format beyond the stored JSON document.

Resolution of a rule: its source / constant / expression gives a value; an empty value (missing,
``""``, empty list) falls back to ``default``; the result is coerced to the rule's ``type``. A value
that cannot be coerced is a *problem*: reported in ``DesiredWorker.problems``, its key held
(``DesiredWorker.held_keys``: the worker keeps its last good value), and the sync goes on (one bad
attribute should not keep a user out of Flex). Only an unusable friendly_name stops a user
(:class:`IdentityError`).

Skills named in ``[flex.group_skills]`` (and the ``[flex.attribute_skills]`` source) are resolved by
:mod:`.skills` into ``DesiredWorker.skills``; the attribute used as that source is not also copied
to the worker as a custom extension key.

Besides SCIM paths, expressions and sources may read two names that are not in the document:
``[IsSoftDeleted]`` (``not active``, so Entra's ``Switch([IsSoftDeleted], …)`` works unchanged) and
``[groups]`` (the user's group display names). A source may also be an OIDC claim name
(:mod:`.oidc_claims`); its origin names the claim and the SCIM path it resolved to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scimbridge.flex.mapping.attributes import (
    DesiredWorker,
)
from scimbridge.flex.mapping.config import (
    AttributeRule,
    FlexMapping,
    coerce,
    custom_extension_values,
    valid_target,
)
from scimbridge.flex.mapping.expression_arguments import is_empty
from scimbridge.flex.mapping.identity import IdentityError, contact_uri, select_friendly_name
from scimbridge.flex.mapping.oidc_claims import alias as oidc_alias
from scimbridge.flex.mapping.paths import get_key, parse_path, read_path
from scimbridge.flex.mapping.roles import resolve_roles
from scimbridge.flex.mapping.skills import SkillResolution, resolve_skills


@dataclass(frozen=True)
class _Outcome:
    target: str
    value: Any
    origin: str
    problem: str | None = None
    owned: bool = True
    # The value could not be produced from the source: the worker keeps the one it has.
    held: bool = False


def is_active(document: Mapping[str, Any]) -> bool:
    """The user's ``active`` flag; absent means active, ``"False"`` (Entra's string) means not."""
    active = get_key(document, "active")
    if isinstance(active, str):
        return active.strip().casefold() not in ("false", "0", "no")
    return active is not False


class _UserView:
    """Resolves attribute references for expressions and sources on one user."""

    def __init__(self, document: Mapping[str, Any], groups: Sequence[str]) -> None:
        self.document = document
        self.groups = list(groups)

    def __call__(self, path_text: str) -> Any:
        path = parse_path(path_text)
        if path.schema is None and len(path.steps) == 1 and not path.steps[0].terms:
            name = path.steps[0].name.casefold()
            if name == "issoftdeleted":
                return not is_active(self.document)
            if name == "groups":
                return self.groups or None
        return read_path(self.document, path)


def desired_worker(
    document: Mapping[str, Any], groups: Sequence[str], mapping: FlexMapping
) -> DesiredWorker:
    """The worker the user ``document`` (member of ``groups``) should have.

    Raises :class:`IdentityError` if the user has no usable friendly_name; everything else that
    goes wrong is listed in ``problems`` and leaves the key off.
    """
    friendly_name = select_friendly_name(document, mapping.friendly_name_source)
    outcomes = _outcomes(document, groups, mapping, friendly_name)
    skills = _skills(document, groups, mapping)
    problems = [f"{o.target}: {o.problem}" for o in outcomes if o.problem]
    return DesiredWorker(
        friendly_name=friendly_name,
        attributes={o.target: o.value for o in outcomes if o.owned and o.value is not None},
        active=is_active(document),
        problems=(*problems, *(skills.problems if skills else ())),
        owned_keys=frozenset(o.target for o in outcomes if o.owned),
        held_keys=frozenset(o.target for o in outcomes if o.owned and o.held),
        skills=skills.skills if skills else None,
    )


def problem_notes(desired: DesiredWorker) -> tuple[str, ...]:
    """``desired.problems`` as an operator reads them in ``status``: held keys say so."""
    notes = []
    for problem in desired.problems:
        key = problem.split(":", 1)[0]
        held = "; the worker keeps its last good value" if key in desired.held_keys else ""
        notes.append(problem + held)
    return tuple(notes)


def _skills(
    document: Mapping[str, Any], groups: Sequence[str], mapping: FlexMapping
) -> SkillResolution | None:
    config = mapping.skills
    if not config.managed:
        return None
    attribute = _UserView(document, groups)(config.source) if config.source else None
    return resolve_skills(config, groups, attribute)


def explain(
    document: Mapping[str, Any], groups: Sequence[str], mapping: FlexMapping
) -> list[tuple[str, Any, str]]:
    """(target, value, where it came from) for every key, for ``scimbridge check-config --user``.

    The first two rows describe the worker itself: ``(friendly_name)`` and ``(active)``. A value
    of ``None`` means the key is left off (and removed from the worker if it was there).
    """
    source = mapping.friendly_name_source
    friendly_name: str | None
    try:
        friendly_name = select_friendly_name(document, source)
        rows: list[tuple[str, Any, str]] = [("(friendly_name)", friendly_name, f"source {source}")]
    except IdentityError as exc:
        friendly_name = None
        rows = [("(friendly_name)", None, f"refused, the user will not sync: {exc.reason}")]
    active = is_active(document)
    policy = mapping.deprovision_policy
    rows.append(
        ("(active)", active, "active" if active else f"inactive: on_disable = {policy.on_disable}")
    )
    for outcome in _outcomes(document, groups, mapping, friendly_name):
        origin = outcome.origin
        if outcome.problem and outcome.held:
            origin = f"{origin}; not written, the worker keeps its value: {outcome.problem}"
        elif outcome.problem:
            origin = f"{origin}; not written: {outcome.problem}"
        elif outcome.value is None:
            origin = f"{origin}; empty, so left off the worker"
        rows.append((outcome.target, outcome.value, origin))
    rows.extend(_skill_rows(_skills(document, groups, mapping)))
    return rows


def _skill_rows(resolution: SkillResolution | None) -> list[tuple[str, Any, str]]:
    """One row per managed skill: its level (or ``True``) when granted, and every grant."""
    if resolution is None:
        return []
    rows: list[tuple[str, Any, str]] = []
    granted = resolution.skills.granted
    for skill in sorted(resolution.skills.managed):
        target = f"skill {skill}"
        if skill not in granted:
            rows.append((target, None, "managed, not granted: removed from routing on sync"))
            continue
        level = granted[skill]
        origins = resolution.origins[skill]
        origin = "; ".join(origins)
        if len(origins) > 1 and level is not None:
            origin += "; the highest level wins"
        rows.append((target, True if level is None else level, origin))
    rows.extend(("skills", None, problem.split(": ", 1)[1]) for problem in resolution.problems)
    return rows


def _outcomes(
    document: Mapping[str, Any],
    groups: Sequence[str],
    mapping: FlexMapping,
    friendly_name: str | None,
) -> list[_Outcome]:
    view = _UserView(document, groups)
    outcomes = [
        _apply(rule, document, groups, mapping, view, friendly_name) for rule in mapping.rules
    ]
    if mapping.include_custom_extensions:
        skip = (mapping.skills.source or "").casefold()
        outcomes.extend(_extension_outcomes(document, {o.target for o in outcomes}, skip))
    return outcomes


def _apply(
    rule: AttributeRule,
    document: Mapping[str, Any],
    groups: Sequence[str],
    mapping: FlexMapping,
    view: _UserView,
    friendly_name: str | None,
) -> _Outcome:
    if rule.derived == "contact_uri":
        if friendly_name is None:
            return _Outcome(
                rule.target, None, "client: + escaped friendly_name", "no friendly_name"
            )
        return _Outcome(rule.target, contact_uri(friendly_name), "client: + escaped friendly_name")
    if rule.derived == "roles":
        resolution = resolve_roles(get_key(document, "roles"), groups, mapping.role_map)
        origin = "; ".join(f"{role} from {source}" for role, source in resolution.origins)
        unknown = ", ".join(repr(name) for name in resolution.unknown)
        problem = (
            f"no Flex role for {unknown} (add it to [flex.role_map]); dropped" if unknown else None
        )
        return _Outcome(rule.target, list(resolution.roles) or None, origin or "no roles", problem)
    if rule.expression is not None:
        value, origin = rule.expression.evaluate(view), f"expression {rule.expression.text}"
    elif rule.source is not None and (claim := oidc_alias(rule.source)) is not None:
        value, path = claim.resolve(view)
        origin = f"source {rule.source} (OIDC claim) → {path}"
    elif rule.source is not None:
        value, origin = view(rule.source), f"source {rule.source}"
    else:
        value, origin = rule.constant, "constant"
    if is_empty(value) and rule.default is not None:
        value, origin = rule.default, f"{origin} was empty; default"
    coerced, problem = coerce(value, rule.type)
    return _Outcome(rule.target, coerced, origin, problem, held=problem is not None)


def _extension_outcomes(document: Mapping[str, Any], taken: set[str], skip: str) -> list[_Outcome]:
    """Custom extension attributes as worker keys, but not ``skip`` (the skills source path)."""
    outcomes: list[_Outcome] = []
    seen: dict[str, str] = {}
    for urn, name, value in custom_extension_values(document):
        if f"{urn}:{name}".casefold() == skip:
            continue
        origin = f"custom extension {urn}"
        reason = valid_target(name)
        if reason:
            outcomes.append(_Outcome(name, None, origin, f"the name {reason}", owned=False))
        elif name in taken:
            continue  # an explicit rule or built-in for the same key wins
        elif name in seen:
            outcomes.append(
                _Outcome(name, None, origin, f"also in {seen[name]}; that one wins", owned=False)
            )
        else:
            seen[name] = urn
            extension_value, problem = _extension_value(value)
            outcomes.append(
                _Outcome(name, extension_value, origin, problem, held=problem is not None)
            )
    return outcomes


def _extension_value(value: Any) -> tuple[Any, str | None]:
    """Custom extension values keep their JSON type; complex values need an explicit rule."""
    if is_empty(value):
        return None, None
    scalars = (str, int, float, bool)
    if isinstance(value, scalars):
        return value, None
    if isinstance(value, list) and all(isinstance(item, scalars) or item is None for item in value):
        return [item for item in value if not is_empty(item)], None
    return None, "is a complex value; map it with a [flex.attributes] rule"
