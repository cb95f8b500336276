"""What the store refuses, as exceptions the HTTP layer maps to SCIM errors.

Does: name each refusal (not found, uniqueness, version mismatch, too long, unknown
member, unavailable),
and the exceptions by which any store call says the database failed (``DATABASE_FAILURES``).
Does not: know status codes or SCIM ``scimType`` values (``scim.errors`` maps them).
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StoreError(Exception):
    """Base of every refusal the store reports."""


class NotFound(StoreError):
    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(f"{resource_type} {resource_id} not found")
        self.resource_type = resource_type
        self.resource_id = resource_id


class Conflict(StoreError):
    """A unique attribute (``userName``, group ``displayName``) is already taken."""

    def __init__(self, attribute: str) -> None:
        super().__init__(f"{attribute} is already in use")
        self.attribute = attribute


class VersionMismatch(StoreError):
    """``If-Match`` named a version that is no longer current."""


class TooLong(StoreError):
    """A value is longer than its indexed column holds (``column`` as ``store.limits`` names it)."""

    def __init__(self, column: str, limit: int) -> None:
        super().__init__(f"{column} holds at most {limit} characters")
        self.column = column
        self.limit = limit


class UnknownMembers(StoreError):
    def __init__(self, member_ids: list[str]) -> None:
        shown = ", ".join(member_ids[:5]) + ("…" if len(member_ids) > 5 else "")
        super().__init__(f"no user with id {shown}")
        self.member_ids = member_ids


class StoreUnavailable(StoreError):
    """The database cannot be reached or stayed locked; nothing was written."""


class WouldBlock(Exception):
    """A call made unable to wait met a lock held elsewhere; nothing was written. Not a refusal
    of the request: the caller runs the call again where it may wait."""


# What a store call raises when the database fails under it: the directory's own refusal, or the
# errors of the driver as SQLAlchemy reports them (the other store objects pass those through).
# Callers catch these rather than import SQLAlchemy.
DATABASE_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError, StoreUnavailable)

# What a call outside the directory (a token lookup, a pool with no connection left) raises when
# the database cannot be reached or stays locked: "retry later" rather than a server error.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, PoolTimeout)
