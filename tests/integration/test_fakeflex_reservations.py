"""The fake's worker reservations, through the real ``twilio`` client: a pending reservation
blocks the worker's delete (400/20001), ``RejectPendingReservations`` on a move to an unavailable
activity rejects them, one can be rejected or accepted by an update only while pending, and a
pending one times out after its timeout."""

from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext

from scimbridge.testing.fakeflex.server import FakeFlexServer


def test_a_pending_reservation_blocks_delete_until_rejected(
    fake: FakeFlexServer, ws: WorkspaceContext
) -> None:
    worker = ws.workers.create(friendly_name="ann")
    reserved = fake.state.offer_reservation(worker.sid)
    with pytest.raises(TwilioRestException) as refused:
        ws.workers(worker.sid).delete()
    assert (refused.value.status, refused.value.code) == (400, 20001)
    pending = ws.workers(worker.sid).reservations.list(reservation_status="pending")
    assert [r.sid for r in pending] == [reserved]
    rejected = ws.workers(worker.sid).reservations(reserved).update(reservation_status="rejected")
    assert rejected.reservation_status == "rejected"
    assert ws.workers(worker.sid).reservations.list(reservation_status="pending") == []
    with pytest.raises(TwilioRestException) as again:
        ws.workers(worker.sid).reservations(reserved).update(reservation_status="accepted")
    assert again.value.status == 400, "only a pending reservation can be accepted"
    assert ws.workers(worker.sid).delete() is True


def test_reject_pending_reservations_on_going_offline(
    fake: FakeFlexServer, ws: WorkspaceContext
) -> None:
    available = fake.state.activity_sid("Available")
    offline = fake.state.activity_sid("Offline")
    worker = ws.workers.create(friendly_name="bob", activity_sid=available)
    fake.state.offer_reservation(worker.sid)
    ws.workers(worker.sid).update(activity_sid=offline, reject_pending_reservations=True)
    statuses = [r.reservation_status for r in ws.workers(worker.sid).reservations.list()]
    assert statuses == ["rejected"]
    assert ws.workers(worker.sid).delete() is True


def test_a_pending_reservation_times_out(fake: FakeFlexServer, ws: WorkspaceContext) -> None:
    worker = ws.workers.create(friendly_name="cy")
    fake.state.offer_reservation(worker.sid, timeout=0.2)
    assert ws.workers(worker.sid).reservations.list(reservation_status="pending") != []
    time.sleep(0.3)
    assert ws.workers(worker.sid).reservations.list(reservation_status="pending") == []
    assert ws.workers(worker.sid).delete() is True


def test_the_refusal_can_be_switched_off(fake: FakeFlexServer, ws: WorkspaceContext) -> None:
    fake.state.set_options(refuse_delete_reserved=False)
    worker = ws.workers.create(friendly_name="dee")
    fake.state.offer_reservation(worker.sid)
    assert ws.workers(worker.sid).delete() is True
    assert fake.state.reservations.all() == []
