"""Resync: diff the store against TaskRouter, plan, converge the drifted users, report.

Does: list every worker page by page (for one user: fetch its linked worker, else look its
friendly_name up), compute every stored user's desired worker from the store, diff locally and
sort each user into create / update / make unavailable / delete / unchanged, name the orphans
(workers no user or link maps to); then revive dead-lettered users, converge each drifted user
through :meth:`Reconciler.converge_from`, and remove orphans when asked.
Does not: decide what a worker should look like (``flex.mapping``), merge or write attributes
(``flex.sync``), print, or ask for confirmation (``cli``).

Twilio calls: the list pages, then one call per drifted user where that is safe. A create, a
rename and an activity change cost one call; owned attributes changed in the store cost one
conditional update against the link's snapshot once ``If-Match`` is known to be honoured. Owned
attributes changed *in Flex* cost two: a listing has no ETag and its attributes may be stale, so
the worker is fetched and written with ``If-Match`` rather than overwritten from the listing — a
routing edit made since the listing must survive. Deleting costs 1-2 (offline, delete). Once
per run: the activities list and the ``If-Match`` probe. Unchanged users cost nothing, except
that a listed worker with empty attributes (the live API may list them as null) is fetched to
diff (``Plan.fetched``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from scimbridge.flex.mapping import DesiredWorker, IdentityError, desired_worker, merge_attributes
from scimbridge.flex.sync import Reconciler, SyncResult
from scimbridge.flex.taskrouter import Worker
from scimbridge.flex.worker import classify
from scimbridge.store import links, outbox
from scimbridge.store.links import DISABLED, ENABLED, RETIRED, WorkerLink
from scimbridge.store.repository import Repository, StoredResource, comparison_key
from scimbridge.store.tables import users

ACTIONS = ("create", "update", "make_unavailable", "delete", "unchanged")
PAGE_SIZE = 1000
_ABSENT = object()


@dataclass(frozen=True)
class Entry:
    """What resync found for one user, or for the link of a deleted user.

    ``differences`` name what drifted (``attributes: full_name``, ``friendly_name``,
    ``activity``); ``relink``: the worker is fine but the link must be rewritten; ``dead``: the
    user was dead-lettered, so it is converged whatever the diff says.
    """

    user_id: str
    label: str
    action: str
    worker: Worker | None
    differences: tuple[str, ...] = ()
    relink: bool = False
    dead: bool = False

    @property
    def to_converge(self) -> bool:
        return self.action != "unchanged" or self.relink or self.dead


@dataclass(frozen=True)
class Failure:
    """A user resync could not converge; ``reason`` is fit for an operator (no secrets)."""

    user_id: str
    label: str
    reason: str
    dead: bool = False


@dataclass
class Plan:
    """The diff. ``complete``: every worker was listed, so ``orphans`` means something."""

    entries: list[Entry] = field(default_factory=list)
    orphans: list[Worker] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    listed: int = 0
    fetched: int = 0
    complete: bool = True

    def counts(self) -> dict[str, int]:
        """Users per action, plus ``orphans``."""
        counts = dict.fromkeys(ACTIONS, 0)
        for entry in self.entries:
            counts[entry.action] += 1
        counts["orphans"] = len(self.orphans)
        return counts

    @property
    def drifted(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.to_converge]


@dataclass
class Outcome:
    """What applying a plan did; ``retried`` are the dead-lettered users revived and converged."""

    converged: list[SyncResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    pruned: list[Worker] = field(default_factory=list)
    prune_failures: list[tuple[Worker, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.prune_failures


class Resync:
    """Plans and applies a resync with ``reconciler`` (its TaskRouter client and mapping)."""

    def __init__(
        self,
        engine: Engine,
        repository: Repository,
        reconciler: Reconciler,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.engine = engine
        self.repository = repository
        self.reconciler = reconciler
        self.taskrouter = reconciler.taskrouter
        self.policy = reconciler.mapping.deprovision_policy
        self.page_size = page_size

    # -- plan --------------------------------------------------------------------------------

    def plan(
        self, *, user_name: str | None = None, on_listed: Callable[[int], None] | None = None
    ) -> Plan:
        """Diff the store against TaskRouter without changing anything.

        Every worker is listed first and the store read after, so a user created meanwhile is
        planned as a create (which adopts its worker) rather than its worker taken for an orphan.
        With ``user_name`` (case-insensitive) only that user is looked at. Raises ``LookupError``
        when no stored user has that userName.
        """
        if user_name is not None:
            return self._plan_one(user_name)
        listing = _Listing()
        for listed in self.taskrouter.iter_workers(page_size=self.page_size):
            listing.add(listed)
            if on_listed is not None:
                on_listed(len(listing.workers))
        plan = Plan(listed=len(listing.workers))
        dead = {letter.user_id for letter in outbox.dead_letters(self.engine)}
        every_link = {link.user_id: link for link in links.list_links(self.engine)}
        groups = self._groups_by_user()
        live: dict[str, DesiredWorker] = {}
        for stored in self._all_users():
            link = every_link.get(stored.id)
            desired = self._desired(stored, groups.get(stored.id, []), plan, stored.id in dead)
            if desired is None:
                listing.claim_link(link)
                continue
            live[stored.id] = desired
            listing.claim_name(desired.friendly_name)
            listing.claim_link(link)
        holders = {
            link.worker_sid: link.user_id
            for link in every_link.values()
            if link.worker_sid and link.user_id in live
        }
        for user_id, desired in live.items():
            link = every_link.get(user_id)
            found = listing.find(user_id, desired.friendly_name, link, holders)
            if isinstance(found, Failure):
                plan.failures.append(found)
                continue
            worker = self._with_attributes(found, desired, plan)
            plan.entries.append(self._diff(user_id, desired, link, worker, user_id in dead))
        failed = {failure.user_id for failure in plan.failures}
        for link in every_link.values():
            if link.user_id not in live and link.user_id not in failed:
                worker = listing.find_retired(link)
                plan.entries.append(self._diff_gone(link, worker, link.user_id in dead))
        known = set(live) | set(every_link) | failed
        plan.entries.extend(
            Entry(user_id, user_id, "unchanged", None, dead=True) for user_id in dead - known
        )
        plan.orphans = listing.unclaimed()
        return plan

    def _plan_one(self, user_name: str) -> Plan:
        _total, found = self.repository.query_users(
            users.c.user_name_key == comparison_key(user_name), None, 0, 1
        )
        if not found:
            raise LookupError(f"no stored user has userName {user_name!r}")
        stored = found[0]
        dead = any(letter.user_id == stored.id for letter in outbox.dead_letters(self.engine))
        plan = Plan(complete=False)
        groups = [name for _group_id, name in self.repository.user_groups(stored.id)]
        desired = self._desired(stored, groups, plan, dead)
        if desired is None:
            return plan
        link = links.get(self.engine, stored.id)
        worker = self.taskrouter.fetch(link.worker_sid) if link and link.worker_sid else None
        names = [desired.friendly_name, *([link.friendly_name] if link else [])]
        for name in dict.fromkeys(name for name in names if name) if worker is None else ():
            worker = self.taskrouter.find_by_friendly_name(name)
            if worker is not None:
                break
        plan.listed = int(worker is not None)
        plan.entries.append(self._diff(stored.id, desired, link, worker, dead))
        return plan

    def _all_users(self) -> Iterable[StoredResource]:
        offset = 0
        while True:
            _total, page = self.repository.query_users(None, None, offset, self.page_size)
            yield from page
            if len(page) < self.page_size:
                return
            offset += len(page)

    def _groups_by_user(self) -> dict[str, list[str]]:
        """Each user's group display names, sorted, in two queries."""
        _total, every_group = self.repository.query_groups(None, None, 0, 1 << 30)
        names = {group.id: str(group.document.get("displayName", "")) for group in every_group}
        groups: dict[str, list[str]] = {}
        for group_id, members in self.repository.group_members(list(names)).items():
            for user_id, _display in members:
                groups.setdefault(user_id, []).append(names[group_id])
        return {user_id: sorted(found) for user_id, found in groups.items()}

    def _desired(
        self, stored: StoredResource, groups: list[str], plan: Plan, dead: bool
    ) -> DesiredWorker | None:
        try:
            return desired_worker(stored.document, groups, self.reconciler.mapping)
        except IdentityError as exc:
            label = str(stored.document.get("userName", stored.id))
            plan.failures.append(Failure(stored.id, label, exc.reason, dead))
            return None

    def _with_attributes(
        self, worker: Worker | None, desired: DesiredWorker, plan: Plan
    ) -> Worker | None:
        """A listed worker with no attributes (the live API may list them as null) is fetched
        before it is compared; gone meanwhile, it is None."""
        if worker is None or not worker.listed or worker.attributes or not desired.attributes:
            return worker
        plan.fetched += 1
        return self.taskrouter.fetch(worker.sid)

    def _diff(
        self,
        user_id: str,
        desired: DesiredWorker,
        link: WorkerLink | None,
        worker: Worker | None,
        dead: bool,
    ) -> Entry:
        label = desired.friendly_name
        state = ENABLED if desired.active else DISABLED
        if not desired.active and self.policy.on_disable == "delete":
            relink = link is None or link.activity_state != DISABLED or bool(link.worker_sid)
            if worker is None:
                return Entry(user_id, label, "unchanged", None, relink=relink, dead=dead)
            why = ("user disabled; on_disable = delete",)
            return Entry(user_id, label, "delete", worker, why, relink, dead)
        if worker is None:
            return Entry(user_id, label, "create", None, ("no worker",), dead=dead)
        owned = link.owned_keys if link else ()
        merged = merge_attributes(worker.attributes, desired, owned)
        differences = (
            [f"attributes: {', '.join(keys)}"] if (keys := _changed(worker, merged)) else []
        )
        if worker.friendly_name != desired.friendly_name:
            differences.append("friendly_name")
        activity = self._activity_drift(worker, desired, link)
        if activity:
            differences.append("activity")
        action = "update" if differences else "unchanged"
        if activity and not desired.active:
            action = "make_unavailable"
        relink = link is None or (link.worker_sid, link.friendly_name, link.activity_state) != (
            worker.sid,
            worker.friendly_name,
            state,
        )
        return Entry(user_id, label, action, worker, tuple(differences), relink, dead)

    def _activity_drift(
        self, worker: Worker, desired: DesiredWorker, link: WorkerLink | None
    ) -> bool:
        """Whether the converge would move the worker (as ``Reconciler`` decides it)."""
        if not desired.active:
            return not _same(worker.activity_name, self.policy.unavailable_activity)
        wanted = self.policy.available_activity
        disabled = link is not None and link.activity_state == DISABLED
        return bool(wanted and disabled and not _same(worker.activity_name, wanted))

    def _diff_gone(self, link: WorkerLink, worker: Worker | None, dead: bool) -> Entry:
        """The link of a deleted user: its worker deleted, or kept offline, per ``on_delete``."""
        label = link.friendly_name or link.user_id
        if worker is None:
            return Entry(link.user_id, label, "unchanged", None, relink=True, dead=dead)
        if self.policy.on_delete == "delete":
            return Entry(link.user_id, label, "delete", worker, ("user deleted",), dead=dead)
        if not _same(worker.activity_name, self.policy.unavailable_activity):
            return Entry(link.user_id, label, "make_unavailable", worker, ("activity",), dead=dead)
        relink = (link.worker_sid, link.activity_state) != (worker.sid, RETIRED)
        return Entry(link.user_id, label, "unchanged", worker, relink=relink, dead=dead)

    # -- apply -------------------------------------------------------------------------------

    def apply(self, plan: Plan, *, on_done: Callable[[Entry], None] | None = None) -> Outcome:
        """Revive the dead letters in the plan, converge every drifted entry, and queue each
        failure in the outbox (its reason on the link) so the sync worker retries it with backoff
        and ``status`` shows it. A failure never stops the others."""
        outcome = Outcome()
        revived = [entry.user_id for entry in plan.entries if entry.dead]
        revived += [failure.user_id for failure in plan.failures if failure.dead]
        if revived:
            outbox.revive_dead(self.engine, revived)
        outcome.retried = revived
        outcome.failures.extend(plan.failures)
        for entry in plan.drifted:
            try:
                outcome.converged.append(self.reconciler.converge_from(entry.user_id, entry.worker))
            except Exception as exc:
                _permanent, reason = classify(exc)
                outcome.failures.append(Failure(entry.user_id, entry.label, reason, entry.dead))
            if on_done is not None:
                on_done(entry)
        for failure in outcome.failures:
            links.record_error(self.engine, failure.user_id, failure.reason)
        outbox.enqueue_many(self.engine, [f.user_id for f in outcome.failures], "resync")
        return outcome

    def prune(
        self, plan: Plan, outcome: Outcome, *, on_done: Callable[[Worker], None] | None = None
    ) -> None:
        """Move each orphan offline, then delete it; a worker linked or named by a link since
        the plan was made is left alone. Needs a complete plan."""
        if not plan.complete:
            raise ValueError("orphans are only known after a full listing")
        every_link = links.list_links(self.engine)
        held = {link.worker_sid for link in every_link} | {
            comparison_key(link.friendly_name) for link in every_link if link.friendly_name
        }
        for worker in plan.orphans:
            if worker.sid in held or comparison_key(worker.friendly_name) in held:
                continue
            try:
                self.reconciler.remove_worker(worker)
                outcome.pruned.append(worker)
            except Exception as exc:
                outcome.prune_failures.append((worker, classify(exc)[1]))
            if on_done is not None:
                on_done(worker)


class _Listing:
    """The listed workers, by SID and by case-folded friendly_name, and who claims which."""

    def __init__(self) -> None:
        self.workers: dict[str, Worker] = {}
        self.by_name: dict[str, Worker] = {}
        self.claimed_sids: set[str] = set()
        self.claimed_names: set[str] = set()
        self.taken: set[str] = set()

    def add(self, worker: Worker) -> None:
        self.workers[worker.sid] = worker
        self.by_name[worker.friendly_name.casefold()] = worker

    def claim_name(self, name: str | None) -> None:
        if name:
            self.claimed_names.add(name.casefold())

    def claim_link(self, link: WorkerLink | None) -> None:
        if link is not None:
            self.claim_name(link.friendly_name)
            if link.worker_sid:
                self.claimed_sids.add(link.worker_sid)

    def find(
        self, user_id: str, friendly_name: str, link: WorkerLink | None, holders: dict[str, str]
    ) -> Worker | Failure | None:
        """A live user's worker: by linked SID, else by friendly_name (new, then last known).
        A worker found by name whose SID a live user's link holds (``holders``: SID → user id)
        is a :class:`Failure`, as the converge would find it."""
        if link and link.worker_sid and link.worker_sid in self.workers:
            return self._take(self.workers[link.worker_sid])
        names = [friendly_name, *([link.friendly_name] if link and link.friendly_name else [])]
        for name in names:
            worker = self.by_name.get(name.casefold())
            if worker is None:
                continue
            holder = holders.get(worker.sid, user_id)
            if holder != user_id:
                return Failure(
                    user_id,
                    friendly_name,
                    f"worker {worker.sid} ({worker.friendly_name}) is already linked to user "
                    f"{holder}; two users map to one friendly_name",
                )
            return self._take(worker)
        return None

    def find_retired(self, link: WorkerLink) -> Worker | None:
        """The worker of a deleted user's link, unless a live user took it over."""
        worker = self.workers.get(link.worker_sid or "") or self.by_name.get(
            (link.friendly_name or "").casefold()
        )
        if worker is None or worker.sid in self.taken:
            return None
        return self._take(worker)

    def unclaimed(self) -> list[Worker]:
        return [
            worker
            for worker in self.workers.values()
            if worker.sid not in self.claimed_sids
            and worker.sid not in self.taken
            and worker.friendly_name.casefold() not in self.claimed_names
        ]

    def _take(self, worker: Worker) -> Worker:
        self.taken.add(worker.sid)
        return worker


def _changed(worker: Worker, merged: dict[str, Any]) -> list[str]:
    """The attribute keys whose value (or presence) differs between the worker and ``merged``."""
    keys = worker.attributes.keys() | merged.keys()
    return sorted(
        key for key in keys if worker.attributes.get(key, _ABSENT) != merged.get(key, _ABSENT)
    )


def _same(activity_name: str, wanted: str) -> bool:
    return activity_name.casefold() == wanted.casefold()
