"""Faults become pydal_lite errors that say what happened (issue 9, section 4).

Tests marked ``failover`` run on their own server (tests/pgcluster.py) that they crash
and restart. It is configured with ``synchronous_standby_names = 'ghost'`` (a standby
that never comes): a session with ``synchronous_commit = on`` then waits at COMMIT after
the commit record is written locally, so terminating it there cuts a commit off in
flight, every time. Other sessions use ``synchronous_commit = local`` and do not wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest
from pgcluster import Cluster, free_port, unavailable_reason

from pydal_lite import (
    CannotConnect,
    CommitOutcomeUnknown,
    ConnectionLost,
    InvalidInput,
    PoolExhausted,
    PydalError,
    Settings,
    aconnect,
    arun_transaction,
    atransaction,
    connect,
    create_async_pool,
    create_pool,
    run_transaction,
    transaction,
    translate_error,
)
from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.dsn import ResolvedDsn

WAITS_FOR_GHOST = {"options": "-c synchronous_commit=on"}


@pytest.fixture(scope="module")
def own_server() -> Iterator[Cluster]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"cannot start PostgreSQL servers here: {reason}")
    c = Cluster.create()
    try:
        node = c.init_primary(synchronous=False)
        c.configure(node, synchronous_standby_names="ghost", synchronous_commit="local")
        c.start("primary")
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            conn.execute("create table probe (n int primary key)")
        yield c
    finally:
        c.destroy()


@pytest.fixture
def own_dsn(own_server: Cluster) -> str:
    node = own_server.nodes["primary"]
    if not node.running:
        own_server.start("primary")
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        conn.execute("truncate probe")
    return node.dsn()


def stored(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [n for (n,) in conn.execute("select n from probe order by n")]


def terminate_when_waiting_for_sync(dsn: str) -> threading.Thread:
    """Terminate, from another session, the backend that waits at COMMIT for the ghost."""

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            for _ in range(500):
                row = admin.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where wait_event = 'SyncRep'"
                ).fetchone()
                if row is not None and row[0]:
                    return
                time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def terminate(dsn: str, conn: Connection | psycopg.Connection[Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))


# -- connection lost before commit: nothing committed ------------------------------------


@pytest.mark.failover
def test_a_backend_terminated_mid_transaction_is_connection_lost(own_dsn: str) -> None:
    with create_pool(Settings(dsn=own_dsn, max_size=1)) as pool:
        with pytest.raises(ConnectionLost) as caught, pool.connection() as conn:
            conn.execute("insert into probe values (1)")
            terminate(own_dsn, conn)
            conn.execute("insert into probe values (2)")
        with pool.connection() as conn:  # the pool replaced the broken connection
            conn.execute("insert into probe values (3)")
    assert isinstance(caught.value, psycopg.OperationalError)
    assert isinstance(caught.value.__cause__, psycopg.errors.AdminShutdown)
    assert "nothing of it was committed" in str(caught.value)
    assert stored(own_dsn) == [3]


@pytest.mark.failover
def test_transaction_scope_on_a_plain_psycopg_connection_translates_too(own_dsn: str) -> None:
    with psycopg.connect(own_dsn) as conn:
        with pytest.raises(ConnectionLost), transaction(conn):
            conn.execute("insert into probe values (1)")
            terminate(own_dsn, conn)
            conn.execute("insert into probe values (2)")
    assert stored(own_dsn) == []


@pytest.mark.failover
def test_a_server_crash_mid_transaction_is_connection_lost_and_the_pool_recovers(
    own_server: Cluster, own_dsn: str
) -> None:
    settings = Settings(dsn=own_dsn, min_size=2, max_size=2, pool_timeout=15, check=True)
    with create_pool(settings) as pool:
        pool.wait(10)
        with pytest.raises(ConnectionLost), pool.connection() as conn:
            conn.execute("insert into probe values (1)")
            own_server.stop("primary", "immediate")
            conn.execute("insert into probe values (2)")
        own_server.start("primary")

        def work(conn: Connection) -> None:
            conn.execute("insert into probe values (3)")

        run_transaction(pool, work)  # check=True: the stale idle connection is replaced
    assert stored(own_dsn) == [3]


# -- commit outcome unknown ---------------------------------------------------------------


def _commit_via_pool(dsn: str) -> None:
    with (
        create_pool(Settings(dsn=dsn, max_size=1, extra=WAITS_FOR_GHOST)) as pool,
        pool.connection() as conn,
    ):
        conn.execute("insert into probe values (1)")
        thread = terminate_when_waiting_for_sync(dsn)
    thread.join()


def _commit_via_transaction_scope(dsn: str) -> None:
    with psycopg.connect(dsn, **WAITS_FOR_GHOST) as conn:  # a plain psycopg connection
        with transaction(conn):
            conn.execute("insert into probe values (1)")
            thread = terminate_when_waiting_for_sync(dsn)
        thread.join()


def _commit_explicitly(dsn: str) -> None:
    with connect(Settings(dsn=dsn, extra=WAITS_FOR_GHOST)) as conn:
        conn.execute("insert into probe values (1)")
        thread = terminate_when_waiting_for_sync(dsn)
        try:
            conn.commit()
        finally:
            thread.join()


def _autocommit_statement(dsn: str) -> None:
    settings = Settings(dsn=dsn, max_size=1, extra=WAITS_FOR_GHOST)
    with create_pool(settings) as pool, pool.connection() as conn:
        conn.autocommit = True
        thread = terminate_when_waiting_for_sync(dsn)
        try:
            conn.execute("insert into probe values (1)")
        finally:
            thread.join()


@pytest.mark.failover
@pytest.mark.parametrize(
    "commit",
    [_commit_via_pool, _commit_via_transaction_scope, _commit_explicitly, _autocommit_statement],
    ids=["pool-exit", "transaction-scope", "conn.commit", "autocommit-statement"],
)
def test_a_commit_cut_off_in_flight_is_commit_outcome_unknown(own_dsn: str, commit: Any) -> None:
    with pytest.raises(CommitOutcomeUnknown) as caught:
        commit(own_dsn)
    assert isinstance(caught.value, psycopg.OperationalError)
    assert not isinstance(caught.value, ConnectionLost)
    assert "may or may not have committed" in str(caught.value)
    # here it had committed (locally, before waiting for the standby): a blind retry of
    # this insert would have written it twice
    assert stored(own_dsn) == [1]


@pytest.mark.failover
def test_run_transaction_never_retries_an_unknown_outcome(own_dsn: str) -> None:
    attempts = []

    def work(conn: Connection) -> None:
        attempts.append(1)
        conn.execute("insert into probe values (%s)", (len(attempts),))
        terminate_when_waiting_for_sync(own_dsn)

    settings = Settings(dsn=own_dsn, max_size=1, extra=WAITS_FOR_GHOST)
    with create_pool(settings) as pool, pytest.raises(CommitOutcomeUnknown):
        run_transaction(pool, work, attempts=5)
    time.sleep(0.1)  # let the terminating thread finish
    assert len(attempts) == 1
    assert stored(own_dsn) == [1]


@pytest.mark.failover
async def test_async_scopes_tell_lost_from_unknown(own_dsn: str) -> None:
    aconn = await aconnect(Settings(dsn=own_dsn, extra=WAITS_FOR_GHOST))
    async with aconn:
        await aconn.execute("set synchronous_commit = local")
        with pytest.raises(ConnectionLost):
            async with atransaction(aconn):
                await aconn.execute("insert into probe values (1)")
                terminate(own_dsn, aconn)  # type: ignore[arg-type]
                await aconn.execute("insert into probe values (2)")
    aconn = await aconnect(Settings(dsn=own_dsn, extra=WAITS_FOR_GHOST))
    async with aconn:
        with pytest.raises(CommitOutcomeUnknown):
            async with atransaction(aconn):
                await aconn.execute("insert into probe values (3)")
                thread = terminate_when_waiting_for_sync(own_dsn)
        thread.join()
    assert stored(own_dsn) == [3]


# -- retries on the shared test server ----------------------------------------------------


def test_run_transaction_retries_a_lost_connection_and_writes_once(dsn: str) -> None:
    with connect(dsn) as setup:
        setup.execute("create table once (n int)")
        setup.commit()
    attempts = []

    def work(conn: Connection) -> None:
        attempts.append(1)
        conn.execute("insert into once values (1)")
        if len(attempts) == 1:  # the session ends itself before COMMIT is sent
            conn.execute("select pg_terminate_backend(pg_backend_pid())")

    with create_pool(Settings(dsn=dsn, max_size=1)) as pool:
        run_transaction(pool, work)
        with pool.connection() as conn:
            assert conn.execute("select count(*) as n from once").fetchone() == {"n": 1}
    assert len(attempts) == 2


def test_run_transaction_retries_a_serialization_failure(dsn: str) -> None:
    with connect(dsn) as setup:
        setup.execute("create table counter (id int primary key, n int not null)")
        setup.execute("insert into counter values (1, 0)")
        setup.commit()
    attempts = []

    def work(conn: Connection) -> int:
        attempts.append(1)
        conn.execute("set transaction isolation level repeatable read")
        row = conn.execute("select n from counter where id = 1").fetchone()
        assert row is not None
        if len(attempts) == 1:  # a concurrent writer commits after our snapshot
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("update counter set n = n + 10 where id = 1")
        conn.execute("update counter set n = %s where id = 1", (row["n"] + 1,))
        return int(row["n"]) + 1

    with create_pool(Settings(dsn=dsn, max_size=1)) as pool:
        assert run_transaction(pool, work) == 11
    assert len(attempts) == 2


def test_run_transaction_retries_a_deadlock(dsn: str) -> None:
    with connect(dsn) as setup:
        setup.execute("create table locks (id int primary key)")
        setup.execute("insert into locks values (1), (2)")
        setup.commit()
    attempts, holder_has_2 = [], threading.Event()

    def holder() -> None:  # locks 2, then waits for 1
        with psycopg.connect(dsn) as other:
            other.execute("set deadlock_timeout = '10s'")  # so that `work` is the victim
            other.execute("select id from locks where id = 2 for update")
            holder_has_2.set()
            other.execute("select id from locks where id = 1 for update")
            other.commit()

    def work(conn: Connection) -> None:
        attempts.append(1)
        conn.execute("set local deadlock_timeout = '50ms'")
        conn.execute("select id from locks where id = 1 for update")
        if len(attempts) == 1:
            thread = threading.Thread(target=holder)
            thread.start()
            holder_has_2.wait(5)
            time.sleep(0.2)  # the holder now waits for row 1
        conn.execute("select id from locks where id = 2 for update")

    with create_pool(Settings(dsn=dsn, max_size=1)) as pool:
        run_transaction(pool, work, backoff=0.2)
    assert len(attempts) == 2


async def test_arun_transaction_retries_a_lost_connection(dsn: str) -> None:
    attempts = []

    async def work(conn: AsyncConnection) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            await conn.execute("select pg_terminate_backend(pg_backend_pid())")
        return len(attempts)

    async with create_async_pool(Settings(dsn=dsn, max_size=1)) as pool:
        assert await arun_transaction(pool, work) == 2


def test_run_transaction_checks_its_bounds(dsn: str) -> None:
    with create_pool(Settings(dsn=dsn, max_size=1)) as pool:
        for bad in (0, 21, 2.5, True):
            with pytest.raises(InvalidInput, match="attempts must be an integer from 1 to 20"):
                run_transaction(pool, lambda conn: None, attempts=bad)  # type: ignore[arg-type]


# -- pool exhaustion, cannot connect --------------------------------------------------------


def test_a_pool_with_every_connection_in_use_raises_pool_exhausted(dsn: str) -> None:
    settings = Settings(dsn=dsn, application_name="tiny", min_size=1, max_size=1, pool_timeout=0.2)
    with create_pool(settings) as pool:
        pool.wait(10)  # its one connection opened: on a loaded machine that can exceed 0.2 s
        with pool.connection(), pytest.raises(PoolExhausted) as caught, pool.connection():
            pass
    assert isinstance(caught.value, psycopg_pool.PoolTimeout)
    assert str(caught.value) == (
        "no connection from pool 'tiny' within 0.2 s: all 1 of max_size=1 connections in "
        "use, requests waiting: 1 (raise max_size or hold connections shorter)"
    )


async def test_an_async_pool_with_every_connection_in_use_raises_pool_exhausted(
    dsn: str,
) -> None:
    settings = Settings(dsn=dsn, min_size=1, max_size=1, pool_timeout=0.2)
    async with create_async_pool(settings) as pool:
        await pool.wait(10)  # its one connection opened: under load that can exceed 0.2 s
        async with pool.connection():
            with pytest.raises(PoolExhausted, match="all 1 of max_size=1 connections in use"):
                async with pool.connection():
                    pass


def test_a_pool_whose_server_is_down_says_it_cannot_open_connections() -> None:
    dsn = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/app"
    settings = Settings(dsn=dsn, min_size=0, max_size=2, pool_timeout=0.5, connect_timeout=1)
    with create_pool(settings) as pool:
        with pytest.raises(PoolExhausted) as caught, pool.connection():
            pass
    assert "0 of max_size=2 connections in use and no new one could be opened" in str(caught.value)
    assert "is the server reachable?" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_cannot_connect_is_an_operational_error_without_the_password() -> None:
    dsn = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/app"
    with pytest.raises(CannotConnect) as caught:
        connect(dsn)
    assert isinstance(caught.value, psycopg.OperationalError)
    assert "cannot connect to app@127.0.0.1" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None  # libpq's own text is not chained


async def test_async_cannot_connect() -> None:
    with pytest.raises(CannotConnect, match="cannot connect to"):
        await aconnect(f"host=127.0.0.1 port={free_port()} user=x password=hunter2")


# -- translate_error for the operation runner ---------------------------------------------


def test_translate_error_leaves_statement_errors_alone(conn: Connection) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero) as caught:
        conn.execute("select 1 / 0")
    assert translate_error(caught.value) is None
    assert translate_error(ConnectionLost("x")) is None  # already translated
    lost = translate_error(psycopg.errors.AdminShutdown("terminating connection"))
    assert isinstance(lost, ConnectionLost)
    unknown = translate_error(psycopg.OperationalError("server closed"), committing=True)
    assert isinstance(unknown, CommitOutcomeUnknown)
    assert isinstance(translate_error(psycopg_pool.PoolTimeout("slow")), PoolExhausted)


# -- passwords in repr / str --------------------------------------------------------------


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:hunter2@db.internal:5432/app",
        "host=db.internal user=app password=hunter2 dbname=app",
        "host=db.internal user=app password='hunter2 x' dbname=app",
        "postgresql://app:hun@ter2@db.internal/app",  # unencoded @: shown as a placeholder
    ],
)
def test_nothing_holding_a_dsn_shows_its_password(dsn: str) -> None:
    settings = Settings(dsn=dsn, read_dsn=dsn, extra={"password": "hunter2"})
    resolved = ResolvedDsn(dsn, "--dsn")
    pool = create_pool(settings, open=False)
    for text in (repr(settings), str(settings), repr(resolved), str(resolved), repr(pool)):
        assert "hunter2" not in text
        assert "ter2" not in text
    if "hun@ter2" not in dsn:
        assert "db.internal" in repr(settings)
    assert "'password': '***'" in repr(settings)
    assert isinstance(settings, Settings) and not isinstance(settings, PydalError)


# -- domain operations ---------------------------------------------------------------------


def test_a_domain_call_on_a_pydal_connection_reports_connection_lost(dsn: str) -> None:
    from pydal_lite import background_tasks

    with connect(dsn) as conn:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
        with pytest.raises(ConnectionLost):
            background_tasks.enqueue_task(conn, "s1", {"n": 1})
    with connect(dsn) as conn:
        assert background_tasks.count_tasks_by_status(conn).get("pending", 0) == 0


def test_a_domain_call_on_a_plain_psycopg_connection_reports_connection_lost(dsn: str) -> None:
    from psycopg.rows import dict_row

    from pydal_lite import background_tasks

    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
        with pytest.raises(ConnectionLost):
            background_tasks.enqueue_task(conn, "s1", {"n": 1})
