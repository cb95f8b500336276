"""Hostile query strings, filters, headers, paths and methods, on SQLite and PostgreSQL.

Filters are built from the SCIM grammar with junk mixed in (unknown attributes, wrong value types,
injection-looking strings, unbalanced brackets); list parameters take negative, huge and
non-numeric values; headers carry odd Content-Types, ETags and credentials; paths and methods are
made up. Every answer is a success or a SCIM error, never a 5xx; nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import BUDGETS, TOKEN, Api, serve_api
from tests.hostile.contract import check_answer
from tests.hostile.strategies import (
    ATTRIBUTE_LISTS,
    FILTERS,
    QUERY_NUMBERS,
    SHORT_TEXT,
    SORT_BY,
)


def query(params: dict[str, str]) -> bytes:
    """A query string for any text, lone surrogates included (sent as their raw bytes)."""
    return urlencode(params, errors="surrogatepass").encode("ascii")


def get(api: Api, path: str, params: dict[str, str]) -> httpx.Response:
    url = httpx.URL(api.http.base_url.join(path.lstrip("/")), query=query(params))
    return api.request("GET", str(url))


def search(api: Api, path: str, body: dict[str, object]) -> httpx.Response:
    return api.request(
        "POST",
        path,
        content=_json(body),
        headers={"Content-Type": "application/scim+json"},
    )


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=True).encode()


@pytest.mark.parametrize("budget", BUDGETS)
def test_filters_are_answered_or_refused_as_invalid_filter(
    engine_api: Api, budget: settings
) -> None:
    @budget
    @given(
        expression=FILTERS, resource=st.sampled_from(["/Users", "/Groups"]), by_post=st.booleans()
    )
    def run(expression: str, resource: str, by_post: bool) -> None:
        if by_post:
            response = search(engine_api, f"{resource}/.search", {"filter": expression})
        else:
            response = get(engine_api, resource, {"filter": expression})
        if response.status_code == 400:
            assert response.json().get("scimType") in ("invalidFilter", "invalidValue"), (
                expression,
                response.text,
            )
        else:
            assert response.status_code == 200, (expression, response.text)

    run()


UNSTORABLE_FILTERS = [
    'userName eq "a\\u0000b"',
    'displayName co "\\ud800"',
    'emails.value sw "\\udfff@x"',
    'urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User:site eq "\\u0000"',
]


@pytest.mark.parametrize("expression", UNSTORABLE_FILTERS)
def test_filter_values_no_database_can_compare_are_invalid_filter(
    engine_api: Api, expression: str
) -> None:
    for response in (
        get(engine_api, "/Users", {"filter": expression}),
        search(engine_api, "/Users/.search", {"filter": expression}),
        search(engine_api, "/Groups/.search", {"filter": expression}),
    ):
        assert response.status_code == 400, (expression, response.text)
        assert response.json()["scimType"] == "invalidFilter"


def test_a_raw_lone_surrogate_in_a_search_filter_is_invalid_filter(engine_api: Api) -> None:
    """Only a JSON body can carry one (a query string decodes it to U+FFFD)."""
    response = search(engine_api, "/Users/.search", {"filter": 'userName eq "\ud800"'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


@pytest.mark.parametrize("budget", BUDGETS)
def test_list_parameters_never_fail(engine_api: Api, budget: settings) -> None:
    @budget
    @given(
        count=st.one_of(st.none(), QUERY_NUMBERS),
        start=st.one_of(st.none(), QUERY_NUMBERS),
        sort_by=st.one_of(st.none(), SORT_BY),
        sort_order=st.one_of(
            st.none(), st.sampled_from(["ascending", "DESCENDING", "up", ""]), SHORT_TEXT
        ),
        attributes=st.one_of(st.none(), ATTRIBUTE_LISTS),
        excluded=st.one_of(st.none(), ATTRIBUTE_LISTS),
        resource=st.sampled_from(["/Users", "/Groups"]),
    )
    def run(
        count: str | None,
        start: str | None,
        sort_by: str | None,
        sort_order: str | None,
        attributes: str | None,
        excluded: str | None,
        resource: str,
    ) -> None:
        params = {
            name: value
            for name, value in (
                ("count", count),
                ("startIndex", start),
                ("sortBy", sort_by),
                ("sortOrder", sort_order),
                ("attributes", attributes),
                ("excludedAttributes", excluded),
            )
            if value is not None
        }
        response = get(engine_api, resource, params)
        if response.status_code == 200:
            page = response.json()
            assert page["itemsPerPage"] == len(page["Resources"])
            assert page["itemsPerPage"] <= max(0, page["totalResults"])

    run()


@pytest.mark.parametrize(
    ("count", "start", "items", "start_index"),
    [
        ("-1", None, 0, 1),
        ("0", None, 0, 1),
        ("99999999", None, 3, 1),
        ("9" * 40, None, 3, 1),
        (None, "0", 3, 1),
        (None, "-5", 3, 1),
        (None, "99999999", 0, 99999999),
        (None, str(2**63), 0, 2**63),
        (None, "9" * 40, 0, int("9" * 40)),
    ],
)
def test_named_paging_values(
    engine_api: Api, count: str | None, start: str | None, items: int, start_index: int
) -> None:
    params = {k: v for k, v in (("count", count), ("startIndex", start)) if v is not None}
    page = get(engine_api, "/Users", params).json()
    assert (page["itemsPerPage"], page["startIndex"], page["totalResults"]) == (
        items,
        start_index,
        page["totalResults"],
    )
    assert page["totalResults"] >= 3


def test_sort_by_junk_is_a_scim_error_or_ignored(engine_api: Api) -> None:
    for sort_by in ("", "nosuch", 'emails[type eq "work"]', "meta", "urn:x", "a" * 5000, "id desc"):
        get(engine_api, "/Users", {"sortBy": sort_by})
        get(engine_api, "/Groups", {"sortBy": sort_by})


# Latin-1 text as it can travel in a header (no surrounding whitespace on the wire).
HEADER_VALUES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
).map(str.strip)


@pytest.mark.parametrize("budget", BUDGETS)
def test_odd_headers(api: Api, budget: settings) -> None:
    @budget
    @given(
        method_path=st.sampled_from(
            [
                ("GET", "user"),
                ("PATCH", "user"),
                ("PUT", "group"),
                ("DELETE", "missing"),
                ("GET", "list"),
            ]
        ),
        if_match=st.one_of(
            st.none(), HEADER_VALUES, st.sampled_from(['W/"1"', '"1"', "*", "W/", ","])
        ),
        if_none_match=st.one_of(st.none(), HEADER_VALUES, st.just("*")),
        content_type=st.one_of(st.none(), HEADER_VALUES),
        accept=st.one_of(st.none(), HEADER_VALUES),
        extra=st.dictionaries(
            st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True), HEADER_VALUES, max_size=3
        ),
    )
    def run(
        method_path: tuple[str, str],
        if_match: str | None,
        if_none_match: str | None,
        content_type: str | None,
        accept: str | None,
        extra: dict[str, str],
    ) -> None:
        method, what = method_path
        path = {
            "user": f"/Users/{api.user_ids[2]}",
            "group": f"/Groups/{api.group_id}",
            "missing": "/Users/00000000-0000-4000-8000-000000000000",
            "list": "/Users",
        }[what]
        headers = {
            name.encode("ascii"): value.encode("latin-1")
            for name, value in (
                ("If-Match", if_match),
                ("If-None-Match", if_none_match),
                ("Content-Type", content_type),
                ("Accept", accept),
                *extra.items(),
            )
            if value is not None
        }
        body = None
        if method == "PATCH":
            body = _json(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "Lead"}],
                }
            )
        elif method == "PUT":
            body = _json({"displayName": "Seed group"})
        api.request(method, path, content=body, headers=headers)

    run()


@pytest.mark.parametrize("budget", BUDGETS)
def test_credentials_that_are_not_ours(tmp_path: Path, budget: settings) -> None:
    """Refused with 401, or 429 once the address failed too often; never written, never echoed."""
    with serve_api(f"sqlite:///{tmp_path / 'auth.db'}") as own:

        @budget
        @given(
            authorization=st.one_of(
                HEADER_VALUES,
                HEADER_VALUES.map(lambda t: ("Bearer " + t).strip()),
                st.sampled_from(["Bearer", "bearer " + TOKEN[:-1], "Basic " + TOKEN, TOKEN]),
            )
        )
        def run(authorization: str) -> None:
            with httpx.Client(base_url=own.base + "/scim/v2") as anonymous:
                response = own.store.send(
                    anonymous,
                    anonymous.build_request(
                        "POST",
                        "/Users",
                        json={"userName": "intruder@x.com"},
                        headers={b"Authorization": authorization.encode("latin-1")},
                    ),
                )
            assert response.status_code in (401, 429), authorization
            assert TOKEN not in response.text
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) > 0

        run()


PATH_PIECES = st.one_of(
    st.sampled_from(
        [
            "Users",
            "Groups",
            "Bulk",
            "Me",
            ".search",
            "Schemas",
            "ResourceTypes",
            "..",
            "%2e%2e",
            "ServiceProviderConfig",
            "ServiceProviderConfigs",
            "users",
            "",
            "%00",
            "%ZZ",
            "%ED%A0%80",
        ]
    ),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#/"), max_size=20
    ),
)
# Methods the HTTP server parses (an unknown one never reaches the application).
METHODS = st.sampled_from(
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
)


@pytest.mark.parametrize("budget", BUDGETS)
def test_made_up_paths_and_methods(api: Api, budget: settings) -> None:
    @budget
    @given(
        method=METHODS,
        pieces=st.lists(PATH_PIECES, min_size=0, max_size=4),
        under_scim=st.booleans(),
    )
    def run(method: str, pieces: list[str], under_scim: bool) -> None:
        path = ("/scim/v2/" if under_scim else "/") + "/".join(pieces)
        url = httpx.URL(api.base).copy_with(raw_path=path.encode("ascii"))
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            request = http.build_request(
                method, url, content=b"{}", headers={"Content-Type": "application/json"}
            )
            before = api.store.snapshot()
            response = http.send(request)
            if method == "HEAD":
                assert response.status_code < 500
            else:
                check_answer(response)
            if response.status_code >= 400:
                assert api.store.snapshot() == before

    run()
