"""``serve --loop``: auto picks uvloop on PostgreSQL and asyncio on SQLite; a named loop wins."""

from __future__ import annotations

from scimbridge.cli.serve import EventLoop


def test_auto_runs_uvloop_on_postgres_and_asyncio_on_sqlite() -> None:
    assert EventLoop.AUTO.for_database(postgres=True) == "uvloop"
    assert EventLoop.AUTO.for_database(postgres=False) == "asyncio"


def test_a_named_loop_is_run_whatever_the_database() -> None:
    for postgres in (True, False):
        assert EventLoop.ASYNCIO.for_database(postgres) == "asyncio"
        assert EventLoop.UVLOOP.for_database(postgres) == "uvloop"


def test_auto_is_the_default_of_serve() -> None:
    import inspect

    from scimbridge.cli.serve import serve

    assert inspect.signature(serve).parameters["loop"].default is EventLoop.AUTO
