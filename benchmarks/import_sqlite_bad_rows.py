"""What bad rows cost the importer: --skip-bad-rows on a file with a share of bad rows.

    PYTHONPATH=. python benchmarks/import_sqlite_bad_rows.py --dsn postgresql://... [--rows 100000]
        [--bad 0.10] [--batch-size 5000]

Builds a shrinkage file (one material, 100 calculations, ``--rows`` calculation_data
points) in which a ``--bad`` share of the points is refused by the *server*, not by
conversion: half reference a calculation that does not exist (foreign key), half have a
metric the target's CHECK refuses (``'Mass KG'``), spread evenly through the file.
Creates a fresh database next to ``--dsn``, migrates it, imports twice -- the clean
file and the file with bad rows -- and prints rows, bad rows, seconds and the cost per
bad row over the clean run. The database is dropped afterwards.

Runs against whichever pydal_lite is imported first (the checkout it is started from),
so the same script measures an older version too.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from pydal_lite import migrate
from pydal_lite.dsn import with_database
from pydal_lite.import_sqlite import import_sqlite

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)

DDL = """
create table materials (id integer primary key, code text, name text, kind text, unit text,
    created_at datetime);
create table calculation_methods (code text primary key, name text, description text,
    created_at datetime);
create table calculations (id integer primary key, material_id integer, method_code text,
    parameters json, period_start datetime, period_end datetime, status text,
    created_at datetime, updated_at datetime, completed_at datetime);
create table calculation_data (calculation_id integer, observed_at datetime, metric text,
    value float, primary key (calculation_id, observed_at, metric));
"""


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, rows: int, bad: float) -> int:
    """The file; returns how many points the server must refuse."""
    every = round(1 / bad) if bad else 0
    refused = 0
    with sqlite3.connect(path) as db:
        db.executescript(DDL)
        db.execute(
            "insert into materials values (1, 'M-1', 'grain', 'material', 't', ?)", (ts(T0),)
        )
        db.execute("insert into calculation_methods values ('m', 'm', '', ?)", (ts(T0),))
        db.executemany(
            "insert into calculations values (?, 1, 'm', '{}', ?, ?, 'completed', ?, ?, ?)",
            [
                (c, ts(T0), ts(T0 + timedelta(days=30)), ts(T0), ts(T0), ts(T0))
                for c in range(1, 101)
            ],
        )

        def points():  # type: ignore[no-untyped-def]
            nonlocal refused
            for i in range(rows):
                calc, metric = i % 100 + 1, "mass_kg"
                if every and i % every == every // 2:
                    refused += 1
                    if refused % 2:
                        calc = 10_000 + i  # no such calculation: foreign key
                    else:
                        metric = "Mass KG"  # calculation_data_metric_check
                yield calc, ts(T0 + timedelta(seconds=i)), metric, 1000.0 - i * 1e-3

        db.executemany("insert into calculation_data values (?, ?, ?, ?)", points())
    db.close()
    return refused


def run(target: str, path: Path, batch: int, bad_file: Path | None) -> tuple[float, int, int]:
    started = time.perf_counter()
    report = import_sqlite(path, target, skip_bad_rows=bad_file, batch_size=batch, dry_run=True)
    seconds = time.perf_counter() - started
    data = report.table("calculation_data")
    return seconds, data.imported, data.skipped_bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bad", type=float, default=0.10)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    name = f"pydal_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    target = with_database(args.dsn, name)
    try:
        migrate.up(target)
        with tempfile.TemporaryDirectory() as tmp:
            clean, dirty = Path(tmp) / "clean.db", Path(tmp) / "dirty.db"
            build(clean, args.rows, 0)
            refused = build(dirty, args.rows, args.bad)
            t_clean, n_clean, _ = run(target, clean, args.batch_size, None)
            t_dirty, n_dirty, n_bad = run(target, dirty, args.batch_size, Path(tmp) / "bad.jsonl")
        assert n_bad == refused, (n_bad, refused)
        print(f"clean: {n_clean:,} points in {t_clean:.2f} s ({n_clean / t_clean:,.0f} rows/s)")
        print(
            f"bad:   {n_dirty:,} imported + {n_bad:,} bad in {t_dirty:.2f} s "
            f"({(n_dirty + n_bad) / t_dirty:,.0f} rows/s)"
        )
        extra = max(t_dirty - t_clean, 0.0)
        per_row = extra / max(n_bad, 1) * 1e3
        print(f"extra cost of the bad rows: {extra:.2f} s, {per_row:.3f} ms per bad row")
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
