"""Flex Users API v4 (public beta): provision and deprovision Flex users, find one by username.

Does: ``POST /v4/Instances/{GO}/Users/Provision`` (create or update a Flex user with its worker),
``POST …/Users/Deprovision`` (delete the worker, deactivate the user) and
``GET …/Users?Username=`` through ``client.request`` with JSON bodies, since ``twilio`` has no
wrapper for v4; every request rate-limited, retried and failing with the typed errors of
:mod:`scimbridge.flex.twilio.errors`, exactly like the TaskRouter calls.
Does not: touch TaskRouter directly or decide when a user should be provisioned
(``flex.sync.reconciler``).

Provision is documented as idempotent on ``username`` ("create or update"), so it is retried after
5xx and timeouts like a read. ``twilio`` drops ``None`` values from JSON bodies, so a worker
attribute set to ``None`` is omitted rather than sent as ``null``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scimbridge.flex.twilio.errors import TwilioNotFound, UnexpectedResponse
from scimbridge.flex.twilio.transport import TwilioCalls, fetch_flex_configuration

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True)
class ProvisionedUser:
    """What Provision answered: the Flex user and its worker (friendly_name = username)."""

    flex_user_sid: str
    worker_sid: str | None


@dataclass(frozen=True)
class FlexUser:
    """A Flex user as the v4 list returns it; ``worker_sid`` is None once deactivated."""

    flex_user_sid: str
    username: str
    email: str | None
    full_name: str | None
    roles: tuple[str, ...]
    worker_sid: str | None
    deactivated: bool


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flex_user(record: Mapping[str, Any]) -> FlexUser:
    roles = record.get("roles") or ()
    return FlexUser(
        flex_user_sid=str(record.get("flex_user_sid") or ""),
        username=str(record.get("username") or ""),
        email=_text(record.get("email")),
        full_name=_text(record.get("full_name")),
        roles=tuple(str(role) for role in roles) if isinstance(roles, list) else (),
        worker_sid=_text(record.get("worker_sid")),
        deactivated=bool(record.get("deactivated")),
    )


class FlexUsers:
    """The Flex Users API of one Flex instance. Safe to share between threads.

    Every request goes through ``calls``. The instance is ``settings.flex_instance_sid``, else the
    one Flex Configuration names.
    """

    def __init__(self, calls: TwilioCalls) -> None:
        self._calls = calls
        self._lock = threading.Lock()
        self._instance_sid = calls.settings.flex_instance_sid

    def __repr__(self) -> str:
        return f"FlexUsers(account_sid={self._calls.settings.account_sid!r})"

    @property
    def instance_sid(self) -> str:
        """The Flex instance (``GO…``) the calls address, discovered once if not configured."""
        with self._lock:
            if self._instance_sid is None:
                discovered = fetch_flex_configuration(self._calls).flex_instance_sid
                if not discovered:
                    raise UnexpectedResponse(
                        "Flex Configuration names no Flex instance; set the instance SID",
                        endpoint="configuration.fetch",
                    )
                self._instance_sid = discovered
            return self._instance_sid

    def _url(self, suffix: str) -> str:
        base = str(self._calls.client.flex_api.base_url).rstrip("/")
        return f"{base}/v4/Instances/{self.instance_sid}/Users{suffix}"

    def provision(
        self,
        username: str,
        email: str,
        full_name: str,
        roles: Sequence[str],
        worker_attributes: Mapping[str, Any],
    ) -> ProvisionedUser:
        """Create or update the Flex user ``username`` and its worker (friendly_name = username)."""
        body: dict[str, object] = {
            "username": username,
            "email": email,
            "full_name": full_name,
            "roles": list(roles),
            "worker": {"attributes": dict(worker_attributes)},
        }
        response = self._calls.send(
            "users.provision", "POST", self._url("/Provision"), body=body, headers=JSON_HEADERS
        )
        answer = _json_object(response.text, "users.provision")
        worker = answer.get("worker")
        worker_sid = worker.get("worker_sid") if isinstance(worker, Mapping) else None
        flex_user_sid = answer.get("flex_user_sid")
        if not flex_user_sid:
            raise UnexpectedResponse(
                "Provision answered without a flex_user_sid", endpoint="users.provision"
            )
        return ProvisionedUser(str(flex_user_sid), _text(worker_sid or answer.get("worker_sid")))

    def deprovision(self, flex_user_sid: str) -> bool:
        """Delete the user's worker and deactivate the user; False if Twilio knows no such user."""
        try:
            self._calls.send(
                "users.deprovision",
                "POST",
                self._url("/Deprovision"),
                body={"flex_user_sid": flex_user_sid},
                headers=JSON_HEADERS,
            )
        except TwilioNotFound:
            return False
        return True

    def find_by_username(self, username: str) -> FlexUser | None:
        """The Flex user with this username (case-insensitive), deactivated or not; None if none."""
        response = self._calls.send(
            "users.list",
            "GET",
            self._url(""),
            params={"Username": username},
            headers={"Accept": "application/json"},
        )
        answer = _json_object(response.text, "users.list")
        meta = answer.get("meta")
        key = (meta.get("list_key") or meta.get("key")) if isinstance(meta, Mapping) else None
        records = answer.get(str(key or "users")) or []
        wanted = username.casefold()
        for record in records if isinstance(records, list) else []:
            if isinstance(record, Mapping) and str(record.get("username", "")).casefold() == wanted:
                return _flex_user(record)
        return None


def _json_object(text: str, endpoint: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UnexpectedResponse(f"{endpoint}: response is not a JSON object", endpoint=endpoint)
    return parsed
