"""The HTTP server ``serve`` runs: uvicorn with every request bounded, and whose proxy to trust.

Does: build the uvicorn configuration (``server_config``) with httptools' HTTP/1.1 parser and
bounds on what one client can hold: request headers at most ``max_header_bytes`` (431 above),
read within ``header_timeout`` seconds of their first byte (or of the connection opening), a
body read within ``body_timeout`` seconds of the headers, ``limit_concurrency`` connections
served at once (uvicorn answers 503 above it) and at most twice that open (the rest are closed
on accept, so stalled clients cannot exhaust file descriptors), idle keep-alive connections
closed after ``keep_alive_timeout``; read ``X-Forwarded-For`` only from the peers named in
``forwarded_allow_ips`` (default: loopback only); and listen on a second port for ``/metrics``
when asked (``run_server``), so a network policy can tell the two apart.
Does not: bound the body's size (``scim.http`` does, per request), terminate TLS, or limit
clients per address (the TLS proxy in front does; ``scim.throttle`` limits failed
authentication).

Why a protocol subclass: uvicorn's httptools protocol has no header size limit and neither of
its protocols has a header or body read timeout (its keep-alive timeout stops at a request's
first byte), so a client sending one header byte a minute held a connection indefinitely.
uvicorn's h11 protocol does bound header size (``h11_max_incomplete_event_size``), but it parses
in Python and costs 3-4x httptools' CPU per request (``bench/http_overhead.py``); the subclass
keeps httptools' C parser and adds the bounds with a byte count and one timer per connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scimbridge.config.settings import LOOPBACK_PROXIES


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold. The defaults fit Entra (small requests, a few connections)."""

    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    limit_concurrency: int = 256
    keep_alive_timeout: int = 5


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _response(status: bytes, text: str) -> bytes:
    body = text.encode("ascii")
    head = (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode("ascii") + b"\r\n\r\n"
    )
    return head + body


HEADERS_TOO_LARGE = _response(b"431 Request Header Fields Too Large", "request headers too large")
TIMED_OUT = _response(b"408 Request Timeout", "the request was not received in time")
BUSY = _response(b"503 Service Unavailable", "too many connections")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and header and body read deadlines.

    ``limits`` is set on a subclass by :func:`bounded_protocol`. Headers are counted as the
    bytes received while they are incomplete, so a connection holds at most the limit plus one
    read (256 KiB) before it is refused.
    """

    limits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True
        self._header_bytes = 0
        # One timer per connection, re-armed only when it fires early: a deadline is a float
        # written per request, not a timer scheduled and cancelled (which cost a third of
        # the protocol's time per request, bench/http_overhead.py).
        self._phase: Callable[[], None] | None = None
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > 2 * self.limits.limit_concurrency:
            transport.write(BUSY)
            transport.close()
            return
        self._arm(self.limits.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._phase is None:
                self._arm(self.limits.header_timeout, self._headers_late)
        super().data_received(data)
        if (
            self._reading_headers
            and self._header_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(HEADERS_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_bytes = 0
        self._arm(self.limits.body_timeout, self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_headers = True
        self._phase = None
        super().on_message_complete()

    def _arm(self, seconds: float, phase: Callable[[], None]) -> None:
        self._phase = phase
        self._due = self.loop.time() + seconds
        if self._timer is not None and self._timer.when() <= self._due:
            return  # it fires first and re-arms for the rest
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        phase = self._phase
        if phase is None or self.transport.is_closing():
            return
        if self.loop.time() < self._due:
            self._timer = self.loop.call_at(self._due, self._fire)
            return
        self._phase = None
        phase()

    def _headers_late(self) -> None:
        if not self._reading_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being produced; the next request's headers can wait for it.
            self._arm(self.limits.header_timeout, self._headers_late)
            return
        self._refuse(TIMED_OUT)

    def _body_late(self) -> None:
        if self._reading_headers:
            return
        if self.flow.read_paused:
            # The application has not taken what was read yet: not the client's delay.
            self._arm(self.limits.body_timeout, self._body_late)
            return
        self._refuse(TIMED_OUT)

    def _refuse(self, response: bytes) -> None:
        self.logger.warning("closing a connection: %s", response.split(b"\r\n", 1)[0].decode())
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(response)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's answer, if any, is dropped
            cycle.message_event.set()
        self.transport.close()


def bounded_protocol(limits: ServerLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with ``limits`` (uvicorn builds one protocol per connection)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    forwarded_allow_ips: str | None = LOOPBACK_PROXIES,
    limits: ServerLimits = ServerLimits(),
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with ``limits``; ``X-Forwarded-*`` is read only from
    ``forwarded_allow_ips`` (comma-separated addresses or networks; ``None`` reads it from no
    one)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=bounded_protocol(limits),
        limit_concurrency=limits.limit_concurrency,
        timeout_keep_alive=limits.keep_alive_timeout,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=None,
        access_log=False,
        **options,
    )


def run_server(config: uvicorn.Config, metrics_port: int | None = None) -> None:
    """Serve ``config`` until a signal stops it; also on ``metrics_port`` (same host) if set."""
    server = uvicorn.Server(config)
    if metrics_port is None:
        server.run()
        return
    metrics = uvicorn.Config(config.app, host=config.host, port=metrics_port, log_config=None)
    server.run(sockets=[config.bind_socket(), metrics.bind_socket()])
