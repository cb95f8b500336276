"""The /Groups endpoints: create, read, replace, patch, delete, list and search groups.

Does: hand bodies to ``scim.documents`` (PATCH bodies read once by ``scim.patch_body``); for PUT
and PATCH, compute the new document and membership change from the group a locked
``GroupEdit`` holds and write them through it (every call goes down); render groups with their
members only when asked for (``attributes``/``excludedAttributes``), and answer as Entra expects
(201 + Location on POST, 204 on PATCH and DELETE, 304/412 for ETags). Every group call runs in
the thread pool: a group's members are of any size.
Does not: authenticate (``scim.routes`` does), parse the Entra dialect (``scim.dialect``), build
SQL (``store.directory``), or call Twilio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scimbridge.scim import documents, patch_body, rendering
from scimbridge.scim.auth import Principal
from scimbridge.scim.http import (
    list_params,
    list_response,
    read_json,
    search_query,
)
from scimbridge.scim.resource_api import ResourceApi, base_url
from scimbridge.store.resources import MembershipChange, StoredResource


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

        def work() -> Response:
            document, membership = documents.create_group(body, self.models)
            stored = self.directory.create_group(document, membership, actor=principal.name)
            rendered = self._render_groups(request, [stored], None, None)[0]
            return self._created(request, "Group", stored, rendered)

        return await self.calls.unbounded(work)

    async def get_group(self, request: Request, principal: Principal) -> Response:
        params = list_params(request.query_params, self.limits)

        def work() -> Response:
            stored = self.directory.get_group(request.path_params["id"])
            return self._read(
                request,
                stored,
                lambda: self._render_groups(
                    request, [stored], params.attributes, params.excluded_attributes
                )[0],
            )

        return await self.calls.unbounded(work)

    async def replace_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        return await self.calls.unbounded(
            lambda: self._write_group(
                request,
                principal,
                lambda current: documents.replace_group(body, current, self.models),
                action="replace",
                answer_with_group=True,
            )
        )

    async def patch_group(self, request: Request, principal: Principal) -> Response:
        body = await read_json(request, self.limits)
        patch = patch_body.read_patch(
            body, self.models, "Group", max_operations=self.limits.max_patch_operations
        )
        return await self.calls.unbounded(
            lambda: self._write_group(
                request,
                principal,
                lambda current: documents.patch_group(patch, current, self.models),
                action="patch",
                detail=list(patch.summary),
                answer_with_group=False,
            )
        )

    def _write_group(
        self,
        request: Request,
        principal: Principal,
        compute: Callable[[dict[str, Any]], tuple[dict[str, Any], MembershipChange]],
        *,
        action: str,
        detail: Any = None,
        answer_with_group: bool,
    ) -> Response:
        """PUT or PATCH, in a thread: lock the group (checking ``If-Match``), compute its new
        document and membership change from the stored document with ``compute``, and write
        them; 200 with the group as written (members read under the write's lock) and its
        ETag, or 204 with the ETag alone."""
        with self.directory.editing_group(
            request.path_params["id"], if_match=self._if_match(request)
        ) as edit:
            document, membership = compute(edit.current.document)
            stored = edit.write(
                document, membership, actor=principal.name, action=action, detail=detail
            )
            members = edit.members() if answer_with_group else None
        rendered = None if members is None else self._render_group(request, stored, members)
        return self._etagged(stored, rendered)

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
