"""The aiosql adapters: name tags and the 14.x/15.x pitfalls they remove, on a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydal_lite._query_loader import load
from pydal_lite.connection import AsyncConnection, Connection

PROBE_SQL = """
-- name: insert_probe(n)<!
-- Inserts one row and returns its id only (a one-column returning).
insert into probe (n) values (:n) returning id;

-- name: insert_probes*!
-- Inserts many rows.
insert into probe (n) values (:n);

-- name: list_probe_percent()
-- Rows whose label contains a literal percent sign, written once as in psql.
select id, label from probe where label like '%\\%%' order by id;

-- name: count_probes()$
-- How many rows.
select count(*) from probe;

-- name: set_percent_labels#
-- A script (no parameters) with a literal percent.
update probe set label = (n % 3)::text || '%';
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "probe.sql").write_text(PROBE_SQL, encoding="utf-8")
    return tmp_path


@pytest.fixture
def probe_table(conn: Connection) -> None:
    conn.execute("create table probe (id int generated always as identity, n int, label text)")


def test_sync_adapter(conn: Connection, probe_table: None, folder: Path) -> None:
    q = load(folder).probe
    assert q.insert_probe.sql.startswith("/* pydal_lite:probe.insert_probe */")
    row = q.insert_probe(conn, n=5)
    assert row == {"id": 1}  # aiosql's own adapter raises KeyError: 0 on dict rows
    assert q.insert_probes(conn, [{"n": 1}, {"n": 2}]) == 2
    q.set_percent_labels(conn)  # scripts are sent unparameterised: % stays single
    rows = q.list_probe_percent(conn)
    assert isinstance(rows, list) and len(rows) == 3 and rows[0]["label"] == "2%"
    assert q.count_probes(conn) == 3


async def test_async_adapter(aconn: AsyncConnection, folder: Path) -> None:
    await aconn.execute(
        "create table probe (id int generated always as identity, n int, label text)"
    )
    q = load(folder, is_async=True).probe
    assert await q.insert_probe(aconn, n=5) == {"id": 1}
    assert await q.insert_probes(aconn, [{"n": 1}, {"n": 2}]) == 2  # aiosql returns None
    assert await q.count_probes(aconn) == 3  # aiosql raises KeyError: 0 on dict rows
    await q.set_percent_labels(aconn)
    labels = [r["label"] async for r in q.list_probe_percent(aconn)]
    assert labels == ["2%", "1%", "2%"]
