"""Drift: how a user's worker differs from what the store says it should be.

Does: index listed workers by SID and case-folded friendly_name and remember which ones a user
or a link claims (the rest are orphans); find a user's worker as the reconciler would (linked
SID, then friendly_name, new then last known); sort a user, or the link of a deleted user, into
create / update / make unavailable / delete / unchanged, naming what differs (managed skills
apart from the other attributes), by the rules ``flex.sync.reconciler`` converges with.
Does not: call Twilio, read the store or write anything (``flex.sync.resync`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from scimbridge.flex.mapping.attributes import DesiredWorker, merge_attributes
from scimbridge.flex.mapping.config import DeprovisionPolicy
from scimbridge.flex.mapping.skills import merge_skills, skill_changes
from scimbridge.flex.sync.name_conflicts import WAITING_FOR_NAME
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.links import DISABLED, ENABLED, RETIRED, WorkerLink

ACTIONS = ("create", "update", "make_unavailable", "delete", "unchanged")
_ABSENT = object()


class Listed(Protocol):
    """What the index needs of a listed worker: a :class:`Worker`, or a smaller record of one."""

    @property
    def sid(self) -> str: ...

    @property
    def friendly_name(self) -> str: ...


W = TypeVar("W", bound=Listed)
# The user whose link holds a worker SID, and the friendly_name that user wants (None: nobody's).
Holders = Callable[[str], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Entry:
    """What resync found for one user, or for the link of a deleted user.

    ``differences`` say what drifted (``attributes: full_name``, ``friendly_name``,
    ``activity``, ``no worker``); ``skills``: how the managed skills drifted (``+spanish``,
    ``-billing``, ``spanish level 3→5``); ``relink``: the worker is right but the link must be
    rewritten; ``dead``: the user was dead-lettered, so it is converged whatever the diff says.
    """

    user_id: str
    label: str
    action: str
    worker: Worker | None
    differences: tuple[str, ...] = ()
    relink: bool = False
    dead: bool = False
    skills: tuple[str, ...] = ()

    @property
    def to_converge(self) -> bool:
        return self.action != "unchanged" or self.relink or self.dead


@dataclass(frozen=True)
class Failure:
    """A user resync cannot converge; ``reason`` is fit for an operator (no secrets)."""

    user_id: str
    label: str
    reason: str
    dead: bool = False


class WorkerIndex(Generic[W]):
    """Listed workers by SID and by case-folded friendly_name, and who claims which."""

    def __init__(self) -> None:
        self.workers: dict[str, W] = {}
        self._by_name: dict[str, W] = {}
        self._claimed_sids: set[str] = set()
        self._claimed_names: set[str] = set()
        self._taken: set[str] = set()

    def add(self, worker: W) -> None:
        self.workers[worker.sid] = worker
        self._by_name[worker.friendly_name.casefold()] = worker

    def claim(self, link: WorkerLink | None = None, friendly_name: str | None = None) -> None:
        """Workers with this SID or name belong to someone: never orphans."""
        for name in (friendly_name, link.friendly_name if link else None):
            if name:
                self._claimed_names.add(name.casefold())
        if link is not None and link.worker_sid:
            self._claimed_sids.add(link.worker_sid)

    def find(
        self,
        user_id: str,
        friendly_name: str,
        link: WorkerLink | None,
        holders: Holders,
    ) -> W | Failure | None:
        """A live user's worker: by linked SID, else by friendly_name (new, then last known).
        One found by name whose SID another live user's link holds (``holders``: SID → (user id,
        the friendly_name that user wants), None when no live user's link holds it) is a
        :class:`Failure`, as the converge would find it: a wait while that user is renamed away
        from the name, else a clash."""
        if link is not None and link.worker_sid in self.workers:
            return self._take(self.workers[link.worker_sid])
        for name in (friendly_name, link.friendly_name if link else None):
            worker = self._by_name.get(name.casefold()) if name else None
            if worker is None:
                continue
            holder, wanted = holders(worker.sid) or (user_id, friendly_name)
            if holder != user_id:
                if wanted.casefold() != worker.friendly_name.casefold():
                    reason = (
                        f"{WAITING_FOR_NAME} {worker.friendly_name!r}: the worker of user "
                        f"{holder} still has it until that user's rename lands"
                    )
                else:
                    reason = (
                        f"worker {worker.sid} ({worker.friendly_name}) is already linked to user "
                        f"{holder}; two users map to one friendly_name"
                    )
                return Failure(user_id, friendly_name, reason)
            return self._take(worker)
        return None

    def find_retired(self, link: WorkerLink) -> W | None:
        """The worker of a deleted user's link, unless a live user's worker it is now."""
        worker = self.workers.get(link.worker_sid or "") or self._by_name.get(
            (link.friendly_name or "").casefold()
        )
        if worker is None or worker.sid in self._taken:
            return None
        return self._take(worker)

    def orphans(self) -> list[W]:
        """Workers that no user and no link maps to, in listing order."""
        held = self._claimed_sids | self._taken
        return [
            worker
            for worker in self.workers.values()
            if worker.sid not in held and worker.friendly_name.casefold() not in self._claimed_names
        ]

    def _take(self, worker: W) -> W:
        self._taken.add(worker.sid)
        return worker


def diff_user(
    policy: DeprovisionPolicy,
    user_id: str,
    desired: DesiredWorker,
    link: WorkerLink | None,
    worker: Worker | None,
    dead: bool = False,
) -> Entry:
    """A live user's entry; ``worker`` as found (None: it has none)."""
    label = desired.friendly_name
    if not desired.active and policy.on_disable == "delete":
        relink = link is None or link.activity_state != DISABLED or bool(link.worker_sid)
        if worker is None:
            return Entry(user_id, label, "unchanged", None, relink=relink, dead=dead)
        why = ("user disabled; on_disable = delete",)
        return Entry(user_id, label, "delete", worker, why, relink, dead)
    if worker is None:
        return Entry(user_id, label, "create", None, ("no worker",), dead=dead)
    owned = link.owned_keys if link else ()
    merged = merge_attributes(worker.attributes, replace(desired, skills=None), owned)
    keys = _changed(worker.attributes, merged)
    skills = skill_changes(merged, merge_skills(merged, desired.skills))
    differences = [f"attributes: {', '.join(keys)}"] if keys else []
    if worker.friendly_name != desired.friendly_name:
        differences.append("friendly_name")
    moves = _activity_drift(policy, worker, desired, link)
    if moves:
        differences.append("activity")
    action = "update" if differences or skills else "unchanged"
    if moves and not desired.active:
        action = "make_unavailable"
    state = ENABLED if desired.active else DISABLED
    relink = link is None or (link.worker_sid, link.friendly_name, link.activity_state) != (
        worker.sid,
        worker.friendly_name,
        state,
    )
    return Entry(user_id, label, action, worker, tuple(differences), relink, dead, skills)


def diff_gone(
    policy: DeprovisionPolicy, link: WorkerLink, worker: Worker | None, dead: bool = False
) -> Entry:
    """A deleted user's link: its worker deleted, or kept offline, per ``on_delete``."""
    label = link.friendly_name or link.user_id
    if worker is None:
        return Entry(link.user_id, label, "unchanged", None, relink=True, dead=dead)
    if policy.on_delete == "delete":
        return Entry(link.user_id, label, "delete", worker, ("user deleted",), dead=dead)
    if not _same(worker.activity_name, policy.unavailable_activity):
        return Entry(link.user_id, label, "make_unavailable", worker, ("activity",), dead=dead)
    relink = (link.worker_sid, link.activity_state) != (worker.sid, RETIRED)
    return Entry(link.user_id, label, "unchanged", worker, relink=relink, dead=dead)


def _activity_drift(
    policy: DeprovisionPolicy, worker: Worker, desired: DesiredWorker, link: WorkerLink | None
) -> bool:
    """Whether the converge would move the worker to another activity (as
    ``flex.sync.reconciler`` does: a disabled user's worker to the unavailable activity, a
    re-enabled one to the available activity when one is configured)."""
    if not desired.active:
        return not _same(worker.activity_name, policy.unavailable_activity)
    wanted = policy.available_activity
    disabled = link is not None and link.activity_state == DISABLED
    return bool(wanted and disabled and not _same(worker.activity_name, wanted))


def _changed(current: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    """The keys whose value, or presence, differs."""
    keys = current.keys() | merged.keys()
    return sorted(key for key in keys if current.get(key, _ABSENT) != merged.get(key, _ABSENT))


def _same(activity_name: str, wanted: str) -> bool:
    return activity_name.casefold() == wanted.casefold()
