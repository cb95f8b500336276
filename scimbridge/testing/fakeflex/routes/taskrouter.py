"""TaskRouter v1 routes of the fake Flex server (Workspaces, Activities, Workers, a worker's
Reservations).

Does: map the live API's paths and form-encoded parameters onto :class:`FakeFlexState`, ignore
unknown parameters, validate SID path patterns (a bad SID is 404/20404 like an unknown one), return
the live status codes (create 201, fetch/update 200, delete 204 with an empty body, list 200) with
``ETag: "<revision>"`` on worker create/fetch/update, and apply the TargetWorkersExpression subset
with its 3 requests/second limit.

Does not: authenticate, record, add rate-limit headers or inject faults (``app`` wraps
every route with that).
"""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.recording import decode_body
from scimbridge.testing.fakeflex.records import (
    TRUE_WORDS,
    Activity,
    FakeApiError,
    WorkerQuery,
    WorkerRecord,
    not_found,
)
from scimbridge.testing.fakeflex.render import (
    InOrder,
    PageRequest,
    activity_json,
    paginate,
    worker_json,
    workspace_json,
)
from scimbridge.testing.fakeflex.reservations import reservation_routes
from scimbridge.testing.fakeflex.target_expression import evaluate

PAGING = frozenset({"PageSize", "Page", "PageToken"})
WORKER_FILTERS = {
    "FriendlyName": "friendly_name",
    "ActivitySid": "activity_sid",
    "ActivityName": "activity_name",
    "Available": "available",
    "TaskQueueSid": "task_queue_sid",
    "TaskQueueName": "task_queue_name",
}


def sid_of(request: Request, name: str, prefix: str) -> str:
    """A path SID matching ``^<prefix>[0-9a-fA-F]{32}$``, else 404/20404 for the whole path."""
    value = str(request.path_params[name])
    if re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value) is None:
        raise not_found(request.url.path)
    return value


def base_url(request: Request, configured: str | None) -> str:
    """The host for absolute URLs: the configured one, else the address the client used."""
    return (configured or str(request.base_url)).rstrip("/")


async def form_of(request: Request) -> dict[str, str]:
    """Form fields of a form-encoded body (first value of repeated keys)."""
    form, _ = decode_body(request.headers.get("content-type", ""), await request.body())
    return form


def list_filters(request: Request) -> list[tuple[str, str]]:
    """The query parameters other than paging, in the order sent (for meta URLs)."""
    return [(k, v) for k, v in request.query_params.multi_items() if k not in PAGING]


def taskrouter_routes(state: FakeFlexState) -> list[Route]:
    """Starlette routes for ``/v1/Workspaces/...`` bound to ``state``."""

    def tr_base(request: Request) -> str:
        return base_url(request, state.options.taskrouter_base_url)

    def worker_response(request: Request, record: WorkerRecord, status: int = 200) -> Response:
        body = worker_json(record, state.activity_of(record), state.account_sid, tr_base(request))
        return JSONResponse(body, status, headers={"ETag": f'"{record.revision}"'})

    async def fetch_workspace(request: Request) -> Response:
        workspace = state.workspace(sid_of(request, "ws", "WS"))
        return JSONResponse(workspace_json(workspace, state.account_sid, tr_base(request)))

    async def list_activities(request: Request) -> Response:
        ws = sid_of(request, "ws", "WS")
        paging = PageRequest.from_query(request.query_params)
        found = state.activities(ws, request.query_params.get("FriendlyName"))
        available = request.query_params.get("Available")
        if available is not None:
            found = [a for a in found if a.available == (available.lower() in TRUE_WORDS)]
        page = paginate(
            InOrder(found, activity_key),
            activity_key,
            paging,
            key="activities",
            list_url=f"{tr_base(request)}/v1/Workspaces/{ws}/Activities",
            filters=list_filters(request),
            render=lambda a: activity_json(a, state.account_sid, tr_base(request)),
        )
        return JSONResponse(page)

    async def fetch_activity(request: Request) -> Response:
        ws = sid_of(request, "ws", "WS")
        activity = state.activity(ws, sid_of(request, "sid", "WA"))
        return JSONResponse(activity_json(activity, state.account_sid, tr_base(request)))

    async def create_worker(request: Request) -> Response:
        ws = sid_of(request, "ws", "WS")
        form = await form_of(request)
        record = state.create_worker(
            form.get("FriendlyName"),
            attributes=form.get("Attributes"),
            activity_sid=form.get("ActivitySid"),
            workspace_sid=ws,
        )
        return worker_response(request, record, 201)

    async def fetch_worker(request: Request) -> Response:
        ws, sid = sid_of(request, "ws", "WS"), sid_of(request, "sid", "WK")
        return worker_response(request, state.get_worker(sid, workspace_sid=ws))

    async def update_worker(request: Request) -> Response:
        ws, sid = sid_of(request, "ws", "WS"), sid_of(request, "sid", "WK")
        form = await form_of(request)
        reject = form.get("RejectPendingReservations")
        record = state.update_worker(
            sid,
            workspace_sid=ws,
            friendly_name=form.get("FriendlyName"),
            attributes=form.get("Attributes"),
            activity_sid=form.get("ActivitySid"),
            reject_pending_reservations=None if reject is None else reject.lower() == "true",
            if_match=request.headers.get("if-match"),
        )
        return worker_response(request, record)

    async def delete_worker(request: Request) -> Response:
        ws, sid = sid_of(request, "ws", "WS"), sid_of(request, "sid", "WK")
        state.delete_worker(sid, workspace_sid=ws, if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    async def list_workers(request: Request) -> Response:
        ws = sid_of(request, "ws", "WS")
        params = request.query_params
        paging = PageRequest.from_query(params)
        query = WorkerQuery(**{f: params[p] for p, f in WORKER_FILTERS.items() if p in params})
        expression = params.get("TargetWorkersExpression")
        where = None
        if expression is not None:
            if not state.faults.allow_expression_query(state.options.target_workers_expression_rps):
                raise FakeApiError(429, 20429, "Too many requests")

            def where(record: WorkerRecord) -> bool:
                return evaluate(expression, expression_subject(state, record))

        null_attributes = state.options.null_list_attributes
        base = tr_base(request)
        with state.lock:  # one page, read from the workers as they are now
            page = paginate(
                state.listing(query, workspace_sid=ws, where=where),
                WorkerRecord.sort_key,
                paging,
                key="workers",
                list_url=f"{base}/v1/Workspaces/{ws}/Workers",
                filters=list_filters(request),
                render=lambda w: worker_json(
                    w, state.activity_of(w), state.account_sid, base, attributes=not null_attributes
                ),
            )
        return JSONResponse(page)

    def reserved_worker(request: Request) -> tuple[str, str]:
        ws, sid = sid_of(request, "ws", "WS"), sid_of(request, "sid", "WK")
        state.get_worker(sid, workspace_sid=ws)  # 404 for a worker that is not there
        return ws, sid

    prefix = "/v1/Workspaces/{ws}"
    return [
        *reservation_routes(
            state.reservations, state.account_sid, reserved_worker, tr_base, form_of
        ),
        Route(prefix, fetch_workspace, methods=["GET"], name="workspace.fetch"),
        Route(f"{prefix}/Activities", list_activities, methods=["GET"], name="activities.list"),
        Route(
            f"{prefix}/Activities/{{sid}}", fetch_activity, methods=["GET"], name="activity.fetch"
        ),
        Route(f"{prefix}/Workers", list_workers, methods=["GET"], name="workers.list"),
        Route(f"{prefix}/Workers", create_worker, methods=["POST"], name="workers.create"),
        Route(f"{prefix}/Workers/{{sid}}", fetch_worker, methods=["GET"], name="worker.fetch"),
        Route(f"{prefix}/Workers/{{sid}}", update_worker, methods=["POST"], name="worker.update"),
        Route(f"{prefix}/Workers/{{sid}}", delete_worker, methods=["DELETE"], name="worker.delete"),
    ]


def activity_key(activity: Activity) -> tuple[str, str]:
    return (activity.date_created.isoformat(), activity.sid)


def expression_subject(state: FakeFlexState, record: WorkerRecord) -> dict[str, object]:
    """What a TargetWorkersExpression sees: the attributes plus the built-in worker keys."""
    subject: dict[str, object] = dict(json.loads(record.attributes))
    subject.update(
        sid=record.sid,
        friendly_name=record.friendly_name,
        activity_sid=record.activity_sid,
        activity_name=state.activity_of(record).friendly_name,
    )
    return subject
