"""background_tasks and LangGraph's checkpoint tables on Citus.

background_tasks stays an ordinary table on the coordinator (0017): the claim takes row
locks with FOR UPDATE SKIP LOCKED over any pending row, which Citus allows only on one
shard. Every call of pydal_lite.background_tasks reads only that table, so none is
routed anywhere and none joins a distributed table. LangGraph's four tables are
reference tables; its saver runs on them unmodified.

The concurrency and LangGraph tests commit (several connections; the saver needs
autocommit): they use their own session / thread ids and delete their rows at the end.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row

from pydal_lite import background_tasks as bt
from pydal_lite import shrinkage
from pydal_lite.connection import Connection, connect

pytestmark = pytest.mark.citus

CHECKPOINT_TABLES = (
    "checkpoint_migrations",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
)


def test_background_tasks_is_a_plain_local_table(cconn: Connection) -> None:
    citus = cconn.execute(
        "select count(*) as n from pg_dist_partition"
        " where logicalrelid = 'background_tasks'::regclass"
    ).fetchone()
    assert citus == {"n": 0}, (
        "background_tasks became a Citus (local, reference or distributed) table"
    )
    fks = cconn.execute(
        "select count(*) as n from pg_constraint where contype = 'f'"
        " and 'background_tasks'::regclass in (conrelid, confrelid)"
    ).fetchone()
    assert fks == {"n": 0}  # a foreign key to a reference table would make it Citus-local
    kinds = cconn.execute(
        "select logicalrelid::text as t, partmethod as m from pg_dist_partition"
        " where logicalrelid = any(%s::regclass[]) order by 1",
        (list(CHECKPOINT_TABLES),),
    ).fetchall()
    assert [(r["t"], r["m"]) for r in kinds] == sorted((t, "n") for t in CHECKPOINT_TABLES)


def test_queue_lifecycle_next_to_distributed_writes(cconn: Connection) -> None:
    # One transaction writes a reference table, a distributed table's shard, then the queue.
    material = shrinkage.create_material(cconn, "citus-q", "Q", unit="t")
    shrinkage.create_calculation_method(cconn, "citus_q", "Q")
    calc = shrinkage.create_calculation(
        cconn,
        material["id"],
        "citus_q",
        period_start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        period_end=datetime(2024, 1, 2, tzinfo=timezone.utc),
    )
    shrinkage.ingest_calculation_data(
        cconn, calc["id"], [(datetime(2024, 1, 1, tzinfo=timezone.utc), "mass_t", 1.0)]
    )
    session = f"citus-{uuid.uuid4().hex[:8]}"
    first = bt.enqueue_task(cconn, session, {"calculation_id": calc["id"]})
    second = bt.enqueue_task(cconn, session, {"n": 2}, task_type="export")
    task = bt.claim_next_task(cconn, "w1", task_types=["ics_processing"])
    assert task is not None and task["task_id"] == first["task_id"]
    bt.update_progress(
        cconn, task["task_id"], claim_id=task["claim_id"], progress=40, stage="import"
    )
    done = bt.complete_task(
        cconn, task["task_id"], claim_id=task["claim_id"], results={"analyze": {"ok": 1}}
    )
    assert done["status"] == "completed" and done["analyze_result"] == {"ok": 1}
    listed = bt.list_tasks_by_session(cconn, session)
    assert {r["task_id"]: r["status"] for r in listed} == {
        first["task_id"]: "completed",
        second["task_id"]: "pending",
    }
    assert bt.count_tasks_by_status(cconn)["completed"] >= 1
    cancelled = bt.cancel_task(cconn, second["task_id"], reason="not needed")
    assert cancelled["status"] == "cancelled"
    assert bt.reclaim_stale_tasks(cconn, stale_after=60.0) == []
    assert bt.purge_finished_tasks(cconn, older_than=0) == 0  # they finished at now()


def test_concurrent_claims_take_each_task_once(citus_dsn: str) -> None:
    session = f"citus-{uuid.uuid4().hex[:8]}"
    n_tasks, n_workers = 40, 4
    try:
        with connect(citus_dsn) as c:
            enqueued = {bt.enqueue_task(c, session, {"n": i})["task_id"] for i in range(n_tasks)}
        claimed: dict[str, list[Any]] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(n_workers)

        def work(name: str) -> None:
            mine: list[Any] = []
            try:
                with connect(citus_dsn) as c:
                    start.wait()
                    while (task := bt.claim_next_task(c, name)) is not None:
                        mine.append(task["task_id"])
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
        assert len(every) == len(set(every)) and set(every) == enqueued
    finally:
        with psycopg.connect(citus_dsn, autocommit=True) as c:
            c.execute("delete from background_tasks where user_session = %s", (session,))


def test_langgraph_saver_round_trips_on_reference_tables(citus_dsn: str) -> None:
    thread = f"citus-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    with psycopg.connect(
        citus_dsn, autocommit=True, row_factory=dict_row, prepare_threshold=0
    ) as c:
        try:
            saver = PostgresSaver(c)
            saver.setup()  # finds 0007's counter: nothing to run
            cp = empty_checkpoint()
            cp["channel_values"] = {"plan": {"venue": "Hall A"}, "step_name": "intro"}
            cp["channel_versions"] = {"plan": 1, "step_name": 1}
            saved = saver.put(config, cp, {"source": "input", "step": 1, "who": "a"}, {"plan": 1})
            saver.put_writes(saved, [("plan", {"venue": "Hall B"})], task_id="t1", task_path="p")
            got = saver.get_tuple(saved)
            assert got is not None and got.checkpoint["id"] == cp["id"]
            assert got.checkpoint["channel_values"]["plan"] == {"venue": "Hall A"}
            assert [(w[0], w[1], w[2]) for w in got.pending_writes or []] == [
                ("t1", "plan", {"venue": "Hall B"})
            ]
            second = empty_checkpoint()
            saver.put(saved, second, {"source": "loop", "step": 2, "who": "b"}, {})
            assert [t.checkpoint["id"] for t in saver.list(config)] == [second["id"], cp["id"]]
            found = list(saver.list(config, filter={"who": "a"}))
            assert [t.checkpoint["id"] for t in found] == [cp["id"]]
        finally:
            for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
                c.execute(f"delete from {table} where thread_id = %s", (thread,))  # noqa: S608
