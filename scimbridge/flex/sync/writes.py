"""Writing the owned keys of a found worker: from the link's snapshot, or read-merge-write.

Does: the 1-call path (an update with ``If-Match`` against the link's snapshot, when the owned
attributes, the name or the enabled state changed); else read-merge-write with ``If-Match`` from
the read, read again on a 412 (at most :data:`MAX_CONFLICT_RETRIES` times); learn once per
reconciler whether the server honours ``If-Match`` at all (:class:`IfMatchProbe`: an empty update
with a bogus ETag, a no-op either way). Only the owned keys are merged in; every other key keeps
its value.
Does not: decide which worker is the user's (``flex.sync.adoption`` does, and looks a worker up
again when it vanished mid-write), save the link, or retry beyond a 412.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from scimbridge.flex.mapping.attributes import DesiredWorker, merge_attributes
from scimbridge.flex.sync.adoption import find_worker
from scimbridge.flex.sync.outcome import Changes
from scimbridge.flex.sync.worker_ops import WorkerOps, checked
from scimbridge.flex.twilio.errors import (
    FlexApiError,
    FriendlyNameTaken,
    PreconditionFailed,
    WorkerNotFound,
)
from scimbridge.flex.twilio.taskrouter import TaskRouter, Worker
from scimbridge.store.links import WorkerLink

log = logging.getLogger("scimbridge.sync")

MAX_CONFLICT_RETRIES = 4
PROBE_ETAG = '"scimbridge-if-match-probe"'


class RenameBlocked(Exception):
    """Renaming ``worker`` met another worker holding the new friendly_name."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker.sid)
        self.worker = worker


def write_from_snapshot(
    ops: WorkerOps,
    conditional_writes: bool | None,
    link: WorkerLink,
    desired: DesiredWorker,
    owned_hash: str,
    changes: Changes,
) -> Worker | None:
    """The 1-call path: update with ``If-Match`` against the link's snapshot, when the owned
    attributes, the name or the enabled state changed. None: fetch and merge instead."""
    if not (conditional_writes and link.worker_sid and link.etag):
        return None
    if link.attributes is None or link.friendly_name is None:
        return None
    renamed = link.friendly_name != desired.friendly_name
    if owned_hash == link.attributes_hash and not renamed and not changes.flags:
        return None  # nothing we know of changed: fetch to check nobody removed our keys
    merged = merge_attributes(link.attributes, desired, link.owned_keys)
    activity = ops.activity_change(None, desired, link)
    if merged == link.attributes and not renamed and activity is None:
        return None
    try:
        worker = _update(
            ops, link.worker_sid, link.attributes, merged, desired, renamed, activity, link.etag
        )
    except (PreconditionFailed, WorkerNotFound, FriendlyNameTaken):
        log.debug("worker %s changed since our last write; merging", link.worker_sid)
        return None
    changes.written, changes.renamed = True, renamed
    return worker


def write_merged(
    ops: WorkerOps, worker: Worker, link: WorkerLink, desired: DesiredWorker, changes: Changes
) -> Worker:
    """Read-merge-write with ``If-Match`` from the read; on 412 read, merge and write again.
    Raises :class:`RenameBlocked` when the new friendly_name is taken."""
    for _attempt in range(MAX_CONFLICT_RETRIES):
        merged = merge_attributes(worker.attributes, desired, link.owned_keys)
        if worker.listed and merged != worker.attributes:
            # A listing's attributes may be stale and carry no ETag: merge from a fetch.
            fresh = ops.taskrouter.fetch(worker.sid)
            worker = fresh or find_worker(ops, link.replace(worker_sid=None), desired, changes)
            continue
        renamed = worker.friendly_name != desired.friendly_name
        activity = ops.activity_change(worker, desired, link)
        if merged == worker.attributes and not renamed and activity is None:
            return worker
        try:
            updated = _update(
                ops, worker.sid, worker.attributes, merged, desired, renamed, activity, worker.etag
            )
        except (PreconditionFailed, WorkerNotFound):
            fresh = ops.taskrouter.fetch(worker.sid)
            worker = fresh or find_worker(ops, link.replace(worker_sid=None), desired, changes)
            continue
        except FriendlyNameTaken:
            raise RenameBlocked(worker) from None
        changes.written = True
        changes.renamed = changes.renamed or renamed
        return updated
    raise PreconditionFailed(
        f"worker {worker.sid} kept changing under us ({MAX_CONFLICT_RETRIES} tries)",
        endpoint="workers.update",
        status=412,
    )


def _update(
    ops: WorkerOps,
    sid: str,
    current: Mapping[str, Any],
    merged: dict[str, Any],
    desired: DesiredWorker,
    renamed: bool,
    activity: str | None,
    etag: str | None,
) -> Worker:
    """One update with ``If-Match: etag`` of what changed: the attributes (when ``merged``
    differs from ``current``), the friendly_name, the activity (rejecting pending reservations
    when the user is disabled)."""
    return ops.taskrouter.update(
        sid,
        attributes=checked(merged) if merged != current else None,
        friendly_name=desired.friendly_name if renamed else None,
        activity_sid=activity,
        reject_pending_reservations=activity is not None and not desired.active,
        if_match=etag,
    )


class IfMatchProbe:
    """Whether the server refuses a stale ``If-Match`` on worker updates. ``known``: True or
    False once learnt (or configured), None until then. Thread-safe."""

    def __init__(self, known: bool | None) -> None:
        self.known = known
        self._probing = threading.Lock()

    def probe(self, taskrouter: TaskRouter, worker: Worker) -> Worker:
        """Learn once whether the server refuses a stale ``If-Match``; the probe is an empty
        update, so it changes nothing either way. Returns the worker as it now is."""
        if self.known is not None or not worker.etag:
            return worker
        # One probe at a time: the other threads keep fetching until the answer is in.
        if not self._probing.acquire(blocking=False):
            return worker
        try:
            if self.known is not None:
                return worker
            worker = taskrouter.update(worker.sid, if_match=PROBE_ETAG)
        except PreconditionFailed:
            self.known = True
        except FlexApiError as exc:
            # The probe must never fail a sync: throttled, ask again later; refused, never ask.
            if not exc.retryable:
                self.known = False
            log.info("If-Match probe inconclusive: %s", exc.message)
            return worker
        else:
            self.known = False
        finally:
            self._probing.release()
        # Nothing for an operator to do either way (Twilio documents If-Match for Tasks only):
        # it only says how many calls a change costs.
        log.debug(
            "TaskRouter %s If-Match on worker updates: a change costs %s",
            "enforces" if self.known else "does not enforce",
            "one write" if self.known else "a read right before each write",
        )
        return worker
