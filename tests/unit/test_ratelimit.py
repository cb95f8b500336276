"""The token bucket, driven by a hand-moved clock: no test here waits on real time."""

from __future__ import annotations

import math
import threading

import pytest

from scimbridge.flex.twilio.ratelimit import RateLimiter


class ManualClock:
    """A monotonic clock that moves only when the limiter sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_is_free_then_calls_are_spaced_at_the_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(4.0, burst=2, spread=0.0, clock=clock, sleep=clock.sleep)

    waits = [limiter.acquire() for _ in range(6)]

    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.25, 0.25, 0.25, 0.25])
    # N calls at rate R with burst B take (N - B) / R.
    assert clock.now - 100.0 == pytest.approx((6 - 2) / 4.0)


def test_idle_time_refills_the_bucket_but_never_beyond_burst() -> None:
    clock = ManualClock()
    limiter = RateLimiter(2.0, burst=2, spread=0.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()

    clock.now += 60.0

    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.5])


def test_waiting_callers_queue_up_instead_of_all_waking_together() -> None:
    clock = ManualClock()
    limiter = RateLimiter(10.0, burst=1, spread=0.0, clock=clock, sleep=clock.sleep)
    limiter.reserve()

    # Three callers arrive at the same instant: each reserves the next free slot.
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])


def test_threads_share_one_budget() -> None:
    clock = ManualClock()
    limiter = RateLimiter(5.0, burst=1, spread=0.0, clock=clock, sleep=lambda seconds: None)
    reserved: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            wait = limiter.reserve()
            with lock:
                reserved.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 100 permits at 5/s with the clock standing still: the last is due (100 - 1) / 5 s out,
    # and no two callers were handed the same slot.
    assert max(reserved) == pytest.approx(99 / 5.0)
    assert len({round(w, 6) for w in reserved}) == 100


def most_in_one_second(arrivals: list[float]) -> int:
    """The most arrivals in any sliding window of one second (half-open, as Twilio counts)."""
    arrivals, most, start = sorted(arrivals), 0, 0
    for end in range(len(arrivals)):
        while arrivals[end] - arrivals[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def permits(limiter: RateLimiter, clock: ManualClock, count: int) -> list[float]:
    """When each of ``count`` back-to-back permits is handed out."""
    due = []
    for _ in range(count):
        limiter.acquire()
        due.append(clock.now)
    return due


@pytest.mark.parametrize("rate", [10.0, 20.0, 6.5])
def test_no_second_at_twilio_sees_more_than_the_rate_when_delays_vary(rate: float) -> None:
    clock = ManualClock()
    due = permits(RateLimiter(rate, clock=clock, sleep=clock.sleep), clock, 200)
    # The worst case for a sliding second: some requests take up to 39 ms longer on their way
    # than the ones after them (here every tenth, and the first).
    late = [at + (0.039 if number % 10 == 0 else 0.0) for number, at in enumerate(due)]
    # A whole rate is a whole count per second; 6.5 is 6 or 7 (so the README's share is whole).
    assert most_in_one_second(late) <= math.ceil(rate)
    assert most_in_one_second(due) <= math.ceil(rate)
    # It costs 4 % of the rate, no more.
    assert (due[-1] - due[0]) / (len(due) - 1) == pytest.approx(1.04 / rate)


def test_permits_exactly_one_interval_apart_let_one_more_into_a_second() -> None:
    clock = ManualClock()
    due = permits(RateLimiter(10.0, spread=0.0, clock=clock, sleep=clock.sleep), clock, 50)
    late = [at + (0.001 if number == 0 else 0.0) for number, at in enumerate(due)]
    assert most_in_one_second(late) == 11, "why the spread is there"


def test_replicas_split_the_account_rate() -> None:
    limiter = RateLimiter.for_replicas(30.0, 3)

    assert limiter.rate == pytest.approx(10.0)
    with pytest.raises(ValueError):
        RateLimiter.for_replicas(30.0, 0)


@pytest.mark.parametrize(
    ("rate", "burst", "spread"),
    [(0.0, 1.0, 0.1), (-1.0, 1.0, 0.1), (1.0, 0.5, 0.1), (1.0, 1.0, -1)],
)
def test_nonsense_settings_are_refused(rate: float, burst: float, spread: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, spread=spread)
