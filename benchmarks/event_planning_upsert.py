"""Bulk upsert and read-back speed of the event planning operations.

Usage (the database must be migrated; the script adds one event plan and removes it,
with everything under it, at the end)::

    python benchmarks/event_planning_upsert.py postgresql://postgres@127.0.0.1:5432/app

Prints, per batch size: tasks upserted per second for a first insert and for a
re-upsert that changes every document, then median latencies of the containment and
partial-index reads on the loaded run. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from pydal_lite import connect
from pydal_lite import event_planning as ep

N_TASKS = 20_000


def _tasks(n: int, version: int) -> list[dict[str, Any]]:
    return [
        {
            "task_id": f"task-{i:06}",
            "task_data": {
                "title": f"task {i}",
                "version": version,
                "category": ("venue", "catering", "photo", "decor")[i % 4],
                "assigned_vendor": f"vendor-{i % 1000}",
                "has_errors": i % 500 == 0,
                "requires_manual_review": i % 300 == 0,
            },
        }
        for i in range(n)
    ]


def _median_ms(fn: Callable[[], object], repeat: int = 30) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(dsn: str) -> None:
    with connect(dsn, autocommit=True) as conn:
        plan = ep.create_event_plan(conn, "benchmark")
        try:
            for batch_size in (100, 1000, 5000):
                run = ep.start_run(conn, plan["id"])
                for label, version in (("insert", 1), ("update", 2)):
                    tasks = _tasks(N_TASKS, version)
                    started = time.perf_counter()
                    count = ep.upsert_tasks(conn, run["id"], tasks, batch_size=batch_size)
                    seconds = time.perf_counter() - started
                    print(
                        f"batch_size={batch_size:5} {label}: {count} tasks in {seconds:.2f} s"
                        f" = {count / seconds:,.0f} tasks/s"
                    )
            conn.execute("analyze extended_tasks")
            run_id = run["id"]
            reads: dict[str, Callable[[], object]] = {
                "find_tasks (GIN @>)": lambda: ep.find_tasks(
                    conn, run_id, {"assigned_vendor": "vendor-17"}
                ),
                "list_tasks_with_errors (partial)": lambda: ep.list_tasks_with_errors(conn, run_id),
                "list_tasks_for_review (partial)": lambda: ep.list_tasks_for_review(conn, run_id),
                "run_summary": lambda: ep.run_summary(conn, run_id),
            }
            for name, fn in reads.items():
                print(f"{name}: median {_median_ms(fn):.2f} ms over {N_TASKS} tasks")
        finally:
            conn.execute("delete from event_plans where id = %s", [plan["id"]])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
