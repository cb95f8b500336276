"""Resync: diff the store against TaskRouter, plan, converge the drifted users, report.

Does: list every worker page by page (for one user: fetch its linked worker, else look its
friendly_name up) and keep the listing compactly; then read the links and the users a page at
a time, compute each user's desired worker and diff it locally (``flex.sync.drift``) as it is
read, into a :class:`Plan` that keeps only the entries that converge something (the unchanged
ones are counted); then revive dead-lettered users, converge each drifted user through
:meth:`Reconciler.converge_from`, and remove orphans when asked.
Does not: decide what a worker should look like (``flex.mapping``), merge or write attributes
(``flex.sync.reconciler``), print, or ask for confirmation (``cli``).

Memory: what is held for every worker is its listing (attributes as a JSON string), and for
every link what the diff reads of it; a user's desired worker lives while its page is diffed.

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
from typing import Any

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.mapping.desired import desired_worker
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.sync.drift import (
    Entry,
    Failure,
    WorkerIndex,
    diff_gone,
    diff_user,
)
from scimbridge.flex.sync.failures import classify
from scimbridge.flex.sync.outcome import SyncResult
from scimbridge.flex.sync.plan import ListedWorker, Plan
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.errors import NotFound
from scimbridge.store.links import WorkerLink
from scimbridge.store.objects import Store
from scimbridge.store.resources import StoredResource

__all__ = ["Entry", "Failure", "Outcome", "Plan", "Resync"]

PAGE_SIZE = 1000


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
        The listing is kept (compactly: it is the one thing held for every worker); the users
        are read a page at a time and each is diffed as it is read, and only the entries that
        converge something are kept. With ``user_name`` (case-insensitive) only that user is
        looked at; ``LookupError`` when no stored user has it.
        """
        if user_name is not None:
            return self._plan_one(user_name)
        index: WorkerIndex[ListedWorker] = WorkerIndex()
        shared: dict[str, str] = {}
        for listed in self.taskrouter.iter_workers(page_size=self.page_size):
            index.add(ListedWorker.of(listed, shared))
            if on_listed is not None:
                on_listed(len(index.workers))
        plan = Plan(listed=len(index.workers))
        dead = {letter.user_id for letter in self.outbox.dead_letters()}
        linked = self._claimed_links(index)
        groups = self._groups_by_user()
        holders = _Holders(self, linked, groups)
        refused: list[Failure] = []
        seen: set[str] = set()  # the dead-lettered users met as users or links
        for stored in self._all_users():
            link = linked.pop(stored.id, None)
            is_dead = stored.id in dead
            if is_dead:
                seen.add(stored.id)
            desired = self._desired(stored, groups.get(stored.id, []), refused, is_dead)
            if desired is None:
                continue
            index.claim(friendly_name=desired.friendly_name)
            found = index.find(stored.id, desired.friendly_name, link, holders.of)
            if isinstance(found, Failure):
                plan.failures.append(found)
                continue
            worker, kept = self._with_attributes(found, desired, plan)
            plan.add(diff_user(self.policy, stored.id, desired, link, worker, is_dead), kept)
        plan.failures[:0] = refused  # as before: the users that cannot map, then the others
        for link in linked.values():  # the links of deleted users
            if link.user_id in dead:
                seen.add(link.user_id)
            retired = index.find_retired(link)
            worker = retired.worker() if retired is not None else None
            plan.add(diff_gone(self.policy, link, worker, link.user_id in dead), retired)
        for user_id in sorted(dead - seen):
            plan.add(Entry(user_id, user_id, "unchanged", None, dead=True))
        plan.orphans = [orphan.worker() for orphan in index.orphans()]
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
        plan.add(diff_user(self.policy, stored.id, desired, link, worker, dead))
        return plan

    def _claimed_links(self, index: WorkerIndex[Any]) -> dict[str, WorkerLink]:
        """Every link by user id, in user id order, with only what the diff reads of it (the
        worker snapshot left out); every name and SID they hold is claimed in ``index``."""
        found: dict[str, WorkerLink] = {}
        shared: dict[tuple[str, ...], tuple[str, ...]] = {}
        for link in self._all_links():
            index.claim(link)
            found[link.user_id] = WorkerLink(
                link.user_id,
                friendly_name=link.friendly_name,
                worker_sid=link.worker_sid,
                activity_state=link.activity_state,
                owned_keys=shared.setdefault(link.owned_keys, link.owned_keys),
            )
        return found

    def _all_links(self) -> Iterator[WorkerLink]:
        """Every link, in pages by user id."""
        after = ""
        while True:
            page = self.links.links_after(after, self.page_size)
            yield from page
            if len(page) < self.page_size:
                return
            after = page[-1].user_id

    def _all_users(self) -> Iterator[StoredResource]:
        """Every stored user, in pages by id (keyset: a concurrent delete skips nobody)."""
        after = ""
        while True:
            page = self.directory.users_after(after, self.page_size)
            yield from page
            if len(page) < self.page_size:
                return
            after = page[-1].id

    def _user(self, user_id: str) -> StoredResource | None:
        try:
            return self.directory.get_user(user_id)
        except NotFound:
            return None

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
        self, found: ListedWorker | None, desired: DesiredWorker, plan: Plan
    ) -> tuple[Worker | None, Worker | ListedWorker | None]:
        """The worker to diff, and the one to keep. A listed worker with no attributes (the
        live API may list them as null) is fetched before it is compared; gone meanwhile, it is
        None."""
        worker = found.worker() if found is not None else None
        if worker is None or worker.attributes or not desired.attributes:
            return worker, found
        plan.fetched += 1
        fetched = self.taskrouter.fetch(worker.sid)
        return fetched, fetched

    # -- apply -------------------------------------------------------------------------------

    def apply(self, plan: Plan, *, on_done: Callable[[Entry], None] | None = None) -> Outcome:
        """Revive the plan's dead letters, converge every drifted entry, and queue each failure
        in the outbox (its reason on the link), so the sync worker retries it with backoff and
        ``status`` shows it. A failure never stops the others."""
        outcome = Outcome(failures=list(plan.failures))
        outcome.retried = plan.dead()
        outcome.retried += [failure.user_id for failure in plan.failures if failure.dead]
        if outcome.retried:
            self.outbox.revive_dead(outcome.retried)
        for entry in plan.entries:
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
        index: WorkerIndex[Worker] = WorkerIndex()
        for worker in plan.orphans:
            index.add(worker)
        self._claimed_links(index)
        groups = self._groups_by_user()
        for stored in self._all_users():
            desired = self._desired(stored, groups.get(stored.id, []), [], dead=False)
            if desired is not None:
                index.claim(friendly_name=desired.friendly_name)
        for worker in index.orphans():
            try:
                self.reconciler.remove_worker(worker)
                outcome.pruned.append(worker)
            except Exception as exc:
                outcome.prune_failures.append((worker, classify(exc)[1]))
            if on_done is not None:
                on_done(worker)


class _Holders:
    """Who holds a worker SID: the live user whose link has it, and the friendly_name that user
    wants (``drift.Holders``). Asked only about a worker found by name, so the user is read
    then, not kept for everyone; each answer is remembered."""

    def __init__(
        self, resync: Resync, linked: dict[str, WorkerLink], groups: dict[str, list[str]]
    ) -> None:
        self._resync = resync
        self._groups = groups
        self._by_sid = {link.worker_sid: uid for uid, link in linked.items() if link.worker_sid}
        self._known: dict[str, tuple[str, str] | None] = {}

    def of(self, worker_sid: str) -> tuple[str, str] | None:
        if worker_sid not in self._known:
            self._known[worker_sid] = self._look_up(worker_sid)
        return self._known[worker_sid]

    def _look_up(self, worker_sid: str) -> tuple[str, str] | None:
        user_id = self._by_sid.get(worker_sid)
        stored = self._resync._user(user_id) if user_id is not None else None
        if user_id is None or stored is None:
            return None  # nobody's, or a deleted user's: a live user may take it
        groups = self._groups.get(user_id, [])
        desired = self._resync._desired(stored, groups, [], dead=False)
        return None if desired is None else (user_id, desired.friendly_name)
