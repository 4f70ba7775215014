"""Connections, pools and transaction scopes from one set of settings."""

from __future__ import annotations

import psycopg
import pytest
from fix_server import Server

from pydal_lite import (
    Settings,
    aqueries,
    atransaction,
    create_async_pool,
    create_pool,
    queries,
    transaction,
)
from pydal_lite.connection import Connection


def test_pool_connections_have_dict_rows_and_application_name(shared_dsn: str) -> None:
    settings = Settings(dsn=shared_dsn, application_name="billing-worker", min_size=1, max_size=2)
    with create_pool(settings) as pool, pool.connection() as conn:
        row = conn.execute("select current_setting('application_name') as app").fetchone()
        assert row == {"app": "billing-worker"}
        assert queries.server.get_server_info(conn)["database"] == conn.info.dbname


def test_statement_timeout_setting_reaches_the_server(shared_dsn: str) -> None:
    settings = Settings(dsn=shared_dsn, statement_timeout=0.2)
    with create_pool(settings) as pool, pool.connection() as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(2)")


async def test_async_pool_runs_named_queries(shared_dsn: str) -> None:
    async with create_async_pool(Settings(dsn=shared_dsn, max_size=2)) as pool:
        async with pool.connection() as conn:
            info = await aqueries.server.get_server_info(conn)
            assert info["version_num"] >= 140000


@pytest.mark.own_db  # the outermost scope must really commit and roll back
def test_transaction_scope_rolls_back_on_error(conn: Connection) -> None:
    conn.execute("create table scope_probe (n int)")
    conn.commit()
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("insert into scope_probe values (1)")
        raise RuntimeError("boom")
    with transaction(conn):
        conn.execute("insert into scope_probe values (2)")
        with pytest.raises(psycopg.errors.DivisionByZero), transaction(conn):  # a savepoint
            conn.execute("select 1 / 0")
    assert conn.execute("select array_agg(n) as ns from scope_probe").fetchone() == {"ns": [2]}


async def test_async_transaction_scope_commits(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as aconn:
        await aconn.execute("create table ascope (n int)")
        await aconn.commit()
        async with atransaction(aconn):
            await aconn.execute("insert into ascope values (7)")
    with psycopg.connect(dsn) as other:
        assert other.execute("select n from ascope").fetchall() == [(7,)]


def test_named_query_tag_is_visible_in_pg_stat_activity(conn: Connection, server: Server) -> None:
    queries.server.get_server_info(conn)
    with psycopg.connect(server.dsn) as dba:  # another backend, another database
        row = dba.execute(
            "select query from pg_stat_activity where pid = %s", (conn.info.backend_pid,)
        ).fetchone()
    assert row is not None
    assert row[0].startswith("/* pydal_lite:server.get_server_info */")


def test_sync_selects_are_lists_not_open_cursors(conn: Connection) -> None:
    rows = queries.server.list_extensions(conn)
    assert isinstance(rows, list)
    assert all(set(r) == {"name", "version"} for r in rows)


def test_every_query_file_has_a_generated_module() -> None:
    from pydal_lite.resources import queries_dir

    files = sorted(p.stem for p in queries_dir().glob("*.sql"))
    assert queries.__all__ == files
    with pytest.raises(AttributeError, match=r"has no attribute 'nosuch'"):
        _ = queries.nosuch  # type: ignore[attr-defined]
