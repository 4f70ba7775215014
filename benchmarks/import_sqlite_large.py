"""Import a large SQLite file and report rows per second and memory.

    python benchmarks/import_sqlite_large.py --dsn postgresql://... [--sessions 10000]
        [--messages 100] [--layout old|new] [--keep]

Builds ``--sessions`` sessions of ``--messages`` messages each (1M messages by default)
in the old two-table agent-runtime layout (JSON lists, expanded on import) or in the new
four-table SQLAlchemy layout (a plain table copy), into a temporary SQLite file, creates
a fresh database next to ``--dsn`` (the server's maintenance database), migrates it,
imports, and prints: rows, seconds, rows per second, peak RSS growth during the import
(resource.getrusage) and, with ``--tracemalloc``, the peak of traced Python allocations.
The database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sqlite_fixtures import NEW_AGENT_DDL, build_legacy_agent_runtime

from pydal_lite import migrate
from pydal_lite.dsn import with_database
from pydal_lite.import_sqlite import ConsoleProgress, import_sqlite

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def build_new(path: Path, sessions: int, messages: int) -> None:
    def ts(seconds: int) -> str:
        return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")

    with sqlite3.connect(path) as db:
        db.executescript(NEW_AGENT_DDL)
        db.executemany(
            "insert into sessions values (?, ?, ?, ?, 1, null)",
            ((s, f"s{s}", ts(s), ts(s + 60)) for s in range(1, sessions + 1)),
        )
        db.executemany(
            "insert into messages values (?, ?, ?, ?, ?, null, null, null, ?, ?)",
            (
                (
                    s * messages + m,
                    s,
                    "user" if m % 2 else "assistant",
                    f"message {m} of session {s}: " + "x" * 200,
                    ts(s + m),
                    m,
                    json.dumps({"m": m}),
                )
                for s in range(1, sessions + 1)
                for m in range(messages)
            ),
        )
    db.close()


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="server to create the scratch database on")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--layout", choices=("old", "new"), default="old")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    name = f"pydal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    target = with_database(args.dsn, name)
    try:
        migrate.up(target)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "large.db"
            started = time.monotonic()
            if args.layout == "old":
                build_legacy_agent_runtime(path, sessions=args.sessions, messages=args.messages)
            else:
                build_new(path, args.sessions, args.messages)
            print(
                f"built {path.stat().st_size / 2**20:.0f} MiB SQLite file "
                f"({args.layout} layout) in {time.monotonic() - started:.1f} s"
            )
            rss_before = rss_mib()
            if args.tracemalloc:
                tracemalloc.start()
            started = time.monotonic()
            report = import_sqlite(
                path, target, batch_size=args.batch_size, progress=ConsoleProgress()
            )
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
            rss_after = rss_mib()
        print(report.format_table())
        rows = report.imported
        print(f"{rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")
        print(
            f"peak RSS {rss_after:.0f} MiB, "
            f"growth during the import {rss_after - rss_before:.0f} MiB"
        )
        if peak is not None:
            print(f"peak traced Python memory {peak / 2**20:.1f} MiB")
    finally:
        if not args.keep:
            with psycopg.connect(args.dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
