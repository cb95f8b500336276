"""Backoff, Retry-After and the classification of twilio failures, with injected randomness."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.response import Response

from scimbridge.flex.twilio.errors import (
    InvalidRequest,
    PreconditionFailed,
    RateLimited,
    TwilioNotFound,
    Unauthorized,
    Unavailable,
    WorkerNotFound,
    error_for_status,
    error_from_exception,
    error_from_response,
    parse_retry_after,
)
from scimbridge.flex.twilio.retry import RetryPolicy

NOW = 1_800_000_000.0


def policy(random_value: float = 1.0, **overrides: Any) -> RetryPolicy:
    return RetryPolicy(random=lambda: random_value, now=lambda: NOW, **overrides)


def twilio_body(status: int, code: int, message: str) -> str:
    return json.dumps({"code": code, "message": message, "status": status, "more_info": "x"})


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    top = policy(1.0, base=0.5, cap=3.0)
    half = policy(0.5, base=0.5, cap=3.0)

    assert [top.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [half.backoff(n) for n in range(1, 4)] == [0.25, 0.5, 1.0]
    assert policy(0.0).backoff(4) == 0.0


def test_retry_after_is_a_floor_with_jitter_on_top() -> None:
    assert policy(0.0, base=0.5).delay(1, retry_after=7.0) == 7.0
    assert policy(1.0, base=0.5).delay(1, retry_after=7.0) == 7.5


def test_only_retryable_errors_are_retried_and_attempts_are_bounded() -> None:
    rules = policy(1.0, max_attempts=3)
    rate_limited = error_for_status("workers.fetch", 429)

    assert rules.next_delay(rate_limited, 1) == 0.5
    assert rules.next_delay(rate_limited, 2) == 1.0
    assert rules.next_delay(rate_limited, 3) is None
    assert rules.next_delay(error_for_status("workers.fetch", 400), 1) is None
    assert rules.next_delay(error_for_status("workers.fetch", 412), 1) is None


def test_a_retry_after_beyond_the_limit_is_left_to_the_caller() -> None:
    rules = policy(0.0, max_retry_after=60.0)
    patient = error_for_status("workers.fetch", 429, retry_after=30.0)
    too_long = error_for_status("workers.fetch", 429, retry_after=600.0)

    assert rules.next_delay(patient, 1) == 30.0
    assert rules.next_delay(too_long, 1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        ("-4", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 12, UTC), usegmt=True), 12.0),
        (format_datetime(datetime.fromtimestamp(NOW - 50, UTC), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=lambda: NOW) == expected


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "outcome_unknown"),
    [
        (400, InvalidRequest, False, False),
        (401, Unauthorized, False, False),
        (403, Unauthorized, False, False),
        (404, TwilioNotFound, False, False),
        (412, PreconditionFailed, False, False),
        (429, RateLimited, True, False),
        (500, Unavailable, True, True),
        (502, Unavailable, True, True),
        (503, Unavailable, True, True),
        (504, Unavailable, True, True),
    ],
)
def test_status_classification(
    status: int, kind: type[Exception], retryable: bool, outcome_unknown: bool
) -> None:
    error = error_for_status("workers.update", status)

    assert type(error) is kind
    assert error.retryable is retryable
    assert error.outcome_unknown is outcome_unknown


def test_list_errors_arrive_as_plain_twilio_exceptions_with_the_response() -> None:
    response = Response(429, twilio_body(429, 20429, "Too many requests"), {"retry-after": "2"})
    exc = TwilioException("Unable to fetch page", response)

    error = error_from_exception("workers.list", exc, None)

    assert isinstance(error, RateLimited)
    assert (error.status, error.code, error.retry_after) == (429, 20429, 2.0)


def test_rest_exception_takes_headers_from_the_tapped_response() -> None:
    body = twilio_body(503, 20503, "Service unavailable")
    exc = TwilioRestException(503, "/v1/x", "Unable to fetch record: Service unavailable", 20503)
    tapped = Response(503, body, {"Retry-After": "4"})

    error = error_from_exception("workers.fetch", exc, tapped, not_found=WorkerNotFound)

    assert isinstance(error, Unavailable)
    assert error.retry_after == 4.0
    assert "Service unavailable" in str(error)


def test_rest_exception_without_a_response_still_classifies() -> None:
    exc = TwilioRestException(404, "/v1/x", "Unable to fetch record: gone", 20404)

    error = error_from_exception("workers.fetch", exc, None, not_found=WorkerNotFound)

    assert isinstance(error, WorkerNotFound)
    assert error.code == 20404


def test_transport_failures() -> None:
    timeout = error_from_exception("workers.create", requests.exceptions.ReadTimeout(), None)
    dropped = error_from_exception("workers.create", requests.exceptions.ConnectionError(), None)
    cut = error_from_exception("workers.list", requests.exceptions.ChunkedEncodingError(), None)
    unreachable = error_from_exception("workers.create", requests.exceptions.ConnectTimeout(), None)

    assert isinstance(timeout, Unavailable) and timeout.outcome_unknown
    assert isinstance(dropped, Unavailable) and dropped.outcome_unknown
    assert isinstance(cut, Unavailable) and cut.outcome_unknown
    assert isinstance(unreachable, Unavailable) and not unreachable.outcome_unknown
    assert timeout.status is None


def test_unrelated_exceptions_are_not_swallowed() -> None:
    assert error_from_exception("workers.fetch", KeyError("x"), None) is None


def test_secrets_are_scrubbed_from_messages() -> None:
    body = twilio_body(401, 20003, "bad credentials s3cr3t-token for you")

    error = error_from_response("workers.fetch", Response(401, body, {}), secrets=("s3cr3t-token",))

    assert isinstance(error, Unauthorized)
    assert "s3cr3t-token" not in str(error)
    assert "s3cr3t-token" not in repr(error)
    assert "***" in str(error)


def test_a_non_json_error_body_keeps_the_status() -> None:
    error = error_from_response("workers.fetch", Response(502, "<html>bad gateway</html>", {}))

    assert isinstance(error, Unavailable)
    assert (error.status, error.code) == (502, None)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base=0)
