"""Hostile arguments to every public domain function: only pydal_lite errors, no partial writes.

A property test (hypothesis, bounded examples): each public operation of each domain
module is called with arguments drawn from a pool that mixes plausible values with the
classes of bad input seen in the wild (NUL characters, out-of-range integers and
numbers, calendar-edge datetimes, deep nesting, unhashable and huge values, wrong
types). A call may succeed or raise a documented pydal_lite error; any other exception
fails the test, and a call that raised must leave every table's row count unchanged.
"""

from __future__ import annotations

import functools
import inspect
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from pydal_lite import (
    agent_runtime,
    background_tasks,
    event_planning,
    pipeline_cache,
    planning_metrics,
    shrinkage,
)
from pydal_lite.connection import Connection
from pydal_lite.errors import PydalError
from pydal_lite.runtime import Operation

MODULES = [
    agent_runtime,
    background_tasks,
    event_planning,
    pipeline_cache,
    planning_metrics,
    shrinkage,
]
OPERATIONS = [
    (f"{m.__name__.rsplit('.', 1)[1]}.{name}", getattr(m, name))
    for m in MODULES
    for name in sorted(getattr(m, "__all__", []))
    if isinstance(getattr(m, name), Operation)
]


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


UTC = timezone.utc
HOSTILE: list[Any] = [
    None,
    "",
    " ",
    "a\x00b",
    "\ud800",
    "x" * 1_000_001,
    2**31,
    2**63,
    -(2**63) - 1,
    10**5000,
    float("nan"),
    float("inf"),
    Decimal("1e30"),
    Decimal("sNaN"),
    True,
    b"bytes",
    {1, 2},
    {"a": {1, 2}},
    {"a": "b\x00"},
    [{"nested": _nested(1200)}],
    _nested(1200),
    object(),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))),
    datetime(2024, 1, 1),  # naive
    date(2024, 1, 1),
    timedelta(days=-1),
    timedelta(days=10**6),
    [None],
    [1, "2", None],
    {"role": "user", "content": "a\x00"},
    [{"role": "nobody"}],
    [{"role": "user", "content": 5}],
]
PLAUSIBLE: list[Any] = [
    "s1",
    "import",
    "pending",
    "running",
    "completed",
    "user",
    "MAT-1",
    1,
    0,
    -1,
    10,
    1.5,
    Decimal("12.50"),
    datetime(2024, 1, 1, tzinfo=UTC),
    timedelta(hours=1),
    {},
    {"k": [1, "два", None]},
    [],
    [{"role": "user", "content": "hi"}],
    "00000000-0000-0000-0000-000000000000",
]
VALUES = st.sampled_from(HOSTILE + PLAUSIBLE)
TABLES_SQL = """
select c.relname
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname = 'public'
order by 1
"""


@functools.cache
def _count_query(tables: tuple[str, ...]) -> str:
    # One statement for all tables (a query per table made these counts most of the
    # module's time), rendered once (composing it per call cost more than running it).
    return (
        sql.SQL(" union all ")
        .join(
            sql.SQL("select {} as t, count(*) as n from {}").format(
                sql.Literal(t), sql.Identifier(t)
            )
            for t in tables
        )
        .as_string()
    )


def _counts(conn: Connection) -> dict[str, int]:
    tables = tuple(r["relname"] for r in conn.execute(TABLES_SQL).fetchall())
    # prepared at once: planning the union cost more than running it
    counts = conn.execute(_count_query(tables), prepare=True).fetchall() if tables else []
    out = {r["t"]: r["n"] for r in counts}
    conn.commit()
    return out


def _call(op: Operation[..., Any], conn: Connection, data: st.DataObject) -> None:
    sig = inspect.signature(op._fn)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in sig.parameters.values():
        optional = p.default is not inspect.Parameter.empty
        if optional and data.draw(st.booleans()):
            continue
        value = data.draw(VALUES)
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[p.name] = value
        else:
            args.append(value)
    op(conn, *args, **kwargs)


# Examples per operation: the README's `pytest` line draws 10; the slow line (CI) the
# full 25 (85 operations at ~4 ms an example made this the suite's longest module).
BUDGETS = [pytest.param(10, id="10"), pytest.param(25, id="25", marks=pytest.mark.slow)]


@pytest.mark.own_db
@pytest.mark.parametrize("examples", BUDGETS)
@pytest.mark.parametrize(("name", "op"), OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_hostile_arguments_give_pydal_errors_and_write_nothing(
    conn: Connection, name: str, op: Operation[..., Any], examples: int
) -> None:
    conn.autocommit = False

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: CI stays reproducible
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        before = _counts(conn)
        try:
            _call(op, conn, data)
        except PydalError:
            conn.rollback()
            assert _counts(conn) == before, f"{name} raised but left rows behind"
        else:
            conn.commit()

    run()
