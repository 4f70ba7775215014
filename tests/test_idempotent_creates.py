"""Creates a caller may retry after an unknown outcome (issue 9, section 4; schema/0015).

For each create that takes a caller-chosen key: a repeat with the same key and the same
arguments returns the row the first call wrote and writes nothing more; the same key
with other arguments is refused with InvalidInput naming the key, writing nothing; no
key behaves as before. The failover test at the end cuts a real COMMIT off in flight
(CommitOutcomeUnknown) and retries.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from pgcluster import Cluster, unavailable_reason

from pydal_lite import CommitOutcomeUnknown, InvalidInput, Settings, connect, migrate, shrinkage
from pydal_lite import event_planning as ep
from pydal_lite import planning_metrics as pm
from pydal_lite.connection import AsyncConnection, Connection

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
SUBTASKS: list[dict[str, Any]] = [
    {"subtask_id": "s1", "description": "research", "agent": "researcher"},
    {"subtask_id": "s2", "description": "draft", "agent": "writer", "dependencies": ["s1"]},
    {"subtask_id": "s3", "description": "review", "agent": "writer", "dependencies": None},
]


def _count(conn: Connection, table: str, where: str = "true", *args: Any) -> int:
    with conn.transaction():
        sql = f"select count(*) as n from {table} where {where}"  # noqa: S608 (test literals)
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row["n"])


def _material(conn: Connection) -> int:
    material = shrinkage.create_material(conn, "wheat", "Wheat", unit="t")
    shrinkage.create_calculation_method(conn, "natural_loss_norm", "Natural loss norm")
    return int(material["id"])


def _calculation(conn: Connection, material_id: int, **kwargs: Any) -> Mapping[str, Any]:
    args: dict[str, Any] = {
        "period_start": T0,
        "period_end": T0 + timedelta(days=28),
        "parameters": {"norm_pct": 0.12, "storage": "silo"},
        **kwargs,
    }
    return shrinkage.create_calculation(conn, material_id, "natural_loss_norm", **args)


# -- event plans: the caller's id -------------------------------------------------------


def test_create_event_plan_repeated_with_its_id_returns_the_plan_and_writes_once(
    conn: Connection,
) -> None:
    key = uuid.uuid4()
    first = ep.create_event_plan(conn, "Wedding", event_date=date(2027, 6, 12), event_id=key)
    assert first["id"] == key
    again = ep.create_event_plan(conn, "Wedding", event_date=date(2027, 6, 12), event_id=str(key))
    assert again == first
    assert _count(conn, "event_plans") == 1


@pytest.mark.parametrize(
    ("kwargs", "differing"),
    [
        ({"title": "Conference", "event_date": date(2027, 6, 12)}, "title"),
        ({"title": "Wedding", "event_date": None}, "event_date"),
        ({"title": "Party", "event_date": date(2027, 6, 13)}, "title and event_date"),
    ],
)
def test_create_event_plan_with_a_taken_id_and_other_arguments_is_refused(
    conn: Connection, kwargs: dict[str, Any], differing: str
) -> None:
    key = uuid.uuid4()
    first = ep.create_event_plan(conn, "Wedding", event_date=date(2027, 6, 12), event_id=key)
    title = kwargs.pop("title")
    with pytest.raises(InvalidInput, match=f"event_id '{key}' .* different {differing}$"):
        ep.create_event_plan(conn, title, event_id=key, **kwargs)
    assert _count(conn, "event_plans") == 1
    assert ep.create_event_plan(conn, "Wedding", event_date=date(2027, 6, 12), event_id=key) == (
        first
    )


def test_create_event_plan_without_an_id_creates_a_plan_per_call(conn: Connection) -> None:
    a = ep.create_event_plan(conn, "Wedding")
    b = ep.create_event_plan(conn, "Wedding")
    assert a["id"] != b["id"]
    assert _count(conn, "event_plans") == 2


def test_create_event_plan_refuses_an_id_that_is_no_uuid(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="event_id must be a UUID"):
        ep.create_event_plan(conn, "Wedding", event_id="plan-1")
    assert _count(conn, "event_plans") == 0


# -- task management runs: request_key ----------------------------------------------------


def test_start_run_repeated_with_its_request_key_returns_the_run_and_writes_once(
    conn: Connection,
) -> None:
    event = ep.create_event_plan(conn, "Wedding")["id"]
    first = ep.start_run(conn, event, processing_summary={"source": "a"}, request_key="k-1")
    again = ep.start_run(conn, str(event), processing_summary={"source": "a"}, request_key="k-1")
    assert again == first
    assert _count(conn, "task_management_runs") == 1
    assert _count(conn, "task_management_runs", "request_key = %s", "k-1") == 1


def test_start_run_with_a_used_request_key_and_other_arguments_is_refused(
    conn: Connection,
) -> None:
    event = ep.create_event_plan(conn, "Wedding")["id"]
    other_event = ep.create_event_plan(conn, "Party")["id"]
    run = ep.start_run(conn, event, processing_summary={"source": "a"}, request_key="k-1")
    with pytest.raises(
        InvalidInput,
        match=rf"request_key 'k-1' was used for run {run['id']} .* different event_id$",
    ):
        ep.start_run(conn, other_event, processing_summary={"source": "a"}, request_key="k-1")
    with pytest.raises(InvalidInput, match=r"request_key 'k-1' .* different processing_summary$"):
        ep.start_run(conn, event, processing_summary={"source": "b"}, request_key="k-1")
    with pytest.raises(InvalidInput, match=r"request_key 'k-1' .*processing_summary$"):
        ep.start_run(conn, event, request_key="k-1")
    assert _count(conn, "task_management_runs") == 1


def test_start_run_retry_after_a_status_move_still_finds_the_run(conn: Connection) -> None:
    # set_run_status may replace the summary: it is compared only while initialized
    event = ep.create_event_plan(conn, "Wedding")["id"]
    run = ep.start_run(conn, event, processing_summary={"source": "a"}, request_key="k-1")
    moved = ep.set_run_status(conn, run["id"], "processing", processing_summary={"n": 3})
    again = ep.start_run(conn, event, processing_summary={"source": "a"}, request_key="k-1")
    assert again == moved
    with pytest.raises(InvalidInput, match="different event_id"):
        ep.start_run(
            conn, ep.create_event_plan(conn, "Party")["id"], request_key="k-1"
        )  # the event is still compared
    assert _count(conn, "task_management_runs") == 1


def test_start_run_keys_are_separate_and_no_key_starts_a_run_per_call(conn: Connection) -> None:
    event = ep.create_event_plan(conn, "Wedding")["id"]
    a = ep.start_run(conn, event)
    b = ep.start_run(conn, event)
    c = ep.start_run(conn, event, request_key="k-1")
    d = ep.start_run(conn, event, request_key="k-2")
    assert len({a["id"], b["id"], c["id"], d["id"]}) == 4
    assert _count(conn, "task_management_runs", "request_key is null") == 2


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "request_key must not be empty"),
        ("k" * 201, "request_key is 201 characters long, at most 200 allowed"),
        (42, "request_key must be a string"),
        ("a\x00b", "request_key contains a NUL character"),
    ],
)
def test_start_run_refuses_a_bad_request_key(conn: Connection, key: Any, message: str) -> None:
    event = ep.create_event_plan(conn, "Wedding")["id"]
    with pytest.raises(InvalidInput, match=message):
        ep.start_run(conn, event, request_key=key)
    assert _count(conn, "task_management_runs") == 0


def test_the_schema_refuses_an_empty_request_key_too(conn: Connection) -> None:
    event = ep.create_event_plan(conn, "Wedding")["id"]
    with pytest.raises(psycopg.errors.CheckViolation, match="request_key_check"):
        with conn.transaction():
            conn.execute(
                "insert into task_management_runs (event_id, request_key) values (%s, '')",
                (event,),
            )


# -- task executions: the caller's execution_id ------------------------------------------


def test_start_task_execution_repeated_with_its_id_returns_the_row_and_writes_once(
    conn: Connection,
) -> None:
    first = pm.start_task_execution(
        conn, "task_001", "multi-agent", metadata={"model": "m1"}, execution_id="exec-1"
    )
    again = pm.start_task_execution(
        conn, "task_001", "multi-agent", metadata={"model": "m1"}, execution_id="exec-1"
    )
    assert again == first
    assert _count(conn, "poc_task_executions") == 1


@pytest.mark.parametrize(
    ("args", "metadata", "differing"),
    [
        (("task_002", "multi-agent"), {"model": "m1"}, "task_id"),
        (("task_001", "single-agent"), {"model": "m1"}, "mode"),
        (("task_001", "multi-agent"), {"model": "m2"}, "metadata"),
        (("task_001", "multi-agent"), None, "metadata"),
        (("task_002", "single-agent"), {"model": "m1"}, "task_id and mode"),
    ],
)
def test_start_task_execution_with_a_taken_id_and_other_arguments_is_refused(
    conn: Connection, args: tuple[str, str], metadata: Any, differing: str
) -> None:
    pm.start_task_execution(
        conn, "task_001", "multi-agent", metadata={"model": "m1"}, execution_id="exec-1"
    )
    with pytest.raises(
        InvalidInput, match=f"task execution 'exec-1' already exists, .* different {differing}$"
    ):
        pm.start_task_execution(conn, *args, metadata=metadata, execution_id="exec-1")
    assert _count(conn, "poc_task_executions") == 1


def test_start_task_execution_retry_after_it_finished_returns_the_finished_row(
    conn: Connection,
) -> None:
    pm.start_task_execution(
        conn, "task_001", "multi-agent", metadata={"model": "m1"}, execution_id="exec-1"
    )
    done = pm.finish_task_execution(conn, "exec-1", success=True, metadata={"score": 1})
    again = pm.start_task_execution(
        conn, "task_001", "multi-agent", metadata={"model": "m1"}, execution_id="exec-1"
    )
    assert again == done and again["status"] == "completed"


# -- plans: the caller's row id --------------------------------------------------------------


def test_record_plan_created_repeated_with_its_row_id_returns_the_plan_and_writes_once(
    conn: Connection,
) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    first = pm.record_plan_created(
        conn, run["id"], "plan-1", "write", SUBTASKS, metadata={"v": 1}, row_id="plan-row-1"
    )
    assert first["id"] == "plan-row-1"
    again = pm.record_plan_created(
        conn, run["id"], "plan-1", "write", SUBTASKS, metadata={"v": 1}, row_id="plan-row-1"
    )
    assert again == first
    assert _count(conn, "poc_execution_plans") == 1
    assert _count(conn, "poc_subtask_executions") == 3


def test_record_plan_created_retry_returns_subtasks_as_they_are_now(conn: Connection) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    pm.record_plan_created(conn, run["id"], "plan-1", "write", SUBTASKS, row_id="plan-row-1")
    started = pm.start_subtask(conn, "plan-row-1", "s1")
    again = pm.record_plan_created(
        conn, run["id"], "plan-1", "write", SUBTASKS, row_id="plan-row-1"
    )
    assert again["subtasks"][0] == started
    assert _count(conn, "poc_subtask_executions") == 3


@pytest.mark.parametrize(
    ("change", "differing"),
    [
        ({"plan_id": "plan-2"}, "plan_id"),
        ({"original_task": "read"}, "original_task"),
        ({"metadata": {"v": 2}}, "metadata"),
        ({"subtasks": SUBTASKS[:2]}, "subtasks"),
        ({"subtasks": [{**SUBTASKS[0], "agent": "planner"}, *SUBTASKS[1:]]}, "subtasks"),
        ({"subtasks": [*SUBTASKS[:2], {**SUBTASKS[2], "dependencies": []}]}, "subtasks"),
        ({"plan_id": "plan-2", "original_task": "read"}, "plan_id and original_task"),
    ],
)
def test_record_plan_created_with_a_taken_row_id_and_other_arguments_is_refused(
    conn: Connection, change: dict[str, Any], differing: str
) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    args: dict[str, Any] = {
        "plan_id": "plan-1",
        "original_task": "write",
        "subtasks": SUBTASKS,
        "metadata": {"v": 1},
    }
    pm.record_plan_created(conn, run["id"], **args, row_id="plan-row-1")
    with pytest.raises(
        InvalidInput, match=f"row_id 'plan-row-1' names a plan .* different {differing}$"
    ):
        pm.record_plan_created(conn, run["id"], **{**args, **change}, row_id="plan-row-1")
    assert _count(conn, "poc_execution_plans") == 1
    assert _count(conn, "poc_subtask_executions") == 3


def test_record_plan_created_row_id_of_another_execution_is_refused(conn: Connection) -> None:
    a = pm.start_task_execution(conn, "task_001", "multi-agent")
    b = pm.start_task_execution(conn, "task_002", "multi-agent")
    pm.record_plan_created(conn, a["id"], "plan-1", "write", SUBTASKS, row_id="plan-row-1")
    with pytest.raises(InvalidInput, match=r"row_id 'plan-row-1' .* different task_execution_id$"):
        pm.record_plan_created(conn, b["id"], "plan-1", "write", SUBTASKS, row_id="plan-row-1")
    assert _count(conn, "poc_execution_plans") == 1


def test_record_plan_created_without_a_row_id_is_refused_for_a_second_plan_as_before(
    conn: Connection,
) -> None:
    run = pm.start_task_execution(conn, "task_001", "multi-agent")
    plan = pm.record_plan_created(conn, run["id"], "plan-1", "write", SUBTASKS)
    assert len(plan["id"]) == 36
    with pytest.raises(InvalidInput, match="already has a plan"):
        pm.record_plan_created(conn, run["id"], "plan-1", "write", SUBTASKS)
    # a new row id for an execution that has a plan: not a retry of that plan's call
    with pytest.raises(InvalidInput, match="already has a plan"):
        pm.record_plan_created(conn, run["id"], "plan-1", "write", SUBTASKS, row_id="other")
    assert _count(conn, "poc_execution_plans") == 1
    assert _count(conn, "poc_subtask_executions") == 3


# -- calculations: request_key ----------------------------------------------------------------


def test_create_calculation_repeated_with_its_request_key_returns_the_row_and_writes_once(
    conn: Connection,
) -> None:
    material = _material(conn)
    first = _calculation(conn, material, request_key="calc-1")
    # the same instants written in another zone are the same arguments
    moscow = timezone(timedelta(hours=3))
    again = _calculation(
        conn,
        material,
        request_key="calc-1",
        period_start=T0.astimezone(moscow),
        period_end=(T0 + timedelta(days=28)).astimezone(moscow),
        parameters={"storage": "silo", "norm_pct": 0.12},
    )
    assert again == first
    assert _count(conn, "calculations") == 1


@pytest.mark.parametrize(
    ("change", "differing"),
    [
        ({"parameters": {"norm_pct": 0.13, "storage": "silo"}}, "parameters"),
        ({"parameters": None}, "parameters"),
        ({"period_start": T0 + timedelta(hours=1)}, "period_start"),
        ({"period_end": T0 + timedelta(days=29)}, "period_end"),
    ],
)
def test_create_calculation_with_a_used_request_key_and_other_arguments_is_refused(
    conn: Connection, change: dict[str, Any], differing: str
) -> None:
    material = _material(conn)
    calc = _calculation(conn, material, request_key="calc-1")
    with pytest.raises(
        InvalidInput,
        match=rf"request_key 'calc-1' was used for calculation {calc['id']} .* {differing}$",
    ):
        _calculation(conn, material, request_key="calc-1", **change)
    assert _count(conn, "calculations") == 1


def test_create_calculation_with_a_used_key_for_another_material_is_refused(
    conn: Connection,
) -> None:
    material = _material(conn)
    other = int(shrinkage.create_material(conn, "rye", "Rye", unit="t")["id"])
    _calculation(conn, material, request_key="calc-1")
    with pytest.raises(InvalidInput, match=r"request_key 'calc-1' .* different material_id$"):
        _calculation(conn, other, request_key="calc-1")
    assert _count(conn, "calculations") == 1


def test_create_calculation_retry_after_a_status_move_returns_the_row_as_it_is(
    conn: Connection,
) -> None:
    material = _material(conn)
    calc = _calculation(conn, material, request_key="calc-1")
    running = shrinkage.set_calculation_status(conn, calc["id"], "running")
    assert _calculation(conn, material, request_key="calc-1") == running


def test_create_calculation_without_a_key_creates_a_row_per_call(conn: Connection) -> None:
    material = _material(conn)
    a = _calculation(conn, material)
    b = _calculation(conn, material)
    assert a["id"] != b["id"]
    assert _count(conn, "calculations", "request_key is null") == 2
    with pytest.raises(InvalidInput, match="request_key is 201 characters long"):
        _calculation(conn, material, request_key="k" * 201)
    assert _count(conn, "calculations") == 2


# -- async, and two sessions racing with one key --------------------------------------------


async def test_async_retry_returns_the_same_run(aconn: AsyncConnection) -> None:
    event = await ep.create_event_plan(aconn, "Wedding", event_id=uuid.uuid4())
    first = await ep.start_run(aconn, event["id"], request_key="k-async")
    again = await ep.start_run(aconn, event["id"], request_key="k-async")
    assert again == first


def test_two_sessions_with_one_key_write_one_row(dsn: str) -> None:
    # the second insert waits for the first transaction, then finds its row
    with connect(dsn) as setup:
        event = ep.create_event_plan(setup, "Wedding")["id"]
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        with connect(dsn) as c:
            barrier.wait()
            results.append(ep.start_run(c, event, request_key="race")["id"])

    with connect(dsn) as holder:  # not autocommit: the insert opens a transaction
        holder.execute(
            "insert into task_management_runs (event_id, request_key) values (%s, 'race')",
            (event,),
        )
        threads = [threading.Thread(target=start) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # both now wait on the uncommitted key
        holder.rollback()
        for t in threads:
            t.join(10)
    assert len(results) == 2 and results[0] == results[1]
    with connect(dsn) as check:
        row = check.execute(
            "select count(*) as n from task_management_runs where request_key = 'race'"
        ).fetchone()
    assert row is not None and row["n"] == 1


# -- a real unknown outcome: COMMIT cut off while it waits for a synchronous standby -------


@pytest.fixture(scope="module")
def ghost_dsn() -> Iterator[str]:
    """A migrated server whose commits wait for a standby ("ghost") that never comes."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"cannot start PostgreSQL servers here: {reason}")
    cluster = Cluster.create()
    try:
        node = cluster.init_primary(synchronous=False)
        cluster.configure(node, synchronous_standby_names="ghost", synchronous_commit="local")
        cluster.start("primary")
        migrate.up(node.dsn())
        yield node.dsn()
    finally:
        cluster.destroy()


def _terminate_when_waiting_for_sync(dsn: str) -> threading.Thread:
    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            for _ in range(500):
                row = admin.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where wait_event = 'SyncRep'"
                ).fetchone()
                if row is not None and row[0]:
                    return
                time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _creates(key: str) -> dict[str, Callable[[Connection], object]]:
    """Each keyed create, as a call to repeat; needs the rows of _prepare."""
    event = uuid.UUID(int=1)
    return {
        "create_event_plan": lambda c: ep.create_event_plan(
            c, "Wedding", event_id=uuid.uuid5(event, key)
        ),
        "start_run": lambda c: ep.start_run(c, event, request_key=key),
        "start_task_execution": lambda c: pm.start_task_execution(
            c, "task_001", "multi-agent", execution_id=key[:36]
        ),
        "record_plan_created": lambda c: pm.record_plan_created(
            c, "exec-for-plans", key, "write", SUBTASKS, row_id=key[:36]
        ),
        "create_calculation": lambda c: shrinkage.create_calculation(
            c, 1, "natural_loss_norm", period_start=T0, period_end=T0 + timedelta(days=1),
            request_key=key,
        ),
    }  # fmt: skip


@pytest.mark.failover
@pytest.mark.parametrize("name", list(_creates("")))
def test_a_create_whose_commit_outcome_is_unknown_is_retried_safely(
    ghost_dsn: str, name: str
) -> None:
    with psycopg.connect(ghost_dsn, autocommit=True) as admin:  # parents, idempotently
        admin.execute(
            "insert into event_plans (id, title) values (%s, 'Parent') on conflict do nothing",
            (uuid.UUID(int=1),),
        )
        admin.execute(
            "insert into poc_task_executions (id, task_id, mode)"
            " values ('exec-for-plans', 't', 'multi-agent') on conflict do nothing"
        )
        admin.execute(
            "insert into materials (id, code, name, kind, unit)"
            " overriding system value values (1, 'wheat', 'Wheat', 'material', 't')"
            " on conflict do nothing"
        )
        admin.execute(
            "insert into calculation_methods (code, name) values ('natural_loss_norm', 'N')"
            " on conflict do nothing"
        )
        if name == "record_plan_created":  # one plan per execution: a fresh one each run
            admin.execute("delete from poc_execution_plans")
    key = f"unknown-{name}"
    create = _creates(key)[name]
    settings = Settings(dsn=ghost_dsn, extra={"options": "-c synchronous_commit=on"})
    with connect(settings) as conn:
        thread = _terminate_when_waiting_for_sync(ghost_dsn)
        try:
            with pytest.raises(CommitOutcomeUnknown):
                create(conn)
        finally:
            thread.join()
    # the retry, on a new connection (commits locally without waiting for the ghost)
    with connect(ghost_dsn) as conn:
        first = create(conn)
        again = create(conn)
        assert again == first
        found = {
            "create_event_plan": ("event_plans", "id = %s", uuid.uuid5(uuid.UUID(int=1), key)),
            "start_run": ("task_management_runs", "request_key = %s", key),
            "start_task_execution": ("poc_task_executions", "id = %s", key[:36]),
            "record_plan_created": ("poc_execution_plans", "id = %s", key[:36]),
            "create_calculation": ("calculations", "request_key = %s", key),
        }[name]
        assert _count(conn, found[0], found[1], found[2]) == 1


def test_enqueue_task_with_a_task_id_is_safe_to_repeat(conn: Connection) -> None:
    from pydal_lite import background_tasks as bt

    key = uuid.uuid4()
    first = bt.enqueue_task(conn, "s1", {"n": 1}, task_type="report", task_id=key)
    again = bt.enqueue_task(conn, "s1", {"n": 1}, task_type="report", task_id=str(key))
    assert first["task_id"] == again["task_id"] == key
    count = conn.execute(
        "select count(*) as n from background_tasks where task_id = %s", (key,)
    ).fetchone()
    assert count == {"n": 1}
    with pytest.raises(
        InvalidInput, match=r"task_id '.*' was used for a task enqueued with a different input_data"
    ):
        bt.enqueue_task(conn, "s1", {"n": 2}, task_type="report", task_id=key)
    with pytest.raises(InvalidInput, match="different user_session and task_type"):
        bt.enqueue_task(conn, "s2", {"n": 1}, task_id=key)
    other = bt.enqueue_task(conn, "s1", {"n": 1}, task_type="report")
    assert other["task_id"] != key
