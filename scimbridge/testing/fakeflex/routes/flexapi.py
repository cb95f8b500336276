"""Flex API routes of the fake Flex server: Configuration, v2 FlexUser, v4 Users API.

Does: serve ``GET /v1/Configuration`` (workspace, Offline activity and Flex instance SIDs), the v2
FlexUser fetch/update that ``client.flex_api.v2.flex_user(instance, sid)`` calls, and the v4 Users
API (``Provision`` and ``Deprovision`` with JSON bodies, list by ``Username``, fetch by SID), in the
shapes the Flex docs describe. Provision answers 201 when it created the user and 200 when it
updated one (the live codes are unconfirmed); Deprovision answers 204 with an empty body.

Does not: authenticate, record or inject faults (``app`` does), or emulate Flex Insights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.records import invalid
from scimbridge.testing.fakeflex.render import (
    PageRequest,
    decode_token,
    encode_token,
    iso,
)
from scimbridge.testing.fakeflex.routes.taskrouter import base_url, form_of, sid_of
from scimbridge.testing.fakeflex.users import FlexUserRecord


def flex_user_v2_json(user: FlexUserRecord, base: str) -> dict[str, object]:
    """A ``flex.v2.flex_user`` (the v2 OpenAPI schema's fields)."""
    return {
        "account_sid": user.account_sid,
        "instance_sid": user.instance_sid,
        "user_sid": user.user_sid,
        "flex_user_sid": user.sid,
        "worker_sid": user.worker_sid,
        "workspace_sid": user.workspace_sid,
        "flex_team_sid": user.flex_team_sid,
        "username": user.username,
        "email": user.email,
        "locale": user.locale,
        "roles": list(user.roles),
        "created_date": iso(user.created_date),
        "updated_date": iso(user.updated_date),
        "version": user.version,
        "url": f"{base}/v2/Instances/{user.instance_sid}/Users/{user.sid}",
    }


def flex_user_v4_json(user: FlexUserRecord, base: str) -> dict[str, object]:
    """A v4 Users API user (the Flex Users API page's fields)."""
    return {
        "flex_user_sid": user.sid,
        "account_sid": user.account_sid,
        "instance_sid": user.instance_sid,
        "flex_team_sid": user.flex_team_sid,
        "worker_sid": user.worker_sid,
        "workspace_sid": user.workspace_sid,
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "roles": list(user.roles),
        "locale": user.locale,
        "created_date": iso(user.created_date),
        "updated_date": iso(user.updated_date),
        "version": user.version,
        "deactivated": user.deactivated,
        "deactivated_date": iso(user.deactivated_date),
        "url": f"{base}/v4/Instances/{user.instance_sid}/Users/{user.sid}",
    }


async def json_object(request: Request) -> dict[str, object]:
    """The JSON object body the v4 endpoints expect, else 400/20001."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise invalid("Request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def _optional_str(body: Mapping[str, object], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value


def _roles(body: Mapping[str, object]) -> Sequence[str] | None:
    roles = body.get("roles")
    if roles is None:
        return None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise invalid("roles must be an array of strings")
    return roles


def flexapi_routes(state: FakeFlexState) -> list[Route]:
    """Routes for ``/v1/Configuration``, ``/v2/Instances/...`` and ``/v4/Instances/...``."""
    users = state.users

    def flex_base(request: Request) -> str:
        return base_url(request, state.options.flex_base_url)

    async def fetch_configuration(request: Request) -> Response:
        ws = state.workspace_sid
        base = flex_base(request)
        return JSONResponse(
            {
                "account_sid": state.account_sid,
                "date_created": iso(state.workspace(ws).date_created) if ws else None,
                "date_updated": iso(state.workspace(ws).date_created) if ws else None,
                "attributes": {},
                "status": "ok",
                "taskrouter_workspace_sid": ws,
                "taskrouter_offline_activity_sid": state.activity_sid("Offline", ws)
                if ws
                else None,
                "taskrouter_target_workflow_sid": None,
                "taskrouter_target_taskqueue_sid": None,
                "flex_instance_sid": state.flex_instance_sid,
                "flex_service_instance_sid": None,
                "service_version": "1.0",
                "ui_version": request.query_params.get("UiVersion", "2.x"),
                "url": f"{base}/v1/Configuration",
            }
        )

    async def fetch_flex_user(request: Request) -> Response:
        instance, sid = sid_of(request, "go", "GO"), sid_of(request, "sid", "FU")
        user = users.get(sid, instance_sid=instance)
        return JSONResponse(flex_user_v2_json(user, flex_base(request)))

    async def update_flex_user(request: Request) -> Response:
        instance, sid = sid_of(request, "go", "GO"), sid_of(request, "sid", "FU")
        form = await form_of(request)
        user = users.update(
            sid,
            email=form.get("Email"),
            user_sid=form.get("UserSid"),
            locale=form.get("Locale"),
            instance_sid=instance,
        )
        return JSONResponse(flex_user_v2_json(user, flex_base(request)))

    async def provision(request: Request) -> Response:
        instance = sid_of(request, "go", "GO")
        body = await json_object(request)
        username = body.get("username")
        if not isinstance(username, str):
            raise invalid("Missing required parameter username")
        worker = body.get("worker")
        if not isinstance(worker, dict):
            raise invalid("Missing required parameter worker (an object)")
        attributes = worker.get("attributes", {})
        if not isinstance(attributes, dict):
            raise invalid("worker.attributes must be an object")
        user, created = users.provision(
            username,
            email=_optional_str(body, "email"),
            full_name=_optional_str(body, "full_name"),
            roles=_roles(body),
            locale=_optional_str(body, "locale"),
            worker_attributes=attributes,
            instance_sid=instance,
        )
        rendered = flex_user_v4_json(user, flex_base(request))
        rendered["worker"] = {"worker_sid": user.worker_sid, "workspace_sid": user.workspace_sid}
        return JSONResponse(rendered, 201 if created else 200)

    async def deprovision(request: Request) -> Response:
        instance = sid_of(request, "go", "GO")
        sid = (await json_object(request)).get("flex_user_sid")
        if not isinstance(sid, str):
            raise invalid("Missing required parameter flex_user_sid")
        users.deprovision(sid, instance_sid=instance)
        return Response(status_code=204)

    async def list_users(request: Request) -> Response:
        instance = sid_of(request, "go", "GO")
        users.check_instance(instance)
        paging = PageRequest.from_query(request.query_params)
        username = request.query_params.get("Username")
        found = [
            u
            for u in users.all()
            if username is None or u.username.casefold() == username.casefold()
        ]
        start = 0
        if paging.token is not None:
            _, cursor = decode_token(paging.token)
            start = next((i for i, u in enumerate(found) if _key(u) > cursor), len(found))
        chosen = found[start : start + paging.page_size]
        more = start + paging.page_size < len(found)
        return JSONResponse(
            {
                "users": [flex_user_v4_json(u, flex_base(request)) for u in chosen],
                "meta": {
                    "list_key": "users",
                    "next_token": encode_token("after", _key(chosen[-1])) if more else None,
                    "previous_token": None,
                    "page_size": paging.page_size,
                    "direct_token": None,
                },
            }
        )

    async def fetch_user(request: Request) -> Response:
        instance, sid = sid_of(request, "go", "GO"), sid_of(request, "sid", "FU")
        return JSONResponse(
            flex_user_v4_json(users.get(sid, instance_sid=instance), flex_base(request))
        )

    v2, v4 = "/v2/Instances/{go}/Users/{sid}", "/v4/Instances/{go}/Users"
    return [
        Route(
            "/v1/Configuration", fetch_configuration, methods=["GET"], name="configuration.fetch"
        ),
        Route(v2, fetch_flex_user, methods=["GET"], name="flex_user.fetch"),
        Route(v2, update_flex_user, methods=["POST"], name="flex_user.update"),
        Route(f"{v4}/Provision", provision, methods=["POST"], name="users.provision"),
        Route(f"{v4}/Deprovision", deprovision, methods=["POST"], name="users.deprovision"),
        Route(v4, list_users, methods=["GET"], name="users.list"),
        Route(f"{v4}/{{sid}}", fetch_user, methods=["GET"], name="users.fetch"),
    ]


def _key(user: FlexUserRecord) -> tuple[str, str]:
    return (user.created_date.isoformat(), user.sid)
