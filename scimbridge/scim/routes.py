"""The SCIM endpoints: /Users, /Groups and discovery, with and without a trailing slash.

Endpoint names match in any case (``/users``, ``/GROUPS``), as Microsoft's reference server and
test suites expect; ids, and the ``/scim/v2`` prefix, are matched as sent.

Does: authenticate each request (401, or 429 while an address cools down), route it to the
/Users (``scim.user_routes``) or /Groups (``scim.group_routes``) endpoints or answer discovery
(``scim.discovery``), and turn every refusal into an RFC 7644 §3.12 body.
Does not: read bodies or touch the repository itself, parse the Entra dialect, or call Twilio.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from scim2_models import NotFoundException, NotImplementedException, SCIMException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scimbridge.config.settings import Settings
from scimbridge.scim import discovery
from scimbridge.scim.auth import Authenticator, Principal
from scimbridge.scim.errors import from_scim_exception, from_store_error
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.group_routes import GroupApi
from scimbridge.scim.http import list_response, scim_response
from scimbridge.scim.resource_api import base_url
from scimbridge.scim.user_routes import UserApi
from scimbridge.store.errors import StoreError
from scimbridge.store.repository import Repository

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
        self.models = models
        self.authenticator = authenticator
        self.users = UserApi(settings, repository, models)
        self.groups = GroupApi(settings, repository, models)

    # -- plumbing ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/.search", self.search_everything, ["POST"]),
            ("/Users/.search", self.users.search_users, ["POST"]),
            ("/Groups/.search", self.groups.search_groups, ["POST"]),
            ("/Users", self.users.list_users, ["GET"]),
            ("/Users", self.users.create_user, ["POST"]),
            ("/Users/{id}", self.users.get_user, ["GET"]),
            ("/Users/{id}", self.users.replace_user, ["PUT"]),
            ("/Users/{id}", self.users.patch_user, ["PATCH"]),
            ("/Users/{id}", self.users.delete_user, ["DELETE"]),
            ("/Groups", self.groups.list_groups, ["GET"]),
            ("/Groups", self.groups.create_group, ["POST"]),
            ("/Groups/{id}", self.groups.get_group, ["GET"]),
            ("/Groups/{id}", self.groups.replace_group, ["PUT"]),
            ("/Groups/{id}", self.groups.patch_group, ["PATCH"]),
            ("/Groups/{id}", self.groups.delete_group, ["DELETE"]),
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

    async def search_everything(self, request: Request, principal: Principal) -> Response:
        raise NotImplementedException(
            detail="search one resource type at a time: POST /Users/.search or /Groups/.search"
        )

    # -- discovery -----------------------------------------------------------------------------

    async def service_provider_config(self, request: Request, principal: Principal) -> Response:
        return scim_response(discovery.service_provider_config(self.settings, base_url(request)))

    async def schemas(self, request: Request, principal: Principal) -> Response:
        resources = discovery.schemas(self.models, base_url(request))
        return list_response(resources, len(resources), 1)

    async def schema(self, request: Request, principal: Principal) -> Response:
        wanted = request.path_params["id"].lower()
        for resource in discovery.schemas(self.models, base_url(request)):
            if str(resource["id"]).lower() == wanted:
                return scim_response(resource)
        raise NotFoundException(detail=f"no schema {request.path_params['id']}")

    async def resource_types(self, request: Request, principal: Principal) -> Response:
        resources = discovery.resource_types(self.models, base_url(request))
        return list_response(resources, len(resources), 1)

    async def resource_type(self, request: Request, principal: Principal) -> Response:
        wanted = request.path_params["id"].lower()
        for resource in discovery.resource_types(self.models, base_url(request)):
            if str(resource["id"]).lower() == wanted:
                return scim_response(resource)
        raise NotFoundException(detail=f"no resource type {request.path_params['id']}")
