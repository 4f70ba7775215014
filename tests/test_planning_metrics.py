"""Planning metrics (seed 000): task executions, plans, subtask lifecycle, plan metrics."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from catalog import snapshot, tables_in, version_below
from fix_db import rolled_back
from plans import explain, plan_nodes

from pydal_lite import InvalidInput, InvalidTransition, NotFound, migrate, queries, sql
from pydal_lite import planning_metrics as pm
from pydal_lite.connection import AsyncConnection, Connection, connect
from pydal_lite.runtime import Step

TABLES = ("poc_task_executions", "poc_execution_plans", "poc_subtask_executions")
SEED_INDEXES = (
    "idx_poc_plans_task_plan",
    "idx_poc_plans_complete",
    "idx_poc_subtasks_plan_seq",
    "idx_poc_subtasks_status",
    "idx_poc_subtasks_agent",
)

SUBTASKS = [
    {"subtask_id": "s1", "description": "research", "agent": "researcher"},
    {"subtask_id": "s2", "description": "draft", "agent": "writer", "dependencies": ["s1"]},
    {
        "subtask_id": "s3",
        "description": "review",
        "agent": "writer",
        "estimated_time": "5 min",
        "dependencies": ["s2"],
    },
]


# the module, not the function pydal_lite.runtime re-exports under the same name
runtime_operation = importlib.import_module("pydal_lite.runtime.operations")


def _count(conn: Connection, table: str) -> int:
    with conn.transaction():  # so later operations on an own_db connection start their own
        row = conn.execute(f"select count(*) as n from {table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row["n"])


def _new_plan(conn: Connection, subtasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    return pm.record_plan_created(
        conn, run["id"], "plan-1", "write a report", SUBTASKS if subtasks is None else subtasks
    )


def _subtask_time(conn: Connection, plan_id: str, subtask_id: str, column: str) -> datetime:
    row = conn.execute(
        f"select {column} as t from poc_subtask_executions"  # noqa: S608
        " where plan_id = %s and subtask_id = %s",
        (plan_id, subtask_id),
    ).fetchone()
    assert row is not None and row["t"] is not None
    return row["t"]  # type: ignore[no-any-return]


# The shifted times are computed here: Citus refuses "started_at - interval ..." (a
# stable operator beside a column) in an UPDATE of a distributed table.


def _shift_started(conn: Connection, plan_id: str, subtask_id: str, seconds: float) -> None:
    started = _subtask_time(conn, plan_id, subtask_id, "started_at")
    conn.execute(
        "update poc_subtask_executions set started_at = %s where plan_id = %s and subtask_id = %s",
        (started - timedelta(seconds=seconds), plan_id, subtask_id),
    )


def _ran_for(conn: Connection, plan_id: str, subtask_id: str, seconds: float) -> None:
    """Make an ended subtask's run last ``seconds`` from its start."""
    started = _subtask_time(conn, plan_id, subtask_id, "started_at")
    conn.execute(
        "update poc_subtask_executions set completed_at = %s, duration_seconds = %s"
        " where plan_id = %s and subtask_id = %s",
        (started + timedelta(seconds=seconds), seconds, plan_id, subtask_id),
    )


# --- task executions ---------------------------------------------------------------


def test_start_task_execution_records_a_running_run(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "single-agent", metadata={"model": "m1"})
    assert run["status"] == "running"
    assert len(run["id"]) == 36 and run["id"].count("-") == 4
    assert run["completed_at"] is None and run["success"] is None
    assert run["metadata"] == {"model": "m1"}
    assert pm.get_task_execution(conn, run["id"]) == run


def test_start_task_execution_keeps_a_given_legacy_id(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent", execution_id="legacy-1")
    assert run["id"] == "legacy-1"
    # the same id with the same arguments is a retry (tests/test_idempotent_creates.py)
    with pytest.raises(InvalidInput, match="'legacy-1' already exists"):
        pm.start_task_execution(conn, "task_001", "single-agent", execution_id="legacy-1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_id": "t", "mode": "swarm"}, "unknown mode 'swarm'"),
        ({"task_id": "t" * 101, "mode": "multi-agent"}, "task_id is 101 characters long"),
        ({"task_id": "", "mode": "multi-agent"}, "task_id must not be empty"),
        ({"task_id": "t", "mode": "multi-agent", "metadata": [1]}, "must be a JSON object"),
        ({"task_id": "t", "mode": "multi-agent", "metadata": {"x": {1, 2}}}, "cannot be encoded"),
        ({"task_id": "t", "mode": "multi-agent", "metadata": {"x": float("nan")}}, "cannot be"),
        ({"task_id": "t", "mode": "multi-agent", "execution_id": "x" * 37}, "at most 36"),
    ],
)
def test_start_task_execution_refuses_bad_input(
    conn: Connection, kwargs: dict[str, Any], message: str
) -> None:
    task_id, mode = kwargs.pop("task_id"), kwargs.pop("mode")
    with pytest.raises(InvalidInput, match=message):
        pm.start_task_execution(conn, task_id, mode, **kwargs)
    assert _count(conn, "poc_task_executions") == 0


def test_finish_task_execution_computes_duration_in_the_database(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent", metadata={"a": 1})
    conn.execute(
        "update poc_task_executions set started_at = %s where id = %s",
        (run["started_at"] - timedelta(seconds=3), run["id"]),
    )
    done = pm.finish_task_execution(conn, run["id"], success=True, tokens=1234, metadata={"b": 2})
    assert done["status"] == "completed" and done["success"] is True and done["tokens"] == 1234
    assert done["metadata"] == {"a": 1, "b": 2}
    assert done["duration_seconds"] == pytest.approx(
        (done["completed_at"] - done["started_at"]).total_seconds()
    )
    assert 3.0 <= done["duration_seconds"] < 60.0


def test_finish_with_error_marks_the_run_failed_and_only_once(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    failed = pm.finish_task_execution(conn, run["id"], success=False, error="boom")
    assert failed["status"] == "failed" and failed["error"] == "boom"
    with pytest.raises(InvalidInput, match="already ended with status 'failed'"):
        pm.finish_task_execution(conn, run["id"], success=True)
    with pytest.raises(NotFound, match="no task execution 'nope'"):
        pm.finish_task_execution(conn, "nope", success=True)
    with pytest.raises(InvalidInput, match="tokens must be an integer >= 0, got -1"):
        pm.finish_task_execution(conn, run["id"], success=True, tokens=-1)


def test_list_task_executions_orders_by_mode_then_start(conn: Connection) -> None:
    a = pm.start_task_execution(conn, "task_001", "single-agent")
    b = pm.start_task_execution(conn, "task_001", "multi-agent")
    pm.start_task_execution(conn, "task_002", "multi-agent")
    assert [r["id"] for r in pm.list_task_executions(conn, "task_001")] == [b["id"], a["id"]]


def test_database_enforces_status_and_mode(conn: Connection) -> None:
    check = psycopg.errors.CheckViolation
    with pytest.raises(check, match="poc_task_executions_mode_check"), conn.transaction():
        conn.execute("insert into poc_task_executions (task_id, mode) values ('t', 'solo')")
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    plan = pm.record_plan_created(conn, run["id"], "p", "t", SUBTASKS)
    with pytest.raises(check, match="poc_subtask_executions_status_check"), conn.transaction():
        conn.execute(
            "update poc_subtask_executions set status = 'done' where plan_id = %s", (plan["id"],)
        )


# --- plans -------------------------------------------------------------------------


def test_record_plan_created_writes_plan_and_subtasks(conn: Connection) -> None:
    plan = _new_plan(conn)
    assert plan["subtask_count"] == 3 and plan["is_complete"] is False
    assert [s["subtask_id"] for s in plan["subtasks"]] == ["s1", "s2", "s3"]
    assert [s["sequence_number"] for s in plan["subtasks"]] == [1, 2, 3]
    assert all(s["status"] == "pending" for s in plan["subtasks"])
    assert plan["subtasks"][1]["dependencies"] == ["s1"]
    assert plan["subtasks"][2]["estimated_time"] == "5 min"
    stored = pm.get_plan(conn, plan["id"])
    assert stored is not None and stored["subtasks"] == plan["subtasks"]


def test_record_plan_created_sends_the_subtasks_in_one_statement(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    steps: list[str] = []
    real = runtime_operation.run_step

    def counting(c: Any, step: Any) -> Any:
        steps.append(f"{step.query.file}.{step.query.name}" if isinstance(step, Step) else "copy")
        return real(c, step)

    monkeypatch.setattr(runtime_operation, "run_step", counting)
    many = [{"subtask_id": f"s{i}", "description": "d", "agent": "a"} for i in range(200)]
    plan = pm.record_plan_created(conn, run["id"], "p", "t", many)
    assert len(plan["subtasks"]) == 200
    assert steps.count("planning_metrics.insert_subtasks") == 1
    assert len(steps) == 4  # lock run, insert plan, insert subtasks, completion check


def test_record_plan_created_for_a_missing_run_is_not_found(conn: Connection) -> None:
    with pytest.raises(NotFound, match="no task execution 'missing'"):
        pm.record_plan_created(conn, "missing", "p", "t", SUBTASKS)
    assert _count(conn, "poc_execution_plans") == 0


def test_second_plan_for_a_run_is_refused_and_the_first_kept(conn: Connection) -> None:
    plan = _new_plan(conn)
    with pytest.raises(InvalidInput, match="already has a plan"):
        pm.record_plan_created(conn, plan["task_execution_id"], "p2", "t", SUBTASKS)
    assert _count(conn, "poc_execution_plans") == 1
    assert _count(conn, "poc_subtask_executions") == 3


@pytest.mark.parametrize(
    ("subtasks", "message"),
    [
        ([{"subtask_id": "s1", "description": "d", "agent": "a" * 51}], "agent is 51 characters"),
        ([{"subtask_id": "s" * 101, "description": "d", "agent": "a"}], "is 101 characters"),
        (
            [{"subtask_id": "s1", "description": "d", "agent": "a", "estimated_time": "x" * 51}],
            "estimated_time is 51 characters",
        ),
        (
            [
                {"subtask_id": "s1", "description": "d", "agent": "a"},
                {"subtask_id": "s1", "description": "d", "agent": "a"},
            ],
            "'s1' appears twice",
        ),
        (
            [{"subtask_id": "s1", "description": "d", "agent": "a", "dependencies": ["s9"]}],
            r"unknown subtasks \['s9'\]",
        ),
        (
            [{"subtask_id": "s1", "description": "d", "agent": "a", "sequence_number": -1}],
            "sequence_number must be an integer >= 0, got -1",
        ),
        ([{"subtask_id": "s1", "description": "d", "agent": "a", "colour": 1}], "unknown keys"),
        ([{"subtask_id": "s1", "agent": "a"}], "description must be a string, got None"),
        ("s1", "subtasks must be a list"),
    ],
)
def test_bad_subtasks_leave_nothing_written(conn: Connection, subtasks: Any, message: str) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    with pytest.raises(InvalidInput, match=message):
        pm.record_plan_created(conn, run["id"], "p", "t", subtasks)
    assert _count(conn, "poc_execution_plans") == 0
    assert _count(conn, "poc_subtask_executions") == 0


def test_over_long_plan_id_and_unencodable_metadata_are_refused(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    with pytest.raises(InvalidInput, match="plan_id is 101 characters long, at most 100"):
        pm.record_plan_created(conn, run["id"], "p" * 101, "t", SUBTASKS)
    with pytest.raises(InvalidInput, match="metadata cannot be encoded as JSON"):
        pm.record_plan_created(conn, run["id"], "p", "t", SUBTASKS, metadata={"f": object()})
    assert _count(conn, "poc_execution_plans") == 0


def test_a_plan_without_subtasks_is_complete_at_once(conn: Connection) -> None:
    plan = _new_plan(conn, [])
    assert plan["is_complete"] is True and plan["completed_at"] is not None
    assert plan["subtasks"] == []


# --- subtask lifecycle and completion ----------------------------------------------


def test_subtask_lifecycle_and_automatic_plan_completion(conn: Connection) -> None:
    plan = _new_plan(conn)
    pid = plan["id"]
    started = pm.start_subtask(conn, pid, "s1")
    assert started["status"] == "running" and started["started_at"] is not None
    _shift_started(conn, pid, "s1", 2.0)
    done = pm.complete_subtask(conn, pid, "s1", result="notes")
    assert done["status"] == "completed" and done["result"] == "notes"
    assert done["duration_seconds"] == pytest.approx(
        (done["completed_at"] - done["started_at"]).total_seconds()
    )
    assert done["duration_seconds"] >= 2.0

    pm.start_subtask(conn, pid, "s2")
    failed = pm.fail_subtask(conn, pid, "s2", error="model timeout")
    assert failed["status"] == "failed" and failed["error"] == "model timeout"
    assert failed["duration_seconds"] is not None
    open_plan = pm.get_plan(conn, pid)
    assert open_plan is not None and open_plan["is_complete"] is False

    skipped = pm.skip_subtask(conn, pid, "s3", reason="s2 failed")
    assert skipped["status"] == "skipped" and skipped["duration_seconds"] is None
    closed = pm.get_plan(conn, pid)
    assert closed is not None and closed["is_complete"] is True
    assert closed["completed_at"] == skipped["completed_at"]


def test_fail_a_pending_subtask_has_no_duration(conn: Connection) -> None:
    plan = _new_plan(conn)
    failed = pm.fail_subtask(conn, plan["id"], "s1", error="never ran")
    assert failed["started_at"] is None and failed["duration_seconds"] is None


def test_wrong_state_moves_raise_invalid_transition(conn: Connection) -> None:
    plan = _new_plan(conn)
    with pytest.raises(InvalidTransition, match="cannot complete subtask 's1'"):
        pm.complete_subtask(conn, plan["id"], "s1")
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    pm.finish_task_execution(conn, run["id"], success=True)
    with pytest.raises(InvalidTransition, match="already ended with status 'completed'"):
        pm.finish_task_execution(conn, run["id"], success=True)
    with pytest.raises(InvalidInput) as bad_value:
        pm.complete_subtask(conn, plan["id"], "")
    assert not isinstance(bad_value.value, InvalidTransition)


def test_lifecycle_refuses_wrong_transitions_and_unknown_rows(conn: Connection) -> None:
    plan = _new_plan(conn)
    pid = plan["id"]
    with pytest.raises(InvalidInput, match=r"cannot complete subtask 's1'.*'pending', expected"):
        pm.complete_subtask(conn, pid, "s1")
    pm.start_subtask(conn, pid, "s1")
    with pytest.raises(InvalidInput, match=r"cannot start subtask 's1'.*'running'"):
        pm.start_subtask(conn, pid, "s1")
    with pytest.raises(InvalidInput, match="cannot skip subtask 's1'"):
        pm.skip_subtask(conn, pid, "s1")
    pm.complete_subtask(conn, pid, "s1")
    with pytest.raises(InvalidInput, match=r"cannot fail subtask 's1'.*'completed'"):
        pm.fail_subtask(conn, pid, "s1", error="late")
    with pytest.raises(NotFound, match="no subtask 's9'"):
        pm.start_subtask(conn, pid, "s9")
    with pytest.raises(NotFound, match="no subtask 's9'"):
        pm.complete_subtask(conn, pid, "s9")
    with pytest.raises(NotFound, match="no plan 'missing'"):
        pm.complete_subtask(conn, "missing", "s1")
    with pytest.raises(InvalidInput, match="error must not be empty"):
        pm.fail_subtask(conn, pid, "s2", error="")
    row = pm.list_subtasks(conn, pid)[0]
    assert row["status"] == "completed"


def test_last_subtasks_ending_concurrently_still_complete_the_plan(dsn: str) -> None:
    with connect(dsn) as a, connect(dsn) as b:
        plan = _new_plan(a, [SUBTASKS[0], {**SUBTASKS[1], "dependencies": []}])
        pid = plan["id"]
        pm.start_subtask(a, pid, "s1")
        pm.start_subtask(a, pid, "s2")
        errors: list[BaseException] = []

        def other() -> None:
            try:
                pm.complete_subtask(b, pid, "s2")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        with a.transaction():  # hold s1's ending open while s2 ends in another session
            pm.complete_subtask(a, pid, "s1")
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.3)
            assert thread.is_alive(), "the second ending must wait for the plan lock"
        thread.join(10)
        assert not errors
        final = pm.get_plan(a, pid)
        assert final is not None and final["is_complete"] is True


def test_get_plan_metrics(conn: Connection) -> None:
    subtasks = [
        {"subtask_id": "a1", "description": "d", "agent": "researcher"},
        {"subtask_id": "a2", "description": "d", "agent": "researcher"},
        {"subtask_id": "b1", "description": "d", "agent": "writer"},
        {"subtask_id": "b2", "description": "d", "agent": "writer"},
    ]
    plan = _new_plan(conn, subtasks)
    pid = plan["id"]
    for sid in ("a1", "a2", "b1"):
        pm.start_subtask(conn, pid, sid)
    # fix the durations: started_at 10 s and 30 s before completion
    conn.execute(
        "update poc_subtask_executions set started_at = now() - interval '10 seconds'"
        " where plan_id = %s and subtask_id = 'a1'",
        (pid,),
    )
    pm.complete_subtask(conn, pid, "a1")
    _ran_for(conn, pid, "a1", 10)
    conn.execute(
        "update poc_subtask_executions set started_at = now() - interval '1 minute'"
        " where plan_id = %s and subtask_id = 'a2'",
        (pid,),
    )
    pm.fail_subtask(conn, pid, "a2", error="x")
    _ran_for(conn, pid, "a2", 30)

    m = pm.get_plan_metrics(conn, pid)
    assert m["total_subtasks"] == 4 and m["subtask_count"] == 4
    assert m["by_status"] == {
        "pending": 1,
        "running": 1,
        "completed": 1,
        "failed": 1,
        "skipped": 0,
    }
    assert m["total_duration_seconds"] == pytest.approx(40.0)
    assert m["avg_duration_seconds"] == pytest.approx(20.0)
    assert m["max_duration_seconds"] == pytest.approx(30.0)
    assert m["completion_ratio"] == pytest.approx(0.25)
    assert m["is_complete"] is False
    by_agent = {a["agent"]: a for a in m["per_agent"]}
    assert list(by_agent) == ["researcher", "writer"]
    assert by_agent["researcher"]["subtasks"] == 2
    assert by_agent["researcher"]["completed"] == 1 and by_agent["researcher"]["failed"] == 1
    assert by_agent["researcher"]["total_duration_seconds"] == pytest.approx(40.0)
    assert by_agent["researcher"]["max_duration_seconds"] == pytest.approx(30.0)
    assert by_agent["researcher"]["completion_ratio"] == pytest.approx(0.5)
    assert (
        by_agent["writer"]["completed"] == 0 and by_agent["writer"]["avg_duration_seconds"] is None
    )
    with pytest.raises(NotFound, match="no plan 'missing'"):
        pm.get_plan_metrics(conn, "missing")


def test_metrics_of_an_empty_plan(conn: Connection) -> None:
    m = pm.get_plan_metrics(conn, _new_plan(conn, [])["id"])
    assert m["total_subtasks"] == 0 and m["completion_ratio"] is None
    assert m["per_agent"] == [] and m["total_duration_seconds"] == 0.0


def test_seed_check_query_lists_plans_with_actual_subtask_counts(conn: Connection) -> None:
    full = _new_plan(conn)
    empty = _new_plan(conn, [])
    conn.execute(
        "delete from poc_subtask_executions where plan_id = %s and subtask_id = 's3'",
        (full["id"],),
    )
    rows = {r["id"]: r for r in pm.list_plans_with_subtask_counts(conn)}
    assert rows[full["id"]]["subtask_count"] == 3 and rows[full["id"]]["actual_subtasks"] == 2
    assert rows[empty["id"]]["actual_subtasks"] == 0 and rows[empty["id"]]["is_complete"] is True


@pytest.mark.own_db  # pages in created_at order: now() must move between plans
def test_check_query_pages_by_keyset(conn: Connection) -> None:
    plans = [_new_plan(conn, SUBTASKS[: i % 3]) for i in range(5)]
    first = pm.list_plans_with_subtask_counts(conn, limit=2)
    assert [r["id"] for r in first] == [p["id"] for p in plans[:2]]
    assert [r["actual_subtasks"] for r in first] == [0, 1]
    second = pm.list_plans_with_subtask_counts(conn, limit=2, after=first[-1]["id"])
    assert [r["id"] for r in second] == [p["id"] for p in plans[2:4]]
    assert [r["actual_subtasks"] for r in second] == [2, 0]
    last = pm.list_plans_with_subtask_counts(conn, limit=2, after=second[-1]["id"])
    assert [r["id"] for r in last] == [plans[4]["id"]]
    assert pm.list_plans_with_subtask_counts(conn, after=plans[4]["id"]) == []
    assert set(first[0]) == {
        "id",
        "plan_id",
        "original_task",
        "subtask_count",
        "is_complete",
        "actual_subtasks",
    }
    assert len(pm.list_plans_with_subtask_counts(conn)) == 5  # default limit 100
    with pytest.raises(NotFound, match="no plan 'gone' to page after"):
        pm.list_plans_with_subtask_counts(conn, after="gone")
    with pytest.raises(InvalidInput, match="limit must be an integer >= 1, got 0"):
        pm.list_plans_with_subtask_counts(conn, limit=0)
    with pytest.raises(InvalidInput, match="after must be a string, got 7"):
        pm.list_plans_with_subtask_counts(conn, after=7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: pm.get_task_execution(c, 123), "execution_id must be a string, got 123"),
        (lambda c: pm.get_task_execution(c, "x" * 37), "execution_id is 37 characters long"),
        (lambda c: pm.list_task_executions(c, ["x"]), r"task_id must be a string, got \['x'\]"),
        (lambda c: pm.list_task_executions(c, "t" * 101), "task_id is 101 characters long"),
        (lambda c: pm.delete_task_execution(c, None), "execution_id must be a string, got None"),
        (lambda c: pm.delete_task_execution(c, "a\x00"), "execution_id contains a NUL"),
        (lambda c: pm.get_plan(c, 1.5), "plan_id must be a string, got 1.5"),
        (lambda c: pm.get_plan(c, ""), "plan_id must not be empty"),
        (lambda c: pm.list_subtasks(c, b"p"), "plan_id must be a string, got b'p'"),
        (lambda c: pm.list_subtasks(c, "p" * 37), "plan_id is 37 characters long"),
    ],
)
def test_lookups_validate_their_arguments(conn: Connection, call: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(conn)


def test_long_bad_values_are_cut_in_messages(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    long_list = ["x" * 1000] * 50
    for subtasks, start in (
        (b"x" * 10_000, "subtasks must be a list of mappings, got b'xxx"),
        ([long_list], "subtask #1 must be a mapping, got ['xxx"),
        (
            [{"subtask_id": "s1", "description": "d", "agent": "a", "dependencies": "y" * 9999}],
            "subtask 's1' dependencies must be a list of subtask ids, got 'yyy",
        ),
    ):
        with pytest.raises(InvalidInput) as info:
            pm.record_plan_created(conn, run["id"], "p", "t", subtasks)  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith(start) and message.endswith("...") and len(message) < 400
    with pytest.raises(InvalidInput) as info:
        pm.finish_task_execution(conn, run["id"], success="z" * 5000)  # type: ignore[arg-type]
    assert str(info.value).endswith("...") and len(str(info.value)) < 300


def test_database_ties_subtask_status_to_its_timestamps(conn: Connection) -> None:
    plan = _new_plan(conn)
    pm.start_subtask(conn, plan["id"], "s1")
    pm.complete_subtask(conn, plan["id"], "s1")
    pm.start_subtask(conn, plan["id"], "s2")
    pm.fail_subtask(conn, plan["id"], "s2", error="x")  # failed after it started
    row = {r["subtask_id"]: r for r in pm.list_subtasks(conn, plan["id"])}
    assert row["s2"]["started_at"] is not None
    pm.skip_subtask(conn, plan["id"], "s3")  # every operation's result passes the check
    for subtask_id, assignment in (
        ("s1", "status = 'running'"),  # running with completed_at
        ("s1", "status = 'pending', completed_at = null"),  # pending with started_at
        ("s1", "started_at = null, duration_seconds = null"),  # completed never started
        ("s3", "started_at = completed_at"),  # skipped after it started
        ("s3", "completed_at = null"),  # skipped without an end
        ("s2", "completed_at = null"),  # failed without an end
    ):
        with (
            pytest.raises(
                psycopg.errors.CheckViolation, match="poc_subtask_executions_timestamps_check"
            ),
            conn.transaction(),
        ):
            conn.execute(
                f"update poc_subtask_executions set {assignment}"  # noqa: S608
                " where plan_id = %s and subtask_id = %s",
                (plan["id"], subtask_id),
            )
    other = _new_plan(conn)
    pm.fail_subtask(conn, other["id"], "s1", error="never started")  # failed while pending
    assert pm.get_plan(conn, other["id"])["subtasks"][0]["started_at"] is None  # type: ignore[index]


def _blocks(plan: dict[str, Any]) -> int:
    return int(plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0))


@pytest.fixture(scope="module")
def many_plans_db(module_dsn: str) -> str:
    """15,000 complete plans (oldest), then 5,000 open ones, two subtasks each, analyzed;
    built once for the module."""
    with connect(module_dsn) as conn:
        _fill_many_plans(conn)
    return module_dsn


@pytest.fixture
def many_plans(many_plans_db: str) -> Iterator[Connection]:
    """A connection to the module's many plans, rolled back after the test."""
    with rolled_back(many_plans_db) as c:
        yield c


def _fill_many_plans(conn: Connection) -> None:
    conn.execute(
        "insert into poc_task_executions (id, task_id, mode)"
        " select 'run-' || g, 'task', 'single-agent' from generate_series(1, 20000) as g"
    )
    conn.execute(
        "insert into poc_execution_plans"
        " (id, task_execution_id, plan_id, original_task, subtask_count, created_at,"
        "  completed_at, is_complete)"
        " select 'plan-' || g, 'run-' || g, 'p', 't', 2,"
        "  now() - interval '1 day' + g * interval '1 ms',"
        "  case when g <= 15000 then now() end, g <= 15000"
        " from generate_series(1, 20000) as g"
    )
    conn.execute(
        "insert into poc_subtask_executions"
        " (task_execution_id, plan_id, subtask_id, sequence_number, description, agent)"
        " select 'run-' || g, 'plan-' || g, 's' || k, k, 'd', 'a'"
        " from generate_series(1, 20000) as g cross join generate_series(1, 2) as k"
    )
    conn.execute(
        "update poc_subtask_executions set status = 'skipped', completed_at = now()"
        " where plan_id in (select id from poc_execution_plans where is_complete)"
    )
    conn.execute("analyze poc_execution_plans")
    conn.execute("analyze poc_subtask_executions")


def test_list_open_plans_reads_only_open_plans_in_order(many_plans: Connection) -> None:
    plan = explain(many_plans, sql.planning_metrics.list_open_plans(limit=10))
    nodes = list(plan_nodes(plan))
    assert not [n for n in nodes if n["Node Type"] == "Sort"]
    scans = [n for n in nodes if n.get("Relation Name") == "poc_execution_plans"]
    assert [n["Index Name"] for n in scans] == ["poc_execution_plans_created_at_id_open_idx"]
    assert scans[0]["Actual Rows"] == 10 and _blocks(plan) < 20
    rows = pm.list_open_plans(many_plans, limit=10)
    assert [r["id"] for r in rows] == [f"plan-{g}" for g in range(15001, 15011)]


def test_check_query_page_cost_does_not_grow_with_depth(many_plans: Connection) -> None:
    fn = sql.planning_metrics.list_plans_with_subtask_counts
    first = explain(many_plans, fn(after=None, limit=50))
    deep = explain(many_plans, fn(after="plan-19000", limit=50))
    for plan in (first, deep):
        nodes = list(plan_nodes(plan))
        assert not [n for n in nodes if n["Node Type"] == "Sort"]
        pages = [
            n
            for n in nodes
            if n.get("Relation Name") == "poc_execution_plans" and n.get("Alias") == "p"
        ]
        assert [n["Index Name"] for n in pages] == ["poc_execution_plans_created_at_id_idx"]
        assert pages[0]["Actual Rows"] == 50
    assert _blocks(deep) <= _blocks(first) + 10 and _blocks(deep) < 400
    page = pm.list_plans_with_subtask_counts(many_plans, limit=3, after="plan-19000")
    assert [(r["id"], r["actual_subtasks"]) for r in page] == [
        ("plan-19001", 2),
        ("plan-19002", 2),
        ("plan-19003", 2),
    ]


def test_a_plan_is_found_by_its_id_alone_through_the_id_index(many_plans: Connection) -> None:
    plan = explain(many_plans, sql.planning_metrics.get_plan_key(plan_id="plan-19000"))
    scans = [n for n in plan_nodes(plan) if n.get("Relation Name") == "poc_execution_plans"]
    assert [n["Index Name"] for n in scans] == ["poc_execution_plans_id_idx"]
    assert scans[0]["Actual Rows"] == 1


def test_plan_calls_given_the_run_skip_the_look_up(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _new_plan(conn)
    pid, run = plan["id"], plan["task_execution_id"]
    names: list[str] = []
    real = runtime_operation.run_step

    def counting(c: Any, step: Any) -> Any:
        names.append(step.query.name)
        return real(c, step)

    monkeypatch.setattr(runtime_operation, "run_step", counting)
    assert pm.get_plan(conn, pid) == pm.get_plan(conn, pid, task_execution_id=run)
    assert names == ["get_plan_key", "get_plan", "list_subtasks", "get_plan", "list_subtasks"]
    names.clear()
    pm.start_subtask(conn, pid, "s1", task_execution_id=run)
    pm.complete_subtask(conn, pid, "s1", task_execution_id=run)
    assert "get_plan_key" not in names
    # another run's id names no plan: as for an unknown plan
    other = pm.start_task_execution(conn, "task_001", "multi-agent")["id"]
    assert pm.get_plan(conn, pid, task_execution_id=other) is None
    assert pm.list_subtasks(conn, pid, task_execution_id=other) == []
    with pytest.raises(NotFound, match=f"no plan {pid!r}"):
        pm.skip_subtask(conn, pid, "s2", task_execution_id=other)
    with pytest.raises(NotFound, match=f"no plan {pid!r}"):
        pm.get_plan_metrics(conn, pid, task_execution_id=other)
    with pytest.raises(InvalidInput, match="task_execution_id is 37 characters long"):
        pm.start_subtask(conn, pid, "s2", task_execution_id="x" * 37)
    assert pm.get_plan_metrics(conn, pid, task_execution_id=run)["by_status"]["completed"] == 1


def test_list_open_plans_and_status_counts(conn: Connection) -> None:
    open_plan = _new_plan(conn)
    _new_plan(conn, [])
    assert [p["id"] for p in pm.list_open_plans(conn)] == [open_plan["id"]]
    pm.start_subtask(conn, open_plan["id"], "s1")
    assert pm.count_subtasks_by_status(conn) == {
        "pending": 2,
        "running": 1,
        "completed": 0,
        "failed": 0,
        "skipped": 0,
    }
    with pytest.raises(InvalidInput, match="limit must be an integer >= 1, got 0"):
        pm.list_open_plans(conn, limit=0)


def test_deleting_a_run_cascades_to_plan_and_subtasks(conn: Connection) -> None:
    plan = _new_plan(conn)
    other = _new_plan(conn)
    assert pm.delete_task_execution(conn, plan["task_execution_id"]) is True
    assert pm.get_plan(conn, plan["id"]) is None
    assert pm.list_subtasks(conn, plan["id"]) == []
    assert len(pm.list_subtasks(conn, other["id"])) == 3
    assert pm.delete_task_execution(conn, plan["task_execution_id"]) is False


def test_named_queries_by_run_and_by_agent(conn: Connection) -> None:
    plan = _new_plan(conn)
    by_run = queries.planning_metrics.get_plan_by_task_execution(
        conn, task_execution_id=plan["task_execution_id"]
    )
    assert by_run["id"] == plan["id"]
    writer = queries.planning_metrics.list_subtasks_by_agent(conn, agent="writer", limit=10)
    assert sorted(r["subtask_id"] for r in writer) == ["s2", "s3"]


def test_deleting_a_plan_cascades_to_its_subtasks(conn: Connection) -> None:
    plan = _new_plan(conn)
    run = plan["task_execution_id"]
    assert (
        queries.planning_metrics.delete_plan(conn, task_execution_id=run, plan_id=plan["id"]) == 1
    )
    assert _count(conn, "poc_subtask_executions") == 0
    assert _count(conn, "poc_task_executions") == 1


# --- async -------------------------------------------------------------------------


async def test_the_same_operations_work_on_an_async_connection(aconn: AsyncConnection) -> None:
    run = await pm.start_task_execution(aconn, "task_001", "multi-agent")
    plan = await pm.record_plan_created(aconn, run["id"], "p", "t", SUBTASKS)
    for sid in ("s1", "s2", "s3"):
        await pm.start_subtask(aconn, plan["id"], sid)
        await pm.complete_subtask(aconn, plan["id"], sid, result=sid)
    metrics = await pm.get_plan_metrics(aconn, plan["id"])
    assert metrics["is_complete"] is True and metrics["completion_ratio"] == 1.0
    finished = await pm.finish_task_execution(aconn, run["id"], success=True, tokens=10)
    assert finished["status"] == "completed"
    with pytest.raises(NotFound):
        await pm.start_subtask(aconn, plan["id"], "nope")


# --- migration ---------------------------------------------------------------------


def test_migration_0003_down_then_up(dsn: str) -> None:
    before = snapshot(dsn, only_tables=TABLES)
    assert {r[2] for r in before if r[0] == "index"} >= set(SEED_INDEXES)
    assert all(r[3] for r in before if r[:2] == ("relation", "r"))
    migrate.down(dsn, target=version_below(dsn, "0003"))
    assert not set(TABLES) & tables_in(dsn)
    migrate.up(dsn)
    assert set(TABLES) <= tables_in(dsn)
    assert snapshot(dsn, only_tables=TABLES) == before
    with connect(dsn) as c:
        assert _new_plan(c)["subtask_count"] == 3
