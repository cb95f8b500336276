"""The promises of ``store.group_edit.GroupEdit`` (``Directory.editing_group``), on both engines."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from scimbridge.store.database import Database
from scimbridge.store.directory import Directory
from scimbridge.store.errors import (
    Conflict,
    NotFound,
    TooLong,
    UnknownMembers,
    VersionMismatch,
)
from scimbridge.store.objects import Store
from scimbridge.store.resources import MembershipChange
from scimbridge.store.tables import audit_log
from tests.contract.conftest import group, user


def _add(*user_ids: str) -> MembershipChange:
    return MembershipChange(add=frozenset(user_ids))


def _drained(store: Store) -> None:
    """Settle every queued sync, so the next assertions see only what follows."""
    for claim in store.outbox.claim("contract", limit=100, lease_seconds=60):
        assert store.outbox.complete(claim)
    assert store.outbox.backlog() == 0


def _members(directory: Directory, group_id: str) -> list[str]:
    return [user_id for user_id, _ in directory.group_members([group_id])[group_id]]


def _audited(database: Database, group_id: str) -> list[tuple[str, str, object]]:
    query = (
        select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail)
        .where(audit_log.c.resource_id == group_id)
        .order_by(audit_log.c.id)
    )
    with database.engine.connect() as conn:
        return [(row[0], row[1], row[2]) for row in conn.execute(query)]


def test_a_write_stores_document_and_membership_audits_and_bumps_the_version(
    database: Database,
) -> None:
    directory = Directory(database)
    ann = directory.create_user(user("ann@contoso.com"), actor="t")
    sales = directory.create_group(group("Sales"), MembershipChange(), actor="t")
    with directory.editing_group(sales.id) as edit:
        assert edit.current == sales and edit.members() == []
        document = {**sales.document, "externalId": "s-1"}
        written = edit.write(
            document, _add(ann.id), actor="entra", action="patch", detail=["add members"]
        )
        assert edit.current == written
        assert edit.members() == [(ann.id, "ann@contoso.com")], "the write, seen in the edit"
    assert written.version == sales.version + 1 and written.created_at == sales.created_at
    assert directory.get_group(sales.id) == written
    assert _members(directory, sales.id) == [ann.id]
    assert _audited(database, sales.id)[-1] == ("entra", "patch", ["add members"])


def test_an_unchanged_group_keeps_its_version_and_queues_nothing(database: Database) -> None:
    calls: list[None] = []
    directory = Directory(database, sync_groups=True, on_enqueue=lambda: calls.append(None))
    store = Store.of(database)
    ann = directory.create_user(user("ann@contoso.com"), actor="t")
    sales = directory.create_group(group("Sales"), _add(ann.id), actor="t")
    _drained(store)
    audits, calls[:] = len(_audited(database, sales.id)), []
    for membership in (MembershipChange(), _add(ann.id), MembershipChange(remove=frozenset())):
        with directory.editing_group(sales.id) as edit:
            same = edit.write(dict(sales.document), membership, actor="t", action="patch")
        assert same == sales, "an add of a member already there changes nobody"
    assert directory.get_group(sales.id).version == sales.version
    assert store.outbox.backlog() == 0 and calls == []
    assert len(_audited(database, sales.id)) == audits


def test_a_membership_change_alone_is_a_new_version_and_queues_whom_it_touched(
    database: Database,
) -> None:
    directory = Directory(database, sync_groups=True)
    store = Store.of(database)
    ann, bob = (directory.create_user(user(n), actor="t") for n in ("ann@x.com", "bob@x.com"))
    sales = directory.create_group(group("Sales"), _add(ann.id), actor="t")
    _drained(store)
    with directory.editing_group(sales.id) as edit:
        written = edit.write(
            dict(sales.document),
            MembershipChange(replace=frozenset({bob.id})),
            actor="t",
            action="replace",
        )
    assert written.version == sales.version + 1
    assert _members(directory, sales.id) == [bob.id]
    assert store.outbox.is_pending(ann.id) and store.outbox.is_pending(bob.id)


def test_a_rename_queues_every_member_only_with_sync_groups(database: Database) -> None:
    store = Store.of(database)
    quiet = Directory(database)
    calls: list[None] = []
    syncing = Directory(database, sync_groups=True, on_enqueue=lambda: calls.append(None))
    ann = quiet.create_user(user("ann@contoso.com"), actor="t")
    sales = quiet.create_group(group("Sales"), _add(ann.id), actor="t")
    _drained(store)
    with quiet.editing_group(sales.id) as edit:
        edit.write(group("Sales EMEA"), MembershipChange(), actor="t", action="patch")
    assert store.outbox.backlog() == 0, "no group names are synced: nobody is queued"
    with syncing.editing_group(sales.id) as edit:
        renamed = edit.write(group("Sales West"), MembershipChange(), actor="t", action="patch")
    assert renamed.document["displayName"] == "Sales West" and renamed.version == 3
    assert store.outbox.is_pending(ann.id) and store.outbox.backlog() == 1
    assert calls == [None], "woken once, after the commit"


def test_what_the_block_raises_writes_nothing(store: Store) -> None:
    directory = store.directory
    ann = directory.create_user(user("ann@contoso.com"), actor="t")
    sales = directory.create_group(group("Sales"), MembershipChange(), actor="t")
    with pytest.raises(ValueError), directory.editing_group(sales.id) as edit:
        edit.write(group("Lost"), _add(ann.id), actor="t", action="patch")
        raise ValueError("the caller refuses after writing")
    assert directory.get_group(sales.id) == sales
    assert _members(directory, sales.id) == []


def test_refusals_write_nothing(store: Store) -> None:
    directory = store.directory
    ann = directory.create_user(user("ann@contoso.com"), actor="t")
    directory.create_group(group("Support"), MembershipChange(), actor="t")
    sales = directory.create_group(group("Sales"), _add(ann.id), actor="t")
    ghost = str(uuid.uuid4())
    with pytest.raises(UnknownMembers) as refused, directory.editing_group(sales.id) as edit:
        edit.write(group("Sales 2"), _add(ghost), actor="t", action="patch")
    assert refused.value.member_ids == [ghost]
    with pytest.raises(Conflict), directory.editing_group(sales.id) as edit:
        edit.write(
            group("SUPPORT"), MembershipChange(remove=frozenset({ann.id})), actor="t", action="p"
        )
    with pytest.raises(TooLong), directory.editing_group(sales.id) as edit:
        edit.write(group("g" * 513), MembershipChange(), actor="t", action="p")
    with pytest.raises(VersionMismatch), directory.editing_group(sales.id, if_match={2}):
        pass
    with pytest.raises(NotFound), directory.editing_group(str(uuid.uuid4())):
        pass
    assert directory.get_group(sales.id) == sales
    assert _members(directory, sales.id) == [ann.id]
