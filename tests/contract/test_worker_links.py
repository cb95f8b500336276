"""The promises of ``store.links.WorkerLinks``'s docstring, one test each, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scimbridge.store.links import ENABLED, WorkerLink, WorkerLinkConflict
from scimbridge.store.objects import Store
from tests.contract.conftest import user

SID = "WK" + "0" * 32


def test_no_link_is_none_and_an_upserted_link_comes_back_whole(store: Store) -> None:
    assert store.links.get("nobody") is None and store.links.get_by_worker(SID) is None
    link = WorkerLink(
        "u1",
        friendly_name="ann@contoso.com",
        worker_sid=SID,
        activity_state=ENABLED,
        etag="7",
        attributes={"email": "ann@contoso.com", "routing": {"skills": ["sales"]}},
        owned_keys=("email", "routing"),
        last_synced_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        problems=("department: not a string",),
    )
    store.links.upsert(link)
    assert store.links.get("u1") == link
    assert store.links.get_by_worker(SID) == link
    store.links.upsert(link.replace(etag="8"))
    assert store.links.list_links() == [link.replace(etag="8")]


def test_a_sid_held_by_a_live_user_is_a_conflict_and_nothing_is_written(store: Store) -> None:
    ann = store.directory.create_user(user("ann@contoso.com"), actor="t")
    store.links.upsert(WorkerLink(ann.id, worker_sid=SID))
    with pytest.raises(WorkerLinkConflict) as refused:
        store.links.upsert(WorkerLink("someone-else", worker_sid=SID))
    assert refused.value.user_id == ann.id
    assert store.links.get("someone-else") is None
    assert store.links.get_by_worker(SID) == WorkerLink(ann.id, worker_sid=SID)


def test_a_sid_held_by_a_deleted_users_link_is_taken_over(store: Store) -> None:
    store.links.upsert(WorkerLink("gone-user", worker_sid=SID))
    store.links.upsert(WorkerLink("new-user", worker_sid=SID))
    assert store.links.get("gone-user") is None
    assert store.links.get_by_worker(SID) == WorkerLink("new-user", worker_sid=SID)


def test_record_error_keeps_the_error_and_creates_a_bare_link(store: Store) -> None:
    store.links.record_error("u1", "refused: 400")
    assert store.links.get("u1") == WorkerLink("u1", last_error="refused: 400")
    store.links.upsert(WorkerLink("u2", worker_sid=SID))
    store.links.record_error("u2", "busy")
    assert store.links.get("u2") == WorkerLink("u2", worker_sid=SID, last_error="busy")


def test_delete_link_says_whether_there_was_one(store: Store) -> None:
    store.links.upsert(WorkerLink("u1"))
    assert store.links.delete_link("u1") is True
    assert store.links.delete_link("u1") is False


def test_mapping_problems_list_stored_users_only_by_username(store: Store) -> None:
    bob = store.directory.create_user(user("bob@contoso.com"), actor="t")
    ann = store.directory.create_user(user("ann@contoso.com"), actor="t")
    store.links.upsert(WorkerLink(bob.id, problems=("title: too long",)))
    store.links.upsert(WorkerLink(ann.id, problems=("department: not a string",)))
    store.links.upsert(WorkerLink("deleted-user", problems=("x",)))
    store.links.upsert(WorkerLink("fine-user"))
    assert store.links.mapping_problems() == [
        ("ann@contoso.com", ("department: not a string",)),
        ("bob@contoso.com", ("title: too long",)),
    ]
