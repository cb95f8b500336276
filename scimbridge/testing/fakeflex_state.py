"""In-memory TaskRouter state of the fake Flex server: workspaces, activities, workers.

Does: keep workspaces with the three seeded activities (Offline default, Available, Unavailable) and
their workers; enforce the Worker rules the live API documents (FriendlyName required, at most 64
characters, case-insensitively unique per workspace; Attributes a JSON object string of at most 4096
characters; ActivitySid must exist; RejectPendingReservations only towards an unavailable activity);
keep a per-worker integer revision for ETag/If-Match; answer filtered, stably ordered worker queries.
Every public method takes the one shared lock, so the state may be used from any thread.

Does not: speak HTTP, render JSON, inject faults or know about Flex users (see the sibling
``fakeflex_*`` modules). Errors are raised as :class:`FakeApiError`, which the HTTP layer turns into
Twilio's error body.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scimbridge.testing.fakeflex_options import FakeFlexOptions

MAX_FRIENDLY_NAME = 64
MAX_ATTRIBUTES = 4096
SEEDED_ACTIVITIES = (("Offline", False), ("Available", True), ("Unavailable", False))
TRUE_WORDS = frozenset({"true", "1", "yes"})

Clock = Callable[[], datetime]


class FakeApiError(Exception):
    """A Twilio-style API error: rendered as ``{"code","message","more_info","status"}``."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def invalid(message: str) -> FakeApiError:
    """400/20001, the code TaskRouter uses for invalid parameters and invalid state."""
    return FakeApiError(400, 20001, message)


def not_found(path: str) -> FakeApiError:
    """404/20404 with the live API's message wording."""
    return FakeApiError(404, 20404, f"The requested resource {path} was not found")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 lowercase hex characters."""
    return prefix + secrets.token_hex(16)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Activity:
    sid: str
    workspace_sid: str
    friendly_name: str
    available: bool
    date_created: datetime


@dataclass
class Workspace:
    sid: str
    friendly_name: str
    date_created: datetime
    activities: dict[str, Activity] = field(default_factory=dict)
    default_activity_sid: str = ""


@dataclass
class WorkerRecord:
    """One worker as stored. ``attributes`` is the exact string the client sent."""

    sid: str
    workspace_sid: str
    friendly_name: str
    attributes: str
    activity_sid: str
    date_created: datetime
    date_updated: datetime
    date_status_changed: datetime
    revision: int = 0

    def sort_key(self) -> tuple[str, str]:
        return (self.date_created.isoformat(), self.sid)


@dataclass(frozen=True)
class WorkerQuery:
    """List filters, as the Workers list endpoint accepts them (None = not filtered)."""

    friendly_name: str | None = None
    activity_sid: str | None = None
    activity_name: str | None = None
    available: str | None = None
    task_queue_sid: str | None = None
    task_queue_name: str | None = None


def parse_attributes(attributes: str) -> dict[str, object]:
    """Validate a worker Attributes string: a JSON object of at most 4096 characters."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(f"Attributes must be at most {MAX_ATTRIBUTES} characters")
    try:
        parsed = json.loads(attributes)
    except ValueError:
        raise invalid("Attributes must be a valid JSON object") from None
    if not isinstance(parsed, dict):
        raise invalid("Attributes must be a valid JSON object")
    return parsed


def if_match_accepts(if_match: str | None, revision: int) -> bool:
    """True if an If-Match header value matches the revision (absent and ``*`` always match)."""
    if if_match is None:
        return True
    for tag in if_match.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag in ("*", str(revision)):
            return True
    return False


class TaskRouterState:
    """Workspaces, activities and workers behind one re-entrant lock.

    ``options`` are read on every call, so switching them takes effect at once. ``clock`` returns
    aware UTC datetimes; tests inject their own to see date changes without sleeping.
    """

    def __init__(
        self,
        account_sid: str,
        *,
        options: FakeFlexOptions | None = None,
        clock: Clock | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.options = options or FakeFlexOptions()
        self.clock: Clock = clock or utc_now
        self.lock = lock or threading.RLock()
        self._workspaces: dict[str, Workspace] = {}
        self._workers: dict[str, WorkerRecord] = {}

    # -- workspaces and activities ------------------------------------------------------------

    def add_workspace(self, friendly_name: str = "Flex Task Assignment") -> str:
        """Create a workspace seeded with Offline (default), Available and Unavailable."""
        with self.lock:
            now = self.clock()
            workspace = Workspace(new_sid("WS"), friendly_name, now)
            for name, available in SEEDED_ACTIVITIES:
                activity = Activity(new_sid("WA"), workspace.sid, name, available, now)
                workspace.activities[activity.sid] = activity
            workspace.default_activity_sid = self._activity_named(workspace, "Offline").sid
            self._workspaces[workspace.sid] = workspace
            return workspace.sid

    def workspace(self, workspace_sid: str) -> Workspace:
        """The workspace, or 404/20404."""
        with self.lock:
            found = self._workspaces.get(workspace_sid)
            if found is None:
                raise not_found(f"/v1/Workspaces/{workspace_sid}")
            return found

    def workspace_sids(self) -> list[str]:
        with self.lock:
            return list(self._workspaces)

    def activities(self, workspace_sid: str, friendly_name: str | None = None) -> list[Activity]:
        """Activities of a workspace in creation order, optionally filtered by exact name."""
        with self.lock:
            found = list(self.workspace(workspace_sid).activities.values())
        return [a for a in found if friendly_name is None or a.friendly_name == friendly_name]

    def activity(self, workspace_sid: str, activity_sid: str) -> Activity:
        with self.lock:
            found = self.workspace(workspace_sid).activities.get(activity_sid)
            if found is None:
                raise not_found(f"/v1/Workspaces/{workspace_sid}/Activities/{activity_sid}")
            return found

    def activity_sid(self, name: str, workspace_sid: str | None = None) -> str:
        """The SID of the activity with this friendly name (in-process convenience)."""
        with self.lock:
            workspace = self.workspace(workspace_sid or self._primary_workspace_sid())
            return self._activity_named(workspace, name).sid

    # -- workers --------------------------------------------------------------------------------

    def create_worker(
        self,
        friendly_name: str | None,
        *,
        attributes: str | None = None,
        activity_sid: str | None = None,
        workspace_sid: str | None = None,
    ) -> WorkerRecord:
        """Create a worker with the live API's validation; returns a copy of the record."""
        with self.lock:
            workspace = self.workspace(workspace_sid or self._primary_workspace_sid())
            if friendly_name is None or friendly_name == "":
                raise invalid("Missing required parameter FriendlyName in the post body")
            self._check_friendly_name(workspace.sid, friendly_name, exclude_sid=None)
            attributes = "{}" if attributes is None else attributes
            parse_attributes(attributes)
            activity = self._resolve_activity(workspace, activity_sid)
            self._check_available_cap(workspace.sid, activity, exclude_sid=None)
            now = self.clock()
            record = WorkerRecord(
                sid=new_sid("WK"),
                workspace_sid=workspace.sid,
                friendly_name=friendly_name,
                attributes=attributes,
                activity_sid=activity.sid,
                date_created=now,
                date_updated=now,
                date_status_changed=now,
            )
            self._workers[record.sid] = record
            return dataclasses.replace(record)

    def get_worker(self, worker_sid: str, *, workspace_sid: str | None = None) -> WorkerRecord:
        """A copy of the worker, or 404/20404."""
        with self.lock:
            return dataclasses.replace(self._stored(workspace_sid, worker_sid))

    def update_worker(
        self,
        worker_sid: str,
        *,
        workspace_sid: str | None = None,
        friendly_name: str | None = None,
        attributes: str | None = None,
        activity_sid: str | None = None,
        reject_pending_reservations: bool | None = None,
        if_match: str | None = None,
    ) -> WorkerRecord:
        """Apply only the given fields; Attributes replaces the whole string. Bumps the revision."""
        with self.lock:
            record = self._stored(workspace_sid, worker_sid)
            workspace = self.workspace(record.workspace_sid)
            self._check_if_match(record, if_match)
            if friendly_name is not None:
                self._check_friendly_name(workspace.sid, friendly_name, exclude_sid=record.sid)
            if attributes is not None:
                parse_attributes(attributes)
            target = record.activity_sid if activity_sid is None else activity_sid
            activity = self._resolve_activity(workspace, target)
            if reject_pending_reservations and activity.available:
                raise invalid(
                    "RejectPendingReservations is only valid when the new Activity is unavailable"
                )
            self._check_available_cap(workspace.sid, activity, exclude_sid=record.sid)
            now = self.clock()
            if friendly_name is not None:
                record.friendly_name = friendly_name
            if attributes is not None:
                record.attributes = attributes
            if activity.sid != record.activity_sid:
                record.activity_sid = activity.sid
                record.date_status_changed = now
            record.date_updated = now
            record.revision += 1
            return dataclasses.replace(record)

    def delete_worker(
        self, worker_sid: str, *, workspace_sid: str | None = None, if_match: str | None = None
    ) -> None:
        """Remove the worker; 404 if it is gone, 400 if refused by ``refuse_delete_available``."""
        with self.lock:
            record = self._stored(workspace_sid, worker_sid)
            self._check_if_match(record, if_match)
            activity = self.workspace(record.workspace_sid).activities[record.activity_sid]
            if self.options.refuse_delete_available and activity.available:
                raise invalid(f"Worker {record.sid} is in an available Activity and cannot be deleted")
            del self._workers[record.sid]

    def query_workers(
        self, query: WorkerQuery | None = None, *, workspace_sid: str | None = None
    ) -> list[WorkerRecord]:
        """Copies of the matching workers ordered by (date_created, sid)."""
        query = query or WorkerQuery()
        with self.lock:
            workspace = self.workspace(workspace_sid or self._primary_workspace_sid())
            if query.task_queue_sid is not None or query.task_queue_name is not None:
                return []  # the fake has no task queues, so no worker belongs to one
            matching = [
                dataclasses.replace(w)
                for w in self._workers.values()
                if w.workspace_sid == workspace.sid and self._matches(workspace, w, query)
            ]
        return sorted(matching, key=WorkerRecord.sort_key)

    def workers(self, workspace_sid: str | None = None) -> list[WorkerRecord]:
        """Every worker of a workspace (default: the first one), for assertions."""
        return self.query_workers(workspace_sid=workspace_sid)

    def worker_named(
        self, friendly_name: str, *, workspace_sid: str | None = None
    ) -> WorkerRecord | None:
        """The worker with this friendly name (case-insensitive), if any."""
        found = self.query_workers(WorkerQuery(friendly_name=friendly_name), workspace_sid=workspace_sid)
        return found[0] if found else None

    def activity_of(self, record: WorkerRecord) -> Activity:
        with self.lock:
            return self.workspace(record.workspace_sid).activities[record.activity_sid]

    def clear_workers(self) -> None:
        with self.lock:
            self._workers.clear()

    # -- internals -----------------------------------------------------------------------------

    def _primary_workspace_sid(self) -> str:
        if not self._workspaces:
            raise not_found("/v1/Workspaces")
        return next(iter(self._workspaces))

    def _stored(self, workspace_sid: str | None, worker_sid: str) -> WorkerRecord:
        workspace = self.workspace(workspace_sid or self._primary_workspace_sid())
        record = self._workers.get(worker_sid)
        if record is None or record.workspace_sid != workspace.sid:
            raise not_found(f"/v1/Workspaces/{workspace.sid}/Workers/{worker_sid}")
        return record

    @staticmethod
    def _activity_named(workspace: Workspace, name: str) -> Activity:
        for activity in workspace.activities.values():
            if activity.friendly_name == name:
                return activity
        raise invalid(f"Activity '{name}' does not exist in Workspace {workspace.sid}")

    @staticmethod
    def _resolve_activity(workspace: Workspace, activity_sid: str | None) -> Activity:
        if activity_sid is None:
            return workspace.activities[workspace.default_activity_sid]
        activity = workspace.activities.get(activity_sid)
        if activity is None:
            raise invalid(f"Activity {activity_sid} does not exist in Workspace {workspace.sid}")
        return activity

    def _check_friendly_name(self, workspace_sid: str, name: str, exclude_sid: str | None) -> None:
        if name == "":
            raise invalid("FriendlyName must not be empty")
        if len(name) > MAX_FRIENDLY_NAME:
            raise invalid(f"FriendlyName must be at most {MAX_FRIENDLY_NAME} characters")
        folded = name.casefold()
        for other in self._workers.values():
            if (
                other.workspace_sid == workspace_sid
                and other.sid != exclude_sid
                and other.friendly_name.casefold() == folded
            ):
                raise invalid(
                    f"Worker with FriendlyName '{name}' already exists in Workspace {workspace_sid}"
                )

    def _check_if_match(self, record: WorkerRecord, if_match: str | None) -> None:
        if self.options.enforce_if_match and not if_match_accepts(if_match, record.revision):
            raise FakeApiError(
                412, 20001, f"If-Match does not match the current version of Worker {record.sid}"
            )

    def _check_available_cap(
        self, workspace_sid: str, activity: Activity, exclude_sid: str | None
    ) -> None:
        cap = self.options.max_available_workers
        if cap is None or not activity.available:
            return
        online = self._available_count(workspace_sid, exclude_sid)
        if online >= cap:
            raise FakeApiError(400, 14240, "Max concurrent Workers exceeded")

    def _available_count(self, workspace_sid: str, exclude_sid: str | None) -> int:
        workspace = self._workspaces[workspace_sid]
        return sum(
            1
            for w in self._workers.values()
            if w.workspace_sid == workspace_sid
            and w.sid != exclude_sid
            and workspace.activities[w.activity_sid].available
        )

    @staticmethod
    def _matches(workspace: Workspace, record: WorkerRecord, query: WorkerQuery) -> bool:
        activity = workspace.activities[record.activity_sid]
        checks: Iterable[bool] = (
            query.friendly_name is None
            or record.friendly_name.casefold() == query.friendly_name.casefold(),
            query.activity_sid is None or record.activity_sid == query.activity_sid,
            query.activity_name is None or activity.friendly_name == query.activity_name,
            query.available is None
            or activity.available == (query.available.lower() in TRUE_WORDS),
        )
        return all(checks)
