"""Converge one user's TaskRouter worker to the stored user: the reconciler.

Does: read the stored user (absent = deleted), its groups and its worker link; compute the desired
worker through the mapping; find the worker (linked SID, else friendly_name, else create it);
merge only the owned keys into its attributes and write them back with ``If-Match``; rename,
disable, re-enable and deprovision per the policy; remember the result in the worker link. When a
rename meets a worker already under the new name, adopt it if no other live user holds it (the
old worker's routing carried over, the old one retired by ``on_delete``), or wait for the name
(``flex.sync.name_conflicts`` judges which).
Does not: pick users, retry, back off or dead-letter (``flex.sync.drainer`` does), or know
SCIM's wire format. It is level-triggered: safe to run any number of times, for any user,
at any moment.

Costs in Twilio calls (``If-Match`` honoured and the link fresh): create 2 (lookup + create),
owned-attribute change 1 (a conditional update against the link's snapshot), unchanged 1 (fetch
to check nobody removed our keys). A 412 falls back to fetch + merge + update. Whether the
server honours ``If-Match`` is probed once per reconciler with a bogus ETag on an empty update
(a no-op either way); where it is not honoured every write is fetch + merge + update, since a
write from the snapshot could erase someone else's change.

Deleting safely: the worker moves to the unavailable activity with ``RejectPendingReservations``,
then is deleted (404 = already gone). Re-enabling leaves the activity to the agent unless
``available_activity`` is configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from scimbridge.flex.mapping.attributes import (
    DesiredWorker,
    merge_attributes,
)
from scimbridge.flex.mapping.config import FlexMapping
from scimbridge.flex.mapping.desired import desired_worker, problem_notes
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.sync.name_conflicts import (
    WAITING_FOR_NAME,
    WaitingForName,
    carried_attributes,
    clash_reason,
    holder_of,
    wait_for,
    wake_waiting,
)
from scimbridge.flex.twilio.errors import (
    AttributesTooLarge,
    FlexApiError,
    FriendlyNameTaken,
    PreconditionFailed,
    WorkerNotFound,
)
from scimbridge.flex.twilio.taskrouter import TaskRouter, Worker, encode_attributes
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.store import links
from scimbridge.store.errors import NotFound
from scimbridge.store.links import DISABLED, ENABLED, RETIRED, WorkerLink
from scimbridge.store.repository import Repository

log = logging.getLogger("scimbridge.sync")

# "partial": converged, except mapped keys whose value could not be produced (they keep theirs).
OUTCOMES = (
    "created", "updated", "unchanged", "renamed", "disabled", "enabled", "deleted", "partial",
)  # fmt: skip
MAX_CONFLICT_RETRIES = 4
PROBE_ETAG = '"scimbridge-if-match-probe"'


class _RenameBlocked(Exception):
    """Renaming ``worker`` met another worker holding the new friendly_name."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker.sid)
        self.worker = worker


class PermanentSyncError(Exception):
    """Retrying cannot help until the user, the mapping or the worker changes; ``reason`` says
    what to fix, fit for an operator (no attribute values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SyncResult:
    """What one convergence did. ``outcome`` is one of :data:`OUTCOMES`."""

    outcome: str
    user_id: str
    friendly_name: str | None = None
    worker_sid: str | None = None
    problems: tuple[str, ...] = ()


@dataclass
class _Changes:
    """What the convergence did to the worker, to name the outcome."""

    created: bool = False
    renamed: bool = False
    written: bool = False
    flags: set[str] = field(default_factory=set)

    held: bool = False

    def outcome(self) -> str:
        if self.held:
            return "partial"
        for name in ("deleted", "enabled", "disabled"):
            if name in self.flags:
                return name
        if self.created:
            return "created"
        if self.renamed:
            return "renamed"
        return "updated" if self.written else "unchanged"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Seen:
    """The user's worker as the caller just read it; ``worker`` None: a full listing has none."""

    worker: Worker | None


class Reconciler:
    """Converges workers for ``mapping`` through ``taskrouter`` (and ``flex_users`` in Users API
    mode). Thread-safe; one per process is enough.

    ``conditional_writes``: True to write owned changes against the link's snapshot with
    ``If-Match`` (1 call), False to always fetch first, None to probe the server once.
    """

    def __init__(
        self,
        engine: Engine,
        repository: Repository,
        taskrouter: TaskRouter,
        mapping: FlexMapping,
        *,
        flex_users: FlexUsers | None = None,
        conditional_writes: bool | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if mapping.mode == "users_api" and flex_users is None:
            raise ValueError("mode users_api needs the Flex Users API client")
        self.engine = engine
        self.repository = repository
        self.taskrouter = taskrouter
        self.mapping = mapping
        self.policy = mapping.deprovision_policy
        self.flex_users = flex_users if mapping.mode == "users_api" else None
        self.conditional_writes = conditional_writes
        self.clock = clock
        self._probing = threading.Lock()

    # -- entry point ---------------------------------------------------------------------------

    def converge(self, user_id: str) -> SyncResult:
        """Make the worker of ``user_id`` match the stored user (or its absence).

        Raises :class:`PermanentSyncError` for what retrying cannot cure, and the typed Twilio
        errors of :mod:`scimbridge.flex.twilio.taskrouter` (``retryable`` says whether to try
        again).
        """
        return self._converge(user_id, None)

    def converge_from(self, user_id: str, worker: Worker | None) -> SyncResult:
        """:meth:`converge`, starting from ``worker``: the user's worker as the caller just read
        it (listed or fetched), or None when a full listing showed there is none. The lookups are
        skipped: an unchanged worker costs no call, a rename, an activity change or a create one.

        Attributes are never written from a *listed* worker (no ETag, maybe stale attributes):
        it is fetched first, unless the link's snapshot equals the listing and the write can go
        with ``If-Match`` against it. In Users API mode this is :meth:`converge`.
        """
        if self.flex_users is not None:
            return self.converge(user_id)
        return self._converge(user_id, _Seen(worker))

    def remove_worker(self, worker: Worker) -> None:
        """Offline with RejectPendingReservations, then delete (404 = gone); touches no link.
        How ``resync --prune`` removes a worker that no user maps to."""
        self._offline(worker)
        self.taskrouter.delete(worker.sid)

    def _converge(self, user_id: str, seen: _Seen | None) -> SyncResult:
        link = links.get(self.engine, user_id) or WorkerLink(user_id)
        if seen is not None and not _snapshot_current(link, seen.worker):
            link = link.replace(etag=None)  # the worker changed since our write: no 1-call path
        try:
            stored = self.repository.get_user(user_id)
        except NotFound:
            return self._retire(link, seen)
        groups = [name for _group_id, name in self.repository.user_groups(user_id)]
        try:
            desired = desired_worker(stored.document, groups, self.mapping)
        except IdentityError as exc:
            raise PermanentSyncError(exc.reason) from None
        if desired.problems:
            keys = ", ".join(sorted({problem.split(":")[0] for problem in desired.problems}))
            log.warning(
                "user %s: mapping left off %s (see `scimbridge check-config --user`)",
                user_id,
                keys,
                extra={"event": "sync", "user_id": user_id},
            )
        changes = _Changes(held=bool(desired.held_keys))
        if not desired.active and self.policy.on_disable == "delete":
            if link.activity_state != DISABLED:
                changes.flags.add("disabled")
            link = self._remove(link, desired.friendly_name, seen)
            self._save(link.replace(activity_state=DISABLED, friendly_name=desired.friendly_name))
            return self._result(link, desired, changes)
        if self.flex_users is not None:
            link = self._provision(link, desired)
        link = self._converge_worker(link, desired, changes, seen)
        return self._result(link, desired, changes)

    def _result(self, link: WorkerLink, desired: DesiredWorker, changes: _Changes) -> SyncResult:
        return SyncResult(
            changes.outcome(),
            link.user_id,
            desired.friendly_name,
            link.worker_sid,
            desired.problems,
        )

    # -- an existing user ------------------------------------------------------------------------

    def _converge_worker(
        self, link: WorkerLink, desired: DesiredWorker, changes: _Changes, seen: _Seen | None
    ) -> WorkerLink:
        owned_hash = desired.owned_hash()
        if link.activity_state == DISABLED and desired.active:
            changes.flags.add("enabled")
        if link.activity_state in (ENABLED, RETIRED) and not desired.active:
            changes.flags.add("disabled")
        try:
            worker = self._write_from_snapshot(link, desired, owned_hash, changes)
            if worker is None:
                worker = self._find(link, desired, changes, seen)
                worker = self._write_merged(worker, link, desired, changes)
        except _RenameBlocked as blocked:
            worker = self._take_name(blocked.worker, link, desired, changes)
        worker = self._maybe_probe(worker)
        saved = link.replace(
            friendly_name=worker.friendly_name,
            worker_sid=worker.sid,
            attributes_hash=owned_hash,
            activity_state=ENABLED if desired.active else DISABLED,
            etag=worker.etag,
            attributes=worker.attributes,
            owned_keys=tuple(sorted(desired.owned_keys)),
            last_synced_at=self.clock(),
            last_error=None,
            problems=problem_notes(desired),
        )
        self._save(saved)
        if changes.renamed:
            wake_waiting(self.engine)  # the old name is free now
        return saved

    def _take_name(
        self, old: Worker, link: WorkerLink, desired: DesiredWorker, changes: _Changes
    ) -> Worker:
        """The user's worker ``old`` could not be renamed: another worker has the name. If no
        other live user holds that one (a Flex SSO login under the new name made it, or a deleted
        user kept it), adopt it: the old worker's routing carried over, the owned keys merged
        in; then retire ``old`` by ``on_delete``. Waits (retried) while a live user is being
        renamed away from the name; refuses when a live user still wants it.

        Crash-safe in this order: the adopted worker written, ``old`` retired, then the link
        saved by the caller; a rerun finds the same two workers, or only the adopted one."""
        name = desired.friendly_name
        held = self._adoptable(name, old, link.user_id)
        merged = merge_attributes(
            carried_attributes(old.attributes, held.attributes), desired, link.owned_keys
        )
        activity = self._activity_change(held, desired, link)
        adopted = self.taskrouter.update(
            held.sid,
            attributes=self._checked(merged),
            friendly_name=name if held.friendly_name != name else None,
            activity_sid=activity,
            reject_pending_reservations=activity is not None and not desired.active,
            if_match=held.etag,
        )
        self._offline(old)
        if self.policy.on_delete == "delete":
            self.taskrouter.delete(old.sid)
        log.info(
            "user %s: adopted worker %s, already under the new friendly_name; old worker %s %s",
            link.user_id,
            adopted.sid,
            old.sid,
            "deleted" if self.policy.on_delete == "delete" else "kept offline",
            extra={"event": "sync", "user_id": link.user_id},
        )
        changes.written = changes.renamed = True
        return adopted

    def _adoptable(self, name: str, old: Worker, user_id: str) -> Worker:
        """The worker that holds ``name`` instead of ``old``, if ``user_id`` may adopt it; raises
        :class:`WaitingForName` (its live holder is being renamed, or it is free again: retry)
        or :class:`PermanentSyncError` (a live user wants the name too)."""
        held = self.taskrouter.find_by_friendly_name(name)
        if held is None or held.sid == old.sid:
            raise WaitingForName(f"{WAITING_FOR_NAME} {name!r}: it was taken and is free again")
        holder = holder_of(self.engine, self.repository, self.mapping, held, user_id)
        if holder.kind == "renaming":
            raise wait_for(self.engine, name, holder)
        if holder.kind == "clash":
            raise PermanentSyncError(clash_reason(held, holder))
        return held

    def _write_from_snapshot(
        self, link: WorkerLink, desired: DesiredWorker, owned_hash: str, changes: _Changes
    ) -> Worker | None:
        """The 1-call path: update with ``If-Match`` against the link's snapshot, when the owned
        attributes, the name or the enabled state changed. None: fetch and merge instead."""
        if not (self.conditional_writes and link.worker_sid and link.etag):
            return None
        if link.attributes is None or link.friendly_name is None:
            return None
        renamed = link.friendly_name != desired.friendly_name
        if owned_hash == link.attributes_hash and not renamed and not changes.flags:
            return None  # nothing we know of changed: fetch to check nobody removed our keys
        merged = merge_attributes(link.attributes, desired, link.owned_keys)
        activity = self._activity_change(None, desired, link)
        if merged == link.attributes and not renamed and activity is None:
            return None
        try:
            worker = self.taskrouter.update(
                link.worker_sid,
                attributes=self._checked(merged) if merged != link.attributes else None,
                friendly_name=desired.friendly_name if renamed else None,
                activity_sid=activity,
                reject_pending_reservations=activity is not None and not desired.active,
                if_match=link.etag,
            )
        except (PreconditionFailed, WorkerNotFound, FriendlyNameTaken):
            log.debug("worker %s changed since our last write; merging", link.worker_sid)
            return None
        changes.written, changes.renamed = True, renamed
        return worker

    def _find(
        self,
        link: WorkerLink,
        desired: DesiredWorker,
        changes: _Changes,
        seen: _Seen | None = None,
    ) -> Worker:
        """The worker by linked SID, else by friendly_name (new, then last known), else a new one
        (the intended friendly_name is written to the link first, so a crash cannot orphan it).
        ``seen`` replaces the lookups (a worker seen, or none: create)."""
        if seen is None:
            worker = self.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
            names = [desired.friendly_name]
            if link.friendly_name and link.friendly_name.casefold() != names[0].casefold():
                names.append(link.friendly_name)
            for name in names if worker is None else ():
                worker = self.taskrouter.find_by_friendly_name(name)
                if worker is not None:
                    break
        else:
            worker = seen.worker
        if worker is not None:
            if worker.sid != link.worker_sid:
                self._check_not_linked_elsewhere(worker, link.user_id)
            return worker
        attributes = merge_attributes({}, desired, ())
        self._checked(attributes)
        self._save(link.replace(friendly_name=desired.friendly_name, worker_sid=None, etag=None))
        activity = None if desired.active else self._unavailable_sid()
        worker = self.taskrouter.create(desired.friendly_name, attributes, activity)
        self._check_not_linked_elsewhere(worker, link.user_id)
        changes.created = True
        return worker

    def _write_merged(
        self, worker: Worker, link: WorkerLink, desired: DesiredWorker, changes: _Changes
    ) -> Worker:
        """Read-merge-write with ``If-Match`` from the read; on 412 read, merge and write again."""
        for _attempt in range(MAX_CONFLICT_RETRIES):
            merged = merge_attributes(worker.attributes, desired, link.owned_keys)
            if worker.listed and merged != worker.attributes:
                # A listing's attributes may be stale and carry no ETag: merge from a fetch.
                fresh = self.taskrouter.fetch(worker.sid)
                worker = fresh or self._find(link.replace(worker_sid=None), desired, changes)
                continue
            renamed = worker.friendly_name != desired.friendly_name
            activity = self._activity_change(worker, desired, link)
            if merged == worker.attributes and not renamed and activity is None:
                return worker
            try:
                updated = self.taskrouter.update(
                    worker.sid,
                    attributes=self._checked(merged) if merged != worker.attributes else None,
                    friendly_name=desired.friendly_name if renamed else None,
                    activity_sid=activity,
                    reject_pending_reservations=activity is not None and not desired.active,
                    if_match=worker.etag,
                )
            except (PreconditionFailed, WorkerNotFound):
                fresh = self.taskrouter.fetch(worker.sid)
                worker = fresh or self._find(link.replace(worker_sid=None), desired, changes)
                continue
            except FriendlyNameTaken:
                raise _RenameBlocked(worker) from None
            changes.written = True
            changes.renamed = changes.renamed or renamed
            return updated
        raise PreconditionFailed(
            f"worker {worker.sid} kept changing under us ({MAX_CONFLICT_RETRIES} tries)",
            endpoint="workers.update",
            status=412,
        )

    def _activity_change(
        self, worker: Worker | None, desired: DesiredWorker, link: WorkerLink
    ) -> str | None:
        """The activity to move to, if any. ``worker`` None: judge from the link's snapshot."""
        if not desired.active:
            if worker is None:
                return None if link.activity_state == DISABLED else self._unavailable_sid()
            target = self._unavailable_sid()
            return target if worker.activity_sid != target else None
        if link.activity_state == DISABLED and self.policy.available_activity:
            target = self.taskrouter.activity_sid(self.policy.available_activity)
            return target if worker is None or worker.activity_sid != target else None
        return None

    def _maybe_probe(self, worker: Worker) -> Worker:
        """Learn once whether the server refuses a stale ``If-Match``; the probe is an empty
        update, so it changes nothing either way. Returns the worker as it now is."""
        if self.conditional_writes is not None or not worker.etag:
            return worker
        # One probe at a time: the other threads keep fetching until the answer is in.
        if not self._probing.acquire(blocking=False):
            return worker
        try:
            if self.conditional_writes is not None:
                return worker
            worker = self.taskrouter.update(worker.sid, if_match=PROBE_ETAG)
        except PreconditionFailed:
            self.conditional_writes = True
        except FlexApiError as exc:
            # The probe must never fail a sync: throttled, ask again later; refused, never ask.
            if not exc.retryable:
                self.conditional_writes = False
            log.info("If-Match probe inconclusive: %s", exc.message)
            return worker
        else:
            self.conditional_writes = False
        finally:
            self._probing.release()
        # Nothing for an operator to do either way (Twilio documents If-Match for Tasks only):
        # it only says how many calls a change costs.
        log.debug(
            "TaskRouter %s If-Match on worker updates: a change costs %s",
            "enforces" if self.conditional_writes else "does not enforce",
            "one write" if self.conditional_writes else "a read right before each write",
        )
        return worker

    # -- Flex Users API mode --------------------------------------------------------------------

    def _provision(self, link: WorkerLink, desired: DesiredWorker) -> WorkerLink:
        """Provision (create or update) the Flex user when it is new or its owned values or name
        changed; the worker is then converged through TaskRouter like any other."""
        assert self.flex_users is not None
        unchanged = (
            link.flex_user_sid
            and link.worker_sid
            and link.friendly_name == desired.friendly_name
            and link.attributes_hash == desired.owned_hash()
        )
        if unchanged:
            return link
        if link.worker_sid and link.friendly_name and link.friendly_name != desired.friendly_name:
            # Provision keys on username: rename the worker first so the new user adopts it.
            try:
                self.taskrouter.update(link.worker_sid, friendly_name=desired.friendly_name)
            except FriendlyNameTaken:
                link = self._hand_over_to_login(link, desired)
        attributes = desired.attributes
        roles = attributes.get("roles") or list(self.mapping.default_roles)
        provisioned = self.flex_users.provision(
            desired.friendly_name,
            str(attributes.get("email") or ""),
            str(attributes.get("full_name") or desired.friendly_name),
            [str(role) for role in roles] if isinstance(roles, list) else [str(roles)],
            {key: value for key, value in attributes.items() if value is not None},
        )
        return link.replace(
            flex_user_sid=provisioned.flex_user_sid,
            worker_sid=provisioned.worker_sid or link.worker_sid,
            etag=None,
        )

    def _hand_over_to_login(self, link: WorkerLink, desired: DesiredWorker) -> WorkerLink:
        """Users API mode, a rename that meets a worker a Flex login made under the new name (with
        its Flex user, which Provision then updates): unless a live user holds it (wait, or
        refuse), carry the old worker's routing onto it, link it, then retire the old Flex user
        by ``on_delete`` (Deprovision, or its worker kept offline)."""
        assert self.flex_users is not None
        old = self.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
        if old is None:
            return link.replace(worker_sid=None, etag=None)  # nothing to carry: Provision adopts
        held = self._adoptable(desired.friendly_name, old, link.user_id)
        carried = carried_attributes(old.attributes, held.attributes)
        self.taskrouter.update(held.sid, attributes=self._checked(carried), if_match=held.etag)
        # Linked before the old one goes: a crash leaves at worst an orphan `resync` lists.
        handed = link.replace(worker_sid=held.sid, flex_user_sid=None, etag=None, attributes=None)
        self._save(handed)
        self._offline(old)
        if self.policy.on_delete == "delete":
            gone = bool(link.flex_user_sid) and self.flex_users.deprovision(str(link.flex_user_sid))
            if not gone:
                self.taskrouter.delete(old.sid)
        return handed

    # -- a deleted user, or a disabled one under on_disable = "delete" -------------------------

    def _retire(self, link: WorkerLink, seen: _Seen | None = None) -> SyncResult:
        if self.policy.on_delete == "offline":
            worker = self._locate(link, seen)
            if worker is None:
                links.delete_link(self.engine, link.user_id)
            else:
                self._offline(worker)
                # Keep only what a returning user needs to adopt the worker, no attribute values.
                self._save(
                    link.replace(
                        worker_sid=worker.sid,
                        activity_state=RETIRED,
                        etag=None,
                        attributes=None,
                        attributes_hash=None,
                        last_synced_at=self.clock(),
                        last_error=None,
                        problems=(),
                    )
                )
        else:
            self._remove(link, link.friendly_name, seen)
            links.delete_link(self.engine, link.user_id)
        return SyncResult("deleted", link.user_id, link.friendly_name, link.worker_sid)

    def _remove(
        self, link: WorkerLink, friendly_name: str | None, seen: _Seen | None = None
    ) -> WorkerLink:
        """Offline with RejectPendingReservations, then delete (or Deprovision); 404 = gone."""
        located = link.replace(friendly_name=link.friendly_name or friendly_name)
        worker = self._locate(located, seen)
        if worker is not None:
            self._offline(worker)
        deprovisioned = False
        if self.flex_users is not None and link.flex_user_sid:
            deprovisioned = self.flex_users.deprovision(link.flex_user_sid)
        if worker is not None and not deprovisioned:
            self.taskrouter.delete(worker.sid)
        if worker is not None:
            wake_waiting(self.engine)  # its name may be the one someone waits for
        return link.replace(
            worker_sid=None,
            etag=None,
            attributes=None,
            attributes_hash=None,
            flex_user_sid=None,
            last_synced_at=self.clock(),
            last_error=None,
            problems=(),
        )

    def _locate(self, link: WorkerLink, seen: _Seen | None = None) -> Worker | None:
        if seen is not None:
            if seen.worker is not None and seen.worker.sid != link.worker_sid:
                self._check_not_linked_elsewhere(seen.worker, link.user_id)
            return seen.worker
        worker = self.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
        if worker is None and link.friendly_name:
            worker = self.taskrouter.find_by_friendly_name(link.friendly_name)
            if worker is not None:
                holder = holder_of(self.engine, self.repository, self.mapping, worker, link.user_id)
                if holder.kind != "free":
                    return None  # the name went to a live user's worker: not ours to touch
        return worker

    def _offline(self, worker: Worker) -> Worker:
        """Unavailable with its pending reservations rejected, whatever the current activity
        (``RejectPendingReservations`` needs an activity change, so an offline worker's are
        rejected one by one): Twilio refuses to delete a worker that still has some."""
        target = self._unavailable_sid()
        if worker.activity_sid == target:
            self.taskrouter.reject_pending_reservations(worker.sid)
            return worker
        return self.taskrouter.update(
            worker.sid, activity_sid=target, reject_pending_reservations=True
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _unavailable_sid(self) -> str:
        return self.taskrouter.activity_sid(self.policy.unavailable_activity)

    def _check_not_linked_elsewhere(self, worker: Worker, user_id: str) -> None:
        """``worker``, found under the user's name, is the user's to adopt unless a live user
        holds it: wait while that user is renamed away from the name, refuse if it wants it."""
        holder = holder_of(self.engine, self.repository, self.mapping, worker, user_id)
        if holder.kind == "renaming":
            raise wait_for(self.engine, worker.friendly_name, holder)
        if holder.kind == "clash":
            raise PermanentSyncError(clash_reason(worker, holder))

    def _save(self, link: WorkerLink) -> None:
        try:
            links.upsert(self.engine, link)
        except links.WorkerLinkConflict as exc:
            raise PermanentSyncError(str(exc)) from None

    @staticmethod
    def _checked(attributes: Mapping[str, Any]) -> dict[str, Any]:
        """``attributes`` if TaskRouter can take them; never truncated."""
        try:
            encode_attributes(attributes)
        except AttributesTooLarge as exc:
            raise PermanentSyncError(exc.message) from None
        return dict(attributes)


def _snapshot_current(link: WorkerLink, worker: Worker | None) -> bool:
    """Whether ``worker`` (as just read) still looks as the link remembers writing it."""
    return (
        worker is not None
        and worker.sid == link.worker_sid
        and worker.friendly_name == link.friendly_name
        and link.attributes is not None
        and worker.attributes == dict(link.attributes)
    )
