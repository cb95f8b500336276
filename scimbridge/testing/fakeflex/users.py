"""Flex users of the fake Flex server: SSO login, Users API v4 Provision/Deprovision, v2 FlexUser.

Does: keep Flex users (``FU…``) of one Flex instance (``GO…``) linked to TaskRouter workers;
simulate what Flex does on an SSO login (create or adopt the worker named after the user, set
``contact_uri = client:<escaped>``, overwrite each claim present, clear keys whose claim is empty,
cast ``.int``/``.boolean``/``.stringarray``/… suffixes, split ``roles`` on commas, leave every other
key alone); emulate Provision (idempotent on username, creates or updates user and worker) and
Deprovision (deletes the worker, deactivates the user).

Does not: render JSON or speak HTTP. Provision's effect on worker attributes beyond
``worker.attributes`` (it also writes ``full_name``, ``email``, ``roles`` and a missing
``contact_uri``, as SSO does) is inferred, not documented.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from scimbridge.testing.fakeflex.records import (
    FakeApiError,
    WorkerRecord,
    invalid,
    new_sid,
    not_found,
)
from scimbridge.testing.fakeflex.state import TaskRouterState

MANDATORY_CLAIMS = ("roles", "full_name", "email")
MAX_USERNAME = 256
ClaimValue = str | Sequence[str]


def escape_identity(name: str) -> str:
    """Flex's client identity escaping: each char outside [A-Za-z0-9] → ``_`` + uppercase hex.

    Hex is of UTF-16 code units, zero-padded to two digits (``@``→``_40``, ``.``→``_2E``,
    ``_``→``_5F``), matching the browser code that produces it.
    """
    escaped: list[str] = []
    for ch in name:
        if ch.isascii() and ch.isalnum():
            escaped.append(ch)
            continue
        units = ch.encode("utf-16-be")
        for i in range(0, len(units), 2):
            escaped.append(f"_{int.from_bytes(units[i : i + 2], 'big'):02X}")
    return "".join(escaped)


def contact_uri(username: str) -> str:
    return "client:" + escape_identity(username)


@dataclass
class FlexUserRecord:
    """One Flex user; ``worker_sid`` is None once deprovisioned."""

    sid: str
    account_sid: str
    instance_sid: str
    user_sid: str
    flex_team_sid: str
    username: str
    created_date: datetime
    updated_date: datetime
    email: str | None = None
    full_name: str | None = None
    roles: list[str] = field(default_factory=list)
    locale: str | None = "en-US"
    worker_sid: str | None = None
    workspace_sid: str | None = None
    version: int = 0
    deactivated: bool = False
    deactivated_date: datetime | None = None


def _split(value: ClaimValue) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _cast_one(kind: str, text: str) -> object:
    if kind == "int":
        return int(text)
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(text)
        return lowered == "true"
    return text


def cast_claim(name: str, value: ClaimValue) -> tuple[str, object]:
    """(attribute key, typed value) of one claim; bad casts raise 400 'invalid attribute format'."""
    base, _, suffix = name.rpartition(".")
    kinds = {"string", "int", "boolean", "stringarray", "intarray", "booleanarray"}
    if not base or suffix not in kinds:
        base, suffix = name, "string"
    try:
        if name == "roles":
            return name, _split(value)
        if suffix.endswith("array"):
            return base, [_cast_one(suffix.removesuffix("array"), v) for v in _split(value)]
        text = value if isinstance(value, str) else ",".join(value)
        return base, _cast_one(suffix, text)
    except ValueError:
        raise invalid("Error invalid attribute format") from None


def _is_empty(value: ClaimValue) -> bool:
    return value == "" if isinstance(value, str) else not [v for v in value if v != ""]


class FakeFlexUsers:
    """Flex users of one instance, writing workers through the TaskRouter state (same lock)."""

    def __init__(self, taskrouter: TaskRouterState, instance_sid: str) -> None:
        self.taskrouter = taskrouter
        self.instance_sid = instance_sid
        self.flex_team_sid = new_sid("QO")
        self._users: dict[str, FlexUserRecord] = {}

    # -- lookups -------------------------------------------------------------------------------

    def get(self, flex_user_sid: str, *, instance_sid: str | None = None) -> FlexUserRecord:
        """A copy of the user, or 404/20404."""
        with self.taskrouter.lock:
            self.check_instance(instance_sid)
            user = self._users.get(flex_user_sid)
            if user is None:
                raise not_found(f"/Instances/{self.instance_sid}/Users/{flex_user_sid}")
            return dataclasses.replace(user)

    def by_username(self, username: str) -> FlexUserRecord | None:
        with self.taskrouter.lock:
            user = self._find(username)
            return None if user is None else dataclasses.replace(user)

    def all(self) -> list[FlexUserRecord]:
        """Copies of every user, ordered by (created_date, sid)."""
        with self.taskrouter.lock:
            users = [dataclasses.replace(u) for u in self._users.values()]
        return sorted(users, key=lambda u: (u.created_date.isoformat(), u.sid))

    def clear(self) -> None:
        with self.taskrouter.lock:
            self._users.clear()

    # -- writes --------------------------------------------------------------------------------

    def sso_login(self, username: str, claims: Mapping[str, ClaimValue]) -> WorkerRecord:
        """Do what a Flex SSO login does to the worker and the Flex user; returns the worker."""
        missing = [c for c in MANDATORY_CLAIMS if c not in claims]
        if missing:
            raise FakeApiError(400, 45050, f"Missing mandatory SSO claims: {', '.join(missing)}")
        changes: dict[str, object] = {}
        cleared: set[str] = set()
        for name, value in claims.items():
            key, typed = cast_claim(name, value)
            if _is_empty(value):
                cleared.add(key)
            else:
                changes[key] = typed
        with self.taskrouter.lock:
            user, _ = self._user_for(username)
            worker = self._write_worker(user, changes, cleared)
            self._users[user.sid] = user
            user.email = _text(changes.get("email"), user.email)
            user.full_name = _text(changes.get("full_name"), user.full_name)
            user.roles = _roles(changes.get("roles"), user.roles)
            self._touch(user)
            return worker

    def provision(
        self,
        username: str,
        *,
        email: str | None = None,
        full_name: str | None = None,
        roles: Sequence[str] | None = None,
        locale: str | None = None,
        worker_attributes: Mapping[str, object] | None = None,
        instance_sid: str | None = None,
    ) -> tuple[FlexUserRecord, bool]:
        """Create or update the user and its worker; returns (user copy, created?)."""
        if not 1 <= len(username) <= MAX_USERNAME:
            raise invalid(f"username must be 1 to {MAX_USERNAME} characters")
        changes: dict[str, object] = dict(worker_attributes or {})
        for key, value in (("full_name", full_name), ("email", email), ("roles", roles)):
            if value is not None:
                changes[key] = list(value) if key == "roles" else value
        with self.taskrouter.lock:
            self.check_instance(instance_sid)
            user, created = self._user_for(username)
            self._write_worker(user, changes, set())
            self._users[user.sid] = user
            user.deactivated, user.deactivated_date = False, None
            user.email = email if email is not None else user.email
            user.full_name = full_name if full_name is not None else user.full_name
            user.roles = list(roles) if roles is not None else user.roles
            user.locale = locale if locale is not None else user.locale
            self._touch(user)
            return dataclasses.replace(user), created

    def deprovision(self, flex_user_sid: str, *, instance_sid: str | None = None) -> None:
        """Delete the user's worker (if any) and deactivate the user; repeat calls are no-ops."""
        with self.taskrouter.lock:
            self.check_instance(instance_sid)
            user = self._users.get(flex_user_sid)
            if user is None:
                raise not_found(f"/v4/Instances/{self.instance_sid}/Users/{flex_user_sid}")
            if user.worker_sid is not None:
                try:
                    self.taskrouter.delete_worker(user.worker_sid, workspace_sid=user.workspace_sid)
                except FakeApiError as exc:
                    if exc.status != 404:
                        raise
            if not user.deactivated:
                user.deactivated = True
                user.deactivated_date = self.taskrouter.clock()
            user.worker_sid = None
            self._touch(user)

    def update(
        self,
        flex_user_sid: str,
        *,
        email: str | None = None,
        user_sid: str | None = None,
        locale: str | None = None,
        instance_sid: str | None = None,
    ) -> FlexUserRecord:
        """The v2 FlexUser update: only Email, UserSid and Locale."""
        with self.taskrouter.lock:
            self.get(flex_user_sid, instance_sid=instance_sid)
            user = self._users[flex_user_sid]
            user.email = email if email is not None else user.email
            user.user_sid = user_sid if user_sid is not None else user.user_sid
            user.locale = locale if locale is not None else user.locale
            self._touch(user)
            return dataclasses.replace(user)

    # -- internals -----------------------------------------------------------------------------

    def check_instance(self, instance_sid: str | None) -> None:
        if instance_sid is not None and instance_sid != self.instance_sid:
            raise not_found(f"/Instances/{instance_sid}")

    def _find(self, username: str) -> FlexUserRecord | None:
        folded = username.casefold()
        return next((u for u in self._users.values() if u.username.casefold() == folded), None)

    def _user_for(self, username: str) -> tuple[FlexUserRecord, bool]:
        user = self._find(username)
        if user is not None:
            return user, False
        now = self.taskrouter.clock()
        user = FlexUserRecord(
            sid=new_sid("FU"),
            account_sid=self.taskrouter.account_sid,
            instance_sid=self.instance_sid,
            user_sid=new_sid("US"),
            flex_team_sid=self.flex_team_sid,
            username=username,
            created_date=now,
            updated_date=now,
        )
        return user, True  # stored by the caller once its worker write succeeded

    def _linked_worker(self, user: FlexUserRecord) -> WorkerRecord | None:
        if user.worker_sid is not None:
            try:
                return self.taskrouter.get_worker(user.worker_sid, workspace_sid=user.workspace_sid)
            except FakeApiError:
                pass
        # adopt a worker named after the user, as a later SSO login would
        return self.taskrouter.worker_named(user.username)

    def _write_worker(
        self, user: FlexUserRecord, changes: Mapping[str, object], cleared: set[str]
    ) -> WorkerRecord:
        worker = self._linked_worker(user)
        if worker is None:
            attributes = {"contact_uri": contact_uri(user.username), **changes}
            worker = self.taskrouter.create_worker(user.username, attributes=_dump(attributes))
        else:
            attributes = json.loads(worker.attributes)
            attributes.setdefault("contact_uri", contact_uri(user.username))
            attributes.update(changes)
            for key in cleared:
                attributes.pop(key, None)
            worker = self.taskrouter.update_worker(
                worker.sid, workspace_sid=worker.workspace_sid, attributes=_dump(attributes)
            )
        user.worker_sid, user.workspace_sid = worker.sid, worker.workspace_sid
        return worker

    def _touch(self, user: FlexUserRecord) -> None:
        user.updated_date = self.taskrouter.clock()
        user.version += 1


def _dump(attributes: Mapping[str, object]) -> str:
    return json.dumps(attributes, separators=(",", ":"))


def _text(value: object, current: str | None) -> str | None:
    return value if isinstance(value, str) else current


def _roles(value: object, current: list[str]) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else current
