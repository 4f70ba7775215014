"""Where a queue task's time goes, one worker: claim -> complete per task, four ways.

  raw        bench_queue.py's raw peer (BEGIN, claim, COMMIT, BEGIN, done, COMMIT)
  pydal      background_tasks.claim_next_task -> complete_task, as bench_queue.py runs them
  pydal_tx   the same with each call in BEGIN/COMMIT, as before one_write (for comparison)
  sql        pydal's two statements sent by bare psycopg in autocommit (full RETURNING)
  sql_thin   the same with a claim returning task_id, claim_id only and a complete
             returning nothing: what the full rows cost

Per task: wall, client CPU (this process), backend CPU (the server process, read from
/proc: run on the database host), round trips (libpq protocol trace: Query + Sync).
Server statement times: enable pg_stat_statements on a private cluster, or perf the backend.

usage: python profile_queue.py DSN [--tasks 3000] [--rounds 3] [--kinds raw,pydal,sql,sql_thin]
DSN must be migrated by pydal_lite (the raw peer's table is created as bench_queue.py does).
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path[:0] = [_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))),
                 _os.path.dirname(_os.path.abspath(__file__))]

import argparse
import resource
import statistics
import tempfile
import time

import psycopg
from psycopg.rows import dict_row

import bench_queue as bq
from pydal_lite import background_tasks as bt
from pydal_lite import connect
from pydal_lite.sql import background_tasks as q

CLAIM, DONE = q._claim_next_task.sql, q._complete_task.sql
THIN = {CLAIM: CLAIM.split("returning")[0] + "returning t.task_id, t.claim_id",
        DONE: DONE.split("returning")[0]}
TICK = _os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def drain(kind: str, conn) -> int:
    done = 0
    while True:
        if kind.startswith("pydal"):
            job = bt.claim_next_task(conn, "w")
            if job is None:
                return done
            bt.complete_task(conn, job["task_id"], claim_id=job["claim_id"])
        elif kind == "raw":
            row = conn.execute(bq.RAW_CLAIM, ("w",)).fetchone()
            conn.commit()
            if row is None:
                return done
            conn.execute(bq.RAW_DONE, (row["id"],))
            conn.commit()
        else:
            sql = THIN if kind == "sql_thin" else {CLAIM: CLAIM, DONE: DONE}
            job = conn.execute(sql[CLAIM], {"worker": "w"}).fetchone()
            if job is None:
                return done
            cur = conn.execute(sql[DONE], {"task_id": str(job["task_id"]), "claim_id": str(job["claim_id"]),
                                           "import_result": None, "enrich_result": None, "analyze_result": None})
            if cur.description:
                cur.fetchone()
        done += 1


def run(kind: str, dsn: str, n: int) -> dict[str, float]:
    bq.reset_and_enqueue("raw" if kind == "raw" else "pydal_lite", dsn, n)
    for op in (bt.claim_next_task, bt.complete_task):
        op._one_write = kind != "pydal_tx"  # noqa: SLF001 - the comparison needs main's way
    conn = connect(dsn) if kind.startswith("pydal") else psycopg.connect(
        dsn, row_factory=dict_row, autocommit=kind.startswith("sql"))
    pid = conn.info.backend_pid
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        t, c0, b0 = time.perf_counter(), client_cpu(), backend_cpu(pid)
        done = drain(kind, conn)
        wall, c, b = time.perf_counter() - t, client_cpu() - c0, backend_cpu(pid) - b0
        conn.pgconn.untrace()
        trace.seek(0)
        trips = sum(1 for line in trace if line.startswith("F\t") and line.split("\t")[2].strip() in ("Query", "Sync"))
    conn.close()
    us = 1e6 / done
    return {"wall": wall * us, "client": c * us, "backend": b * us, "trips": trips / done}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dsn")
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default="raw,pydal,sql,sql_thin")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    res: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            d = run(kind, args.dsn, args.tasks)
            res[kind].append(d)
            print(f"round {r + 1} {kind:8} load {open('/proc/loadavg').read().split()[0]}: "
                  + "  ".join(f"{k} {v:.0f}" if k != "trips" else f"round trips {v:.2f}" for k, v in d.items()),
                  flush=True)
    print(f"\n{args.tasks:,} tasks, one worker; µs per task, median [min..max] of {args.rounds} rounds")
    for kind in kinds:
        cols = []
        for key in ("wall", "client", "backend"):
            v = [d[key] for d in res[kind]]
            cols.append(f"{key} {statistics.median(v):5.0f} [{min(v):.0f}..{max(v):.0f}]")
        print(f"  {kind:8} " + "   ".join(cols) + f"   round trips {res[kind][0]['trips']:.2f}")


if __name__ == "__main__":
    main()
