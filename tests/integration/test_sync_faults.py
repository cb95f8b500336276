"""The sync under failure: throttling, outages, ambiguous creates, refusals, dead letters, revival.

Faults are injected in the fake Flex server; retry waits inside a Twilio call return at once, and
outbox backoff is milliseconds, so no test waits on a schedule.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, Harness, running, wait_for

ANN = "ann.lee@contoso.com"
SITE = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"


def names(sync: Harness) -> list[str]:
    return sorted(worker.friendly_name for worker in sync.workers())


def test_429_storm_ends_with_every_user_converged_once(sync: Harness) -> None:
    users = [f"agent{n}@contoso.com" for n in range(6)]
    sync.fake.faults.add(Fault(FaultKind.RATE_LIMIT, route="*", times=30))
    for user in users:
        sync.post_user(user)
    sync.settle()
    assert names(sync) == sorted(users)
    assert {outcome for outcome, _ in sync.outcomes} >= {"created", "retry"}
    assert sync.store.outbox.dead_letters() == []


def test_503s_delay_but_do_not_lose_a_change(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    # Each sync attempt makes three tries inside the Twilio call; this outlasts two attempts.
    sync.fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="worker.*", times=8))
    sync.replace(user_id, "displayName", "Ann B. Lee")
    sync.settle()
    assert sync.attributes(ANN)["full_name"] == "Ann B. Lee"
    assert [o for o, _ in sync.outcomes[1:]] == ["retry", "retry", "updated"]


def test_flex_down_for_a_while_then_back(migrated_url: str) -> None:
    down = FakeFlexServer().start()
    port, state = down.port, down.state
    with running(down, migrated_url, sync={"max_attempts": 20}) as sync:
        down.stop()
        for n in range(3):
            sync.post_user(f"agent{n}@contoso.com")
        for _ in range(2):
            sync.drain()
            time.sleep(0.005)
        assert sync.store.outbox.backlog() == 3, "nothing is lost while Flex is unreachable"
        assert any(outcome == "retry" for outcome, _ in sync.outcomes)
        back = FakeFlexServer(port=port, state=state).start()
        try:
            sync.settle()
            assert names(sync) == [f"agent{n}@contoso.com" for n in range(3)]
        finally:
            back.stop()


@pytest.mark.parametrize(
    "kind", [FaultKind.SERVER_ERROR_AFTER_COMMIT, FaultKind.DROP_CONNECTION_AFTER_COMMIT]
)
def test_create_applied_but_answered_with_an_error_makes_no_duplicate(
    sync: Harness, kind: FaultKind
) -> None:
    sync.fake.faults.add(Fault(kind, route="workers.create"))
    user_id = sync.post_user(ANN)
    sync.settle()
    assert names(sync) == [ANN]
    creates = [r for r in sync.fake.state.requests.all() if r.route == "workers.create"]
    assert len(creates) == 1
    link = sync.store.links.get(user_id)
    assert link is not None and link.worker_sid == sync.worker_named(ANN).sid


def test_repeated_412_is_resolved_by_fetching_and_merging(sync: Harness) -> None:
    sync.fake.state.set_options(enforce_if_match=True)
    user_id = sync.post_user(ANN)
    sync.drain()
    sync.fake.faults.add(Fault(FaultKind.PRECONDITION_FAILED, route="worker.update", times=2))
    sync.replace(user_id, "displayName", "Ann B. Lee")
    sync.drain()
    assert sync.attributes(ANN)["full_name"] == "Ann B. Lee"
    assert sync.outcomes[-1] == ("updated", user_id)


def test_attributes_over_4096_are_dead_lettered_never_truncated(sync: Harness) -> None:
    user_id = sync.post_user(ANN, schemas=[CORE, SITE], extra={SITE: {"site": "x" * 4200}})
    sync.drain()
    dead = sync.store.outbox.dead_letters()
    assert [d.user_id for d in dead] == [user_id]
    assert dead[0].last_error is not None and "4096" in dead[0].last_error
    assert sync.workers() == []
    assert ("dead", user_id) in sync.outcomes
    link = sync.store.links.get(user_id)
    assert link is not None and link.last_error == dead[0].last_error
    # Fixing the user queues it again by itself.
    sync.replace(user_id, f"{SITE}:site", "London")
    sync.drain()
    assert sync.attributes(ANN)["site"] == "London"
    assert sync.store.outbox.dead_letters() == []


def test_someone_elses_keys_pushing_past_4096_dead_letter_until_revived(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    bulky = {**sync.attributes(ANN), "routing": {"skills": ["s" * 3850]}}
    sync.set_worker(ANN, attributes=bulky)
    sync.replace(user_id, "displayName", "Ann Lee-Brown " + "y" * 120)
    sync.drain()
    assert [d.user_id for d in sync.store.outbox.dead_letters()] == [user_id]
    assert sync.attributes(ANN) == bulky, "nothing was written, nothing truncated"
    sync.set_worker(ANN, attributes={**bulky, "routing": {"skills": ["sales"]}})
    assert sync.store.outbox.revive_dead() == 1
    sync.drain()
    assert sync.attributes(ANN)["full_name"].startswith("Ann Lee-Brown")
    assert sync.attributes(ANN)["routing"] == {"skills": ["sales"]}


def test_friendly_name_over_64_characters_is_dead_lettered_without_calling_twilio(
    sync: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    long_name = "a" * 60 + "@contoso.com"
    with caplog.at_level(logging.ERROR, logger="scimbridge.sync"):
        user_id = sync.post_user(long_name)
        sync.drain()
    dead = sync.store.outbox.dead_letters()
    assert [d.user_id for d in dead] == [user_id]
    assert dead[0].last_error is not None and "64" in dead[0].last_error
    assert sync.calls() == []
    errors = [r for r in caplog.records if getattr(r, "outcome", None) == "dead"]
    assert errors and errors[0].levelno == logging.ERROR
    sync.replace(user_id, "userName", ANN)
    sync.drain()
    assert names(sync) == [ANN]


def test_bad_credentials_dead_letter_at_once_and_leak_nothing(
    fake: FakeFlexServer, migrated_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "f" * 32
    with running(fake, migrated_url, env={"TWILIO_AUTH_TOKEN": wrong}) as sync:
        with caplog.at_level(logging.DEBUG):
            user_id = sync.post_user(ANN)
            sync.drain()
        dead = sync.store.outbox.dead_letters()
        assert [(d.user_id, d.attempts) for d in dead] == [(user_id, 1)]
        assert dead[0].last_error is not None and "credentials" in dead[0].last_error
        assert wrong not in dead[0].last_error
        assert wrong not in caplog.text


def test_503s_outlasting_max_attempts_never_dead_letter(
    sync: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    rule = sync.fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="workers.*", times=None))
    user_id = sync.post_user(ANN)
    with caplog.at_level(logging.WARNING, logger="scimbridge.sync"):
        for _ in range(3 * sync.settings.sync.max_attempts):
            sync.store.outbox.retry_waiting_now()  # skip the backoff, keep the attempts
            sync.drain()
    assert sync.store.outbox.dead_letters() == []
    assert sync.store.outbox.backlog() == 1
    assert {o for o, _ in sync.outcomes} == {"retry"}
    assert len(sync.outcomes) == 3 * sync.settings.sync.max_attempts
    assert "Twilio unreachable" in caplog.text
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
    sync.fake.faults.remove(rule)
    sync.settle()
    assert names(sync) == [ANN]
    assert sync.outcomes[-1] == ("created", user_id)


def test_a_failure_that_is_not_transient_stops_after_max_attempts_and_revive_resyncs(
    sync: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = sync.post_user(ANN)
    sync.drain()
    worker = sync.worker_named(ANN)
    sync.fake.state.offer_reservation(worker.sid)  # a task that never times out
    with caplog.at_level(logging.WARNING, logger="scimbridge.sync"):
        # The reservation keeps being offered again: every delete meets one.
        rule = sync.fake.faults.add(Fault(FaultKind.RESERVE, route="worker.delete", times=None))
        sync.delete(user_id)
        sync.settle()
    assert [o for o, _ in sync.outcomes[1:]] == ["retry", "retry", "retry", "dead"]
    dead = sync.store.outbox.dead_letters()
    assert [(d.user_name, d.attempts) for d in dead] == [(ANN, 4)]
    assert dead[0].last_error is not None and "pending reservations" in dead[0].last_error
    assert any(r.levelno == logging.ERROR and user_id in r.getMessage() for r in caplog.records)
    sync.fake.faults.remove(rule)
    assert sync.store.outbox.revive_dead([user_id]) == 1
    sync.drain()
    assert names(sync) == []
    assert sync.outcomes[-1] == ("deleted", user_id)


def test_a_change_arriving_during_a_sync_is_synced_too(sync: Harness) -> None:
    user_id = sync.post_user(ANN)
    sync.fake.faults.add(Fault(FaultKind.DELAY, route="workers.create", delay=0.5))
    drainer = threading.Thread(target=sync.drain)
    drainer.start()
    wait_for(lambda: any(r.route == "workers.create" for r in sync.fake.state.requests.all()))
    sync.replace(user_id, "displayName", "Ann B. Lee")
    drainer.join(30)
    assert sync.attributes(ANN)["full_name"] == "Ann B. Lee"
    assert [o for o, _ in sync.outcomes] == ["created", "updated"]
    assert sync.store.outbox.backlog() == 0


def test_stop_returns_without_waiting_for_a_slow_twilio_call(sync: Harness) -> None:
    sync.fake.faults.add(Fault(FaultKind.DELAY, route="workers.create", delay=1.5))
    worker = sync.sync_worker()
    worker.start()
    sync.post_user(ANN)
    wait_for(lambda: any(r.route == "workers.create" for r in sync.fake.state.requests.all()))
    worker.stop()
    assert sync.fake.state.worker_named(ANN) is None, "stop() did not wait for the slow call"
    # The convergence in flight still finishes and completes its claim.
    wait_for(lambda: sync.store.outbox.backlog() == 0)
    assert names(sync) == [ANN]
