"""The migration runner against a real server: apply, roll back, drift, locking, failures."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from catalog import snapshot, tables_in

from pydal_lite import migrate
from pydal_lite.errors import DriftError, MigrationError, MigrationFailed
from pydal_lite.resources import schema_dir

BOOTSTRAP = schema_dir() / "0001_bootstrap.sql"
RUNNER_TABLES = ("schema_migration",)


@pytest.fixture
def tmp_schema(tmp_path: Path) -> Path:
    """A schema folder holding only the bootstrap migration; tests add files to it."""
    folder = tmp_path / "schema"
    folder.mkdir()
    shutil.copy(BOOTSTRAP, folder)
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_up_from_empty_applies_every_file_in_order(empty_dsn: str) -> None:
    files = migrate.load_dir(schema_dir())
    applied = migrate.up(empty_dsn)
    assert [m.version for m in applied] == [m.version for m in files]
    states = migrate.status(empty_dsn)
    assert {s.state for s in states} == {"applied"}
    assert [s.version for s in states] == sorted((m.version for m in files), key=int)
    assert all(s.applied_at is not None and s.execution_ms is not None for s in states)


def test_second_run_has_nothing_to_do(empty_dsn: str) -> None:
    migrate.up(empty_dsn)
    before = migrate.history(empty_dsn)
    assert migrate.up(empty_dsn) == []
    assert migrate.history(empty_dsn) == before


def test_down_all_then_up_gives_the_same_catalog(empty_dsn: str) -> None:
    migrate.up(empty_dsn)
    first = snapshot(empty_dsn, exclude_tables=RUNNER_TABLES)
    rolled = migrate.down(empty_dsn, target="0")
    assert len(rolled) == len(migrate.load_dir(schema_dir()))
    assert migrate.status(empty_dsn)[0].state == "pending"
    leftover = {t for t in tables_in(empty_dsn) if not t.startswith(RUNNER_TABLES)}
    assert leftover == set(), f"down left tables behind: {leftover}"
    migrate.up(empty_dsn)
    assert snapshot(empty_dsn, exclude_tables=RUNNER_TABLES) == first


def test_history_records_ups_and_downs(empty_dsn: str, tmp_schema: Path) -> None:
    write(
        tmp_schema,
        "0002_create_a.sql",
        "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n",
    )
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    migrate.down(empty_dsn, schema_dir=tmp_schema)
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    events = [(e.version, e.direction) for e in migrate.history(empty_dsn)]
    assert events == [("0001", "up"), ("0002", "up"), ("0002", "down"), ("0002", "up")]


def test_failure_mid_file_leaves_no_trace_and_names_the_line(
    empty_dsn: str, tmp_schema: Path
) -> None:
    write(tmp_schema, "0002_create_good.sql", "-- migrate:up\ncreate table good (id int);\n")
    bad = write(
        tmp_schema,
        "0003_create_bad.sql",
        "-- a file that fails halfway\n"
        "-- migrate:up\n"
        "create table half (id int);\n"
        "insert into half values (1);\n"
        "\n"
        "select 1 / 0;\n"
        "create table never (id int);\n"
        "-- migrate:down\n"
        "drop table half;\n",
    )
    with pytest.raises(MigrationFailed) as info:
        migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert info.value.line == 6
    assert str(bad) in str(info.value) and "division by zero" in str(info.value)
    assert info.value.version == "0003"
    assert "half" not in tables_in(empty_dsn) and "good" in tables_in(empty_dsn)
    states = {s.version: s.state for s in migrate.status(empty_dsn, schema_dir=tmp_schema)}
    assert states == {"0001": "applied", "0002": "applied", "0003": "pending"}


def test_syntax_error_line_points_inside_the_statement(empty_dsn: str, tmp_schema: Path) -> None:
    write(
        tmp_schema,
        "0002_create_typo.sql",
        "-- migrate:up\ncreate table t (\n    id int,\n    name txet\n);\n",
    )
    with pytest.raises(MigrationFailed) as info:
        migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert info.value.line == 4  # the line holding "txet"
    assert 'type "txet" does not exist' in str(info.value)


def test_changed_file_is_drift_and_blocks_up_until_accepted(
    empty_dsn: str, tmp_schema: Path
) -> None:
    path = write(tmp_schema, "0002_create_a.sql", "-- migrate:up\ncreate table a (id int);\n")
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    path.write_text("-- migrate:up\ncreate table a (id bigint);\n", encoding="utf-8")
    write(tmp_schema, "0003_create_b.sql", "-- migrate:up\ncreate table b (id int);\n")
    states = {s.version: s.state for s in migrate.status(empty_dsn, schema_dir=tmp_schema)}
    assert states == {"0001": "applied", "0002": "drifted", "0003": "pending"}
    with pytest.raises(DriftError, match=r"0002 \(drifted\)"):
        migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert "b" not in tables_in(empty_dsn)
    applied = migrate.up(empty_dsn, schema_dir=tmp_schema, accept_drift=True)
    assert [m.version for m in applied] == ["0003"]
    assert {s.state for s in migrate.status(empty_dsn, schema_dir=tmp_schema)} == {"applied"}
    assert ("0002", "accept") in [(e.version, e.direction) for e in migrate.history(empty_dsn)]


def test_applied_version_without_file_is_reported_missing(empty_dsn: str, tmp_schema: Path) -> None:
    path = write(tmp_schema, "0002_create_a.sql", "-- migrate:up\ncreate table a (id int);\n")
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    path.unlink()
    states = {s.version: s.state for s in migrate.status(empty_dsn, schema_dir=tmp_schema)}
    assert states["0002"] == "missing"
    with pytest.raises(DriftError, match=r"0002 \(missing\)"):
        migrate.up(empty_dsn, schema_dir=tmp_schema)


def test_pending_file_older_than_newest_applied_is_refused(
    empty_dsn: str, tmp_schema: Path
) -> None:
    write(tmp_schema, "0005_create_e.sql", "-- migrate:up\ncreate table e (id int);\n")
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    write(tmp_schema, "0003_create_c.sql", "-- migrate:up\ncreate table c (id int);\n")
    assert migrate.status(empty_dsn, schema_dir=tmp_schema)[1].state == "out-of-order"
    with pytest.raises(MigrationError, match="0003_create_c"):
        migrate.up(empty_dsn, schema_dir=tmp_schema)
    applied = migrate.up(empty_dsn, schema_dir=tmp_schema, allow_out_of_order=True)
    assert [m.version for m in applied] == ["0003"]


def test_down_steps_and_to(empty_dsn: str, tmp_schema: Path) -> None:
    for n in (2, 3, 4):
        write(
            tmp_schema,
            f"000{n}_create_t{n}.sql",
            f"-- migrate:up\ncreate table t{n} (id int);\n-- migrate:down\ndrop table t{n};\n",
        )
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert [m.version for m in migrate.down(empty_dsn, schema_dir=tmp_schema)] == ["0004"]
    assert [m.version for m in migrate.down(empty_dsn, schema_dir=tmp_schema, steps=2)] == [
        "0003",
        "0002",
    ]
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert [m.version for m in migrate.down(empty_dsn, schema_dir=tmp_schema, target="0002")] == [
        "0004",
        "0003",
    ]
    assert {"t2"} <= tables_in(empty_dsn) and not {"t3", "t4"} & tables_in(empty_dsn)
    with pytest.raises(MigrationError, match="not applied"):
        migrate.down(empty_dsn, schema_dir=tmp_schema, target="0003")


def test_up_to_a_target_version(empty_dsn: str, tmp_schema: Path) -> None:
    for n in (2, 3):
        write(
            tmp_schema, f"000{n}_create_t{n}.sql", f"-- migrate:up\ncreate table t{n} (id int);\n"
        )
    assert [m.version for m in migrate.up(empty_dsn, schema_dir=tmp_schema, target="0002")] == [
        "0001",
        "0002",
    ]
    assert "t3" not in tables_in(empty_dsn)
    with pytest.raises(MigrationError, match="no migration file has that version"):
        migrate.up(empty_dsn, schema_dir=tmp_schema, target="0042")


def test_down_without_down_part_is_refused(empty_dsn: str, tmp_schema: Path) -> None:
    write(tmp_schema, "0002_create_a.sql", "-- migrate:up\ncreate table a (id int);\n")
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    with pytest.raises(MigrationError, match="no '-- migrate:down' part"):
        migrate.down(empty_dsn, schema_dir=tmp_schema)
    assert "a" in tables_in(empty_dsn)


def test_no_transaction_file_runs_statement_by_statement(empty_dsn: str, tmp_schema: Path) -> None:
    write(
        tmp_schema,
        "0002_create_mood.sql",
        "-- migrate:up\ncreate type mood as enum ('sad');\ncreate table feelings (m mood);\n"
        "-- migrate:down\ndrop table feelings;\ndrop type mood;\n",
    )
    # In one transaction (or one multi-statement call) both statements fail:
    # "unsafe use of new value" and "cannot run inside a transaction block".
    write(
        tmp_schema,
        "0003_add_mood_value.sql",
        "-- migrate:up transaction:false\n"
        "alter type mood add value 'happy';\n"
        "insert into feelings values ('happy');\n"
        "create index concurrently feelings_m_idx on feelings (m);\n"
        "-- migrate:down transaction:false\n"
        "drop index concurrently feelings_m_idx;\n"
        "delete from feelings where m = 'happy';\n",
    )
    applied = migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert [m.version for m in applied] == ["0001", "0002", "0003"]
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select m::text from feelings").fetchall() == [("happy",)]
        assert conn.execute("select to_regclass('feelings_m_idx') is not null").fetchone() == (
            True,
        )
    migrate.down(empty_dsn, schema_dir=tmp_schema)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select to_regclass('feelings_m_idx')").fetchone() == (None,)


def test_dry_run_changes_nothing(empty_dsn: str) -> None:
    before = snapshot(empty_dsn)
    lines: list[str] = []
    planned = migrate.up(empty_dsn, dry_run=True, out=lines.append)
    assert [m.version for m in planned] == [m.version for m in migrate.load_dir(schema_dir())]
    assert snapshot(empty_dsn) == before
    assert "schema_migrations" not in tables_in(empty_dsn)
    text = "\n".join(lines)
    assert (
        "-- dry run: up 0001_bootstrap.sql" in text and "create function set_updated_at()" in text
    )


def test_dry_run_down_prints_the_down_sql_and_changes_nothing(empty_dsn: str) -> None:
    migrate.up(empty_dsn)
    before = snapshot(empty_dsn)
    lines: list[str] = []
    migrate.down(empty_dsn, target="0", dry_run=True, out=lines.append)
    assert snapshot(empty_dsn) == before
    assert "drop function set_updated_at();" in "\n".join(lines)


def test_eight_concurrent_runners_apply_each_version_once(empty_dsn: str, tmp_schema: Path) -> None:
    # a slow file keeps the first runner inside the lock while the others arrive
    write(
        tmp_schema,
        "0002_create_slow.sql",
        "-- migrate:up\nselect pg_sleep(1);\ncreate table slow (id int);\n",
    )
    cmd = [
        sys.executable,
        "-m",
        "pydal_lite.migrate",
        "--dsn",
        empty_dsn,
        "--schema-dir",
        str(tmp_schema),
        "up",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    assert [rc for _, _, rc in results] == [0] * 8, [err for _, err, _ in results]
    ups = [(e.version, e.direction) for e in migrate.history(empty_dsn)]
    assert sorted(ups) == [("0001", "up"), ("0002", "up")]
    applied_by = [out for out, _, _ in results if "applied 0002_create_slow" in out]
    assert len(applied_by) == 1
    assert sum("nothing to apply" in out for out, _, _ in results) == 7


@pytest.mark.slow  # eight interpreters migrate the whole schema: 12 s on a quiet machine
def test_eight_concurrent_runners_on_the_shipped_schema(empty_dsn: str) -> None:
    # schema/ holds CREATE INDEX CONCURRENTLY (0008): a runner blocked inside
    # pg_advisory_lock() would hold a snapshot that index build waits for forever.
    cmd = [sys.executable, "-m", "pydal_lite.migrate", "--dsn", empty_dsn, "up"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = [(*p.communicate(timeout=300), p.returncode) for p in procs]
    assert [rc for _, _, rc in results] == [0] * 8, [err for _, err, _ in results]
    ups = [e.version for e in migrate.history(empty_dsn) if e.direction == "up"]
    assert sorted(ups) == [m.version for m in migrate.load_dir(schema_dir())]
    with psycopg.connect(empty_dsn) as conn:
        invalid = conn.execute("select count(*) from pg_index where not indisvalid").fetchone()
    assert invalid == (0,)


def test_no_transaction_part_waits_for_locks_instead_of_timing_out(
    empty_dsn: str, tmp_schema: Path
) -> None:
    write(tmp_schema, "0002_create_t.sql", "-- migrate:up\ncreate table t (id int);\n")
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    write(
        tmp_schema,
        "0003_add_t_index.sql",
        "-- migrate:up transaction:false\ncreate index concurrently t_id_idx on t (id);\n",
    )
    with psycopg.connect(empty_dsn) as writer:
        writer.execute("insert into t values (1)")  # an open transaction on t
        timer = threading.Timer(1.5, writer.rollback)
        timer.start()
        try:
            applied = migrate.up(empty_dsn, schema_dir=tmp_schema, lock_timeout=0.2)
        finally:
            timer.join()
    assert [m.version for m in applied] == ["0003"]


def test_a_failed_part_is_recorded_in_history(empty_dsn: str, tmp_schema: Path) -> None:
    write(tmp_schema, "0002_create_bad.sql", "-- migrate:up\nselect nope;\n")
    with pytest.raises(MigrationFailed):
        migrate.up(empty_dsn, schema_dir=tmp_schema)
    events = [(e.version, e.direction) for e in migrate.history(empty_dsn)]
    assert events == [("0001", "up"), ("0002", "failed")]


def test_a_file_changing_search_path_does_not_lose_the_version_table(
    empty_dsn: str, tmp_schema: Path
) -> None:
    write(
        tmp_schema,
        "0002_create_app_schema.sql",
        "-- migrate:up\ncreate schema app;\nset search_path = app;\ncreate table a (id int);\n"
        "set lock_timeout = '1min';\n"
        "-- migrate:down\ndrop schema app cascade;\n",
    )
    write(
        tmp_schema,
        "0003_create_b.sql",
        "-- migrate:up\nselect current_setting('lock_timeout');\ncreate table b (id int);\n",
    )
    applied = migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert [m.version for m in applied] == ["0001", "0002", "0003"]
    assert "b" in tables_in(empty_dsn)  # 0003 ran with search_path reset, in public


def test_targets_are_compared_as_numbers(empty_dsn: str, tmp_schema: Path) -> None:
    for n in (2, 3):
        write(
            tmp_schema,
            f"000{n}_create_t{n}.sql",
            f"-- migrate:up\ncreate table t{n} (id int);\n-- migrate:down\ndrop table t{n};\n",
        )
    assert [m.version for m in migrate.up(empty_dsn, schema_dir=tmp_schema, target="2")] == [
        "0001",
        "0002",
    ]
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert [m.version for m in migrate.down(empty_dsn, schema_dir=tmp_schema, target="1")] == [
        "0003",
        "0002",
    ]


def test_another_tools_schema_migrations_table_is_refused(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create table schema_migrations (version varchar(128) primary key)")
    with pytest.raises(MigrationError, match="not pydal_lite's version table"):
        migrate.status(empty_dsn)
