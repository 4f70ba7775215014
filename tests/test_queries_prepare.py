"""Every named query in queries/ parses, binds and plans against the migrated schema."""

from __future__ import annotations

import re

import pytest

from pydal_lite import queries
from pydal_lite._query_loader import PARAM, load
from pydal_lite.connection import Connection

ALL = [
    (file, name, fn)
    for file, ns in sorted(vars(load()).items())
    for name in sorted(ns.available_queries)
    if "_cursor" not in name and (fn := getattr(ns, name))
]


def _to_dollar(sql: str) -> str:
    names: dict[str, int] = {}

    def sub(m: re.Match[str]) -> str:
        return f"${names.setdefault(m.group(1), len(names) + 1)}"

    return PARAM.sub(sub, sql).replace("%%", "%")


def test_there_are_queries() -> None:
    assert any(file == "server" for file, _, _ in ALL)


@pytest.mark.parametrize(("file", "name", "fn"), ALL, ids=[f"{f}.{n}" for f, n, _ in ALL])
def test_query_prepares(conn: Connection, file: str, name: str, fn: object) -> None:
    sql = fn.sql  # type: ignore[attr-defined]
    assert sql.startswith(f"/* pydal_lite:{file}.{name} */"), "named queries carry their name tag"
    assert (fn.__doc__ or "").strip(), f"{file}.{name} needs a comment saying what it returns"  # type: ignore[attr-defined]
    result = conn.pgconn.prepare(b"", _to_dollar(sql).encode())
    message = (result.error_message or b"").decode()
    assert result.status == 1, f"{file}.{name} does not prepare: {message}"  # PGRES_COMMAND_OK


def test_server_info_round_trip(conn: Connection, server: object) -> None:
    info = queries.server.get_server_info(conn)
    assert info["version_num"] >= 140000
    assert queries.server.get_schema_version(conn) is not None
