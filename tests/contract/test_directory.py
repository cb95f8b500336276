"""The promises of ``store.directory.Directory``'s docstring, one test each, on both engines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from scim2_models import Group, User

from scimbridge.store.database import Database
from scimbridge.store.directory import Directory
from scimbridge.store.errors import (
    Conflict,
    NotFound,
    TooLong,
    UnknownMembers,
    VersionMismatch,
    WouldBlock,
)
from scimbridge.store.objects import Store
from scimbridge.store.query.filters import parse_filter
from scimbridge.store.query.sort_keys import parse_sort_by
from scimbridge.store.resources import MembershipChange
from tests.contract.conftest import group, user


def _everyone(directory: Directory) -> list[str]:
    return [
        row.document["userName"]
        for row in directory.query_users(directory.select_users(), 0, 100)[1]
    ]


def test_create_fills_id_version_and_times_and_keeps_the_document(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    document = user("ann@contoso.com", displayName="Ann")
    created = store.directory.create_user(dict(document), actor="test")
    uuid.UUID(created.id)
    assert created.version == 1
    assert before <= created.created_at == created.updated_at <= datetime.now(UTC)
    stored = store.directory.get_user(created.id)
    assert (
        stored.document == document
        and "meta" not in stored.document
        and "id" not in stored.document
    )
    assert stored.created_at.tzinfo is not None and stored.version == 1


def test_an_unknown_id_is_not_found_for_every_call(store: Store) -> None:
    directory, missing = store.directory, str(uuid.uuid4())
    calls = [
        lambda: directory.get_user(missing),
        lambda: directory.update_user(missing, dict, actor="t", action="patch"),
        lambda: directory.delete_user(missing, actor="t"),
        lambda: directory.get_group(missing),
        lambda: directory.delete_group(missing, actor="t"),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    for editing in (directory.editing_user, directory.editing_group):
        with pytest.raises(NotFound), editing(missing):
            pass


def test_a_taken_name_in_another_case_is_a_conflict_and_writes_nothing(store: Store) -> None:
    directory = store.directory
    directory.create_user(user("Ann@Contoso.com"), actor="t")
    with pytest.raises(Conflict):
        directory.create_user(user("ann@contoso.COM"), actor="t")
    directory.create_group(group("Sales"), MembershipChange(), actor="t")
    with pytest.raises(Conflict):
        directory.create_group(group("SALES"), MembershipChange(), actor="t")
    assert _everyone(directory) == ["Ann@Contoso.com"]
    assert len(directory.list_groups()) == 1


def test_a_stale_if_match_is_a_version_mismatch_and_writes_nothing(store: Store) -> None:
    directory = store.directory
    created = directory.create_user(user("ann@contoso.com"), actor="t")
    with pytest.raises(VersionMismatch):
        directory.update_user(
            created.id, lambda d: {**d, "displayName": "x"}, actor="t", action="patch", if_match={7}
        )
    with pytest.raises(VersionMismatch):
        directory.delete_user(created.id, actor="t", if_match={2})
    assert directory.get_user(created.id).version == 1
    assert "displayName" not in directory.get_user(created.id).document


def test_a_member_who_is_no_stored_user_is_refused_and_nothing_is_written(store: Store) -> None:
    directory = store.directory
    ann = directory.create_user(user("ann@contoso.com"), actor="t")
    ghost = str(uuid.uuid4())
    with pytest.raises(UnknownMembers) as refused:
        directory.create_group(
            group("Sales"), MembershipChange(add=frozenset({ann.id, ghost})), actor="t"
        )
    assert refused.value.member_ids == [ghost]
    assert directory.list_groups() == []


def test_an_unchanged_update_keeps_its_version_and_queues_nothing(store: Store) -> None:
    created = store.directory.create_user(user("ann@contoso.com"), actor="t")
    claimed = store.outbox.claim("contract", limit=10, lease_seconds=60)
    assert [c.user_id for c in claimed] == [created.id]
    assert store.outbox.complete(claimed[0])
    same = store.directory.update_user(created.id, lambda d: d, actor="t", action="patch")
    assert same.version == 1 and store.outbox.backlog() == 0


def test_user_writes_queue_the_user_and_memberships_only_with_sync_groups(
    database: Database,
) -> None:
    quiet, syncing = Directory(database), Directory(database, sync_groups=True)
    store = Store.of(database)
    ann = quiet.create_user(user("ann@contoso.com"), actor="t")
    assert store.outbox.is_pending(ann.id)
    store.outbox.complete(store.outbox.claim("c", limit=10, lease_seconds=60)[0])
    quiet.create_group(group("Sales"), MembershipChange(add=frozenset({ann.id})), actor="t")
    assert store.outbox.backlog() == 0
    syncing.create_group(group("Support"), MembershipChange(add=frozenset({ann.id})), actor="t")
    assert store.outbox.is_pending(ann.id)


def test_on_enqueue_is_called_after_a_commit_that_queued(database: Database) -> None:
    calls: list[int] = []
    directory = Directory(database, on_enqueue=lambda: calls.append(len(_everyone(directory))))
    directory.create_user(user("ann@contoso.com"), actor="t")
    assert calls == [1], "called once, after the user was committed"


def test_a_query_counts_every_match_and_orders_by_sort_then_creation(store: Store) -> None:
    directory = store.directory
    for name, title in [("c@x.com", "B"), ("a@x.com", "A"), ("b@x.com", "B"), ("d@x.com", None)]:
        directory.create_user(user(name, **({"title": title} if title else {})), actor="t")
    by_title = directory.select_users(sort_by=parse_sort_by("title"), model=User)
    total, page = directory.query_users(by_title, 0, 3)
    assert total == 4
    # Ties keep creation order; a user without the attribute sorts last.
    assert [row.document["userName"] for row in page] == ["a@x.com", "c@x.com", "b@x.com"]
    descending = directory.select_users(sort_by=parse_sort_by("title"), model=User, descending=True)
    assert [r.document["userName"] for r in directory.query_users(descending, 0, 4)[1]][
        -1
    ] == "d@x.com"
    matching = directory.select_users(parse_filter('title eq "B"'), model=User)
    assert not matching.index_lookup
    assert directory.query_users(matching, 1, 1)[0] == 2


def test_an_identifier_equality_is_an_index_lookup(store: Store) -> None:
    directory = store.directory
    ann = directory.create_user(user("Ann@contoso.com"), actor="t")
    by_name = directory.select_users(parse_filter('USERNAME eq "ann@CONTOSO.com"'), model=User)
    assert by_name.index_lookup
    assert [row.id for row in directory.query_users(by_name, 0, 10)[1]] == [ann.id]
    both = directory.select_users(parse_filter(f'id eq "{ann.id}" and active eq true'), model=User)
    assert both.index_lookup
    assert directory.select_groups(parse_filter('displayName eq "Sales"'), model=Group).index_lookup


def test_without_waiting_refuses_at_once_where_the_database_offers_no_such_calls(
    database: Database,
) -> None:
    directory = Directory(database)  # no inline engine: every call may wait
    assert not directory.offers_calls_without_waiting
    with pytest.raises(WouldBlock), directory.without_waiting():
        directory.create_user(user("ann@contoso.com"), actor="t")
    assert _everyone(directory) == []


def test_an_edit_writes_what_its_caller_computed_and_nothing_when_it_raises(
    store: Store,
) -> None:
    directory = store.directory
    read = directory.create_user(user("ann@contoso.com"), actor="t")
    with directory.editing_user(read.id) as edit:
        assert edit.current == read
        written = edit.write({**read.document, "title": "Agent"}, actor="t", action="patch")
    assert written.version == read.version + 1
    assert directory.get_user(read.id).document["title"] == "Agent"
    with pytest.raises(ValueError), directory.editing_user(read.id) as edit:
        edit.write({**edit.current.document, "title": "Lost"}, actor="t", action="patch")
        raise ValueError("the caller refuses after writing")
    assert directory.get_user(read.id).document["title"] == "Agent"
    with directory.editing_user(read.id) as edit:
        assert edit.write(edit.current.document, actor="t", action="patch") == edit.current
    assert directory.get_user(read.id).version == written.version
    with pytest.raises(VersionMismatch), directory.editing_user(read.id, if_match={1}):
        pass
    with pytest.raises(NotFound), directory.editing_user(str(uuid.uuid4())):
        pass


def test_values_longer_than_their_column_are_refused_before_any_write(store: Store) -> None:
    directory = store.directory
    with pytest.raises(TooLong) as refused:
        directory.create_user(user("\u0130" * 300), actor="t")  # folds to 600 characters
    assert refused.value.column == "user_name_key"
    assert _everyone(directory) == []
    read = directory.create_user(user("ann@contoso.com"), actor="t")
    with pytest.raises(TooLong), directory.editing_user(read.id) as edit:
        edit.write({**read.document, "displayName": "d" * 513}, actor="t", action="p")
    assert directory.get_user(read.id).version == read.version
    with pytest.raises(TooLong):
        directory.create_group(group("g" * 513), MembershipChange(), actor="t")
