"""The fake Flex server's worker table: workers indexed so no call costs more with more workers.

Does: keep every workspace's workers by SID, by case-folded friendly_name (the live API's
uniqueness rule is case-insensitive per workspace), in list order — ``(date_created, sid)``,
the order Twilio lists them in — and the set of those in an available activity; walk that order
forwards from a cursor or backwards from one, filtered, so a page of a list costs its own size
(plus the workers a filter skips), not the size of the workspace.
Does not: validate anything, copy records or take the lock: ``state`` does all three, and
holds its lock while a walk is consumed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator

from scimbridge.testing.fakeflex.records import WorkerRecord

Key = tuple[str, ...]


class WorkerTable:
    """Workers of every workspace; each method costs O(1) or O(log n) plus what it returns."""

    def __init__(self) -> None:
        self._by_sid: dict[str, WorkerRecord] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        # Per workspace, the sort keys in order: appended at the end in the usual case (a clock
        # moving forwards); an injected clock moving backwards inserts in the middle.
        self._order: dict[str, list[Key]] = {}
        self._available: dict[str, set[str]] = {}

    def get(self, sid: str) -> WorkerRecord | None:
        return self._by_sid.get(sid)

    def named(self, workspace_sid: str, friendly_name: str) -> WorkerRecord | None:
        """The worker with this friendly_name, compared case-insensitively."""
        sid = self._by_name.get((workspace_sid, friendly_name.casefold()))
        return None if sid is None else self._by_sid[sid]

    def add(self, record: WorkerRecord, *, available: bool) -> None:
        self._by_sid[record.sid] = record
        self._by_name[(record.workspace_sid, record.friendly_name.casefold())] = record.sid
        order = self._order.setdefault(record.workspace_sid, [])
        key = record.sort_key()
        if order and key < order[-1]:
            order.insert(bisect_left(order, key), key)
        else:
            order.append(key)
        if available:
            self._available.setdefault(record.workspace_sid, set()).add(record.sid)

    def rename(self, record: WorkerRecord, friendly_name: str) -> None:
        del self._by_name[(record.workspace_sid, record.friendly_name.casefold())]
        record.friendly_name = friendly_name
        self._by_name[(record.workspace_sid, friendly_name.casefold())] = record.sid

    def move(self, record: WorkerRecord, activity_sid: str, *, available: bool) -> None:
        record.activity_sid = activity_sid
        online = self._available.setdefault(record.workspace_sid, set())
        if available:
            online.add(record.sid)
        else:
            online.discard(record.sid)

    def remove(self, record: WorkerRecord) -> None:
        del self._by_sid[record.sid]
        del self._by_name[(record.workspace_sid, record.friendly_name.casefold())]
        order = self._order[record.workspace_sid]
        key = record.sort_key()
        del order[bisect_left(order, key)]
        self._available.get(record.workspace_sid, set()).discard(record.sid)

    def clear(self) -> None:
        self._by_sid.clear()
        self._by_name.clear()
        self._order.clear()
        self._available.clear()

    def available_count(self, workspace_sid: str) -> int:
        return len(self._available.get(workspace_sid, ()))

    def is_available(self, record: WorkerRecord) -> bool:
        return record.sid in self._available.get(record.workspace_sid, ())

    def after(
        self,
        workspace_sid: str,
        cursor: Key | None,
        keep: Callable[[WorkerRecord], bool],
    ) -> Iterator[WorkerRecord]:
        """The kept workers after ``cursor`` (None: from the first), in list order."""
        order = self._order.get(workspace_sid, [])
        start = 0 if cursor is None else bisect_right(order, cursor)
        for index in range(start, len(order)):
            record = self._by_sid[order[index][1]]
            if keep(record):
                yield record

    def before(
        self, workspace_sid: str, cursor: Key, keep: Callable[[WorkerRecord], bool]
    ) -> Iterator[WorkerRecord]:
        """The kept workers before ``cursor``, nearest first."""
        order = self._order.get(workspace_sid, [])
        for index in range(bisect_left(order, cursor) - 1, -1, -1):
            record = self._by_sid[order[index][1]]
            if keep(record):
                yield record
