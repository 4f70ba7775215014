"""The SQLite importer against the migrated schema: every row compared, failures roll back."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlite_fixtures import (
    T0,
    assert_rows_equal,
    build_new_agent_runtime,
    build_pipeline,
    build_planning,
    build_shrinkage,
    planning_rows,
    sa_datetime,
)

from pydal_lite.connection import connect
from pydal_lite.import_sqlite import (
    BadRowError,
    ConflictError,
    ConsoleProgress,
    PlanError,
    SourceError,
    VerificationError,
    import_sqlite,
)
from pydal_lite.import_sqlite.cli import main

UTC = timezone.utc
PLANNING_ORDER = ["poc_task_executions", "poc_execution_plans", "poc_subtask_executions"]


def count(dsn: str, table: str) -> int:
    with connect(dsn) as c:
        row = c.execute(f"select count(*) as n from {table}").fetchone()  # noqa: S608
        assert row is not None
        return int(row["n"])


def counts(dsn: str, tables: list[str]) -> dict[str, int]:
    return {t: count(dsn, t) for t in tables}


def check_all(
    dsn: str, expected: dict[str, list[dict[str, Any]]], keys: dict[str, list[str]]
) -> None:
    with connect(dsn) as c:
        for table, rows in expected.items():
            assert_rows_equal(c, table, rows, keys.get(table, ["id"]))


# -- every domain: every row ------------------------------------------------------------------


def test_planning_metrics_every_row(dsn: str, tmp_path: Path) -> None:
    expected = build_planning(tmp_path / "benchmark.db")
    report = import_sqlite(tmp_path / "benchmark.db", dsn)
    assert report.committed
    assert [t.table for t in report.tables] == PLANNING_ORDER  # parents first
    for t in report.tables:
        assert t.source_rows == t.imported == len(expected[t.table])
    check_all(dsn, expected, {})
    # SQLAlchemy wrote naive UTC: said so once, with the columns
    assert report.naive_timestamps == sum(
        1
        for rows in expected.values()
        for r in rows
        for k, v in r.items()
        if isinstance(v, datetime)
    )
    assert "poc_execution_plans.created_at" in report.naive_columns


def test_pipeline_cache_every_row_and_sequences(dsn: str, tmp_path: Path) -> None:
    expected = build_pipeline(tmp_path / "pipeline.db")
    report = import_sqlite(tmp_path / "pipeline.db", dsn)
    check_all(dsn, expected, {})
    assert report.sequences == {
        "background_tasks.id": 104,
        "pipeline_cache.id": 14,
        "user_sessions.id": 5,
    }
    with connect(dsn) as c:
        # the identity sequences moved past the imported ids: a new row gets the next one
        row = c.execute(
            "insert into user_sessions (session_id) values ('fresh') returning id"
        ).fetchone()
        assert row == {"id": 6}
        # defaults filled the columns the SQLite schema did not have
        row = c.execute(
            "select attempts, claimed_by from background_tasks where id = 101"
        ).fetchone()
        assert row == {"attempts": 0, "claimed_by": None}


def test_shrinkage_every_row_identity_always(dsn: str, tmp_path: Path) -> None:
    expected = build_shrinkage(tmp_path / "shrinkage_database.db")
    report = import_sqlite(tmp_path / "shrinkage_database.db", dsn)
    order = [t.table for t in report.tables]
    assert order.index("materials") < order.index("calculations") < order.index("calculation_data")
    check_all(
        dsn,
        expected,
        {
            "calculation_methods": ["code"],
            "coefficient_types": ["code"],
            "calculation_data": ["calculation_id", "observed_at", "metric"],
            "coefficients": ["material_id", "coefficient_code", "valid_from"],
        },
    )
    # materials.id is "generated always": the source ids were kept, and the sequence moved
    assert report.sequences["materials.id"] == 21
    with connect(dsn) as c:
        row = c.execute(
            "insert into materials (code, name, unit) values ('NEW', 'n', 'kg') returning id"
        ).fetchone()
        assert row == {"id": 22}
        c.commit()
    # again (into hypertables where the server has TimescaleDB): refused, then all skipped
    with pytest.raises(ConflictError, match="calculation_data: 12 source row"):
        import_sqlite(tmp_path / "shrinkage_database.db", dsn)
    again = import_sqlite(tmp_path / "shrinkage_database.db", dsn, on_conflict="skip")
    assert again.imported == 0
    assert again.table("calculation_data").skipped_existing == 12


def test_new_agent_runtime_layout_every_row(dsn: str, tmp_path: Path) -> None:
    expected = build_new_agent_runtime(tmp_path / "agent_runtime.db")
    report = import_sqlite(tmp_path / "agent_runtime.db", dsn)
    assert not report.legacy_agent_runtime
    check_all(dsn, expected, {})  # includes messages.seq, derived by (timestamp, id)
    # SQLAlchemy stored empty metadata as NULL; the target's default '{}' took its place
    assert report.defaulted_nulls == 2
    assert report.defaulted_columns == ["agent_contexts.metadata_json"]


# -- a timestamp zoo through the database ---------------------------------------------------------

ZOO = [
    (1, "2024-03-01 12:30:00.123456", datetime(2024, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)),
    (2, "2024-03-01T12:30:00", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
    (3, "2024-03-01T12:30:00+03:00", datetime(2024, 3, 1, 9, 30, tzinfo=UTC)),
    (4, "2024-03-01 12:30:00.5-05:00", datetime(2024, 3, 1, 17, 30, 0, 500000, tzinfo=UTC)),
    (5, "2024-03-01T12:30:00Z", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
    (6, 1709296200, datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
    (7, 1709296200.75, datetime(2024, 3, 1, 12, 30, 0, 750000, tzinfo=UTC)),
    (8, 1709296200123, datetime(2024, 3, 1, 12, 30, 0, 123000, tzinfo=UTC)),
    (9, "2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    (10, None, None),
]


def test_timestamp_zoo_and_types_through_the_database(dsn: str, tmp_path: Path) -> None:
    with connect(dsn) as c:
        c.execute(
            """create table zoo (
                id integer primary key,
                ts timestamptz,
                flag boolean not null default false,
                doc jsonb,
                ref uuid,
                tags text[],
                amount numeric(10, 2),
                blob bytea
            )"""
        )
        c.commit()
    db = tmp_path / "zoo.db"
    with sqlite3.connect(db) as s:
        s.execute(
            "create table zoo (id INTEGER PRIMARY KEY, ts DATETIME, flag BOOLEAN, doc JSON,"
            " ref CHAR(32), tags JSON, amount NUMERIC(10, 2), blob BLOB)"
        )
        for i, value, _ in ZOO:
            s.execute(
                "insert into zoo values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i,
                    value,
                    ["true", "false", 1, 0, None][i % 5],
                    ['{"k": [1, "ж"]}', "7", "null", None, "[]"][i % 5],
                    f"{i:032x}",
                    '["a", "b"]' if i % 2 else None,
                    "12.34" if i % 2 else 5,
                    bytes([i, 0, 255]),
                ),
            )
    s.close()
    report = import_sqlite(db, dsn)
    assert report.naive_timestamps == 3  # rows 1, 2 and 9 had no zone
    assert report.defaulted_nulls == 2  # flag NULL in rows 4 and 9 -> default false
    with connect(dsn) as c:
        rows = c.execute("select * from zoo order by id").fetchall()
    assert [r["ts"] for r in rows] == [t for _, _, t in ZOO]
    assert [r["flag"] for r in rows] == [
        [True, False, True, False, False][i % 5] for i, _, _ in ZOO
    ]
    assert [r["doc"] for r in rows] == [
        [{"k": [1, "ж"]}, 7, None, None, []][i % 5] for i, _, _ in ZOO
    ]
    assert [r["ref"].int for r in rows] == [i for i, _, _ in ZOO]
    assert [r["tags"] for r in rows] == [["a", "b"] if i % 2 else None for i, _, _ in ZOO]
    assert [str(r["amount"]) for r in rows] == ["12.34" if i % 2 else "5.00" for i, _, _ in ZOO]
    assert [bytes(r["blob"]) for r in rows] == [bytes([i, 0, 255]) for i, _, _ in ZOO]


# -- bad rows ------------------------------------------------------------------------------------


def _planning_with_bad_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    rows = planning_rows()
    for n in (1, 2):  # good runs for the bad plans below (one plan per run)
        rows["poc_task_executions"].append(
            {
                **rows["poc_task_executions"][1],
                "id": f"extra-task-{n}",
                "task_id": f"task_extra_{n}",
            }
        )
    expected = build_planning(path, rows)
    with sqlite3.connect(path) as s:
        s.execute(
            "insert into poc_task_executions (id, task_id, mode, status, started_at, metadata)"
            " values ('bad-task', 'task_x', 'single-agent', 'running', 'not a date', '{}')"
        )
        # a plan whose metadata is not JSON: skipped, and its subtasks with it (foreign key)
        s.execute(
            "insert into poc_execution_plans (id, task_execution_id, plan_id, original_task,"
            " subtask_count, created_at, is_complete, metadata) values"
            " ('bad-plan', 'extra-task-1', 'p', 't', 2, ?, 0, '{oops')",
            (sa_datetime(T0),),
        )
        for j in range(2):
            s.execute(
                "insert into poc_subtask_executions (id, plan_id, subtask_id, sequence_number,"
                " description, agent, status) values (?, 'bad-plan', ?, 1, 'd', 'a', 'pending')",
                (f"orphan-{j}", f"s{j}"),
            )
        # a subtask the target's CHECK rejects (status), found by COPY's line number
        s.execute(
            "insert into poc_subtask_executions (id, plan_id, subtask_id, sequence_number,"
            " description, agent, status) values ('weird', ?, 'sx', 1, 'd', 'a', 'exploded')",
            (expected["poc_execution_plans"][0]["id"],),
        )
        # a boolean that is neither 0/1 nor true/false
        s.execute(
            "insert into poc_execution_plans (id, task_execution_id, plan_id, original_task,"
            " subtask_count, created_at, is_complete) values ('maybe-plan', 'extra-task-2', 'p',"
            " 't', 0, ?, 'maybe')",
            (sa_datetime(T0),),
        )
    s.close()
    return expected


def test_bad_row_stops_naming_table_key_and_column(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    _planning_with_bad_rows(db)
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn)
    err = info.value
    assert (err.table, err.key, err.column) == (
        "poc_task_executions",
        {"id": "bad-task"},
        "started_at",
    )
    assert err.value == "not a date"
    assert "table poc_task_executions, row id='bad-task': column started_at" in str(err)
    # nothing half-done: not even the good rows before it
    assert counts(dsn, PLANNING_ORDER) == dict.fromkeys(PLANNING_ORDER, 0)


def test_server_rejected_row_is_named_too(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "check.db"
    expected = build_planning(db)
    with sqlite3.connect(db) as s:
        s.execute(
            "insert into poc_subtask_executions (id, plan_id, subtask_id, sequence_number,"
            " description, agent, status) values ('weird', ?, 'sx', 1, 'd', 'a', 'exploded')",
            (expected["poc_execution_plans"][0]["id"],),
        )
    s.close()
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn, batch_size=5)
    assert info.value.table == "poc_subtask_executions"
    assert info.value.key == {"id": "weird"}
    assert "poc_subtask_executions_status_check" in info.value.reason
    assert count(dsn, "poc_task_executions") == 0


def test_skip_bad_rows_writes_them_and_counts_add_up(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    expected = _planning_with_bad_rows(db)
    bad_file = tmp_path / "bad_rows.jsonl"
    report = import_sqlite(db, dsn, skip_bad_rows=bad_file, batch_size=4)
    lines = [json.loads(line) for line in bad_file.read_text(encoding="utf-8").splitlines()]
    by_key = {(r["table"], json.dumps(r["key"])): r for r in lines}
    assert len(lines) == 6
    task = by_key[("poc_task_executions", '{"id": "bad-task"}')]
    assert (task["column"], task["value"]) == ("started_at", "not a date")
    assert "ISO-8601" in task["reason"]
    plan = by_key[("poc_execution_plans", '{"id": "bad-plan"}')]
    assert (plan["column"], plan["value"]) == ("metadata", "{oops")
    assert by_key[("poc_execution_plans", '{"id": "maybe-plan"}')]["column"] == "is_complete"
    for j in range(2):
        orphan = by_key[("poc_subtask_executions", json.dumps({"id": f"orphan-{j}"}))]
        # the foreign key names the plan with its run since 0016
        assert orphan["column"] == "task_execution_id, plan_id"
        assert "poc_subtask_executions_plan_fkey" in orphan["reason"]
    assert "status_check" in by_key[("poc_subtask_executions", '{"id": "weird"}')]["reason"]
    # counts account for every source row
    assert {t.table: (t.source_rows, t.imported, t.skipped_bad) for t in report.tables} == {
        "poc_task_executions": (7, 6, 1),
        "poc_execution_plans": (6, 4, 2),
        "poc_subtask_executions": (15, 12, 3),
    }
    check_all(dsn, expected, {})  # exactly the good rows, unchanged


# -- already imported ------------------------------------------------------------------------------


def test_second_import_is_refused_then_skip_imports_only_new_rows(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    expected = build_pipeline(db)
    import_sqlite(db, dsn)
    before = counts(dsn, ["pipeline_cache", "user_sessions", "background_tasks"])
    with pytest.raises(ConflictError) as info:
        import_sqlite(db, dsn)
    assert "pipeline_cache: 5 source row(s)" in str(info.value)
    assert "--on-conflict skip" in str(info.value)
    assert counts(dsn, list(before)) == before
    # new rows appear in SQLite, and an existing one changed there: skip keeps the target's
    with sqlite3.connect(db) as s:
        s.execute("update user_sessions set import_hash = ? where id = 1", ("f" * 64,))
        s.execute(
            "insert into user_sessions (id, session_id, created_at, last_accessed)"
            " values (77, 'late', ?, ?)",
            (sa_datetime(T0), sa_datetime(T0)),
        )
    s.close()
    report = import_sqlite(db, dsn, on_conflict="skip")
    users = report.table("user_sessions")
    assert (users.source_rows, users.imported, users.skipped_existing) == (6, 1, 5)
    assert report.table("pipeline_cache").skipped_existing == 5
    assert report.table("pipeline_cache").imported == 0
    with connect(dsn) as c:
        kept = c.execute("select import_hash from user_sessions where id = 1").fetchone()
        assert kept == {"import_hash": expected["user_sessions"][0]["import_hash"]}
        assert c.execute("select session_id from user_sessions where id = 77").fetchone() == {
            "session_id": "late"
        }
    assert count(dsn, "user_sessions") == 6


def test_conflict_on_unique_key_not_just_primary_key(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    build_pipeline(db)
    with connect(dsn) as c:
        c.execute("insert into user_sessions (id, session_id) values (500, 'user-3')")
        c.commit()
    with pytest.raises(ConflictError) as info:
        import_sqlite(db, dsn, tables=["user_sessions"])
    assert info.value.overlaps == [
        ("user_sessions", "user_sessions_session_id_key: session_id", 1, {"session_id": "user-3"})
    ]


# -- dry run, tables, verification ---------------------------------------------------------


def test_dry_run_changes_nothing(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    build_pipeline(db)
    report = import_sqlite(db, dsn, dry_run=True)
    assert report.dry_run and not report.committed
    assert report.imported == 15
    assert report.sequences["pipeline_cache.id"] == 14  # what it would set
    assert counts(dsn, ["pipeline_cache", "user_sessions", "background_tasks"]) == {
        "pipeline_cache": 0,
        "user_sessions": 0,
        "background_tasks": 0,
    }
    with connect(dsn) as c:  # the ids came from SQLite, and a dry run never sets a sequence
        row = c.execute(
            "insert into user_sessions (session_id) values ('x') returning id"
        ).fetchone()
        assert row == {"id": 1}


def test_tables_option_and_unknown_tables(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    report = import_sqlite(db, dsn, tables=["poc_task_executions"])
    assert [t.table for t in report.tables] == ["poc_task_executions"]
    assert count(dsn, "poc_execution_plans") == 0
    with pytest.raises(PlanError, match="no table"):
        import_sqlite(db, dsn, tables=["nope"])


def test_source_tables_without_target_are_reported(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "extra.db"
    build_pipeline(db)
    with sqlite3.connect(db) as s:
        s.execute("create table alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        s.execute("alter table user_sessions add column legacy_flag INTEGER")
    s.close()
    report = import_sqlite(db, dsn)
    assert report.ignored_tables == ["alembic_version"]
    assert report.ignored_columns == {"user_sessions": ["legacy_flag"]}


def test_required_column_missing_in_source_is_a_plan_error(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "thin.db"
    with sqlite3.connect(db) as s:
        s.execute("create table user_sessions (id INTEGER PRIMARY KEY, import_hash VARCHAR(64))")
    s.close()
    with pytest.raises(PlanError, match=r"user_sessions\.session_id is not null"):
        import_sqlite(db, dsn)


def test_count_mismatch_rolls_everything_back(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    with connect(dsn) as c:  # a trigger that silently drops some rows
        c.execute(
            "create function drop_some() returns trigger language plpgsql as"
            " $$ begin if new.sequence_number = 2 then return null; end if; return new; end $$"
        )
        c.execute(
            "create trigger zz_drop before insert on poc_subtask_executions"
            " for each row execute function drop_some()"
        )
        c.commit()
    with pytest.raises(VerificationError, match="poc_subtask_executions: 12 rows copied"):
        import_sqlite(db, dsn)
    assert count(dsn, "poc_task_executions") == 0


def test_not_a_sqlite_file(dsn: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SourceError, match="not a readable SQLite database"):
        import_sqlite(junk, dsn)
    with pytest.raises(SourceError, match="no such file"):
        import_sqlite(tmp_path / "missing.db", dsn)


def test_given_connection_and_savepoint(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    build_pipeline(db)
    with connect(dsn) as c:
        c.execute("select 1")  # a transaction is open: the import nests in a savepoint
        report = import_sqlite(db, c)
        assert report.committed
        c.rollback()  # the caller's rollback undoes it
    assert count(dsn, "pipeline_cache") == 0


# -- progress and the command line ---------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_tty_and_lines_otherwise(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db, planning_rows(n_tasks=40))
    tty = _Tty()
    import_sqlite(db, dsn, progress=ConsoleProgress(tty, interval=0), batch_size=10, dry_run=True)
    assert "\r" in tty.getvalue()
    assert (
        "poc_subtask_executions   [##############################] 100% 120/120" in tty.getvalue()
    )
    plain = io.StringIO()
    import_sqlite(db, dsn, progress=ConsoleProgress(plain), batch_size=10, dry_run=True)
    text = plain.getvalue()
    assert "\r" not in text
    assert "poc_subtask_executions: importing 120 rows" in text
    assert "poc_subtask_executions: 60/120 rows (50%)" in text
    assert "poc_subtask_executions: 120 rows done" in text


def test_cli_summary_exit_codes_and_no_password(dsn: str, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    assert main([str(db), "--dsn", dsn, "--dry-run", "--source-timezone", "UTC"]) == 0
    out = capsys.readouterr().out
    assert "poc_subtask_executions  poc_subtask_executions           12        12" in out
    assert "poc_task_executions.started_at: 4 read as UTC time (declared for the file)" in out
    assert "dry run" in out
    assert main([str(db), "--dsn", dsn]) == 0
    assert "committed: 20 rows imported, 0 skipped" in capsys.readouterr().out
    assert main([str(db), "--dsn", dsn]) == 3  # already there
    assert "--on-conflict skip" in capsys.readouterr().err
    assert main([str(db), "--dsn", dsn, "--on-conflict", "skip", "--quiet"]) == 0
    assert main([str(tmp_path / "missing.db"), "--dsn", dsn]) == 2
    assert main([str(db), "--dsn", dsn, "--tables", "nope,poc_task_executions"]) == 2
    capsys.readouterr()
    secret = "postgresql://someone:s3cr3t-pw@127.0.0.1:1/nowhere"
    assert main([str(db), "--dsn", secret]) == 4
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.out + captured.err
    bad = tmp_path / "bad.db"
    _planning_with_bad_rows(bad)
    assert main([str(bad), "--dsn", dsn, "--on-conflict", "skip"]) == 1
    assert "rolled back" in capsys.readouterr().err


def test_python_m_help_documents_exit_codes() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pydal_lite.import_sqlite", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in (
        "0  imported",
        "1  the import failed",
        "2  usage error",
        "3  refused",
        "4  cannot connect",
    ):
        assert line in run.stdout


def test_one_transaction_for_the_whole_import(dsn: str, tmp_path: Path) -> None:
    # the last table fails: the earlier tables, already copied, are rolled back too
    db = tmp_path / "pipeline.db"
    build_pipeline(db)
    with sqlite3.connect(db) as s:
        s.execute(
            "update user_sessions set created_at = 'garbage' where id = 5"
        )  # user_sessions comes last in FK/name order
    s.close()
    with pytest.raises(BadRowError, match="user_sessions"):
        import_sqlite(db, dsn)
    assert counts(dsn, ["pipeline_cache", "background_tasks"]) == {
        "pipeline_cache": 0,
        "background_tasks": 0,
    }


def test_invalid_arguments(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    build_pipeline(db)
    with pytest.raises(ValueError, match="on_conflict"):
        import_sqlite(db, dsn, on_conflict="replace")  # type: ignore[arg-type]
    with pytest.raises(psycopg.OperationalError):
        import_sqlite(db, "postgresql://nobody@127.0.0.1:1/none")


def test_expected_dates_are_what_sqlalchemy_wrote() -> None:
    # guard for the fixtures themselves: the stored text is naive UTC wall time
    assert sa_datetime(datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=3)))) == (
        "2024-01-01 00:00:00.000000"
    )


def test_skip_mode_staging_locates_rejected_rows(dsn: str, tmp_path: Path) -> None:
    # --on-conflict skip goes through a staging table: CHECKs fail there (COPY line
    # numbers), foreign keys at the insert (the key in the error detail)
    db = tmp_path / "bad.db"
    expected = _planning_with_bad_rows(db)
    bad_file = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, on_conflict="skip", skip_bad_rows=bad_file, batch_size=4)
    lines = [json.loads(x) for x in bad_file.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["table"], r["key"]["id"]) for r in lines) == [
        ("poc_execution_plans", "bad-plan"),
        ("poc_execution_plans", "maybe-plan"),
        ("poc_subtask_executions", "orphan-0"),
        ("poc_subtask_executions", "orphan-1"),
        ("poc_subtask_executions", "weird"),
        ("poc_task_executions", "bad-task"),
    ]
    assert report.table("poc_subtask_executions").skipped_bad == 3
    check_all(dsn, expected, {})


def test_nothing_matches(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as s:
        s.execute("create table unrelated (id INTEGER PRIMARY KEY)")
    s.close()
    with pytest.raises(PlanError, match="matches a table of the target"):
        import_sqlite(db, dsn)
