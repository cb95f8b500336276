"""Worker reservations of the fake Flex server: tasks offered to a worker, and what they block.

Does: keep reservations per worker (``WR`` SIDs, each for a made-up task ``WT``), offered by a
test (``POST /__fake__/reservations``) or by a ``RESERVE`` fault; time a pending one out after
its timeout (TaskRouter's reservation timeout); reject them all when the worker moves to an
unavailable activity with ``RejectPendingReservations=true``; serve the worker's Reservations
list (``ReservationStatus`` filter, pages) and fetch/update of one (pending → accepted or
rejected, anything else 400/20001); and tell the state whether a worker still has a pending one,
which makes its delete fail with 400/20001 (as Twilio answers a delete of such a worker).
Every method takes the state's lock.

Does not: route tasks, model task queues or accept reservations on an agent's behalf.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scimbridge.testing.fakeflex.records import Clock, invalid, new_sid, not_found
from scimbridge.testing.fakeflex.render import InOrder, PageRequest, iso, paginate

PENDING, ACCEPTED, REJECTED, TIMEOUT = "pending", "accepted", "rejected", "timeout"
# Where a pending reservation may go by an update (TaskRouter's own moves are not modelled).
UPDATES_FROM_PENDING = frozenset({ACCEPTED, REJECTED})


@dataclass
class ReservationRecord:
    sid: str
    workspace_sid: str
    worker_sid: str
    worker_name: str
    task_sid: str
    status: str
    date_created: datetime
    date_updated: datetime
    expires_at: datetime | None

    def sort_key(self) -> tuple[str, str]:
        return (self.date_created.isoformat(), self.sid)


class Reservations:
    """Reservations by SID behind the state's lock; ``clock`` is the state's clock."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        self._lock = lock
        self.clock = clock
        self._records: dict[str, ReservationRecord] = {}

    def offer(
        self, workspace_sid: str, worker_sid: str, worker_name: str, timeout: float | None
    ) -> ReservationRecord:
        """A task reserves the worker: a pending reservation, timing out after ``timeout``
        seconds (None: never)."""
        with self._lock:
            now = self.clock()
            record = ReservationRecord(
                sid=new_sid("WR"),
                workspace_sid=workspace_sid,
                worker_sid=worker_sid,
                worker_name=worker_name,
                task_sid=new_sid("WT"),
                status=PENDING,
                date_created=now,
                date_updated=now,
                expires_at=None if timeout is None else now + timedelta(seconds=timeout),
            )
            self._records[record.sid] = record
            return replace(record)

    def of_worker(self, worker_sid: str, status: str | None = None) -> list[ReservationRecord]:
        """Copies of the worker's reservations (optionally of one status), oldest first."""
        with self._lock:
            self._expire()
            found = [
                replace(r)
                for r in self._records.values()
                if r.worker_sid == worker_sid and (status is None or r.status == status)
            ]
        return sorted(found, key=ReservationRecord.sort_key)

    def all(self) -> list[ReservationRecord]:
        with self._lock:
            self._expire()
            return sorted((replace(r) for r in self._records.values()), key=lambda r: r.sid)

    def has_pending(self, worker_sid: str) -> bool:
        return bool(self.of_worker(worker_sid, PENDING))

    def get(self, worker_sid: str, sid: str) -> ReservationRecord:
        with self._lock:
            self._expire()
            record = self._records.get(sid)
            if record is None or record.worker_sid != worker_sid:
                raise not_found(f"/Workers/{worker_sid}/Reservations/{sid}")
            return replace(record)

    def update(self, worker_sid: str, sid: str, status: str | None) -> ReservationRecord:
        """Move a pending reservation to ``accepted`` or ``rejected``; 400/20001 otherwise."""
        with self._lock:
            record = self._records.get(sid)
            self.get(worker_sid, sid)
            assert record is not None
            if status is None:
                return replace(record)
            if status not in UPDATES_FROM_PENDING:
                raise invalid(f"ReservationStatus {status!r} cannot be set by an update")
            if record.status != PENDING:
                raise invalid(f"Reservation {sid} is {record.status}, not pending")
            record.status = status
            record.date_updated = self.clock()
            return replace(record)

    def reject_pending(self, worker_sid: str) -> int:
        """``RejectPendingReservations=true``: reject every pending one; returns how many."""
        with self._lock:
            self._expire()
            now = self.clock()
            rejected = 0
            for record in self._records.values():
                if record.worker_sid == worker_sid and record.status == PENDING:
                    record.status, record.date_updated = REJECTED, now
                    rejected += 1
            return rejected

    def forget_worker(self, worker_sid: str) -> None:
        with self._lock:
            for sid in [s for s, r in self._records.items() if r.worker_sid == worker_sid]:
                del self._records[sid]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _expire(self) -> None:
        now = self.clock()
        for record in self._records.values():
            if record.status == PENDING and record.expires_at and now >= record.expires_at:
                record.status, record.date_updated = TIMEOUT, record.expires_at


def reservation_json(record: ReservationRecord, account_sid: str, base: str) -> dict[str, object]:
    """A ``taskrouter.v1.workspace.worker.worker_reservation``."""
    ws_url = f"{base}/v1/Workspaces/{record.workspace_sid}"
    worker_url = f"{ws_url}/Workers/{record.worker_sid}"
    return {
        "account_sid": account_sid,
        "date_created": iso(record.date_created),
        "date_updated": iso(record.date_updated),
        "reservation_status": record.status,
        "sid": record.sid,
        "task_sid": record.task_sid,
        "worker_name": record.worker_name,
        "worker_sid": record.worker_sid,
        "workspace_sid": record.workspace_sid,
        "url": f"{worker_url}/Reservations/{record.sid}",
        "links": {"workspace": ws_url, "worker": worker_url},
    }


def reservation_routes(
    reservations: Reservations,
    account_sid: str,
    check: Callable[[Request], tuple[str, str]],
    base: Callable[[Request], str],
    form: Callable[[Request], Awaitable[dict[str, str]]],
) -> list[Route]:
    """``/v1/Workspaces/{ws}/Workers/{sid}/Reservations[/{rsid}]``.

    ``check(request) -> (ws, worker_sid)`` validates the path (404 for an unknown worker),
    ``base(request)`` gives the host for URLs, ``form(request)`` the form-encoded body.
    """

    def one(request: Request) -> tuple[str, str]:
        _ws, worker_sid = check(request)
        sid = str(request.path_params["rsid"])
        if not (sid.startswith("WR") and len(sid) == 34):
            raise not_found(request.url.path)
        return worker_sid, sid

    async def list_reservations(request: Request) -> Response:
        ws, worker_sid = check(request)
        status = request.query_params.get("ReservationStatus")
        found = reservations.of_worker(worker_sid, status)
        url = f"{base(request)}/v1/Workspaces/{ws}/Workers/{worker_sid}/Reservations"
        filters = [] if status is None else [("ReservationStatus", status)]
        page = paginate(
            InOrder(found, ReservationRecord.sort_key),
            ReservationRecord.sort_key,
            PageRequest.from_query(request.query_params),
            key="reservations",
            list_url=url,
            filters=filters,
            render=lambda r: reservation_json(r, account_sid, base(request)),
        )
        return JSONResponse(page)

    async def fetch_reservation(request: Request) -> Response:
        record = reservations.get(*one(request))
        return JSONResponse(reservation_json(record, account_sid, base(request)))

    async def update_reservation(request: Request) -> Response:
        worker_sid, sid = one(request)
        status = (await form(request)).get("ReservationStatus")
        record = reservations.update(worker_sid, sid, status)
        return JSONResponse(reservation_json(record, account_sid, base(request)))

    path = "/v1/Workspaces/{ws}/Workers/{sid}/Reservations"
    return [
        Route(path, list_reservations, methods=["GET"], name="reservations.list"),
        Route(f"{path}/{{rsid}}", fetch_reservation, methods=["GET"], name="reservation.fetch"),
        Route(f"{path}/{{rsid}}", update_reservation, methods=["POST"], name="reservation.update"),
    ]
