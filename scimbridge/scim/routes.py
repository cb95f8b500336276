"""The SCIM endpoints: /Users, /Groups and discovery, with and without a trailing slash.

Endpoint names match in any case (``/users``, ``/GROUPS``), as Microsoft's reference server and
test suites expect; ids, and the ``/scim/v2`` prefix, are matched as sent.

Does: authenticate each request, hand bodies to ``scim.documents`` and rows to the repository,
and answer with the status codes Entra expects (201 + Location on POST, 200 + body on user PATCH,
204 on group PATCH and DELETE, 304/412 for ETags). Every refusal is an RFC 7644 §3.12 body.
Does not: parse the Entra dialect (``scim.dialect``), build SQL (``store.filters``), or call Twilio.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from scim2_models import NotFoundException, NotImplementedException, SCIMException
from sqlalchemy import ColumnElement
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scimbridge.config import Settings
from scimbridge.scim import discovery, documents
from scimbridge.scim.auth import Authenticator, Principal
from scimbridge.scim.errors import from_scim_exception, from_store_error
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.http import (
    ListParams,
    etag,
    list_params,
    list_response,
    parse_etags,
    read_json,
    scim_response,
    search_query,
)
from scimbridge.scim.store_calls import StoreCalls
from scimbridge.store import filters
from scimbridge.store.errors import StoreError
from scimbridge.store.repository import Repository, StoredResource
from scimbridge.store.tables import users

log = logging.getLogger("scimbridge.scim")
Handler = Callable[[Request, Principal], Awaitable[Response]]


class _CaselessRoute(Route):
    """A route whose fixed path segments match in any case; path parameters keep their case.

    RFC 7644 §3.2 names the endpoints but no client needs two that differ only in case, and
    Microsoft's Postman collection sends ``GET /users``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], *, methods: list[str]) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.path_regex = re.compile(self.path_regex.pattern, self.path_regex.flags | re.IGNORECASE)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class ScimApi:
    """The SCIM protocol over HTTP, bound to one repository and one set of resource models."""

    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        models: ResourceModels,
        authenticator: Authenticator,
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.repository = repository
        self.calls = StoreCalls(repository)
        self.models = models
        self.authenticator = authenticator
        self.dialect = repository.engine.dialect.name

    # -- plumbing ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/.search", self.search_everything, ["POST"]),
            ("/Users/.search", self.search_users, ["POST"]),
            ("/Groups/.search", self.search_groups, ["POST"]),
            ("/Users", self.list_users, ["GET"]),
            ("/Users", self.create_user, ["POST"]),
            ("/Users/{id}", self.get_user, ["GET"]),
            ("/Users/{id}", self.replace_user, ["PUT"]),
            ("/Users/{id}", self.patch_user, ["PATCH"]),
            ("/Users/{id}", self.delete_user, ["DELETE"]),
            ("/Groups", self.list_groups, ["GET"]),
            ("/Groups", self.create_group, ["POST"]),
            ("/Groups/{id}", self.get_group, ["GET"]),
            ("/Groups/{id}", self.replace_group, ["PUT"]),
            ("/Groups/{id}", self.patch_group, ["PATCH"]),
            ("/Groups/{id}", self.delete_group, ["DELETE"]),
            ("/ServiceProviderConfig", self.service_provider_config, ["GET"]),
            ("/Schemas", self.schemas, ["GET"]),
            ("/Schemas/{id}", self.schema, ["GET"]),
            ("/ResourceTypes", self.resource_types, ["GET"]),
            ("/ResourceTypes/{id}", self.resource_type, ["GET"]),
        ]
        routes: list[BaseRoute] = []
        for path, handler, methods in table:
            endpoint = self._guard(handler)
            routes.append(_CaselessRoute(path, endpoint, methods=methods))
            routes.append(_CaselessRoute(path + "/", endpoint, methods=methods))
        return routes

    def _guard(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # 401, or 429 while this address cools down; a cached token needs no thread hop.
            principal = await self.authenticator.admit(request)
            if isinstance(principal, Response):
                return principal
            request.state.principal = principal.name
            try:
                return await handler(request, principal)
            except SCIMException as exc:
                return from_scim_exception(exc)
            except StoreError as exc:
                return from_store_error(exc)

        return endpoint

    def base_url(self, request: Request) -> str:
        # Mounted at /scim/v2, so the root path already ends with it (behind any proxy prefix).
        root = request.scope.get("root_path", "")
        return f"{request.url.scheme}://{request.url.netloc}{root}"

    def _meta(self, request: Request, kind: str, stored: StoredResource) -> dict[str, Any]:
        endpoint = "Users" if kind == "User" else "Groups"
        return {
            "resourceType": kind,
            "created": _iso(stored.created_at),
            "lastModified": _iso(stored.updated_at),
            "location": f"{self.base_url(request)}/{endpoint}/{stored.id}",
            "version": etag(stored.version),
        }

    def _resource_headers(
        self, request: Request, kind: str, stored: StoredResource
    ) -> dict[str, str]:
        return {
            "ETag": etag(stored.version),
            "Location": self._meta(request, kind, stored)["location"],
        }

    @staticmethod
    def _if_match(request: Request) -> set[int] | None:
        return parse_etags(request.headers.get("if-match"))

    @staticmethod
    def _not_modified(request: Request, stored: StoredResource) -> bool:
        wanted = parse_etags(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match", "").strip() == "*":
            return True
        return wanted is not None and stored.version in wanted

    def _query(
        self, params: ListParams, to_where: Any, to_sort_key: Any, kind: str
    ) -> tuple[ColumnElement[bool] | None, ColumnElement[Any] | None]:
        """The SQL condition and ordering of a list request (``filter``, ``sortBy``)."""
        model = self.models.user_model if kind == "User" else self.models.group_model
        where = (
            to_where(
                params.filter,
                model,
                self.dialect,
                max_length=self.limits.max_filter_length,
                max_terms=self.limits.max_filter_terms,
            )
            if params.filter
            else None
        )
        if not params.sort_by:
            return where, None
        order = to_sort_key(params.sort_by, model, self.dialect)
        # Resources without the attribute sort last on both engines (RFC 7644 §3.4.2.3).
        return where, (order.desc() if params.descending else order.asc()).nulls_last()

    # -- users ---------------------------------------------------------------------------------

    def _render_user(
        self,
        request: Request,
        stored: StoredResource,
        attributes: list[str] | None = None,
        excluded: list[str] | None = None,
    ) -> dict[str, Any]:
        return documents.render_user(
            stored.document,
            id=stored.id,
            meta=self._meta(request, "User", stored),
            attributes=attributes,
            excluded=excluded,
            models=self.models,
        )

    async def create_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)

        def work() -> StoredResource:
            return self.repository.create_user(
                documents.create_user(body, self.models), actor=principal.name
            )

        stored = await self.calls.one_resource(work)
        return scim_response(
            self._render_user(request, stored),
            201,
            self._resource_headers(request, "User", stored),
        )

    async def get_user(self, request: Request, principal: Principal) -> Response:
        user_id = request.path_params["id"]
        stored = await self.calls.one_resource(lambda: self.repository.get_user(user_id))
        if self._not_modified(request, stored):
            return Response(status_code=304, headers={"ETag": etag(stored.version)})
        params = list_params(request.query_params, self.limits)
        return scim_response(
            self._render_user(request, stored, params.attributes, params.excluded_attributes),
            headers={"ETag": etag(stored.version)},
        )

    async def replace_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        stored = await self.calls.one_resource(
            lambda: self.repository.update_user(
                request.path_params["id"],
                lambda current: documents.replace_user(body, current, self.models),
                actor=principal.name,
                action="replace",
                if_match=self._if_match(request),
            )
        )
        return scim_response(
            self._render_user(request, stored), headers={"ETag": etag(stored.version)}
        )

    async def patch_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        documents.check_patch_size(body, self.limits.max_patch_operations)
        stored = await self.calls.one_resource(
            lambda: self.repository.update_user(
                request.path_params["id"],
                lambda current: documents.patch_user(body, current, self.models),
                actor=principal.name,
                action="patch",
                detail=documents.patch_summary(body),
                if_match=self._if_match(request),
            )
        )
        return scim_response(
            self._render_user(request, stored), headers={"ETag": etag(stored.version)}
        )

    async def delete_user(self, request: Request, principal: Principal) -> Response:
        await self.calls.one_resource(
            lambda: self.repository.delete_user(
                request.path_params["id"], actor=principal.name, if_match=self._if_match(request)
            )
        )
        return Response(status_code=204)

    async def search_everything(self, request: Request, principal: Principal) -> Response:
        raise NotImplementedException(
            detail="search one resource type at a time: POST /Users/.search or /Groups/.search"
        )

    async def search_users(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        return await self._list_users(request, search_query(body))

    async def list_users(self, request: Request, principal: Principal) -> Response:
        return await self._list_users(request, request.query_params)

    async def _list_users(self, request: Request, query: Mapping[str, str]) -> Response:
        params = list_params(query, self.limits)
        where, order = self._query(params, filters.user_filter, filters.user_sort_key, "User")

        def work() -> tuple[int, list[StoredResource]]:
            return self.repository.query_users(where, order, params.start_index - 1, params.count)

        # Entra's `userName eq "…"` before every create is an index lookup: run it as one
        # user's call; any other filter may scan the table.
        lookup = filters.is_index_lookup(where, users)
        total, rows = await (self.calls.one_resource if lookup else self.calls.unbounded)(work)
        resources = [
            self._render_user(request, row, params.attributes, params.excluded_attributes)
            for row in rows
        ]
        return list_response(resources, total, params.start_index)

    # -- groups --------------------------------------------------------------------------------

    def _wants_members(self, attributes: list[str] | None, excluded: list[str] | None) -> bool:
        if excluded and any(name.lower() == "members" for name in excluded):
            return False
        if attributes is not None:
            return any(name.lower().split(".")[0] == "members" for name in attributes)
        return True

    def _render_groups(
        self,
        request: Request,
        rows: list[StoredResource],
        attributes: list[str] | None,
        excluded: list[str] | None,
    ) -> list[dict[str, Any]]:
        members = (
            self.repository.group_members([row.id for row in rows])
            if self._wants_members(attributes, excluded)
            else None
        )
        return [
            documents.render_group(
                row.document,
                members[row.id] if members is not None else None,
                id=row.id,
                meta=self._meta(request, "Group", row),
                base_url=self.base_url(request),
                attributes=attributes,
                excluded=excluded,
                models=self.models,
            )
            for row in rows
        ]

    async def create_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)

        def work() -> dict[str, Any]:
            document, membership = documents.create_group(body, self.models)
            stored = self.repository.create_group(document, membership, actor=principal.name)
            return {"stored": stored, "body": self._render_groups(request, [stored], None, None)[0]}

        result = await self.calls.unbounded(work)
        stored = result["stored"]
        return scim_response(result["body"], 201, self._resource_headers(request, "Group", stored))

    async def get_group(self, request: Request, principal: Principal) -> Response:
        params = list_params(request.query_params, self.limits)

        def work() -> tuple[StoredResource, dict[str, Any]]:
            stored = self.repository.get_group(request.path_params["id"])
            rendered = self._render_groups(
                request, [stored], params.attributes, params.excluded_attributes
            )[0]
            return stored, rendered

        stored, rendered = await self.calls.unbounded(work)
        if self._not_modified(request, stored):
            return Response(status_code=304, headers={"ETag": etag(stored.version)})
        return scim_response(rendered, headers={"ETag": etag(stored.version)})

    async def replace_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)

        def work() -> tuple[StoredResource, dict[str, Any]]:
            stored = self.repository.update_group(
                request.path_params["id"],
                lambda current: documents.replace_group(body, current, self.models),
                actor=principal.name,
                action="replace",
                if_match=self._if_match(request),
            )
            return stored, self._render_groups(request, [stored], None, None)[0]

        stored, rendered = await self.calls.unbounded(work)
        return scim_response(rendered, headers={"ETag": etag(stored.version)})

    async def patch_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        documents.check_patch_size(body, self.limits.max_patch_operations)
        stored = await self.calls.unbounded(
            lambda: self.repository.update_group(
                request.path_params["id"],
                lambda current: documents.patch_group(body, current, self.models),
                actor=principal.name,
                action="patch",
                detail=documents.patch_summary(body),
                if_match=self._if_match(request),
            )
        )
        return Response(status_code=204, headers={"ETag": etag(stored.version)})

    async def delete_group(self, request: Request, principal: Principal) -> Response:
        await self.calls.unbounded(
            lambda: self.repository.delete_group(
                request.path_params["id"], actor=principal.name, if_match=self._if_match(request)
            )
        )
        return Response(status_code=204)

    async def search_groups(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        return await self._list_groups(request, search_query(body))

    async def list_groups(self, request: Request, principal: Principal) -> Response:
        return await self._list_groups(request, request.query_params)

    async def _list_groups(self, request: Request, query: Mapping[str, str]) -> Response:
        params = list_params(query, self.limits)
        where, order = self._query(params, filters.group_filter, filters.group_sort_key, "Group")

        def work() -> tuple[int, list[dict[str, Any]]]:
            total, rows = self.repository.query_groups(
                where, order, params.start_index - 1, params.count
            )
            return total, self._render_groups(
                request, rows, params.attributes, params.excluded_attributes
            )

        total, resources = await self.calls.unbounded(work)
        return list_response(resources, total, params.start_index)

    # -- discovery -----------------------------------------------------------------------------

    async def service_provider_config(self, request: Request, principal: Principal) -> Response:
        return scim_response(
            discovery.service_provider_config(self.settings, self.base_url(request))
        )

    async def schemas(self, request: Request, principal: Principal) -> Response:
        resources = discovery.schemas(self.models, self.base_url(request))
        return list_response(resources, len(resources), 1)

    async def schema(self, request: Request, principal: Principal) -> Response:
        wanted = request.path_params["id"].lower()
        for resource in discovery.schemas(self.models, self.base_url(request)):
            if str(resource["id"]).lower() == wanted:
                return scim_response(resource)
        raise NotFoundException(detail=f"no schema {request.path_params['id']}")

    async def resource_types(self, request: Request, principal: Principal) -> Response:
        resources = discovery.resource_types(self.models, self.base_url(request))
        return list_response(resources, len(resources), 1)

    async def resource_type(self, request: Request, principal: Principal) -> Response:
        wanted = request.path_params["id"].lower()
        for resource in discovery.resource_types(self.models, self.base_url(request)):
            if str(resource["id"]).lower() == wanted:
                return scim_response(resource)
        raise NotFoundException(detail=f"no resource type {request.path_params['id']}")
