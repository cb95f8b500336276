"""Worker identity: a user's ``friendly_name`` and the ``contact_uri`` Flex derives from it.

Does: pick the friendly_name from a configured SCIM path (the same attribute the SSO NameID uses,
so an SSO login finds the worker the sync made), check it against TaskRouter's limits, and escape
it the way Flex builds a voice client identity (``client:firstname_2Elastname``).
Does not: talk to Twilio or decide what happens when the name is refused (the sync dead-letters
with :attr:`IdentityError.reason`).

Escaping: every character outside ASCII ``[A-Za-z0-9]`` becomes ``_`` followed by its code in
uppercase hex, at least two digits (``@``→``_40``, ``.``→``_2E``, ``_``→``_5F``, ``-``→``_2D``).
For ASCII this matches Twilio's documented example and the Flex UI behaviour copied by community
tools. For non-ASCII characters the code is the UTF-16 code unit (``é``→``_E9``, an emoji →
two surrogate codes), as JavaScript's ``charCodeAt`` in those tools gives: **unverified** against a
live Flex, so prefer ASCII usernames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scimbridge.flex.mapping.paths import parse_path, read_path

MAX_FRIENDLY_NAME_LENGTH = 64


class IdentityError(ValueError):
    """A user cannot be given a worker identity; ``reason`` says why, fit for an operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def escape_identity(name: str) -> str:
    """``name`` with every character outside ASCII letters and digits as ``_`` + uppercase hex."""
    out: list[str] = []
    for char in name:
        if char.isascii() and char.isalnum():
            out.append(char)
            continue
        encoded = char.encode("utf-16-be")
        for unit in range(0, len(encoded), 2):
            out.append(f"_{int.from_bytes(encoded[unit : unit + 2], 'big'):02X}")
    return "".join(out)


def contact_uri(friendly_name: str) -> str:
    """The ``contact_uri`` Flex sets for a worker it creates: ``client:`` + escaped name."""
    return "client:" + escape_identity(friendly_name)


def check_friendly_name(name: str) -> str:
    """``name`` if TaskRouter takes it as a friendly_name, else raise :class:`IdentityError`."""
    if not name.strip():
        raise IdentityError("friendly_name would be empty")
    if len(name) > MAX_FRIENDLY_NAME_LENGTH:
        raise IdentityError(
            f"friendly_name {name[:20]!r}… is {len(name)} characters; TaskRouter allows at most "
            f"{MAX_FRIENDLY_NAME_LENGTH}. Choose a shorter source attribute in [flex] friendly_name"
        )
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise IdentityError(f"friendly_name {name!r} contains control characters")
    return name


def select_friendly_name(document: Mapping[str, Any], source: str) -> str:
    """The friendly_name for the user ``document``, read at SCIM path ``source``.

    A multi-valued source gives its first string value. The value is used exactly as stored (not
    trimmed or lower-cased), because it must equal the name an SSO login will look for; TaskRouter
    compares friendly names case-insensitively anyway. Raises :class:`IdentityError`.
    """
    value = read_path(document, parse_path(source))
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str) and item), None)
    if value is None or value == "":
        raise IdentityError(f"user has no {source} to use as the worker friendly_name")
    if not isinstance(value, str):
        raise IdentityError(f"{source} is not a string, so it cannot be the worker friendly_name")
    return check_friendly_name(value)
