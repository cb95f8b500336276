"""Converge one user's TaskRouter worker to the stored user: the reconciler.

Does: read the stored user (absent = deleted), its groups and its worker link; compute the desired
worker through the mapping; find the worker and write only the owned keys into its attributes
(``flex.sync.adoption`` finds or adopts it, ``flex.sync.writes`` writes them with ``If-Match``);
rename, disable and re-enable per the policy, provision the Flex user first in Users API mode
(``flex.sync.provisioning``) and deprovision a leaver (``flex.sync.leavers``); remember the result
in the worker link.
Does not: pick users (``flex.sync.drainer`` does), retry, back off or dead-letter
(``flex.sync.retries`` does), or know SCIM's wire format. It is level-triggered: safe to run any
number of times, for any user, at any moment.

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
from collections.abc import Callable
from datetime import UTC, datetime

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.mapping.config import FlexMapping
from scimbridge.flex.mapping.desired import desired_worker, problem_notes
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.sync.adoption import find_worker, take_name
from scimbridge.flex.sync.leavers import remove, retire
from scimbridge.flex.sync.name_conflicts import wake_waiting
from scimbridge.flex.sync.outcome import Changes, PermanentSyncError, SyncResult
from scimbridge.flex.sync.provisioning import provision
from scimbridge.flex.sync.worker_ops import Seen, WorkerOps
from scimbridge.flex.sync.writes import (
    IfMatchProbe,
    RenameBlocked,
    write_from_snapshot,
    write_merged,
)
from scimbridge.flex.twilio.taskrouter import TaskRouter, Worker
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.store.directory import Directory
from scimbridge.store.errors import NotFound
from scimbridge.store.links import DISABLED, ENABLED, RETIRED, WorkerLink, WorkerLinks
from scimbridge.store.outbox import Outbox

log = logging.getLogger("scimbridge.sync")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Converges workers for ``mapping`` through ``taskrouter`` (and ``flex_users`` in Users API
    mode). Thread-safe; one per process is enough.

    ``conditional_writes``: True to write owned changes against the link's snapshot with
    ``If-Match`` (1 call), False to always fetch first, None to probe the server once.
    """

    def __init__(
        self,
        directory: Directory,
        links: WorkerLinks,
        outbox: Outbox,
        taskrouter: TaskRouter,
        mapping: FlexMapping,
        *,
        flex_users: FlexUsers | None = None,
        conditional_writes: bool | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if mapping.mode == "users_api" and flex_users is None:
            raise ValueError("mode users_api needs the Flex Users API client")
        self.ops = WorkerOps(
            directory,
            links,
            outbox,
            taskrouter,
            mapping,
            flex_users if mapping.mode == "users_api" else None,
            clock,
        )
        self.if_match = IfMatchProbe(conditional_writes)

    @property
    def directory(self) -> Directory:
        return self.ops.directory

    @property
    def taskrouter(self) -> TaskRouter:
        return self.ops.taskrouter

    @property
    def mapping(self) -> FlexMapping:
        return self.ops.mapping

    # -- entry point ---------------------------------------------------------------------------

    def converge(self, user_id: str) -> SyncResult:
        """Make the worker of ``user_id`` match the stored user (or its absence).

        Raises :class:`~scimbridge.flex.sync.outcome.PermanentSyncError` for what retrying cannot
        cure, and the typed Twilio errors of :mod:`scimbridge.flex.twilio.taskrouter`
        (``retryable`` says whether to try again).
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
        if self.ops.flex_users is not None:
            return self.converge(user_id)
        return self._converge(user_id, Seen(worker))

    def remove_worker(self, worker: Worker) -> None:
        """Offline with RejectPendingReservations, then delete (404 = gone); touches no link.
        How ``resync --prune`` removes a worker that no user maps to."""
        self.ops.offline(worker)
        self.ops.taskrouter.delete(worker.sid)

    def _converge(self, user_id: str, seen: Seen | None) -> SyncResult:
        ops = self.ops
        link = ops.links.get(user_id) or WorkerLink(user_id)
        if seen is not None and not _snapshot_current(link, seen.worker):
            link = link.replace(etag=None)  # the worker changed since our write: no 1-call path
        try:
            stored = ops.directory.get_user(user_id)
        except NotFound:
            return retire(ops, link, seen)
        groups = [name for _group_id, name in ops.directory.user_groups(user_id)]
        try:
            desired = desired_worker(stored.document, groups, ops.mapping)
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
        changes = Changes(held=bool(desired.held_keys))
        if not desired.active and ops.policy.on_disable == "delete":
            if link.activity_state != DISABLED:
                changes.flags.add("disabled")
            link = remove(ops, link, desired.friendly_name, seen)
            ops.save(link.replace(activity_state=DISABLED, friendly_name=desired.friendly_name))
            return _result(link, desired, changes)
        if ops.flex_users is not None:
            link = provision(ops, link, desired)
        link = self._converge_worker(link, desired, changes, seen)
        return _result(link, desired, changes)

    # -- an existing user ------------------------------------------------------------------------

    def _converge_worker(
        self, link: WorkerLink, desired: DesiredWorker, changes: Changes, seen: Seen | None
    ) -> WorkerLink:
        ops = self.ops
        owned_hash = desired.owned_hash()
        if link.activity_state == DISABLED and desired.active:
            changes.flags.add("enabled")
        if link.activity_state in (ENABLED, RETIRED) and not desired.active:
            changes.flags.add("disabled")
        try:
            worker = write_from_snapshot(
                ops, self.if_match.known, link, desired, owned_hash, changes
            )
            if worker is None:
                worker = find_worker(ops, link, desired, changes, seen)
                worker = write_merged(ops, worker, link, desired, changes)
        except RenameBlocked as blocked:
            worker = take_name(ops, blocked.worker, link, desired, changes)
        worker = self.if_match.probe(ops.taskrouter, worker)
        saved = link.replace(
            friendly_name=worker.friendly_name,
            worker_sid=worker.sid,
            attributes_hash=owned_hash,
            activity_state=ENABLED if desired.active else DISABLED,
            etag=worker.etag,
            attributes=worker.attributes,
            owned_keys=tuple(sorted(desired.owned_keys)),
            last_synced_at=ops.clock(),
            last_error=None,
            problems=problem_notes(desired),
        )
        ops.save(saved)
        if changes.renamed:
            wake_waiting(ops.outbox)  # the old name is free now
        return saved


def _result(link: WorkerLink, desired: DesiredWorker, changes: Changes) -> SyncResult:
    return SyncResult(
        changes.outcome(),
        link.user_id,
        desired.friendly_name,
        link.worker_sid,
        desired.problems,
    )


def _snapshot_current(link: WorkerLink, worker: Worker | None) -> bool:
    """Whether ``worker`` (as just read) still looks as the link remembers writing it."""
    return (
        worker is not None
        and worker.sid == link.worker_sid
        and worker.friendly_name == link.friendly_name
        and link.attributes is not None
        and worker.attributes == dict(link.attributes)
    )
