"""One log line (and metric observation) per HTTP request, with a request id.

Does: take ``X-Request-Id`` from the caller or make one, echo it in the response, time the
request, and log method, path (never the query string: filters carry personal data), status,
duration and caller.
Does not: authenticate or alter responses otherwise.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from scimbridge.ops.logging import request_id

log = logging.getLogger("scimbridge.access")
Observer = Callable[[str, str, int, float], None]


class AccessLogMiddleware:
    def __init__(self, app: Any, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming[:64] if incoming and incoming.isprintable() else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope.get("path", "")
            if self.observe is not None:
                self.observe(scope["method"], path, status, elapsed)
            if not path.startswith(("/healthz", "/readyz", "/metrics")):
                state = scope.get("state") or {}
                log.info(
                    "%s %s %d %.1fms %s",
                    scope["method"],
                    path,
                    status,
                    elapsed * 1000,
                    state.get("principal", "-"),
                    extra={
                        "event": "request",
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
            request_id.reset(token)
