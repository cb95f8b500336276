"""The fake Flex in process: a ``twilio`` transport that hands each request to the fake's app.

Does: give the real ``twilio`` client a transport (:class:`InProcessTransport`, a
``twilio.http.HttpClient``) that encodes each request as ``TwilioHttpClient`` does (form fields, or
JSON for a JSON ``Content-Type``; query parameters; HTTP Basic credentials) and runs it through the
fake's ASGI app (:func:`~scimbridge.testing.fakeflex.app.create_fake_flex_app`) with Starlette's
test client, so unit tests exercise the fake's every rule (auth, recording, rate headers, faults,
``If-Match``) without a server, a socket or a port. Requests may come from any thread.
Does not: open a socket, honour request timeouts, or drop connections (``DROP_CONNECTION`` faults
need the real server, :mod:`.server`, which owns the sockets).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, cast

from starlette.testclient import TestClient
from twilio.http import HttpClient
from twilio.http.response import Response

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.app import create_fake_flex_app
from scimbridge.testing.fakeflex.options import FakeFlexOptions

BASE_URL = "http://fakeflex.invalid"
JSON_TYPES = ("application/json", "application/scim+json")
log = logging.getLogger("twilio.http_client")


class InProcessTransport(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """A ``twilio.http.HttpClient`` answered by the fake's app for ``state``, in this process.

    Point the ``twilio`` client (or a settings ``base_url``) at :attr:`url`; any absolute URL is
    accepted, and its host is what the fake sees (``next_page_url`` and the like are built on it).
    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(
        self, state: FakeFlexState | None = None, *, options: FakeFlexOptions | None = None
    ) -> None:
        super().__init__(log, False, None)
        self.state = state or FakeFlexState(options=options)
        self.url = BASE_URL
        self._client = TestClient(create_fake_flex_app(self.state), base_url=BASE_URL)
        # Entered once: one event loop thread serves every request, from whichever thread.
        self._client.__enter__()

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
        """One request through the fake's app; the answer as ``twilio`` reads it."""
        sent = dict(headers or {})
        body: dict[str, Any] = {}
        if sent.get("Content-Type") in JSON_TYPES:
            body["json"] = data
        elif data:
            body["data"] = data
        if auth is not None:
            body["auth"] = auth
        answer = self._client.request(
            method.upper(),
            uri,
            params=cast(Any, params),  # twilio's values: str, or a list of str for repeated keys
            headers=sent,
            follow_redirects=allow_redirects,
            **body,
        )
        # Header names as the fake wrote them (httpx lowercases its mapping view).
        names = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in answer.headers.raw
        }
        return Response(answer.status_code, answer.text, names)

    def close(self) -> None:
        """Stop the event loop thread (idempotent)."""
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None  # type: ignore[assignment]

    def __enter__(self) -> InProcessTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
