"""CI smoke of the benchmarks: one short round of each, ours beside the raw psycopg peer in
the same run, failing only when a ratio exceeds about 3x its measured median (so only gross
regressions fail; a slow or loaded machine slows both sides alike).

usage: python bench_smoke.py DSN   (DSN migrated by pydal_lite; its agent-runtime and task
tables are emptied)
"""
from __future__ import annotations

import os
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                os.path.dirname(os.path.abspath(__file__))]

import benchmeta  # noqa: E402
import bench_agent_runtime as bar  # noqa: E402
import psycopg  # noqa: E402
import pydal_adapter  # noqa: E402
import raw_agent_runtime  # noqa: E402

from pydal_lite import agent_runtime as ar  # noqa: E402
from pydal_lite import background_tasks as bt  # noqa: E402
from pydal_lite import connect  # noqa: E402

# workload -> the largest ratio ours/raw tolerated: about 3x the median measured for (more for the 20-call rows, noisy in one round)
# benchmarks/README.md (time ratios: for the queue, ours' drain time over the raw loop's)
BOUNDS = {"save 20x50": 6.0, "append 10 to each": 6.0, "load 20": 5.0,
          "append 100 to 3k-msg": 15.0, "load_session call": 3.5, "queue claim+complete": 7.0}


def seed_rounds(dsn: str) -> dict[str, float]:
    out: dict[str, float] = {}
    times: dict[str, dict[str, float]] = {}
    for label, klass in (("raw", raw_agent_runtime.Database), ("ours", pydal_adapter.Database)):
        db = klass(dsn)
        t: dict[str, float] = {}
        try:
            base, more = bar.msgs(50), bar.msgs(60)
            s = time.perf_counter()
            for i in range(20):
                db.save_session(f"s{i}", base, bar.T0)
            t["save 20x50"] = time.perf_counter() - s
            s = time.perf_counter()
            for i in range(20):
                db.save_session(f"s{i}", more, bar.T0)
            t["append 10 to each"] = time.perf_counter() - s
            s = time.perf_counter()
            for i in range(20):
                assert len(db.load_session(f"s{i}")["messages"]) == 60
            t["load 20"] = time.perf_counter() - s
            db.save_session("deep", bar.msgs(3000), bar.T0)
            s = time.perf_counter()
            db.save_session("deep", bar.msgs(3100), bar.T0)
            t["append 100 to 3k-msg"] = time.perf_counter() - s
        finally:
            db.drop()
        times[label] = t
    for k in times["ours"]:
        out[k] = times["ours"][k] / times["raw"][k]
    return out


def call_overhead(dsn: str) -> float:
    conn = connect(dsn, autocommit=True)
    ar.save_session(conn, "ovh", bar.msgs(5))
    sql_s = "select id, session_id, created_at, last_activity, is_active, deleted_at from sessions " \
            "where session_id = %s and deleted_at is null"
    sql_m = "select role, content, name, tool_call_id, tool_calls from messages where session_db_id = %s order by seq"

    def raw() -> None:
        row = conn.execute(sql_s, ("ovh",)).fetchone()
        conn.execute(sql_m, (row["id"],)).fetchall()

    best = {"ours": float("inf"), "raw": float("inf")}
    for _ in range(3):
        for label, fn in (("ours", lambda: ar.load_session(conn, "ovh")), ("raw", raw)):
            s = time.perf_counter()
            for _ in range(300):
                fn()
            best[label] = min(best[label], time.perf_counter() - s)
    conn.execute("delete from sessions where session_id = 'ovh'")
    conn.close()
    return best["ours"] / best["raw"]


def queue(dsn: str) -> float:
    """One worker, 300 tasks: ours vs a raw skip-locked loop on the same server."""
    with connect(dsn) as conn:
        conn.execute("truncate background_tasks restart identity cascade")
        conn.commit()
        for i in range(300):
            bt.enqueue_task(conn, f"s{i % 10}")
        s = time.perf_counter()
        while (job := bt.claim_next_task(conn, "w")) is not None:
            bt.complete_task(conn, job["task_id"], claim_id=job["claim_id"])
        ours = time.perf_counter() - s
    with psycopg.connect(dsn) as conn:
        # a logged table, as ours (a temp table would skip WAL and fsync)
        conn.execute("drop table if exists raw_tasks")
        conn.execute("create table raw_tasks (id bigint generated always as identity primary key, "
                     "status text not null default 'pending')")
        conn.execute("create index on raw_tasks (id) where status = 'pending'")
        conn.execute("insert into raw_tasks (status) select 'pending' from generate_series(1, 300)")
        conn.commit()
        s = time.perf_counter()
        while True:
            row = conn.execute("update raw_tasks set status = 'running' where id = (select id from raw_tasks "
                               "where status = 'pending' order by id limit 1 for update skip locked) "
                               "returning id").fetchone()
            conn.commit()
            if row is None:
                break
            conn.execute("update raw_tasks set status = 'done' where id = %s", row)
            conn.commit()
        raw = time.perf_counter() - s
        conn.execute("drop table raw_tasks")
        conn.commit()
    return ours / raw


def main() -> None:
    dsn = sys.argv[1]
    print(benchmeta.header(dsn), flush=True)
    ratios = seed_rounds(dsn)
    ratios["load_session call"] = call_overhead(dsn)
    ratios["queue claim+complete"] = queue(dsn)
    failed = []
    for k, r in ratios.items():
        ok = r <= BOUNDS[k]
        print(f"{k:24} ours/raw {r:6.2f}  bound {BOUNDS[k]:5.2f}  {'ok' if ok else 'REGRESSION'}")
        if not ok:
            failed.append(k)
    if failed:
        sys.exit(f"benchmark smoke: more than 3x the goal: {', '.join(failed)}")


if __name__ == "__main__":
    main()
