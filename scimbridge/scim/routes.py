"""The SCIM endpoints: /Users, /Groups and discovery, with and without a trailing slash.

Endpoint names match in any case (``/users``, ``/GROUPS``), as Microsoft's reference server and
test suites expect; ids, and the ``/scim/v2`` prefix, are matched as sent.

Does: authenticate each request (401, or 429 while an address cools down), route it to the
/Users (``scim.user_routes``) or /Groups (``scim.group_routes``) endpoints or answer discovery
(``scim.discovery``), and turn every refusal into an RFC 7644 §3.12 body.
Does not: read bodies or touch the directory itself, parse the Entra dialect, or call Twilio.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from scim2_models import NotFoundException, NotImplementedException, SCIMException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scimbridge.config.settings import Limits
from scimbridge.scim import discovery
from scimbridge.scim.auth import Authenticator, Principal
from scimbridge.scim.errors import from_scim_exception, from_store_error
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.group_routes import GroupApi
from scimbridge.scim.http import list_response, scim_response
from scimbridge.scim.resource_api import base_url
from scimbridge.scim.user_routes import UserApi
from scimbridge.store.directory import Directory
from scimbridge.store.errors import StoreError

log = logging.getLogger("scimbridge.scim")
Handler = Callable[[Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class _CaselessRoute(Route):
    """A route whose fixed path segments match in any case, with or without a trailing slash;
    path parameters keep their case. It answers each of its methods with that method's handler.

    RFC 7644 §3.2 names the endpoints but no client needs two that differ only in case, and
    Microsoft's Postman collection sends ``GET /users``. One route per path, not per method
    and slash: Starlette tries routes in order, and every route tried costs a regex match.
    """

    def __init__(self, path: str, endpoints: dict[str, Endpoint]) -> None:
        by_method = dict(endpoints)
        if "GET" in by_method:
            by_method.setdefault("HEAD", by_method["GET"])  # as Starlette allows HEAD with GET

        async def endpoint(request: Request) -> Response:
            return await by_method[request.method](request)

        super().__init__(path, endpoint, methods=list(by_method))
        pattern = self.path_regex.pattern.removesuffix("$") + "/?$"
        self.path_regex = re.compile(pattern, self.path_regex.flags | re.IGNORECASE)


class ScimApi:
    """The SCIM protocol over HTTP, bound to one directory and one set of resource models.

    ``limits`` (``[scim.limits]``) bound every request and are advertised by discovery; they
    are all of the settings the endpoints read.
    """

    def __init__(
        self,
        limits: Limits,
        directory: Directory,
        models: ResourceModels,
        authenticator: Authenticator,
    ) -> None:
        self.limits = limits
        self.models = models
        self.authenticator = authenticator
        self.users = UserApi(limits, directory, models)
        self.groups = GroupApi(limits, directory, models)

    # -- plumbing ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        # Entra's paths first. A request whose path matches a route without its method goes on
        # looking (POST /Users/.search is not a POST of user ".search"); a path matched by no
        # route with its method is answered 405.
        table: dict[str, dict[str, Handler]] = {
            "/Users/{id}": {
                "GET": self.users.get_user,
                "PUT": self.users.replace_user,
                "PATCH": self.users.patch_user,
                "DELETE": self.users.delete_user,
            },
            "/Users": {"GET": self.users.list_users, "POST": self.users.create_user},
            "/Groups/{id}": {
                "GET": self.groups.get_group,
                "PUT": self.groups.replace_group,
                "PATCH": self.groups.patch_group,
                "DELETE": self.groups.delete_group,
            },
            "/Groups": {"GET": self.groups.list_groups, "POST": self.groups.create_group},
            "/.search": {"POST": self.search_everything},
            "/Users/.search": {"POST": self.users.search_users},
            "/Groups/.search": {"POST": self.groups.search_groups},
            "/ServiceProviderConfig": {"GET": self.service_provider_config},
            "/Schemas": {"GET": self.schemas},
            "/Schemas/{id}": {"GET": self.schema},
            "/ResourceTypes": {"GET": self.resource_types},
            "/ResourceTypes/{id}": {"GET": self.resource_type},
        }
        return [
            _CaselessRoute(
                path, {method: self._guard(handler) for method, handler in handlers.items()}
            )
            for path, handlers in table.items()
        ]

    def _guard(self, handler: Handler) -> Endpoint:
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
        return scim_response(discovery.service_provider_config(self.limits, base_url(request)))

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
