"""The promises of ``store.outbox.Outbox``'s docstring, one test each, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scimbridge.store.objects import Store
from tests.contract.conftest import user


def _queued(store: Store, *names: str) -> list[str]:
    return [store.directory.create_user(user(name), actor="t").id for name in names]


def test_a_row_is_leased_to_one_owner_and_each_claim_counts_an_attempt(store: Store) -> None:
    (ann,) = _queued(store, "ann@contoso.com")
    first = store.outbox.claim("one", limit=10, lease_seconds=60)
    assert [(c.user_id, c.owner, c.attempts) for c in first] == [(ann, "one", 1)]
    assert store.outbox.claim("two", limit=10, lease_seconds=60) == []
    later = datetime.now(UTC) + timedelta(seconds=120)  # the lease has expired by then
    again = store.outbox.claim("two", limit=10, lease_seconds=60, now=later)
    assert [(c.owner, c.attempts) for c in again] == [("two", 2)]


def test_complete_deletes_the_row_unless_a_change_arrived_during_the_claim(store: Store) -> None:
    ann, bob = _queued(store, "ann@contoso.com", "bob@contoso.com")
    claims = {c.user_id: c for c in store.outbox.claim("one", limit=10, lease_seconds=60)}
    store.directory.update_user(bob, lambda d: {**d, "title": "x"}, actor="t", action="patch")
    assert store.outbox.complete(claims[ann]) is True
    assert store.outbox.complete(claims[bob]) is False
    assert not store.outbox.is_pending(ann)
    assert [c.user_id for c in store.outbox.claim("two", limit=10, lease_seconds=60)] == [bob]


def test_dead_letter_parks_the_row_unless_a_change_arrived(store: Store) -> None:
    ann, bob = _queued(store, "ann@contoso.com", "bob@contoso.com")
    claims = {c.user_id: c for c in store.outbox.claim("one", limit=10, lease_seconds=60)}
    store.directory.update_user(bob, lambda d: {**d, "title": "x"}, actor="t", action="patch")
    assert store.outbox.dead_letter(claims[ann], "refused: 400") is True
    assert store.outbox.dead_letter(claims[bob], "refused: 400") is False
    letters = store.outbox.dead_letters()
    assert [(d.user_id, d.user_name, d.last_error) for d in letters] == [
        (ann, "ann@contoso.com", "refused: 400")
    ]
    assert store.outbox.dead_count() == 1 and store.outbox.backlog() == 1
    assert store.outbox.revive_dead() == 1
    assert store.outbox.dead_letters() == [] and store.outbox.backlog() == 2


def test_reschedule_waits_and_release_is_due_now_uncounted(store: Store) -> None:
    ann, bob = _queued(store, "ann@contoso.com", "bob@contoso.com")
    claims = {c.user_id: c for c in store.outbox.claim("one", limit=10, lease_seconds=60)}
    store.outbox.reschedule(
        claims[ann], "Twilio unreachable: 503", datetime.now(UTC) + timedelta(hours=1)
    )
    store.outbox.release(claims[bob])
    due = store.outbox.claim("two", limit=10, lease_seconds=60)
    assert [(c.user_id, c.attempts) for c in due] == [(bob, 1)]
    assert store.outbox.latest_error() == "Twilio unreachable: 503"
    assert store.outbox.retry_waiting_now() == 1
    assert [c.user_id for c in store.outbox.claim("three", limit=10, lease_seconds=60)] == [ann]


def test_a_claim_taken_over_by_another_owner_changes_nothing(store: Store) -> None:
    (ann,) = _queued(store, "ann@contoso.com")
    (stale,) = store.outbox.claim("one", limit=10, lease_seconds=60)
    later = datetime.now(UTC) + timedelta(seconds=120)
    (current,) = store.outbox.claim("two", limit=10, lease_seconds=60, now=later)
    assert store.outbox.complete(stale) is False
    assert store.outbox.dead_letter(stale, "late") is False
    assert store.outbox.dead_letters() == [] and store.outbox.is_pending(ann)
    assert store.outbox.complete(current) is True


def test_counts_and_ages_read_the_database_as_it_is(store: Store) -> None:
    assert (store.outbox.backlog(), store.outbox.oldest_pending_age()) == (0, None)
    _queued(store, "ann@contoso.com")
    store.outbox.enqueue_many(_queued(store, "bob@contoso.com"), "resync")
    assert store.outbox.backlog() == 2  # bob's two reasons coalesced into one row
    age = store.outbox.oldest_pending_age(datetime.now(UTC) + timedelta(seconds=30))
    assert age is not None and 29 <= age <= 60
