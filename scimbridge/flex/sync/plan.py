"""A resync's plan, held compactly: it is what a resync keeps for every worker and every user.

Does: keep a listed worker as a small record (:class:`ListedWorker`: its attributes as compact
JSON, parsed again when it is read), keep only the entries that converge something
(:class:`KeptEntry`, built back into a ``drift.Entry`` with its worker when read) and count the
others, and answer the counts the report prints.
Does not: list, read the store, diff or converge (``flex.sync.resync``, ``flex.sync.drift``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from scimbridge.flex.sync.drift import ACTIONS, Entry, Failure
from scimbridge.flex.twilio.taskrouter import Worker

__all__ = ["KeptEntry", "ListedWorker", "Plan"]


@dataclass(frozen=True, slots=True)
class ListedWorker:
    """A listed worker as the plan keeps it: its attributes as compact JSON, not parsed (a
    third of the memory), and the strings many workers share (activity) held once."""

    sid: str
    friendly_name: str
    attributes: str
    activity_sid: str
    activity_name: str
    available: bool

    @classmethod
    def of(cls, worker: Worker, shared: dict[str, str]) -> ListedWorker:
        return cls(
            worker.sid,
            worker.friendly_name,
            json.dumps(worker.attributes, separators=(",", ":"), ensure_ascii=False),
            shared.setdefault(worker.activity_sid, worker.activity_sid),
            shared.setdefault(worker.activity_name, worker.activity_name),
            worker.available,
        )

    def worker(self) -> Worker:
        """The worker as the listing showed it."""
        attributes = json.loads(self.attributes)
        return Worker(
            self.sid,
            self.friendly_name,
            attributes,
            self.activity_sid,
            self.activity_name,
            self.available,
            etag=None,
            listed=True,
        )


@dataclass(frozen=True, slots=True)
class KeptEntry:
    """An entry that converges something, kept small: its worker is built when it is read."""

    user_id: str
    label: str
    action: str
    differences: tuple[str, ...]
    relink: bool
    dead: bool
    skills: tuple[str, ...]
    worker: Worker | ListedWorker | None

    def entry(self) -> Entry:
        worker = self.worker.worker() if isinstance(self.worker, ListedWorker) else self.worker
        return Entry(
            self.user_id,
            self.label,
            self.action,
            worker,
            self.differences,
            self.relink,
            self.dead,
            self.skills,
        )


@dataclass
class Plan:
    """The diff. ``complete``: every worker was listed, so ``orphans`` means something;
    ``fetched``: listed workers without attributes fetched to diff; ``unchanged``: the users
    with nothing to converge, counted and not kept."""

    orphans: list[Worker] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    listed: int = 0
    fetched: int = 0
    complete: bool = True
    unchanged: int = 0
    _kept: list[KeptEntry] = field(default_factory=list, repr=False)

    def add(self, entry: Entry, worker: Worker | ListedWorker | None = None) -> None:
        """Keep ``entry`` if it converges something (its worker as ``worker``, else its own),
        else count it."""
        if not entry.to_converge:
            self.unchanged += 1
            return
        kept = entry.worker if worker is None else worker
        self._kept.append(
            KeptEntry(
                entry.user_id,
                entry.label,
                entry.action,
                entry.differences,
                entry.relink,
                entry.dead,
                entry.skills,
                kept,
            )
        )

    @property
    def entries(self) -> Iterator[Entry]:
        """The entries ``Resync.apply`` converges, in plan order: live users by id, then
        deleted users' links, then dead letters of users with neither; each built as it is read."""
        return (kept.entry() for kept in self._kept)

    def counts(self) -> dict[str, int]:
        """Users per action, plus ``orphans``."""
        counts = dict.fromkeys(ACTIONS, 0)
        for kept in self._kept:
            counts[kept.action] += 1
        counts["unchanged"] += self.unchanged
        counts["orphans"] = len(self.orphans)
        return counts

    def dead(self) -> list[str]:
        """The dead-lettered users among the entries."""
        return [kept.user_id for kept in self._kept if kept.dead]

    @property
    def converging(self) -> int:
        """How many entries ``Resync.apply`` converges."""
        return len(self._kept)

    @property
    def drifted(self) -> list[Entry]:
        """The entries ``Resync.apply`` converges, as a list."""
        return list(self.entries)
