"""Event planning on a Citus cluster (issue 11): shard routing of every call, and scenarios.

event_plans, vendors and task_management_runs are reference tables (one task on one
node); extended_tasks and task_conflicts are distributed by task_management_run_id, so
every call naming a run must go to that run's shard. No event planning call fans out.
The bulk upserts are INSERT ... SELECT from jsonb_to_recordset, which Citus runs through
the coordinator (its EXPLAIN shows only the coordinator's count), so they are checked
with Citus' execution counters instead of EXPLAIN.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fix_citus import task_count
from psycopg.types.json import Jsonb

from pydal_lite import InvalidInput, NotFound, sql
from pydal_lite import event_planning as ep
from pydal_lite.connection import Connection
from pydal_lite.runtime import Step

pytestmark = pytest.mark.citus

E = sql.event_planning


def _task(task_id: str, **data: Any) -> dict[str, Any]:
    return {"task_id": task_id, "task_data": data}


def _conflict(conflict_id: str, **data: Any) -> dict[str, Any]:
    return {"conflict_id": conflict_id, "conflict_data": data}


@pytest.fixture
def run(cconn: Connection) -> dict[str, Any]:
    """A run with two tasks and two conflicts, on its event plan."""
    plan = ep.create_event_plan(cconn, "Citus gala")
    row = ep.start_run(cconn, plan["id"])
    ep.upsert_tasks(cconn, row["id"], [_task("t-1", has_errors=True), _task("t-2")])
    ep.upsert_conflicts(cconn, row["id"], [_conflict("c-1"), _conflict("c-2")])
    return dict(row)


# -- routing ---------------------------------------------------------------------------

KEYED: dict[str, Callable[[dict[str, Any]], Step[Any]]] = {
    # reference tables: read on one node, written through one task
    "insert_event_plan": lambda r: E.insert_event_plan(id=None, title="t", event_date=None),
    "get_event_plan_for_retry": lambda r: E.get_event_plan_for_retry(
        id=r["event_id"], title="t", event_date=None
    ),
    "get_event_plan": lambda r: E.get_event_plan(event_id=r["event_id"]),
    "insert_vendor": lambda r: E.insert_vendor(
        name="v", service_type="venue", location_city="Oslo", rating=None, price_from=None
    ),
    "list_vendors": lambda r: E.list_vendors(service_type="venue", city="Oslo", limit=5),
    "list_vendors_by_name": lambda r: E.list_vendors_by_name(name="v"),
    "insert_run": lambda r: E.insert_run(
        event_id=r["event_id"], processing_summary=Jsonb({}), request_key="k-1"
    ),
    "get_run_for_retry": lambda r: E.get_run_for_retry(
        request_key="k-1", event_id=r["event_id"], processing_summary=Jsonb({})
    ),
    "get_run": lambda r: E.get_run(run_id=r["id"]),
    "list_runs_for_event": lambda r: E.list_runs_for_event(event_id=r["event_id"]),
    "update_run_status": lambda r: E.update_run_status(
        run_id=r["id"],
        status="processing",
        from_statuses=["initialized"],
        error_log=None,
        processing_summary=None,
    ),
    # distributed by task_management_run_id: the run's shard only
    "find_tasks": lambda r: E.find_tasks(run_id=r["id"], filter=Jsonb({}), limit=10),
    "list_tasks_with_errors": lambda r: E.list_tasks_with_errors(
        run_id=r["id"], after_task_id="", limit=10
    ),
    "list_tasks_for_review": lambda r: E.list_tasks_for_review(
        run_id=r["id"], after_task_id="", limit=10
    ),
    "find_conflicts": lambda r: E.find_conflicts(run_id=r["id"], filter=Jsonb({}), limit=10),
    "list_unresolved_conflicts": lambda r: E.list_unresolved_conflicts(
        run_id=r["id"], after_conflict_id="", limit=10
    ),
    "resolve_conflict": lambda r: E.resolve_conflict(
        run_id=r["id"], conflict_id="c-1", resolution_status="resolved"
    ),
    "get_conflict": lambda r: E.get_conflict(run_id=r["id"], conflict_id="c-1"),
    # the run (reference) and its counts (its shard) in one router query
    "get_run_summary": lambda r: E.get_run_summary(run_id=r["id"]),
}


@pytest.mark.parametrize("query", sorted(KEYED))
def test_keyed_queries_plan_one_task(cconn: Connection, run: dict[str, Any], query: str) -> None:
    assert task_count(cconn, KEYED[query](run)) == 1


def _executions(conn: Connection) -> tuple[int, int]:
    row = conn.execute(
        "select query_execution_single_shard as one, query_execution_multi_shard as many"
        " from citus_stat_counters where name = current_database()"
    ).fetchone()
    assert row is not None
    return row["one"], row["many"]


def shard_executions(conn: Connection, run: Callable[[], object]) -> tuple[int, int]:
    """(single-shard, multi-shard) executions Citus counts while ``run()`` runs."""
    conn.execute("set local citus.enable_stat_counters = on")
    one, many = _executions(conn)
    run()
    one_after, many_after = _executions(conn)
    return one_after - one, many_after - many


def test_the_counters_see_a_fan_out(cconn: Connection, run: dict[str, Any]) -> None:
    """The check below can fail: a count over every run is a multi-shard execution."""
    _, many = shard_executions(
        cconn, lambda: cconn.execute("select count(*) from extended_tasks").fetchone()
    )
    assert many == 1


@pytest.mark.parametrize("what", ["tasks", "conflicts"])
def test_bulk_upserts_write_to_the_runs_shard_only(
    cconn: Connection, run: dict[str, Any], what: str
) -> None:
    rows = [_task(f"t-{i:04}", n=i) for i in range(2500)]
    conflicts = [_conflict(f"c-{i:04}", n=i) for i in range(2500)]

    def upsert() -> None:
        if what == "tasks":
            assert ep.upsert_tasks(cconn, run["id"], rows, batch_size=1000) == 2500
        else:
            assert ep.upsert_conflicts(cconn, run["id"], conflicts, batch_size=1000) == 2500

    one, many = shard_executions(cconn, upsert)
    assert (one > 0, many) == (True, 0)


# -- scenarios -------------------------------------------------------------------------


def test_event_plans_and_vendors(cconn: Connection) -> None:
    key = uuid.uuid4()
    plan = ep.create_event_plan(cconn, "Summit", event_id=key)
    assert plan["id"] == key
    assert ep.create_event_plan(cconn, "Summit", event_id=key) == plan  # a retry
    with pytest.raises(InvalidInput, match="different title"):
        ep.create_event_plan(cconn, "Other", event_id=key)
    assert isinstance(ep.create_event_plan(cconn, "No id")["id"], uuid.UUID)

    city = f"Citus-{uuid.uuid4().hex[:8]}"
    ep.add_vendor(cconn, "B hall", "venue", city, rating=4.0)
    ep.add_vendor(cconn, "A hall", "venue", city.upper(), rating=4.0)
    ep.add_vendor(cconn, "Unrated", "venue", city)
    ep.add_vendor(cconn, "Food", "caterer", city, rating=5.0)
    found = ep.find_vendors(cconn, "venue", city.lower())
    assert [r["name"] for r in found] == ["A hall", "B hall", "Unrated"]


def test_runs_start_retry_and_move(cconn: Connection) -> None:
    plan = ep.create_event_plan(cconn, "Fair")
    key = f"req-{uuid.uuid4()}"
    first = ep.start_run(cconn, plan["id"], processing_summary={"n": 1}, request_key=key)
    assert ep.start_run(cconn, plan["id"], processing_summary={"n": 1}, request_key=key) == first
    with pytest.raises(InvalidInput, match="processing_summary"):
        ep.start_run(cconn, plan["id"], processing_summary={"n": 2}, request_key=key)
    with pytest.raises(NotFound, match="no event plan"):
        ep.start_run(cconn, uuid.uuid4())

    moved = ep.set_run_status(cconn, first["id"], "processing")
    assert moved["status"] == "processing"
    done = ep.set_run_status(cconn, first["id"], "failed", error_log="boom")
    assert (done["status"], done["error_log"]) == ("failed", "boom")
    with pytest.raises(ep.InvalidTransition):
        ep.set_run_status(cconn, first["id"], "processing")
    assert ep.get_run(cconn, first["id"]) == done


def test_tasks_upsert_search_and_pages(cconn: Connection, run: dict[str, Any]) -> None:
    rid = run["id"]
    tasks = [
        _task("t-1", has_errors=True),  # unchanged from the fixture
        _task("t-2", requires_manual_review=True, category="venue"),
        _task("t-3", has_errors=True, category="venue"),
    ]
    # the count is rows written: t-2 changed, t-3 new, t-1 the same document
    assert ep.upsert_tasks(cconn, rid, tasks) == 2
    assert ep.upsert_tasks(cconn, rid, tasks) == 0
    assert [r["task_id"] for r in ep.find_tasks(cconn, rid, {"category": "venue"})] == [
        "t-2",
        "t-3",
    ]
    errors = ep.list_tasks_with_errors(cconn, rid, limit=1)
    assert [r["task_id"] for r in errors] == ["t-1"]
    after = ep.list_tasks_with_errors(cconn, rid, after_task_id="t-1")
    assert [r["task_id"] for r in after] == ["t-3"]
    assert [r["task_id"] for r in ep.list_tasks_for_review(cconn, rid)] == ["t-2"]
    with pytest.raises(NotFound, match="no task management run 987654"):
        ep.upsert_tasks(cconn, 987654, [_task("t-1")])


def test_conflicts_resolve_and_rerun(cconn: Connection, run: dict[str, Any]) -> None:
    rid = run["id"]
    assert ep.upsert_conflicts(cconn, rid, [_conflict("c-3", kind="venue")]) == 1
    assert ep.resolve_conflict(cconn, rid, "c-1")["resolution_status"] == "resolved"
    assert ep.resolve_conflict(cconn, rid, "c-2", status="ignored")["resolved_at"] is not None
    with pytest.raises(ep.InvalidTransition, match="already 'resolved'"):
        ep.resolve_conflict(cconn, rid, "c-1")
    with pytest.raises(NotFound, match="no conflict 'c-9'"):
        ep.resolve_conflict(cconn, rid, "c-9")
    # a re-run of the detector rewrites changed documents only, and reopens nothing
    again = [_conflict("c-1", kind="venue"), _conflict("c-2"), _conflict("c-3", kind="venue")]
    assert ep.upsert_conflicts(cconn, rid, again) == 1
    assert [r["conflict_id"] for r in ep.list_unresolved_conflicts(cconn, rid)] == ["c-3"]
    venue = ep.find_conflicts(cconn, rid, {"kind": "venue"})
    assert [(r["conflict_id"], r["resolution_status"]) for r in venue] == [
        ("c-1", "resolved"),
        ("c-3", "unresolved"),
    ]


def test_run_summary_counts_the_runs_rows_only(cconn: Connection, run: dict[str, Any]) -> None:
    other = ep.start_run(cconn, run["event_id"])
    ep.upsert_tasks(cconn, other["id"], [_task(f"o-{i}", has_errors=True) for i in range(5)])
    ep.upsert_tasks(cconn, run["id"], [_task("t-3", requires_manual_review=True)])
    ep.resolve_conflict(cconn, run["id"], "c-1")
    s = ep.run_summary(cconn, run["id"])
    assert (s["id"], s["status"]) == (run["id"], "initialized")
    assert (s["task_count"], s["error_count"], s["review_count"]) == (3, 1, 1)
    assert s["conflicts_by_status"] == {"unresolved": 1, "resolved": 1, "ignored": 0}
    o = ep.run_summary(cconn, other["id"])
    assert (o["task_count"], o["error_count"], o["conflicts_by_status"]["unresolved"]) == (5, 5, 0)
    with pytest.raises(NotFound):
        ep.run_summary(cconn, 987654)
