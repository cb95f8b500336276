"""The SCIM path reader the Flex mapping uses on stored user documents."""

from __future__ import annotations

from typing import Any

import pytest

from scimbridge.flex.mapping.paths import PathError, parse_path, read_path

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER: dict[str, Any] = {
    "userName": "ann.lee@contoso.com",
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "emails": [
        {"value": "ann@home.example", "type": "home", "primary": False},
        {"value": "ann.lee@contoso.com", "type": "work", "primary": True},
    ],
    "addresses": [{"type": "work", "locality": "London", "formatted": "1 Main St"}],
    ENTERPRISE: {"department": "Sales", "manager": {"value": "boss"}},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("userName", "ann.lee@contoso.com"),
        ("USERNAME", "ann.lee@contoso.com"),
        ("name.givenName", "Ann"),
        ("Name.GivenName", "Ann"),
        ('emails[type eq "work"].value', ["ann.lee@contoso.com"]),
        ('emails[Type EQ "WORK"].Value', ["ann.lee@contoso.com"]),
        ('emails[primary eq "True"].value', ["ann.lee@contoso.com"]),
        ("emails[primary eq true].value", ["ann.lee@contoso.com"]),
        ('emails[type ne "work"].value', ["ann@home.example"]),
        ('emails[type eq "work" and primary eq false].value', None),
        ('emails[value co "home"].type', ["home"]),
        ('emails[value sw "ann.lee"].type', ["work"]),
        ('emails[value ew ".example"].type', ["home"]),
        ("emails[primary pr].value", ["ann@home.example", "ann.lee@contoso.com"]),
        ("emails.value", ["ann@home.example", "ann.lee@contoso.com"]),
        ('addresses[type eq "work"].locality', ["London"]),
        ('addresses[type eq "other"].Formatted', None),
        (f"{ENTERPRISE}:department", "Sales"),
        (f"{ENTERPRISE.upper()}:DEPARTMENT", "Sales"),
        (f"{ENTERPRISE}:manager.value", "boss"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName", "ann.lee@contoso.com"),
        ("urn:ietf:params:scim:schemas:extension:Other:2.0:User:x", None),
        ("missing", None),
        ("userName.deeper", None),
        ('name[givenName eq "Ann"].familyName', "Lee"),
    ],
)
def test_read_path(path: str, value: Any) -> None:
    assert read_path(USER, parse_path(path)) == value


@pytest.mark.parametrize(
    ("path", "reason", "offset"),
    [
        ("", "empty attribute path", 0),
        ("a..b", "expected an attribute name", 2),
        ("a[b eq]", "expected a quoted string", 6),
        ('a[b eq "x"', "expected 'and' or ']'", 10),
        ('a[b eq "x', "unterminated string", 7),
        ("a[b gt 1]", "unsupported filter operator 'gt'", 4),
        ("urn:x:", "schema URN without an attribute name", 6),
        ("a b", "unexpected ' '", 1),
    ],
)
def test_bad_paths_say_where(path: str, reason: str, offset: int) -> None:
    with pytest.raises(PathError) as caught:
        parse_path(path)
    assert caught.value.reason.startswith(reason)
    assert caught.value.offset == offset
