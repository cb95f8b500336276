"""The store's clock.

Does: tell the time every stored timestamp is written in (aware, UTC).
Does not: read times back (SQLite returns them naive; ``store.resources.utc`` mends that).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
