"""Records and rules shared by the fake Flex server's modules.

Does: define the stored shapes (workspace, activity, worker, list query), the Twilio-style API
error (:class:`FakeApiError` with its 400/20001 and 404/20404 helpers), SID generation, and the
value checks the live API applies to worker Attributes and If-Match.

Does not: keep state or take locks; see ``state`` for the store.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_FRIENDLY_NAME = 64
MAX_ATTRIBUTES = 4096
SEEDED_ACTIVITIES = (("Offline", False), ("Available", True), ("Unavailable", False))
TRUE_WORDS = frozenset({"true", "1", "yes"})

Clock = Callable[[], datetime]


class FakeApiError(Exception):
    """A Twilio-style API error: rendered as ``{"code","message","more_info","status"}``."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def invalid(message: str) -> FakeApiError:
    """400/20001, the code TaskRouter uses for invalid parameters and invalid state."""
    return FakeApiError(400, 20001, message)


def not_found(path: str) -> FakeApiError:
    """404/20404 with the live API's message wording."""
    return FakeApiError(404, 20404, f"The requested resource {path} was not found")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 lowercase hex characters."""
    return prefix + secrets.token_hex(16)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Activity:
    sid: str
    workspace_sid: str
    friendly_name: str
    available: bool
    date_created: datetime


@dataclass
class Workspace:
    sid: str
    friendly_name: str
    date_created: datetime
    activities: dict[str, Activity] = field(default_factory=dict)
    default_activity_sid: str = ""


@dataclass
class WorkerRecord:
    """One worker as stored. ``attributes`` is the exact string the client sent."""

    sid: str
    workspace_sid: str
    friendly_name: str
    attributes: str
    activity_sid: str
    date_created: datetime
    date_updated: datetime
    date_status_changed: datetime
    revision: int = 0

    def sort_key(self) -> tuple[str, str]:
        return (self.date_created.isoformat(), self.sid)


@dataclass(frozen=True)
class WorkerQuery:
    """List filters, as the Workers list endpoint accepts them (None = not filtered)."""

    friendly_name: str | None = None
    activity_sid: str | None = None
    activity_name: str | None = None
    available: str | None = None
    task_queue_sid: str | None = None
    task_queue_name: str | None = None


def parse_attributes(attributes: str) -> dict[str, object]:
    """Validate a worker Attributes string: a JSON object of at most 4096 characters."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(f"Attributes must be at most {MAX_ATTRIBUTES} characters")
    try:
        parsed = json.loads(attributes)
    except ValueError:
        raise invalid("Attributes must be a valid JSON object") from None
    if not isinstance(parsed, dict):
        raise invalid("Attributes must be a valid JSON object")
    return parsed


def if_match_accepts(if_match: str | None, revision: int) -> bool:
    """True if an If-Match header value matches the revision (absent and ``*`` always match)."""
    if if_match is None:
        return True
    for tag in if_match.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag in ("*", str(revision)):
            return True
    return False
