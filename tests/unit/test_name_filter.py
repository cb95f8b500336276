"""Only Entra's plain ``userName eq "…"`` takes the shortcut; every other filter is parsed."""

from __future__ import annotations

import pytest

from scimbridge.scim.name_filter import user_name_equal_to


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('userName eq "ann@contoso.com"', "ann@contoso.com"),
        ('username EQ "Ann@Contoso.com"', "Ann@Contoso.com"),
        ('  userName  eq  "x"  ', "x"),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"', "x"),
        ('userName eq "a]b(c) and d"', "a]b(c) and d"),
        ('userName eq "ä@x"', "ä@x"),
        ('userName eq ""', ""),
    ],
)
def test_the_plain_comparison_is_recognized(text: str, name: str) -> None:
    assert user_name_equal_to(text) == name


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        'userName ne "x"',
        'userName eq "x" and active eq true',
        '(userName eq "x")',
        'userName eq "a\\"b"',  # an escape: the filter parser reads it
        'userName eq "a\tb"',  # a control character: the filter parser refuses it
        "userName eq x",  # Entra's legacy bare word: the lenient parse handles it
        'userName\teq "x"',
        'emails.value eq "x"',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x"',
        'displayName eq "x"',
        'userName eq "x" or userName eq "y"',
    ],
)
def test_anything_else_is_left_to_the_parser(text: str | None) -> None:
    assert user_name_equal_to(text) is None
