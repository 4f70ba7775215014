"""The importer after review: in-file duplicates under --on-conflict skip, sequences and
dry runs, connection strings that must not leak, CHECK rejections naming their column."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_fixtures import (
    T0,
    build_legacy_agent_runtime,
    build_planning,
    build_shrinkage,
    sa_datetime,
)

from pydal_lite.connection import connect
from pydal_lite.import_sqlite import BadRowError, import_sqlite
from pydal_lite.import_sqlite.cli import main


def count(dsn: str, table: str) -> int:
    with connect(dsn) as c:
        row = c.execute(f"select count(*) as n from {table}").fetchone()  # noqa: S608
        assert row is not None
        return int(row["n"])


def bad_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# -- 1. --on-conflict skip: a duplicate inside the file is a bad row, not "existing" ---------


def _add_point(db: Path, calculation_id: int, observed_at: str, value: float) -> None:
    with sqlite3.connect(db) as s:
        s.execute(
            "insert into calculation_data (calculation_id, observed_at, metric, value)"
            " values (?, ?, 'mass_kg', ?)",
            (calculation_id, observed_at, value),
        )
    s.close()


def _shrinkage_with_twin(db: Path) -> dict[str, list[dict[str, Any]]]:
    """12 points; one more whose observed_at is the first point's, written differently."""
    expected = build_shrinkage(db)
    first = T0.astimezone().isoformat()  # another zone, 'T', same instant as sa_datetime(T0)
    assert first != sa_datetime(T0)
    _add_point(db, 11, first, -1.0)
    return expected


@pytest.mark.parametrize("batch_size", [3, 5000])  # twin in another batch / the same batch
def test_skip_mode_in_file_duplicate_stops_the_import(
    dsn: str, tmp_path: Path, batch_size: int
) -> None:
    db = tmp_path / "twin.db"
    _shrinkage_with_twin(db)
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn, on_conflict="skip", batch_size=batch_size)
    err = info.value
    assert err.table == "calculation_data"
    assert err.key == {
        "calculation_id": 11,
        "observed_at": T0.astimezone().isoformat(),
        "metric": "mass_kg",
    }
    assert "duplicate of an earlier row in the file" in err.reason
    assert "calculation_data_pkey" in err.reason
    assert count(dsn, "calculation_data") == 0  # rolled back
    assert count(dsn, "materials") == 0


@pytest.mark.parametrize("batch_size", [3, 5000])
def test_skip_mode_in_file_duplicate_goes_to_the_bad_rows_file(
    dsn: str, tmp_path: Path, batch_size: int
) -> None:
    db = tmp_path / "twin.db"
    _shrinkage_with_twin(db)
    bad = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, on_conflict="skip", skip_bad_rows=bad, batch_size=batch_size)
    data = report.table("calculation_data")
    # the target was empty: nothing can be "existing"
    assert (data.source_rows, data.imported, data.skipped_existing, data.skipped_bad) == (
        13,
        12,
        0,
        1,
    )
    (line,) = bad_lines(bad)
    assert line["table"] == "calculation_data"
    assert line["key"]["observed_at"] == T0.astimezone().isoformat()
    assert line["reason"].startswith("duplicate of an earlier row in the file")
    with connect(dsn) as c:  # the first row won
        row = c.execute(
            "select value from calculation_data where calculation_id = 11 and observed_at = %s",
            (T0,),
        ).fetchone()
        assert row == {"value": 1000.0}


def test_skip_mode_counts_only_rows_that_were_there_before(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "shrinkage.db"
    build_shrinkage(db)
    import_sqlite(db, dsn)
    # later: two new points in SQLite that are one point after conversion, plus one new point
    later = T0 + timedelta(days=100)
    _add_point(db, 22, sa_datetime(later) or "", 5.0)
    _add_point(db, 22, later.isoformat().replace("+00:00", "Z"), 6.0)
    _add_point(db, 33, sa_datetime(later) or "", 7.0)
    bad = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, on_conflict="skip", skip_bad_rows=bad, batch_size=4)
    data = report.table("calculation_data")
    assert (data.source_rows, data.imported, data.skipped_existing, data.skipped_bad) == (
        15,
        2,
        12,
        1,
    )
    assert report.table("materials").skipped_existing == 3
    (line,) = bad_lines(bad)
    assert line["key"]["calculation_id"] == 22
    assert "duplicate of an earlier row in the file" in line["reason"]
    assert count(dsn, "calculation_data") == 14


def test_skip_mode_duplicate_on_a_unique_key_too(dsn: str, tmp_path: Path) -> None:
    # poc_subtask_executions: primary key id, and unique (plan_id, subtask_id) in the
    # target only; two new rows with different ids share the pair
    db = tmp_path / "benchmark.db"
    expected = build_planning(db)
    plan = expected["poc_execution_plans"][0]["id"]
    with sqlite3.connect(db) as s:
        for sid in ("twin-1", "twin-2"):
            s.execute(
                "insert into poc_subtask_executions (id, plan_id, subtask_id, sequence_number,"
                " description, agent, status) values (?, ?, 'same', 9, 'd', 'a', 'pending')",
                (sid, plan),
            )
    s.close()
    bad = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, on_conflict="skip", skip_bad_rows=bad)
    subtasks = report.table("poc_subtask_executions")
    assert (subtasks.imported, subtasks.skipped_existing, subtasks.skipped_bad) == (13, 0, 1)
    (line,) = bad_lines(bad)
    assert (line["table"], line["key"], line["column"]) == (
        "poc_subtask_executions",
        {"id": "twin-2"},
        "task_execution_id, plan_id, subtask_id",  # the unique key since 0016
    )
    assert "poc_subtask_executions_plan_subtask_key" in line["reason"]


# -- 2. sequences are not transactional: said so, and harmless --------------------------------


def test_help_does_not_promise_untouched_sequences() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pydal_lite.import_sqlite", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = " ".join(run.stdout.split())
    assert "nothing changes" not in text
    assert "sequences are not transactional" in text


def test_dry_run_may_advance_sequences_and_the_real_import_still_matches(
    dsn: str, tmp_path: Path
) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=3, messages=2)
    import_sqlite(db, dsn, dry_run=True)
    with connect(dsn) as c:
        seq = c.execute(
            "select last_value, is_called from sessions_id_seq"  # identity sequence
        ).fetchone()
        assert seq == {"last_value": 3, "is_called": True}  # advanced, as documented
    assert count(dsn, "sessions") == 0
    report = import_sqlite(db, dsn)
    assert report.table("sessions").imported == 3
    with connect(dsn) as c:
        rows = c.execute("select id from sessions order by id").fetchall()
        assert [r["id"] for r in rows] == [4, 5, 6]  # a gap, nothing else
        row = c.execute(
            "insert into sessions (session_id) values ('fresh') returning id"
        ).fetchone()
        assert row == {"id": 7}


# -- 3. connection strings: exit 4, never a piece of the password ------------------------------


def test_malformed_dsn_is_a_connect_error_without_the_string(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    assert main([str(db), "--dsn", "host=127.0.0.1 password=hunter2 sec"]) == 4
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "error: invalid connection string (not shown)" in text
    assert "hunter2" not in text and "sec" not in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    ("dsn", "pieces"),
    [
        ("postgresql://postgres:p@ss@127.0.0.1/x", ["ss@", "p@ss"]),
        ("postgresql://someone:Sekr1t@Xy9Q@127.0.0.1:1/db", ["Sekr1t", "Xy9Q"]),
        ("postgresql://someone:Pw7/Zz9@127.0.0.1:1/db", ["Pw7", "Zz9"]),
    ],
)
def test_unencoded_url_password_never_shows(
    tmp_path: Path, capsys: Any, dsn: str, pieces: list[str]
) -> None:
    # libpq ends the password at the first '@' (or reads 'Pw7' as a port): what it then
    # calls the host, port or database is part of the password
    db = tmp_path / "benchmark.db"
    build_planning(db)
    assert main([str(db), "--dsn", dsn]) == 4
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "error: cannot connect" in text
    for piece in pieces:
        assert piece not in text
    assert "percent-encoded" in text


def test_libpq_message_holding_the_password_is_dropped(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    # libpq's "failed to resolve host 'zq8host'" would show the password
    assert main([str(db), "--dsn", "host=zq8host port=1 user=u password=zq8host"]) == 4
    err = capsys.readouterr().err
    assert "zq8host" not in err
    assert "error: cannot connect to <connection string (not shown)>" in err
    assert "libpq's message is not shown" in err


def test_well_formed_dsn_keeps_libpq_message(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "benchmark.db"
    build_planning(db)
    assert main([str(db), "--dsn", "postgresql://someone:s3cr3t-pw@127.0.0.1:1/nowhere"]) == 4
    err = capsys.readouterr().err
    assert "error: cannot connect to someone@127.0.0.1:1/nowhere: " in err
    assert "127.0.0.1" in err.split(": ", 2)[-1]  # libpq's own words kept
    assert "s3cr3t-pw" not in err


# -- 4. a CHECK rejection names its column(s) ---------------------------------------------------


@pytest.mark.parametrize("on_conflict", ["error", "skip"])
def test_check_rejection_names_the_columns(dsn: str, tmp_path: Path, on_conflict: Any) -> None:
    db = tmp_path / "check.db"
    expected = build_planning(db)
    with sqlite3.connect(db) as s:
        s.execute(
            "insert into poc_subtask_executions (id, plan_id, subtask_id, sequence_number,"
            " description, agent, status) values ('weird', ?, 'sx', 1, 'd', 'a', 'exploded')",
            (expected["poc_execution_plans"][0]["id"],),
        )
    s.close()
    shrink = tmp_path / "shrinkage.db"
    build_shrinkage(shrink)
    with sqlite3.connect(shrink) as s:  # period_end > period_start: two columns
        s.execute("update calculations set period_end = period_start where id = 22")
    s.close()
    bad = tmp_path / "bad.jsonl"
    import_sqlite(db, dsn, on_conflict=on_conflict, skip_bad_rows=bad, batch_size=5)
    (line,) = bad_lines(bad)
    assert (line["column"], line["value"]) == ("status", "exploded")
    assert "poc_subtask_executions_status_check" in line["reason"]
    import_sqlite(shrink, dsn, on_conflict=on_conflict, skip_bad_rows=bad)
    lines = [x for x in bad_lines(bad) if x["table"] == "calculations"]
    assert [(x["key"], x["column"]) for x in lines] == [({"id": 22}, "period_start, period_end")]
    assert "calculations_period_check" in lines[0]["reason"]
    with pytest.raises(BadRowError, match=r"row id=22: column period_start, period_end"):
        import_sqlite(shrink, dsn, on_conflict="skip", tables=["calculations"])
