"""Hypothesis strategies for what a hostile or broken SCIM client sends.

JSON values with the scalars parsers and databases choke on (NUL, lone surrogates, 64-bit
overflow, huge and tiny floats, very long strings), resource bodies with wrong types in every
attribute, PATCH operations with junk ops, paths and values, raw bodies that are not JSON or not
UTF-8, filters built from SCIM grammar pieces and injection-looking strings, and query strings.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CUSTOM = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Characters that break naive code: NUL, controls, lone surrogates, RTL override, emoji, quotes.
NASTY_CHARS = st.sampled_from(
    ["\x00", "\x1f", "\ud800", "\udfff", "\u202e", "\ufeff", "😀", '"', "\\", "'", "%", "\n"]
)
SHORT_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.one_of(st.characters(), NASTY_CHARS), max_size=30),
    st.sampled_from(["", " ", "null", "true", "0", "' OR '1'='1", '"; DROP TABLE users; --']),
)
# Query strings stay short enough for a URL; bodies also get strings of up to 70k characters.
TEXT = st.one_of(SHORT_TEXT, st.integers(min_value=256, max_value=70_000).map(lambda n: "x" * n))
INTEGERS = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**40, -(10**40)]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(TEXT, inner, max_size=5)),
    max_leaves=12,
)

USER_KEYS = [
    "userName",
    "name",
    "displayName",
    "nickName",
    "externalId",
    "active",
    "emails",
    "phoneNumbers",
    "addresses",
    "roles",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "groups",
    "x509Certificates",
    "password",
    "id",
    "meta",
    "schemas",
    "manager",
    "department",
    ENTERPRISE,
    f"{ENTERPRISE}:manager",
    f"{ENTERPRISE}:department",
    CUSTOM,
    f"{CUSTOM}:site",
]
GROUP_KEYS = ["displayName", "members", "externalId", "id", "meta", "schemas"]
ATTRIBUTE_NAMES = st.one_of(
    st.sampled_from(USER_KEYS),
    TEXT,
    st.integers(min_value=1_000, max_value=20_000).map(lambda n: "a" * n),
)


@st.composite
def user_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible user with some attributes replaced by values of any type, and junk keys."""
    body: dict[str, Any] = {
        "schemas": [CORE],
        "userName": f"fuzz-{draw(st.integers(0, 10**9))}@contoso.com",
        "active": True,
    }
    for key in draw(st.lists(st.sampled_from(USER_KEYS), max_size=4, unique=True)):
        body[key] = draw(JSON)
    for key in draw(st.lists(ATTRIBUTE_NAMES, max_size=2)):
        body[key] = draw(JSON)
    return body


@st.composite
def group_bodies(draw: st.DrawFn, member_ids: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP],
        "displayName": f"fuzz group {draw(st.integers(0, 10**9))}",
    }
    member = st.one_of(
        st.sampled_from(member_ids).map(lambda value: {"value": value}),
        st.sampled_from(member_ids),
        JSON,
        st.fixed_dictionaries({"value": JSON, "display": JSON, "$ref": JSON}),
    )
    body["members"] = draw(st.one_of(st.lists(member, max_size=6), JSON))
    for key in draw(st.lists(st.sampled_from(GROUP_KEYS), max_size=2, unique=True)):
        body[key] = draw(JSON)
    return body


USER_PATHS = st.one_of(
    st.sampled_from(
        [
            "displayName",
            "userName",
            "active",
            "name.givenName",
            "name",
            "emails",
            'emails[type eq "work"].value',
            'emails[type eq "work"]',
            "emails[value co ']",
            "roles",
            'roles[value eq "agent"]',
            'phoneNumbers[type eq "mobile"].value',
            'addresses[type eq "work"].country',
            f"{ENTERPRISE}:manager",
            f"{ENTERPRISE}:department",
            f"{ENTERPRISE}:manager.value",
            f"{CUSTOM}:site",
            CUSTOM,
            ENTERPRISE,
            "members",
            "id",
            "meta.version",
            "schemas",
            "urn:",
            "a.b.c.d",
            "emails[",
            "emails]",
            "[]",
            'emails[type eq "work"][value eq "x"]',
        ]
    ),
    TEXT,
)
GROUP_PATHS = st.one_of(
    st.sampled_from(
        [
            "members",
            'members[value eq "nobody"]',
            'members[value eq "a" or value eq "b"]',
            'members[display eq "x"]',
            "members.value",
            "displayName",
            "externalId",
            "members[value",
        ]
    ),
    TEXT,
)
OPS = st.one_of(
    st.sampled_from(["add", "Add", "ADD", "remove", "Remove", "replace", "Replace"]),
    JSON,
)


@st.composite
def operations(draw: st.DrawFn, paths: st.SearchStrategy[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {"op": draw(OPS)}
    if draw(st.booleans()):
        operation["path"] = draw(st.one_of(paths, JSON))
    if draw(st.booleans()):
        operation["value"] = draw(JSON)
    if draw(st.booleans()):
        operation[draw(ATTRIBUTE_NAMES)] = draw(JSON)
    return operation


@st.composite
def patch_bodies(draw: st.DrawFn, paths: st.SearchStrategy[str]) -> Any:
    operations_value = draw(st.one_of(st.lists(operations(paths), min_size=0, max_size=5), JSON))
    body: dict[str, Any] = {"Operations": operations_value}
    if draw(st.booleans()):
        body["schemas"] = draw(st.one_of(st.just([PATCH_OP]), JSON))
    return draw(st.one_of(st.just(body), st.just(body), JSON))


def _nested(depth: int, opener: str, closer: str) -> bytes:
    return (opener * depth + closer * depth).encode()


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"   ",
            b"{",
            b"}",
            b"null",
            b"[]",
            b'"a string"',
            b"NaN",
            b'{"userName": NaN}',
            b'{"userName": Infinity}',
            b'{"userName": 1e400}',
            b'{"userName": "a", "userName": {"x": 1}}',
            b'{"userName": "a"}{"userName": "b"}',
            b'{"userName": "\\ud800"}',
            b'{"userName": "a\\u0000b"}',
            b'{"userName": "\xed\xa0\x80"}',
            b'{"userName": "\xc0\xaf"}',
            b'\xef\xbb\xbf{"userName": "bom"}',
            b'{"userName": "' + b"9" * 5000 + b'"}',
            b'{"active": ' + b"9" * 5000 + b"}",
            b'{"active": 1' + b"0" * 400 + b"}",
            b"\x00" * 64,
            b'{"schemas": ["' + CORE.encode() + b'"], "userName": "u\\u0000"}',
        ]
    ),
    st.integers(min_value=100, max_value=200_000).map(lambda n: _nested(n, "[", "]")),
    st.integers(min_value=33, max_value=50_000).map(lambda n: (b'{"a":' * n) + b"1" + (b"}" * n)),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/scim+json",
            "application/json",
            "application/scim+json; charset=utf-8",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "application/vnd.foo+json",
            "",
            ";",
            "application/json;;;",
            "*/*",
        ]
    ),
    # A header value cannot start or end with whitespace on the wire.
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
)

# Pieces of the RFC 7644 §3.4.2.2 filter grammar, combined at random.
FILTER_ATTRIBUTES = st.one_of(
    st.sampled_from(
        [
            "userName",
            "USERNAME",
            "displayName",
            "externalId",
            "id",
            "active",
            "emails",
            "emails.value",
            "emails.type",
            "name.givenName",
            "meta.created",
            "meta.lastModified",
            "meta.version",
            "meta.resourceType",
            "meta.location",
            "password",
            "groups",
            "groups.value",
            "members",
            "members.value",
            "members.$ref",
            "roles.value",
            f"{ENTERPRISE}:manager",
            f"{ENTERPRISE}:manager.value",
            f"{ENTERPRISE}:employeeNumber",
            f"{CUSTOM}:site",
            f"{CUSTOM}:site.sub",
            "manager",
            "x",
            "urn:x:y",
            'emails[type eq "work"].value',
        ]
    ),
    st.from_regex(r"[A-Za-z$][A-Za-z0-9_$.:-]{0,40}", fullmatch=True),
)
FILTER_OPERATORS = st.sampled_from(
    ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "xx", "=", "like"]
)
FILTER_VALUES = st.one_of(
    st.sampled_from(
        [
            '"seed0@contoso.com"',
            '""',
            "true",
            "false",
            "null",
            "42",
            "-1.5e300",
            "1e999",
            "99999999999999999999999999",
            '"2024-01-01T00:00:00Z"',
            '"not a date"',
            '"W/\\"3\\""',
            '"x\' OR 1=1 --"',
            '"%"',
            '"_"',
            '"\\\\"',
            '"\\u0000"',
            '"\\ud800"',
            "jyoung",
            "'single'",
            '"unterminated',
        ]
    ),
    SHORT_TEXT.map(json.dumps),
    SHORT_TEXT,
)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    attribute = draw(FILTER_ATTRIBUTES)
    operator = draw(FILTER_OPERATORS)
    if operator == "pr":
        return f"{attribute} pr"
    return f"{attribute} {operator} {draw(FILTER_VALUES)}"


FILTERS = st.one_of(
    st.recursive(
        comparisons(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
            inner.map(lambda f: f"not ({f})"),
            inner.map(lambda f: f"({f})"),
            st.tuples(st.sampled_from(["emails", "members", "roles", "x"]), inner).map(
                lambda p: f"{p[0]}[{p[1]}]"
            ),
        ),
        max_leaves=6,
    ),
    SHORT_TEXT,
    st.sampled_from(
        [
            "(",
            ")",
            "[",
            '"',
            "not",
            "userName eq",
            "eq eq eq",
            'userName eq "a" and',
            'emails[type eq "work"',
            'emails[[type eq "work"]]',
            "((((((((((userName pr))))))))))",
            'userName eq "a"; DELETE FROM users',
            "1 eq 1",
            'userName eq "a" or 1=1',
        ]
    ),
)
QUERY_NUMBERS = st.one_of(
    st.sampled_from(["0", "-1", "-5", "1", "99999999", "9" * 30, "1e3", "0x10", " 7 ", "", "abc"]),
    INTEGERS.map(str),
    SHORT_TEXT,
)
SORT_BY = st.one_of(FILTER_ATTRIBUTES, SHORT_TEXT)
ATTRIBUTE_LISTS = st.one_of(
    st.lists(FILTER_ATTRIBUTES, max_size=4).map(",".join),
    SHORT_TEXT,
)
