"""Agent runtime timings: save_session appends, message paging at depth, search.

Usage: python benchmarks/agent_runtime_bench.py [DSN] [append|paging|bulky|search ...]
(DSN defaults to postgresql://postgres@127.0.0.1:5432/postgres; no case names = all.)

Creates a scratch database next to the given one, migrates it, measures, drops it.
Prints medians in milliseconds:
- append 1 message to a session already holding N messages (N = 100, 1,000, 10,000),
  and a first save of N messages (one INSERT per 1,000);
- one 50-message page at depth D of a 100,000-message session, keyset
  (get_messages_after) against page numbers (get_messages_paginated);
- bulky: append 1 message to a session holding 2,000 messages of about 50 KB each
  (incompressible text), and an unchanged re-save of it;
- search: search_messages(None, 'lorem', 20) over 1,000,000 messages that all contain
  the word, plus one rare word (generated in one insert ... select, then analyzed).
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


def _bulky(conn: Any) -> None:
    print("appending to 2,000 stored messages of ~50 KB each (100 MB of text)")
    conn.execute("insert into sessions (session_id) values ('bulky')")
    # ~50 KB of md5 hex per message: pglz cannot shrink it much, so it is TOASTed.
    conn.execute(
        "insert into messages (session_db_id, seq, role, content) "
        "select s.id, g, 'user', g || ' ' || (select string_agg(md5(g || '.' || k), ' ') "
        "from generate_series(1, 1500) k) "
        "from sessions s, generate_series(0, 1999) g where s.session_id = 'bulky'"
    )
    conn.execute("analyze messages")
    conn.commit()
    loaded = ar.load_session(conn, "bulky")
    assert loaded is not None
    msgs = loaded["messages"]
    size = sum(len(m["content"]) for m in msgs)
    print(f"  stored {len(msgs)} messages, {size / 1e6:.1f} MB of content")
    stored = [msgs]

    def append_one() -> None:
        stored[0] = [*stored[0], {"role": "user", "content": f"short {len(stored[0])}"}]
        ar.save_session(conn, "bulky", stored[0])

    append = _median_ms(append_one, 10)
    same = _median_ms(lambda: ar.save_session(conn, "bulky", stored[0]), 10)
    print(f"  append 1 {append:8.1f} ms   unchanged re-save {same:8.1f} ms")


def _search(conn: Any) -> None:
    print("search_messages over 1,000,000 messages containing 'lorem'")
    conn.execute(
        "insert into sessions (session_id) select 'lorem-' || g from generate_series(0, 999) g"
    )
    conn.execute(
        "insert into messages (session_db_id, seq, role, content) "
        "select s.id, g, 'user', 'lorem ipsum dolor sit amet step ' || g || ' of module ' "
        "|| (g % 97) || ' consectetur adipiscing elit' "
        "|| case when g % 50000 = 7 then ' zanzibar' else '' end "
        "from sessions s cross join generate_series(0, 999) g where s.session_id like 'lorem-%'"
    )
    conn.commit()
    conn.autocommit = True
    conn.execute("vacuum analyze messages")
    conn.execute("vacuum analyze sessions")
    conn.autocommit = False
    for word, repeat in (("lorem", 3), ("zanzibar", 10), ("lorem -amet", 3)):
        ms = _median_ms(lambda w=word: ar.search_messages(conn, None, w, 20), repeat)
        print(f"  {word!r:>15}: {ms:9.1f} ms")


def run(dsn: str, cases: set[str]) -> None:
    with connect(dsn) as conn:
        if "append" in cases:
            print("appending to a stored history")
            for n in (100, 1_000, 10_000):
                first, append, same = _append_case(conn, n)
                print(
                    f"  N={n:>6}: first save {first:8.1f} ms   append 1 {append:7.2f} ms   "
                    f"unchanged {same:7.2f} ms"
                )
        if "bulky" in cases:
            _bulky(conn)
        if "search" in cases:
            _search(conn)
        if "paging" not in cases:
            return

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
    args = sys.argv[1:]
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    if args and "://" in args[0]:
        admin = args.pop(0)
    cases = set(args) or {"append", "paging", "bulky", "search"}
    name = f"pydal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        dsn = with_database(admin, name)
        migrate.up(dsn)
        run(dsn, cases)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
