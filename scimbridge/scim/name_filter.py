"""Entra's ``userName eq "…"`` filter, recognized without parsing it as a SCIM filter.

Entra sends ``GET /Users?filter=userName eq "<name>"`` before every create and on every
provisioning cycle. Parsing it with scim2-models, binding it to the model and turning it into
SQL cost about a fifth of such a request; the answer is one lookup by the folded name.

Does: tell whether a filter is exactly one such comparison (``userName`` in any case, bare or
under the core User schema URN, ``eq`` in any case, spaces between, and a string without
escapes or control characters) and give the name it compares with.
Does not: decide what matches (the store compares names as the filter translation does:
``comparison_key``), or accept anything the full filter path would refuse: a filter it does not
recognize takes that path.
"""

from __future__ import annotations

import re

_USER_NAME_EQ = re.compile(
    r' *(?:urn:ietf:params:scim:schemas:core:2\.0:user:)?username +eq +"([^"\\\x00-\x1f\x7f]*)" *',
    re.IGNORECASE,
)


def user_name_equal_to(filter_text: str | None) -> str | None:
    """The name of ``userName eq "<name>"``, or None for any other filter (or none)."""
    if filter_text is None:
        return None
    match = _USER_NAME_EQ.fullmatch(filter_text)
    return match.group(1) if match is not None else None
