"""Flex Users API mode: the Flex user behind the worker, provisioned before the worker converges.

Does: provision (create or update) the Flex user when it is new or its owned values or name
changed, renaming the worker first so the new user adopts it; when that rename meets a worker a
Flex login made under the new name, carry the old worker's routing onto it, link it, then retire
the old Flex user by ``on_delete`` (Deprovision, or its worker kept offline), unless a live user
holds it (wait, or refuse).
Does not: converge the worker itself (``flex.sync.reconciler`` then does, through TaskRouter like
any other) or deprovision a leaver (``flex.sync.leavers`` does).
"""

from __future__ import annotations

from scimbridge.flex.mapping.attributes import DesiredWorker
from scimbridge.flex.sync.adoption import adoptable
from scimbridge.flex.sync.name_conflicts import carried_attributes
from scimbridge.flex.sync.worker_ops import WorkerOps, checked
from scimbridge.flex.twilio.errors import FriendlyNameTaken
from scimbridge.store.links import WorkerLink


def provision(ops: WorkerOps, link: WorkerLink, desired: DesiredWorker) -> WorkerLink:
    """Provision (create or update) the Flex user when it is new or its owned values or name
    changed; the worker is then converged through TaskRouter like any other."""
    assert ops.flex_users is not None
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
            ops.taskrouter.update(link.worker_sid, friendly_name=desired.friendly_name)
        except FriendlyNameTaken:
            link = hand_over_to_login(ops, link, desired)
    attributes = desired.attributes
    roles = attributes.get("roles") or list(ops.mapping.default_roles)
    provisioned = ops.flex_users.provision(
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


def hand_over_to_login(ops: WorkerOps, link: WorkerLink, desired: DesiredWorker) -> WorkerLink:
    """Users API mode, a rename that meets a worker a Flex login made under the new name (with
    its Flex user, which Provision then updates): unless a live user holds it (wait, or
    refuse), carry the old worker's routing onto it, link it, then retire the old Flex user
    by ``on_delete`` (Deprovision, or its worker kept offline)."""
    assert ops.flex_users is not None
    old = ops.taskrouter.fetch(link.worker_sid) if link.worker_sid else None
    if old is None:
        return link.replace(worker_sid=None, etag=None)  # nothing to carry: Provision adopts
    held = adoptable(ops, desired.friendly_name, old, link.user_id)
    carried = carried_attributes(old.attributes, held.attributes)
    ops.taskrouter.update(held.sid, attributes=checked(carried), if_match=held.etag)
    # Linked before the old one goes: a crash leaves at worst an orphan `resync` lists.
    handed = link.replace(worker_sid=held.sid, flex_user_sid=None, etag=None, attributes=None)
    ops.save(handed)
    ops.offline(old)
    if ops.policy.on_delete == "delete":
        gone = bool(link.flex_user_sid) and ops.flex_users.deprovision(str(link.flex_user_sid))
        if not gone:
            ops.taskrouter.delete(old.sid)
    return handed
