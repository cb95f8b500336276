"""CPU per request of the HTTP/1.1 protocol alone: uvicorn's httptools and h11 protocols, and the
bounded one ``serve`` runs (``scimbridge.server``).

Does: drive each protocol in-process over a transport that discards what is written, with an
ASGI application that answers at once, for a typical Entra request (a ``userName`` filter GET
with a bearer token, and a PATCH with a small body) on one kept-alive connection; report CPU
microseconds per request (best of several rounds), so the cost of the bounds can be told apart
from the noise of a shared machine, which the load benchmark (``scim_load.py``) cannot.
Does not: open sockets, or measure the application or the database.

    python bench/http_overhead.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from scimbridge.server import ServerLimits, bounded_protocol

GET = (
    b"GET /scim/v2/Users?filter=userName+eq+%22ann%40contoso.com%22 HTTP/1.1\r\nHost: scim\r\n"
    b"Authorization: Bearer sb_0123456789abcdefghijklmnopqrstuvwxyz0123456\r\n"
    b"User-Agent: Microsoft.Identity.Provisioning\r\nAccept: application/scim+json\r\n\r\n"
)
BODY = (
    b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace",'
    b'"path":"displayName","value":"Ann Lee"}]}'
)
PATCH = (
    b"PATCH /scim/v2/Users/0b3c7d2e-5f1a-4c7b-9d2e-1f3a5b7c9d0e HTTP/1.1\r\nHost: scim\r\n"
    b"Authorization: Bearer sb_0123456789abcdefghijklmnopqrstuvwxyz0123456\r\n"
    b"Content-Type: application/scim+json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


async def answer(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


class NullTransport(asyncio.Transport):
    """A connected transport that discards output."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def per_request(protocol: type[asyncio.Protocol], request: bytes, count: int) -> float:
    """CPU microseconds per request of ``count`` requests on one connection."""
    config = Config(app=answer, http=protocol, lifespan="off", log_config=None, access_log=False)
    config.load()
    connection: Any = protocol(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    connection.connection_made(NullTransport())
    for _ in range(200):  # warm up
        connection.data_received(request)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    began = time.process_time()
    for _ in range(count):
        connection.data_received(request)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    spent = time.process_time() - began
    connection.connection_lost(None)
    return spent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    protocols = {
        "httptools (uvicorn)": HttpToolsProtocol,
        "httptools, bounded (serve)": bounded_protocol(ServerLimits()),
        "h11 (uvicorn)": H11Protocol,
    }
    print("| protocol | GET µs/request | PATCH µs/request |")
    print("|---|---:|---:|")
    for name, protocol in protocols.items():
        cells = []
        for request in (GET, PATCH):
            best = min(
                asyncio.run(per_request(protocol, request, options.requests))
                for _ in range(options.rounds)
            )
            cells.append(f"{best:.1f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
