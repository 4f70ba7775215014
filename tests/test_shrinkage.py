"""Shrinkage time series: migration 0010, COPY ingest, range/bucket/as-of queries.

Everything runs on plain PostgreSQL; the hypertable checks are marked ``timescale``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from catalog import snapshot, tables_in, version_below
from fix_db import rolled_back

from pydal_lite import InvalidInput, InvalidTransition, NotFound, migrate, shrinkage
from pydal_lite.connection import AsyncConnection, Connection, connect
from pydal_lite.migrate import Migrator, Options
from pydal_lite.runtime import Step
from pydal_lite.sql import shrinkage as q
from pydal_lite.validate import naive_timezone_as

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday: buckets of 1 day/1 week start here
TABLES = ("materials", "calculation_methods", "coefficient_types", "calculations",
          "calculation_data", "coefficients")  # fmt: skip


# -- helpers ---------------------------------------------------------------------


def _setup(conn: Connection, code: str = "wheat") -> dict[str, Any]:
    """A material, a method and a coefficient type; returns the material row."""
    material = shrinkage.create_material(conn, code, "Wheat, 3rd class", unit="t")
    with conn.transaction():  # on an own_db connection the operations then commit their own
        missing = conn.execute("select 1 from calculation_methods").fetchone() is None
    if missing:
        shrinkage.create_calculation_method(conn, "natural_loss_norm", "Natural loss norm")
        shrinkage.create_coefficient_type(
            conn, "natural_loss_rate", "Natural loss rate", unit="percent"
        )
        shrinkage.create_coefficient_type(conn, "moisture_factor", "Moisture", unit="ratio")
    return material


def _calculation(conn: Connection, material_id: int, days: int = 28) -> dict[str, Any]:
    return shrinkage.create_calculation(
        conn,
        material_id,
        "natural_loss_norm",
        period_start=T0,
        period_end=T0 + timedelta(days=days),
        parameters={"norm_pct": 0.12, "storage": "silo"},
    )


def _series(hours: int, metrics: tuple[str, ...] = ("mass_t", "temperature_c")) -> list[Any]:
    """Hourly points from T0: mass falls by 0.01 per hour, temperature cycles."""
    points = []
    for h in range(hours):
        t = T0 + timedelta(hours=h)
        for m in metrics:
            value = 1000.0 - 0.01 * h if m == "mass_t" else 10.0 + (h % 24) / 2
            points.append((t, m, value))
    return points


def _plan(conn: Connection, step: Step[Any]) -> str:
    rows = conn.execute(f"explain (costs off) {step.sql}", step.params).fetchall()
    return "\n".join(next(iter(r.values())) for r in rows)


# -- migration ---------------------------------------------------------------------


def test_tables_have_comments_and_time_in_every_key(conn: Connection) -> None:
    for table in TABLES:
        row = conn.execute(
            "select obj_description(%s::regclass, 'pg_class') as c", (table,)
        ).fetchone()
        assert row and row["c"], f"{table} has no comment"
    keys = conn.execute(
        """
        select conrelid::regclass::text as t, pg_get_constraintdef(oid) as def
        from pg_constraint
        where contype in ('p', 'u')
            and conrelid in ('calculation_data'::regclass, 'coefficients'::regclass)
        """
    ).fetchall()
    assert {k["t"] for k in keys} == {"calculation_data", "coefficients"}
    for k in keys:
        time_column = "observed_at" if k["t"] == "calculation_data" else "valid_from"
        assert time_column in k["def"], k


def test_time_index_is_brin_without_timescale_btree_with_it(conn: Connection, server: Any) -> None:
    # 0011 renamed the BRIN one, so the name says which kind it is
    rows = conn.execute(
        """
        select i.relname as name, am.amname
        from pg_index x
        join pg_class i on i.oid = x.indexrelid
        join pg_am am on am.oid = i.relam
        where x.indrelid = 'calculation_data'::regclass and not x.indisprimary
        """
    ).fetchall()
    if server.timescale:
        assert rows == [{"name": "calculation_data_observed_at_idx", "amname": "btree"}]
    else:
        assert rows == [{"name": "calculation_data_observed_at_brin_idx", "amname": "brin"}]


def test_down_and_up_of_0010_restores_the_same_catalog(dsn: str, server: Any) -> None:
    before = snapshot(dsn, only_tables=TABLES)
    below = version_below(dsn, "0010")
    with psycopg.connect(dsn) as c:
        ext_before = c.execute(
            "select obj_description(oid, 'pg_extension') from pg_extension"
            " where extname = 'timescaledb'"
        ).fetchone()
    created_by_0010 = ext_before is not None and "migration 0010" in (ext_before[0] or "")
    rolled = migrate.down(dsn, target=below)
    assert "0010" in [m.version for m in rolled]
    assert not set(TABLES) & tables_in(dsn)
    with psycopg.connect(dsn) as c:
        # dropped only if 0010 created it; kept if it was there before
        ext = c.execute("select 1 from pg_extension where extname = 'timescaledb'").fetchone()
        assert (ext is None) == (created_by_0010 or ext_before is None)
        assert server.timescale is None or created_by_0010 or ext is not None

    notices: list[str] = []
    with migrate.connect(dsn) as c:
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        applied = Migrator(c, Options(out=lambda _: None)).up()
    assert "0010" in [m.version for m in applied]
    assert snapshot(dsn, only_tables=TABLES) == before
    text = " ".join(notices)
    if server.timescale:
        assert "are hypertables" in text
    else:
        assert "no TimescaleDB" in text
        assert "BRIN" in text


# -- calculations ----------------------------------------------------------------------


def test_calculation_lifecycle(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    assert calc["status"] == "pending"
    assert calc["parameters"] == {"norm_pct": 0.12, "storage": "silo"}
    assert calc["completed_at"] is None

    running = shrinkage.set_calculation_status(conn, calc["id"], "running")
    assert running["status"] == "running" and running["completed_at"] is None
    done = shrinkage.set_calculation_status(
        conn, calc["id"], "completed", result={"loss_t": 1.2, "loss_pct": 0.12}
    )
    assert done["status"] == "completed"
    assert done["result"] == {"loss_t": 1.2, "loss_pct": 0.12}
    assert done["completed_at"] is not None
    assert done["updated_at"] >= running["updated_at"]

    with pytest.raises(InvalidInput, match="cannot move from 'completed' to 'running'"):
        shrinkage.set_calculation_status(conn, calc["id"], "running")
    assert [c["id"] for c in shrinkage.list_material_calculations(conn, material["id"])] == [
        calc["id"]
    ]


def test_refused_status_move_is_an_invalid_transition(conn: Connection) -> None:
    calc = _calculation(conn, _setup(conn)["id"])
    with pytest.raises(InvalidTransition, match="cannot move from 'pending' to 'completed'"):
        shrinkage.set_calculation_status(conn, calc["id"], "completed")
    assert shrinkage.get_calculation(conn, calc["id"])["status"] == "pending"


def test_calculation_input_is_checked(conn: Connection) -> None:
    material = _setup(conn)
    with pytest.raises(InvalidInput, match="period_end must be after period_start"):
        shrinkage.create_calculation(
            conn, material["id"], "natural_loss_norm", period_start=T0, period_end=T0
        )
    with naive_timezone_as(None), pytest.raises(InvalidInput, match="timezone-aware"):
        shrinkage.create_calculation(
            conn,
            material["id"],
            "natural_loss_norm",
            period_start=datetime(2024, 1, 1),
            period_end=T0,
        )
    with pytest.raises(InvalidInput, match="cannot be encoded as JSON"):
        shrinkage.create_calculation(
            conn,
            material["id"],
            "natural_loss_norm",
            period_start=T0,
            period_end=T0 + timedelta(days=1),
            parameters={"when": T0},
        )
    with pytest.raises(NotFound, match="no material with id 999999"):
        shrinkage.create_calculation(
            conn, 999999, "natural_loss_norm", period_start=T0, period_end=T0 + timedelta(1)
        )
    with pytest.raises(NotFound, match="no calculation method 'nope'"):
        shrinkage.create_calculation(
            conn, material["id"], "nope", period_start=T0, period_end=T0 + timedelta(1)
        )
    with pytest.raises(InvalidInput, match="unknown status 'done'"):
        shrinkage.set_calculation_status(conn, 1, "done")
    with pytest.raises(NotFound, match="no calculation with id 424242"):
        shrinkage.set_calculation_status(conn, 424242, "running")
    with pytest.raises(InvalidInput, match="material code 'wheat' already exists"):
        shrinkage.create_material(conn, "wheat", "again", unit="t")


def test_database_enforces_status_and_period(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    check = psycopg.errors.CheckViolation
    with pytest.raises(check, match="calculations_status_check"), conn.transaction():
        conn.execute("update calculations set status = 'done' where id = %s", (calc["id"],))
    with pytest.raises(check, match="calculations_completed_at_check"), conn.transaction():
        conn.execute("update calculations set status = 'completed' where id = %s", (calc["id"],))


# -- COPY ingest and range scan ---------------------------------------------------------


def test_copy_ingest_and_range_scan(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    points = _series(48)
    assert shrinkage.ingest_calculation_data(conn, calc["id"], iter(points)) == 96

    rows = shrinkage.list_calculation_data(
        conn, calc["id"], since=T0 + timedelta(hours=10), until=T0 + timedelta(hours=12)
    )
    assert [(r["observed_at"], r["metric"], r["value"]) for r in rows] == [
        (T0 + timedelta(hours=10), "mass_t", 999.9),
        (T0 + timedelta(hours=10), "temperature_c", 15.0),
        (T0 + timedelta(hours=11), "mass_t", 999.89),
        (T0 + timedelta(hours=11), "temperature_c", 15.5),
    ]


def test_bad_point_mid_stream_writes_nothing(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    points = _series(10)
    points.insert(7, (T0, "mass_t", float("nan")))
    with pytest.raises(InvalidInput, match=r"point 7 value must be a finite number, got nan"):
        shrinkage.ingest_calculation_data(conn, calc["id"], points)
    bad_time = [(datetime(2024, 3, 4), "mass_t", 1.0)]
    with (
        naive_timezone_as(None),
        pytest.raises(InvalidInput, match="point 0 observed_at must be a timezone-aware"),
    ):
        shrinkage.ingest_calculation_data(conn, calc["id"], bad_time)
    with pytest.raises(InvalidInput, match="point 0 must be"):
        shrinkage.ingest_calculation_data(conn, calc["id"], [(T0, "mass_t")])
    with pytest.raises(InvalidInput, match="point 0 metric must match"):
        shrinkage.ingest_calculation_data(conn, calc["id"], [(T0, "Mass t", 1.0)])
    assert conn.execute("select count(*) as n from calculation_data").fetchone() == {"n": 0}


def test_duplicate_point_and_unknown_calculation(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    assert shrinkage.ingest_calculation_data(conn, calc["id"], _series(3)) == 6
    again = [*_series(5)[6:], (T0, "mass_t", 1.0)]  # new points, then a stored one
    with pytest.raises(InvalidInput, match=r"calculation \d+ already has a point"):
        shrinkage.ingest_calculation_data(conn, calc["id"], again)
    assert shrinkage.list_calculation_data(
        conn, calc["id"], since=T0, until=T0 + timedelta(days=1)
    ) == shrinkage.list_calculation_data(conn, calc["id"], since=T0, until=T0 + timedelta(hours=3))
    with pytest.raises(NotFound, match="no calculation with id 777"):
        shrinkage.ingest_calculation_data(conn, 777, _series(1))


def test_deleting_a_calculation_deletes_its_series(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    shrinkage.ingest_calculation_data(conn, calc["id"], _series(24 * 9))  # two chunks
    assert shrinkage.delete_calculation(conn, calc["id"]) == 1
    assert conn.execute("select count(*) as n from calculation_data").fetchone() == {"n": 0}
    assert shrinkage.delete_calculation(conn, calc["id"]) == 0


async def test_async_ingest_and_reads(aconn: AsyncConnection) -> None:
    material = await shrinkage.create_material(aconn, "barley", "Barley", unit="t")
    await shrinkage.create_calculation_method(aconn, "measured_balance", "Measured balance")
    calc = await shrinkage.create_calculation(
        aconn,
        material["id"],
        "measured_balance",
        period_start=T0,
        period_end=T0 + timedelta(days=2),
    )
    assert await shrinkage.ingest_calculation_data(aconn, calc["id"], _series(48)) == 96
    rows = await shrinkage.list_calculation_data(
        aconn, calc["id"], since=T0, until=T0 + timedelta(hours=1)
    )
    assert [r["metric"] for r in rows] == ["mass_t", "temperature_c"]
    down = await shrinkage.list_downsampled_calculation_data(
        aconn, calc["id"], bucket=timedelta(days=1)
    )
    assert [(r["bucket_start"], r["metric"], r["samples"]) for r in down] == [
        (T0, "mass_t", 24),
        (T0, "temperature_c", 24),
        (T0 + timedelta(days=1), "mass_t", 24),
        (T0 + timedelta(days=1), "temperature_c", 24),
    ]


# -- bucketed aggregates and downsampling -------------------------------------------------


def test_downsampling_matches_python(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"], days=3)
    points = _series(72)
    shrinkage.ingest_calculation_data(conn, calc["id"], points)
    rows = shrinkage.list_downsampled_calculation_data(conn, calc["id"], bucket=timedelta(hours=6))
    expected: dict[tuple[datetime, str], list[tuple[datetime, float]]] = defaultdict(list)
    for t, m, v in points:
        start = T0 + timedelta(hours=6 * ((t - T0) // timedelta(hours=6)))
        expected[(start, m)].append((t, v))
    assert len(rows) == len(expected) == 24
    for r in rows:
        values = expected[(r["bucket_start"], r["metric"])]
        assert r["samples"] == len(values) == 6
        assert math.isclose(r["avg_value"], sum(v for _, v in values) / 6)
        assert r["min_value"] == min(v for _, v in values)
        assert r["max_value"] == max(v for _, v in values)
        assert r["last_value"] == max(values)[1]

    # an explicit window narrower than the calculation's period
    part = shrinkage.list_downsampled_calculation_data(
        conn, calc["id"], bucket=timedelta(days=1), since=T0 + timedelta(days=1)
    )
    assert {r["bucket_start"] for r in part} == {T0 + timedelta(days=1), T0 + timedelta(days=2)}
    with pytest.raises(InvalidInput, match="bucket must be a timedelta above 0"):
        shrinkage.list_downsampled_calculation_data(conn, calc["id"], bucket=timedelta(0))


def test_metric_buckets_across_calculations(conn: Connection) -> None:
    wheat = _setup(conn, "wheat")
    rye = _setup(conn, "rye")
    a, b = _calculation(conn, wheat["id"]), _calculation(conn, wheat["id"])
    c = _calculation(conn, rye["id"])
    for calc in (a, b, c):
        shrinkage.ingest_calculation_data(conn, calc["id"], _series(24 * 14))
    rows = shrinkage.list_metric_buckets(
        conn, "mass_t", bucket=timedelta(weeks=1), since=T0, until=T0 + timedelta(weeks=2)
    )
    assert [(r["bucket_start"], r["material_id"]) for r in rows] == [
        (T0, wheat["id"]),
        (T0, rye["id"]),
        (T0 + timedelta(weeks=1), wheat["id"]),
        (T0 + timedelta(weeks=1), rye["id"]),
    ]
    first_wheat = rows[0]
    assert first_wheat["calculations"] == 2
    assert first_wheat["samples"] == 2 * 24 * 7
    assert first_wheat["max_value"] == 1000.0
    assert math.isclose(first_wheat["min_value"], 1000.0 - 0.01 * (24 * 7 - 1))
    with pytest.raises(InvalidInput, match="until must be after since"):
        shrinkage.list_metric_buckets(conn, "mass_t", bucket=timedelta(days=1), since=T0, until=T0)


# -- coefficients ---------------------------------------------------------------------


def test_coefficient_as_of(conn: Connection) -> None:
    material = _setup(conn)
    winter = datetime(2023, 10, 1, tzinfo=UTC)
    summer = datetime(2024, 4, 1, tzinfo=UTC)
    count = shrinkage.ingest_coefficients(
        conn,
        material["id"],
        [
            ("natural_loss_rate", winter, 0.09),
            ("natural_loss_rate", summer, 0.12),
            ("moisture_factor", winter, 1.02),
        ],
    )
    assert count == 3
    assert (
        shrinkage.get_coefficient_as_of(
            conn, material["id"], "natural_loss_rate", at=winter - timedelta(seconds=1)
        )
        is None
    )
    at_start = shrinkage.get_coefficient_as_of(conn, material["id"], "natural_loss_rate", at=winter)
    assert at_start is not None and at_start["value"] == 0.09
    mid = shrinkage.get_coefficient_as_of(conn, material["id"], "natural_loss_rate", at=T0)
    assert mid is not None and mid["value"] == 0.09 and mid["valid_from"] == winter
    later = shrinkage.get_coefficient_as_of(
        conn, material["id"], "natural_loss_rate", at=summer + timedelta(days=30)
    )
    assert later is not None and later["value"] == 0.12

    all_at = shrinkage.list_coefficients_as_of(conn, material["id"], at=summer)
    assert [(r["coefficient_code"], r["value"]) for r in all_at] == [
        ("moisture_factor", 1.02),
        ("natural_loss_rate", 0.12),
    ]
    with pytest.raises(NotFound, match="unknown material or coefficient type"):
        shrinkage.ingest_coefficients(conn, material["id"], [("no_such_kind", summer, 1.0)])
    with pytest.raises(InvalidInput, match="already has a coefficient value"):
        shrinkage.ingest_coefficients(conn, material["id"], [("moisture_factor", winter, 1.0)])


# -- plans on a table large enough for the planner to care ---------------------------------


@pytest.fixture(scope="module")
def big_db(module_dsn: str) -> dict[str, Any]:
    """40 calculations x 14 days hourly x 2 metrics (26,880 rows), 1,040 coefficient values;
    built once for the module: its DSN, the material and one calculation."""
    with connect(module_dsn) as conn:
        return {"dsn": module_dsn, **_fill_big(conn)}


@pytest.fixture
def big(big_db: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The module's data set and a connection to it (``conn``), rolled back after the test."""
    with rolled_back(big_db["dsn"]) as c:
        yield {**big_db, "conn": c}


def _fill_big(conn: Connection) -> dict[str, Any]:
    material = _setup(conn)
    calcs = [_calculation(conn, material["id"]) for _ in range(40)]
    points = _series(24 * 14)
    for calc in calcs:
        shrinkage.ingest_calculation_data(conn, calc["id"], points)
    for code in ("natural_loss_rate", "moisture_factor"):
        shrinkage.ingest_coefficients(
            conn,
            material["id"],
            [(code, T0 - timedelta(days=7 * i), 0.1 + i / 1000) for i in range(520)],
        )
    conn.execute("analyze calculation_data")
    conn.execute("analyze coefficients")
    conn.commit()
    return {"material": material, "calc": calcs[17]}


def test_range_scan_uses_the_primary_key(big: dict[str, Any], server: Any) -> None:
    conn = big["conn"]
    plan = _plan(
        conn,
        q.list_calculation_data(
            calculation_id=big["calc"]["id"], since=T0, until=T0 + timedelta(days=2)
        ),
    )
    assert "calculation_data_pkey" in plan, plan
    assert "Seq Scan" not in plan, plan
    if not server.timescale:
        # one index range scan already in order; on a chunk the planner may pick a
        # bitmap scan of the same index plus a small sort instead
        assert "Sort" not in plan, plan


def test_as_of_lookup_uses_the_primary_key_backwards(big: dict[str, Any]) -> None:
    conn = big["conn"]
    plan = _plan(
        conn,
        q.get_coefficient_as_of(
            material_id=big["material"]["id"],
            coefficient_code="natural_loss_rate",
            at=T0 - timedelta(days=100),
        ),
    )
    assert "coefficients_pkey" in plan, plan
    assert "Backward" in plan, plan
    assert "Sort" not in plan, plan
    row = shrinkage.get_coefficient_as_of(
        conn, big["material"]["id"], "natural_loss_rate", at=T0 - timedelta(days=100)
    )
    assert row is not None and row["valid_from"] == T0 - timedelta(days=105)


# -- TimescaleDB -----------------------------------------------------------------------


@pytest.mark.timescale
def test_both_time_series_are_hypertables_with_chosen_intervals(conn: Connection) -> None:
    rows = conn.execute(
        """
        select hypertable_name::text as t, column_name::text as c, time_interval
        from timescaledb_information.dimensions
        where hypertable_name in ('calculation_data', 'coefficients')
        order by 1
        """
    ).fetchall()
    assert rows == [
        {"t": "calculation_data", "c": "observed_at", "time_interval": timedelta(days=7)},
        {"t": "coefficients", "c": "valid_from", "time_interval": timedelta(days=365)},
    ]
    marker = conn.execute(
        "select obj_description(oid, 'pg_extension') as c from pg_extension"
        " where extname = 'timescaledb'"
    ).fetchone()
    assert marker == {"c": "created by pydal_lite migration 0010_create_shrinkage_timeseries"}


@pytest.mark.timescale
@pytest.mark.own_db  # chunks made and checked as a committing application would
def test_ingest_creates_chunks(conn: Connection) -> None:
    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    shrinkage.ingest_calculation_data(conn, calc["id"], _series(24 * 21))  # 3 weeks
    row = conn.execute(
        "select count(*) as n from timescaledb_information.chunks"
        " where hypertable_name = 'calculation_data'"
    ).fetchone()
    assert row is not None and row["n"] >= 3
    # the pkey and the time index exist on every chunk
    idx = conn.execute(
        """
        select count(*) filter (where indexname like '%calculation_data_pkey') as pkey,
               count(*) filter (where indexname like '%calculation_data_observed_at_idx') as t
        from pg_indexes
        where schemaname = '_timescaledb_internal'
        """
    ).fetchone()
    assert idx == {"pkey": row["n"], "t": row["n"]}


@pytest.mark.timescale
@pytest.mark.own_db  # commits the compressed chunks
def test_compression_settings_and_manual_compression(conn: Connection) -> None:
    settings = conn.execute(
        """
        select hypertable_name::text as t, attname::text as a,
               segmentby_column_index as s, orderby_column_index as o, orderby_asc as asc
        from timescaledb_information.compression_settings
        where hypertable_name in ('calculation_data', 'coefficients')
        order by 1, coalesce(segmentby_column_index, 0), orderby_column_index
        """
    ).fetchall()
    assert [(r["t"], r["a"], r["s"], r["o"], r["asc"]) for r in settings] == [
        ("calculation_data", "metric", None, 1, True),
        ("calculation_data", "observed_at", None, 2, False),
        ("calculation_data", "calculation_id", 1, None, None),
        ("coefficients", "coefficient_code", None, 1, True),
        ("coefficients", "valid_from", None, 2, False),
        ("coefficients", "material_id", 1, None, None),
    ]
    job = conn.execute(
        "select proc_name::text as p from timescaledb_information.jobs"
        " where hypertable_name = 'calculation_data'"
    ).fetchone()
    assert job == {"p": "policy_compression"}

    material = _setup(conn)
    calc = _calculation(conn, material["id"])
    shrinkage.ingest_calculation_data(conn, calc["id"], _series(24 * 14))
    before = shrinkage.list_downsampled_calculation_data(conn, calc["id"], bucket=timedelta(days=1))
    compressed = conn.execute(
        "select count(compress_chunk(c)) as n from show_chunks('calculation_data') c"
    ).fetchone()
    conn.commit()
    assert compressed is not None and compressed["n"] >= 2
    stats = conn.execute(
        "select count(*) filter (where is_compressed) as n"
        " from timescaledb_information.chunks where hypertable_name = 'calculation_data'"
    ).fetchone()
    assert stats == {"n": compressed["n"]}
    after = shrinkage.list_downsampled_calculation_data(conn, calc["id"], bucket=timedelta(days=1))

    def rounded(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        # averages may differ in the last bit: the compressed scan sums in another order
        return [(*(v for k, v in r.items() if k != "avg_value"), round(r["avg_value"], 9))
                for r in rows]  # fmt: skip

    assert rounded(after) == rounded(before)
    # a late point still goes into a compressed chunk through COPY
    late = [(T0 + timedelta(minutes=30), "mass_t", 999.995)]
    assert shrinkage.ingest_calculation_data(conn, calc["id"], late) == 1


@pytest.mark.timescale
def test_date_bin_buckets_equal_time_bucket(conn: Connection) -> None:
    rows = conn.execute(
        """
        select count(*) filter (
            where date_bin(w, t, timestamptz '2000-01-03 00:00:00+00') <> time_bucket(w, t)
        ) as differ, count(*) as n
        from generate_series(timestamptz '2023-12-25', timestamptz '2024-03-10',
                             interval '97 minutes') as t,
             unnest(array[interval '15 minutes', interval '1 hour', interval '6 hours',
                          interval '1 day', interval '7 days']) as w
        """
    ).fetchone()
    assert rows is not None and rows["n"] > 1000
    assert rows["differ"] == 0


def test_duplicate_reference_codes_are_invalid_input(conn: Connection) -> None:
    shrinkage.create_calculation_method(conn, "dup_method", "Method")
    with pytest.raises(InvalidInput, match="calculation method code 'dup_method' already exists"):
        shrinkage.create_calculation_method(conn, "dup_method", "Again")
    shrinkage.create_coefficient_type(conn, "dup_type", "Type", unit="%")
    with pytest.raises(InvalidInput, match="coefficient type code 'dup_type' already exists"):
        shrinkage.create_coefficient_type(conn, "dup_type", "Again", unit="%")


def test_coefficients_as_of_read_one_row_per_type_however_long_the_history(
    big: dict[str, Any], server: Any
) -> None:
    from plans import explain, plan_nodes

    conn = big["conn"]
    types = conn.execute("select count(*) as n from coefficient_types").fetchone()
    plan = explain(conn, q.list_coefficients_as_of(material_id=big["material"]["id"], at=T0))
    nodes = list(plan_nodes(plan))
    # the lateral limit 1 runs once per coefficient type (2 of them have 520 values each)
    limits = [n for n in nodes if n["Node Type"] == "Limit"]
    assert [n["Actual Loops"] for n in limits] == [types["n"] if types else 0], limits
    if not server.timescale:  # compressed chunks decompress whole batches
        leaves = [
            n for n in nodes if n.get("Relation Name") == "coefficients" and not n.get("Plans")
        ]
        assert sum(n["Actual Rows"] * n["Actual Loops"] for n in leaves) <= 2, leaves
    rows = shrinkage.list_coefficients_as_of(conn, big["material"]["id"], at=T0)
    assert [(r["coefficient_code"], r["valid_from"]) for r in rows] == [
        ("moisture_factor", T0),
        ("natural_loss_rate", T0),
    ]
