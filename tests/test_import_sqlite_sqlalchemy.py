"""Files as the seed systems' SQLAlchemy models really wrote them (issue 12): every row
and column compared after import, each quirk with its rule."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_fixtures import assert_rows_equal, build_new_agent_runtime
from sqlite_fixtures_sqlalchemy import (
    WIDE_OPTIONS,
    build_background_tasks,
    build_planning_legacy,
    build_wide_shrinkage,
    write_options,
)

from pydal_lite import agent_runtime as ar
from pydal_lite.connection import connect
from pydal_lite.import_sqlite import (
    BadRowError,
    ImportOptions,
    PlanError,
    VerificationError,
    import_sqlite,
    load_options,
)
from pydal_lite.import_sqlite.cli import main
from pydal_lite.validate import naive_timezone_as

ORDER = {
    "background_tasks": ["id"],
    "calculation_data": ["calculation_id", "observed_at", "metric"],
}


def check(dsn: str, expected: dict[str, list[dict[str, Any]]]) -> None:
    with connect(dsn) as c:
        for table, rows in expected.items():
            assert_rows_equal(c, table, rows, ORDER.get(table, ["id"]))


def count(dsn: str, table: str) -> int:
    with connect(dsn) as c:
        row = c.execute(f"select count(*) as n from {table}").fetchone()  # noqa: S608
        assert row is not None
        return int(row["n"])


# -- 1. SQLAlchemy's encodings ----------------------------------------------------------------


def test_enum_names_zones_per_column_and_fill(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    expected = build_background_tasks(db, null_sessions=(2,))
    options = ImportOptions(
        timezones={
            "background_tasks.created_at": "Europe/Moscow",  # datetime.now() on a UTC+3 host
            "background_tasks": "UTC",  # the rest: utcnow()
        },
        fill={"background_tasks.user_session": "unknown"},
    )
    report = import_sqlite(db, dsn, options=options)
    check(dsn, expected)  # every row, every column, instants right in both columns
    assert report.value_mappings["background_tasks.status"] == {
        ("PENDING", "pending"): 2,
        ("COMPLETED", "completed"): 2,
        ("FAILED", "failed"): 1,
        ("CANCELLED", "cancelled"): 1,
    }
    assert report.naive_reads["background_tasks.created_at"] == (6, "Europe/Moscow", "column")
    assert report.naive_reads["background_tasks.completed_at"] == (4, "UTC", "table")
    assert report.filled == {"background_tasks.user_session": 1}
    notes = "\n".join(report.notes())
    assert "values mapped in background_tasks.status: 'CANCELLED' -> 'cancelled' (1)" in notes
    assert "background_tasks.created_at: 6 read as Europe/Moscow time" in notes


def test_null_in_a_not_null_column_names_the_row_and_the_option(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    build_background_tasks(db, null_sessions=(2,))
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn, source_timezone="UTC")
    assert info.value.key == {"id": 3}
    assert info.value.column == "user_session"
    assert "--fill background_tasks.user_session=VALUE" in info.value.reason
    assert count(dsn, "background_tasks") == 0


def test_unknown_enum_value_names_the_allowed_values_and_the_option(
    dsn: str, tmp_path: Path
) -> None:
    db = tmp_path / "pipeline.db"
    build_background_tasks(db)
    with sqlite3.connect(db) as s:
        s.execute("update background_tasks set status = 'PAUSED' where id = 2")
    s.close()
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn, source_timezone="UTC")
    assert info.value.column == "status"
    assert "'PAUSED' is not a value background_tasks_status_check allows" in info.value.reason
    assert "--map-value background_tasks.status:PAUSED=VALUE" in info.value.reason
    report = import_sqlite(
        db,
        dsn,
        source_timezone="UTC",
        options=ImportOptions(values={"background_tasks.status": {"PAUSED": "cancelled"}}),
    )
    assert report.value_mappings["background_tasks.status"][("PAUSED", "cancelled")] == 1


def test_explicit_mapping_to_a_value_the_target_refuses_is_a_plan_error(
    dsn: str, tmp_path: Path
) -> None:
    db = tmp_path / "pipeline.db"
    build_background_tasks(db)
    with pytest.raises(PlanError, match="'paused' is not one of the values"):
        import_sqlite(
            db,
            dsn,
            options=ImportOptions(values={"background_tasks.status": {"PAUSED": "paused"}}),
        )


# -- 1 + 2. legacy vocabulary, a missing status derived from the row ---------------------------


def test_legacy_planning_every_row(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "benchmark.db"
    expected = build_planning_legacy(db)
    with pytest.raises(BadRowError, match="'in_progress' is not a value"):
        import_sqlite(db, dsn, source_timezone="UTC")
    options = tmp_path / "options.json"
    write_options(
        options, {"values": {"poc_subtask_executions.status": {"in_progress": "running"}}}
    )
    report = import_sqlite(db, dsn, source_timezone="UTC", options=load_options(options))
    check(dsn, expected)  # finished runs are completed/failed, not dropped; nothing lost
    assert report.imported == sum(len(v) for v in expected.values())
    assert report.derived_columns["poc_task_executions.status"] == "from completed_at, error"
    mapped = report.value_mappings
    assert mapped["poc_subtask_executions.status"] == {("in_progress", "running"): 6}
    assert mapped["poc_task_executions.mode"] == {
        ("MULTI_AGENT", "multi-agent"): 3,
        ("SINGLE_AGENT", "single-agent"): 3,
    }


def test_default_that_contradicts_a_check_is_refused_before_copying(
    dsn: str, tmp_path: Path
) -> None:
    db = tmp_path / "benchmark.db"
    build_planning_legacy(db)
    with sqlite3.connect(db) as s:  # without error the built-in derivation cannot apply
        s.execute("alter table poc_task_executions drop column error")
    s.close()
    with pytest.raises(PlanError) as info:
        import_sqlite(db, dsn, source_timezone="UTC", skip_bad_rows=tmp_path / "bad.jsonl")
    text = str(info.value)
    assert "poc_task_executions.status" in text
    assert "poc_task_executions_ended_check" in text
    assert "for 4 of 6 rows" in text and "nothing was copied" in text
    assert count(dsn, "poc_task_executions") == 0
    # the user declares the rule; finished runs are kept
    options = ImportOptions(
        values={"poc_subtask_executions.status": {"in_progress": "running"}},
        derive=load_options_derive(),
    )
    report = import_sqlite(db, dsn, source_timezone="UTC", options=options)
    assert report.table("poc_task_executions").imported == 6
    with connect(dsn) as c:
        rows = c.execute("select status, count(*) as n from poc_task_executions group by 1")
        assert {r["status"]: r["n"] for r in rows} == {"completed": 4, "running": 2}


def load_options_derive() -> Any:
    from pydal_lite.import_sqlite.options import parse_options

    return parse_options(
        {
            "derive": {
                "poc_task_executions.status": [
                    {"when_null": "completed_at", "value": "running"},
                    {"value": "completed"},
                ]
            }
        }
    ).derive


# -- 3. the naive-datetime policy, shared with the API -----------------------------------------


def test_naive_values_follow_the_policy_zone_when_nothing_is_declared(
    dsn: str, tmp_path: Path
) -> None:
    db = tmp_path / "pipeline.db"
    expected = build_background_tasks(db)
    with naive_timezone_as("Europe/Moscow"):  # the API's setting applies to the importer
        report = import_sqlite(
            db, dsn, options=ImportOptions(timezones={"background_tasks.completed_at": "UTC"})
        )
    assert report.naive_reads["background_tasks.created_at"] == (6, "Europe/Moscow", "default")
    check(dsn, expected)


def test_refusing_policy_makes_naive_values_bad_rows(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "pipeline.db"
    build_background_tasks(db)
    with naive_timezone_as(None), pytest.raises(BadRowError, match="--source-timezone"):
        import_sqlite(db, dsn)


# -- 4. wide to long, empty strings ------------------------------------------------------------


def test_wide_to_long_mapping_every_row(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "shrinkage.db"
    expected = build_wide_shrinkage(db)
    options = load_options(write_options(tmp_path / "wide.json", WIDE_OPTIONS))
    report = import_sqlite(db, dsn, options=options)
    check(dsn, expected)
    long = report.table("calculation_data")
    assert long.source == "measurements (wide, 3 metrics)"
    assert long.source_rows == long.imported == len(expected["calculation_data"])
    assert any(
        n.startswith("expanded: wide-to-long: measurements -> calculation_data")
        for n in report.notes()
    )


def test_wide_to_long_bad_cells_and_all_or_nothing(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "shrinkage.db"
    expected = build_wide_shrinkage(db)
    with sqlite3.connect(db) as s:
        s.execute("update measurements set mass = 'heavy' where id = 2")
    s.close()
    options = load_options(write_options(tmp_path / "wide.json", WIDE_OPTIONS))
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn, options=options)
    assert info.value.key == {
        "calculation_id": 1,
        "observed_at": "2024-03-02 09:30:00.123456",
        "metric": "mass_kg",
    }
    assert count(dsn, "calculation_data") == 0 and count(dsn, "calculations") == 0
    bad = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, options=options, skip_bad_rows=bad)
    long = report.table("calculation_data")
    assert (long.imported, long.skipped_bad) == (len(expected["calculation_data"]) - 1, 1)
    assert json.loads(bad.read_text(encoding="utf-8"))["column"] == "value"


def test_wide_mapping_errors_name_what_is_wrong(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "shrinkage.db"
    build_wide_shrinkage(db)
    spec = json.loads(json.dumps(WIDE_OPTIONS))
    spec["wide"][0]["metrics"]["density"] = "density"
    with pytest.raises(PlanError, match="SQLite table measurements has no column 'density'"):
        import_sqlite(db, dsn, options=load_options(write_options(tmp_path / "o.json", spec)))
    with pytest.raises(PlanError, match=r"wide\[0\]: unknown key\(s\) metric"):
        load_options(write_options(tmp_path / "p.json", {"wide": [{"metric": 1}]}))


def test_empty_name_is_absent_on_import_as_in_save_session(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    build_new_agent_runtime(db, sessions=2)
    with sqlite3.connect(db) as s:
        s.execute("update messages set name = '', tool_call_id = '' where id = 1")
    s.close()
    report = import_sqlite(db, dsn, source_timezone="UTC")
    assert report.empty_as_null == {"messages.name": 1, "messages.tool_call_id": 1}
    with connect(dsn) as c:
        row = c.execute("select name, tool_call_id from messages where id = 1").fetchone()
        assert row == {"name": None, "tool_call_id": None}


# -- issue 8: the legacy list round trip writes nothing ----------------------------------------


def test_legacy_tool_calls_empty_round_trip_writes_nothing(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    items = [
        {"role": "user", "content": "hi", "name": ""},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "assistant", "content": "ok", "tool_calls": [], "tool_call_id": ""},
    ]
    with sqlite3.connect(db) as s:
        s.execute(
            "create table sessions (session_id varchar primary key, messages text,"
            " last_activity datetime, created_at datetime)"
        )
        s.execute(
            "insert into sessions values ('s1', ?, '2024-03-01 10:00:00', '2024-03-01 09:00:00')",
            (json.dumps(items),),
        )
    s.close()
    import_sqlite(db, dsn, source_timezone="UTC")
    with connect(dsn) as c:
        loaded = ar.load_session(c, "s1")
        assert loaded is not None
        assert loaded["messages"] == [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": "ok"},
        ]
        before = c.execute("select id, fingerprint from messages order by seq").fetchall()
        result = ar.save_session(c, "s1", loaded["messages"], loaded["last_activity"])
        assert result == {"session_id": "s1", "kept": 3, "inserted": 0, "deleted": 0}
        assert c.execute("select id, fingerprint from messages order by seq").fetchall() == before


def test_cli_flags_for_zones_mappings_and_fills(dsn: str, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "pipeline.db"
    expected = build_background_tasks(db, null_sessions=(1,))
    args = [
        str(db),
        "--dsn",
        dsn,
        "--source-timezone",
        "UTC",
        "--timezone",
        "background_tasks.created_at=Europe/Moscow",
        "--fill",
        "background_tasks.user_session=unknown",
        "--map-value",
        "background_tasks.status:CANCELLED=failed",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "'CANCELLED' -> 'failed' (1)" in out
    assert "filled: 1 NULLs in background_tasks.user_session" in out
    for row in expected["background_tasks"]:
        if row["status"] == "cancelled":
            row["status"] = "failed"
    with connect(dsn) as c:
        got = c.execute("select id, status from background_tasks order by id").fetchall()
    assert [r["status"] for r in got] == [r["status"] for r in expected["background_tasks"]]
    assert main([str(db), "--dsn", dsn, "--timezone", "background_tasks=Mars/Base"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_nothing_half_written_when_verification_fails(dsn: str, tmp_path: Path) -> None:
    # the wide expansion's per-metric check runs inside the one transaction
    db = tmp_path / "shrinkage.db"
    build_wide_shrinkage(db)
    options = load_options(write_options(tmp_path / "wide.json", WIDE_OPTIONS))
    from pydal_lite.import_sqlite import wide

    original = wide.WideExpansion._per_metric

    def lying(self: Any, m: Any) -> dict[str, int]:
        got = original(self, m)
        return {k: v + 1 for k, v in got.items()} if self.before else got

    wide.WideExpansion._per_metric = lying  # type: ignore[method-assign]
    try:
        with pytest.raises(VerificationError, match="metric 'mass_kg'"):
            import_sqlite(db, dsn, options=options)
    finally:
        wide.WideExpansion._per_metric = original  # type: ignore[method-assign]
    assert count(dsn, "calculations") == 0
