"""``flex.sync.drift``: how resync sorts users by what their listed worker shows."""

from __future__ import annotations

from typing import Any

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.mapping.config import DeprovisionPolicy
from scimbridge.flex.sync.drift import Failure, WorkerIndex, diff_gone, diff_user
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.links import DISABLED, ENABLED, RETIRED, WorkerLink

ANN = "ann@contoso.com"
OWNED = {"email": ANN, "full_name": "Ann"}
DESIRED = DesiredWorker(ANN, dict(OWNED), owned_keys=frozenset({"email", "full_name", "title"}))
DEFAULT = DeprovisionPolicy()


def worker(
    name: str = ANN,
    sid: str = "WK1",
    activity: str = "Offline",
    extra: dict[str, Any] | None = None,
) -> Worker:
    attributes = {**OWNED, **(extra or {})}
    return Worker(sid, name, attributes, "WA", activity, activity == "Available", None, True)


def link(**fields: object) -> WorkerLink:
    values: dict[str, object] = {
        "user_id": "u1",
        "friendly_name": ANN,
        "worker_sid": "WK1",
        "activity_state": ENABLED,
    }
    return WorkerLink(**{**values, **fields})  # type: ignore[arg-type]


def test_foreign_keys_are_no_drift_but_owned_ones_are_named() -> None:
    routed = worker(extra={"routing": {"skills": ["sales"]}, "channel.chat.capacity": 2})
    assert diff_user(DEFAULT, "u1", DESIRED, link(), routed).action == "unchanged"
    stale = worker(extra={"full_name": "Old", "title": "Boss"})
    entry = diff_user(DEFAULT, "u1", DESIRED, link(), stale)
    assert (entry.action, entry.differences) == ("update", ("attributes: full_name, title",))


def test_rename_and_activity_drift() -> None:
    renamed = diff_user(DEFAULT, "u1", DESIRED, link(), worker(name="ann.old@contoso.com"))
    assert (renamed.action, renamed.differences) == ("update", ("friendly_name",))
    disabled = DesiredWorker(ANN, dict(OWNED), active=False, owned_keys=DESIRED.owned_keys)
    available = worker(activity="Available")
    entry = diff_user(DEFAULT, "u1", disabled, link(activity_state=DISABLED), available)
    assert entry.action == "make_unavailable"
    offline = diff_user(DEFAULT, "u1", disabled, link(activity_state=DISABLED), worker())
    assert offline.action == "unchanged" and not offline.to_converge


def test_reenabled_user_moves_to_the_available_activity_only_when_configured() -> None:
    was_disabled = link(activity_state=DISABLED)
    assert diff_user(DEFAULT, "u1", DESIRED, was_disabled, worker()).action == "unchanged"
    policy = DeprovisionPolicy(available_activity="Available")
    entry = diff_user(policy, "u1", DESIRED, was_disabled, worker())
    assert (entry.action, entry.differences) == ("update", ("activity",))


def test_on_disable_delete_and_missing_workers() -> None:
    policy = DeprovisionPolicy(on_disable="delete")
    disabled = DesiredWorker(ANN, dict(OWNED), active=False)
    assert diff_user(policy, "u1", disabled, link(), worker()).action == "delete"
    gone = diff_user(policy, "u1", disabled, link(worker_sid=None, activity_state=DISABLED), None)
    assert gone.action == "unchanged" and not gone.to_converge
    assert diff_user(DEFAULT, "u1", DESIRED, link(), None).action == "create"


def test_a_missing_or_stale_link_is_rewritten_without_counting_as_drift() -> None:
    adopted = diff_user(DEFAULT, "u1", DESIRED, None, worker())
    assert (adopted.action, adopted.relink) == ("unchanged", True)
    assert adopted.to_converge


def test_index_finds_by_sid_then_name_and_refuses_a_worker_another_user_holds() -> None:
    index = WorkerIndex()
    mine, other, stray = worker(), worker("bob@contoso.com", "WK2"), worker("x@y.z", "WK3")
    for each in (mine, other, stray):
        index.add(each)
    index.claim(friendly_name=ANN)
    assert index.find("u1", ANN, link(worker_sid="WK1", friendly_name="old"), {}.get) == mine
    found = index.find("u9", "BOB@contoso.com", None, {"WK2": ("u2", "bob@contoso.com")}.get)
    assert isinstance(found, Failure) and "u2" in found.reason
    assert "two users map to one friendly_name" in found.reason
    waiting = index.find("u9", "BOB@contoso.com", None, {"WK2": ("u2", "bob.old@contoso.com")}.get)
    assert isinstance(waiting, Failure) and waiting.reason.startswith("waiting for friendly_name")
    assert index.orphans() == [other, stray]
    index.claim(link(user_id="u2", worker_sid="WK2", friendly_name="bob@contoso.com"))
    assert index.orphans() == [stray]


def test_deleted_users_worker_is_deleted_or_kept_offline_unless_a_live_user_took_it() -> None:
    retired = link(activity_state=RETIRED)
    assert diff_gone(DEFAULT, retired, worker()).action == "delete"
    keep = DeprovisionPolicy(on_delete="offline")
    assert diff_gone(keep, retired, worker()).action == "unchanged"
    assert diff_gone(keep, retired, worker(activity="Available")).action == "make_unavailable"
    index = WorkerIndex()
    index.add(worker())
    assert index.find("u2", ANN, None, {}.get) is not None
    assert index.find_retired(retired) is None, "the returning user's worker is not deleted"
