"""Background tasks (seed 002): the work queue, its lifecycle and migration 0005."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from catalog import snapshot, tables_in, version_below
from fix_db import rolled_back
from plans import explain, plan_nodes

from pydal_lite import InvalidInput, InvalidTransition, NotFound, migrate, sql
from pydal_lite import background_tasks as bt
from pydal_lite.connection import AsyncConnection, Connection, aconnect, connect

TABLES = ("background_tasks",)


def _age(conn: Connection, task_id: Any, column: str, seconds: float) -> None:
    assert column in ("heartbeat_at", "completed_at", "created_at")
    conn.execute(
        f"update background_tasks set {column} = {column} - make_interval(secs => %s)"  # noqa: S608
        " where task_id = %s",
        (seconds, task_id),
    )


def _running(conn: Connection, worker: str = "w1", **enqueue: Any) -> dict[str, Any]:
    bt.enqueue_task(conn, "sess-1", {"file": "a.ics"}, **enqueue)
    task = bt.claim_next_task(conn, worker)
    assert task is not None
    return task


# --- enqueue and claim -------------------------------------------------------------


def test_enqueue_creates_a_pending_task(conn: Connection) -> None:
    task = bt.enqueue_task(conn, "sess-1", {"file": "a.ics"}, use_llm=True)
    assert isinstance(task["task_id"], uuid.UUID)
    assert task["status"] == "pending" and task["progress"] == 0
    assert task["task_type"] == "ics_processing" and task["input_data"] == {"file": "a.ics"}
    assert task["use_cache"] is True and task["use_llm"] is True
    assert task["claimed_by"] is None and task["attempts"] == 0
    assert bt.get_task(conn, task["task_id"]) == task
    assert bt.get_task(conn, str(task["task_id"])) == task
    assert bt.get_task(conn, uuid.uuid4()) is None
    assert bt.enqueue_task(conn, "sess-1")["input_data"] == {}


def test_claim_takes_the_oldest_pending_task_once(conn: Connection) -> None:
    first = bt.enqueue_task(conn, "s", {"n": 1})
    second = bt.enqueue_task(conn, "s", {"n": 2})
    claimed = bt.claim_next_task(conn, "w1")
    assert claimed is not None and claimed["task_id"] == first["task_id"]
    assert claimed["status"] == "running" and claimed["claimed_by"] == "w1"
    assert claimed["started_at"] is not None and claimed["heartbeat_at"] is not None
    assert claimed["attempts"] == 1
    again = bt.claim_next_task(conn, "w2")
    assert again is not None and again["task_id"] == second["task_id"]
    assert bt.claim_next_task(conn, "w3") is None


def test_claim_can_be_limited_to_task_types(conn: Connection) -> None:
    bt.enqueue_task(conn, "s", task_type="ics_processing")
    report = bt.enqueue_task(conn, "s", task_type="report")
    claimed = bt.claim_next_task(conn, "w1", task_types=["report"])
    assert claimed is not None and claimed["task_id"] == report["task_id"]
    assert bt.claim_next_task(conn, "w1", task_types=["report"]) is None
    with pytest.raises(InvalidInput, match="task_types must not be empty"):
        bt.claim_next_task(conn, "w1", task_types=[])
    with pytest.raises(InvalidInput, match="task_types must be a list of task types, got 'report'"):
        bt.claim_next_task(conn, "w1", task_types="report")


# --- worker side -------------------------------------------------------------------


@pytest.mark.own_db  # heartbeat_at must move: now() must move
def test_progress_stage_and_stage_results(conn: Connection) -> None:
    task = _running(conn)
    tid = task["task_id"]
    _age(conn, tid, "heartbeat_at", 60)
    row = bt.update_progress(
        conn, tid, claim_id=task["claim_id"], progress=30, stage="import", stage_result=[1]
    )
    assert row["progress"] == 30 and row["current_stage"] == "import"
    assert row["import_result"] == [1] and row["enrich_result"] is None
    assert row["heartbeat_at"] > task["heartbeat_at"]
    row = bt.update_progress(
        conn, tid, claim_id=task["claim_id"], stage="enrich", stage_result={"e": 1}
    )
    assert row["progress"] == 30 and row["enrich_result"] == {"e": 1}
    assert row["import_result"] == [1]
    row = bt.update_progress(conn, tid, claim_id=task["claim_id"], progress=60)
    assert row["current_stage"] == "enrich"


def test_complete_with_results(conn: Connection) -> None:
    task = _running(conn)
    bt.update_progress(
        conn, task["task_id"], claim_id=task["claim_id"], stage="import", stage_result={"i": 1}
    )
    done = bt.complete_task(
        conn,
        task["task_id"],
        claim_id=task["claim_id"],
        results={"enrich": {"e": 2}, "analyze": {"a": 3}},
    )
    assert done["status"] == "completed" and done["progress"] == 100
    assert (done["import_result"], done["enrich_result"], done["analyze_result"]) == (
        {"i": 1},
        {"e": 2},
        {"a": 3},
    )
    assert done["claimed_by"] is None and done["completed_at"] is not None
    with pytest.raises(InvalidInput, match="its status is 'completed', not 'running'"):
        bt.complete_task(conn, task["task_id"], claim_id=task["claim_id"])


def test_fail_with_a_message(conn: Connection) -> None:
    task = _running(conn)
    failed = bt.fail_task(conn, task["task_id"], claim_id=task["claim_id"], error="bad ics: line 3")
    assert failed["status"] == "failed" and failed["error_message"] == "bad ics: line 3"
    assert failed["completed_at"] is not None and failed["claimed_by"] is None
    with pytest.raises(InvalidInput, match="error must not be empty"):
        bt.fail_task(conn, task["task_id"], claim_id=task["claim_id"], error="")


def test_only_the_current_claim_may_update(conn: Connection) -> None:
    task = _running(conn, worker="w1")
    assert isinstance(task["claim_id"], uuid.UUID)
    other = uuid.uuid4()
    with pytest.raises(InvalidInput, match=f"claim '{other}' is no longer current"):
        bt.update_progress(conn, task["task_id"], claim_id=other, progress=10)
    with pytest.raises(InvalidInput, match="claimed again \\(attempt 1\\) by worker 'w1'"):
        bt.complete_task(conn, task["task_id"], claim_id=other)
    with pytest.raises(InvalidInput, match="claim_id must be a UUID, got 'w1'"):
        bt.fail_task(conn, task["task_id"], claim_id="w1", error="x")
    with pytest.raises(NotFound, match="no background task"):
        bt.update_progress(conn, uuid.uuid4(), claim_id=task["claim_id"], progress=10)
    row = bt.get_task(conn, task["task_id"])
    assert row is not None and row["progress"] == 0 and row["status"] == "running"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"progress": 101}, "progress must be between 0 and 100, got 101"),
        ({"progress": -1}, "got -1"),
        ({"progress": 50.5}, "got 50.5"),
        ({"stage": "export"}, "unknown stage 'export'"),
        ({"stage_result": {"x": 1}}, "stage_result needs the stage"),
        ({"stage": "import", "stage_result": {"x": {1}}}, "stage_result cannot be encoded"),
        ({"claim_id": ""}, "claim_id must be a UUID, got ''"),
        ({"claim_id": None}, "claim_id must be a UUID, got None"),
    ],
)
def test_bad_progress_updates_change_nothing(
    conn: Connection, kwargs: dict[str, Any], message: str
) -> None:
    task = _running(conn)
    claim_id = kwargs.pop("claim_id", task["claim_id"])
    with pytest.raises(InvalidInput, match=message):
        bt.update_progress(conn, task["task_id"], claim_id=claim_id, **kwargs)
    assert bt.get_task(conn, task["task_id"]) == task


# --- cancel, list ------------------------------------------------------------------


def test_wrong_state_moves_raise_invalid_transition(conn: Connection) -> None:
    task = _running(conn, worker="w1")
    with pytest.raises(InvalidTransition, match="is no longer current"):
        bt.update_progress(conn, task["task_id"], claim_id=uuid.uuid4(), progress=10)
    bt.complete_task(conn, task["task_id"], claim_id=task["claim_id"])
    with pytest.raises(InvalidTransition, match="its status is 'completed', not 'running'"):
        bt.fail_task(conn, task["task_id"], claim_id=task["claim_id"], error="late")
    with pytest.raises(InvalidTransition, match="already finished with status 'completed'"):
        bt.cancel_task(conn, task["task_id"])
    with pytest.raises(InvalidInput) as bad_value:
        bt.cancel_task(conn, task["task_id"], reason="a\x00")
    assert not isinstance(bad_value.value, InvalidTransition)


def test_cancel_from_pending_and_running_only(conn: Connection) -> None:
    pending = bt.enqueue_task(conn, "s")
    cancelled = bt.cancel_task(conn, pending["task_id"], reason="user closed the tab")
    assert cancelled["status"] == "cancelled" and cancelled["completed_at"] is not None
    assert cancelled["error_message"] == "user closed the tab"
    with pytest.raises(InvalidInput, match="already finished with status 'cancelled'"):
        bt.cancel_task(conn, pending["task_id"])

    running = _running(conn)
    assert bt.cancel_task(conn, running["task_id"])["claimed_by"] is None
    with pytest.raises(InvalidInput, match="its status is 'cancelled', not 'running'"):
        bt.update_progress(conn, running["task_id"], claim_id=running["claim_id"], progress=50)

    done = _running(conn)
    bt.complete_task(conn, done["task_id"], claim_id=done["claim_id"])
    with pytest.raises(InvalidInput, match="already finished with status 'completed'"):
        bt.cancel_task(conn, done["task_id"])
    with pytest.raises(NotFound, match="no background task"):
        bt.cancel_task(conn, uuid.uuid4())
    with pytest.raises(InvalidInput, match="task_id must be a UUID, got 'nope'"):
        bt.cancel_task(conn, "nope")


def test_list_tasks_by_session(conn: Connection) -> None:
    a = bt.enqueue_task(conn, "alice", {"n": 1})
    b = bt.enqueue_task(conn, "alice", {"n": 2})
    bt.enqueue_task(conn, "bob", {"n": 3})
    bt.cancel_task(conn, a["task_id"])
    assert [t["task_id"] for t in bt.list_tasks_by_session(conn, "alice")] == [
        b["task_id"],
        a["task_id"],
    ]
    only = bt.list_tasks_by_session(conn, "alice", status="cancelled")
    assert [t["task_id"] for t in only] == [a["task_id"]]
    assert len(bt.list_tasks_by_session(conn, "alice", limit=1)) == 1
    assert bt.list_tasks_by_session(conn, "carol") == []
    with pytest.raises(InvalidInput, match="unknown status 'done'"):
        bt.list_tasks_by_session(conn, "alice", status="done")
    with pytest.raises(InvalidInput, match="limit must be an integer >= 1, got 0"):
        bt.list_tasks_by_session(conn, "alice", limit=0)
    recent = bt.list_recent_tasks(conn, limit=2)
    assert [r["user_session"] for r in recent] == ["bob", "alice"]
    assert bt.count_tasks_by_status(conn) == {
        "pending": 2,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("",), {}, "user_session must not be empty"),
        (("s" * 256,), {}, "user_session is 256 characters long, at most 255"),
        (("s", {"x": {1}}), {}, "input_data cannot be encoded"),
        (("s", {"x": "a\x00"}), {}, "NUL character"),
        (("s",), {"task_type": "ICS"}, "task_type must be lowercase"),
        (("s",), {"task_type": "t" * 51}, "task_type is 51 characters long"),
        (("s",), {"use_cache": "yes"}, "use_cache must be a bool"),
    ],
)
def test_bad_enqueue_input_writes_nothing(
    conn: Connection, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        bt.enqueue_task(conn, *args, **kwargs)
    assert bt.count_tasks_by_status(conn)["pending"] == 0


def test_database_enforces_progress_status_and_stage(conn: Connection) -> None:
    task = _running(conn)
    for assignment, constraint in (
        ("progress = 101", "background_tasks_progress_check"),
        ("status = 'done', claimed_by = null, claim_id = null", "background_tasks_status_check"),
        ("current_stage = 'export'", "background_tasks_current_stage_check"),
        (
            "status = 'completed', claimed_by = null, claim_id = null",
            "background_tasks_finished_check",
        ),
        ("status = 'pending', claim_id = null", "background_tasks_claimed_check"),
        ("claim_id = null", "background_tasks_claim_id_check"),
    ):
        with pytest.raises(psycopg.errors.CheckViolation, match=constraint), conn.transaction():
            conn.execute(
                f"update background_tasks set {assignment} where task_id = %s",  # noqa: S608
                (task["task_id"],),
            )


# --- reclaim and purge -------------------------------------------------------------


def test_reclaim_returns_silent_workers_tasks_to_the_queue(conn: Connection) -> None:
    stale = _running(conn, worker="dead")
    bt.update_progress(
        conn, stale["task_id"], claim_id=stale["claim_id"], progress=40, stage="import"
    )
    fresh = _running(conn, worker="alive")
    _age(conn, stale["task_id"], "heartbeat_at", 600)
    reclaimed = bt.reclaim_stale_tasks(conn, stale_after=300.0)
    assert reclaimed == [
        {"task_id": stale["task_id"], "status": "pending", "claimed_by": "dead", "attempts": 1}
    ]
    row = bt.get_task(conn, stale["task_id"])
    assert row is not None and row["status"] == "pending" and row["claimed_by"] is None
    assert row["progress"] == 0 and row["current_stage"] is None and row["started_at"] is None
    still = bt.get_task(conn, fresh["task_id"])
    assert still is not None and still["status"] == "running"
    # the dead worker wakes up: its writes are refused
    with pytest.raises(InvalidInput, match="its status is 'pending'"):
        bt.complete_task(conn, stale["task_id"], claim_id=stale["claim_id"])
    again = bt.claim_next_task(conn, "w2")
    assert again is not None and again["task_id"] == stale["task_id"] and again["attempts"] == 2


def test_reclaim_gives_up_after_max_attempts(conn: Connection) -> None:
    task = _running(conn, worker="w1")
    for attempt in (1, 2):
        _age(conn, task["task_id"], "heartbeat_at", 600)
        (r,) = bt.reclaim_stale_tasks(conn, stale_after=60.0, max_attempts=3)
        assert r["status"] == "pending" and r["attempts"] == attempt
        claimed = bt.claim_next_task(conn, f"w{attempt + 1}")
        assert claimed is not None
    _age(conn, task["task_id"], "heartbeat_at", 600)
    (r,) = bt.reclaim_stale_tasks(conn, stale_after=60.0, max_attempts=3)
    assert r["status"] == "failed" and r["attempts"] == 3
    row = bt.get_task(conn, task["task_id"])
    assert row is not None and row["completed_at"] is not None
    assert "worker w3 stopped responding; gave up after 3 attempts" == row["error_message"]
    assert bt.reclaim_stale_tasks(conn, stale_after=60.0) == []
    with pytest.raises(InvalidInput, match=r"stale_after must be >= 1.0 and <= .*, got -1"):
        bt.reclaim_stale_tasks(conn, stale_after=-1)


@pytest.mark.own_db  # "older than 0 seconds" needs now() to move
def test_purge_deletes_only_old_finished_tasks(conn: Connection) -> None:
    old_done = _running(conn)
    bt.complete_task(conn, old_done["task_id"], claim_id=old_done["claim_id"])
    old_cancelled = bt.enqueue_task(conn, "s")
    bt.cancel_task(conn, old_cancelled["task_id"])
    recent = _running(conn)
    bt.fail_task(conn, recent["task_id"], claim_id=recent["claim_id"], error="x")
    pending = bt.enqueue_task(conn, "s")
    for t in (old_done, old_cancelled):
        _age(conn, t["task_id"], "completed_at", 8 * 24 * 3600)
    _age(conn, pending["task_id"], "created_at", 30 * 24 * 3600)
    assert bt.purge_finished_tasks(conn) == 2
    assert bt.purge_finished_tasks(conn) == 0
    assert bt.get_task(conn, old_done["task_id"]) is None
    assert bt.get_task(conn, recent["task_id"]) is not None
    assert bt.get_task(conn, pending["task_id"]) is not None
    assert bt.purge_finished_tasks(conn, older_than=0) == 1


def test_a_stalled_workers_late_writes_are_refused_after_a_reclaim_and_reclaim(
    conn: Connection,
) -> None:
    # worker ids are reused (a host name): only the claim token tells the claims apart
    first = _running(conn, worker="host-a")
    tid = first["task_id"]
    _age(conn, tid, "heartbeat_at", 600)
    assert [r["task_id"] for r in bt.reclaim_stale_tasks(conn, stale_after=60.0)] == [tid]
    second = bt.claim_next_task(conn, "host-a")
    assert second is not None and second["task_id"] == tid
    assert second["claim_id"] != first["claim_id"] and second["attempts"] == 2
    for late in (
        lambda: bt.update_progress(conn, tid, claim_id=first["claim_id"], progress=90),
        lambda: bt.complete_task(conn, tid, claim_id=first["claim_id"], results={"import": 1}),
        lambda: bt.fail_task(conn, tid, claim_id=first["claim_id"], error="late"),
    ):
        with pytest.raises(InvalidTransition, match=r"is no longer current.*attempt 2"):
            late()
    row = bt.get_task(conn, tid)
    assert row is not None and row["status"] == "running" and row["progress"] == 0
    assert row["import_result"] is None and row["claim_id"] == second["claim_id"]
    done = bt.complete_task(conn, tid, claim_id=second["claim_id"], results={"import": 2})
    assert done["status"] == "completed" and done["import_result"] == 2
    assert done["claim_id"] is None and done["claimed_by"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stale_after": 0}, "stale_after must be >= 1.0 and <= 3162240000.0, got 0"),
        ({"stale_after": 0.5}, "stale_after must be >= 1.0"),
        ({"stale_after": 1e300}, r"stale_after must be >= 1.0 and <= 3162240000.0, got 1e\+300"),
        ({"max_attempts": 0}, "max_attempts must be an integer >= 1, got 0"),
    ],
)
def test_reclaim_refuses_out_of_range_intervals(
    conn: Connection, kwargs: dict[str, Any], message: str
) -> None:
    task = _running(conn)
    with pytest.raises(InvalidInput, match=message):
        bt.reclaim_stale_tasks(conn, **kwargs)
    assert bt.get_task(conn, task["task_id"]) == task  # a live task stays with its worker


def test_purge_refuses_out_of_range_intervals(conn: Connection) -> None:
    with pytest.raises(
        InvalidInput, match=r"older_than must be >= 0 and <= 3162240000.0, got 1e\+300"
    ):
        bt.purge_finished_tasks(conn, older_than=1e300)
    with pytest.raises(InvalidInput, match="older_than must be >= 0"):
        bt.purge_finished_tasks(conn, older_than=-1)
    assert bt.purge_finished_tasks(conn, older_than=100 * 366 * 24 * 3600.0) == 0


def test_long_bad_values_are_cut_in_messages(conn: Connection) -> None:
    with pytest.raises(InvalidInput) as info:
        bt.enqueue_task(conn, "s", use_cache="y" * 10_000)  # type: ignore[arg-type]
    assert str(info.value).startswith("use_cache must be a bool, got 'yyy")
    assert str(info.value).endswith("...") and len(str(info.value)) < 300
    with pytest.raises(InvalidInput) as info:
        bt.claim_next_task(conn, "w", task_types="z" * 10_000)
    assert str(info.value).endswith("...") and len(str(info.value)) < 300


# --- indexes (EXPLAIN) -------------------------------------------------------------


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's reads of background_tasks, except the update's own lookup by id."""
    return [
        n
        for n in plan_nodes(plan)
        if n.get("Relation Name") == "background_tasks"
        and n["Node Type"].endswith("Scan")
        and n.get("Index Name") != "background_tasks_pkey"
    ]


def _blocks(plan: dict[str, Any]) -> int:
    return int(plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0))


@pytest.fixture(scope="module")
def big_queue_db(module_dsn: str) -> str:
    """60,000 tasks: 40,000 finished in the last day, 20,000 pending ics_processing,
    then 20 pending reports (the newest), analyzed; built once for the module."""
    with connect(module_dsn) as conn:
        _fill_big_queue(conn)
    return module_dsn


@pytest.fixture
def big_queue(big_queue_db: str) -> Iterator[Connection]:
    """A connection to the module's big queue, rolled back after the test.

    A new backend's first write to each index reads the catalog, and EXPLAIN counts those
    buffers too; a rolled-back insert warms it as the backend that loaded the data was.
    """
    with rolled_back(big_queue_db) as c:
        with c.transaction(force_rollback=True):
            c.execute("insert into background_tasks (user_session) values ('warm-up')")
        yield c


def _fill_big_queue(conn: Connection) -> None:
    conn.execute(
        "insert into background_tasks (user_session, status, created_at, completed_at)"
        " select 's' || g % 100, 'completed', now() - interval '2 days' + g * interval '1 ms',"
        " now() - g * interval '1 second' from generate_series(1, 40000) as g"
    )
    conn.execute(
        "insert into background_tasks (user_session, created_at)"
        " select 's' || g % 100, now() - interval '1 day' + g * interval '1 ms'"
        " from generate_series(1, 20000) as g"
    )
    conn.execute(
        "insert into background_tasks (user_session, task_type, created_at)"
        " select 's', 'report', now() - interval '1 hour' + g * interval '1 ms'"
        " from generate_series(1, 20) as g"
    )
    conn.execute("analyze background_tasks")


def test_purge_reads_only_old_finished_tasks_by_index(big_queue: Connection) -> None:
    plan = explain(
        big_queue, sql.background_tasks.purge_finished_tasks(older_than_seconds=7 * 86400.0)
    )
    nodes = list(plan_nodes(plan))
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]
    # an index scan, or a bitmap scan of the index (its heap node has no index name)
    assert "background_tasks_completed_at_idx" in {n.get("Index Name") for n in nodes}
    (scan,) = _scans(plan)
    assert scan["Actual Rows"] == 0 and _blocks(plan) < 20
    # an old one is found the same way, and only it is deleted
    big_queue.execute(
        "update background_tasks set completed_at = now() - interval '30 days' where id = 1"
    )
    assert bt.purge_finished_tasks(big_queue) == 1


def test_claim_of_a_type_skips_pending_tasks_of_other_types(big_queue: Connection) -> None:
    fn = sql.background_tasks.claim_next_task_of_types
    for types in (["report"], ["other", "report"]):
        plan = explain(big_queue, fn(worker="w", task_types=types))
        (scan,) = _scans(plan)
        assert scan["Index Name"] == "background_tasks_task_type_created_at_id_idx"
        assert scan["Actual Rows"] <= 20
        assert _blocks(plan) < 60, types
    claimed = bt.claim_next_task(big_queue, "w", task_types=["report"])
    assert claimed is not None and claimed["task_type"] == "report"


def test_claim_of_any_type_reads_the_oldest_pending_task_first(big_queue: Connection) -> None:
    plan = explain(big_queue, sql.background_tasks.claim_next_task(worker="w"))
    assert not [n for n in plan_nodes(plan) if n["Node Type"] == "Sort"]
    (scan,) = _scans(plan)
    assert scan["Index Name"] == "background_tasks_created_at_id_pending_idx"
    assert scan["Actual Rows"] == 1 and _blocks(plan) < 30
    assert scan.get("Rows Removed by Filter", 0) == 0
    claimed = bt.claim_next_task(big_queue, "w")
    assert claimed is not None and claimed["task_type"] == "ics_processing"


# --- concurrency -------------------------------------------------------------------


def test_a_worker_claims_and_completes_in_two_statements_fenced_as_before(dsn: str) -> None:
    # On an idle connection each worker-side call is its one statement, without
    # BEGIN/COMMIT; each commits on its own and claim_id still fences.
    with connect(dsn) as c, connect(dsn) as other:
        bt.enqueue_task(c, "s", {"n": 1})
        bt.count_tasks_by_status(c)  # the connection's isolation level is known
        sent: list[str] = []
        with tempfile.TemporaryFile("w+") as f:
            c.pgconn.trace(f.fileno())
            task = bt.claim_next_task(c, "w1")
            assert task is not None
            assert bt.get_task(other, task["task_id"])["claim_id"] == task["claim_id"]  # type: ignore[index]
            done = bt.complete_task(c, task["task_id"], claim_id=task["claim_id"])
            c.pgconn.untrace()
            f.seek(0)
            sent = [line for line in f.read().splitlines() if "\tF\t" in line]
        statements = [line for line in sent if "\tQuery\t" in line or "\tBind\t" in line]
        assert len(statements) == 2, sent
        assert not any('"BEGIN' in line or '"COMMIT' in line for line in sent)
        assert done["status"] == "completed" and bt.get_task(other, task["task_id"]) == done
        with pytest.raises(InvalidTransition, match="status is 'completed'"):
            bt.complete_task(c, task["task_id"], claim_id=task["claim_id"])
        again = _running(c, worker="w1")
        stale = task["claim_id"]
        with pytest.raises(InvalidTransition, match=f"claim '{stale}' is no longer current"):
            bt.fail_task(c, again["task_id"], claim_id=stale, error="late")
        assert bt.get_task(other, again["task_id"])["status"] == "running"  # type: ignore[index]


def test_many_threads_claim_every_task_exactly_once(dsn: str) -> None:
    n_tasks, n_workers = 300, 8
    with connect(dsn) as c:
        enqueued = {bt.enqueue_task(c, f"s{i % 5}", {"n": i})["task_id"] for i in range(n_tasks)}
    claimed: dict[str, list[Any]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(n_workers)

    def work(name: str) -> None:
        mine: list[Any] = []
        try:
            with connect(dsn) as c:
                start.wait()
                while (task := bt.claim_next_task(c, name)) is not None:
                    mine.append(task["task_id"])
                    bt.update_progress(c, task["task_id"], claim_id=task["claim_id"], progress=50)
                    bt.complete_task(c, task["task_id"], claim_id=task["claim_id"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        claimed[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [tid for ids in claimed.values() for tid in ids]
    assert len(every) == len(set(every)), "a task was claimed twice"
    assert set(every) == enqueued, "a task was lost"
    assert sum(1 for ids in claimed.values() if ids) > 1, "work was spread over workers"
    with connect(dsn) as c:
        assert bt.count_tasks_by_status(c)["completed"] == n_tasks
        rows = c.execute("select count(*) as n from background_tasks where attempts <> 1")
        assert rows.fetchone() == {"n": 0}


async def test_async_workers_claim_every_task_exactly_once(dsn: str) -> None:
    n_tasks, n_workers = 120, 6
    conns: list[AsyncConnection] = [await aconnect(dsn) for _ in range(n_workers)]
    try:
        enqueued = {
            (await bt.enqueue_task(conns[0], "s", {"n": i}))["task_id"] for i in range(n_tasks)
        }

        async def work(name: str, c: AsyncConnection) -> list[Any]:
            mine = []
            while (task := await bt.claim_next_task(c, name)) is not None:
                mine.append(task["task_id"])
                await asyncio.sleep(0)
                await bt.complete_task(
                    c, task["task_id"], claim_id=task["claim_id"], results={"import": 1}
                )
            return mine

        results = await asyncio.gather(
            *(work(f"a{i}", c) for i, c in enumerate(conns)), return_exceptions=False
        )
        every = [tid for ids in results for tid in ids]
        assert len(every) == len(set(every))
        assert set(every) == enqueued
        counts = Counter(len(ids) > 0 for ids in results)
        assert counts[True] > 1
        assert (await bt.count_tasks_by_status(conns[0]))["completed"] == n_tasks
    finally:
        for c in conns:
            await c.close()


# --- migration ---------------------------------------------------------------------


def test_migration_0005_down_then_up(dsn: str) -> None:
    before = snapshot(dsn, only_tables=("background_tasks",))
    assert {r[2] for r in before if r[0] == "index"} == {
        "background_tasks_pkey",
        "background_tasks_task_id_key",
        "background_tasks_user_session_created_at_id_idx",
        "background_tasks_status_created_at_id_idx",
        "background_tasks_created_at_id_idx",
        "background_tasks_task_type_created_at_id_idx",
        "background_tasks_completed_at_idx",
        "background_tasks_created_at_id_pending_idx",
    }
    migrate.down(dsn, target=version_below(dsn, "0005"))
    assert "background_tasks" not in tables_in(dsn)
    assert "pipeline_cache" in tables_in(dsn)  # 0004 stays
    migrate.up(dsn)
    assert "background_tasks" in tables_in(dsn)
    assert snapshot(dsn, only_tables=("background_tasks",)) == before
    with connect(dsn) as c:
        assert bt.enqueue_task(c, "s")["status"] == "pending"
