"""The fake's worker table at size: a list page reads its own workers, the rules still hold.

The fake must stay usable at 100,000 workers (``bench/resync_scale.py``), so a page of a list
looks at the page's workers (and one on either side), not at every worker; and the indexes
behind that keep TaskRouter's rules: case-insensitive unique friendly names through renames and
deletes, list order by creation, the cap on available workers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.options import FakeFlexOptions
from scimbridge.testing.fakeflex.records import FakeApiError, WorkerRecord
from scimbridge.testing.fakeflex.render import PageRequest, encode_token, paginate

WORKERS = 3000


def page_of(state: FakeFlexState, seen: list[str], **query: str) -> dict[str, object]:
    """One page of the workers list, counting each worker the listing looked at."""

    def where(record: WorkerRecord) -> bool:
        seen.append(record.sid)
        return True

    with state.lock:
        return paginate(
            state.listing(where=where),
            WorkerRecord.sort_key,
            PageRequest.from_query(query),
            key="workers",
            list_url="http://fake/v1/Workspaces/WS/Workers",
            filters=[],
            render=lambda record: {"sid": record.sid, "friendly_name": record.friendly_name},
        )


def test_a_page_looks_only_at_its_own_workers_however_many_there_are() -> None:
    state = FakeFlexState()
    for number in range(WORKERS):
        state.create_worker(f"agent-{number:05d}@contoso.com")
    middle = state.workers()[1499]
    seen: list[str] = []
    page = page_of(state, seen, PageSize="50", PageToken=encode_token("after", middle.sort_key()))
    names = [worker["friendly_name"] for worker in page["workers"]]  # type: ignore[attr-defined]
    assert names == [f"agent-{number:05d}@contoso.com" for number in range(1500, 1550)]
    meta = page["meta"]
    assert meta["next_page_url"] and meta["previous_page_url"]  # type: ignore[index]
    assert len(seen) <= 52, "the page, one past it and one before it"
    seen.clear()
    last = page_of(state, seen, PageSize="1000", PageToken=encode_token("after", middle.sort_key()))
    assert len(last["workers"]) == 1000 and len(seen) <= 1002  # type: ignore[arg-type]


def test_friendly_names_stay_unique_case_insensitively_through_renames_and_deletes() -> None:
    state = FakeFlexState()
    ann = state.create_worker("ann@contoso.com")
    with pytest.raises(FakeApiError, match="already exists"):
        state.create_worker("ANN@contoso.com")
    state.update_worker(ann.sid, friendly_name="Ann.Renamed@contoso.com")
    assert state.worker_named("ann.renamed@CONTOSO.com") is not None
    state.create_worker("ann@contoso.com")  # the old name is free again
    with pytest.raises(FakeApiError, match="already exists"):
        state.create_worker("ann.renamed@contoso.com")
    state.delete_worker(ann.sid)
    assert state.worker_named("ann.renamed@contoso.com") is None
    state.create_worker("ann.renamed@contoso.com")


def test_the_list_keeps_creation_time_order_when_the_clock_goes_back() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    now = [base]
    state = FakeFlexState(clock=lambda: now[0])
    for name, minute in (("e", 5), ("b", 1), ("d", 3), ("a", 0), ("c", 4)):
        now[0] = base + timedelta(minutes=minute)
        state.create_worker(name)
    assert [worker.friendly_name for worker in state.workers()] == ["a", "b", "d", "c", "e"]
    seen: list[str] = []
    first = page_of(state, seen, PageSize="2")
    assert [w["friendly_name"] for w in first["workers"]] == ["a", "b"]  # type: ignore[attr-defined]
    state.delete_worker(state.worker_named("b").sid)  # type: ignore[union-attr]
    assert [worker.friendly_name for worker in state.workers()] == ["a", "d", "c", "e"]


def test_the_cap_on_available_workers_counts_moves_and_deletes() -> None:
    state = FakeFlexState(options=FakeFlexOptions(max_available_workers=2))
    available, offline = state.activity_sid("Available"), state.activity_sid("Offline")
    one = state.create_worker("one", activity_sid=available)
    two = state.create_worker("two", activity_sid=available)
    with pytest.raises(FakeApiError, match="Max concurrent Workers"):
        state.create_worker("three", activity_sid=available)
    state.update_worker(two.sid, attributes='{"a":1}', activity_sid=available)  # itself: no count
    state.update_worker(one.sid, activity_sid=offline)
    three = state.create_worker("three", activity_sid=available)
    with pytest.raises(FakeApiError, match="Max concurrent Workers"):
        state.update_worker(one.sid, activity_sid=available)
    state.delete_worker(three.sid)
    state.update_worker(one.sid, activity_sid=available)
