"""Migration 0014: rollups from continuous aggregates, gap-filled buckets, policies.

The rollup and gap-fill tests run on every server (plain PostgreSQL runs the functions'
raw-row bodies, TimescaleDB the continuous aggregates and time_bucket_gapfill) and
compare with the raw ``date_bin`` queries or with values computed here; the catalog and
policy checks are marked ``timescale`` or skip on TimescaleDB, saying why.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from catalog import snapshot, version_below
from psycopg.conninfo import make_conninfo

from pydal_lite import InvalidInput, NotFound, migrate, shrinkage
from pydal_lite.connection import Connection, connect
from pydal_lite.migrate import Migrator, Options
from pydal_lite.queries import shrinkage as qs
from pydal_lite.shrinkage_buckets import MAX_GAPFILL_BUCKETS, rollup_allows

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
H, D = timedelta(hours=1), timedelta(days=1)
AGGREGATES = ("calculation_data_hourly", "calculation_data_daily")
FUNCTIONS = (
    "calculation_data_rollup",
    "calculation_data_metric_rollup",
    "calculation_data_gapfill",
)


def _material(conn: Connection, code: str) -> dict[str, Any]:
    material = shrinkage.create_material(conn, code, code.title(), unit="t")
    with conn.transaction():
        missing = conn.execute("select 1 from calculation_methods").fetchone() is None
    if missing:
        shrinkage.create_calculation_method(conn, "natural_loss_norm", "Natural loss norm")
    return material


def _calculation(conn: Connection, material_id: int, days: int = 14) -> dict[str, Any]:
    return shrinkage.create_calculation(
        conn,
        material_id,
        "natural_loss_norm",
        period_start=T0,
        period_end=T0 + timedelta(days=days),
    )


def _points(days: int, *, step: timedelta = timedelta(minutes=10), skip_days=()) -> list[Any]:
    """mass_t falling and temperature_c cycling every ``step``; none on ``skip_days``."""
    out = []
    t = T0
    while t < T0 + timedelta(days=days):
        if (t - T0).days not in skip_days:
            i = (t - T0) // step
            out.append((t, "mass_t", 1000.0 - 0.001 * i))
            out.append((t, "temperature_c", 10.0 + (i % 37) / 4))
        t += step
    return out


def _close(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Same rows; floats equal up to summation order (rollups add partial sums)."""
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):
                assert math.isclose(x[k], y[k], rel_tol=1e-12), (k, x, y)
            else:
                assert x[k] == y[k], (k, x, y)


@pytest.fixture
def data(conn: Connection) -> dict[str, Any]:
    """Two materials, three calculations over 14 days of 10-minute points (day 3 empty)."""
    wheat, rye = _material(conn, "wheat"), _material(conn, "rye")
    calcs = [_calculation(conn, m["id"]) for m in (wheat, wheat, rye)]
    for c in calcs:
        shrinkage.ingest_calculation_data(conn, c["id"], _points(14, skip_days=(3,)))
    return {"conn": conn, "calcs": calcs, "wheat": wheat, "rye": rye}


# -- which query serves a read ----------------------------------------------------


def test_rollup_allows_only_whole_hours() -> None:
    assert rollup_allows(7 * D, T0, T0 + 28 * D)
    assert rollup_allows(3 * H, T0 + 5 * H, T0 + 29 * H)
    assert not rollup_allows(timedelta(minutes=90), T0, T0 + D)
    assert not rollup_allows(H, T0 + timedelta(minutes=30), T0 + D)
    assert not rollup_allows(H, T0, T0 + D + timedelta(seconds=1))
    # whole hours in UTC, whatever the offset the datetime carries
    plus3 = timezone(timedelta(hours=3))
    assert rollup_allows(H, datetime(2024, 3, 4, 5, tzinfo=plus3), T0 + D)
    india = timezone(timedelta(hours=5, minutes=30))
    assert not rollup_allows(H, datetime(2024, 3, 4, 5, tzinfo=india), T0 + D)


@pytest.mark.parametrize(
    ("bucket", "since", "until"),
    [
        (H, T0, T0 + 14 * D),
        (6 * H, T0 + 5 * H, T0 + 9 * D + 7 * H),  # whole hours: the hourly aggregate
        (D, T0 + D, T0 + 13 * D),  # whole days: the daily aggregate
        (7 * D, T0, T0 + 14 * D),
        (7 * D, T0 - 7 * D, T0 + 21 * D),  # wider than the data
    ],
)
def test_rollup_equals_the_raw_query(
    data: dict[str, Any], bucket: timedelta, since: datetime, until: datetime
) -> None:
    conn, calc = data["conn"], data["calcs"][1]
    args = {"bucket": bucket, "since": since, "until": until}
    raw = qs.list_downsampled_calculation_data(conn, calculation_id=calc["id"], **args)
    rolled = qs.list_downsampled_calculation_data_rollup(conn, calculation_id=calc["id"], **args)
    _close(rolled, raw)
    assert shrinkage.list_downsampled_calculation_data(conn, calc["id"], **args) == rolled

    raw_m = qs.list_metric_buckets(conn, metric="mass_t", **args)
    rolled_m = qs.list_metric_buckets_rollup(conn, metric="mass_t", **args)
    _close(rolled_m, raw_m)
    assert {r["material_id"] for r in rolled_m} == {data["wheat"]["id"], data["rye"]["id"]}
    assert shrinkage.list_metric_buckets(conn, "mass_t", **args) == rolled_m


def test_unaligned_ranges_read_the_raw_rows(data: dict[str, Any]) -> None:
    conn, calc = data["conn"], data["calcs"][0]
    since, until = T0 + timedelta(minutes=20), T0 + 2 * D
    got = shrinkage.list_downsampled_calculation_data(
        conn, calc["id"], bucket=timedelta(minutes=90), since=since, until=until
    )
    raw = qs.list_downsampled_calculation_data(
        conn, calculation_id=calc["id"], bucket=timedelta(minutes=90), since=since, until=until
    )
    assert got == raw
    assert got[0]["bucket_start"] == T0 and got[0]["samples"] == 7  # 00:20 .. 01:20


# -- gap-filled buckets ---------------------------------------------------------------


def _expected_gapfill(
    points: list[Any], metric: str, bucket: timedelta, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    series = sorted((t, v) for t, m, v in points if m == metric)
    origin = datetime(2000, 1, 3, tzinfo=UTC)
    first = origin + (since - origin) // bucket * bucket
    starts = []
    b = first
    while b < until:
        starts.append(b)
        b += bucket
    rows = []
    for b in starts:
        inside = [(t, v) for t, v in series if b <= t < b + bucket and since <= t < until]
        rows.append(
            {
                "bucket_start": b,
                "samples": len(inside),
                "avg_value": sum(v for _, v in inside) / len(inside) if inside else None,
                "last_value": inside[-1][1] if inside else None,
            }
        )
    before = [v for t, v in series if t < since]
    carried = before[-1] if before else None
    filled = [i for i, r in enumerate(rows) if r["samples"]]
    for i, r in enumerate(rows):
        carried = r["last_value"] if r["samples"] else carried
        r["last_value_locf"] = carried
        prev = [j for j in filled if j < i]
        nxt = [j for j in filled if j > i]
        if r["samples"]:
            r["avg_interpolated"] = r["avg_value"]
        elif prev and nxt:
            p, n = rows[prev[-1]], rows[nxt[0]]
            share = (r["bucket_start"] - p["bucket_start"]) / (
                n["bucket_start"] - p["bucket_start"]
            )
            r["avg_interpolated"] = p["avg_value"] + (n["avg_value"] - p["avg_value"]) * share
        else:
            r["avg_interpolated"] = None
    return rows


def _same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [r["bucket_start"] for r in got] == [r["bucket_start"] for r in expected]
    for g, e in zip(got, expected, strict=True):
        for k, want in e.items():
            if isinstance(want, float):
                assert g[k] is not None and math.isclose(g[k], want, rel_tol=1e-9), (k, g, e)
            else:
                assert g[k] == want, (k, g, e)


@pytest.mark.parametrize(
    ("bucket", "since", "until"),
    [
        (6 * H, T0, T0 + 7 * D),  # day 3 empty: four gap buckets in a row
        (D, T0 + 2 * D, T0 + 6 * D),
        (timedelta(minutes=45), T0 + 3 * D - 2 * H, T0 + 4 * D + 3 * H),  # not whole hours
        (D, T0 + 3 * D, T0 + 5 * D),  # starts in a gap: locf from before since
        (D, T0 + 12 * D, T0 + 17 * D),  # ends after the data: nothing to interpolate to
    ],
)
def test_gapfill_returns_every_bucket(
    conn: Connection, bucket: timedelta, since: datetime, until: datetime
) -> None:
    calc = _calculation(conn, _material(conn, "wheat")["id"])
    points = _points(14, step=timedelta(minutes=30), skip_days=(3, 9))
    shrinkage.ingest_calculation_data(conn, calc["id"], points)
    got = shrinkage.list_gapfilled_calculation_data(
        conn, calc["id"], "temperature_c", bucket=bucket, since=since, until=until
    )
    expected = _expected_gapfill(points, "temperature_c", bucket, since, until)
    assert len(got) == len(expected) == -(-(until - expected[0]["bucket_start"]) // bucket)
    assert any(r["samples"] == 0 for r in got) or since >= T0 + 12 * D
    _same(got, expected)

    # where both apply, the buckets with data equal the raw downsampling
    raw = qs.list_downsampled_calculation_data(
        conn, calculation_id=calc["id"], bucket=bucket, since=since, until=until
    )
    with_data = [r for r in got if r["samples"]]
    raw_t = [r for r in raw if r["metric"] == "temperature_c"]
    assert [(r["bucket_start"], r["samples"], r["last_value"]) for r in with_data] == [
        (r["bucket_start"], r["samples"], r["last_value"]) for r in raw_t
    ]
    for g, r in zip(with_data, raw_t, strict=True):
        assert g["avg_value"] is not None and math.isclose(g["avg_value"], r["avg_value"])


def test_gapfill_defaults_to_the_period_and_checks_its_input(conn: Connection) -> None:
    calc = _calculation(conn, _material(conn, "wheat")["id"], days=3)
    got = shrinkage.list_gapfilled_calculation_data(conn, calc["id"], "mass_t", bucket=6 * H)
    assert [r["bucket_start"] for r in got] == [T0 + i * 6 * H for i in range(12)]
    assert {(r["samples"], r["avg_value"], r["last_value_locf"]) for r in got} == {(0, None, None)}
    with pytest.raises(InvalidInput, match=r"at most 10000 per read"):
        shrinkage.list_gapfilled_calculation_data(
            conn, calc["id"], "mass_t", bucket=timedelta(seconds=10)
        )
    assert MAX_GAPFILL_BUCKETS == 10_000
    with pytest.raises(InvalidInput, match="metric must match"):
        shrinkage.list_gapfilled_calculation_data(conn, calc["id"], "Mass", bucket=H)
    with pytest.raises(InvalidInput, match="bucket must be a timedelta above 0"):
        shrinkage.list_gapfilled_calculation_data(conn, calc["id"], "mass_t", bucket=3600)
    with pytest.raises(InvalidInput, match="until must be after since"):
        shrinkage.list_gapfilled_calculation_data(
            conn, calc["id"], "mass_t", bucket=H, since=T0 + D, until=T0
        )
    with pytest.raises(NotFound, match="no calculation with id 987654"):
        shrinkage.list_gapfilled_calculation_data(conn, 987654, "mass_t", bucket=H)


# -- the migration on each kind of server ------------------------------------------------


def _aggregates(conn: Connection) -> set[str]:
    rows = conn.execute(
        "select relname from pg_class where relname = any(%s) and relkind in ('v', 'm')",
        (list(AGGREGATES),),
    ).fetchall()
    return {r["relname"] for r in rows}


def test_plain_postgres_gets_the_functions_and_no_aggregates(conn: Connection, server: Any) -> None:
    if server.timescale:
        pytest.skip("checks the plain-PostgreSQL side; this server has TimescaleDB")
    assert _aggregates(conn) == set()
    rows = conn.execute(
        "select p.proname, l.lanname as lang from pg_proc p"
        " join pg_language l on l.oid = p.prolang"
        " where p.proname like 'calculation_data_%%' order by p.proname"
    ).fetchall()
    # on Citus, 0020 makes them PL/pgSQL: it refuses SQL functions reading its tables
    citus = conn.execute("select 1 from pg_extension where extname = 'citus'").fetchone()
    lang = "plpgsql" if citus else "sql"
    assert [(r["proname"], r["lang"]) for r in rows] == sorted((f, lang) for f in FUNCTIONS)


def test_down_and_up_of_0014(dsn: str, server: Any) -> None:
    before = snapshot(dsn)
    migrate.down(dsn, target=version_below(dsn, "0014"))
    with psycopg.connect(dsn) as c:
        left = c.execute(
            "select count(*) from pg_proc where proname like 'calculation_data_%%'"
        ).fetchone()
        assert left == (0,)
        assert c.execute("select to_regclass('calculation_data_hourly')").fetchone() == (None,)
    notices: list[str] = []
    with migrate.connect(dsn) as c:
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        applied = Migrator(c, Options(out=lambda _: None)).up()
    assert "0014" in [m.version for m in applied]
    assert snapshot(dsn) == before
    text = " ".join(notices)
    if server.timescale:
        assert "continuous aggregates calculation_data_hourly" in text
        assert "retention on calculation_data: off" in text
    else:
        assert "no TimescaleDB continuous aggregates here" in text


# -- TimescaleDB ----------------------------------------------------------------------


@pytest.mark.timescale
def test_continuous_aggregates_and_their_refresh_policies(conn: Connection) -> None:
    rows = conn.execute(
        """
        select view_name::text as v, materialized_only as m, view_definition as d
        from timescaledb_information.continuous_aggregates
        where hypertable_name = 'calculation_data'
        order by 1
        """
    ).fetchall()
    assert [(r["v"], r["m"]) for r in rows] == [
        ("calculation_data_daily", False),  # real-time aggregation on
        ("calculation_data_hourly", False),
    ]
    assert "time_bucket('1 day'::interval, calculation_data.observed_at)" in rows[0]["d"]
    assert "time_bucket('01:00:00'::interval, calculation_data.observed_at)" in rows[1]["d"]
    for r in rows:
        assert "last(calculation_data.value, calculation_data.observed_at)" in r["d"]
    jobs = conn.execute(
        """
        select hypertable_name::text as v, schedule_interval as every, config
        from timescaledb_information.jobs
        where proc_name = 'policy_refresh_continuous_aggregate'
        order by 1
        """
    ).fetchall()
    assert [(r["v"], r["every"], r["config"]["start_offset"], r["config"]["end_offset"])
            for r in jobs] == [
        ("calculation_data_daily", timedelta(hours=1), None, "1 day"),
        ("calculation_data_hourly", timedelta(minutes=30), None, "01:00:00"),
    ]  # fmt: skip


@pytest.mark.timescale
def test_both_hypertables_have_a_compression_policy_and_no_retention(conn: Connection) -> None:
    rows = conn.execute(
        """
        select hypertable_name::text as t, proc_name::text as p, config
        from timescaledb_information.jobs
        where hypertable_name in ('calculation_data', 'coefficients')
        order by 1, 2
        """
    ).fetchall()
    assert [(r["t"], r["p"], r["config"]["compress_after"]) for r in rows] == [
        ("calculation_data", "policy_compression", "30 days"),
        ("coefficients", "policy_compression", "365 days"),
    ]


@pytest.mark.timescale
def test_retention_is_added_when_the_setting_is_given(dsn: str) -> None:
    migrate.down(dsn, target=version_below(dsn, "0014"))
    with_setting = make_conninfo(dsn, options="-c pydal_lite.calculation_data_retention=1825days")
    migrate.up(with_setting)
    with psycopg.connect(dsn) as c:
        row = c.execute(
            "select config from timescaledb_information.jobs"
            " where hypertable_name = 'calculation_data' and proc_name = 'policy_retention'"
        ).fetchone()
        assert row is not None and row[0]["drop_after"] == "1825 days"
    migrate.down(dsn, target=version_below(dsn, "0014"))
    with psycopg.connect(dsn) as c:
        assert c.execute(
            "select count(*) from timescaledb_information.jobs"
            " where hypertable_name in ('calculation_data', 'coefficients')"
        ).fetchone() == (1,)  # calculation_data's compression policy of 0010 stays


@pytest.fixture
def committed(dsn: str) -> Iterator[dict[str, Any]]:
    """A calculation with 14 days of committed 10-minute data; an autocommit connection."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("select alter_job(job_id, scheduled => false) from timescaledb_information.jobs"
                  " where proc_name = 'policy_refresh_continuous_aggregate'")  # fmt: skip
    with connect(dsn) as conn:
        calc = _calculation(conn, _material(conn, "wheat")["id"])
        shrinkage.ingest_calculation_data(conn, calc["id"], _points(14, skip_days=(3,)))
        conn.commit()
        conn.autocommit = True
        yield {"conn": conn, "calc": calc}


def _refresh(conn: Connection) -> None:
    for view in AGGREGATES:
        conn.execute("call refresh_continuous_aggregate(%s, null, null)", (view,))


@pytest.mark.timescale
def test_rollups_read_the_materialized_aggregates(committed: dict[str, Any]) -> None:
    conn, calc = committed["conn"], committed["calc"]
    args = {"calculation_id": calc["id"], "since": T0, "until": T0 + 14 * D}
    raw = qs.list_downsampled_calculation_data(conn, bucket=D, **args)
    _refresh(conn)
    for bucket in (H, D, 7 * D):
        _close(
            qs.list_downsampled_calculation_data_rollup(conn, bucket=bucket, **args),
            qs.list_downsampled_calculation_data(conn, bucket=bucket, **args),
        )
    # Rows deleted after the refresh are still in the materialized buckets until the next
    # refresh: the rollup reads the aggregate, not calculation_data.
    conn.execute("delete from calculation_data where calculation_id = %s", (calc["id"],))
    assert qs.list_downsampled_calculation_data(conn, bucket=D, **args) == []
    _close(qs.list_downsampled_calculation_data_rollup(conn, bucket=D, **args), raw)
    hourly = qs.list_downsampled_calculation_data_rollup(conn, bucket=H, **args)
    assert sum(r["samples"] for r in hourly) == sum(r["samples"] for r in raw)
    _refresh(conn)
    assert qs.list_downsampled_calculation_data_rollup(conn, bucket=D, **args) == []


@pytest.mark.timescale
def test_real_time_part_adds_rows_newer_than_the_materialization(
    committed: dict[str, Any],
) -> None:
    conn = committed["conn"]
    _refresh(conn)
    later = _calculation(conn, _material(conn, "rye")["id"], days=30)
    late_points = [(T0 + 20 * D + i * H, "mass_t", 500.0 + i) for i in range(48)]
    shrinkage.ingest_calculation_data(conn, later["id"], late_points)
    got = shrinkage.list_metric_buckets(conn, "mass_t", bucket=7 * D, since=T0, until=T0 + 28 * D)
    raw = qs.list_metric_buckets(conn, metric="mass_t", bucket=7 * D, since=T0, until=T0 + 28 * D)
    _close(got, raw)
    assert [r["samples"] for r in got if r["material_id"] == later["material_id"]] == [24, 24]


@pytest.mark.timescale
def test_rollup_functions_refuse_partial_hours(conn: Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="needs whole hours"):
        with conn.transaction():
            conn.execute(
                "select * from calculation_data_rollup(1, interval '90 minutes', %s, %s)",
                (T0, T0 + D),
            )
