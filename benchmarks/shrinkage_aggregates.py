"""7-day buckets over a year: continuous aggregates vs raw rows (run by hand, not in tests).

    PYTHONPATH=. python benchmarks/shrinkage_aggregates.py \
        --dsn postgresql://postgres@127.0.0.1:5433/bench --calculations 10 --metrics 2

The database must be migrated (``python -m pydal_lite.migrate --dsn ...``) and have
TimescaleDB for the comparison to mean anything (without it both sides read raw rows).
The script writes a year of 10-minute points for ``--calculations`` calculations and
``--metrics`` metrics (10 x 2 = 1,051,200 rows) through ``shrinkage.ingest_calculation_data``
(COPY), analyzes, materializes both continuous aggregates with
``refresh_continuous_aggregate`` (timed), then times each query ``--runs`` times after one
warm-up run and prints the median:

- ``list_metric_buckets``: one metric, 7-day buckets over the year, across calculations;
- ``list_downsampled_calculation_data``: one calculation, 7-day buckets over the year;

each from raw rows (the ``date_bin`` query) and from the aggregates (the ``_rollup``
query), and checks that both give the same rows. It deletes what it created unless
``--keep``.

Measured on PostgreSQL 15.20 with TimescaleDB 2.28.3 (built from source, 2 shared cores),
10 calculations x 2 metrics = 1,048,320 rows: refresh 6.5 s (hourly) + 1.4 s (daily);
list_metric_buckets raw 901.5 ms, aggregate 12.4 ms (72x); list_downsampled_calculation_data
raw 146.0 ms, aggregate 5.7 ms (25x); same rows both ways.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from pydal_lite import connect, shrinkage
from pydal_lite.queries import shrinkage as qs

T0 = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday
YEAR = timedelta(days=364)  # 52 whole weeks
STEP = timedelta(minutes=10)
METRICS = ("mass_kg", "temperature_c", "humidity_pct", "volume_m3")


def points(metrics: tuple[str, ...], seed: int) -> Iterator[tuple[datetime, str, float]]:
    for i in range(YEAR // STEP):
        t = T0 + i * STEP
        for k, m in enumerate(metrics):
            yield t, m, 1000.0 - i * 1e-3 + seed + k * ((i * 7919) % 97) / 10


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up (and the result to compare)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def same(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for k in x:
            if isinstance(x[k], float):
                if not math.isclose(x[k], y[k], rel_tol=1e-9):
                    return False
            elif x[k] != y[k]:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("PYDAL_BENCH_DSN", ""))
    parser.add_argument("--calculations", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=2, choices=range(1, len(METRICS) + 1))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn or set PYDAL_BENCH_DSN")
    metrics = METRICS[: args.metrics]

    tag = uuid.uuid4().hex[:8]
    with connect(args.dsn) as conn:
        info = conn.execute(
            "select current_setting('server_version') as v,"
            " (select extversion from pg_extension where extname = 'timescaledb') as ts,"
            " to_regclass('calculation_data_hourly') is not null as caggs"
        ).fetchone()
        conn.commit()
        assert info is not None
        print(
            f"server {info['v']}, TimescaleDB {info['ts']}, continuous aggregates: {info['caggs']}"
        )
        material = shrinkage.create_material(conn, f"bench-{tag}", "benchmark", unit="kg")
        method = f"bench_{tag}"
        shrinkage.create_calculation_method(conn, method, "benchmark")
        calcs = []
        started = time.perf_counter()
        rows = 0
        for n in range(args.calculations):
            calc = shrinkage.create_calculation(
                conn, material["id"], method, period_start=T0, period_end=T0 + YEAR
            )
            calcs.append(calc)
            rows += shrinkage.ingest_calculation_data(conn, calc["id"], points(metrics, n))
        print(f"ingested {rows:,} rows in {time.perf_counter() - started:.1f} s")
        conn.autocommit = True
        conn.execute("analyze calculation_data")
        if info["caggs"]:
            for view in ("calculation_data_hourly", "calculation_data_daily"):
                started = time.perf_counter()
                conn.execute(
                    "call refresh_continuous_aggregate(%s, %s::timestamptz, %s::timestamptz)",
                    (view, T0, T0 + YEAR),
                )
                conn.execute(f"analyze {view}")  # fixed names: allow-list of two
                print(f"refresh {view}: {time.perf_counter() - started:.1f} s")

        week = {"bucket": timedelta(days=7), "since": T0, "until": T0 + YEAR}
        one = calcs[len(calcs) // 2]["id"]
        cases = [
            (
                "list_metric_buckets (1 metric, all calculations)",
                lambda: qs.list_metric_buckets(conn, metric=metrics[0], **week),
                lambda: qs.list_metric_buckets_rollup(conn, metric=metrics[0], **week),
            ),
            (
                "list_downsampled_calculation_data (1 calculation)",
                lambda: qs.list_downsampled_calculation_data(conn, calculation_id=one, **week),
                lambda: qs.list_downsampled_calculation_data_rollup(
                    conn, calculation_id=one, **week
                ),
            ),
        ]
        for name, raw, rollup in cases:
            raw_ms, raw_rows = median_ms(raw, args.runs)
            agg_ms, agg_rows = median_ms(rollup, args.runs)
            print(
                f"{name}, 7-day buckets over {YEAR.days} days: raw {raw_ms:.1f} ms, "
                f"aggregate {agg_ms:.1f} ms, speed-up {raw_ms / agg_ms:.1f}x "
                f"({len(agg_rows)} rows, same as raw: {same(raw_rows, agg_rows)})"
            )

        if not args.keep:
            conn.autocommit = False
            for calc in calcs:
                shrinkage.delete_calculation(conn, calc["id"])
            conn.execute("delete from calculations where method_code = %s", (method,))
            conn.execute("delete from calculation_methods where code = %s", (method,))
            conn.execute("delete from materials where id = %s", (material["id"],))
            conn.commit()


if __name__ == "__main__":
    main()
