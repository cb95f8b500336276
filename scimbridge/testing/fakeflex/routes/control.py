"""Test-control routes of the fake Flex server, under ``/__fake__``.

Does: let a test in another process drive the fake over HTTP: inspect it (``GET info``,
``workers``, ``users``, ``requests``), inject and clear faults and latency, switch options,
simulate an SSO login, add a workspace, and reset. Routes (all JSON):

- ``GET /__fake__/health`` → ``{"ok": true}``
- ``GET /__fake__/info`` → account, workspace, Flex instance and activity SIDs (never the token)
- ``GET|POST|DELETE /__fake__/faults``, ``DELETE /__fake__/faults/{id}``: body = Fault fields
- ``GET|PUT|DELETE /__fake__/latency``: ``PUT {"seconds": 0.05, "route": "*"}``
- ``GET|PATCH /__fake__/options``: body = :class:`FakeFlexOptions` fields to change
- ``GET|DELETE /__fake__/requests`` (``?route=worker.update`` to filter)
- ``GET /__fake__/workers`` (worker JSON plus ``revision``), ``GET /__fake__/users``
- ``POST /__fake__/sso-login {"username", "claims"}`` → the worker JSON
- ``GET /__fake__/reservations``; ``POST /__fake__/reservations {"worker_sid", "timeout"}``: a
  task reserves the worker (pending; ``timeout`` seconds, absent or null: never times out)
- ``POST /__fake__/workspaces {"friendly_name"}`` → ``{"sid"}``; ``POST /__fake__/reset``

Does not: require credentials or get recorded, faulted or delayed; it is meant for loopback tests.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.faults import Fault
from scimbridge.testing.fakeflex.records import invalid
from scimbridge.testing.fakeflex.render import worker_json
from scimbridge.testing.fakeflex.reservations import reservation_json
from scimbridge.testing.fakeflex.routes.flexapi import flex_user_v4_json


async def _json(request: Request) -> dict[str, object]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise invalid("control request body must be JSON") from None
    if not isinstance(body, dict):
        raise invalid("control request body must be a JSON object")
    return body


def control_routes(state: FakeFlexState) -> list[Route]:
    """Routes to mount at ``/__fake__`` for ``state``."""

    def base(request: Request) -> str:
        return (state.options.taskrouter_base_url or str(request.base_url)).rstrip("/")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def info(request: Request) -> Response:
        ws = state.workspace_sid
        activities = {a.friendly_name: a.sid for a in state.activities(ws)} if ws else {}
        return JSONResponse(
            {
                "account_sid": state.account_sid,
                "workspace_sid": ws,
                "workspace_sids": state.workspace_sids(),
                "flex_instance_sid": state.flex_instance_sid,
                "activities": activities,
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
        elif request.method == "POST":
            try:
                rule_id = state.faults.add(Fault.from_json(await _json(request)))
            except ValueError as exc:
                raise invalid(str(exc)) from None
            return JSONResponse({"id": rule_id}, 201)
        return JSONResponse({"faults": state.faults.rules(), "latency": state.faults.latency()})

    async def remove_fault(request: Request) -> Response:
        state.faults.remove(int(request.path_params["id"]))
        return Response(status_code=204)

    async def latency(request: Request) -> Response:
        if request.method == "DELETE":
            for glob in state.faults.latency():
                state.faults.set_latency(0, glob)
        elif request.method == "PUT":
            body = await _json(request)
            seconds, route_glob = body.get("seconds"), body.get("route", "*")
            if (
                not isinstance(seconds, int | float)
                or not isinstance(route_glob, str)
                or seconds < 0
            ):
                raise invalid("latency needs seconds (>= 0) and an optional route glob")
            state.faults.set_latency(float(seconds), route_glob)
        return JSONResponse({"latency": state.faults.latency()})

    async def options(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                state.set_options(**await _json(request))
            except (KeyError, TypeError) as exc:
                raise invalid(f"bad option: {exc}") from None
        return JSONResponse(state.options.as_dict())

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            state.requests.clear()
            return Response(status_code=204)
        recorded = state.requests.all(request.query_params.get("route"))
        return JSONResponse({"requests": [r.as_dict() for r in recorded]})

    async def workers(request: Request) -> Response:
        dump = []
        for ws in state.workspace_sids():
            for record in state.workers(ws):
                rendered = worker_json(
                    record, state.activity_of(record), state.account_sid, base(request)
                )
                dump.append({**rendered, "revision": record.revision})
        return JSONResponse({"workers": dump})

    async def users(request: Request) -> Response:
        flex_base = (state.options.flex_base_url or str(request.base_url)).rstrip("/")
        return JSONResponse({"users": [flex_user_v4_json(u, flex_base) for u in state.users.all()]})

    async def sso_login(request: Request) -> Response:
        body = await _json(request)
        username, claims = body.get("username"), body.get("claims", {})
        if not isinstance(username, str) or not isinstance(claims, dict):
            raise invalid("sso-login needs a username string and a claims object")
        for name, value in claims.items():
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
            if not ok:
                raise invalid(f"claim {name} must be a string or a list of strings")
        record = state.sso_login(username, claims)
        rendered = worker_json(record, state.activity_of(record), state.account_sid, base(request))
        return JSONResponse(rendered, headers={"ETag": f'"{record.revision}"'})

    async def reservations(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            worker_sid, timeout = body.get("worker_sid"), body.get("timeout")
            if not isinstance(worker_sid, str) or not (
                timeout is None or (isinstance(timeout, int | float) and timeout > 0)
            ):
                raise invalid("reservations needs a worker_sid and an optional timeout > 0")
            sid = state.offer_reservation(worker_sid, None if timeout is None else float(timeout))
            return JSONResponse({"sid": sid}, 201)
        rendered = [
            reservation_json(r, state.account_sid, base(request)) for r in state.reservations.all()
        ]
        return JSONResponse({"reservations": rendered})

    async def workspaces(request: Request) -> Response:
        name = (await _json(request)).get("friendly_name", "Flex Task Assignment")
        if not isinstance(name, str):
            raise invalid("friendly_name must be a string")
        return JSONResponse({"sid": state.add_workspace(name)}, 201)

    async def reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/faults/{id:int}", remove_fault, methods=["DELETE"]),
        Route("/latency", latency, methods=["GET", "PUT", "DELETE"]),
        Route("/options", options, methods=["GET", "PATCH"]),
        Route("/requests", requests, methods=["GET", "DELETE"]),
        Route("/workers", workers, methods=["GET"]),
        Route("/users", users, methods=["GET"]),
        Route("/sso-login", sso_login, methods=["POST"]),
        Route("/reservations", reservations, methods=["GET", "POST"]),
        Route("/workspaces", workspaces, methods=["POST"]),
        Route("/reset", reset, methods=["POST"]),
    ]
