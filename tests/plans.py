"""EXPLAIN helpers for tests that prove a named query uses its index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg

from pydal_lite.runtime import Step


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (format json) plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain(conn: psycopg.Connection[Any], step: Step[Any]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of a named query's step (``sql.<file>.<query>(...)``);
    the top plan node.

    The statement runs, then the transaction is rolled back, so writes leave no trace;
    commit the test's own data first.
    """
    with psycopg.ClientCursor(conn) as cur:
        cur.execute("explain (analyze, buffers, format json) " + step.sql, step.params)
        row = cur.fetchone()
    conn.rollback()
    assert row is not None
    doc = row[0] if not isinstance(row, dict) else next(iter(row.values()))
    return (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]  # type: ignore[no-any-return]
