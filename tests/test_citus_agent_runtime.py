"""Seed 001 (agent runtime) on a real Citus cluster: the layout 0017 makes, one shard per
keyed call, and the public API end to end with commits.

Needs ``PYDAL_CITUS_DSN`` (tests/fix_citus.py); skipped without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fix_citus import task_count

from pydal_lite import agent_runtime as ar
from pydal_lite.connection import Connection, connect
from pydal_lite.runtime import Step
from pydal_lite.sql import agent_runtime as q

pytestmark = pytest.mark.citus

LAYOUT = {
    # table: (method, distribution column or None, colocated with)
    "sessions": ("n", None, None),
    "messages": ("h", "session_db_id", None),
    "agent_contexts": ("h", "session_db_id", "messages"),
    "agent_switches": ("h", "session_db_id", "messages"),
    "poc_task_executions": ("h", "id", None),
    "poc_execution_plans": ("h", "task_execution_id", "poc_task_executions"),
    "poc_subtask_executions": ("h", "task_execution_id", "poc_task_executions"),
    "pipeline_cache": ("h", "input_hash", None),
    "user_sessions": ("n", None, None),
    "event_plans": ("n", None, None),
    "vendors": ("n", None, None),
    "task_management_runs": ("n", None, None),
    "extended_tasks": ("h", "task_management_run_id", None),
    "task_conflicts": ("h", "task_management_run_id", "extended_tasks"),
    "materials": ("n", None, None),
    "calculation_methods": ("n", None, None),
    "coefficient_types": ("n", None, None),
    "calculations": ("n", None, None),
    "calculation_data": ("h", "calculation_id", None),
    "coefficients": ("h", "material_id", None),
    "checkpoint_migrations": ("n", None, None),
    "checkpoints": ("n", None, None),
    "checkpoint_blobs": ("n", None, None),
    "checkpoint_writes": ("n", None, None),
}

CHAT = [
    {"role": "system", "content": "You are a planner."},
    {"role": "user", "content": "Plan the zanzibar offsite"},
    {"role": "assistant", "content": "Booking venues", "tool_calls": [{"id": "c1"}]},
    {"role": "tool", "content": "3 venues found", "tool_call_id": "c1"},
]


def test_0017_distributes_every_table_as_documented(citus_dsn: str) -> None:
    with psycopg.connect(citus_dsn) as c:
        rows = c.execute(
            "select logicalrelid::text, partmethod,"
            " column_to_column_name(logicalrelid, partkey), colocationid"
            " from pg_dist_partition"
        ).fetchall()
        local = c.execute(
            "select count(*) from pg_dist_partition"
            " where logicalrelid = 'background_tasks'::regclass"
        ).fetchone()
    found = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert set(found) == set(LAYOUT)
    for table, (method, column, colocated) in LAYOUT.items():
        assert found[table][:2] == (method, column), table
        if colocated is not None:
            assert found[table][2] == found[colocated][2], f"{table} not with {colocated}"
    groups = [found[t][2] for t, spec in LAYOUT.items() if spec[0] == "h" and spec[2] is None]
    assert len(groups) == len(set(groups)), "unrelated keys share a colocation group"
    assert local == (0,), "the queue stays a plain local table on the coordinator"


@pytest.fixture
def saved(cconn: Connection) -> Iterator[int]:
    """A session with messages and an agent context; its session_db_id."""
    ar.save_session(cconn, "c1", CHAT)
    ar.save_agent_context(cconn, "c1", "coder", [{"from": None, "to": "coder"}])
    row = cconn.execute("select id from sessions where session_id = 'c1'").fetchone()
    assert row is not None
    yield row["id"]


ROWS = [{"seq": 9, "role": "user", "content": "x"}]
KEYED: dict[str, Callable[[int], Step[Any]]] = {
    "list_message_fingerprints": lambda k: q.list_message_fingerprints(session_db_id=k),
    "delete_messages_from": lambda k: q.delete_messages_from(session_db_id=k, from_seq=3),
    "insert_messages": lambda k: q.insert_messages(session_db_id=k, rows=ROWS),
    "list_session_messages": lambda k: q.list_session_messages(session_db_id=k),
    "list_session_messages_page": lambda k: q.list_session_messages_page(
        session_db_id=k, page_size=10, page_offset=10
    ),
    "list_session_messages_after": lambda k: q.list_session_messages_after(
        session_db_id=k, after_seq=1, row_limit=10
    ),
    "get_message_stats": lambda k: q.get_message_stats(session_db_id=k),
    "upsert_agent_context": lambda k: q.upsert_agent_context(
        session_db_id=k, current_agent="a", created_at=None, switch_count=0, metadata={}
    ),
    "list_context_switches": lambda k: q.list_context_switches(session_db_id=k),
    "delete_switches_from": lambda k: q.delete_switches_from(session_db_id=k, from_id=1),
    "insert_switches": lambda k: q.insert_switches(
        session_db_id=k, context_db_id=1, rows=[{"ord": 0, "to_agent": "b"}]
    ),
    "get_agent_context": lambda k: q.get_agent_context(session_db_id=k),
    "list_context_history": lambda k: q.list_context_history(session_db_id=k),
    "list_agent_switches": lambda k: q.list_agent_switches(session_db_id=k, row_limit=5),
    "search_session_messages": lambda k: q.search_session_messages(
        session_db_id=k, query="zanzibar", candidates=100, row_limit=5
    ),
    # sessions is a reference table: one task, on any node (writes reach every copy)
    "get_session": lambda k: q.get_session(session_id="c1", include_deleted=False),
    "upsert_session": lambda k: q.upsert_session(session_id="c1", last_activity=None),
    "set_session_chain": lambda k: q.set_session_chain(
        session_db_id=k, message_count=0, message_chain=b""
    ),
}


@pytest.mark.parametrize("name", sorted(KEYED))
def test_keyed_query_reads_one_shard(cconn: Connection, saved: int, name: str) -> None:
    assert task_count(cconn, KEYED[name](saved)) == 1


def test_append_touches_one_shard_and_the_session_row(cconn: Connection, saved: int) -> None:
    # the CTE's insert is routed by the key; the session update is the reference table's
    step = q.append_messages(session_db_id=saved, rows=ROWS, message_count=10, message_chain=b"")
    assert task_count(cconn, step) == 1


def test_global_calls_fan_out(cconn: Connection, saved: int) -> None:
    shards = cconn.execute(
        "select count(*) as n from pg_dist_shard where logicalrelid = 'messages'::regclass"
    ).fetchone()
    assert shards is not None
    # no key: every shard answers (documented as fan-out in docs/scaling.md)
    assert task_count(cconn, q.list_sessions_by_agent(current_agent="coder")) == shards["n"]
    hits = ar.search_messages(cconn, None, "zanzibar")
    assert [(h["session_id"], h["seq"]) for h in hits] == [("c1", 1)]


def test_public_api_end_to_end_with_commits(citus_dsn: str) -> None:
    with connect(citus_dsn) as conn:
        try:
            _scenario(conn)
        finally:
            ar.delete_session(conn, "e2e", soft=False)
            ar.delete_session(conn, "e2e-other", soft=False)


def _scenario(conn: Connection) -> None:
    assert ar.save_session(conn, "e2e", CHAT)["inserted"] == 4
    longer = [*CHAT, {"role": "assistant", "content": "Booked"}]
    assert ar.save_session(conn, "e2e", longer) == {
        "session_id": "e2e",
        "kept": 4,
        "inserted": 1,
        "deleted": 0,
    }
    changed = [*CHAT[:2], {"role": "assistant", "content": "Cancelled"}]
    assert ar.save_session(conn, "e2e", changed)["deleted"] == 3
    loaded = ar.load_session(conn, "e2e")
    assert loaded is not None and [m["content"] for m in loaded["messages"]][-1] == "Cancelled"
    assert len(ar.get_messages_paginated(conn, "e2e", page=1, page_size=2)) == 2
    page = ar.get_messages_after(conn, "e2e", after_seq=0, limit=5)
    assert [m["seq"] for m in page["messages"]] == [1, 2]
    stats = ar.get_session_stats(conn, "e2e")
    assert stats is not None and stats["message_count"] == 3
    assert ar.search_messages(conn, "e2e", "zanzibar")[0]["seq"] == 1

    history = [{"from": None, "to": "planner"}, {"from": "planner", "to": "coder"}]
    ar.save_agent_context(conn, "e2e", "coder", history)
    ctx = ar.load_agent_context(conn, "e2e")
    assert ctx is not None and [h["to"] for h in ctx["agent_history"]] == ["planner", "coder"]
    assert [s["to_agent"] for s in ar.get_agent_switch_history(conn, "e2e")] == [
        "coder",
        "planner",
    ]
    assert "e2e" in ar.list_sessions_by_agent(conn, "coder")

    # a transaction scope rolls back writes to the reference table and the shards together
    with pytest.raises(RuntimeError), ar.session_scope(conn):
        ar.save_session(conn, "e2e-other", CHAT)
        ar.save_agent_context(conn, "e2e-other", "coder", [])
        raise RuntimeError("boom")
    assert ar.load_session(conn, "e2e-other") is None
    with ar.session_scope(conn):
        ar.save_session(conn, "e2e-other", CHAT)
        ar.save_agent_context(conn, "e2e-other", "coder", [])
    assert ar.load_agent_context(conn, "e2e-other") is not None

    assert ar.delete_session(conn, "e2e") is True
    assert ar.load_session(conn, "e2e") is None
    assert ar.restore_session(conn, "e2e") is True
    assert ar.delete_session(conn, "e2e", soft=False) is True
    counts = conn.execute(
        "select (select count(*) from messages m join sessions s on s.id = m.session_db_id"
        " where s.session_id = 'e2e') as n"
    ).fetchone()
    assert counts == {"n": 0}
