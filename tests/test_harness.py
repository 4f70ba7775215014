"""The test harness itself: server choice, the shared database, clones, the Docker path."""

from __future__ import annotations

import os
import re
import time

import psycopg
import pytest
import recycle
from clones import Clones
from fix_db import contents
from fix_server import TIMESCALE_IMAGE, Server, docker_available, start_container
from psycopg import sql

from pydal_lite import migrate
from pydal_lite.connection import Connection
from pydal_lite.dsn import with_database
from pydal_lite.resources import schema_dir


def test_conn_is_on_the_shared_database_inside_a_transaction(
    conn: Connection, shared_dsn: str, template_db: str
) -> None:
    row = conn.execute("select current_database() as db").fetchone()
    assert row is not None and row["db"] == psycopg.conninfo.conninfo_to_dict(shared_dsn)["dbname"]
    assert row["db"] != template_db
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.execute("create table rolled_back_here (id int)")
    with pytest.raises(psycopg.ProgrammingError, match="commit"):
        conn.commit()


def test_the_previous_tests_table_was_rolled_back(conn: Connection) -> None:
    assert conn.execute("select to_regclass('rolled_back_here') as t").fetchone() == {"t": None}


@pytest.mark.own_db
def test_own_db_gets_its_own_clone_and_may_commit(
    conn: Connection, dsn: str, shared_dsn: str
) -> None:
    row = conn.execute("select current_database() as db").fetchone()
    assert row is not None and row["db"] == psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    assert row["db"] != psycopg.conninfo.conninfo_to_dict(shared_dsn)["dbname"]
    conn.execute("create table only_here (id int)")
    conn.commit()
    with psycopg.connect(dsn) as other:
        assert other.execute("select to_regclass('only_here')::text").fetchone() == ("only_here",)


def test_a_clone_does_not_see_other_tests_tables(conn: Connection) -> None:
    assert conn.execute("select to_regclass('only_here') as t").fetchone() == {"t": None}


def test_databases_are_migrated_to_the_newest_file(conn: Connection) -> None:
    files = sorted(m.version for m in migrate.load_dir(schema_dir()))
    rows = conn.execute("select version from schema_migrations order by version").fetchall()
    assert [r["version"] for r in rows] == files


def test_server_facts_are_known(server: Server) -> None:
    if os.environ.get("PYDAL_TEST_DSN"):
        assert server.kind == "PYDAL_TEST_DSN"
    else:
        assert server.kind == ("docker" if docker_available()[0] else "embedded")
    with psycopg.connect(server.dsn) as c:
        row = c.execute("select current_setting('server_version_num')::int").fetchone()
    assert row is not None and server.version_num == row[0] >= 140000
    assert server.version.startswith("PostgreSQL")


def test_docker_probe_answers_quickly_either_way() -> None:
    started = time.monotonic()
    ok, reason = docker_available()
    assert time.monotonic() - started < 10
    if ok:
        assert reason == ""
    else:
        assert re.fullmatch(r"no Docker engine reachable \(\w+\)", reason), reason
    no_socket = not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock")
    if no_socket:
        assert not ok, "no DOCKER_HOST and no /var/run/docker.sock, yet the probe answered"


@pytest.mark.docker
def test_testcontainers_timescaledb_image_gives_a_psycopg3_url() -> None:
    url, container = start_container()
    try:
        assert url.startswith("postgresql://"), "driver=None must give a plain URL, not +psycopg2"
        with psycopg.connect(url) as conn:
            conn.execute("create extension if not exists timescaledb")
            row = conn.execute(
                "select extversion from pg_extension where extname = 'timescaledb'"
            ).fetchone()
        assert row is not None and TIMESCALE_IMAGE.split(":")[1].startswith(row[0])
    finally:
        container.stop()


def test_the_shared_database_guard_names_a_committed_table(dsn: str) -> None:
    before = contents(dsn)
    with psycopg.connect(dsn) as c:
        c.execute("insert into sessions (session_id) values ('committed')")
    after = contents(dsn)
    assert {k for k in after if after[k] != before.get(k)} == {"sessions"}


def test_a_clone_with_only_rows_written_is_put_back_as_it_was(dsn: str) -> None:
    before = recycle.baseline(dsn)
    with psycopg.connect(dsn) as c:
        c.execute("insert into sessions (session_id) values ('s1'), ('s2')")
        c.execute(
            "insert into messages (session_db_id, seq, role, content)"
            " select id, 1, 'user', 'hi' from sessions"
        )
        c.execute("select nextval(pg_get_serial_sequence('pipeline_cache', 'id'))")
        c.execute("create temp table scratch (id int)")  # gone with the session
    left_open = psycopg.connect(dsn)  # reset ends the other sessions
    assert recycle.reset(dsn, before)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("select 1")
    left_open.close()
    assert recycle.baseline(dsn) == before
    with psycopg.connect(dsn) as c:  # identities start again, as in a fresh clone
        row = c.execute("insert into sessions (session_id) values ('s3') returning id")
        assert row.fetchone() == (1,)
        seq = c.execute("select nextval(pg_get_serial_sequence('pipeline_cache', 'id'))")
        assert seq.fetchone() == (1,)
    assert recycle.reset(dsn, before)


CHANGES = [
    "create table extra (id int)",
    "alter table sessions add column extra int",
    "alter table sessions alter column session_id set default 'x'",
    "create index on sessions (created_at)",
    "create function f() returns int language sql as 'select 1'",
    "create trigger t before insert on sessions for each row execute function"
    " suppress_redundant_updates_trigger()",
    "comment on table sessions is 'changed'",
    "create schema elsewhere",
    "analyze sessions",
    "update schema_migrations set version = version",
    "alter sequence sessions_id_seq increment by 2",
    "grant select on sessions to public",
    "alter table sessions set (fillfactor = 50)",
    "alter database {db} set work_mem = '8MB'",
]


def test_every_change_but_rows_and_sequences_shows_in_what_reset_compares(dsn: str) -> None:
    before = recycle.baseline(dsn)
    kept = recycle._kept(before.counts)
    with psycopg.connect(dsn) as c:  # each change seen inside a transaction, rolled back
        db = sql.Identifier(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])
        for change in CHANGES:
            with c.transaction(force_rollback=True):
                c.execute("insert into sessions (session_id) values ('s1')")
                c.execute(sql.SQL(change).format(db=db))  # type: ignore[arg-type]
                now = recycle._state(c, kept)
                assert (now.catalogs, now.kept) != (before.catalogs, before.kept), change
    assert recycle.reset(dsn, before)  # all rolled back


def test_a_clone_whose_definitions_changed_is_not_put_back(dsn: str) -> None:
    before = recycle.baseline(dsn)
    with psycopg.connect(dsn) as c:
        c.execute("insert into sessions (session_id) values ('s1')")
        c.execute("create index on sessions (created_at)")
    assert not recycle.reset(dsn, before)


def test_clones_made_ahead_are_dropped_on_close(server: Server) -> None:
    pool = Clones(server.dsn, ahead=1)
    taken = pool.take("template0")
    with psycopg.connect(with_database(server.dsn, taken)) as c:
        assert c.execute("select current_database()").fetchone() == (taken,)
    pool.give_back(taken)
    pool.close()
    assert pool.errors == []
    assert taken in pool.made and len(pool.made) >= 2  # one taken, at least one made ahead
    with psycopg.connect(server.dsn) as c:
        left = c.execute(
            "select datname from pg_database where datname = any(%s)", (pool.made,)
        ).fetchall()
    assert left == []
