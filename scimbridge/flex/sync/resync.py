"""Resync: diff the store against TaskRouter, plan, converge the drifted users, report.

Does: list every worker page by page (for one user: fetch its linked worker, else look its
friendly_name up), compute every stored user's desired worker from the store, diff locally
(``flex.sync.drift``) into a :class:`Plan`; then revive dead-lettered users, converge each drifted
user through :meth:`Reconciler.converge_from`, and remove orphans when asked.
Does not: decide what a worker should look like (``flex.mapping``), merge or write attributes
(``flex.sync.reconciler``), print, or ask for confirmation (``cli``).

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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.mapping.desired import desired_worker
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.sync.drift import (
    ACTIONS,
    Entry,
    Failure,
    WorkerIndex,
    diff_gone,
    diff_user,
)
from scimbridge.flex.sync.failures import classify
from scimbridge.flex.sync.outcome import SyncResult
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.links import WorkerLink
from scimbridge.store.objects import Store
from scimbridge.store.resources import StoredResource

__all__ = ["Entry", "Failure", "Outcome", "Plan", "Resync"]

PAGE_SIZE = 1000


@dataclass
class Plan:
    """The diff. ``complete``: every worker was listed, so ``orphans`` means something;
    ``fetched``: listed workers without attributes fetched to diff."""

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
        """The entries :meth:`Resync.apply` converges."""
        return [entry for entry in self.entries if entry.to_converge]


@dataclass
class Outcome:
    """What applying a plan did; ``retried``: the dead-lettered users revived and converged."""

    converged: list[SyncResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    pruned: list[Worker] = field(default_factory=list)
    prune_failures: list[tuple[Worker, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.prune_failures


@dataclass
class _Store:
    """The store as resync read it: live users' desired workers, links, dead letters."""

    desired: dict[str, DesiredWorker]
    links: dict[str, WorkerLink]
    dead: set[str]
    failures: list[Failure]


class Resync:
    """Plans and applies a resync with ``reconciler`` (its TaskRouter client and mapping)."""

    def __init__(
        self,
        store: Store,
        reconciler: Reconciler,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.directory = store.directory
        self.outbox = store.outbox
        self.links = store.links
        self.reconciler = reconciler
        self.taskrouter = reconciler.taskrouter
        self.policy = reconciler.mapping.deprovision_policy
        self.page_size = page_size

    # -- plan --------------------------------------------------------------------------------

    def plan(
        self, *, user_name: str | None = None, on_listed: Callable[[int], None] | None = None
    ) -> Plan:
        """Diff the store against TaskRouter; changes nothing.

        Every worker is listed first and the store read after, so a user created meanwhile is
        planned as a create (which adopts its worker) rather than its worker taken for an orphan.
        With ``user_name`` (case-insensitive) only that user is looked at; ``LookupError`` when
        no stored user has it.
        """
        if user_name is not None:
            return self._plan_one(user_name)
        index = WorkerIndex()
        for listed in self.taskrouter.iter_workers(page_size=self.page_size):
            index.add(listed)
            if on_listed is not None:
                on_listed(len(index.workers))
        store = self._read_store(index)
        plan = Plan(listed=len(index.workers), failures=list(store.failures))
        holders = {
            link.worker_sid: (user_id, store.desired[user_id].friendly_name)
            for user_id, link in store.links.items()
            if link.worker_sid and user_id in store.desired
        }
        for user_id, desired in store.desired.items():
            link = store.links.get(user_id)
            found = index.find(user_id, desired.friendly_name, link, holders)
            if isinstance(found, Failure):
                plan.failures.append(found)
                continue
            worker = self._with_attributes(found, desired, plan)
            entry = diff_user(self.policy, user_id, desired, link, worker, user_id in store.dead)
            plan.entries.append(entry)
        failed = {failure.user_id for failure in plan.failures}
        for user_id, link in store.links.items():
            if user_id not in store.desired and user_id not in failed:
                worker = index.find_retired(link)
                plan.entries.append(diff_gone(self.policy, link, worker, user_id in store.dead))
        known = set(store.desired) | set(store.links) | failed
        plan.entries.extend(
            Entry(user_id, user_id, "unchanged", None, dead=True)
            for user_id in sorted(store.dead - known)
        )
        plan.orphans = index.orphans()
        return plan

    def _plan_one(self, user_name: str) -> Plan:
        stored = self.directory.user_by_name(user_name)
        if stored is None:
            raise LookupError(f"no stored user has userName {user_name!r}")
        dead = any(letter.user_id == stored.id for letter in self.outbox.dead_letters())
        plan = Plan(complete=False)
        groups = [name for _group_id, name in self.directory.user_groups(stored.id)]
        desired = self._desired(stored, groups, plan.failures, dead)
        if desired is None:
            return plan
        link = self.links.get(stored.id)
        worker = self.taskrouter.fetch(link.worker_sid) if link and link.worker_sid else None
        names = [desired.friendly_name]
        if link and link.friendly_name and link.friendly_name.casefold() != names[0].casefold():
            names.append(link.friendly_name)
        for name in names if worker is None else ():
            worker = self.taskrouter.find_by_friendly_name(name)  # FriendlyName= list + fetch
            if worker is not None:
                break
        plan.listed = int(worker is not None)
        plan.entries.append(diff_user(self.policy, stored.id, desired, link, worker, dead))
        return plan

    def _read_store(self, index: WorkerIndex) -> _Store:
        """Every user's desired worker, the links and the dead letters; every name and SID
        they hold is claimed in ``index``."""
        store = _Store({}, {}, set(), [])
        store.dead = {letter.user_id for letter in self.outbox.dead_letters()}
        store.links = {link.user_id: link for link in self.links.list_links()}
        groups = self._groups_by_user()
        for stored in self._all_users():
            dead = stored.id in store.dead
            desired = self._desired(stored, groups.get(stored.id, []), store.failures, dead)
            if desired is not None:
                store.desired[stored.id] = desired
                index.claim(friendly_name=desired.friendly_name)
        for link in store.links.values():
            index.claim(link)
        return store

    def _all_users(self) -> Iterator[StoredResource]:
        """Every stored user, in pages by id (keyset: a concurrent delete skips nobody)."""
        after = ""
        while True:
            page = self.directory.users_after(after, self.page_size)
            yield from page
            if len(page) < self.page_size:
                return
            after = page[-1].id

    def _groups_by_user(self) -> dict[str, list[str]]:
        """Each user's group display names, sorted, in two queries."""
        every_group = self.directory.list_groups()
        names = {group.id: str(group.document.get("displayName", "")) for group in every_group}
        groups: dict[str, list[str]] = {}
        for group_id, members in self.directory.group_members(list(names)).items():
            for user_id, _display in members:
                groups.setdefault(user_id, []).append(names[group_id])
        return {user_id: sorted(found) for user_id, found in groups.items()}

    def _desired(
        self, stored: StoredResource, groups: list[str], failures: list[Failure], dead: bool
    ) -> DesiredWorker | None:
        try:
            return desired_worker(stored.document, groups, self.reconciler.mapping)
        except IdentityError as exc:
            label = str(stored.document.get("userName", stored.id))
            failures.append(Failure(stored.id, label, exc.reason, dead))
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

    # -- apply -------------------------------------------------------------------------------

    def apply(self, plan: Plan, *, on_done: Callable[[Entry], None] | None = None) -> Outcome:
        """Revive the plan's dead letters, converge every drifted entry, and queue each failure
        in the outbox (its reason on the link), so the sync worker retries it with backoff and
        ``status`` shows it. A failure never stops the others."""
        outcome = Outcome(failures=list(plan.failures))
        outcome.retried = [entry.user_id for entry in plan.entries if entry.dead]
        outcome.retried += [failure.user_id for failure in plan.failures if failure.dead]
        if outcome.retried:
            self.outbox.revive_dead(outcome.retried)
        for entry in plan.drifted:
            try:
                outcome.converged.append(self.reconciler.converge_from(entry.user_id, entry.worker))
            except Exception as exc:
                _permanent, reason = classify(exc)
                outcome.failures.append(Failure(entry.user_id, entry.label, reason, entry.dead))
            if on_done is not None:
                on_done(entry)
        for failure in outcome.failures:
            self.links.record_error(failure.user_id, failure.reason)
        self.outbox.enqueue_many([f.user_id for f in outcome.failures], "resync")
        return outcome

    def prune(
        self, plan: Plan, outcome: Outcome, *, on_done: Callable[[Worker], None] | None = None
    ) -> None:
        """Move each orphan offline, then delete it. The store is read again first: a worker
        that a user or link created since the plan maps to is left alone."""
        if not plan.complete:
            raise ValueError("orphans are only known after a full listing")
        index = WorkerIndex()
        for worker in plan.orphans:
            index.add(worker)
        self._read_store(index)
        for worker in index.orphans():
            try:
                self.reconciler.remove_worker(worker)
                outcome.pruned.append(worker)
            except Exception as exc:
                outcome.prune_failures.append((worker, classify(exc)[1]))
            if on_done is not None:
                on_done(worker)
