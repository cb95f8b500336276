"""The /Groups endpoints: create, read, replace, patch, delete, list and search groups.

Does: hand bodies to ``scim.documents`` (PATCH bodies read once by ``scim.patch_body``) and
documents and membership changes to the directory, render groups with their members only when
asked for (``attributes``/``excludedAttributes``), and answer as Entra expects (201 + Location on
POST, 204 on PATCH and DELETE, 304/412 for ETags). Every group call runs in the thread pool: a
group's members are of any size.
Does not: authenticate (``scim.routes`` does), parse the Entra dialect (``scim.dialect``), build
SQL (``store.directory``), or call Twilio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim import documents, patch_body, rendering
from scimbridge.scim.auth import Principal
from scimbridge.scim.http import (
    etag,
    list_params,
    list_response,
    read_json,
    scim_response,
    search_query,
)
from scimbridge.scim.resource_api import ResourceApi, base_url
from scimbridge.store.resources import StoredResource


class GroupApi(ResourceApi):
    """The /Groups endpoints over one directory and one set of resource models."""

    def _wants_members(self, attributes: list[str] | None, excluded: list[str] | None) -> bool:
        if excluded and any(name.lower() == "members" for name in excluded):
            return False
        if attributes is not None:
            return any(name.lower().split(".")[0] == "members" for name in attributes)
        return True

    def _render_group(
        self,
        request: Request,
        row: StoredResource,
        members: list[tuple[str, str]] | None,
        attributes: list[str] | None = None,
        excluded: list[str] | None = None,
    ) -> dict[str, Any]:
        return rendering.render_group(
            row.document,
            members,
            id=row.id,
            meta=self._meta(request, "Group", row),
            base_url=base_url(request),
            attributes=attributes,
            excluded=excluded,
        )

    def _render_groups(
        self,
        request: Request,
        rows: list[StoredResource],
        attributes: list[str] | None,
        excluded: list[str] | None,
    ) -> list[dict[str, Any]]:
        """``rows`` rendered, their members read (in one query) only when the answer shows them."""
        members = (
            self.directory.group_members([row.id for row in rows])
            if self._wants_members(attributes, excluded)
            else None
        )
        return [
            self._render_group(
                request,
                row,
                members[row.id] if members is not None else None,
                attributes,
                excluded,
            )
            for row in rows
        ]

    async def create_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)

        def work() -> dict[str, Any]:
            document, membership = documents.create_group(body, self.models)
            stored = self.directory.create_group(document, membership, actor=principal.name)
            return {"stored": stored, "body": self._render_groups(request, [stored], None, None)[0]}

        result = await self.calls.unbounded(work)
        stored = result["stored"]
        return scim_response(result["body"], 201, self._resource_headers(request, "Group", stored))

    async def get_group(self, request: Request, principal: Principal) -> Response:
        params = list_params(request.query_params, self.limits)

        def work() -> tuple[StoredResource, dict[str, Any]]:
            stored = self.directory.get_group(request.path_params["id"])
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
            with self.directory.editing_group(
                request.path_params["id"], if_match=self._if_match(request)
            ) as edit:
                document, membership = documents.replace_group(
                    body, edit.current.document, self.models
                )
                stored = edit.write(document, membership, actor=principal.name, action="replace")
                # The members this write left, read under its lock; rendered after the commit.
                members = edit.members()
            return stored, self._render_group(request, stored, members)

        stored, rendered = await self.calls.unbounded(work)
        return scim_response(rendered, headers={"ETag": etag(stored.version)})

    async def patch_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        patch = patch_body.read_patch(
            body, self.models, "Group", max_operations=self.limits.max_patch_operations
        )

        def work() -> StoredResource:
            with self.directory.editing_group(
                request.path_params["id"], if_match=self._if_match(request)
            ) as edit:
                document, membership = documents.patch_group(
                    patch, edit.current.document, self.models
                )
                return edit.write(
                    document,
                    membership,
                    actor=principal.name,
                    action="patch",
                    detail=list(patch.summary),
                )

        stored = await self.calls.unbounded(work)
        return Response(status_code=204, headers={"ETag": etag(stored.version)})

    async def delete_group(self, request: Request, principal: Principal) -> Response:
        await self.calls.unbounded(
            lambda: self.directory.delete_group(
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
        selection = self._selection(params, "Group")

        def work() -> tuple[int, list[dict[str, Any]]]:
            total, rows = self.directory.query_groups(
                selection, params.start_index - 1, params.count
            )
            return total, self._render_groups(
                request, rows, params.attributes, params.excluded_attributes
            )

        total, resources = await self.calls.unbounded(work)
        return list_response(resources, total, params.start_index)
