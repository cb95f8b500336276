"""``create_app(runtime)``: the ASGI application over a built :class:`~scimbridge.runtime.Runtime`.

Does: route the SCIM API, the OAuth token endpoint (when ``[auth]`` turns it on), health and
metrics endpoints (``/metrics`` behind its token, which is required beyond loopback), the OpenAPI
description (``/openapi.json``, no auth), the access log, SCIM-shaped 404/405/500 answers, and the
lifespan that starts and stops the runtime's background services (the sync worker).
Does not: build anything the application uses (``runtime.build_runtime`` does), or hold global
state; each call makes a fresh application.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router

from scimbridge.ops.access import AccessLogMiddleware
from scimbridge.runtime import Runtime
from scimbridge.scim.auth import bearer_token
from scimbridge.scim.errors import database_unavailable, error_response
from scimbridge.scim.openapi import PATH as OPENAPI_PATH
from scimbridge.scim.openapi import openapi_endpoint
from scimbridge.scim.token_endpoint import PATH as TOKEN_PATH
from scimbridge.store.errors import DATABASE_UNREACHABLE

log = logging.getLogger("scimbridge")


def create_app(
    runtime: Runtime, *, public_bind: bool = False, metrics_port: int | None = None
) -> Starlette:
    """The application. ``public_bind`` (served on an address beyond loopback) makes ``/metrics``
    refuse everyone until ``SCIMBRIDGE_METRICS_TOKEN`` is set, unless
    ``SCIMBRIDGE_METRICS_PUBLIC=true`` opts out. With ``metrics_port``, ``/metrics`` is answered
    on that port only, and nothing else is."""
    settings = runtime.settings
    auth_routes = (
        [Route(TOKEN_PATH, runtime.token_endpoint.handle, methods=["POST"])]
        if runtime.token_endpoint is not None
        else []
    )

    async def not_found(scope: Any, receive: Any, send: Any) -> None:
        response = error_response(404, "no such SCIM endpoint")
        await response(scope, receive, send)

    scim_router = Router(
        routes=runtime.scim_api.routes(), redirect_slashes=False, default=not_found
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await run_in_threadpool(runtime.readiness)
        # `?scope=scim` decides on what SCIM needs (database, schema) and still reports the rest:
        # a Kubernetes readiness probe must not take SCIM offline because Twilio is down.
        ok = report.scim_ok if request.query_params.get("scope") == "scim" else report.ok
        return JSONResponse(report.as_json(), status_code=200 if ok else 503)

    metrics_locked = public_bind and settings.metrics_token is None and not settings.metrics_public
    if metrics_locked:
        log.warning(
            "/metrics is refused: serve listens beyond loopback and SCIMBRIDGE_METRICS_TOKEN is "
            "unset (set it, or SCIMBRIDGE_METRICS_PUBLIC=true to serve metrics to anyone)"
        )

    async def metrics(request: Request) -> Response:
        if metrics_locked:
            return Response(
                "metrics need SCIMBRIDGE_METRICS_TOKEN when served beyond loopback\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if settings.metrics_token is not None:
            presented = bearer_token(request.headers.get("authorization")) or ""
            if not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
                return Response(
                    "metrics need the metrics token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        body, content_type = await run_in_threadpool(runtime.metrics.render)
        return Response(body, media_type=content_type)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(405, f"{request.method} is not allowed on {request.url.path}")
        return error_response(exc.status_code, str(exc.detail))

    async def store_unavailable(request: Request, exc: Exception) -> Response:
        # Outside the directory (token lookup, pool exhausted): still "retry later", not a 500.
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return database_unavailable()

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error; the request was not applied")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for service in runtime.services:
            service.start()
        try:
            yield
        finally:
            for service in reversed(runtime.services):
                service.stop()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route(OPENAPI_PATH, openapi_endpoint(), methods=["GET"]),
            *auth_routes,
            Mount("/scim/v2", app=scim_router),
        ],
        exception_handlers={
            HTTPException: http_error,
            **dict.fromkeys(DATABASE_UNREACHABLE, store_unavailable),
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.runtime = runtime
    if metrics_port is not None:
        app.add_middleware(MetricsPortOnly, port=metrics_port)
    app.add_middleware(AccessLogMiddleware, observe=runtime.metrics.observe_request)
    return app


class MetricsPortOnly:
    """ASGI middleware: ``/metrics`` only on ``port`` (the local port), and only it there."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            server = scope.get("server") or ("", None)
            if (scope["path"] == "/metrics") != (server[1] == self.port):
                await Response("not found\n", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)
