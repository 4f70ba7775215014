"""Background tasks (seed 002): the work queue, its lifecycle and migration 0005."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
from catalog import snapshot, tables_in, version_below

from pydal_lite import InvalidInput, InvalidTransition, NotFound, migrate
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
    conn.commit()


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


def test_progress_stage_and_stage_results(conn: Connection) -> None:
    task = _running(conn)
    tid = task["task_id"]
    _age(conn, tid, "heartbeat_at", 60)
    row = bt.update_progress(conn, tid, worker="w1", progress=30, stage="import", stage_result=[1])
    assert row["progress"] == 30 and row["current_stage"] == "import"
    assert row["import_result"] == [1] and row["enrich_result"] is None
    assert row["heartbeat_at"] > task["heartbeat_at"]
    row = bt.update_progress(conn, tid, worker="w1", stage="enrich", stage_result={"e": 1})
    assert row["progress"] == 30 and row["enrich_result"] == {"e": 1}
    assert row["import_result"] == [1]
    row = bt.update_progress(conn, tid, worker="w1", progress=60)
    assert row["current_stage"] == "enrich"


def test_complete_with_results(conn: Connection) -> None:
    task = _running(conn)
    bt.update_progress(conn, task["task_id"], worker="w1", stage="import", stage_result={"i": 1})
    done = bt.complete_task(
        conn, task["task_id"], worker="w1", results={"enrich": {"e": 2}, "analyze": {"a": 3}}
    )
    assert done["status"] == "completed" and done["progress"] == 100
    assert (done["import_result"], done["enrich_result"], done["analyze_result"]) == (
        {"i": 1},
        {"e": 2},
        {"a": 3},
    )
    assert done["claimed_by"] is None and done["completed_at"] is not None
    with pytest.raises(InvalidInput, match="its status is 'completed', not 'running'"):
        bt.complete_task(conn, task["task_id"], worker="w1")


def test_fail_with_a_message(conn: Connection) -> None:
    task = _running(conn)
    failed = bt.fail_task(conn, task["task_id"], worker="w1", error="bad ics: line 3")
    assert failed["status"] == "failed" and failed["error_message"] == "bad ics: line 3"
    assert failed["completed_at"] is not None and failed["claimed_by"] is None
    with pytest.raises(InvalidInput, match="error must not be empty"):
        bt.fail_task(conn, task["task_id"], worker="w1", error="")


def test_only_the_holding_worker_may_update(conn: Connection) -> None:
    task = _running(conn, worker="w1")
    with pytest.raises(InvalidInput, match="held by worker 'w1', not 'w2'"):
        bt.update_progress(conn, task["task_id"], worker="w2", progress=10)
    with pytest.raises(InvalidInput, match="held by worker 'w1', not 'w2'"):
        bt.complete_task(conn, task["task_id"], worker="w2")
    with pytest.raises(NotFound, match="no background task"):
        bt.update_progress(conn, uuid.uuid4(), worker="w1", progress=10)
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
        ({"worker": ""}, "worker must not be empty"),
        ({"worker": "w" * 256}, "worker is 256 characters long"),
    ],
)
def test_bad_progress_updates_change_nothing(
    conn: Connection, kwargs: dict[str, Any], message: str
) -> None:
    task = _running(conn)
    worker = kwargs.pop("worker", "w1")
    with pytest.raises(InvalidInput, match=message):
        bt.update_progress(conn, task["task_id"], worker=worker, **kwargs)
    assert bt.get_task(conn, task["task_id"]) == task


# --- cancel, list ------------------------------------------------------------------


def test_wrong_state_moves_raise_invalid_transition(conn: Connection) -> None:
    task = _running(conn, worker="w1")
    with pytest.raises(InvalidTransition, match="held by worker 'w1', not 'w2'"):
        bt.update_progress(conn, task["task_id"], worker="w2", progress=10)
    bt.complete_task(conn, task["task_id"], worker="w1")
    with pytest.raises(InvalidTransition, match="its status is 'completed', not 'running'"):
        bt.fail_task(conn, task["task_id"], worker="w1", error="late")
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
        bt.update_progress(conn, running["task_id"], worker="w1", progress=50)

    done = _running(conn)
    bt.complete_task(conn, done["task_id"], worker="w1")
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
        ("status = 'done', claimed_by = null", "background_tasks_status_check"),
        ("current_stage = 'export'", "background_tasks_current_stage_check"),
        ("status = 'completed', claimed_by = null", "background_tasks_finished_check"),
        ("status = 'pending'", "background_tasks_claimed_check"),
    ):
        with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
            conn.execute(
                f"update background_tasks set {assignment} where task_id = %s",  # noqa: S608
                (task["task_id"],),
            )
        conn.rollback()


# --- reclaim and purge -------------------------------------------------------------


def test_reclaim_returns_silent_workers_tasks_to_the_queue(conn: Connection) -> None:
    stale = _running(conn, worker="dead")
    bt.update_progress(conn, stale["task_id"], worker="dead", progress=40, stage="import")
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
        bt.complete_task(conn, stale["task_id"], worker="dead")
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
    with pytest.raises(InvalidInput, match="stale_after must be >= 0, got -1"):
        bt.reclaim_stale_tasks(conn, stale_after=-1)


def test_purge_deletes_only_old_finished_tasks(conn: Connection) -> None:
    old_done = _running(conn)
    bt.complete_task(conn, old_done["task_id"], worker="w1")
    old_cancelled = bt.enqueue_task(conn, "s")
    bt.cancel_task(conn, old_cancelled["task_id"])
    recent = _running(conn)
    bt.fail_task(conn, recent["task_id"], worker="w1", error="x")
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


# --- concurrency -------------------------------------------------------------------


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
                    bt.update_progress(c, task["task_id"], worker=name, progress=50)
                    bt.complete_task(c, task["task_id"], worker=name)
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
                await bt.complete_task(c, task["task_id"], worker=name, results={"import": 1})
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
    }
    migrate.down(dsn, target=version_below(dsn, "0005"))
    assert "background_tasks" not in tables_in(dsn)
    assert "pipeline_cache" in tables_in(dsn)  # 0004 stays
    migrate.up(dsn)
    assert "background_tasks" in tables_in(dsn)
    assert snapshot(dsn, only_tables=("background_tasks",)) == before
    with connect(dsn) as c:
        assert bt.enqueue_task(c, "s")["status"] == "pending"
