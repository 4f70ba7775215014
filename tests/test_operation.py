"""Operations: one generator, run on sync and async connections, transactions only where needed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from pydal_lite import InvalidInput, PydalError, queries, sql, transaction
from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.resources import schema_dir
from pydal_lite.runtime import CopyIn, Steps, operation
from pydal_lite.sql.server import GetServerInfoRow

NEWEST = max(p.name[:4] for p in schema_dir().glob("[0-9]*.sql"))


@operation
def _info_and_extensions() -> Steps[tuple[GetServerInfoRow | None, list[str], str | None]]:
    info = yield from sql.server.get_server_info()
    exts = yield from sql.server.list_extensions()
    version = yield from sql.server.get_schema_version()
    return info, [e["name"] for e in exts], version


@operation
def _copy_then_fail(fail: bool) -> Steps[int]:
    count = yield from CopyIn("copy op_probe (n) from stdin", [(1,), (2,), (3,)])
    if fail:
        raise InvalidInput("asked to fail after the copy")
    return count


@contextmanager
def _protocol(conn: Connection) -> Iterator[list[str]]:
    """The statements the client sends while the block runs (libpq's protocol trace)."""
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as f:
        conn.pgconn.trace(f.fileno())
        try:
            yield sent
        finally:
            conn.pgconn.untrace()
            f.seek(0)
            sent.extend(line for line in f.read().splitlines() if "\tF\t" in line)


def _commands(sent: list[str]) -> list[str]:
    found = []
    for line in sent:
        for word in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"):
            if f'"{word}' in line:
                found.append(word)
    return found


def test_sync_operation_returns_typed_results(conn: Connection) -> None:
    info, extensions, version = _info_and_extensions(conn)
    assert version == NEWEST
    assert info is not None and info["version_num"] >= 140000
    assert "plpgsql" in extensions


async def test_async_operation_gives_same_results(aconn: AsyncConnection, dsn: str) -> None:
    out = await _info_and_extensions(aconn)
    with psycopg.connect(dsn) as c:
        assert _info_and_extensions(c)[1:] == out[1:]


@pytest.mark.own_db
def test_a_read_only_operation_sends_no_transaction_commands(conn: Connection) -> None:
    with _protocol(conn) as sent:
        _info_and_extensions(conn)
    assert _commands(sent) == []
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # inside the caller's transaction: no savepoint for reads either
    with transaction(conn), _protocol(conn) as inner:
        _info_and_extensions(conn)
    assert _commands(inner) == []


@pytest.mark.own_db
def test_a_writing_operation_runs_in_one_transaction(conn: Connection) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    with _protocol(conn) as sent:
        assert _copy_then_fail(conn, False) == 3
    assert _commands(sent) == ["BEGIN", "COMMIT"]
    with transaction(conn), _protocol(conn) as inner:
        _copy_then_fail(conn, False)
    assert _commands(inner) == ["SAVEPOINT", "RELEASE"]


@pytest.mark.own_db
def test_repeatable_read_keeps_reads_in_the_transaction(conn: Connection) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with _protocol(conn) as sent:
        _info_and_extensions(conn)
    assert _commands(sent) == ["BEGIN", "COMMIT"]


@pytest.mark.own_db
def test_failure_rolls_back_the_whole_operation(conn: Connection) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    with pytest.raises(InvalidInput, match="asked to fail"):
        _copy_then_fail(conn, True)
    assert conn.execute("select count(*) as n from op_probe").fetchone() == {"n": 0}
    assert _copy_then_fail(conn, False) == 3
    assert conn.execute("select count(*) as n from op_probe").fetchone() == {"n": 3}


@pytest.mark.own_db
def test_a_generator_cannot_go_on_after_a_server_error(conn: Connection) -> None:
    conn.execute("create table op_unique (n int primary key)")
    conn.commit()

    @operation
    def retry_after_duplicate() -> Steps[None]:
        try:
            yield from CopyIn("copy op_unique (n) from stdin", [(1,), (1,)])
        except psycopg.errors.UniqueViolation:
            yield from CopyIn("copy op_unique (n) from stdin", [(2,)])

    with pytest.raises(PydalError, match="cannot run more steps after a server error"):
        retry_after_duplicate(conn)
    assert conn.execute("select count(*) as n from op_unique").fetchone() == {"n": 0}


def test_a_failing_query_names_itself_and_its_file_line(empty_dsn: str) -> None:
    # an unmigrated database: schema_migrations does not exist
    with psycopg.connect(empty_dsn) as conn, pytest.raises(psycopg.errors.UndefinedTable) as e:
        queries.server.get_schema_version(conn)
    line = next(
        i
        for i, text in enumerate(Path(schema_dir().parent / "queries" / "server.sql").open(), 1)
        if "name: get_schema_version" in text
    )
    assert e.value.__notes__ == [f"in query server.get_schema_version (queries/server.sql:{line})"]


def test_query_text_carries_its_name_tag_to_pg_stat_activity(conn: Connection, dsn: str) -> None:
    queries.server.get_server_info(conn)
    with psycopg.connect(dsn) as dba:
        row = dba.execute(
            "select query from pg_stat_activity where pid = %s", (conn.info.backend_pid,)
        ).fetchone()
    assert row is not None
    assert row[0].startswith("/* pydal_lite:server.get_server_info */")


def test_an_operation_refuses_what_is_not_a_connection() -> None:
    with pytest.raises(TypeError, match="expected a psycopg connection, got str"):
        _info_and_extensions("postgresql://nowhere")  # type: ignore[call-overload]


@pytest.mark.own_db
def test_a_generator_that_swallows_a_server_error_does_not_commit_silently(
    conn: Connection,
) -> None:
    conn.execute("create table op_unique (n int primary key)")
    conn.commit()

    @operation
    def create_twice() -> Steps[str]:
        yield from CopyIn("copy op_unique (n) from stdin", [(1,)])
        try:
            yield from CopyIn("copy op_unique (n) from stdin", [(1,)])
        except psycopg.errors.UniqueViolation:
            return "existed"
        return "new"

    with pytest.raises(PydalError, match="returned after catching a server error") as e:
        create_twice(conn)
    assert isinstance(e.value.__cause__, psycopg.errors.UniqueViolation)
    assert conn.execute("select count(*) as n from op_unique").fetchone() == {"n": 0}


def test_a_server_default_above_read_committed_keeps_reads_in_the_transaction(dsn: str) -> None:
    options = "-c default_transaction_isolation=serializable"
    with psycopg.connect(dsn, options=options) as c, _protocol(c) as sent:
        _info_and_extensions(c)
    assert _commands(sent) == ["BEGIN", "COMMIT"]
    with psycopg.connect(dsn) as c, _protocol(c) as sent:
        _info_and_extensions(c)
    assert _commands(sent) == []
