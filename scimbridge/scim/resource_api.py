"""What the /Users and /Groups endpoints share: one resource's meta, ETags, and a list's query.

Does: hold the settings, repository, store calls and resource models the resource endpoints use;
build a resource's ``meta`` (location under the request's base URL, version as a weak ETag), read
``If-Match``/``If-None-Match``, and turn a list request's ``filter`` and ``sortBy`` into the
repository's query.
Does not: answer requests itself (``scim.user_routes``, ``scim.group_routes``), or build SQL from
a filter (``store.filters``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from starlette.requests import Request

from scimbridge.config.settings import Settings
from scimbridge.scim.extensions import ResourceModels
from scimbridge.scim.http import ListParams, etag, parse_etags, request_base_url
from scimbridge.scim.store_calls import StoreCalls
from scimbridge.store.repository import Repository, StoredResource


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def base_url(request: Request) -> str:
    """The SCIM base URL a request came in under (mounted at /scim/v2, behind any proxy prefix)."""
    return request_base_url(request)


class ResourceApi:
    """The parts of one resource type's endpoints that do not depend on the type."""

    def __init__(self, settings: Settings, repository: Repository, models: ResourceModels) -> None:
        self.limits = settings.limits
        self.repository = repository
        self.calls = StoreCalls(repository)
        self.models = models
        self.dialect = repository.engine.dialect.name

    def _meta(self, request: Request, kind: str, stored: StoredResource) -> dict[str, Any]:
        endpoint = "Users" if kind == "User" else "Groups"
        return {
            "resourceType": kind,
            "created": _iso(stored.created_at),
            "lastModified": _iso(stored.updated_at),
            "location": f"{base_url(request)}/{endpoint}/{stored.id}",
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
