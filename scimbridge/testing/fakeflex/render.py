"""JSON shapes of the fake Flex server's TaskRouter resources and list pages.

Does: render Workers, Workspaces and Activities exactly as the TaskRouter v1 OpenAPI schemas
declare them (absolute ``url``/``links``, ``YYYY-MM-DDTHH:MM:SSZ`` dates, ``attributes`` as the
string sent),
build the Twilio error body, and paginate lists with opaque ``PageToken`` cursors and a ``meta``
block whose URLs carry the original filters, reading only the page's items (and one past it).

Does not: validate or change state; it only reads records handed to it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlencode

from scimbridge.testing.fakeflex.records import (
    Activity,
    FakeApiError,
    WorkerRecord,
    Workspace,
    invalid,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(error: FakeApiError) -> dict[str, object]:
    """Twilio's legacy error shape; never ``type``/``title`` (they change the raised type)."""
    return {
        "code": error.code,
        "message": error.message,
        "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
        "status": error.status,
    }


def worker_json(
    record: WorkerRecord,
    activity: Activity,
    account_sid: str,
    base: str,
    *,
    attributes: bool = True,
) -> dict[str, object]:
    """A ``taskrouter.v1.workspace.worker``; ``attributes=False`` renders it as null."""
    ws_url = f"{base}/v1/Workspaces/{record.workspace_sid}"
    url = f"{ws_url}/Workers/{record.sid}"
    return {
        "sid": record.sid,
        "friendly_name": record.friendly_name,
        "account_sid": account_sid,
        "activity_sid": record.activity_sid,
        "activity_name": activity.friendly_name,
        "workspace_sid": record.workspace_sid,
        "attributes": record.attributes if attributes else None,
        "available": activity.available,
        "date_created": iso(record.date_created),
        "date_updated": iso(record.date_updated),
        "date_status_changed": iso(record.date_status_changed),
        "url": url,
        "links": {
            "channels": f"{url}/Channels",
            "activity": f"{ws_url}/Activities/{record.activity_sid}",
            "workspace": ws_url,
            "statistics": f"{ws_url}/Workers/Statistics",
            "real_time_statistics": f"{ws_url}/Workers/RealTimeStatistics",
            "cumulative_statistics": f"{ws_url}/Workers/CumulativeStatistics",
            "worker_statistics": f"{url}/Statistics",
            "worker_channels": f"{url}/Channels",
            "reservations": f"{url}/Reservations",
        },
    }


def workspace_json(workspace: Workspace, account_sid: str, base: str) -> dict[str, object]:
    """A ``taskrouter.v1.workspace``."""
    url = f"{base}/v1/Workspaces/{workspace.sid}"
    default = workspace.activities[workspace.default_activity_sid]
    paths = {
        "activities": "Activities",
        "statistics": "Statistics",
        "real_time_statistics": "RealTimeStatistics",
        "cumulative_statistics": "CumulativeStatistics",
        "task_queues": "TaskQueues",
        "tasks": "Tasks",
        "workers": "Workers",
        "workflows": "Workflows",
        "task_channels": "TaskChannels",
        "events": "Events",
    }
    return {
        "account_sid": account_sid,
        "date_created": iso(workspace.date_created),
        "date_updated": iso(workspace.date_created),
        "default_activity_name": default.friendly_name,
        "default_activity_sid": default.sid,
        "event_callback_url": None,
        "events_filter": None,
        "friendly_name": workspace.friendly_name,
        "multi_task_enabled": True,
        "prioritize_queue_order": "FIFO",
        "sid": workspace.sid,
        "timeout_activity_name": default.friendly_name,
        "timeout_activity_sid": default.sid,
        "url": url,
        "links": {key: f"{url}/{path}" for key, path in paths.items()},
    }


def activity_json(activity: Activity, account_sid: str, base: str) -> dict[str, object]:
    """A ``taskrouter.v1.workspace.activity``."""
    ws_url = f"{base}/v1/Workspaces/{activity.workspace_sid}"
    return {
        "account_sid": account_sid,
        "available": activity.available,
        "date_created": iso(activity.date_created),
        "date_updated": iso(activity.date_created),
        "friendly_name": activity.friendly_name,
        "sid": activity.sid,
        "workspace_sid": activity.workspace_sid,
        "url": f"{ws_url}/Activities/{activity.sid}",
        "links": {"workspace": ws_url},
    }


@dataclass(frozen=True)
class PageRequest:
    """The paging part of a list query, read from ``PageSize``, ``Page`` and ``PageToken``."""

    page_size: int
    page: int
    token: str | None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PageRequest:
        try:
            page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(query.get("Page", 0))
        except ValueError:
            raise invalid("PageSize and Page must be integers") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise invalid(f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
        if page < 0:
            raise invalid("Page must not be negative")
        return cls(page_size, page, query.get("PageToken") or None)


def encode_token(direction: str, key: Sequence[str]) -> str:
    raw = json.dumps([direction, *key], separators=(",", ":")).encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, tuple[str, ...]]:
    try:
        if not token.startswith("PT"):
            raise ValueError(token)
        padded = token[2:] + "=" * (-len(token[2:]) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded))
        direction, *key = parts
        if direction not in ("after", "before") or not all(isinstance(k, str) for k in key):
            raise ValueError(token)
        return direction, tuple(key)
    except (ValueError, TypeError, binascii.Error):
        raise invalid("PageToken is invalid") from None


class Ordered(Protocol[T_co]):
    """Items in list order, walked from a cursor: what :func:`paginate` pages through."""

    def after(self, cursor: tuple[str, ...] | None) -> Iterator[T_co]:
        """The items after ``cursor`` (None: from the first), in order."""
        ...

    def before(self, cursor: tuple[str, ...]) -> Iterator[T_co]:
        """The items before ``cursor``, nearest first."""
        ...


@dataclass(frozen=True)
class InOrder(Generic[T]):
    """A short sequence already sorted by ``sort_key`` (activities, reservations), walked whole."""

    items: Sequence[T]
    sort_key: Callable[[T], tuple[str, ...]]

    def after(self, cursor: tuple[str, ...] | None) -> Iterator[T]:
        return (i for i in self.items if cursor is None or self.sort_key(i) > cursor)

    def before(self, cursor: tuple[str, ...]) -> Iterator[T]:
        return (i for i in reversed(self.items) if self.sort_key(i) < cursor)


def paginate(
    items: Ordered[T],
    sort_key: Callable[[T], tuple[str, ...]],
    request: PageRequest,
    *,
    key: str,
    list_url: str,
    filters: Sequence[tuple[str, str]],
    render: Callable[[T], dict[str, object]],
) -> dict[str, object]:
    """One page of ``items`` as ``{key: [...], "meta": {...}}``. It reads one item past the page
    on the side it walks, and one on the other side, to know whether there is a next and a
    previous page: a page costs its size, not the length of the list."""
    size = request.page_size
    if request.token is None:
        chosen = list(islice(items.after(None), size + 1))
        has_next, chosen = len(chosen) > size, chosen[:size]
        has_previous = False
    else:
        direction, cursor = decode_token(request.token)
        if direction == "after":
            chosen = list(islice(items.after(cursor), size + 1))
            has_next, chosen = len(chosen) > size, chosen[:size]
            has_previous = bool(chosen) and _any(items.before(sort_key(chosen[0])))
        else:
            chosen = list(islice(items.before(cursor), size + 1))
            has_previous, chosen = len(chosen) > size, chosen[:size][::-1]
            has_next = bool(chosen) and _any(items.after(sort_key(chosen[-1])))

    def page_url(page: int, token: str | None) -> str:
        params = [*filters, ("PageSize", str(request.page_size)), ("Page", str(page))]
        if token is not None:
            params.append(("PageToken", token))
        return f"{list_url}?{urlencode(params)}"

    next_url = previous_url = None
    if has_next:
        next_url = page_url(request.page + 1, encode_token("after", sort_key(chosen[-1])))
    if has_previous:
        previous_url = page_url(
            max(request.page - 1, 0), encode_token("before", sort_key(chosen[0]))
        )
    return {
        key: [render(item) for item in chosen],
        "meta": {
            "page": request.page,
            "page_size": request.page_size,
            "first_page_url": page_url(0, None),
            "previous_page_url": previous_url,
            "url": page_url(request.page, request.token),
            "next_page_url": next_url,
            "key": key,
        },
    }


_END = object()


def _any(items: Iterator[object]) -> bool:
    return next(items, _END) is not _END
