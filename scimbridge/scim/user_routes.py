"""The /Users endpoints: create, read, replace, patch, delete, list and search users.

Does: hand bodies to ``scim.documents`` (PATCH bodies read once by ``scim.patch_body``) and
documents to the directory, and answer as Entra expects (201 + Location on POST, 200 + body on
PATCH, 204 on DELETE, 304/412 for ETags); run one user's store call on the event loop where it
cannot wait (``scim.store_calls``), lists that may scan in the thread pool.
Does not: authenticate (``scim.routes`` does, for every endpoint), parse the Entra dialect
(``scim.dialect``), build SQL (``store.directory``), or call Twilio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim import documents, patch_body, rendering
from scimbridge.scim.auth import Principal
from scimbridge.scim.http import (
    ListParams,
    list_params,
    list_response,
    read_json,
    search_query,
)
from scimbridge.scim.name_filter import user_name_equal_to
from scimbridge.scim.resource_api import ResourceApi
from scimbridge.store.resources import StoredResource


class UserApi(ResourceApi):
    """The /Users endpoints over one directory and one set of resource models."""

    def _render_user(
        self,
        request: Request,
        stored: StoredResource,
        attributes: list[str] | None = None,
        excluded: list[str] | None = None,
    ) -> dict[str, Any]:
        return rendering.render_user(
            stored.document,
            id=stored.id,
            meta=self._meta(request, "User", stored),
            attributes=attributes,
            excluded=excluded,
        )

    async def create_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        stored = await self.calls.create_user(
            lambda: documents.create_user(body, self.models), actor=principal.name
        )
        return self._created(request, "User", stored, self._render_user(request, stored))

    async def get_user(self, request: Request, principal: Principal) -> Response:
        stored = await self.calls.get_user(request.path_params["id"])

        def render() -> dict[str, Any]:
            params = list_params(request.query_params, self.limits)
            return self._render_user(request, stored, params.attributes, params.excluded_attributes)

        return self._read(request, stored, render)

    async def replace_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        return await self._write_user(
            request,
            principal,
            lambda current: documents.replace_user(body, current, self.models),
            action="replace",
        )

    async def patch_user(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        patch = patch_body.read_patch(
            body, self.models, "User", max_operations=self.limits.max_patch_operations
        )
        return await self._write_user(
            request,
            principal,
            lambda current: documents.patch_user(patch, current, self.models),
            action="patch",
            detail=list(patch.summary),
        )

    async def _write_user(
        self,
        request: Request,
        principal: Principal,
        compute: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        action: str,
        detail: Any = None,
    ) -> Response:
        """PUT or PATCH: the new document ``compute`` makes of the stored one, stored under the
        request's ``If-Match``; 200 with it and its ETag."""
        stored = await self.calls.write_user(
            request.path_params["id"],
            compute,
            if_match=self._if_match(request),
            actor=principal.name,
            action=action,
            detail=detail,
        )
        return self._etagged(stored, self._render_user(request, stored))

    async def delete_user(self, request: Request, principal: Principal) -> Response:
        await self.calls.one_resource(
            lambda: self.directory.delete_user(
                request.path_params["id"], actor=principal.name, if_match=self._if_match(request)
            )
        )
        return Response(status_code=204)

    async def search_users(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        return await self._list_users(request, search_query(body))

    async def list_users(self, request: Request, principal: Principal) -> Response:
        return await self._list_users(request, request.query_params)

    async def _list_users(self, request: Request, query: Mapping[str, str]) -> Response:
        params = list_params(query, self.limits)
        name = user_name_equal_to(params.filter) if params.sort_by is None else None
        if name is not None:
            # Entra's lookup before every create: one indexed read, no filter parse.
            return await self._user_named(request, params, name)
        selection = self._selection(params, "User")
        total, rows = await self.calls.query_users(selection, params.start_index - 1, params.count)
        resources = [
            self._render_user(request, row, params.attributes, params.excluded_attributes)
            for row in rows
        ]
        return list_response(resources, total, params.start_index)

    async def _user_named(self, request: Request, params: ListParams, name: str) -> Response:
        """The list ``userName eq "<name>"`` answers: the same page and total as the filter."""
        found = await self.calls.user_by_name(name)
        matched = [found] if found is not None else []
        page = matched[params.start_index - 1 :][: params.count]
        resources = [
            self._render_user(request, row, params.attributes, params.excluded_attributes)
            for row in page
        ]
        return list_response(resources, len(matched), params.start_index)
