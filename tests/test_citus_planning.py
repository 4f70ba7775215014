"""Planning metrics on a Citus cluster: which shards each call's statements reach, and the
operations run end to end on distributed tables (poc_task_executions by id, plans and
subtasks by task_execution_id, colocated; migrations 0016-0018).

Single-shard: every statement that names a run (task execution), including every plan and
subtask statement, whose run the call has or looks up first. Fan-out (every shard):
get_plan_key (the run of a plan named by id alone: what a plan call without
``task_execution_id=`` adds, and record_plan_created with a ``row_id``), and the global
lists: list_task_executions (by task_id), list_open_plans, list_plans_with_subtask_counts,
list_subtasks_by_agent, count_subtasks_by_status.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fix_citus import distributed_plan, task_count
from psycopg.types.json import Jsonb

from pydal_lite import InvalidInput, InvalidTransition, NotFound, sql
from pydal_lite import planning_metrics as pm
from pydal_lite.connection import Connection, connect
from pydal_lite.runtime import Step

pytestmark = pytest.mark.citus

q = sql.planning_metrics
runtime_operation = importlib.import_module("pydal_lite.runtime.operations")

SUBTASKS = [
    {"subtask_id": "s1", "description": "research", "agent": "researcher"},
    {"subtask_id": "s2", "description": "draft", "agent": "writer", "dependencies": ["s1"]},
    {"subtask_id": "s3", "description": "review", "agent": "writer"},
]
BATCH = Jsonb([{"subtask_id": "s1", "sequence_number": 1, "description": "d", "agent": "a"}])
R, P, S = "run-1", "plan-1", "s1"

# Every query a keyed call runs, with its run (R) named: each must reach one shard.
KEYED: dict[str, Callable[[], Step[Any]]] = {
    "insert_task_execution": lambda: q.insert_task_execution(
        id=R, task_id="t", mode="multi-agent", metadata=Jsonb({})
    ),
    "get_task_execution_for_retry": lambda: q.get_task_execution_for_retry(
        id=R, task_id="t", mode="multi-agent", metadata=Jsonb({})
    ),
    "finish_task_execution": lambda: q.finish_task_execution(
        id=R, status="completed", success=True, tokens=1, error=None, metadata=Jsonb({})
    ),
    "get_task_execution": lambda: q.get_task_execution(id=R),
    "lock_task_execution": lambda: q.lock_task_execution(id=R),
    "delete_task_execution": lambda: q.delete_task_execution(id=R),
    "insert_plan": lambda: q.insert_plan(
        id=P, task_execution_id=R, plan_id="p", original_task="t", subtask_count=1, metadata=None
    ),
    "get_plan_for_retry": lambda: q.get_plan_for_retry(
        task_execution_id=R, id=P, plan_id="p", original_task="t", metadata=None, subtasks=BATCH
    ),
    "get_plan": lambda: q.get_plan(task_execution_id=R, plan_id=P),
    "get_plan_by_task_execution": lambda: q.get_plan_by_task_execution(task_execution_id=R),
    "lock_plan": lambda: q.lock_plan(task_execution_id=R, plan_id=P),
    "complete_plan_if_done": lambda: q.complete_plan_if_done(task_execution_id=R, plan_id=P),
    "delete_plan": lambda: q.delete_plan(task_execution_id=R, plan_id=P),
    "get_subtask": lambda: q.get_subtask(task_execution_id=R, plan_id=P, subtask_id=S),
    "list_subtasks": lambda: q.list_subtasks(task_execution_id=R, plan_id=P),
    "start_subtask": lambda: q.start_subtask(task_execution_id=R, plan_id=P, subtask_id=S),
    "complete_subtask": lambda: q.complete_subtask(
        task_execution_id=R, plan_id=P, subtask_id=S, result=None
    ),
    "fail_subtask": lambda: q.fail_subtask(task_execution_id=R, plan_id=P, subtask_id=S, error="e"),
    "skip_subtask": lambda: q.skip_subtask(
        task_execution_id=R, plan_id=P, subtask_id=S, reason=None
    ),
    "get_plan_metrics": lambda: q.get_plan_metrics(task_execution_id=R, plan_id=P),
}
FAN_OUT: dict[str, Callable[[], Step[Any]]] = {
    "get_plan_key": lambda: q.get_plan_key(plan_id=P),
    "list_task_executions": lambda: q.list_task_executions(task_id="t"),
    "list_open_plans": lambda: q.list_open_plans(limit=10),
    "list_subtasks_by_agent": lambda: q.list_subtasks_by_agent(agent="a", limit=10),
    "count_subtasks_by_status": lambda: q.count_subtasks_by_status(),
}


def _shards(conn: Connection) -> int:
    row = conn.execute(
        "select count(*) as n from pg_dist_shard"
        " where logicalrelid = 'poc_execution_plans'::regclass"
    ).fetchone()
    assert row is not None
    return int(row["n"])


def _reaches_one_shard(conn: Connection, step: Step[Any]) -> bool:
    if step.query.name == "insert_subtasks":
        # INSERT ... SELECT from a JSON array: the coordinator builds the rows (reading no
        # shard) and routes each by its key, the one :task_execution_id of the statement.
        plan = _insert_select(conn, step)
        return plan[
            "INSERT/SELECT method"
        ] == "pull to coordinator" and "Distributed Query" not in str(plan)
    return task_count(conn, step) == 1


def _insert_select(conn: Connection, step: Step[Any]) -> dict[str, Any]:
    with pytest.raises(AssertionError, match="not a distributed plan"):
        distributed_plan(conn, step)
    with conn.transaction(force_rollback=True), psycopg.ClientCursor(conn) as cur:
        cur.execute("explain (format json) " + step.sql, step.params)
        row = cur.fetchone()
    assert row is not None
    plan: dict[str, Any] = next(iter(row.values()))[0]["Plan"]  # type: ignore[union-attr]
    assert plan["Custom Plan Provider"] == "Citus INSERT ... SELECT"
    return plan


@pytest.mark.parametrize("name", sorted(KEYED))
def test_keyed_queries_plan_to_one_shard(cconn: Connection, name: str) -> None:
    assert task_count(cconn, KEYED[name]()) == 1


def test_insert_subtasks_reads_no_shard_and_routes_by_its_run(cconn: Connection) -> None:
    step = q.insert_subtasks(task_execution_id=R, plan_id=P, subtasks=BATCH)
    assert _reaches_one_shard(cconn, step)


@pytest.mark.parametrize("name", sorted(FAN_OUT))
def test_global_queries_fan_out_to_every_shard(cconn: Connection, name: str) -> None:
    assert task_count(cconn, FAN_OUT[name]()) == _shards(cconn) > 1


def test_check_query_reads_one_page_per_shard_and_pulls_no_table(cconn: Connection) -> None:
    """Each shard reads its page of plans and counts their subtasks there; only the
    :after look-up runs before it (a subplan probing every shard by id): no table is
    pulled to the coordinator whole, as a join of the page with the subtasks would."""
    for after in (None, P):
        step = q.list_plans_with_subtask_counts(after=after, limit=10)
        plan = distributed_plan(cconn, step)
        assert plan["Job"]["Task Count"] == _shards(cconn)
        subplans = plan.get("Subplans", [])
        assert len(subplans) == (0 if after is None else 1)
        text = str(subplans)
        assert "poc_subtask_executions" not in text and "Seq Scan" not in text


# --- what each call runs ------------------------------------------------------------


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Step[Any]]]:
    """The named-query steps the operations run, in order."""
    seen: list[Step[Any]] = []
    real = runtime_operation.run_step

    def recording(c: Any, step: Any) -> Any:
        if isinstance(step, Step):
            seen.append(step)
        return real(c, step)

    monkeypatch.setattr(runtime_operation, "run_step", recording)
    yield seen


def _fan_outs(conn: Connection, ran: list[Step[Any]]) -> list[str]:
    """Names of the steps in ``ran`` that do not reach exactly one shard."""
    assert ran
    return [s.query.name for s in ran if not _reaches_one_shard(conn, s)]


def test_every_keyed_call_runs_only_single_shard_statements(
    cconn: Connection, steps: list[Step[Any]]
) -> None:
    run = pm.start_task_execution(cconn, "task_001", "multi-agent")
    plan = pm.record_plan_created(cconn, run["id"], "p", "t", SUBTASKS)
    key = {"task_execution_id": run["id"]}
    calls: list[Callable[[], object]] = [
        lambda: pm.start_task_execution(cconn, "task_001", "multi-agent", execution_id="x-1"),
        lambda: pm.start_task_execution(cconn, "task_001", "multi-agent", execution_id="x-1"),
        lambda: pm.get_task_execution(cconn, run["id"]),
        lambda: pm.get_plan(cconn, plan["id"], **key),
        lambda: pm.list_subtasks(cconn, plan["id"], **key),
        lambda: pm.start_subtask(cconn, plan["id"], "s1", **key),
        lambda: pm.complete_subtask(cconn, plan["id"], "s1", **key),
        lambda: pm.fail_subtask(cconn, plan["id"], "s2", error="x", **key),
        lambda: pm.skip_subtask(cconn, plan["id"], "s3", **key),
        lambda: pm.get_plan_metrics(cconn, plan["id"], **key),
        lambda: pm.finish_task_execution(cconn, run["id"], success=True),
        lambda: pm.delete_task_execution(cconn, "x-1"),
    ]
    assert _fan_outs(cconn, steps) == []  # start_task_execution, record_plan_created
    for call in calls:
        steps.clear()
        call()
        assert _fan_outs(cconn, steps) == [], call
    # without the run, a plan call looks it up first: that one statement probes every shard
    for bare in (
        lambda: pm.get_plan(cconn, plan["id"]),
        lambda: pm.get_plan_metrics(cconn, plan["id"]),
    ):
        steps.clear()
        bare()
        assert _fan_outs(cconn, steps) == ["get_plan_key"]


# --- end to end on distributed tables -----------------------------------------------


def test_task_executions_on_citus(cconn: Connection) -> None:
    a = pm.start_task_execution(cconn, "task_c1", "multi-agent", metadata={"m": 1})
    b = pm.start_task_execution(cconn, "task_c1", "single-agent", execution_id="c-exec-1")
    assert len(a["id"]) == 36 and a["status"] == "running"
    again = pm.start_task_execution(cconn, "task_c1", "single-agent", execution_id="c-exec-1")
    assert again == b
    with pytest.raises(InvalidInput, match="different mode"):
        pm.start_task_execution(cconn, "task_c1", "multi-agent", execution_id="c-exec-1")
    done = pm.finish_task_execution(cconn, a["id"], success=True, tokens=5, metadata={"n": 2})
    assert done["metadata"] == {"m": 1, "n": 2} and done["tokens"] == 5
    # the duration is the coordinator's transaction time minus the start, as on one server
    assert done["duration_seconds"] == pytest.approx(
        (done["completed_at"] - done["started_at"]).total_seconds()
    )
    with pytest.raises(InvalidTransition, match="already ended"):
        pm.finish_task_execution(cconn, a["id"], success=True)
    assert [r["id"] for r in pm.list_task_executions(cconn, "task_c1")] == [a["id"], b["id"]]
    assert pm.delete_task_execution(cconn, b["id"]) is True
    assert pm.get_task_execution(cconn, b["id"]) is None


def test_plans_on_citus(cconn: Connection) -> None:
    run = pm.start_task_execution(cconn, "task_c2", "multi-agent")
    other = pm.start_task_execution(cconn, "task_c2", "multi-agent")
    plan = pm.record_plan_created(cconn, run["id"], "p", "t", SUBTASKS, row_id="c-plan-1")
    assert plan["id"] == "c-plan-1" and [s["subtask_id"] for s in plan["subtasks"]] == [
        "s1",
        "s2",
        "s3",
    ]
    assert pm.record_plan_created(cconn, run["id"], "p", "t", SUBTASKS, row_id="c-plan-1") == plan
    with pytest.raises(InvalidInput, match=r"different task_execution_id and plan_id$"):
        pm.record_plan_created(cconn, other["id"], "q", "t", SUBTASKS, row_id="c-plan-1")
    with pytest.raises(InvalidInput, match="already has a plan"):
        pm.record_plan_created(cconn, run["id"], "p2", "t", SUBTASKS)
    with pytest.raises(NotFound, match="no task execution"):
        pm.record_plan_created(cconn, "c-missing", "p", "t", SUBTASKS)
    empty = pm.record_plan_created(cconn, other["id"], "p", "t", [])
    assert empty["is_complete"] is True
    assert pm.get_plan(cconn, plan["id"]) == plan
    assert pm.get_plan(cconn, plan["id"], task_execution_id=run["id"]) == plan
    assert pm.get_plan(cconn, plan["id"], task_execution_id=other["id"]) is None
    assert pm.list_subtasks(cconn, plan["id"]) == plan["subtasks"]
    assert pm.list_subtasks(cconn, "c-missing") == []
    open_ids = [p["id"] for p in pm.list_open_plans(cconn, limit=1000)]
    assert plan["id"] in open_ids and empty["id"] not in open_ids
    counts = {r["id"]: r["actual_subtasks"] for r in pm.list_plans_with_subtask_counts(cconn)}
    assert counts[plan["id"]] == 3 and counts[empty["id"]] == 0
    with pytest.raises(NotFound, match="to page after"):
        pm.list_plans_with_subtask_counts(cconn, after="c-missing")


def test_subtask_lifecycle_and_metrics_on_citus(cconn: Connection) -> None:
    before = pm.count_subtasks_by_status(cconn)
    run = pm.start_task_execution(cconn, "task_c3", "multi-agent")
    plan = pm.record_plan_created(cconn, run["id"], "p", "t", SUBTASKS)
    pid = plan["id"]
    started = pm.start_subtask(cconn, pid, "s1")
    cconn.execute(  # 2 s earlier, computed here (see test_planning_metrics._shift_started)
        "update poc_subtask_executions set started_at = %s"
        " where task_execution_id = %s and plan_id = %s and subtask_id = 's1'",
        (started["started_at"] - timedelta(seconds=2), run["id"], pid),
    )
    done = pm.complete_subtask(cconn, pid, "s1", result="notes")
    assert done["duration_seconds"] == pytest.approx(
        (done["completed_at"] - done["started_at"]).total_seconds()
    )
    assert done["duration_seconds"] >= 2.0
    with pytest.raises(InvalidTransition, match="its status is 'completed'"):
        pm.complete_subtask(cconn, pid, "s1")
    with pytest.raises(NotFound, match="no subtask 's9'"):
        pm.start_subtask(cconn, pid, "s9")
    with pytest.raises(NotFound, match="no plan 'c-missing'"):
        pm.skip_subtask(cconn, "c-missing", "s1")
    pm.start_subtask(cconn, pid, "s2", task_execution_id=run["id"])
    pm.fail_subtask(cconn, pid, "s2", error="timeout", task_execution_id=run["id"])
    assert pm.get_plan(cconn, pid)["is_complete"] is False  # type: ignore[index]
    skipped = pm.skip_subtask(cconn, pid, "s3", reason="s2 failed")
    closed = pm.get_plan(cconn, pid)
    assert closed is not None and closed["is_complete"] is True
    assert closed["completed_at"] == skipped["completed_at"]
    m = pm.get_plan_metrics(cconn, pid, task_execution_id=run["id"])
    assert m == pm.get_plan_metrics(cconn, pid)
    assert m["by_status"] == {"pending": 0, "running": 0, "completed": 1, "failed": 1, "skipped": 1}
    assert m["completion_ratio"] == pytest.approx(1 / 3)
    assert [a["agent"] for a in m["per_agent"]] == ["researcher", "writer"]
    after = pm.count_subtasks_by_status(cconn)
    assert {k: after[k] - before[k] for k in after} == {
        "pending": 0,
        "running": 0,
        "completed": 1,
        "failed": 1,
        "skipped": 1,
    }


def test_plan_lock_serialises_the_last_endings_on_citus(citus_dsn: str) -> None:
    """lock_plan (for no key update, routed by the run) makes the second ending wait, so
    the plan is completed by whichever ends last. Committed rows: deleted at the end."""
    run_id = f"c-lock-{uuid.uuid4().hex[:16]}"
    with connect(citus_dsn) as a, connect(citus_dsn) as b:
        try:
            pm.start_task_execution(a, "task_c4", "multi-agent", execution_id=run_id)
            subtasks = [SUBTASKS[0], {**SUBTASKS[1], "dependencies": []}]
            pid = pm.record_plan_created(a, run_id, "p", "t", subtasks)["id"]
            pm.start_subtask(a, pid, "s1")
            pm.start_subtask(a, pid, "s2")
            errors: list[BaseException] = []

            def other() -> None:
                try:
                    pm.complete_subtask(b, pid, "s2")
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            with a.transaction():
                pm.complete_subtask(a, pid, "s1")
                thread = threading.Thread(target=other)
                thread.start()
                time.sleep(0.5)
                assert thread.is_alive(), "the second ending must wait for the plan lock"
            thread.join(10)
            assert not errors
            final = pm.get_plan(a, pid)
            assert final is not None and final["is_complete"] is True
        finally:
            pm.delete_task_execution(a, run_id)
