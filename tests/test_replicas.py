"""Reads that tolerate staleness go to a standby, writes and read-your-writes to the primary.

The tests marked ``failover`` run on their own primary and asynchronous streaming
standby (tests/pgcluster.py), migrated by the real runner before the standby is
cloned; the others need only the shared test server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgcluster import Cluster, unavailable_reason

from pydal_lite import (
    Settings,
    agent_runtime,
    background_tasks,
    create_async_pool,
    create_pool,
    event_planning,
    migrate,
    pipeline_cache,
    planning_metrics,
    shrinkage,
)
from pydal_lite.connection import Connection

cluster_test = pytest.mark.failover
# public callables of the domain modules that are not calls to the database
NOT_DATABASE_CALLS = frozenset(
    {
        "transaction",
        "atransaction",
        "session_scope",
        "asession_scope",
        "canonical_json",
        "input_hash",
    }
)
DOMAINS = (
    "agent_runtime",
    "planning_metrics",
    "pipeline_cache",
    "background_tasks",
    "event_planning",
    "shrinkage",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"cannot start PostgreSQL servers here: {reason}")
    c = Cluster.create()
    try:
        primary = c.init_primary(synchronous=False)
        c.start("primary")
        migrate.up(primary.dsn())
        c.add_standby()
        c.start("standby")
        c.wait_streaming()
        yield c
    finally:
        c.destroy()


def ports(c: Cluster) -> tuple[int, int]:
    return c.nodes["primary"].port, c.nodes["standby"].port


def wait_replayed(c: Cluster) -> None:
    """Block until the standby has replayed everything the primary wrote so far."""
    with psycopg.connect(c.nodes["primary"].dsn(), autocommit=True) as p:
        row = p.execute("select pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        lsn = row[0]
    with psycopg.connect(c.nodes["standby"].dsn(), autocommit=True) as s:
        for _ in range(200):
            row = s.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
            if row is not None and row[0]:
                return
            s.execute("select pg_sleep(0.05)")
    raise AssertionError(f"standby did not replay up to {lsn} within 10 s")


def where(conn: Connection) -> tuple[int, bool]:
    row = conn.execute("select pg_is_in_recovery() as standby").fetchone()
    assert row is not None
    return conn.info.port, row["standby"]


@cluster_test
def test_read_only_connections_go_to_the_read_dsn_and_the_rest_to_the_primary(
    cluster: Cluster,
) -> None:
    p, s = ports(cluster)
    settings = Settings(
        dsn=cluster.nodes["primary"].dsn(), read_dsn=cluster.nodes["standby"].dsn(), max_size=2
    )
    with create_pool(settings) as pool:
        assert pool.reader is not pool
        with pool.connection() as conn:
            assert where(conn) == (p, False)
        with pool.connection(read_only=True) as conn:
            assert where(conn) == (s, True)
        with pool.reader.connection() as conn:
            assert where(conn) == (s, True)


@cluster_test
def test_a_multi_host_dsn_writes_to_the_primary_and_reads_from_a_standby(
    cluster: Cluster,
) -> None:
    p, s = ports(cluster)
    # the standby is listed first: target_session_attrs=read-write must skip it
    settings = Settings(dsn=f"host=127.0.0.1,127.0.0.1 port={s},{p} user=postgres", max_size=2)
    assert "target_session_attrs=read-write" in settings.primary_dsn()
    assert "target_session_attrs=prefer-standby" in (settings.reader_dsn() or "")
    with create_pool(settings) as pool:
        with pool.connection() as conn:
            assert where(conn) == (p, False)
            conn.execute("create table if not exists mh_probe (n int)")
            conn.execute("insert into mh_probe values (1)")
        wait_replayed(cluster)
        with pool.connection(read_only=True) as conn:
            assert where(conn) == (s, True)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("insert into mh_probe values (2)")


@cluster_test
def test_a_standby_read_can_be_stale_so_read_your_writes_uses_the_primary(
    cluster: Cluster,
) -> None:
    settings = Settings(
        dsn=cluster.nodes["primary"].dsn(), read_dsn=cluster.nodes["standby"].dsn(), max_size=2
    )
    sid = f"stale-{uuid.uuid4().hex[:8]}"
    with create_pool(settings) as pool:
        with pool.reader.connection() as conn:
            conn.execute("select pg_wal_replay_pause()")
        try:
            with pool.connection() as conn:
                agent_runtime.save_session(conn, sid, [{"role": "user", "content": "hi"}])
            with pool.connection() as conn:  # read-your-writes: the primary
                assert agent_runtime.load_session(conn, sid) is not None
            with pool.connection(read_only=True) as conn:  # the standby has not replayed it
                assert agent_runtime.load_session(conn, sid) is None
        finally:
            with pool.reader.connection() as conn:
                conn.execute("select pg_wal_replay_resume()")
        wait_replayed(cluster)
        with pool.connection(read_only=True) as conn:
            loaded = agent_runtime.load_session(conn, sid)
            assert loaded is not None
            assert [m["content"] for m in loaded["messages"]] == ["hi"]


SCALING_DOC = Path(__file__).parent.parent / "docs" / "scaling.md"


def documented_standby_ok() -> set[str]:
    """The calls docs/scaling.md's per-domain tables mark standby-ok."""
    rows = re.findall(r"^\| `(\w+)` \| (standby-ok|primary) \|", SCALING_DOC.read_text(), re.M)
    assert len(rows) > 80, "the per-domain tables of docs/scaling.md were not found"
    return {name for name, where in rows if where == "standby-ok"}


def _seed(conn: Connection) -> dict[str, Any]:
    """One of everything, written through the domain API on the primary."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sid = f"rs_{uuid.uuid4().hex[:8]}"
    agent_runtime.save_session(
        conn,
        sid,
        [{"role": "user", "content": "find a venue"}, {"role": "assistant", "content": "ok"}],
    )
    agent_runtime.save_agent_context(conn, sid, "coder", [{"from": None, "to": "coder"}])
    run = planning_metrics.start_task_execution(conn, "task-1", "multi-agent")
    plan_id = f"plan-{uuid.uuid4().hex[:8]}"
    plan = planning_metrics.record_plan_created(
        conn, run["id"], plan_id, "t", [{"subtask_id": "s1", "description": "d", "agent": "a"}]
    )
    pipeline_cache.put_entry(conn, "import", {"file": sid}, {"rows": 3})
    pipeline_cache.record_user_session(conn, sid)
    task = background_tasks.enqueue_task(conn, sid, {"n": 1})
    event = event_planning.create_event_plan(conn, "launch")
    event_planning.add_vendor(conn, "Hall", "venue", "Oslo")
    ep_run = event_planning.start_run(conn, event["id"])
    material = shrinkage.create_material(conn, f"m_{sid}", "Flour", unit="kg")
    method = shrinkage.create_calculation_method(conn, f"c_{sid}", "Norm")
    calc = shrinkage.create_calculation(
        conn, material["id"], method["code"], period_start=t0, period_end=t0 + timedelta(days=1)
    )
    return {
        "sid": sid,
        "exec": run["id"],
        "plan": plan["id"],
        "task": task["task_id"],
        "run": ep_run["id"],
        "material": material["id"],
        "calc": calc["id"],
        "t0": t0,
    }


# calls whose seed data is not written by _seed (their answer is empty on both servers)
NOTHING_SEEDED = frozenset(
    {
        "list_tasks_with_errors",
        "list_tasks_for_review",
        "find_tasks",
        "find_conflicts",
        "list_unresolved_conflicts",
        "list_calculation_data",
        "list_downsampled_calculation_data",
        "list_metric_buckets",
        "get_coefficient_as_of",
        "list_coefficients_as_of",
    }
)


def _standby_reads(k: dict[str, Any]) -> dict[str, Callable[[Connection], Any]]:
    """Every call docs/scaling.md lists as standby-ok, with arguments for the seed."""
    sid, t0 = k["sid"], k["t0"]
    day = timedelta(days=1)
    return {
        "load_session": lambda c: agent_runtime.load_session(c, sid),
        "get_messages_paginated": lambda c: agent_runtime.get_messages_paginated(c, sid),
        "get_messages_after": lambda c: agent_runtime.get_messages_after(c, sid),
        "search_messages": lambda c: agent_runtime.search_messages(c, sid, "venue"),
        "get_session_stats": lambda c: agent_runtime.get_session_stats(c, sid),
        "list_all_sessions": lambda c: agent_runtime.list_all_sessions(c),
        "load_agent_context": lambda c: agent_runtime.load_agent_context(c, sid),
        "get_agent_switch_history": lambda c: agent_runtime.get_agent_switch_history(c, sid),
        "list_sessions_by_agent": lambda c: agent_runtime.list_sessions_by_agent(c, "coder"),
        "get_task_execution": lambda c: planning_metrics.get_task_execution(c, k["exec"]),
        "list_task_executions": lambda c: planning_metrics.list_task_executions(c, "task-1"),
        "get_plan": lambda c: planning_metrics.get_plan(c, k["plan"]),
        "list_subtasks": lambda c: planning_metrics.list_subtasks(c, k["plan"]),
        "list_open_plans": lambda c: planning_metrics.list_open_plans(c),
        "list_plans_with_subtask_counts": planning_metrics.list_plans_with_subtask_counts,
        "count_subtasks_by_status": planning_metrics.count_subtasks_by_status,
        "get_plan_metrics": lambda c: planning_metrics.get_plan_metrics(c, k["plan"]),
        "get_entry": lambda c: pipeline_cache.get_entry(c, "import", {"file": sid}),
        "get_entry_by_hash": lambda c: pipeline_cache.get_entry_by_hash(
            c, "import", pipeline_cache.input_hash({"file": sid})
        ),
        "list_entries_by_hash": lambda c: pipeline_cache.list_entries_by_hash(
            c, pipeline_cache.input_hash({"file": sid})
        ),
        "get_user_session": lambda c: pipeline_cache.get_user_session(c, sid),
        "get_session_results": lambda c: pipeline_cache.get_session_results(c, sid),
        "get_task": lambda c: background_tasks.get_task(c, k["task"]),
        "list_tasks_by_session": lambda c: background_tasks.list_tasks_by_session(c, sid),
        "list_recent_tasks": lambda c: background_tasks.list_recent_tasks(c),
        "count_tasks_by_status": background_tasks.count_tasks_by_status,
        "find_vendors": lambda c: event_planning.find_vendors(c, "venue", "Oslo"),
        "get_run": lambda c: event_planning.get_run(c, k["run"]),
        "run_summary": lambda c: event_planning.run_summary(c, k["run"]),
        "find_tasks": lambda c: event_planning.find_tasks(c, k["run"], {}),
        "list_tasks_with_errors": lambda c: event_planning.list_tasks_with_errors(c, k["run"]),
        "list_tasks_for_review": lambda c: event_planning.list_tasks_for_review(c, k["run"]),
        "find_conflicts": lambda c: event_planning.find_conflicts(c, k["run"], {}),
        "list_unresolved_conflicts": lambda c: event_planning.list_unresolved_conflicts(
            c, k["run"]
        ),
        "get_calculation": lambda c: shrinkage.get_calculation(c, k["calc"]),
        "list_material_calculations": lambda c: shrinkage.list_material_calculations(
            c, k["material"]
        ),
        "list_calculation_data": lambda c: shrinkage.list_calculation_data(
            c, k["calc"], since=t0, until=t0 + day
        ),
        "list_downsampled_calculation_data": lambda c: shrinkage.list_downsampled_calculation_data(
            c, k["calc"], bucket=timedelta(hours=1)
        ),
        "list_metric_buckets": lambda c: shrinkage.list_metric_buckets(
            c, "shrinkage", bucket=day, since=t0, until=t0 + day
        ),
        "list_gapfilled_calculation_data": lambda c: shrinkage.list_gapfilled_calculation_data(
            c, k["calc"], "shrinkage", bucket=timedelta(hours=1), since=t0, until=t0 + day
        ),
        "get_coefficient_as_of": lambda c: shrinkage.get_coefficient_as_of(
            c, k["material"], "natural_loss_rate", at=t0
        ),
        "list_coefficients_as_of": lambda c: shrinkage.list_coefficients_as_of(
            c, k["material"], at=t0
        ),
    }


@cluster_test
def test_every_standby_ok_domain_call_runs_on_the_standby_and_agrees_with_the_primary(
    cluster: Cluster,
) -> None:
    settings = Settings(
        dsn=cluster.nodes["primary"].dsn(), read_dsn=cluster.nodes["standby"].dsn(), max_size=2
    )
    with create_pool(settings) as pool:
        with pool.connection() as conn:
            keys = _seed(conn)
        wait_replayed(cluster)
        calls = _standby_reads(keys)
        for name, call in calls.items():
            with pool.connection() as conn:
                on_primary = call(conn)
            with pool.connection(read_only=True) as conn:
                assert where(conn)[1] is True
                on_standby = call(conn)
            assert on_standby == on_primary, name
            if name not in NOTHING_SEEDED:
                assert on_primary not in (None, [], {}), name
    assert set(calls) == documented_standby_ok()


@cluster_test
async def test_the_async_pool_routes_reads_to_the_standby(cluster: Cluster) -> None:
    p, s = ports(cluster)
    settings = Settings(dsn=f"host=127.0.0.1,127.0.0.1 port={s},{p} user=postgres", max_size=2)
    async with create_async_pool(settings) as pool:
        async with pool.connection() as conn:
            row = await (await conn.execute("select pg_is_in_recovery() as r")).fetchone()
            assert (conn.info.port, row) == (p, {"r": False})
        async with pool.connection(read_only=True) as conn:
            row = await (await conn.execute("select pg_is_in_recovery() as r")).fetchone()
            assert (conn.info.port, row) == (s, {"r": True})


@cluster_test
def test_prefer_standby_reads_fall_back_to_the_primary_when_no_standby_is_up(
    cluster: Cluster,
) -> None:
    p, s = ports(cluster)
    settings = Settings(
        dsn=f"host=127.0.0.1,127.0.0.1 port={p},{s} user=postgres", max_size=1, min_size=0
    )
    cluster.stop("standby", "fast")
    try:
        with create_pool(settings) as pool, pool.connection(read_only=True) as conn:
            assert where(conn) == (p, False)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("create table fallback_probe (n int)")
    finally:
        cluster.start("standby")


def test_without_a_read_dsn_reads_share_the_pool_in_read_only_transactions(dsn: str) -> None:
    with create_pool(Settings(dsn=dsn, min_size=1, max_size=1)) as pool:
        assert pool.reader is pool
        with pool.connection(read_only=True) as conn:
            assert conn.execute("show transaction_read_only").fetchone() == {
                "transaction_read_only": "on"
            }
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("create table ro_probe (n int)")
        with pool.connection() as conn:  # the same connection, writable again
            conn.execute("create table ro_probe (n int)")
            assert conn.execute("show transaction_read_only").fetchone() == {
                "transaction_read_only": "off"
            }


async def test_async_read_only_connections_refuse_writes_without_a_standby(dsn: str) -> None:
    async with create_async_pool(Settings(dsn=dsn, min_size=1, max_size=1)) as pool:
        async with pool.connection(read_only=True) as conn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await conn.execute("create table ro_probe (n int)")
        async with pool.connection() as conn:
            await conn.execute("create table ro_probe (n int)")


def test_the_scaling_doc_lists_every_public_domain_call() -> None:
    import importlib

    from pydal_lite.runtime import Operation

    rows = re.findall(r"^\| `(\w+)` \| (?:standby-ok|primary) \|", SCALING_DOC.read_text(), re.M)
    public = set()
    for name in DOMAINS:
        module = importlib.import_module(f"pydal_lite.{name}")
        public |= {
            n
            for n in module.__all__
            if isinstance(getattr(module, n), Operation) and n not in NOT_DATABASE_CALLS
        }
    assert sorted(rows) == sorted(public)


def test_a_single_host_dsn_is_used_as_given(dsn: str) -> None:
    settings = Settings(dsn=dsn)
    assert settings.primary_dsn() == dsn
    assert settings.reader_dsn() is None
