"""Where a request handler's store call runs: on the event loop if it need not wait, else a thread.

Does: make one user's read, create, write and ``userName eq`` lookup as the directory's calls on
the event loop (``Directory.on_loop``): on PostgreSQL, coroutines that wait for the network
without blocking the loop; on a SQLite file, prepared statements on a connection that never
waits for a lock. Run the other calls on one resource of bounded size (a user's delete, a lookup
by index) right on the loop's thread too when the directory offers calls that cannot wait (a
SQLite file). Such calls are local and take well under a millisecond, less than the hand-off to a
worker thread and back. A lock held elsewhere (another process, the sync worker, a write already
running in a thread) makes one fail at once (``WouldBlock``), before anything is written, and it
then runs again in Starlette's thread pool, where waiting is harmless. Calls of unbounded size
(lists, groups with their members) and the rest of PostgreSQL's go to the thread pool.
Does not: decide what a call does, or retry anything but a call that never started writing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from scimbridge.store.directory import Directory
from scimbridge.store.errors import StoreUnavailable, WouldBlock
from scimbridge.store.listing import Selection
from scimbridge.store.resources import StoredResource

T = TypeVar("T")
# A write that keeps losing the race to others on one user gives up past this many tries (each
# lost try means another change of that user was committed meanwhile).
_MAX_TRIES = 50


class StoreCalls:
    """Runs directory calls for request handlers; one per application."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def one_resource(self, call: Callable[[], T]) -> T:
        """Run ``call`` (bounded work on one resource; safe to run again if it never wrote)."""
        if self.directory.offers_calls_without_waiting:
            try:
                with self.directory.without_waiting():
                    return call()
            except WouldBlock:
                pass  # a lock held elsewhere: run it again in a thread, where waiting is harmless
        return await run_in_threadpool(call)

    async def unbounded(self, call: Callable[[], T]) -> T:
        """Run ``call`` (a list, a group's members: any size) in the thread pool."""
        return await run_in_threadpool(call)

    # -- one user: the directory's calls, wherever they run best -----------------------------

    async def get_user(self, user_id: str) -> StoredResource:
        if (on_loop := self.directory.on_loop) is not None:
            try:
                return await on_loop.get_user(user_id)
            except WouldBlock:
                pass  # a SQLite lock held elsewhere: the directory's call, in a thread
        return await self.one_resource(lambda: self.directory.get_user(user_id))

    async def user_by_name(self, user_name: str) -> StoredResource | None:
        if (on_loop := self.directory.on_loop) is not None:
            try:
                return await on_loop.user_by_name(user_name)
            except WouldBlock:
                pass
        return await self.one_resource(lambda: self.directory.user_by_name(user_name))

    async def create_user(
        self, document: Callable[[], dict[str, Any]], *, actor: str
    ) -> StoredResource:
        """Store the user ``document()`` makes (it may raise to refuse; nothing is written)."""
        if (on_loop := self.directory.on_loop) is not None:
            made = document()
            try:
                return await on_loop.create_user(made, actor=actor)
            except WouldBlock:
                return await self.one_resource(
                    lambda: self.directory.create_user(made, actor=actor)
                )
        return await self.one_resource(lambda: self.directory.create_user(document(), actor=actor))

    async def write_user(
        self,
        user_id: str,
        compute: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        if_match: Collection[int] | None,
        actor: str,
        action: str,
        detail: Any = None,
    ) -> StoredResource:
        """Read the user, compute its new document from the stored one with ``compute``
        (``scim.documents``; whatever it raises writes nothing), and store it.

        Every call goes down. On the event loop (``Directory.on_loop``) no lock is held, and when
        another writer changed the user meanwhile the write lands nowhere and the document is
        computed again from the new one. In a thread the user stays locked in between
        (``editing_user``).
        """

        def locked() -> StoredResource:
            with self.directory.editing_user(user_id, if_match=if_match) as edit:
                document = compute(edit.current.document)
                return edit.write(document, actor=actor, action=action, detail=detail)

        if (on_loop := self.directory.on_loop) is None:
            return await self.one_resource(locked)
        try:
            for _ in range(_MAX_TRIES):
                edit = await on_loop.edit(user_id, if_match=if_match)
                document = compute(edit.current.document)
                stored = await edit.write(document, actor=actor, action=action, detail=detail)
                if stored is not None:
                    return stored
        except WouldBlock:
            # A SQLite lock held elsewhere, before anything was written: the locked edit, in a
            # thread, where waiting for it is harmless.
            return await self.one_resource(locked)
        raise StoreUnavailable("the user kept changing under this write")

    async def query_users(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        """A page of users; an index lookup as one user's call, any other list in a thread."""
        on_loop = self.directory.on_loop
        if on_loop is not None and on_loop.serves(selection):
            try:
                return await on_loop.query_users(selection, offset, limit)
            except WouldBlock:
                pass

        def work() -> tuple[int, list[StoredResource]]:
            return self.directory.query_users(selection, offset, limit)

        # Entra's `userName eq "…"` before every create is an index lookup: run it as one
        # user's call; any other filter may scan the table.
        return await (self.one_resource if selection.index_lookup else self.unbounded)(work)
