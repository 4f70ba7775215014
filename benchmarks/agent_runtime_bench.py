"""Agent runtime timings: save_session appends and message paging at depth.

Usage: python benchmarks/agent_runtime_bench.py postgresql://postgres@127.0.0.1:5432/postgres

Creates a scratch database next to the given one, migrates it, measures, drops it.
Prints medians in milliseconds:
- append 1 message to a session already holding N messages (N = 100, 1,000, 10,000),
  and a first save of N messages (one INSERT per 1,000);
- one 50-message page at depth D of a 100,000-message session, keyset
  (get_messages_after) against page numbers (get_messages_paginated).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pydal_lite import agent_runtime as ar
from pydal_lite import connect, migrate
from pydal_lite.dsn import with_database


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _msgs(n: int) -> list[dict[str, Any]]:
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message {i} about the deploy of module {i % 97} " * 4,
        }
        for i in range(n)
    ]


def _append_case(conn: Any, n: int) -> tuple[float, float, float]:
    base = _msgs(n + 20)
    first = _median_ms(lambda: ar.save_session(conn, f"first-{uuid.uuid4()}", base[:n]), 3)
    sid = f"append-{n}"
    ar.save_session(conn, sid, base[:n])
    stored = [n]

    def append_one() -> None:
        stored[0] += 1
        ar.save_session(conn, sid, base[: stored[0]])

    append = _median_ms(append_one, 20)
    same = _median_ms(lambda: ar.save_session(conn, sid, base[: stored[0]]), 10)
    return first, append, same


def run(dsn: str) -> None:
    with connect(dsn) as conn:
        print("appending to a stored history")
        for n in (100, 1_000, 10_000):
            first, append, same = _append_case(conn, n)
            print(
                f"  N={n:>6}: first save {first:8.1f} ms   append 1 {append:7.2f} ms   "
                f"unchanged {same:7.2f} ms"
            )

        print("paging a 100,000-message session (50 per page)")
        conn.execute("insert into sessions (session_id) values ('deep')")
        conn.execute(
            "insert into messages (session_db_id, seq, role, content) "
            "select s.id, g, 'user', 'message ' || g from sessions s, "
            "generate_series(0, 99999) g where s.session_id = 'deep'"
        )
        conn.execute("analyze messages")
        conn.commit()
        for depth in (0, 10_000, 50_000, 99_900):
            keyset = _median_ms(
                lambda d=depth: ar.get_messages_after(conn, "deep", d - 1 if d else None, 50), 20
            )
            paged = _median_ms(
                lambda d=depth: ar.get_messages_paginated(conn, "deep", d // 50 + 1, 50), 20
            )
            print(f"  depth {depth:>6}: keyset {keyset:6.2f} ms   page number {paged:6.2f} ms")


def main() -> None:
    admin = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"pydal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        dsn = with_database(admin, name)
        migrate.up(dsn)
        run(dsn)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
