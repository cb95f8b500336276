"""A leaver's worker: a deleted user, or a disabled one under ``on_disable = "delete"``.

Does: find the leaver's worker (linked SID, else its last known friendly_name, unless that name
went to a live user's worker); under ``on_delete = "offline"`` take it offline and keep only what
a returning user needs to adopt it (no attribute values); otherwise take it offline with
``RejectPendingReservations``, then delete it (or Deprovision its Flex user in Users API mode;
404 = already gone) and forget the link; wake whoever waits for the freed name.
Does not: decide that a user is a leaver (``flex.sync.reconciler`` does) or retry.
"""

from __future__ import annotations

from typing import Any

from scimbridge.flex.sync.name_conflicts import holder_of, wake_waiting
from scimbridge.flex.sync.outcome import SyncResult
from scimbridge.flex.sync.worker_ops import Seen, WorkerOps
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.links import RETIRED, WorkerLink


def retire(ops: WorkerOps, link: WorkerLink, seen: Seen | None = None) -> SyncResult:
    """Converge a deleted user: its worker kept offline or removed, by ``on_delete``."""
    if ops.policy.on_delete == "offline":
        worker = locate(ops, link, seen)
        if worker is None:
            ops.links.delete_link(link.user_id)
        else:
            ops.offline(worker)
            # Keep only what a returning user needs to adopt the worker, no attribute values.
            ops.save(_forgotten(ops, link, worker_sid=worker.sid, activity_state=RETIRED))
    else:
        remove(ops, link, link.friendly_name, seen)
        ops.links.delete_link(link.user_id)
    return SyncResult("deleted", link.user_id, link.friendly_name, link.worker_sid)


def remove(
    ops: WorkerOps, link: WorkerLink, friendly_name: str | None, seen: Seen | None = None
) -> WorkerLink:
    """Offline with RejectPendingReservations, then delete (or Deprovision); 404 = gone."""
    located = link.replace(friendly_name=link.friendly_name or friendly_name)
    worker = locate(ops, located, seen)
    if worker is not None:
        ops.offline(worker)
    deprovisioned = False
    if ops.flex_users is not None and link.flex_user_sid:
        deprovisioned = ops.flex_users.deprovision(link.flex_user_sid)
    if worker is not None and not deprovisioned:
        ops.taskrouter.delete(worker.sid)
    if worker is not None:
        wake_waiting(ops.outbox)  # its name may be the one someone waits for
    return _forgotten(ops, link, worker_sid=None, flex_user_sid=None)


def locate(ops: WorkerOps, link: WorkerLink, seen: Seen | None = None) -> Worker | None:
    """The leaver's worker, or None: gone, or its name now holds a live user's worker."""
    if seen is not None:
        if seen.worker is not None and seen.worker.sid != link.worker_sid:
            ops.check_not_linked_elsewhere(seen.worker, link.user_id)
        return seen.worker
    worker = ops.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
    if worker is None and link.friendly_name:
        worker = ops.taskrouter.find_by_friendly_name(link.friendly_name)
        if worker is not None:
            holder = holder_of(ops.links, ops.directory, ops.mapping, worker, link.user_id)
            if holder.kind != "free":
                return None  # the name went to a live user's worker: not ours to touch
    return worker


def _forgotten(ops: WorkerOps, link: WorkerLink, **kept: Any) -> WorkerLink:
    """``link`` synced now with no attribute values, snapshot, error or problems left; ``kept``
    sets the rest."""
    return link.replace(
        etag=None,
        attributes=None,
        attributes_hash=None,
        last_synced_at=ops.clock(),
        last_error=None,
        problems=(),
        **kept,
    )
