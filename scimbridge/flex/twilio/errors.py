"""How a Twilio call fails: one typed error family for every way a ``twilio`` call can go wrong.

Does: turn every way a ``twilio`` 9.x call can fail (``TwilioRestException``, the plain
``TwilioException`` that list pages raise, a raw non-2xx ``Response``, ``requests`` timeouts and
connection errors) into one typed :class:`FlexApiError` family with HTTP status, Twilio code,
``retry_after`` (read from ``Retry-After``) and whether the request may have been applied.
Does not: send requests, wait or decide whether to try again (:mod:`.retry`), or decide anything
about non-idempotent calls (:mod:`.taskrouter` looks a worker up before it re-sends a create).

Error messages are built from the status, code and Twilio's ``message`` only, with every secret
the caller names replaced by ``***``; they never chain the original exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.response import Response


class FlexApiError(Exception):
    """A Twilio call that did not succeed.

    ``status`` is the HTTP status (``None`` when no response arrived); ``code`` the Twilio error
    code from the body, if any; ``retryable`` says whether the same request may simply be sent
    again; ``retry_after`` is the server's ``Retry-After`` in seconds, if sent; ``outcome_unknown``
    says the request may have been applied although it failed (5xx, timeout, dropped connection).
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, status={self.status}, "
            f"code={self.code}, message={self.message!r})"
        )


class Unauthorized(FlexApiError):
    """401/403: the credentials are wrong, revoked, or lack the permission."""


class TwilioNotFound(FlexApiError):
    """404: the resource does not exist (or no longer does)."""


class WorkerNotFound(TwilioNotFound):
    """404 on a TaskRouter worker."""


class InvalidRequest(FlexApiError):
    """A 4xx other than 401/403/404/412/429: the request is wrong and will stay wrong."""


class AttributesTooLarge(InvalidRequest):
    """Worker attributes beyond TaskRouter's 4096 characters of JSON: refused before any request,
    never truncated. ``length`` is how long they were; the message names the largest keys."""

    def __init__(self, message: str, *, length: int) -> None:
        super().__init__(message, endpoint="workers")
        self.length = length


class FriendlyNameTaken(InvalidRequest):
    """Another worker already holds this friendly_name (unique per workspace, case-insensitive)."""


class WorkerBusy(InvalidRequest):
    """A 400 on deleting a worker: it still has pending reservations (or, where Twilio refuses
    that too, sits in an available activity). Not retryable at once, but reservations time out
    and the sync rejects them first, so it is worth trying again later."""


class PreconditionFailed(FlexApiError):
    """412: the worker changed since the ETag sent in ``If-Match``; re-fetch and re-merge."""


class RateLimited(FlexApiError):
    """429: Twilio refused the request without processing it; always safe to send again."""

    retryable = True


class Unavailable(FlexApiError):
    """5xx, timeout or broken connection: Twilio may or may not have applied the request."""

    retryable = True


class UnexpectedResponse(FlexApiError):
    """A 2xx whose body is not what the API documents, or a link to a foreign host."""


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if absent
    or unreadable. A date in the past gives 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now())


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A response header by case-insensitive name (twilio hands back plain dicts)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _body_fields(body: str | None) -> tuple[int | None, str | None]:
    """(code, message) from a Twilio error body, when it is the documented JSON shape."""
    if not body:
        return None, None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    code = parsed.get("code")
    message = parsed.get("message") or parsed.get("detail") or parsed.get("title")
    return (code if isinstance(code, int) else None), (str(message) if message else None)


def error_for_status(
    endpoint: str,
    status: int,
    *,
    code: int | None = None,
    message: str | None = None,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
    not_found: type[TwilioNotFound] = TwilioNotFound,
) -> FlexApiError:
    """The typed error for an HTTP error status."""
    kind: type[FlexApiError]
    if status in (401, 403):
        kind = Unauthorized
    elif status == 404:
        kind = not_found
    elif status == 412:
        kind = PreconditionFailed
    elif status == 429:
        kind = RateLimited
    elif status >= 500:
        kind = Unavailable
    else:
        kind = InvalidRequest
    text = f"{endpoint}: HTTP {status}"
    if code is not None and code != status:
        text += f" (Twilio error {code})"
    if message:
        text += f": {message}"
    return kind(
        scrub(text, secrets),
        endpoint=endpoint,
        status=status,
        code=code,
        retry_after=retry_after,
        outcome_unknown=status >= 500,
    )


def error_from_response(
    endpoint: str,
    response: Response,
    *,
    secrets: Iterable[str] = (),
    now: Callable[[], float] = time.time,
    not_found: type[TwilioNotFound] = TwilioNotFound,
) -> FlexApiError:
    """The typed error for a non-2xx ``twilio.http.response.Response``."""
    code, message = _body_fields(response.text)
    return error_for_status(
        endpoint,
        response.status_code,
        code=code,
        message=message,
        retry_after=parse_retry_after(header(response.headers, "Retry-After"), now),
        secrets=secrets,
        not_found=not_found,
    )


def error_from_exception(
    endpoint: str,
    exc: Exception,
    response: Response | None,
    *,
    secrets: Iterable[str] = (),
    now: Callable[[], float] = time.time,
    not_found: type[TwilioNotFound] = TwilioNotFound,
) -> FlexApiError | None:
    """The typed error for an exception raised by a ``twilio`` call, or None if it is not one.

    ``response`` is the last HTTP response received by this thread, if any: the library's own
    exceptions do not carry headers, so ``Retry-After`` comes from there.
    """
    options: dict[str, Any] = {"secrets": secrets, "now": now, "not_found": not_found}
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        if response is not None and response.status_code == exc.status:
            return error_from_response(endpoint, response, **options)
        detail = exc.msg if isinstance(exc, TwilioRestException) else exc.title
        return error_for_status(
            endpoint,
            exc.status,
            code=exc.code if isinstance(exc.code, int) else None,
            message=str(detail),
            secrets=secrets,
            not_found=not_found,
        )
    if isinstance(exc, TwilioException) and len(exc.args) > 1 and isinstance(exc.args[1], Response):
        # List and page calls raise a bare TwilioException carrying the response.
        return error_from_response(endpoint, exc.args[1], **options)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Unavailable(f"{endpoint}: could not connect in time", endpoint=endpoint)
    if isinstance(exc, requests.exceptions.Timeout):
        return Unavailable(
            f"{endpoint}: no response in time", endpoint=endpoint, outcome_unknown=True
        )
    if isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return Unavailable(
            f"{endpoint}: connection failed ({type(exc).__name__})",
            endpoint=endpoint,
            outcome_unknown=True,
        )
    if isinstance(exc, requests.exceptions.RequestException | TwilioException):
        return UnexpectedResponse(
            scrub(f"{endpoint}: {type(exc).__name__}", secrets), endpoint=endpoint
        )
    if isinstance(exc, ValueError):
        return UnexpectedResponse(f"{endpoint}: response is not valid JSON", endpoint=endpoint)
    return None
