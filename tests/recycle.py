"""Put a test database back to an earlier state of its rows: for tests that only read and
write rows, a cheaper stand-in for a fresh clone per test.

A clone costs a ``CREATE DATABASE`` (about a thousand files) and a ``DROP DATABASE``;
emptying the few tables a test wrote to costs a ``TRUNCATE``. :func:`state` records the row
count of every public table and the position of every public sequence; :func:`restore`
truncates the tables that were empty then and have rows now (and those referring to
them), puts the sequences back, and returns what it could not restore (a table that had
rows then and changed, a relation added or dropped): a test that does more than write
rows must use its own clone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from fix_db import contents_on
from psycopg import sql

_SEQUENCES = """
select sequencename, last_value
from pg_sequences where schemaname = 'public' order by 1
"""


@dataclass(frozen=True)
class State:
    counts: dict[str, int]  # fix_db.contents: rows per table, relations in public
    sequences: dict[str, int | None]  # last_value; None before the first nextval


def _sequences(conn: psycopg.Connection[Any]) -> dict[str, int | None]:
    return {r[0]: r[1] for r in conn.execute(_SEQUENCES).fetchall()}


def state(dsn: str) -> State:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return State(contents_on(conn), _sequences(conn))


def restore(dsn: str, before: State) -> list[str]:
    """Restore ``before``'s rows and sequences in ``dsn``; what differs afterwards."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        now = State(contents_on(conn), _sequences(conn))
        if now == before:
            return []
        written = sorted(t for t, n in now.counts.items() if n and before.counts.get(t) == 0)
        with conn.transaction():
            if written:
                conn.execute(
                    sql.SQL("truncate {} restart identity cascade").format(
                        sql.SQL(", ").join(map(sql.Identifier, written))
                    )
                )
            for name, last in _sequences(conn).items():
                old = before.sequences.get(name, last)
                if last != old:
                    # never used before (None): is_called false, the next nextval gives the start
                    conn.execute(
                        "select setval(format('public.%%I', %s::text)::regclass,"
                        " coalesce(%s, start_value), %s)"
                        " from pg_sequences where schemaname = 'public' and sequencename = %s",
                        (name, old, old is not None, name),
                    )
        after = State(contents_on(conn), _sequences(conn))
    return sorted(
        [k for k in after.counts.keys() | before.counts.keys()
         if after.counts.get(k) != before.counts.get(k)]
        + [f"sequence {k}" for k in after.sequences.keys() | before.sequences.keys()
           if after.sequences.get(k) != before.sequences.get(k)]
    )  # fmt: skip
