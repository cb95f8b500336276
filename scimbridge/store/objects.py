"""Every store object of one database, built together.

Does: build the :class:`~scimbridge.store.directory.Directory`, the
:class:`~scimbridge.store.outbox.Outbox`, the :class:`~scimbridge.store.links.WorkerLinks`, the
:class:`~scimbridge.store.tokens.Tokens` and the
:class:`~scimbridge.store.service_state.ServiceState` of one
:class:`~scimbridge.store.database.Database`, for the parts that report on all of them
(``ops``) or drive the sync.
Does not: open the database or migrate it (``store.database``), or decide who gets which object
(the composition root does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scimbridge.store.database import Database
from scimbridge.store.directory import Directory
from scimbridge.store.links import WorkerLinks
from scimbridge.store.outbox import Outbox
from scimbridge.store.service_state import ServiceState
from scimbridge.store.tokens import Tokens


@dataclass(frozen=True)
class Store:
    """The store objects of one database. Each keeps its own contract (see its class)."""

    database: Database
    directory: Directory
    outbox: Outbox
    links: WorkerLinks
    tokens: Tokens
    state: ServiceState

    @classmethod
    def of(
        cls,
        database: Database,
        *,
        sync_groups: bool = False,
        on_enqueue: Callable[[], None] | None = None,
    ) -> Store:
        """Every store object of ``database``; ``sync_groups`` and ``on_enqueue`` go to the
        directory."""
        return cls(
            database,
            Directory(database, sync_groups=sync_groups, on_enqueue=on_enqueue),
            Outbox(database),
            WorkerLinks(database),
            Tokens(database),
            ServiceState(database),
        )
