"""Speed of the planning-metrics batch insert and of the background-task queue.

Usage: python benchmarks/bench_planning_pipeline.py postgresql://postgres@127.0.0.1:5432/postgres

The DSN is an admin connection: the script creates a scratch database, migrates it with
the real runner, measures, prints a table and drops the database. Not a test: numbers
depend on the machine.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from pydal_lite import background_tasks as bt
from pydal_lite import connect, migrate
from pydal_lite import sql as steps
from pydal_lite import planning_metrics as pm
from pydal_lite.dsn import with_database


def _plan_batch(dsn: str, n_subtasks: int) -> float:
    with connect(dsn) as conn:
        run = pm.start_task_execution(conn, "bench", "multi-agent")
        subtasks = [
            {"subtask_id": f"s{i}", "description": "d" * 40, "agent": f"agent{i % 5}"}
            for i in range(n_subtasks)
        ]
        t0 = time.perf_counter()
        pm.record_plan_created(conn, run["id"], "p", "bench", subtasks)
        return time.perf_counter() - t0


def _fill_queue(dsn: str, n: int, finished: int = 0) -> None:
    with connect(dsn) as conn:
        conn.execute("truncate background_tasks")
        conn.execute(
            "insert into background_tasks (user_session, input_data, status, completed_at)"
            " select 's' || (g %% 100), jsonb_build_object('n', g), 'completed', now()"
            " from generate_series(1, %s) as g",
            (finished,),
        )
        conn.execute(
            "insert into background_tasks (user_session, input_data)"
            " select 's' || (g %% 100), jsonb_build_object('n', g)"
            " from generate_series(1, %s) as g",
            (n,),
        )
        conn.execute("analyze background_tasks")
        conn.commit()


def _drain(dsn: str, workers: int) -> tuple[float, int]:
    done: list[int] = []
    barrier = threading.Barrier(workers + 1)

    def work(name: str) -> None:
        count = 0
        with connect(dsn) as conn:
            barrier.wait()
            while (task := bt.claim_next_task(conn, name)) is not None:
                bt.complete_task(conn, task["task_id"], claim_id=task["claim_id"])
                count += 1
        done.append(count)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sum(done)


def _plans(dsn: str) -> list[tuple[str, str]]:
    """EXPLAIN of the named queries that must stay index-served on a large table."""
    cases: list[tuple[str, dict[str, Any]]] = [
        ("claim_next_task", {"worker": "w"}),
        ("claim_next_task_of_types", {"worker": "w", "task_types": ["report"]}),
        ("purge_finished_tasks", {"older_than_seconds": 7 * 24 * 3600.0}),
        ("list_tasks_by_session", {"user_session": "s1", "status": None, "limit": 20}),
        ("list_recent_tasks", {"limit": 20}),
    ]
    out = []
    with connect(dsn) as conn:
        for name, params in cases:
            step = getattr(steps.background_tasks, name)(**params)
            rows = conn.execute(f"explain (costs off) {step.sql}", step.params).fetchall()
            lines = [str(next(iter(r.values()))).strip() for r in rows]
            out.append(
                (f"plan of {name}", " / ".join(x for x in lines if "Scan" in x or "Sort" in x))
            )
        conn.rollback()
    return out


def main(admin_dsn: str) -> None:
    name = f"pydal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    dsn = with_database(admin_dsn, name)
    results: list[tuple[str, Any]] = []
    try:
        migrate.up(dsn)
        for n in (100, 1000, 10000):
            results.append((f"record_plan_created, {n} subtasks (s)", f"{_plan_batch(dsn, n):.3f}"))
        n_tasks = 5000
        for workers in (1, 4, 8):
            _fill_queue(dsn, n_tasks)
            seconds, count = _drain(dsn, workers)
            assert count == n_tasks, (count, n_tasks)
            results.append(
                (f"claim+complete, {workers} workers (tasks/s)", f"{count / seconds:.0f}")
            )
        _fill_queue(dsn, 1000, finished=200_000)
        results.extend(_plans(dsn))
        seconds, count = _drain(dsn, 4)
        results.append(
            ("claim+complete, 4 workers, 200k finished rows (tasks/s)", f"{count / seconds:.0f}")
        )
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    width = max(len(k) for k, _ in results)
    for key, value in results:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres")
