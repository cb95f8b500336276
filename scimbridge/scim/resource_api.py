"""What the /Users and /Groups endpoints share: one resource's meta, ETags, and a list's query.

Does: hold the limits, directory, store calls and resource models the resource endpoints use;
build a resource's ``meta`` (location under the request's base URL, version as a weak ETag), read
``If-Match``/``If-None-Match``, answer a create (201 + Location), a read (304 or 200) and a write
(200 or 204) with the resource's ETag, and parse a list request's ``filter`` and ``sortBy`` into
the directory's selection.
Does not: handle a request itself (``scim.user_routes``, ``scim.group_routes`` do), or build
SQL from a filter (``store.directory`` does, from the parsed filter).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scimbridge.config.settings import Limits
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.http import ListParams, etag, parse_etags, request_base_url, scim_response
from scimbridge.scim.store_calls import StoreCalls
from scimbridge.store.directory import Directory
from scimbridge.store.listing import Selection
from scimbridge.store.query.filters import parse_filter
from scimbridge.store.query.sort_keys import parse_sort_by
from scimbridge.store.resources import StoredResource


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def base_url(request: Request) -> str:
    """The SCIM base URL a request came in under (mounted at /scim/v2, behind any proxy prefix)."""
    return request_base_url(request)


class ResourceApi:
    """The parts of one resource type's endpoints that do not depend on the type."""

    def __init__(self, limits: Limits, directory: Directory, models: ResourceModels) -> None:
        self.limits = limits
        self.directory = directory
        self.calls = StoreCalls(directory)
        self.models = models

    def _meta(self, request: Request, kind: str, stored: StoredResource) -> dict[str, Any]:
        endpoint = "Users" if kind == "User" else "Groups"
        return {
            "resourceType": kind,
            "created": _iso(stored.created_at),
            "lastModified": _iso(stored.updated_at),
            "location": f"{base_url(request)}/{endpoint}/{stored.id}",
            "version": etag(stored.version),
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

    def _created(
        self, request: Request, kind: str, stored: StoredResource, rendered: dict[str, Any]
    ) -> Response:
        """201 with the new resource, its ETag and its Location."""
        location = self._meta(request, kind, stored)["location"]
        return scim_response(rendered, 201, {"ETag": etag(stored.version), "Location": location})

    def _read(
        self, request: Request, stored: StoredResource, render: Callable[[], dict[str, Any]]
    ) -> Response:
        """A GET of one resource: 304 when ``If-None-Match`` names its version (nothing is
        rendered), else 200 with ``render()``; its ETag either way."""
        if self._not_modified(request, stored):
            return Response(status_code=304, headers={"ETag": etag(stored.version)})
        return self._etagged(stored, render())

    @staticmethod
    def _etagged(stored: StoredResource, rendered: dict[str, Any] | None) -> Response:
        """200 with ``rendered`` and the resource's ETag; None: 204 with the ETag alone."""
        headers = {"ETag": etag(stored.version)}
        if rendered is None:
            return Response(status_code=204, headers=headers)
        return scim_response(rendered, headers=headers)

    def _selection(self, params: ListParams, kind: str) -> Selection:
        """What a list request selects (``filter``, ``sortBy``), parsed and bounded."""
        ast = (
            parse_filter(
                params.filter,
                max_length=self.limits.max_filter_length,
                max_terms=self.limits.max_filter_terms,
            )
            if params.filter
            else None
        )
        sort_by = parse_sort_by(params.sort_by) if params.sort_by else None
        select = self.directory.select_users if kind == "User" else self.directory.select_groups
        model = self.models.user_model if kind == "User" else self.models.group_model
        return select(ast, sort_by, model=model, descending=params.descending)
