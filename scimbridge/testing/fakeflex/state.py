"""In-memory TaskRouter state of the fake Flex server: workspaces, activities, workers.

Does: keep workspaces with the three seeded activities (Offline default, Available, Unavailable) and
their workers; enforce the Worker rules the live API documents (FriendlyName required, at most 64
characters, case-insensitively unique per workspace; Attributes a JSON object string of at most 4096
characters; ActivitySid must exist; RejectPendingReservations only towards an unavailable activity,
where it rejects the pending reservations; no delete while one is pending);
keep a per-worker integer revision for ETag/If-Match; answer filtered, stably ordered worker
queries, a page at a time (``worker_table``: no call costs more as the workspace grows, except
an unfiltered copy of every worker for assertions and the filters that must look at each one).
Every public method takes the one shared lock, so the state may be used from any thread.

Does not: speak HTTP, render JSON, inject faults or know about Flex users (see the sibling
modules). Errors are raised as ``FakeApiError`` (``records``), which the
HTTP layer turns into Twilio's error body.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator

from scimbridge.testing.fakeflex.options import FakeFlexOptions
from scimbridge.testing.fakeflex.records import (
    MAX_FRIENDLY_NAME,
    SEEDED_ACTIVITIES,
    TRUE_WORDS,
    Activity,
    Clock,
    FakeApiError,
    WorkerQuery,
    WorkerRecord,
    Workspace,
    if_match_accepts,
    invalid,
    new_sid,
    not_found,
    parse_attributes,
    utc_now,
)
from scimbridge.testing.fakeflex.reservations import Reservations
from scimbridge.testing.fakeflex.worker_table import Key, WorkerTable


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
        self._workers = WorkerTable()
        self.reservations = Reservations(self.lock, lambda: self.clock())

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
            self._workers.add(record, available=activity.available)
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
            if reject_pending_reservations:
                self.reservations.reject_pending(record.sid)
            if friendly_name is not None:
                self._workers.rename(record, friendly_name)
            if attributes is not None:
                record.attributes = attributes
            if activity.sid != record.activity_sid:
                self._workers.move(record, activity.sid, available=activity.available)
                record.date_status_changed = now
            record.date_updated = now
            record.revision += 1
            return dataclasses.replace(record)

    def delete_worker(
        self, worker_sid: str, *, workspace_sid: str | None = None, if_match: str | None = None
    ) -> None:
        """Remove the worker; 404 if it is gone, 400 if refused by ``refuse_delete_available`` or
        (``refuse_delete_reserved``) while it has a pending reservation."""
        with self.lock:
            record = self._stored(workspace_sid, worker_sid)
            self._check_if_match(record, if_match)
            activity = self.workspace(record.workspace_sid).activities[record.activity_sid]
            if self.options.refuse_delete_available and activity.available:
                raise invalid(
                    f"Worker {record.sid} is in an available Activity and cannot be deleted"
                )
            if self.options.refuse_delete_reserved and self.reservations.has_pending(record.sid):
                raise invalid(f"Worker {record.sid} has pending reservations")
            self._workers.remove(record)
            self.reservations.forget_worker(record.sid)

    def offer_reservation(self, worker_sid: str, timeout: float | None = None) -> str:
        """A task reserves the worker (pending, timing out after ``timeout`` s); its SID."""
        with self.lock:
            record = self._stored(None, worker_sid)
            offered = self.reservations.offer(
                record.workspace_sid, record.sid, record.friendly_name, timeout
            )
            return offered.sid

    def query_workers(
        self, query: WorkerQuery | None = None, *, workspace_sid: str | None = None
    ) -> list[WorkerRecord]:
        """Copies of the matching workers ordered by (date_created, sid)."""
        with self.lock:
            return list(self.listing(query, workspace_sid=workspace_sid).after(None))

    def listing(
        self,
        query: WorkerQuery | None = None,
        *,
        workspace_sid: str | None = None,
        where: Callable[[WorkerRecord], bool] | None = None,
    ) -> WorkerListing:
        """The matching workers (and those ``where`` keeps), walked in list order from a cursor
        as copies; hold :attr:`lock` while walking it."""
        query = query or WorkerQuery()
        with self.lock:
            workspace = self.workspace(workspace_sid or self._primary_workspace_sid())

        def keep(record: WorkerRecord) -> bool:
            return self._matches(workspace, record, query) and (where is None or where(record))

        return WorkerListing(self._workers, workspace.sid, query, keep)

    def workers(self, workspace_sid: str | None = None) -> list[WorkerRecord]:
        """Every worker of a workspace (default: the first one), for assertions."""
        return self.query_workers(workspace_sid=workspace_sid)

    def worker_named(
        self, friendly_name: str, *, workspace_sid: str | None = None
    ) -> WorkerRecord | None:
        """The worker with this friendly name (case-insensitive), if any."""
        found = self.query_workers(
            WorkerQuery(friendly_name=friendly_name), workspace_sid=workspace_sid
        )
        return found[0] if found else None

    def activity_of(self, record: WorkerRecord) -> Activity:
        with self.lock:
            return self.workspace(record.workspace_sid).activities[record.activity_sid]

    def clear_workers(self) -> None:
        with self.lock:
            self._workers.clear()
            self.reservations.clear()

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
        other = self._workers.named(workspace_sid, name)
        if other is not None and other.sid != exclude_sid:
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
        online = self._workers.available_count(workspace_sid)
        excluded = self._workers.get(exclude_sid) if exclude_sid else None
        if excluded is not None and self._workers.is_available(excluded):
            online -= 1
        if online >= cap:
            raise FakeApiError(400, 14240, "Max concurrent Workers exceeded")

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


@dataclasses.dataclass(frozen=True)
class WorkerListing:
    """One worker list query, walked in list order as copies (``render.Ordered``); see
    :meth:`TaskRouterState.listing`."""

    table: WorkerTable
    workspace_sid: str
    query: WorkerQuery
    keep: Callable[[WorkerRecord], bool]

    def after(self, cursor: Key | None) -> Iterator[WorkerRecord]:
        if self.query.friendly_name is not None:
            return self._named(lambda key: cursor is None or key > cursor)
        return self._copies(self.table.after(self.workspace_sid, cursor, self.keep))

    def before(self, cursor: Key) -> Iterator[WorkerRecord]:
        if self.query.friendly_name is not None:
            return self._named(lambda key: key < cursor)
        return self._copies(self.table.before(self.workspace_sid, cursor, self.keep))

    def _named(self, inside: Callable[[Key], bool]) -> Iterator[WorkerRecord]:
        """Friendly names are unique per workspace: at most one worker, found by its name."""
        assert self.query.friendly_name is not None
        named = self.table.named(self.workspace_sid, self.query.friendly_name)
        found = [] if named is None or not inside(named.sort_key()) else [named]
        return self._copies(record for record in found if self.keep(record))

    def _copies(self, records: Iterator[WorkerRecord]) -> Iterator[WorkerRecord]:
        if self.query.task_queue_sid is not None or self.query.task_queue_name is not None:
            return  # the fake has no task queues, so no worker belongs to one
        for record in records:
            yield dataclasses.replace(record)
