"""OIDC claim names as ``[flex.attributes]`` sources: each resolves on a user that has the
attribute behind it and on one that lacks it; check-config shows the claim and the SCIM path."""

from __future__ import annotations

from typing import Any

import pytest

from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.mapping.desired import desired_worker, explain
from scimbridge.flex.mapping.expressions import MappingError
from scimbridge.flex.mapping.oidc_claims import CLAIMS

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
FULL: dict[str, Any] = {
    "schemas": [CORE],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "ann.lee",
    "userName": "ann.lee@contoso.com",
    "displayName": "Ann Lee",
    "name": {"givenName": "Ann", "familyName": "Lee", "formatted": "Ms Ann Lee"},
    "emails": [
        {"value": "ann@home.example", "type": "home", "primary": True},
        {"value": "ann.lee@contoso.com", "type": "work"},
    ],
    "phoneNumbers": [
        {"value": "+1 555 0100", "type": "mobile"},
        {"value": "+1 555 0199", "type": "work"},
    ],
    "addresses": [
        {"type": "work", "formatted": "1 Main St, Springfield"},
        {"type": "home", "formatted": "2 Elm St"},
    ],
}
# Every attribute behind a claim missing or empty; the worker still has a friendly_name.
LACKING: dict[str, Any] = {
    "schemas": [CORE],
    "userName": "bob@contoso.com",
    "name": {"givenName": ""},
    "emails": [{"value": "bob@home.example", "type": "home"}],
    "phoneNumbers": [{"value": "+1 555 0111", "type": "mobile"}],
    "addresses": [{"type": "home", "formatted": "3 Oak St"}],
}

# (claim, value on FULL, the SCIM path check-config names for FULL)
ON_FULL = [
    ("sub", "ann.lee", "externalId"),
    ("name", "Ann Lee", "displayName"),
    ("given_name", "Ann", "name.givenName"),
    ("family_name", "Lee", "name.familyName"),
    ("email", "ann.lee@contoso.com", 'emails[type eq "work"].value'),
    ("email_verified", True, 'emails[type eq "work"].value is present'),
    ("phone_number", "+1 555 0199", 'phoneNumbers[type eq "work"].value'),
    ("phone_number_verified", True, 'phoneNumbers[type eq "work"].value is present'),
    ("address", "1 Main St, Springfield", 'addresses[type eq "work"].formatted'),
]


def mapping_of(*claims: str) -> Any:
    rules = {f"k_{claim}": {"source": claim} for claim in claims}
    return parse_mapping({"attributes": rules, "custom_extensions": False})


def test_the_table_covers_every_oidc_claim_the_vocabulary_names() -> None:
    assert sorted(CLAIMS) == sorted(claim for claim, _, _ in ON_FULL)


@pytest.mark.parametrize(("claim", "value", "path"), ON_FULL)
def test_each_claim_resolves_on_a_user_that_has_it(claim: str, value: Any, path: str) -> None:
    mapping = mapping_of(claim)
    assert desired_worker(FULL, [], mapping).attributes[f"k_{claim}"] == value
    rows = {target: origin for target, _, origin in explain(FULL, [], mapping)}
    assert rows[f"k_{claim}"] == f"source {claim} (OIDC claim) → {path}"


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_each_claim_is_left_off_for_a_user_that_lacks_it(claim: str) -> None:
    mapping = mapping_of(claim)
    worker = desired_worker(LACKING, [], mapping)
    assert f"k_{claim}" not in worker.attributes
    assert f"k_{claim}" in worker.owned_keys, "owned: a stale value on the worker is removed"
    rows = {target: origin for target, _, origin in explain(LACKING, [], mapping)}
    assert rows[f"k_{claim}"].startswith(f"source {claim} (OIDC claim) → none of ")
    assert rows[f"k_{claim}"].endswith("empty, so left off the worker")


def test_fallbacks_sub_to_id_name_to_formatted_primary_phone_and_address_parts() -> None:
    user = {
        "schemas": [CORE],
        "id": "2819c223",
        "userName": "cy@contoso.com",
        "name": {"formatted": "Cy Young"},
        "emails": [{"value": "cy@contoso.com", "primary": True}],
        "phoneNumbers": [{"value": "+1 555 0123", "type": "mobile", "primary": True}],
        "addresses": [
            {"type": "work", "streetAddress": "1 Main St", "locality": "Springfield",
             "region": "IL", "postalCode": "62701", "country": "US"},
        ],
    }  # fmt: skip
    mapping = mapping_of("sub", "name", "email", "phone_number", "address")
    assert desired_worker(user, [], mapping).attributes == {
        "email": "cy@contoso.com",
        "full_name": "Cy Young",
        "roles": ["agent"],
        "contact_uri": "client:cy_40contoso_2Ecom",
        "k_sub": "2819c223",
        "k_name": "Cy Young",
        "k_email": "cy@contoso.com",
        "k_phone_number": "+1 555 0123",
        "k_address": "1 Main St, Springfield, IL 62701, US",
    }
    rows = {target: origin for target, _, origin in explain(user, [], mapping)}
    assert rows["k_sub"].endswith("→ id")
    assert rows["k_phone_number"].endswith("→ phoneNumbers[primary eq true].value")
    assert "streetAddress" in rows["k_address"]


def test_verified_claims_are_booleans_unless_a_type_says_otherwise() -> None:
    mapping = parse_mapping(
        {
            "attributes": {
                "verified": {"source": "email_verified"},
                "verified_text": {"source": "phone_number_verified", "type": "string"},
            }
        }
    )
    attributes = desired_worker(FULL, [], mapping).attributes
    assert (attributes["verified"], attributes["verified_text"]) == (True, "True")


def test_scim_paths_still_read_scim_and_an_alias_works_beside_them() -> None:
    mapping = parse_mapping(
        {"attributes": {"a": {"source": "name.givenName"}, "b": {"source": "given_name"}}}
    )
    attributes = desired_worker(FULL, [], mapping).attributes
    assert attributes["a"] == attributes["b"] == "Ann"


@pytest.mark.parametrize("source", ["Name", "EMAIL", "Given_Name", "SUB"])
def test_a_source_colliding_with_a_claim_name_is_refused(source: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping({"attributes": {"x": {"source": source}}})
    (problem,) = caught.value.problems
    assert problem.startswith(f"flex.attributes.x.source: {source!r} reads the SCIM path")
    assert f"write {source.lower()!r} for the claim" in problem
