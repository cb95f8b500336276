"""When the friendly_name a user needs is held by a worker that is not the user's own.

Does: judge who holds such a worker: nobody alive (a Flex SSO just-in-time worker made at a login
under the new UPN, or the kept worker of a deleted user), so the user may adopt it; a live user
whose own friendly_name is now another one (a rename that has not landed yet), so the user waits
for the name, retried without a dead letter and woken when a rename or a delete frees a name; or
a live user who still wants that name, a clash no retry can cure. For an adoption, give the
attributes the adopted worker starts from: the old worker's routing carried over.
Does not: call Twilio, write links or decide the owned attributes (``flex.sync.reconciler`` does).

Only a worker that belongs to no other live user is ever adopted: the holder is read from the
worker links and checked against the stored users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scimbridge.flex.mapping.attributes import is_foreign_key
from scimbridge.flex.mapping.config import FlexMapping
from scimbridge.flex.mapping.identity import IdentityError, select_friendly_name
from scimbridge.flex.twilio.taskrouter import Worker
from scimbridge.store.directory import Directory
from scimbridge.store.errors import NotFound
from scimbridge.store.links import WorkerLinks
from scimbridge.store.outbox import Outbox

# How the outbox error of a waiting user starts: a rename or delete that frees a name wakes them.
WAITING_FOR_NAME = "waiting for friendly_name"
# Keys the old worker's owners set (skills UI, supervisors, capacity): they win over the adopted
# worker's, which a just-in-time login made bare.
CARRIED_PREFIXES = ("channel.",)


class WaitingForName(Exception):
    """The name is held by a live user's worker that is being renamed away from it: try again
    later (never a dead letter). ``reason`` names the holder by userName, for ``status``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Holder:
    """Who holds a worker someone else found under its friendly_name.

    ``kind``: ``free`` (no live user: adoptable), ``renaming`` (a live user whose friendly_name is
    now another: wait), ``clash`` (a live user who wants the same name). ``user_id`` and
    ``user_name`` name the live holder.
    """

    kind: Literal["free", "renaming", "clash"]
    user_id: str | None = None
    user_name: str | None = None


def holder_of(
    links: WorkerLinks, directory: Directory, mapping: FlexMapping, worker: Worker, user_id: str
) -> Holder:
    """Judge the holder of ``worker``, which the user ``user_id`` found under a name it needs."""
    link = links.get_by_worker(worker.sid)
    if link is None or link.user_id == user_id:
        return Holder("free")
    try:
        stored = directory.get_user(link.user_id)
    except NotFound:
        return Holder("free")  # a deleted user's kept worker
    user_name = str(stored.document.get("userName") or link.user_id)
    try:
        wanted = select_friendly_name(stored.document, mapping.friendly_name_source)
    except IdentityError:
        return Holder("clash", link.user_id, user_name)  # it cannot sync, so never lets go
    if wanted.casefold() == worker.friendly_name.casefold():
        return Holder("clash", link.user_id, user_name)
    return Holder("renaming", link.user_id, user_name)


def wait_for(outbox: Outbox, name: str, holder: Holder) -> WaitingForName:
    """The error that parks a user until ``holder``'s rename frees ``name``. The holder is queued
    if nothing is queued for it (its rename dead-lettered, say), so the wait always ends."""
    if holder.user_id is not None and not outbox.is_pending(holder.user_id):
        outbox.enqueue_many([holder.user_id], "name wanted")
    return WaitingForName(
        f"{WAITING_FOR_NAME} {name!r}: the worker of user {holder.user_name!r} still has it "
        "until that user's rename lands"
    )


def clash_reason(worker: Worker, holder: Holder) -> str:
    return (
        f"worker {worker.sid} ({worker.friendly_name}) is already linked to user "
        f"{holder.user_name!r}; two users map to one friendly_name"
    )


def wake_waiting(outbox: Outbox) -> int:
    """A name may have been freed: every user waiting for a name is due now."""
    return outbox.retry_now_when_error_starts(WAITING_FOR_NAME)


def carried_attributes(old: Mapping[str, Any], adopted: Mapping[str, Any]) -> dict[str, Any]:
    """What the adopted worker starts from before the owned keys are merged in: every key of both
    workers, the adopted one's values winning (a login just wrote them), except the keys of the
    old worker's routing, disabled skills, team and channel settings, which the old one's win."""
    carried = {**old, **adopted}
    carried.update(
        (key, value)
        for key, value in old.items()
        if is_foreign_key(key) or key.casefold().startswith(CARRIED_PREFIXES)
    )
    return carried
