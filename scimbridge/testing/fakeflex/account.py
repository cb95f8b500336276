"""One fake Twilio account: credentials, TaskRouter state, Flex users, faults and recording.

Does: tie the pieces of the fake together behind one re-entrant lock and give tests a single
in-process control object (``FakeFlexState``): credentials check (``AC…``:auth token or
``SK…``:secret), options, fault plan, request log, SSO login, reset.

Does not: serve HTTP (``app``) or run a server (``server``). Credentials are generated
at random per instance unless given; nothing here is a real secret.
"""

from __future__ import annotations

import copy
import hmac
import secrets
import threading
from collections.abc import Mapping

from scimbridge.testing.fakeflex.faults import FaultPlan
from scimbridge.testing.fakeflex.options import FakeFlexOptions
from scimbridge.testing.fakeflex.recording import RequestLog
from scimbridge.testing.fakeflex.records import Clock, WorkerRecord, new_sid
from scimbridge.testing.fakeflex.state import TaskRouterState
from scimbridge.testing.fakeflex.users import ClaimValue, FakeFlexUsers


class FakeFlexState(TaskRouterState):
    """The whole fake account. Worker methods come from :class:`TaskRouterState`.

    Attributes: ``account_sid``, ``auth_token``, ``api_keys`` (SK sid → secret),
    ``flex_instance_sid``, ``workspace_sid`` (the seeded workspace, None if not seeded),
    ``options``, ``faults`` (:class:`FaultPlan`), ``requests`` (:class:`RequestLog`), ``users``
    (:class:`FakeFlexUsers`).
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        api_keys: Mapping[str, str] | None = None,
        seed_workspace: bool = True,
        options: FakeFlexOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        lock = threading.RLock()
        self._initial_options = copy.deepcopy(options or FakeFlexOptions())
        super().__init__(
            account_sid or new_sid("AC"),
            options=copy.deepcopy(self._initial_options),
            clock=clock,
            lock=lock,
        )
        self.auth_token = auth_token or secrets.token_hex(16)
        self.api_keys: dict[str, str] = dict(api_keys or {})
        self.flex_instance_sid = new_sid("GO")
        self.faults = FaultPlan(lock)
        self.requests = RequestLog(lock)
        self.users = FakeFlexUsers(self, self.flex_instance_sid)
        self.workspace_sid: str | None = self.add_workspace() if seed_workspace else None

    def add_workspace(self, friendly_name: str = "Flex Task Assignment") -> str:
        sid = super().add_workspace(friendly_name)
        with self.lock:
            if getattr(self, "workspace_sid", None) is None:
                self.workspace_sid = sid
        return sid

    def authenticate(self, username: str, password: str) -> bool:
        """True for ``account_sid``:``auth_token`` or a known ``SK…``:secret pair."""
        if username == self.account_sid:
            expected = self.auth_token
        elif username.startswith("SK") and username in self.api_keys:
            expected = self.api_keys[username]
        else:
            return False
        return hmac.compare_digest(password.encode(), expected.encode())

    def add_api_key(self) -> tuple[str, str]:
        """Create an API key: (``SK…`` sid, secret) for ``Client(sid, secret, account_sid)``."""
        sid, secret = new_sid("SK"), secrets.token_hex(16)
        with self.lock:
            self.api_keys[sid] = secret
        return sid, secret

    def set_options(self, **changes: object) -> FakeFlexOptions:
        """Change behaviour switches (see :class:`FakeFlexOptions`); returns the new options."""
        with self.lock:
            self.options.apply(changes)
            return copy.deepcopy(self.options)

    def sso_login(self, username: str, claims: Mapping[str, ClaimValue]) -> WorkerRecord:
        """Simulate a Flex SSO login (see :meth:`FakeFlexUsers.sso_login`)."""
        return self.users.sso_login(username, claims)

    def reset(self) -> None:
        """Forget workers, Flex users, faults, latency and recorded requests; restore options.

        Credentials, workspaces, activities and the Flex instance stay.
        """
        with self.lock:
            self.clear_workers()
            self.users.clear()
            self.faults.clear()
            self.requests.clear()
            self.options = copy.deepcopy(self._initial_options)
