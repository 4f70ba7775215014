"""Steps on a real server: one result table per aiosql suffix, sync and async alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosql.types import SQLOperationType as Op

from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.runtime import Query, Step, arun, loader, run
from pydal_lite.runtime.loader import QueryFileError, read_file

PROBE_SQL = """\
-- A probe file.

-- name: insert_probe(n)<!
-- Inserts one row and returns its id only (a one-column returning).
insert into probe (n) values (:n) returning id;

-- name: insert_probes*!
-- Inserts many rows.
insert into probe (n) values (:n);

-- name: list_probe_percent()
-- Rows whose label contains a literal percent sign, written once as in psql.
-- @nonnull id
select id, label from probe where label like '%\\%%' order by id;

-- name: count_probes()$
-- How many rows.
select count(*) from probe;

-- name: set_percent_labels#
-- A script (no parameters) with a literal percent.
update probe set label = (n % 3)::text || '%';
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Query]]:
    (tmp_path / "probe.sql").write_text(PROBE_SQL, encoding="utf-8")
    monkeypatch.setenv("PYDAL_QUERIES_DIR", str(tmp_path))
    loader._installed.cache_clear()
    ops = {
        "insert_probe": Op.INSERT_RETURNING,
        "insert_probes": Op.INSERT_UPDATE_DELETE_MANY,
        "list_probe_percent": Op.SELECT,
        "count_probes": Op.SELECT_VALUE,
        "set_percent_labels": Op.SCRIPT,
    }
    yield {name: Query("probe", name, op) for name, op in ops.items()}
    loader._installed.cache_clear()


def test_loader_reads_lines_suffixes_and_directives(tmp_path: Path) -> None:
    (tmp_path / "probe.sql").write_text(PROBE_SQL, encoding="utf-8")
    got = read_file(tmp_path / "probe.sql")
    assert list(got) == [
        "insert_probe",
        "insert_probes",
        "list_probe_percent",
        "count_probes",
        "set_percent_labels",
    ]
    percent = got["list_probe_percent"]
    assert percent.line == 11 and percent.where == "queries/probe.sql:11"
    assert percent.directives == (("nonnull", "id"),)
    assert "@nonnull" not in percent.doc and percent.doc.startswith("Rows whose label")
    assert percent.sql.startswith("/* pydal_lite:probe.list_probe_percent */\n")
    assert "'%%\\%%%%'" in percent.sql  # doubled for psycopg; the script keeps single %
    assert got["set_percent_labels"].sql.endswith("|| '%';")
    assert got["insert_probe"].sql.endswith("values (%(n)s) returning id;")


def _table(conn: Connection) -> None:
    conn.execute("create table probe (id int generated always as identity, n int, label text)")
    conn.commit()


def test_sync_results_per_suffix(conn: Connection, probe: dict[str, Query]) -> None:
    _table(conn)
    assert run(conn, Step[Any](probe["insert_probe"], {"n": 5})) == {"id": 1}
    assert run(conn, Step[int](probe["insert_probes"], [{"n": 1}, {"n": 2}])) == 2
    assert "UPDATE 3" == run(conn, Step[str](probe["set_percent_labels"], {}))
    rows = run(conn, Step[list[Any]](probe["list_probe_percent"], {}))
    assert rows == [{"id": 1, "label": "2%"}, {"id": 2, "label": "1%"}, {"id": 3, "label": "2%"}]
    assert run(conn, Step[int](probe["count_probes"], {})) == 3


async def test_async_results_per_suffix(aconn: AsyncConnection, probe: dict[str, Query]) -> None:
    await aconn.execute(
        "create table probe (id int generated always as identity, n int, label text)"
    )
    assert await arun(aconn, Step[Any](probe["insert_probe"], {"n": 5})) == {"id": 1}
    assert await arun(aconn, Step[int](probe["insert_probes"], [{"n": 1}, {"n": 2}])) == 2
    assert await arun(aconn, Step[int](probe["count_probes"], {})) == 3
    assert await arun(aconn, Step[str](probe["set_percent_labels"], {})) == "UPDATE 3"
    rows = await arun(aconn, Step[list[Any]](probe["list_probe_percent"], {}))
    assert [r["label"] for r in rows] == ["2%", "1%", "2%"]


def test_generated_code_out_of_step_with_the_file_is_refused(probe: dict[str, Query]) -> None:
    with pytest.raises(QueryFileError, match=r"no query 'gone'.*run python -m pydal_lite.codegen"):
        Query("probe", "gone", Op.SELECT)
    with pytest.raises(
        QueryFileError,
        match=r"queries/probe.sql:11: list_probe_percent is a SELECT query, "
        r"the generated code expects SELECT_ONE",
    ):
        Query("probe", "list_probe_percent", Op.SELECT_ONE)


def test_a_malformed_query_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "bad.sql").write_text("-- name: x(a\nselect 1;\n", encoding="utf-8")
    with pytest.raises(QueryFileError, match=r"^queries/bad.sql: "):
        read_file(tmp_path / "bad.sql")
