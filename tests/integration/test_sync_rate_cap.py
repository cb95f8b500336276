"""``SCIMBRIDGE_TWILIO_MAX_RPS`` is a rate with no burst: two replicas that start syncing after an
idle moment send at most about twice the cap in any second (the README's "budget ÷ N" holds),
counted where it matters, at the fake Flex server's door."""

from __future__ import annotations

import bisect
import time

from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import in_background, running

RATE = 4
WINDOW = 1.0


def busiest_window(moments: list[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds."""
    ordered = sorted(moments)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


def test_two_replicas_after_an_idle_moment_stay_within_their_shares(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    env = {"SCIMBRIDGE_TWILIO_MAX_RPS": str(RATE)}
    # One user per claim, so that both replicas have work from the first moment.
    with running(fake, migrated_url, env=env, sync={"batch_size": 1}) as sync:
        replicas = (sync.sync_worker(threads=2), sync.sync_worker(threads=2))
        for n in range(24):
            sync.post_user(f"agent{n:02d}@contoso.com")
        time.sleep(1.5)  # idle: a bucket that allowed a burst would be full now
        fake.state.requests.clear()
        started = time.monotonic()
        with in_background(*replicas):
            time.sleep(3.0)
        moments = [r.at for r in fake.state.requests.all()]
        elapsed = time.monotonic() - started
    assert len(moments) >= 2 * RATE, "both replicas were syncing"
    # Each replica: at most 1 + RATE x WINDOW permits in a window; one more for arrival jitter.
    assert busiest_window(moments, WINDOW) <= 2 * (1 + RATE * WINDOW) + 1
    assert len(moments) <= 2 * (1 + RATE * elapsed) + 1
