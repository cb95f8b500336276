"""Real connection drops for the fake Flex server under uvicorn.

Does: provide a uvicorn HTTP protocol (h11) that registers each connection's transport by peer
address, so the app can abort the TCP connection of the request it is serving: the client then sees
the socket close with no response at all, not a 500. (Raising inside an ASGI app before
``http.response.start`` makes uvicorn send a 500, and raising after it sends a partial response.)

Does not: work under servers that do not use :meth:`ConnectionRegistry.protocol_class`; there
:meth:`ConnectionRegistry.drop` raises ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from starlette.types import Receive, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

Peer = tuple[str, int]


class ConnectionRegistry:
    """Open transports by peer ``(host, port)``, filled in by the protocol class it makes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[Peer, asyncio.Transport] = {}

    def protocol_class(self) -> type[H11Protocol]:
        """An ``H11Protocol`` subclass that registers its transport here (uvicorn ``http=``)."""
        registry = self

        class DroppableH11Protocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                if self.client is not None:
                    registry._add(self.client, transport)

            def connection_lost(self, exc: Exception | None) -> None:
                if self.client is not None:
                    registry._discard(self.client)
                super().connection_lost(exc)

        return DroppableH11Protocol

    async def drop(self, scope: Scope, receive: Receive) -> None:
        """Abort the connection carrying this request and wait until the server notices.

        After it returns the app must send nothing: uvicorn then sends no response either.
        """
        client: Any = scope.get("client")
        with self._lock:
            transport = self._transports.get(tuple(client)) if client else None
        if transport is None:
            raise RuntimeError("dropping a connection needs the FakeFlexServer protocol class")
        transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while (await receive())["type"] != "http.disconnect":
                    pass

    def _add(self, peer: Peer, transport: asyncio.Transport) -> None:
        with self._lock:
            self._transports[peer] = transport

    def _discard(self, peer: Peer) -> None:
        with self._lock:
            self._transports.pop(peer, None)
