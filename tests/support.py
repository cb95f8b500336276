"""Test plumbing: run an ASGI app on 127.0.0.1 in a thread, with ``serve``'s server and its
bounds (``scimbridge.server``), and stop it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from scimbridge.server import ServerLimits, server_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any, port: int | None = None, limits: ServerLimits | None = None) -> Iterator[str]:
    """Serve ``app`` (lifespan included) until the block ends; yield its base URL."""
    port = port or free_port()
    config = server_config(app, "127.0.0.1", port, limits=limits or ServerLimits())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
