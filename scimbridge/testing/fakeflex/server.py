"""Run the fake Twilio TaskRouter + Flex server: in a background thread for tests, or blocking.

Does: start uvicorn on a loopback port (port 0 picks a free one) with the fake's app and the
connection-dropping protocol, expose the address, credentials and in-process control
(``FakeFlexServer.state``), build a real ``twilio.rest.Client`` pointed at it, and serve it in the
foreground for ``scimbridge fake-flex``, printing the ``export`` lines a client needs.

Does not: implement the API (``app`` and its siblings) or reach the internet.
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.app import create_fake_flex_app
from scimbridge.testing.fakeflex.connection_drops import ConnectionRegistry
from scimbridge.testing.fakeflex.faults import Fault, FaultKind, FaultPlan
from scimbridge.testing.fakeflex.options import FakeFlexOptions
from scimbridge.testing.fakeflex.routes.pages import client_environment

if TYPE_CHECKING:
    from twilio.http import HttpClient
    from twilio.rest import Client

__all__ = [
    "FakeFlexOptions",
    "FakeFlexServer",
    "FakeFlexState",
    "Fault",
    "FaultKind",
    "client_environment",
    "export_lines",
    "serve_fake_flex",
]


def _uvicorn_config(
    state: FakeFlexState,
    connections: ConnectionRegistry,
    host: str,
    port: int,
    log_level: str | None,
) -> uvicorn.Config:
    # ``log_level=None``: leave logging alone (an application serving in the same process owns
    # uvicorn's loggers; its own handlers print the fake's lines too).
    quiet = {"log_config": None} if log_level is None else {}
    return uvicorn.Config(
        create_fake_flex_app(state, connections),
        host=host,
        port=port,
        http=connections.protocol_class(),
        lifespan="off",
        log_level=log_level,
        **quiet,  # type: ignore[arg-type]
        access_log=False,
        proxy_headers=False,  # the peer address is how a connection drop finds its socket
    )


class FakeFlexServer:
    """The fake served on ``http://127.0.0.1:<port>`` from a daemon thread.

    Use as a context manager (``with FakeFlexServer() as fake:``) or call :meth:`start` and
    :meth:`stop`. Credentials are random per instance unless given.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str | None = None,
        auth_token: str | None = None,
        options: FakeFlexOptions | None = None,
        state: FakeFlexState | None = None,
        log_level: str | None = "warning",
    ) -> None:
        self.state = state or FakeFlexState(account_sid, auth_token, options=options)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def page_url(self) -> str:
        """The page for people that lists the workers (valid once started)."""
        return f"{self.url}/"

    def environment(self) -> dict[str, str]:
        """The variables a client of this fake sets (valid once started)."""
        return client_environment(self.state, self.url)

    @property
    def account_sid(self) -> str:
        return self.state.account_sid

    @property
    def auth_token(self) -> str:
        return self.state.auth_token

    @property
    def workspace_sid(self) -> str:
        if self.state.workspace_sid is None:
            raise RuntimeError("the fake has no workspace")
        return self.state.workspace_sid

    @property
    def flex_instance_sid(self) -> str:
        return self.state.flex_instance_sid

    @property
    def offline_activity_sid(self) -> str:
        return self.state.activity_sid("Offline")

    @property
    def faults(self) -> FaultPlan:
        return self.state.faults

    def start(self, timeout: float = 10.0) -> FakeFlexServer:
        """Bind, start serving in a daemon thread and wait until it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket, self.port = sock, sock.getsockname()[1]
        connections = ConnectionRegistry()
        config = _uvicorn_config(self.state, connections, self.host, self.port, self._log_level)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fakeflex", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Flex server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, join the thread and close the socket (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeFlexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def client(self, *, http_client: HttpClient | None = None) -> Client:
        """A real ``twilio.rest.Client`` whose TaskRouter and Flex API domains point at the fake.

        Pass ``http_client=AsyncTwilioHttpClient()`` (made inside a running loop) for async calls.
        """
        from twilio.rest import Client

        client = Client(
            self.account_sid,
            self.auth_token,
            http_client=http_client,
            # a non-empty environment keeps TWILIO_REGION/TWILIO_EDGE from rewriting the host
            environment={"TWILIO_ACCOUNT_SID": self.account_sid},
        )
        client.taskrouter.base_url = self.url
        client.flex_api.base_url = self.url
        return client


def export_lines(environment: Mapping[str, str]) -> str:
    """``export NAME=value`` lines a shell can ``eval`` (values quoted for POSIX shells)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in environment.items())


def serve_fake_flex(
    host: str,
    port: int,
    *,
    account_sid: str | None,
    auth_token: str | None,
    seed_workspace: bool = True,
) -> None:
    """Serve the fake in the foreground until interrupted; prints, once, the ``export`` lines a
    client needs and the address of the page that shows the workers.

    The printed token is the fake's own (random unless given), never a real Twilio secret.
    """
    state = FakeFlexState(account_sid, auth_token, seed_workspace=seed_workspace)
    connections = ConnectionRegistry()
    server = uvicorn.Server(_uvicorn_config(state, connections, host, port, "info"))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    print(f"# fake Flex server on {url}; its workers are shown at {url}/", flush=True)
    print("# paste these lines into the shell that runs scimbridge:", flush=True)
    print(export_lines(client_environment(state, url)), end="", flush=True)
    server.run()
