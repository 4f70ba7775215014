"""Operations: one generator, run on sync and async connections, transactions only where needed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from pydal_lite import (
    CommitOutcomeUnknown,
    ConnectionLost,
    InvalidInput,
    PydalError,
    queries,
    sql,
    transaction,
)
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


# -- one_write: the operation's one write goes alone (no BEGIN/COMMIT) -------------------


@operation(one_write=True)
def _copy_then_read(twice: bool = False) -> Steps[int]:
    count = yield from CopyIn("copy op_probe (n) from stdin", [(1,), (2,)])
    if twice:
        count += yield from CopyIn("copy op_probe (n) from stdin", [(3,)])
    yield from sql.server.get_schema_version()
    return count


def _probe_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as other:  # committed rows only
        row = other.execute("select count(*) from op_probe").fetchone()
    return int(row[0]) if row else -1


@pytest.mark.own_db
def test_a_one_write_operation_sends_its_write_without_begin_and_commit(
    conn: Connection,
) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    dsn = conn.info.dsn
    with _protocol(conn) as sent:
        assert _copy_then_read(conn) == 2
    assert _commands(sent) == []
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not conn.autocommit
    assert _probe_rows(dsn) == 2
    # in the caller's transaction: a savepoint, committed (or not) with the caller's
    with transaction(conn), _protocol(conn) as inner:
        _copy_then_read(conn)
    assert _commands(inner) == ["SAVEPOINT", "RELEASE"]
    # above READ COMMITTED, or READ ONLY (which BEGIN applies): the usual transaction
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with _protocol(conn) as rr:
        _copy_then_read(conn)
    assert _commands(rr) == ["BEGIN", "COMMIT"]
    conn.isolation_level = None
    conn.read_only = True
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _copy_then_read(conn)
    assert _probe_rows(dsn) == 6


@pytest.mark.own_db
def test_a_one_write_operation_refuses_a_second_write(conn: Connection) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    with pytest.raises(PydalError, match="declared one_write=True asked for a second write"):
        _copy_then_read(conn, twice=True)
    assert _probe_rows(conn.info.dsn) == 2  # the first write had committed on its own


def test_a_one_write_lost_in_flight_is_commit_outcome_unknown(dsn: str) -> None:
    with psycopg.connect(dsn) as c:
        c.execute("create table op_probe (n int)")
        c.commit()
        _copy_then_read(c)  # the connection's isolation level is known: no probe first
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (c.info.backend_pid,))
        with pytest.raises(CommitOutcomeUnknown):
            _copy_then_read(c)


@pytest.mark.own_db
async def test_an_async_one_write_operation_sends_its_write_alone(
    conn: Connection, aconn: AsyncConnection
) -> None:
    conn.execute("create table op_probe (n int)")
    conn.commit()
    async with await psycopg.AsyncConnection.connect(conn.info.dsn) as ac:
        with tempfile.TemporaryFile("w+") as f:
            ac.pgconn.trace(f.fileno())
            assert await _copy_then_read(ac) == 2
            ac.pgconn.untrace()
            f.seek(0)
            sent = [line for line in f.read().splitlines() if "\tF\t" in line]
        assert _commands(sent) == []
        assert not ac.autocommit
    assert _probe_rows(conn.info.dsn) == 2


async def test_an_async_one_write_lost_in_flight_is_commit_outcome_unknown(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("create table op_probe (n int)")
        async with await psycopg.AsyncConnection.connect(dsn) as ac:
            await _copy_then_read(ac)
            admin.execute("select pg_terminate_backend(%s)", (ac.info.backend_pid,))
            with pytest.raises(CommitOutcomeUnknown):
                await _copy_then_read(ac)


@pytest.mark.parametrize("probed", [False, True])
def test_a_read_of_its_own_lost_in_flight_is_connection_lost(dsn: str, probed: bool) -> None:
    with psycopg.connect(dsn) as c:
        if probed:  # else the isolation probe is the first statement to fail
            _info_and_extensions(c)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (c.info.backend_pid,))
        with pytest.raises(ConnectionLost):
            _info_and_extensions(c)
