"""Worker identity: Flex's contact_uri escaping and the friendly_name checks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scimbridge.flex.mapping.identity import (
    MAX_FRIENDLY_NAME_LENGTH,
    IdentityError,
    contact_uri,
    escape_identity,
    select_friendly_name,
)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("loggedin@worker.org", "loggedin_40worker_2Eorg"),  # Flex e2e fixture
        ("firstname.lastname", "firstname_2Elastname"),  # Twilio read-only-admin doc
        ("a_b", "a_5Fb"),
        ("a-b", "a_2Db"),
        ("a+b", "a_2Bb"),
        ("a b", "a_20b"),
        ("tab\there", "tab_09here"),
        ("AbC019", "AbC019"),
        ("", ""),
        ("é", "_E9"),  # non-ASCII: UTF-16 code unit, unverified against live Flex
        ("Ω", "_3A9"),
        ("😀", "_D83D_DE00"),
    ],
)
def test_escape_identity(name: str, escaped: str) -> None:
    assert escape_identity(name) == escaped


def test_contact_uri_is_client_plus_escaped_name() -> None:
    assert contact_uri("loggedin@worker.org") == "client:loggedin_40worker_2Eorg"


def _unescape_ascii(escaped: str) -> str:
    return re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), escaped)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=64))
def test_ascii_escaping_is_alphanumeric_underscore_and_reversible(name: str) -> None:
    escaped = escape_identity(name)
    assert re.fullmatch(r"[A-Za-z0-9_]*", escaped)
    assert _unescape_ascii(escaped) == name


USER = {
    "userName": "ann.lee@contoso.com",
    "emails": [{"value": "ann@contoso.com", "type": "work"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": 42},
}


def test_friendly_name_defaults_to_the_configured_path() -> None:
    assert select_friendly_name(USER, "userName") == "ann.lee@contoso.com"
    assert select_friendly_name(USER, "USERNAME") == "ann.lee@contoso.com"
    assert select_friendly_name(USER, 'emails[type eq "work"].value') == "ann@contoso.com"


def test_friendly_name_is_used_exactly_as_stored() -> None:
    assert (
        select_friendly_name({"userName": "Ann.Lee@Contoso.com"}, "userName")
        == "Ann.Lee@Contoso.com"
    )


def test_friendly_name_of_64_characters_is_accepted_and_65_refused() -> None:
    name = "a" * (MAX_FRIENDLY_NAME_LENGTH - 12) + "@contoso.com"
    assert select_friendly_name({"userName": name}, "userName") == name
    with pytest.raises(IdentityError) as caught:
        select_friendly_name({"userName": "b" + name}, "userName")
    assert "65 characters" in caught.value.reason
    assert "at most 64" in caught.value.reason


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ({}, "user has no userName"),
        ({"userName": ""}, "user has no userName"),
        ({"userName": "   "}, "would be empty"),
        ({"userName": 42}, "userName is not a string"),
        ({"userName": "a\nb"}, "control characters"),
    ],
)
def test_unusable_friendly_names_are_refused_with_a_reason(
    user: dict[str, Any], reason: str
) -> None:
    with pytest.raises(IdentityError) as caught:
        select_friendly_name(user, "userName")
    assert reason in caught.value.reason


def test_non_string_source_is_refused() -> None:
    path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
    with pytest.raises(IdentityError, match="not a string"):
        select_friendly_name(USER, path)
