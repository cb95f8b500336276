"""One log line (and metric observation) per HTTP request, with a request id.

Does: take ``X-Request-Id`` from the caller or make one, echo it in the response, time the
request, and log method, path (never the query string: filters carry personal data), status,
duration and caller.
Does not: authenticate or alter responses otherwise.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from scimbridge.ops.logging import request_id

log = logging.getLogger("scimbridge.access")
Observer = Callable[[str, str, int, float], None]
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")
# A made-up request id: this process's random prefix and a count, 16 hex digits like a
# truncated UUID, without reading the system's random source on every request.
_PROCESS_PREFIX = os.urandom(4).hex()
_COUNT = itertools.count(1)


def _new_request_id() -> str:
    return f"{_PROCESS_PREFIX}{next(_COUNT) & 0xFFFFFFFF:08x}"


def _incoming_id(headers: Any) -> str:
    """The caller's ``X-Request-Id`` (the last one sent), if it is printable; else ""."""
    raw = b""
    for name, value in headers or ():
        if name == b"x-request-id":
            raw = value
    incoming = raw.decode("latin-1")
    return incoming[:64] if incoming and incoming.isprintable() else ""


class AccessLogMiddleware:
    def __init__(self, app: Any, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope.get("headers")) or _new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope.get("path", "")
            if self.observe is not None:
                self.observe(scope["method"], path, status, elapsed)
            if not path.startswith(_QUIET_PATHS) and log.isEnabledFor(logging.INFO):
                self._log(scope, path, status, elapsed)
            request_id.reset(token)

    @staticmethod
    def _log(scope: Any, path: str, status: int, elapsed: float) -> None:
        # The record is made directly: ``log.info`` would also look up its caller's file and
        # line in the stack, which no format prints.
        state = scope.get("state") or {}
        method = scope["method"]
        duration_ms = elapsed * 1000
        record = log.makeRecord(
            log.name,
            logging.INFO,
            "",
            0,
            f"{method} {path} {status} {duration_ms:.1f}ms {state.get('principal', '-')}",
            (),
            None,
            extra={
                "event": "request",
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(duration_ms, 1),
            },
        )
        log.handle(record)
