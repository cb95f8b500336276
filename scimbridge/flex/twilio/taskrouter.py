"""A thin, honest client over the ``twilio`` library for the few TaskRouter calls the sync needs.

Does: fetch, find by friendly_name, create (never duplicated), update with ``If-Match``, delete
with ``If-Match``, page over all workers, look up activities and discover the workspace, each
request rate-limited and retried through
:class:`~scimbridge.flex.twilio.transport.TwilioCalls`, failures
raised as the typed errors of :mod:`scimbridge.flex.twilio.errors`.
Does not: decide which attributes a worker should have (``flex.mapping``), merge attributes
(``flex.sync.reconciler``), or cache workers. Nothing secret reaches an error message, a repr or
a log line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from twilio.base import values

from scimbridge.flex.twilio.errors import (
    AttributesTooLarge,
    FlexApiError,
    FriendlyNameTaken,
    InvalidRequest,
    TwilioNotFound,
    UnexpectedResponse,
    WorkerBusy,
    WorkerNotFound,
    header,
)
from scimbridge.flex.twilio.transport import (
    FlexConfiguration,
    TwilioCalls,
    fetch_flex_configuration,
)

TASKROUTER_URL = "https://taskrouter.twilio.com"
MAX_ATTRIBUTES_LENGTH = 4096
WORKER_SID = re.compile(r"^WK[0-9a-fA-F]{32}$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """A TaskRouter worker as Twilio returned it.

    ``attributes`` is the parsed JSON object; ``etag`` is echoed verbatim as ``If-Match``. Workers
    yielded by :meth:`TaskRouter.iter_workers` have ``listed=True``: their attributes may be null or
    stale in list responses (Twilio's docs disagree) and they carry no ETag, so fetch before any
    read-merge-write.
    """

    sid: str
    friendly_name: str
    attributes: dict[str, Any]
    activity_sid: str
    activity_name: str
    available: bool
    etag: str | None
    listed: bool = False


def _worker(instance: Any, etag: str | None, *, listed: bool = False) -> Worker:
    raw = instance.attributes
    try:
        attributes = json.loads(raw) if raw else {}
    except ValueError:
        attributes = None
    if not isinstance(attributes, dict):
        raise UnexpectedResponse(
            f"worker {instance.sid}: attributes are not a JSON object", endpoint="workers"
        )
    return Worker(
        sid=str(instance.sid),
        friendly_name=str(instance.friendly_name or ""),
        attributes=attributes,
        activity_sid=str(instance.activity_sid or ""),
        activity_name=str(instance.activity_name or ""),
        available=bool(instance.available),
        etag=etag,
        listed=listed,
    )


def _minified(attributes: Mapping[str, Any]) -> str:
    # ensure_ascii=False: TaskRouter counts characters, and "é" is one.
    return json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)


def encode_attributes(attributes: Mapping[str, Any]) -> str:
    """Minified JSON for ``Attributes``, as TaskRouter counts it; :class:`AttributesTooLarge`
    beyond its 4096 characters (never truncated)."""
    encoded = _minified(attributes)
    if len(encoded) > MAX_ATTRIBUTES_LENGTH:
        sizes = sorted(
            ((len(_minified({key: value})) - 2, key) for key, value in attributes.items()),
            reverse=True,
        )
        largest = ", ".join(f"{key} ({size})" for size, key in sizes[:3])
        raise AttributesTooLarge(
            f"worker attributes would be {len(encoded)} characters of JSON; TaskRouter allows "
            f"{MAX_ATTRIBUTES_LENGTH}. Largest keys: {largest}",
            length=len(encoded),
        )
    return encoded


class TaskRouter:
    """The worker calls of one TaskRouter workspace. Safe to share between threads.

    Every request goes through ``calls`` (the process's rate-limit permits and retry policy);
    creates are never re-sent before looking the friendly_name up (see :meth:`create`).
    """

    def __init__(self, calls: TwilioCalls) -> None:
        self._calls = calls
        self._client = calls.client
        self._lock = threading.Lock()
        self._workspace_sid = calls.settings.workspace_sid
        self._configuration: FlexConfiguration | None = None
        self._activities: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"TaskRouter(account_sid={self._calls.settings.account_sid!r})"

    @property
    def workspace_sid(self) -> str:
        """The workspace from settings, else from Flex Configuration (fetched once)."""
        with self._lock:
            if self._workspace_sid is None:
                self._configuration = fetch_flex_configuration(self._calls)
                if not self._configuration.workspace_sid:
                    raise UnexpectedResponse(
                        "Flex Configuration names no TaskRouter workspace; set the workspace SID",
                        endpoint="configuration.fetch",
                    )
                self._workspace_sid = self._configuration.workspace_sid
            return self._workspace_sid

    def verify_credentials(self) -> None:
        """Fetch the workspace; Unauthorized on bad credentials, TwilioNotFound on a wrong SID."""
        workspace = self._client.taskrouter.v1.workspaces(self.workspace_sid)
        self._calls.run("workspace.fetch", workspace.fetch)

    def offline_activity_sid(self) -> str:
        """The Offline activity: Flex Configuration's, when the workspace was discovered there."""
        sid = (
            self.workspace_sid and self._configuration and self._configuration.offline_activity_sid
        )
        return sid or self.activity_sid("Offline")

    def activity_sid(self, name: str) -> str:
        """The SID of the activity with this friendly name (case-insensitive). The workspace's
        activities (a handful) are listed once and cached; an unknown name lists them again."""
        key = name.casefold()
        with self._lock:
            cached = self._activities.get(key)
        if cached:
            return cached
        activities = self._client.taskrouter.v1.workspaces(self.workspace_sid).activities
        page = self._calls.run("activities.list", lambda: activities.page(page_size=1000))
        found = {str(activity.friendly_name).casefold(): str(activity.sid) for activity in page}
        with self._lock:
            self._activities.update(found)
        if key not in found:
            raise TwilioNotFound(
                f"no activity named {name!r} in the workspace", endpoint="activities.list"
            )
        return found[key]

    def _workers(self) -> Any:
        return self._client.taskrouter.v1.workspaces(self.workspace_sid).workers

    def _context(self, sid: str) -> Any:
        if not WORKER_SID.match(sid):
            raise InvalidRequest(f"{sid[:40]!r} is not a worker SID", endpoint="workers")
        return self._workers()(sid)

    def fetch(self, sid: str) -> Worker | None:
        """The worker with its attributes and ETag; None if it does not exist."""
        context = self._context(sid)
        try:
            response = self._calls.run(
                "worker.fetch", context.fetch_with_http_info, not_found=WorkerNotFound
            )
        except WorkerNotFound:
            return None
        return _worker(response.data, header(response.headers, "ETag"))

    def find_by_friendly_name(self, name: str) -> Worker | None:
        """The worker whose friendly_name equals ``name`` case-insensitively, fetched singly (for
        attributes and ETag); None if there is none. Lists with ``FriendlyName=``, never with
        ``TargetWorkersExpression`` (limited to 3 requests/second)."""
        key = name.casefold()
        for listed in self._pages(friendly_name=name, page_size=50):
            if listed.friendly_name.casefold() == key:
                return self.fetch(listed.sid)
        return None

    def create(
        self, friendly_name: str, attributes: dict[str, Any], activity_sid: str | None = None
    ) -> Worker:
        """Create a worker, or adopt the one that already holds ``friendly_name``.

        A create is never re-sent blindly. After a 5xx, a timeout or a broken connection (the
        create may have happened) and after a 400 (the name may be taken) the friendly_name is
        looked up first; a worker found there is returned unchanged, for the caller to converge.
        A 400 with no such worker is raised as InvalidRequest; a 429 is re-sent after the wait.
        """
        encoded = encode_attributes(attributes)
        workers = self._workers()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._calls.attempt(
                    "workers.create",
                    lambda: workers.create_with_http_info(
                        friendly_name=friendly_name,
                        attributes=encoded,
                        activity_sid=activity_sid or values.unset,
                    ),
                )
                return _worker(response.data, header(response.headers, "ETag"))
            except FlexApiError as error:
                if error.status == 400 or error.outcome_unknown:
                    existing = self.find_by_friendly_name(friendly_name)
                    if existing is not None:
                        log.info("adopted existing worker %s after: %s", existing.sid, error)
                        return existing
                    if error.status == 400:
                        raise
                self._calls.pause_or_raise(error, attempt)

    def update(
        self,
        sid: str,
        *,
        attributes: dict[str, Any] | None = None,
        activity_sid: str | None = None,
        friendly_name: str | None = None,
        if_match: str | None = None,
        reject_pending_reservations: bool = False,
    ) -> Worker:
        """Write the given fields (``attributes`` replaces the whole object) and return the worker.

        ``if_match`` is sent as ``If-Match``; a 412 raises PreconditionFailed (re-fetch, re-merge,
        write again). A retried update after an unknown outcome may also meet that 412. Raises
        WorkerNotFound on 404 and FriendlyNameTaken when another worker holds ``friendly_name``.
        """
        context = self._context(sid)
        fields: dict[str, Any] = {}
        if attributes is not None:
            fields["attributes"] = encode_attributes(attributes)
        if activity_sid is not None:
            fields["activity_sid"] = activity_sid
        if friendly_name is not None:
            fields["friendly_name"] = friendly_name
        if if_match:
            fields["if_match"] = if_match
        if reject_pending_reservations:
            fields["reject_pending_reservations"] = True
        try:
            response = self._calls.run(
                "worker.update",
                lambda: context.update_with_http_info(**fields),
                not_found=WorkerNotFound,
            )
        except InvalidRequest as error:
            holder = self.find_by_friendly_name(friendly_name) if friendly_name else None
            if holder is not None and holder.sid != sid:
                raise FriendlyNameTaken(
                    f"{error.message} (friendly_name held by {holder.sid})",
                    endpoint=error.endpoint,
                    status=error.status,
                    code=error.code,
                ) from None
            raise
        return _worker(response.data, header(response.headers, "ETag"))

    def reject_pending_reservations(self, sid: str) -> int:
        """Reject the worker's pending reservations (one page of them); returns how many.

        ``RejectPendingReservations`` on an update only works with a change to an unavailable
        activity, so a worker that is already offline needs this before a delete. A reservation
        that stopped being pending meanwhile (accepted, timed out, gone) is left as it is."""
        reservations = self._context(sid).reservations
        try:
            page = self._calls.run(
                "reservations.list",
                lambda: reservations.page(reservation_status="pending", page_size=50),
                not_found=WorkerNotFound,
            )
        except WorkerNotFound:
            return 0  # the worker is gone already: nothing left to reject or delete
        rejected = 0
        for reservation in page:
            context = reservations(str(reservation.sid))
            try:
                self._calls.run(
                    "reservation.update",
                    partial(context.update, reservation_status="rejected"),
                )
            except (InvalidRequest, TwilioNotFound) as error:
                log.info("reservation %s not rejected: %s", reservation.sid, error.message)
                continue
            rejected += 1
        return rejected

    def delete(self, sid: str, *, if_match: str | None = None) -> bool:
        """Delete the worker; True if this call removed it, False if it was already gone (also when
        an earlier attempt of this call removed it). ``if_match`` is really sent: ``twilio``'s own
        delete drops the header, so this goes through ``client.request``.

        A 400 raises :class:`WorkerBusy`: a delete carries no parameter that could be invalid, so
        Twilio is refusing the worker's state (pending reservations), which passes."""
        self._context(sid)
        url = self._client.taskrouter.v1.absolute_url(
            f"Workspaces/{self.workspace_sid}/Workers/{sid}"
        )
        try:
            self._calls.send(
                "worker.delete",
                "DELETE",
                url,
                headers={"If-Match": if_match} if if_match else None,
                not_found=WorkerNotFound,
            )
        except WorkerNotFound:
            return False
        except InvalidRequest as error:
            if error.status != 400:
                raise
            raise WorkerBusy(
                error.message, endpoint=error.endpoint, status=error.status, code=error.code
            ) from None
        return True

    def iter_workers(self, page_size: int = 1000) -> Iterator[Worker]:
        """Every worker of the workspace, page by page along ``meta.next_page_url``, each page
        retried on its own. The workers are ``listed``: fetch one before changing it."""
        return self._pages(page_size=page_size)

    def _pages(self, **filters: Any) -> Iterator[Worker]:
        workers = self._workers()
        page = self._calls.run("workers.list", lambda: workers.page(**filters))
        while True:
            yield from (_worker(instance, None, listed=True) for instance in page)
            if not page.next_page_url:
                return
            target = self._follow(page.next_page_url)
            page = self._calls.run("workers.list", partial(workers.get_page, target))

    def _follow(self, url: str) -> str:
        """``url`` if it points at the TaskRouter base URL; a production Twilio URL moved onto a
        configured base URL; anything else refused, since credentials go with the request."""
        base = str(self._client.taskrouter.base_url).rstrip("/")
        target, origin = urlsplit(url), urlsplit(base)
        if (target.scheme, target.netloc) == (origin.scheme, origin.netloc):
            return url
        if base != TASKROUTER_URL and target.hostname == urlsplit(TASKROUTER_URL).hostname:
            return base + target.path + (f"?{target.query}" if target.query else "")
        raise UnexpectedResponse(
            f"next_page_url points at {target.netloc!r}, not the TaskRouter API",
            endpoint="workers.list",
        )
