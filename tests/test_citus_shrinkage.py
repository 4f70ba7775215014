"""Shrinkage on Citus: routing of every keyed call, and the operations end to end.

calculations, materials, calculation_methods and coefficient_types are reference tables;
calculation_data is distributed by calculation_id, coefficients by material_id (0017).
A keyed call must reach one shard: named queries are checked by the Task Count of their
plan; the calls whose shard work happens inside a PL/pgSQL function (0020) or a COPY are
checked by the shards Citus sends commands to (citus.log_remote_commands and
citus.log_local_commands). Fan-out (all shards, by design): list_metric_buckets and its
rollup, which aggregate one metric across all calculations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fix_citus import distributed_plan, task_count

from pydal_lite import InvalidInput, NotFound, shrinkage
from pydal_lite.connection import Connection
from pydal_lite.runtime import Step
from pydal_lite.sql import shrinkage as q

pytestmark = pytest.mark.citus

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _shard_count(conn: Connection, table: str) -> int:
    row = conn.execute(
        "select count(*) as n from pg_dist_shard where logicalrelid = %s::regclass", (table,)
    ).fetchone()
    assert row is not None
    return int(row["n"])


@contextmanager
def _shards(conn: Connection, table: str) -> Iterator[set[str]]:
    """The shards of ``table`` Citus sends commands to inside the block (remote or local)."""
    seen: set[str] = set()
    pattern = re.compile(rf"\b{table}_(\d+)\b")

    def note(diag: Any) -> None:
        seen.update(pattern.findall(diag.message_primary or ""))

    conn.execute("set local citus.log_remote_commands = on")
    conn.execute("set local citus.log_local_commands = on")
    conn.execute("set local client_min_messages = log")
    conn.add_notice_handler(note)
    try:
        yield seen
    finally:
        conn.remove_notice_handler(note)
        conn.execute("set local citus.log_remote_commands = off")
        conn.execute("set local citus.log_local_commands = off")
        conn.execute("set local client_min_messages = notice")


def _world(conn: Connection) -> dict[str, Any]:
    """Reference rows, a calculation with two days of hourly data, coefficient history."""
    material = shrinkage.create_material(conn, "citus-wheat", "Wheat", unit="t")
    shrinkage.create_calculation_method(conn, "citus_norm", "Norm")
    shrinkage.create_coefficient_type(conn, "citus_rate", "Rate", unit="percent")
    shrinkage.create_coefficient_type(conn, "citus_moisture", "Moisture", unit="ratio")
    calc = shrinkage.create_calculation(
        conn, material["id"], "citus_norm", period_start=T0, period_end=T0 + 2 * DAY
    )
    points = [(T0 + h * HOUR, "mass_t", 1000.0 - h) for h in range(48) if h not in (5, 6, 7)]
    shrinkage.ingest_calculation_data(conn, calc["id"], points)
    shrinkage.ingest_coefficients(
        conn,
        material["id"],
        [("citus_rate", T0, 0.1), ("citus_rate", T0 + DAY, 0.2), ("citus_moisture", T0, 1.5)],
    )
    return {"material": material, "calc": calc, "points": points}


@pytest.fixture
def world(cconn: Connection) -> dict[str, Any]:
    return _world(cconn)


# -- layout ----------------------------------------------------------------------------


def test_tables_are_distributed_as_0017_says_and_functions_are_plpgsql(cconn: Connection) -> None:
    rows = cconn.execute(
        "select logicalrelid::text as t, partmethod as m,"
        " column_to_column_name(logicalrelid, partkey) as k"
        " from pg_dist_partition where logicalrelid = any(%s::regclass[])",
        ([
            "materials", "calculation_methods", "coefficient_types", "calculations",
            "calculation_data", "coefficients",
        ],),
    ).fetchall()  # fmt: skip
    got = {r["t"]: (r["m"], r["k"]) for r in rows}
    assert got == {
        "materials": ("n", None),
        "calculation_methods": ("n", None),
        "coefficient_types": ("n", None),
        "calculations": ("n", None),
        "calculation_data": ("h", "calculation_id"),
        "coefficients": ("h", "material_id"),
    }
    langs = cconn.execute(
        "select p.proname, l.lanname from pg_proc p join pg_language l on l.oid = p.prolang"
        " where p.proname like 'calculation_data_%%' order by 1"
    ).fetchall()
    assert {r["lanname"] for r in langs} == {"plpgsql"} and len(langs) == 3


# -- routing -----------------------------------------------------------------------------

A_RANGE = {"since": T0, "until": T0 + DAY}
KEYED: dict[str, Callable[[int, int], Step[Any]]] = {
    # distributed tables, by the distribution key
    "count_calculation_data": lambda c, m: q.count_calculation_data(calculation_id=c),
    "list_calculation_data": lambda c, m: q.list_calculation_data(calculation_id=c, **A_RANGE),
    "list_downsampled_calculation_data": lambda c, m: q.list_downsampled_calculation_data(
        calculation_id=c, bucket=timedelta(minutes=30), **A_RANGE
    ),
    "get_coefficient_as_of": lambda c, m: q.get_coefficient_as_of(
        material_id=m, coefficient_code="citus_rate", at=T0
    ),
    # a lateral limit-1 probe per coefficient type (reference) joined to one material's shard
    "list_coefficients_as_of": lambda c, m: q.list_coefficients_as_of(material_id=m, at=T0),
    # reference tables: one task (a write goes to every copy of the table in that task)
    "get_calculation": lambda c, m: q.get_calculation(calculation_id=c),
    "list_material_calculations": lambda c, m: q.list_material_calculations(material_id=m),
    "get_material_by_code": lambda c, m: q.get_material_by_code(code="citus-wheat"),
    "get_calculation_retry": lambda c, m: q.get_calculation_retry(
        key="k",
        material_id=m,
        method_code="citus_norm",
        parameters={},
        period_start=T0,
        period_end=T0 + DAY,
    ),
    "update_calculation_status": lambda c, m: q.update_calculation_status(
        calculation_id=c, from_status="pending", status="running", result=None, error=None
    ),
    "delete_calculation": lambda c, m: q.delete_calculation(calculation_id=c),
}


@pytest.mark.parametrize("name", sorted(KEYED))
def test_keyed_query_plans_one_shard(cconn: Connection, world: dict[str, Any], name: str) -> None:
    step = KEYED[name](world["calc"]["id"], world["material"]["id"])
    assert task_count(cconn, step) == 1


def test_coefficients_as_of_probes_each_type_on_the_material_shard(
    cconn: Connection, world: dict[str, Any]
) -> None:
    # The whole lateral query runs on the worker: the reference table's copy there drives
    # one backward limit-1 probe of the shard's primary key per coefficient type.
    step = q.list_coefficients_as_of(material_id=world["material"]["id"], at=T0)
    (task,) = distributed_plan(cconn, step)["Job"]["Tasks"]

    def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield plan
        for child in plan.get("Plans", []):
            yield from nodes(child)

    remote = list(nodes(task["Remote Plan"][0][0]["Plan"]))
    (probe,) = [n for n in remote if n.get("Relation Name", "").startswith("coefficients_")]
    assert probe["Node Type"] == "Index Scan" and probe["Scan Direction"] == "Backward"
    assert probe["Index Name"].startswith("coefficients_pkey_")
    assert any(n["Node Type"] == "Limit" for n in remote)


def test_global_metric_buckets_fan_out(cconn: Connection) -> None:
    step = q.list_metric_buckets(metric="mass_t", bucket=HOUR, **A_RANGE)
    assert task_count(cconn, step) == _shard_count(cconn, "calculation_data")


def test_function_and_copy_calls_touch_one_shard(cconn: Connection, world: dict[str, Any]) -> None:
    cid, mid = world["calc"]["id"], world["material"]["id"]
    reads: dict[str, Callable[[], Any]] = {
        "rollup": lambda: shrinkage.list_downsampled_calculation_data(cconn, cid, bucket=HOUR),
        "gapfill": lambda: shrinkage.list_gapfilled_calculation_data(
            cconn, cid, "mass_t", bucket=HOUR
        ),
    }
    for name, read in reads.items():
        for _ in range(7):  # past PL/pgSQL's switch to a generic plan after 5 runs
            with _shards(cconn, "calculation_data") as seen:
                read()
            assert len(seen) == 1, (name, seen)
    with _shards(cconn, "calculation_data") as seen:
        shrinkage.ingest_calculation_data(
            cconn, cid, [(T0 + 3 * DAY, "mass_t", 1.0), (T0 + 3 * DAY, "temp_c", 2.0)]
        )
    assert len(seen) == 1, seen
    with _shards(cconn, "coefficients") as seen:
        shrinkage.ingest_coefficients(
            cconn, mid, [("citus_rate", T0 + 2 * DAY, 0.3), ("citus_moisture", T0 + DAY, 1.2)]
        )
    assert len(seen) == 1, seen
    with _shards(cconn, "calculation_data") as seen:  # fan-out, through the rollup function
        shrinkage.list_metric_buckets(cconn, "mass_t", bucket=HOUR, **A_RANGE)
    assert len(seen) == _shard_count(cconn, "calculation_data")


# -- end to end ----------------------------------------------------------------------------


def test_calculation_lifecycle_on_citus(cconn: Connection) -> None:
    material = shrinkage.create_material(cconn, "citus-rye", "Rye", unit="t")
    shrinkage.create_calculation_method(cconn, "citus_norm", "Norm")
    args: dict[str, Any] = {"period_start": T0, "period_end": T0 + DAY, "parameters": {"n": 1}}
    calc = shrinkage.create_calculation(
        cconn, material["id"], "citus_norm", request_key="rq-1", **args
    )
    again = shrinkage.create_calculation(
        cconn, material["id"], "citus_norm", request_key="rq-1", **args
    )
    assert again["id"] == calc["id"]
    with pytest.raises(InvalidInput, match="different parameters"):
        shrinkage.create_calculation(
            cconn, material["id"], "citus_norm", request_key="rq-1",
            **{**args, "parameters": {"n": 2}},
        )  # fmt: skip
    with pytest.raises(NotFound, match="no calculation method 'nope'"):
        shrinkage.create_calculation(cconn, material["id"], "nope", **args)
    with pytest.raises(NotFound, match="no material with id"):
        shrinkage.create_calculation(cconn, 10**12, "citus_norm", **args)

    running = shrinkage.set_calculation_status(cconn, calc["id"], "running")
    assert running["status"] == "running" and running["completed_at"] is None
    done = shrinkage.set_calculation_status(cconn, calc["id"], "completed", result={"loss": 2})
    now = cconn.execute("select now() as t").fetchone()
    assert now is not None and done["completed_at"] == now["t"]
    assert done["result"] == {"loss": 2}
    listed = shrinkage.list_material_calculations(cconn, material["id"])
    assert [(r["id"], r["status"]) for r in listed] == [(calc["id"], "completed")]


def test_series_reads_and_errors_on_citus(cconn: Connection, world: dict[str, Any]) -> None:
    cid, points = world["calc"]["id"], world["points"]
    rows = shrinkage.list_calculation_data(cconn, cid, since=T0, until=T0 + 2 * DAY)
    assert [(r["observed_at"], r["metric"], r["value"]) for r in rows] == points

    daily = shrinkage.list_downsampled_calculation_data(cconn, cid, bucket=DAY)  # rollup
    assert [(r["bucket_start"], r["samples"]) for r in daily] == [(T0, 21), (T0 + DAY, 24)]
    assert daily[0]["last_value"] == 1000.0 - 23 and daily[1]["min_value"] == 1000.0 - 47
    raw = shrinkage.list_downsampled_calculation_data(
        cconn, cid, bucket=DAY, since=T0 + timedelta(minutes=30), until=T0 + DAY
    )  # not whole hours: the raw query
    assert [(r["bucket_start"], r["samples"]) for r in raw] == [(T0, 20)]

    gaps = shrinkage.list_gapfilled_calculation_data(
        cconn, cid, "mass_t", bucket=HOUR, since=T0 + 4 * HOUR, until=T0 + 9 * HOUR
    )
    assert [r["samples"] for r in gaps] == [1, 0, 0, 0, 1]
    assert [r["last_value_locf"] for r in gaps] == [996.0, 996.0, 996.0, 996.0, 992.0]
    assert gaps[2]["avg_interpolated"] == pytest.approx(994.0)

    buckets = shrinkage.list_metric_buckets(cconn, "mass_t", bucket=DAY, since=T0, until=T0 + DAY)
    mine = [r for r in buckets if r["material_id"] == world["material"]["id"]]
    assert [(r["calculations"], r["samples"]) for r in mine] == [(1, 21)]

    with pytest.raises(InvalidInput, match="already has a point"):
        shrinkage.ingest_calculation_data(cconn, cid, [points[0]])
    assert shrinkage.list_calculation_data(cconn, cid, since=T0, until=T0 + 2 * DAY) == rows

    assert shrinkage.delete_calculation(cconn, cid) == 1  # cascades into the shard
    count = cconn.execute(
        "select count(*) as n from calculation_data where calculation_id = %s", (cid,)
    ).fetchone()
    assert count == {"n": 0}


def test_coefficients_on_citus(cconn: Connection, world: dict[str, Any]) -> None:
    mid = world["material"]["id"]
    at = shrinkage.list_coefficients_as_of(cconn, mid, at=T0 + DAY + HOUR)
    assert [(r["coefficient_code"], r["value"]) for r in at] == [
        ("citus_moisture", 1.5),
        ("citus_rate", 0.2),
    ]
    one = shrinkage.get_coefficient_as_of(cconn, mid, "citus_rate", at=T0 + HOUR)
    assert one is not None and one["value"] == 0.1
    assert shrinkage.get_coefficient_as_of(cconn, mid, "citus_rate", at=T0 - HOUR) is None
    with pytest.raises(InvalidInput, match="already has a coefficient value"):
        shrinkage.ingest_coefficients(cconn, mid, [("citus_rate", T0, 0.5)])
    with pytest.raises(NotFound, match="unknown material or coefficient type"):
        shrinkage.ingest_coefficients(cconn, mid, [("citus_unknown", T0, 0.5)])
    with pytest.raises(NotFound, match="unknown material or coefficient type"):
        shrinkage.ingest_coefficients(cconn, 10**12, [("citus_rate", T0, 0.5)])
