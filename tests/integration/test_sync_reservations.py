"""A leaver whose worker still has pending reservations is deleted all the same: they are
rejected first whatever the worker's activity, and Twilio's 400 on a delete (a task reserved the
worker in between) is retried while the reservation times out, never dead-lettered at once."""

from __future__ import annotations

from sqlalchemy import delete
from typer.testing import CliRunner

from scimbridge.cli.main import app
from scimbridge.store.tables import outbox as outbox_table
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import Harness, running, twilio_env

ANN = "ann.lee@contoso.com"


def statuses(sync: Harness) -> list[str]:
    return [r.status for r in sync.fake.state.reservations.all()]


def test_an_offline_leaver_with_a_pending_reservation_is_deleted(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    assert sync.activity(ANN) == "Offline"
    sync.fake.state.offer_reservation(sync.worker_named(ANN).sid)
    sync.calls()
    sync.delete(user_id)
    sync.drain()
    assert sync.workers() == []
    assert sync.store.outbox.dead_letters() == [] and sync.store.outbox.backlog() == 0
    routes = [route for route, _ in sync.calls()]
    assert routes.index("reservation.update") < routes.index("worker.delete")
    assert sync.outcomes[-1] == ("deleted", user_id)


def test_an_available_leaver_goes_offline_rejecting_its_reservations(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    sync.set_worker(ANN, activity="Available")
    sync.fake.state.offer_reservation(sync.worker_named(ANN).sid)
    sync.delete(user_id)
    sync.drain()
    assert sync.workers() == []
    assert statuses(sync) == []  # gone with the worker; the delete was not refused
    assert sync.outcomes[-1] == ("deleted", user_id)


def test_a_reservation_arriving_just_before_the_delete_is_waited_out(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    sync.fake.faults.add(Fault(FaultKind.RESERVE, route="worker.delete", times=2, delay=0.2))
    sync.delete(user_id)
    sync.drain()
    assert [o for o, _ in sync.outcomes[1:]] == ["retry"]
    assert sync.workers() != []
    sync.settle()
    assert sync.workers() == []
    assert sync.store.outbox.dead_letters() == []
    assert [o for o, _ in sync.outcomes[1:]] == ["retry", "retry", "deleted"]


def test_a_disabled_user_under_on_disable_delete_is_removed_despite_reservations(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    with running(fake, migrated_url, flex={"on_disable": "delete"}) as harness:
        user_id = harness.post_user(ANN)
        harness.drain()
        harness.fake.state.offer_reservation(harness.worker_named(ANN).sid)
        harness.replace(user_id, "active", False)
        harness.drain()
        assert harness.workers() == []
        assert harness.store.outbox.dead_letters() == []


def test_resync_deletes_a_leaver_whose_offline_worker_has_a_pending_reservation(
    sync: Harness,
) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    sync.fake.state.offer_reservation(sync.worker_named(ANN).sid)
    sync.delete(user_id)
    with sync.engine.begin() as conn:  # the change is left to resync, not the sync worker
        conn.execute(delete(outbox_table))
    env = twilio_env(sync.fake, sync.settings.database_url)
    result = CliRunner().invoke(app, ["resync"], env=env)
    assert result.exit_code == 0, result.output
    assert sync.workers() == []
    assert sync.store.outbox.dead_letters() == []
