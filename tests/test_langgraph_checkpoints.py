"""Migration 0007 builds langgraph-checkpoint-postgres' schema; its PostgresSaver runs on it.

The package is imported, not importorskip'ed: it is pinned in the test extra, and a run
without it must fail rather than quietly skip the schema check.
"""

from __future__ import annotations

from typing import Any

import psycopg
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.postgres.base import MIGRATIONS
from psycopg.rows import dict_row, tuple_row

from pydal_lite.connection import Connection

TABLES = ("checkpoint_migrations", "checkpoints", "checkpoint_blobs", "checkpoint_writes")
PINNED_VERSION = "3.2.0"  # pyproject.toml, test extra; schema/0007 records v = 0..9

# The parts of the catalog that make the package's schema: columns in order with
# type, nullability and default; constraints with definitions; indexes with definitions.
CATALOG_SQL = """
select 'column' as kind, c.relname || '.' || a.attnum || '.' || a.attname as name,
       format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') as def
from pg_attribute as a
join pg_class as c on c.oid = a.attrelid
left join pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
where c.relname = any(%(tables)s) and c.relnamespace = 'public'::regnamespace
  and a.attnum > 0 and not a.attisdropped
union all
select 'constraint', conname, conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
from pg_constraint
where conrelid::regclass::text = any(%(tables)s)
union all
select 'index', indexname, indexdef
from pg_indexes
where schemaname = 'public' and tablename = any(%(tables)s)
order by 1, 2
"""


def catalog(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(CATALOG_SQL, {"tables": list(TABLES)})
        return [tuple(r) for r in cur.fetchall()]


def counter(conn: psycopg.Connection[Any]) -> list[int]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select v from checkpoint_migrations order by v")
        return [r[0] for r in cur.fetchall()]


def saver_connection(dsn: str) -> psycopg.Connection[Any]:
    # What the package's docs and from_conn_string use; setup() needs autocommit.
    return psycopg.connect(dsn, autocommit=True, row_factory=dict_row, prepare_threshold=0)


def test_installed_package_is_the_pinned_version() -> None:
    from importlib.metadata import version

    assert version("langgraph-checkpoint-postgres") == PINNED_VERSION, (
        "langgraph-checkpoint-postgres changed: check its MIGRATIONS against schema/0007 "
        "and write a new migration for the difference before moving the pin"
    )


def test_package_migrations_match_the_counter_0007_recorded(conn: Connection) -> None:
    recorded = counter(conn)
    assert recorded == list(range(len(MIGRATIONS))), (
        f"schema/0007 recorded checkpoint_migrations v = {recorded!r} but the installed "
        f"langgraph-checkpoint-postgres has {len(MIGRATIONS)} MIGRATIONS: its setup() would "
        "apply the new ones itself; add a migration with their DDL and counter rows"
    )


def test_0007_builds_the_same_schema_as_the_package_setup(shared_dsn: str, empty_dsn: str) -> None:
    with saver_connection(empty_dsn) as c:
        PostgresSaver(c).setup()
        theirs, their_counter = catalog(c), counter(c)
    with saver_connection(shared_dsn) as c:  # reads only
        ours, our_counter = catalog(c), counter(c)
    assert len(ours) > 25  # columns, keys and indexes of four tables
    assert ours == theirs
    assert our_counter == their_counter


def test_setup_finds_nothing_to_do_and_saver_round_trips(dsn: str) -> None:
    with saver_connection(dsn) as c:
        before = (catalog(c), counter(c))
        saver = PostgresSaver(c)
        saver.setup()
        assert (catalog(c), counter(c)) == before

        config: Any = {"configurable": {"thread_id": "event-42", "checkpoint_ns": ""}}
        cp = empty_checkpoint()
        cp["channel_values"] = {"plan": {"venue": "Hall A", "guests": 120}, "step_name": "intro"}
        cp["channel_versions"] = {"plan": 1, "step_name": 1}
        saved = saver.put(
            config, cp, {"source": "input", "step": 1, "planner": "alice"}, {"plan": 1}
        )
        saver.put_writes(saved, [("plan", {"venue": "Hall B"})], task_id="task-1", task_path="p")

        got = saver.get_tuple(saved)
        assert got is not None
        assert got.checkpoint["id"] == cp["id"]
        assert got.checkpoint["channel_values"]["plan"] == {"venue": "Hall A", "guests": 120}
        assert got.metadata["planner"] == "alice"
        assert [(w[0], w[1], w[2]) for w in got.pending_writes or []] == [
            ("task-1", "plan", {"venue": "Hall B"})
        ]

        second = empty_checkpoint()
        saver.put(saved, second, {"source": "loop", "step": 2, "planner": "bob"}, {})
        assert [t.checkpoint["id"] for t in saver.list(config)] == [second["id"], cp["id"]]
        found = list(saver.list(config, filter={"planner": "alice"}))
        assert [t.checkpoint["id"] for t in found] == [cp["id"]]
        assert list(saver.list(config, filter={"planner": "nobody"})) == []

        rows = c.execute("select count(*) as n from checkpoint_blobs").fetchone()
        assert rows is not None and rows["n"] == 1  # the dict channel went to blobs


async def test_async_saver_round_trips(dsn: str) -> None:
    conn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, row_factory=dict_row, prepare_threshold=0
    )
    try:
        saver = AsyncPostgresSaver(conn)
        await saver.setup()
        config: Any = {"configurable": {"thread_id": "event-7", "checkpoint_ns": ""}}
        cp = empty_checkpoint()
        saved = await saver.aput(config, cp, {"source": "input", "step": 1}, {})
        got = await saver.aget_tuple(saved)
        assert got is not None and got.checkpoint["id"] == cp["id"]
        async with conn.cursor() as cur:
            await cur.execute("select max(v) as v from checkpoint_migrations")
            row = await cur.fetchone()
        assert row == {"v": len(MIGRATIONS) - 1}
    finally:
        await conn.close()
