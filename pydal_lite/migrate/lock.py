"""The session advisory lock that lets one runner at a time work on a database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

# pg_advisory_lock key, fixed so every runner version agrees. Advisory locks are
# per database, so runners on different databases never wait for each other.
LOCK_KEY = 0x3A6F_51D2_0C94_7B11
LOCK_POLL_SECONDS = 0.5


@contextmanager
def advisory_lock(conn: psycopg.Connection[Any], out: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock; say once who holds it while waiting."""
    waited = False
    # Poll instead of blocking in pg_advisory_lock(): a blocked statement holds a
    # snapshot, and CREATE INDEX CONCURRENTLY in the lock holder waits for every
    # snapshot to go away, a deadlock (the trap of flyway #1654).
    while not _try_lock(conn):
        if not waited:
            out(f"waiting for another migration runner ({_holder(conn)})")
            waited = True
        time.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


def _try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def _holder(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "select a.pid, a.application_name, a.client_addr::text"
        " from pg_locks l join pg_stat_activity a on a.pid = l.pid"
        " where l.locktype = 'advisory' and l.granted and l.database = ("
        "   select oid from pg_database where datname = current_database())"
        " and (l.classid::bigint << 32) | l.objid::bigint = %s",
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "holder unknown"
    return f"pid {row[0]}, application {row[1] or '?'}, client {row[2] or 'local'}"
