"""OIDC claim names as ``source`` vocabulary of ``[flex.attributes]``.

Does: define the standard OpenID Connect claim names an admin may copy from an OIDC claims
configuration (Entra External ID and every OIDC provider speak them) and resolve each on a stored
SCIM user to a value and the SCIM path it came from; tell a source that collides with a SCIM path.
Does not: parse TOML (``mapping.config`` asks :func:`collision` and :func:`alias`) or evaluate
rules (``mapping`` calls :meth:`OidcClaim.resolve`). Expressions keep SCIM paths only.

The vocabulary (OpenID Connect Core 1.0 §5.1), each with the SCIM paths tried in order:

=========================  ===================================================================
``sub``                    ``externalId``, else ``id``
``name``                   ``displayName``, else ``name.formatted``
``given_name``             ``name.givenName``
``family_name``            ``name.familyName``
``email``                  the work email, else the primary one
``email_verified``         ``true`` when the user has that email, else left off (see below)
``phone_number``           the work phone, else the primary one
``phone_number_verified``  ``true`` when the user has that phone, else left off
``address``                the work address: its ``formatted``, else its parts joined by ", "
=========================  ===================================================================

``email_verified`` / ``phone_number_verified``: SCIM has no verification flag. The address and the
number reach scimbridge from the directory, set by its administrators (Entra's ``mail`` and
``telephoneNumber`` are not self-asserted), which is what OIDC's "verified" asserts. So the claim
is ``true`` when the value it vouches for exists, and absent (never ``false``) when it does not,
as an OIDC provider leaves the claim out for an absent address. Without ``type`` these two give a
boolean, as OIDC does; every other alias gives a string, as any source does.

Names match exactly: OIDC claim names are case-sensitive, SCIM paths are not. ``name`` is also
SCIM's complex ``name`` attribute, which has no value of its own, so ``source = "name"`` means the
claim and SCIM's parts stay reachable as ``name.givenName`` and so on. A source that equals a
claim name only when case is ignored (``Name``, ``Email``) would read a different SCIM path than
the claim it looks like; it is refused (:func:`collision`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from scimbridge.flex.mapping.expression_arguments import is_empty, text

WORK_ADDRESS = 'addresses[type eq "work"]'
ADDRESS_PARTS = ("streetAddress", "locality", "region", "postalCode", "country")

Reader = Callable[[str], Any]
Kind = Literal["value", "verified", "address"]


@dataclass(frozen=True)
class OidcClaim:
    """One OIDC claim name and the SCIM paths it reads, first non-empty wins."""

    name: str
    paths: tuple[str, ...]
    kind: Kind = "value"

    @property
    def default_type(self) -> Literal["string", "bool"]:
        """The rule type when the TOML names none: OIDC's own type of the claim."""
        return "bool" if self.kind == "verified" else "string"

    def resolve(self, read: Reader) -> tuple[Any, str]:
        """(value, where it came from) on the user ``read`` reads; ``(None, "none of …")``."""
        if self.kind == "address":
            return _address(read)
        for path in self.paths:
            value = read(path)
            if not is_empty(value):
                if self.kind == "verified":
                    return True, f"{path} is present"
                return value, path
        return None, "none of " + ", ".join(self.paths)


def _address(read: Reader) -> tuple[Any, str]:
    formatted = read(f"{WORK_ADDRESS}.formatted")
    if not is_empty(formatted):
        return formatted, f"{WORK_ADDRESS}.formatted"
    parts = {part: text(read(f"{WORK_ADDRESS}.{part}")) for part in ADDRESS_PARTS}
    region = " ".join(p for p in (parts["region"], parts["postalCode"]) if p)
    joined = ", ".join(p for p in (parts["streetAddress"], parts["locality"], region) if p)
    joined = ", ".join(p for p in (joined, parts["country"]) if p)
    if not joined:
        return (
            None,
            f"none of {WORK_ADDRESS}.formatted, {WORK_ADDRESS}.{{{','.join(ADDRESS_PARTS)}}}",
        )
    return joined, f"{WORK_ADDRESS}.{{{','.join(ADDRESS_PARTS)}}} joined"


_WORK_EMAIL = ('emails[type eq "work"].value', "emails[primary eq true].value")
_WORK_PHONE = ('phoneNumbers[type eq "work"].value', "phoneNumbers[primary eq true].value")

CLAIMS: dict[str, OidcClaim] = {
    claim.name: claim
    for claim in (
        OidcClaim("sub", ("externalId", "id")),
        OidcClaim("name", ("displayName", "name.formatted")),
        OidcClaim("given_name", ("name.givenName",)),
        OidcClaim("family_name", ("name.familyName",)),
        OidcClaim("email", _WORK_EMAIL),
        OidcClaim("email_verified", _WORK_EMAIL, "verified"),
        OidcClaim("phone_number", _WORK_PHONE),
        OidcClaim("phone_number_verified", _WORK_PHONE, "verified"),
        OidcClaim("address", (f"{WORK_ADDRESS}.formatted",), "address"),
    )
}
_FOLDED = {name.casefold(): name for name in CLAIMS}


def alias(source: str) -> OidcClaim | None:
    """The OIDC claim ``source`` names exactly, or ``None`` if it is a SCIM path."""
    return CLAIMS.get(source)


def collision(source: str) -> str | None:
    """Why ``source`` is ambiguous between an OIDC claim and a SCIM path, or ``None``."""
    claim = _FOLDED.get(source.casefold())
    if claim is None or claim == source:
        return None
    return (
        f"{source!r} reads the SCIM path {source!r}, not the OIDC claim {claim!r} "
        f"(claim names are case-sensitive); write {claim!r} for the claim, which reads "
        f"{CLAIMS[claim].paths[0]!r}"
    )
