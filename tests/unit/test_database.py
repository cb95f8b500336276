"""Schema revision checks that decide whether serve starts and whether /readyz is ready."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from scimbridge.store.database import at_head, create_db_engine, head_revision, migrate


def test_behind_is_refused_and_newer_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rev.db'}"
    engine = create_db_engine(url)
    assert not at_head(engine)  # empty database
    migrate(url, "0001")
    assert not at_head(engine)  # behind this code
    migrate(url)
    assert at_head(engine)
    with engine.begin() as conn:  # a later release migrated first (rolling upgrade)
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    assert at_head(engine)
    assert head_revision() is not None
    engine.dispose()
