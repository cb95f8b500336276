"""The fake Flex server's Starlette app and the middleware every API request passes through.

Does: build one app that answers both hosts' paths (TaskRouter ``/v1/Workspaces/...``, Flex
``/v1/Configuration``, ``/v2/Instances/...``, ``/v4/Instances/...``) plus the ``/__fake__`` control
routes and the page for people at ``/`` (``routes.pages``); for API requests, in order: record
the request, check HTTP Basic credentials (401/20003), apply the concurrency cap and per-second
rate limit, wait the configured latency, carry out an injected fault (before or after the write
is committed), and add ``X-Rate-Limit-*`` and ``Twilio-Concurrent-Requests`` headers. Every
error body is Twilio's ``{"code","message","more_info","status"}``.

Does not: hold state (``FakeFlexState``) or run a server (``fakeflex``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.connection_drops import ConnectionRegistry
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.recording import basic_auth, make_record
from scimbridge.testing.fakeflex.records import FakeApiError
from scimbridge.testing.fakeflex.render import error_body
from scimbridge.testing.fakeflex.routes.control import control_routes
from scimbridge.testing.fakeflex.routes.flexapi import flexapi_routes
from scimbridge.testing.fakeflex.routes.pages import page_routes
from scimbridge.testing.fakeflex.routes.taskrouter import taskrouter_routes

CONTROL_PREFIX = "/__fake__"
WORKER_IN_PATH = re.compile(r"/Workers/(WK[0-9a-fA-F]{32})")
PAGE_PATH = "/"
PRE_COMMIT = {
    FaultKind.RATE_LIMIT: (429, 20429, "Too many requests"),
    FaultKind.UNAVAILABLE: (503, 20503, "Service unavailable"),
    FaultKind.SERVER_ERROR: (500, 20500, "Internal server error"),
    FaultKind.PRECONDITION_FAILED: (412, 20001, "If-Match does not match the current version"),
}
AFTER_COMMIT = {FaultKind.SERVER_ERROR_AFTER_COMMIT, FaultKind.DROP_CONNECTION_AFTER_COMMIT}


def error_response(error: FakeApiError) -> JSONResponse:
    return JSONResponse(error_body(error), error.status, headers=error.headers)


def route_name(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The name of the route this request reaches (``unknown`` if none)."""
    partial = "unknown"
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL and isinstance(route, Route):
            return route.name
        if match is Match.PARTIAL and isinstance(route, Route) and partial == "unknown":
            partial = route.name
    return partial


def rate_config(route: str, scope: Scope) -> str:
    """The ``X-Rate-Limit-Config`` resource key, e.g. ``Worker-Update``."""
    noun, _, verb = route.partition(".")
    key = f"{noun.rstrip('s').title()}-{verb.title()}"
    if b"TargetWorkersExpression" in scope.get("query_string", b""):
        key += "-TargetWorkersExpression"
    return key


class FakeFlexMiddleware:
    """Auth, recording, latency, faults and rate headers around the API routes."""

    def __init__(
        self,
        app: ASGIApp,
        state: FakeFlexState,
        routes: Sequence[BaseRoute],
        connections: ConnectionRegistry,
    ) -> None:
        self.app = app
        self.state = state
        self.routes = routes
        self.connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _unguarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        self.state.faults.begin_request()
        try:
            await self._api_call(scope, receive, send)
        finally:
            self.state.faults.end_request()

    async def _api_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        send = _canonical_names(send)
        route, method = route_name(self.routes, scope), scope["method"]
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        state.requests.append(
            make_record(route, method, scope["path"], scope["query_string"], headers, body)
        )
        extra, exhausted = self._rate_headers(route, scope)
        try:
            self._gate(headers, exhausted)
        except FakeApiError as error:
            error.headers.update(extra)
            await error_response(error)(scope, receive, send)
            return
        state.faults.run_hooks(route, method)
        fault = state.faults.take(route, method)
        delay = state.faults.latency_for(route)
        if fault is not None and fault.kind is FaultKind.DELAY:
            delay += fault.delay
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.kind is FaultKind.RESERVE:
            reserved = WORKER_IN_PATH.search(scope["path"])
            if reserved is not None:
                with contextlib.suppress(FakeApiError):  # no such worker: nothing to reserve
                    state.offer_reservation(reserved.group(1), fault.delay or None)
        if fault is not None and fault.kind is FaultKind.DROP_CONNECTION:
            await self.connections.drop(scope, receive)
            return
        if fault is not None and fault.kind in PRE_COMMIT:
            await error_response(_fault_error(fault, extra))(scope, receive, send)
            return
        replay = _replay(body, receive)
        if fault is not None and fault.kind in AFTER_COMMIT:
            await self.app(scope, replay, _discard)
            if fault.kind is FaultKind.DROP_CONNECTION_AFTER_COMMIT:
                await self.connections.drop(scope, receive)
            else:
                await error_response(_fault_error(fault, extra))(scope, receive, send)
            return
        await self.app(scope, replay, _with_headers(send, extra))

    def _gate(self, headers: dict[str, str], exhausted: bool) -> None:
        credentials = basic_auth(headers.get("authorization"))
        if credentials is None or not self.state.authenticate(*credentials):
            raise FakeApiError(401, 20003, "Authenticate")
        cap = self.state.options.max_concurrent_requests
        if cap is not None and self.state.faults.in_flight > cap:
            raise FakeApiError(429, 20429, "Too many concurrent requests")
        if self.state.options.enforce_rate_limit and exhausted:
            raise FakeApiError(429, 20429, "Too many requests")

    def _rate_headers(self, route: str, scope: Scope) -> tuple[dict[str, str], bool]:
        """Headers for every response, and whether this second's rate budget is exhausted."""
        extra = {"Twilio-Concurrent-Requests": str(self.state.faults.in_flight)}
        if not scope["path"].startswith("/v1/Workspaces"):
            return extra, False
        config = rate_config(route, scope)
        limit = self.state.options.rate_limit_per_second
        remaining = self.state.faults.count_rate(config, limit)
        extra.update(
            {
                "X-Rate-Limit-Limit": str(limit),
                "X-Rate-Limit-Remaining": str(max(remaining, 0)),
                "X-Rate-Limit-Config": config,
            }
        )
        return extra, remaining < 0


def _unguarded(path: str) -> bool:
    """The control routes and the page for people: no credentials, never recorded or faulted."""
    return path == PAGE_PATH or path.startswith(CONTROL_PREFIX)


def _fault_error(fault: Fault, extra: dict[str, str]) -> FakeApiError:
    status, code, message = PRE_COMMIT.get(fault.kind, (500, 20500, "Internal server error"))
    headers = dict(extra)
    if fault.retry_after is not None and status in (429, 503):
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    if status == 429:
        headers["Twilio-Concurrent-Requests"] = str(fault.concurrent_requests or 101)
    return FakeApiError(status, fault.code or code, message, headers)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _discard(message: Message) -> None:
    """A send that swallows the committed response of an after-commit fault."""


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            added = [(k.encode(), v.encode()) for k, v in extra.items()]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return send_with_headers


def _canonical_name(name: bytes) -> bytes:
    lowered = name.lower()
    if lowered == b"etag":
        return b"ETag"
    return b"-".join(part.capitalize() for part in lowered.split(b"-"))


def _canonical_names(send: Send) -> Send:
    """Send header names as Twilio does (``ETag``, ``X-Rate-Limit-Limit``), not lower-cased:
    the ``twilio`` library copies headers into a plain, case-sensitive dict."""

    async def send_canonical(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(_canonical_name(k), v) for k, v in message.get("headers", [])]
            message = {**message, "headers": headers}
        await send(message)

    return send_canonical


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FakeApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            FakeApiError(404, 20404, f"The requested resource {request.url.path} was not found")
        )
    if exc.status_code == 405:
        return error_response(FakeApiError(405, 20004, "Method not allowed"))
    return error_response(FakeApiError(exc.status_code, exc.status_code, str(exc.detail)))


def create_fake_flex_app(
    state: FakeFlexState, connections: ConnectionRegistry | None = None
) -> Starlette:
    """The fake's ASGI app for ``state``. Pass the registry whose protocol class the server uses,
    or connection-drop faults raise ``RuntimeError``."""
    api_routes: list[BaseRoute] = [*taskrouter_routes(state), *flexapi_routes(state)]
    routes: list[BaseRoute] = [
        *api_routes,
        *page_routes(state),
        Mount(CONTROL_PREFIX, routes=control_routes(state)),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                FakeFlexMiddleware,
                state=state,
                routes=api_routes,
                connections=connections or ConnectionRegistry(),
            )
        ],
        exception_handlers={FakeApiError: _api_error, HTTPException: _http_error},
    )
