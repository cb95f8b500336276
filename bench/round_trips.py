"""Round trips to PostgreSQL per SCIM request, counted on the wire.

Does: run a TCP proxy on 127.0.0.1 in front of the PostgreSQL server (in a thread of its own) that
counts, on every connection, each time the client starts sending after the server last answered:
one *flight* is one round trip the client waits for, however many statements it carries
(a pipeline of five statements is one; BEGIN, each statement and COMMIT sent one at a time are
one each). A ``serve`` process whose database URL points at the proxy is then driven one request
at a time; the flights while idle for as long (the sync worker's polls, pool pings) are
subtracted. Also counts transactions (``pg_stat_database.xact_commit + xact_rollback`` of the
database) per request.
Does not: look inside the protocol (no statement text, no parameters), or change any server
setting: nothing needs ``pg_stat_statements`` or ``log_statement``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import make_url


@dataclass
class Counter:
    flights: int = 0
    bytes_up: int = 0
    connections: int = 0


class CountingProxy:
    """``127.0.0.1:<port>`` → ``host:port``, counting client flights (see the module)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.counter = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counter.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        state = {"client_turn": False}  # False: the server spoke last (or nobody yet)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if up:
                        if not state["client_turn"]:
                            self.counter.flights += 1
                            state["client_turn"] = True
                        self.counter.bytes_up += len(data)
                    else:
                        state["client_turn"] = False
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def snapshot(self) -> int:
        return self.counter.flights


def through(database_url: str, proxy: CountingProxy) -> str:
    """The same database URL, by way of the proxy."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def transactions(database_url: str) -> int:
    """Transactions committed or rolled back in the URL's database so far (as the stats show)."""
    from sqlalchemy import create_engine, text

    url = make_url(database_url)
    engine = create_engine(url.set(database="postgres"))
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"),
                {"d": url.database},
            ).scalar_one()
        return int(value)
    finally:
        engine.dispose()


@contextlib.contextmanager
def idle_rate(proxy: CountingProxy, seconds: float) -> Iterator[list[float]]:
    """Yield once the flights per second while idle for ``seconds`` are measured."""
    before = proxy.snapshot()
    time.sleep(seconds)
    yield [(proxy.snapshot() - before) / seconds]
