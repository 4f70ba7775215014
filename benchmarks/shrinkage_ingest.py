"""COPY ingest rate of calculation_data (run by hand, not part of the test suite).

    python benchmarks/shrinkage_ingest.py --dsn postgresql://postgres@127.0.0.1:5432/bench \
        --rows 1000000 --batch 100000

The database must be migrated (``python -m pydal_lite.migrate --dsn ...``). The script
creates one material and calculation with a unique code, ingests ``--rows`` points in
calls of ``--batch`` points through ``shrinkage.ingest_calculation_data`` (one COPY per
call), prints rows per second, and deletes what it created unless ``--keep``.
With ``--compare-insert N`` it also times N rows through executemany inserts.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from pydal_lite import connect, shrinkage

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
METRICS = ("mass_kg", "temperature_c", "humidity_pct", "volume_m3")


def points(start: int, count: int) -> Iterator[tuple[datetime, str, float]]:
    """``count`` points from index ``start``: one timestamp per len(METRICS) points."""
    for i in range(start, start + count):
        step, metric = divmod(i, len(METRICS))
        yield T0 + timedelta(seconds=10 * step), METRICS[metric], 1000.0 - step * 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("PYDAL_BENCH_DSN", ""))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--compare-insert", type=int, default=0, metavar="N")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn or set PYDAL_BENCH_DSN")

    tag = uuid.uuid4().hex[:8]
    with connect(args.dsn) as conn:
        info = conn.execute(
            "select current_setting('server_version') as v,"
            " (select extversion from pg_extension where extname = 'timescaledb') as ts"
        ).fetchone()
        conn.commit()
        material = shrinkage.create_material(conn, f"bench-{tag}", "benchmark", unit="kg")
        method = f"bench_{tag}"
        shrinkage.create_calculation_method(conn, method, "benchmark")
        calc = shrinkage.create_calculation(
            conn,
            material["id"],
            method,
            period_start=T0,
            period_end=T0 + timedelta(days=3650),
        )
        started = time.perf_counter()
        done = 0
        while done < args.rows:
            n = min(args.batch, args.rows - done)
            done += shrinkage.ingest_calculation_data(conn, calc["id"], points(done, n))
        copy_s = time.perf_counter() - started
        print(
            f"server {info['v'] if info else '?'}, TimescaleDB {info['ts'] if info else None}: "
            f"COPY {done:,} rows in {copy_s:.2f} s = {done / copy_s:,.0f} rows/s "
            f"(batches of {args.batch:,})"
        )

        if args.compare_insert:
            other = shrinkage.create_calculation(
                conn, material["id"], method, period_start=T0, period_end=T0 + timedelta(1)
            )
            rows = [(other["id"], t, m, v) for t, m, v in points(0, args.compare_insert)]
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "insert into calculation_data (calculation_id, observed_at, metric, value)"
                    " values (%s, %s, %s, %s)",
                    rows,
                )
            ins_s = time.perf_counter() - started
            print(
                f"executemany insert {len(rows):,} rows in {ins_s:.2f} s = "
                f"{len(rows) / ins_s:,.0f} rows/s"
            )

        if not args.keep:
            for row in shrinkage.list_material_calculations(conn, material["id"]):
                shrinkage.delete_calculation(conn, row["id"])
            conn.execute("delete from materials where id = %s", (material["id"],))
            conn.execute("delete from calculation_methods where code = %s", (method,))
            conn.commit()


if __name__ == "__main__":
    main()
