"""The one path every Twilio request takes, and the ``twilio`` client it goes through.

Does: build the ``twilio`` client over the transport it is given, as httpx takes one: any
``twilio.http.HttpClient`` (default: the real one, :func:`real_http_client`, with no library-level
retries and a request timeout; tests pass the fake's in-process transport), with
``settings.base_url`` for the TaskRouter and Flex domains, no region/edge host rewriting and a
``User-Agent`` suffix; run each request as: a permit from the shared rate limiter, one attempt, a
typed error, a report to ``on_request(endpoint, status)``, and the retry policy; fetch Flex
Configuration.
Does not: know about workers or Flex users, or retry a non-idempotent request on its own
(:meth:`TwilioCalls.attempt` is the single-shot form callers use for creates).

Host pinning: ``twilio`` falls back to ``TWILIO_REGION``/``TWILIO_EDGE`` from the environment even
when ``None`` is passed, and either one rewrites the host of every URL (``127.0.0.1`` becomes
``127.dublin.ie1.0.1``), so :func:`build_client` clears both after construction. The library's
``twilio.http_client`` logger writes each request URL and query (no credentials) at INFO.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from scimbridge import __version__
from scimbridge.config.settings import TwilioSettings
from scimbridge.flex.twilio.errors import (
    FlexApiError,
    TwilioNotFound,
    error_from_exception,
    error_from_response,
)
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy

USER_AGENT_EXTENSION = f"scimbridge/{__version__}"

log = logging.getLogger(__name__)
T = TypeVar("T")
RequestObserver = Callable[[str, int], None]


def real_http_client(timeout: float = 10.0) -> TwilioHttpClient:
    """The transport that talks to Twilio: ``requests``, ``timeout`` seconds per request, and no
    retries of its own (:class:`TwilioCalls` decides those)."""
    return TwilioHttpClient(timeout=timeout, max_retries=None)


class _ResponseTap(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The transport, wrapped to remember per thread the last HTTP response: ``twilio``
    exceptions carry no headers, and ``Retry-After`` is needed from them."""

    def __init__(self, inner: HttpClient) -> None:
        super().__init__(inner.logger, False, inner.timeout)
        self.inner = inner
        self._local = threading.local()
        if isinstance(inner, TwilioHttpClient):
            # requests' response hook sees status and headers even when the body then breaks off.
            hooks = cast(dict[str, list[Callable[..., Any]]], inner.request_hooks)
            hooks.setdefault("response", []).append(self._record)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response = self.inner.request(
            method, uri, params=params, data=data, headers=headers, auth=auth, timeout=timeout,
            allow_redirects=allow_redirects,
        )  # fmt: skip
        self._record(response)
        return response

    def _record(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._local.response = response

    def reset(self) -> None:
        self._local.response = None

    def last(self) -> Response | None:
        raw = getattr(self._local, "response", None)
        if raw is None:
            return None
        try:
            text = raw.text
        except Exception:
            # The body broke off mid-read; status and headers still say what happened.
            text = ""
        return Response(int(raw.status_code), text, raw.headers)


def build_client(settings: TwilioSettings, http_client: HttpClient) -> Client:
    """A ``twilio`` client over ``http_client`` whose every request goes to ``settings.base_url``
    when that is set."""
    client = Client(
        settings.username,
        settings.password,
        account_sid=settings.account_sid,
        http_client=http_client,
        user_agent_extensions=[USER_AGENT_EXTENSION],
    )
    # Pin what ClientBase would otherwise fill from TWILIO_* environment variables.
    client.region = None
    client.edge = None
    client.username, client.password = settings.username, settings.password
    client.auth = (settings.username, settings.password)
    if settings.base_url:
        client.taskrouter.base_url = settings.base_url.rstrip("/")
        client.flex_api.base_url = settings.base_url.rstrip("/")
    return client


class TwilioCalls:
    """The one path every Twilio request takes: a rate-limit permit, one attempt, a typed error,
    a report to ``on_request(endpoint, status)`` (status 0: no response), and the retry policy.

    One instance serves every Twilio caller of a process (TaskRouter and the Flex Users API);
    safe to share between threads. ``http_client`` is the transport (default
    :func:`real_http_client`); it should be this instance's own, since its responses are tapped.
    """

    def __init__(
        self,
        settings: TwilioSettings,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        http_client: HttpClient | None = None,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.retry = retry
        self._tap = _ResponseTap(http_client or real_http_client())
        self.client = build_client(settings, self._tap)
        self._on_request = on_request
        basic = base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
        self.secrets: tuple[str, ...] = (*settings.secrets(), basic)

    def attempt(
        self,
        endpoint: str,
        operation: Callable[[], T],
        *,
        not_found: type[TwilioNotFound] = TwilioNotFound,
    ) -> T:
        """Run ``operation`` once (after a permit); raise :class:`FlexApiError` if it fails."""
        self.limiter.acquire()
        self._tap.reset()
        try:
            result = operation()
        except Exception as exc:
            response = self._tap.last()
            self._report(endpoint, response)
            error = error_from_exception(
                endpoint, exc, response, secrets=self.secrets, now=self.retry.now,
                not_found=not_found,
            )  # fmt: skip
            if error is None:
                raise
            raise error from None
        response = self._tap.last()
        self._report(endpoint, response)
        if isinstance(result, Response) and not 200 <= result.status_code < 300:
            raise error_from_response(
                endpoint, result, secrets=self.secrets, now=self.retry.now, not_found=not_found
            )
        return result

    def run(
        self,
        endpoint: str,
        operation: Callable[[], T],
        *,
        not_found: type[TwilioNotFound] = TwilioNotFound,
    ) -> T:
        """:meth:`attempt` repeated as the retry policy allows. Use only for idempotent requests."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.attempt(endpoint, operation, not_found=not_found)
            except FlexApiError as error:
                self.pause_or_raise(error, attempt)

    def pause_or_raise(self, error: FlexApiError, attempt: int) -> None:
        """Sleep before the next attempt, or re-raise ``error`` when the policy says stop."""
        delay = self.retry.next_delay(error, attempt)
        if delay is None:
            raise error
        log.info("%s; retry %d in %.2fs", error.message, attempt, delay)
        self.retry.sleep(delay)

    def send(
        self,
        endpoint: str,
        method: str,
        url: str,
        *,
        params: dict[str, object] | None = None,
        body: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        not_found: type[TwilioNotFound] = TwilioNotFound,
    ) -> Response:
        """A raw request through ``client.request`` with retries; non-2xx raises a typed error."""

        def request() -> Response:
            response: Response = self.client.request(
                method, url, params=params, data=body, headers=dict(headers or {})
            )
            return response

        return self.run(endpoint, request, not_found=not_found)

    def _report(self, endpoint: str, response: Response | None) -> None:
        if self._on_request is not None:
            self._on_request(endpoint, response.status_code if response is not None else 0)


@dataclass(frozen=True)
class FlexConfiguration:
    """What Flex Configuration says about the account's Flex instance."""

    workspace_sid: str | None
    offline_activity_sid: str | None
    flex_instance_sid: str | None


def fetch_flex_configuration(calls: TwilioCalls) -> FlexConfiguration:
    """``GET /v1/Configuration`` on the Flex API."""
    config = calls.run(
        "configuration.fetch", lambda: calls.client.flex_api.v1.configuration().fetch()
    )
    return FlexConfiguration(
        workspace_sid=config.taskrouter_workspace_sid,
        offline_activity_sid=config.taskrouter_offline_activity_sid,
        flex_instance_sid=config.flex_instance_sid,
    )
