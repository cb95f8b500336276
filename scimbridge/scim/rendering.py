"""Stored documents rendered as SCIM responses.

Does: turn a stored document (``scim.documents`` describes it) and its id, ``meta`` and, for a
group, its members into the response body, honouring ``attributes`` and ``excludedAttributes``
(RFC 7644 §3.9; ``id``, ``schemas`` and ``meta`` are always returned; a value filter in a name
selects the whole attribute). ``schemas`` lists the core schema and every extension present.
Does not: read the database, validate anything, or know HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scimbridge.scim.extensions import GROUP_URN, USER_URN

_FILTER = re.compile(r"\[[^\]]*\]")
Selection = dict[tuple[str, str], frozenset[str] | None]


def _selection(names: Sequence[str], urns: Sequence[str], core: str) -> Selection:
    """Requested attribute names as (scope, attribute) → sub-attributes (None: all of it).

    The scope is "" for the core schema or a lower-cased extension URN; attribute "" means the
    whole scope. A value filter (``emails[type eq "work"]``) selects the whole attribute.
    """
    selection: Selection = {}
    scopes = sorted({core.lower(), *(urn.lower() for urn in urns)}, key=len, reverse=True)
    for raw in names:
        name = _FILTER.sub("", str(raw)).strip().lower()
        scope = next((s for s in scopes if name == s or name.startswith(s + ":")), None)
        if scope is not None:
            name = name[len(scope) + 1 :]
        elif name.startswith("urn:"):
            continue
        attribute, _, sub = name.partition(".")
        key = ("" if scope in (None, core.lower()) else str(scope), attribute)
        if not sub or selection.get(key, frozenset()) is None:
            selection[key] = None
        else:
            selection[key] = (selection.get(key) or frozenset()) | {sub}
    return selection


def _project(value: Any, subs: frozenset[str], keep: bool) -> Any:
    if isinstance(value, list):
        entries = [_project(entry, subs, keep) for entry in value]
        return [entry for entry in entries if entry]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if (k.lower() in subs) == keep}
    return None if keep else value


def _filtered(
    obj: dict[str, Any], wanted: dict[str, frozenset[str] | None], keep: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in obj.items():
        folded = key.lower()
        if folded not in wanted:
            if not keep:
                result[key] = value
            continue
        subs = wanted[folded]
        if subs is None:
            if keep:
                result[key] = value
            continue
        projected = _project(value, subs, keep)
        if projected not in (None, [], {}):
            result[key] = projected
    return result


def _render(
    body: dict[str, Any],
    core: str,
    id: str,
    meta: dict[str, Any],
    attributes: Sequence[str] | None,
    excluded: Sequence[str] | None,
) -> dict[str, Any]:
    urns = [key for key in body if key.lower().startswith("urn:")]
    names = attributes or excluded
    if names:
        keep = bool(attributes)
        selection = _selection(names, urns, core)
        result: dict[str, Any] = {}
        core_part = {k: v for k, v in body.items() if k not in urns}
        if keep and ("", "") in selection:
            result.update(core_part)
        elif not keep and ("", "") in selection:
            pass
        else:
            result.update(
                _filtered(core_part, {a: s for (sc, a), s in selection.items() if sc == ""}, keep)
            )
        for urn in urns:
            scope = urn.lower()
            if (scope, "") in selection:
                if keep:
                    result[urn] = body[urn]
                continue
            wanted = {a: s for (sc, a), s in selection.items() if sc == scope}
            part = _filtered(body[urn], wanted, keep) if isinstance(body[urn], dict) else body[urn]
            if part:
                result[urn] = part
        body = result
    present = [key for key in body if key.lower().startswith("urn:")]
    return {"schemas": [core, *present], "id": id, **body, "meta": meta}


def render_user(
    document: dict[str, Any],
    *,
    id: str,
    meta: dict[str, Any],
    attributes: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The response body for a stored user."""
    body = {k: v for k, v in document.items() if k not in ("schemas", "id", "meta")}
    return _render(body, USER_URN, id, meta, attributes, excluded)


def render_group(
    document: dict[str, Any],
    members: Sequence[str | tuple[str, str]] | None,
    *,
    id: str,
    meta: dict[str, Any],
    base_url: str | None = None,
    attributes: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The response body for a stored group; ``members`` are user ids or (id, userName) pairs.

    ``members`` None leaves the attribute out (not loaded); a group without members answers
    ``"members": []`` (RFC 7643 §2.5 makes it equal to unassigned; Microsoft's tests look for
    it). With ``base_url`` each member gets ``$ref`` and ``type: "User"`` (members are users:
    the membership table references users).
    """
    body = {k: v for k, v in document.items() if k not in ("schemas", "id", "meta", "members")}
    entries = []
    for member in members or ():
        user_id, display = (member, None) if isinstance(member, str) else member
        entry: dict[str, Any] = {"value": user_id}
        if display:
            entry["display"] = display
        if base_url is not None:
            entry["$ref"] = f"{base_url}/Users/{user_id}"
            entry["type"] = "User"
        entries.append(entry)
    if members is not None:
        body["members"] = entries
    return _render(body, GROUP_URN, id, meta, attributes, excluded)
