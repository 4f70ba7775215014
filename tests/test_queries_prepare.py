"""Every named query in queries/ is documented and prepares against the migrated schema."""

from __future__ import annotations

import pytest

from pydal_lite.codegen.describe import describe
from pydal_lite.connection import Connection
from pydal_lite.runtime.loader import LoadedQuery, read_folder

ALL = [q for file in read_folder().values() for q in file.values()]


def test_there_are_queries() -> None:
    assert {q.file for q in ALL} >= {"server", "agent_runtime", "background_tasks"}


@pytest.mark.parametrize("query", ALL, ids=[f"{q.file}.{q.name}" for q in ALL])
def test_query_prepares(conn: Connection, query: LoadedQuery) -> None:
    assert query.sql.startswith(f"/* pydal_lite:{query.file}.{query.name} */")
    assert query.doc, f"{query.where}: {query.name} needs a comment saying what it returns"
    described = describe(conn, query)  # raises DescribeError naming file:line otherwise
    assert [name for name, _ in described.params] == sorted(
        {name for name, _ in described.params}, key=[n for n, _ in described.params].index
    )
