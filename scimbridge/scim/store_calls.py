"""Where a request handler's store call runs: on the event loop if it need not wait, else a thread.

Does: run a call on one resource of bounded size (a user: create, read, replace, patch, delete)
right on the event loop's thread when the directory offers calls that cannot wait (a SQLite
file). Such a call is local and takes well under a millisecond, less than the hand-off to a
worker thread and back. A lock held elsewhere (another process, the sync worker, a write already
running in a thread) makes it fail at once, before anything is written, and it then runs again in
Starlette's thread pool, where waiting is harmless. Calls of unbounded size (lists, groups with
their members) and every call on PostgreSQL (network round trips) go to the thread pool.
Does not: decide what a call does, or retry anything but a call that never started writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from scimbridge.store.directory import Directory
from scimbridge.store.errors import WouldBlock

T = TypeVar("T")


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
