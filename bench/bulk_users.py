"""Bulk load of stored users for the benchmarks: a million rows in about a minute, not via HTTP.

Does: start ``scimbridge serve`` once on the (migrated) database, ``POST`` one template user whose
name and number are placeholders, read back the row scimbridge stored for it (document and every
column, whatever they are), stop the server, and copy that row N times with the placeholders
replaced (``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL), then ``ANALYZE``.
Every row is therefore exactly what ``POST /Users`` stores, without depending on how the product
builds it. Also: starting ``serve`` on a database and waiting until it answers.
Does not: keep the template user (its row, outbox row and audit rows are deleted), or reach any
address but 127.0.0.1 and the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-static-token"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# The template's placeholders: upper-case letters that no stored key keeps as they are, so the
# lower-cased key columns carry the lower-case form, and both are replaced.
NUMBER = "QZQZQZ"


def preload_name(number: int | str) -> str:
    """The userName of preloaded user ``number`` (six digits, so keys sort as numbers)."""
    digits = number if isinstance(number, str) else f"{number:06d}"
    return f"bench.user{digits}@example.com"


def user_body(user_name: str, number: int | str) -> dict[str, Any]:
    """An Entra-shaped user: core attributes, a work email and the enterprise extension."""
    return {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "displayName": f"Bench User {number}",
        "name": {"givenName": "Bench", "familyName": f"User{number}"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE_URN: {"department": "Sales", "employeeNumber": str(number), "costCenter": "C1"},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIMBRIDGE_", "TWILIO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f}s")


def start_serve(
    database_url: str,
    log: Path,
    loop: str = "asyncio",
    extra_env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """``scimbridge serve`` on 127.0.0.1 and a free port, answering; return it and its SCIM base."""
    port = free_port()
    env = server_env(
        {"SCIMBRIDGE_DATABASE_URL": database_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
        | dict(extra_env or {})
    )
    command = [sys.executable, "-m", "scimbridge", "serve", "--host", "127.0.0.1", "--loop", loop]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port), *extra_args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/scim/v2"
    wait_ready(f"{base}/ServiceProviderConfig", process, 120, log)
    return process, base


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def post_user(base: str, body: dict[str, Any]) -> str:
    """POST one user; its id."""
    request = urllib.request.Request(
        f"{base}/Users",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["id"])


@contextlib.contextmanager
def raw_connection(database_url: str) -> Iterator[Any]:
    """A DB-API connection (sqlite3 or psycopg) to the database of a SQLAlchemy URL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        import sqlite3

        conn: Any = sqlite3.connect(str(url.database))
    else:
        import psycopg

        conn = psycopg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            dbname=url.database,
        )  # fmt: skip
    try:
        yield conn
    finally:
        conn.close()


def _template_row(conn: Any, user_id: str) -> dict[str, Any]:
    cursor = conn.cursor()
    cursor.execute(f"SELECT * FROM users WHERE id = {_param(conn)}", (user_id,))
    names = [d[0] for d in cursor.description]
    values = cursor.fetchone()
    row = dict(zip(names, values, strict=True))
    if not isinstance(row["resource"], str):  # PostgreSQL's jsonb comes back decoded
        row["resource"] = json.dumps(row["resource"])
    return row


def _param(conn: Any) -> str:
    return "?" if type(conn).__module__ == "sqlite3" else "%s"


def _rows(template: dict[str, Any], first: int, count: int) -> Iterator[tuple[Any, ...]]:
    """The template's values for users ``first``..``first+count-1``, placeholders replaced."""
    template_id = template["id"]
    texts = {k for k, v in template.items() if isinstance(v, str)}
    for number in range(first, first + count):
        digits = f"{number:06d}"
        new_id = str(uuid.uuid4())
        yield tuple(
            value.replace(NUMBER, digits)
            .replace(NUMBER.lower(), digits)
            .replace(template_id, new_id)
            if key in texts
            else value
            for key, value in template.items()
        )


def bulk_load(database_url: str, count: int, workdir: Path) -> tuple[list[str], list[str]]:
    """Store ``count`` users (``preload_name(0..count-1)``) as POST stores them; ids and names."""
    migrate = [sys.executable, "-m", "scimbridge", "migrate"]
    subprocess.run(
        migrate, env=server_env({"SCIMBRIDGE_DATABASE_URL": database_url}), check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    process, base = start_serve(database_url, workdir / "template-server.log")
    try:
        template_id = post_user(base, user_body(preload_name(NUMBER), NUMBER))
    finally:
        stop_process(process)
    with raw_connection(database_url) as conn:
        template = _template_row(conn, template_id)
        columns = ", ".join(template)
        marker = _param(conn)
        cursor = conn.cursor()
        for table in ("outbox", "audit_log"):
            column = "user_id" if table == "outbox" else "resource_id"
            cursor.execute(f"DELETE FROM {table} WHERE {column} = {marker}", (template_id,))
        cursor.execute(f"DELETE FROM users WHERE id = {marker}", (template_id,))
        if marker == "?":
            placeholders = ", ".join("?" * len(template))
            cursor.executemany(
                f"INSERT INTO users ({columns}) VALUES ({placeholders})",
                _rows(template, 0, count),
            )
        else:
            with cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy:
                for values in _rows(template, 0, count):
                    copy.write_row(values)
        conn.commit()
        cursor.execute("ANALYZE")
        conn.commit()
        cursor.execute("SELECT id, user_name FROM users ORDER BY user_name")
        pairs = cursor.fetchall()
    return [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]


def temporary_postgres(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the PostgreSQL server of ``admin_url``, and how to drop it."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"scimbench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), drop
