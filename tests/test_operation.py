"""Operations: one generator, run on sync and async connections, in one transaction."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fix_server import Server

from pydal_lite import InvalidInput, PydalError, aqueries, migrate, queries
from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.operation import CopyIn, Steps, operation, q
from pydal_lite.resources import schema_dir


@operation
def _info_and_extensions() -> Steps[dict[str, Any]]:
    info = yield q.server.get_server_info()
    exts = yield q.server.list_extensions()
    version = yield q.server.get_schema_version()
    return {"info": info, "extensions": [e["name"] for e in exts], "version": version}


@operation
def _copy_then_fail(fail: bool) -> Steps[int]:
    count = yield CopyIn("copy op_probe (n) from stdin", [(1,), (2,), (3,)])
    if fail:
        raise InvalidInput("asked to fail after the copy")
    return int(count)


def test_sync_operation_returns_results(conn: Connection) -> None:
    out = _info_and_extensions(conn)
    newest = max(m.version for m in migrate.load_dir(schema_dir()))
    assert out["version"] == newest
    assert out["info"]["version_num"] >= 140000
    assert isinstance(out["extensions"], list)


async def test_async_operation_gives_same_results(aconn: AsyncConnection, shared_dsn: str) -> None:
    out = await _info_and_extensions(aconn)
    with psycopg.connect(shared_dsn) as c:
        sync = _info_and_extensions(c)
    assert out["version"] == sync["version"]
    assert out["extensions"] == sync["extensions"]


@pytest.mark.own_db
def test_failure_rolls_back_the_whole_operation(conn: Connection) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    with pytest.raises(InvalidInput, match="asked to fail"):
        _copy_then_fail(conn, True)
    assert conn.execute("select count(*) as n from op_probe").fetchone() == {"n": 0}
    assert _copy_then_fail(conn, False) == 3
    assert conn.execute("select count(*) as n from op_probe").fetchone() == {"n": 3}


def test_unknown_parameter_is_named(conn: Connection) -> None:
    @operation
    def bad() -> Steps[None]:
        yield q.server.get_server_info(nope=1)

    with pytest.raises(InvalidInput, match=r"unknown parameters \['nope'\]"):
        bad(conn)


def test_query_sql_carries_its_name_tag_in_pg_stat_activity(
    conn: Connection, server: Server
) -> None:
    tag = "/* pydal_lite:server.get_server_info */"
    assert queries.server.get_server_info.sql.startswith(tag)
    queries.server.get_server_info(conn)
    with psycopg.connect(server.dsn) as dba:  # another backend sees what conn last ran
        row = dba.execute(
            "select query from pg_stat_activity where pid = %s", (conn.info.backend_pid,)
        ).fetchone()
    assert row is not None and row[0].startswith(tag), row


async def test_async_queries_fix_aiosql_pitfalls(aconn: AsyncConnection) -> None:
    version = await aqueries.server.get_schema_version(aconn)
    assert version is not None  # aiosql's async $ would raise KeyError on dict rows
    rows = [r async for r in aqueries.server.list_extensions(aconn)]
    assert all("name" in r for r in rows)


@pytest.mark.own_db
def test_a_generator_cannot_go_on_after_a_server_error(conn: Connection) -> None:
    conn.execute("create table op_unique (n int primary key)")
    conn.commit()

    @operation
    def retry_after_duplicate() -> Steps[None]:
        try:
            yield CopyIn("copy op_unique (n) from stdin", [(1,), (1,)])
        except psycopg.errors.UniqueViolation:
            yield CopyIn("copy op_unique (n) from stdin", [(2,)])

    with pytest.raises(PydalError, match="cannot run more steps after a server error"):
        retry_after_duplicate(conn)
    assert conn.execute("select count(*) as n from op_unique").fetchone() == {"n": 0}
