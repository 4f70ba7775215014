"""Citus fixtures: a real Citus cluster named by ``PYDAL_CITUS_DSN``.

``PYDAL_CITUS_DSN`` is the DSN of a coordinator's maintenance database (``postgres``,
say) in which the citus extension exists and the workers are registered
(``pg_dist_node``). The session creates its own database on the coordinator and on
every worker (same user and password, each node's host and port from ``pg_dist_node``),
creates the extension in each, registers the nodes in it, migrates it with the real
runner (so 0017 distributes the tables) and drops it on every node at the end. Tests run
their calls in transactions that are rolled back, or commit and clean up after
themselves. Without the variable every test marked ``citus`` is skipped, saying so:
Citus is not packaged for the CI machine (docs/scaling.md, "Testing on Citus").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import clones
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pydal_lite import migrate
from pydal_lite.connection import Connection, connect
from pydal_lite.runtime import Step

CITUS_DSN = os.environ.get("PYDAL_CITUS_DSN", "")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CITUS_DSN:
        return
    skip = pytest.mark.skip(reason="needs a Citus cluster: set PYDAL_CITUS_DSN")
    for item in items:
        if item.get_closest_marker("citus"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def citus_dsn() -> Iterator[str]:
    """A new database on every node of the cluster, migrated (and so distributed)."""
    name = f"pydal_citus_{clones.RUN_ID}"
    with psycopg.connect(CITUS_DSN, autocommit=True) as admin:
        rows = admin.execute(
            "select groupid, nodename, nodeport from pg_dist_node"
            " where noderole = 'primary' and isactive order by groupid"
        ).fetchall()
    here = conninfo_to_dict(CITUS_DSN)
    coordinator = next(((h, p) for g, h, p in rows if g == 0), None) or (
        str(here.get("host", "localhost")),
        int(here.get("port", 5432)),
    )
    workers = [(h, p) for g, h, p in rows if g != 0]
    assert workers, "PYDAL_CITUS_DSN: no worker registered in pg_dist_node"
    nodes = [coordinator, *workers]

    def on(node: tuple[str, int], dbname: str) -> str:
        return make_conninfo(CITUS_DSN, host=node[0], port=str(node[1]), dbname=dbname)

    made: list[tuple[str, int]] = []
    try:
        for node in nodes:
            with psycopg.connect(on(node, here.get("dbname", "postgres")), autocommit=True) as c:
                c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            made.append(node)
            with psycopg.connect(on(node, name), autocommit=True) as c:
                c.execute("create extension citus")
        with psycopg.connect(on(coordinator, name), autocommit=True) as c:
            c.execute("select citus_set_coordinator_host(%s, %s)", coordinator)
            for worker in workers:
                c.execute("select citus_add_node(%s, %s)", worker)
        dsn = on(coordinator, name)
        migrate.up(dsn)
        yield dsn
    finally:
        for node in reversed(made):
            with psycopg.connect(on(node, here.get("dbname", "postgres")), autocommit=True) as c:
                c.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )


@pytest.fixture
def cconn(citus_dsn: str) -> Iterator[Connection]:
    """A dict-row connection to the Citus coordinator, inside a rolled-back transaction."""
    with connect(citus_dsn) as c, c.transaction(force_rollback=True):
        yield c


def _plan(conn: psycopg.Connection[Any], step: Step[Any]) -> dict[str, Any]:
    """The top node of EXPLAIN (format json) of a named query's step."""
    with conn.transaction(force_rollback=True), psycopg.ClientCursor(conn) as cur:
        cur.execute("explain (format json) " + step.sql, step.params)
        row = cur.fetchone()
    assert row is not None
    doc = row[0] if not isinstance(row, dict) else next(iter(row.values()))
    return (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]  # type: ignore[no-any-return]


def _find(plan: dict[str, Any]) -> dict[str, Any] | None:
    if "Distributed Query" in plan:
        return plan["Distributed Query"]  # type: ignore[no-any-return]
    for child in plan.get("Plans", []):
        found = _find(child)
        if found is not None:
            return found
    return None


def task_count(conn: psycopg.Connection[Any], step: Step[Any]) -> int:
    """How many shard tasks Citus plans for a named query's step (1 = one shard).

    An INSERT ... SELECT whose SELECT reads no distributed table (a batch unpacked from
    a JSON parameter) is planned "pull to coordinator": the coordinator computes the rows
    and sends each to its key's shard. Our batches carry one key, passed as one scalar
    parameter, so that counts as one task when the SELECT itself reads no shard.
    """
    plan = _plan(conn, step)
    if plan.get("Custom Plan Provider") == "Citus INSERT ... SELECT":
        assert plan["INSERT/SELECT method"] == "pull to coordinator", plan
        assert all(_find(p["Plan"]) is None for p in plan["Select Query"]), plan
        return 1
    return int(_distributed(plan)["Job"]["Task Count"])


def distributed_plan(conn: psycopg.Connection[Any], step: Step[Any]) -> dict[str, Any]:
    """The "Distributed Query" part of EXPLAIN (format json) of a named query's step."""
    return _distributed(_plan(conn, step))


def _distributed(plan: dict[str, Any]) -> dict[str, Any]:
    found = _find(plan)
    assert found is not None, f"not a distributed plan: {json.dumps(plan)[:400]}"
    return found


def on_citus(conn: psycopg.Connection[Any]) -> bool:
    """True when ``conn`` is on a database with the citus extension (e.g. the shared
    database of a run with ``PYDAL_TEST_SHARED_DSN`` on a coordinator)."""
    row = conn.execute("select count(*) from pg_extension where extname = 'citus'").fetchone()
    assert row is not None
    return bool(next(iter(row.values())) if isinstance(row, dict) else row[0])


def skip_on_citus(conn: psycopg.Connection[Any], why: str) -> None:
    """Skip the test when it runs on Citus, saying why (a single-server detail)."""
    if on_citus(conn):
        pytest.skip(f"not on Citus: {why}")
