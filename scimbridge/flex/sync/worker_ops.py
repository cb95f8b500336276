"""The calls on one user's worker and its link that every step of a convergence shares.

Does: hold what a convergence works with (the store, TaskRouter, the mapping and its deprovision
policy, the Flex Users API client in that mode, the clock); save a worker link; check that
attributes fit TaskRouter; take a worker offline with its pending reservations rejected; pick the
activity a worker moves to; refuse or wait when a worker found under the user's name belongs to
another live user.
Does not: decide what to write or when (``flex.sync.reconciler`` and the modules it calls do),
retry, or know SCIM's wire format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.mapping.config import DeprovisionPolicy, FlexMapping
from scimbridge.flex.sync.name_conflicts import clash_reason, holder_of, wait_for
from scimbridge.flex.sync.outcome import PermanentSyncError
from scimbridge.flex.twilio.errors import AttributesTooLarge
from scimbridge.flex.twilio.taskrouter import TaskRouter, Worker, encode_attributes
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.store.directory import Directory
from scimbridge.store.links import DISABLED, WorkerLink, WorkerLinkConflict, WorkerLinks
from scimbridge.store.outbox import Outbox


@dataclass(frozen=True)
class Seen:
    """The user's worker as the caller just read it; ``worker`` None: a full listing has none."""

    worker: Worker | None


@dataclass(frozen=True)
class WorkerOps:
    """What one convergence works with, and the calls its steps share. ``flex_users`` is set in
    Users API mode only."""

    directory: Directory
    links: WorkerLinks
    outbox: Outbox
    taskrouter: TaskRouter
    mapping: FlexMapping
    flex_users: FlexUsers | None
    clock: Callable[[], datetime]

    @property
    def policy(self) -> DeprovisionPolicy:
        return self.mapping.deprovision_policy

    def unavailable_sid(self) -> str:
        return self.taskrouter.activity_sid(self.policy.unavailable_activity)

    def activity_change(
        self, worker: Worker | None, desired: DesiredWorker, link: WorkerLink
    ) -> str | None:
        """The activity to move to, if any. ``worker`` None: judge from the link's snapshot."""
        if not desired.active:
            if worker is None:
                return None if link.activity_state == DISABLED else self.unavailable_sid()
            target = self.unavailable_sid()
            return target if worker.activity_sid != target else None
        if link.activity_state == DISABLED and self.policy.available_activity:
            target = self.taskrouter.activity_sid(self.policy.available_activity)
            return target if worker is None or worker.activity_sid != target else None
        return None

    def offline(self, worker: Worker) -> Worker:
        """Unavailable with its pending reservations rejected, whatever the current activity
        (``RejectPendingReservations`` needs an activity change, so an offline worker's are
        rejected one by one): Twilio refuses to delete a worker that still has some."""
        target = self.unavailable_sid()
        if worker.activity_sid == target:
            self.taskrouter.reject_pending_reservations(worker.sid)
            return worker
        return self.taskrouter.update(
            worker.sid, activity_sid=target, reject_pending_reservations=True
        )

    def check_not_linked_elsewhere(self, worker: Worker, user_id: str) -> None:
        """``worker``, found under the user's name, is the user's to adopt unless a live user
        holds it: wait while that user is renamed away from the name, refuse if it wants it."""
        holder = holder_of(self.links, self.directory, self.mapping, worker, user_id)
        if holder.kind == "renaming":
            raise wait_for(self.outbox, worker.friendly_name, holder)
        if holder.kind == "clash":
            raise PermanentSyncError(clash_reason(worker, holder))

    def save(self, link: WorkerLink) -> None:
        try:
            self.links.upsert(link)
        except WorkerLinkConflict as exc:
            raise PermanentSyncError(str(exc)) from None


def checked(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` if TaskRouter can take them; never truncated."""
    try:
        encode_attributes(attributes)
    except AttributesTooLarge as exc:
        raise PermanentSyncError(exc.message) from None
    return dict(attributes)
