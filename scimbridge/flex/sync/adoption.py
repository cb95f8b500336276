"""Which worker is the user's: the linked one, one found under its name, an adopted one, or new.

Does: find the user's worker by linked SID, else by friendly_name (the new one, then the last
known), else create it (the intended friendly_name saved in the link first, so a crash cannot
orphan it); when a rename meets another worker already under the new name, adopt that worker if
no other live user holds it (the old worker's routing carried over, the owned keys merged in, the
old worker retired by ``on_delete``), or wait for the name, or refuse it
(``flex.sync.name_conflicts`` judges which).
Does not: write the owned keys of a worker it did not adopt (``flex.sync.writes`` does), save the
converged link (``flex.sync.reconciler`` does) or retry.
"""

from __future__ import annotations

import logging

from scimbridge.flex.mapping.attributes import DesiredWorker, merge_attributes
from scimbridge.flex.sync.name_conflicts import (
    WAITING_FOR_NAME,
    WaitingForName,
    carried_attributes,
    clash_reason,
    holder_of,
    wait_for,
)
from scimbridge.flex.sync.outcome import Changes, PermanentSyncError
from scimbridge.flex.sync.worker_ops import Seen, WorkerOps, checked
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.links import WorkerLink

log = logging.getLogger("scimbridge.sync")


def find_worker(
    ops: WorkerOps,
    link: WorkerLink,
    desired: DesiredWorker,
    changes: Changes,
    seen: Seen | None = None,
) -> Worker:
    """The worker by linked SID, else by friendly_name (new, then last known), else a new one
    (the intended friendly_name is written to the link first, so a crash cannot orphan it).
    ``seen`` replaces the lookups (a worker seen, or none: create)."""
    if seen is None:
        worker = ops.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
        names = [desired.friendly_name]
        if link.friendly_name and link.friendly_name.casefold() != names[0].casefold():
            names.append(link.friendly_name)
        for name in names if worker is None else ():
            worker = ops.taskrouter.find_by_friendly_name(name)
            if worker is not None:
                break
    else:
        worker = seen.worker
    if worker is not None:
        if worker.sid != link.worker_sid:
            ops.check_not_linked_elsewhere(worker, link.user_id)
        return worker
    attributes = merge_attributes({}, desired, ())
    checked(attributes)
    ops.save(link.replace(friendly_name=desired.friendly_name, worker_sid=None, etag=None))
    activity = None if desired.active else ops.unavailable_sid()
    worker = ops.taskrouter.create(desired.friendly_name, attributes, activity)
    ops.check_not_linked_elsewhere(worker, link.user_id)
    changes.created = True
    return worker


def adoptable(ops: WorkerOps, name: str, old: Worker, user_id: str) -> Worker:
    """The worker that holds ``name`` instead of ``old``, if ``user_id`` may adopt it; raises
    :class:`WaitingForName` (its live holder is being renamed, or it is free again: retry)
    or :class:`PermanentSyncError` (a live user wants the name too)."""
    held = ops.taskrouter.find_by_friendly_name(name)
    if held is None or held.sid == old.sid:
        raise WaitingForName(f"{WAITING_FOR_NAME} {name!r}: it was taken and is free again")
    holder = holder_of(ops.links, ops.directory, ops.mapping, held, user_id)
    if holder.kind == "renaming":
        raise wait_for(ops.outbox, name, holder)
    if holder.kind == "clash":
        raise PermanentSyncError(clash_reason(held, holder))
    return held


def take_name(
    ops: WorkerOps, old: Worker, link: WorkerLink, desired: DesiredWorker, changes: Changes
) -> Worker:
    """The user's worker ``old`` could not be renamed: another worker has the name. If no
    other live user holds that one (a Flex SSO login under the new name made it, or a deleted
    user kept it), adopt it: the old worker's routing carried over, the owned keys merged
    in; then retire ``old`` by ``on_delete``. Waits (retried) while a live user is being
    renamed away from the name; refuses when a live user still wants it.

    Crash-safe in this order: the adopted worker written, ``old`` retired, then the link
    saved by the caller; a rerun finds the same two workers, or only the adopted one."""
    name = desired.friendly_name
    held = adoptable(ops, name, old, link.user_id)
    merged = merge_attributes(
        carried_attributes(old.attributes, held.attributes), desired, link.owned_keys
    )
    activity = ops.activity_change(held, desired, link)
    adopted = ops.taskrouter.update(
        held.sid,
        attributes=checked(merged),
        friendly_name=name if held.friendly_name != name else None,
        activity_sid=activity,
        reject_pending_reservations=activity is not None and not desired.active,
        if_match=held.etag,
    )
    ops.offline(old)
    if ops.policy.on_delete == "delete":
        ops.taskrouter.delete(old.sid)
    log.info(
        "user %s: adopted worker %s, already under the new friendly_name; old worker %s %s",
        link.user_id,
        adopted.sid,
        old.sid,
        "deleted" if ops.policy.on_delete == "delete" else "kept offline",
        extra={"event": "sync", "user_id": link.user_id},
    )
    changes.written = changes.renamed = True
    return adopted
