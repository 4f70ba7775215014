"""Pipeline cache on a Citus cluster (issue 11): shard routing of every call, and scenarios.

pipeline_cache is distributed by input_hash: a call naming one hash goes to its shard;
get_session_entries names up to three hashes and goes to their shards only. user_sessions
is a reference table (one task). Fan-out, by design (they name no hash): invalidate_stage
(delete_stage_entries), purge_expired_entries and list_oldest_entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fix_citus import task_count
from psycopg.types.json import Jsonb

from pydal_lite import NotFound, sql
from pydal_lite import pipeline_cache as pc
from pydal_lite.connection import Connection
from pydal_lite.runtime import Step

pytestmark = pytest.mark.citus

P = sql.pipeline_cache
H = pc.input_hash({"file": "a.ics"})

KEYED: dict[str, Callable[[], Step[Any]]] = {
    "get_entry": lambda: P.get_entry(stage="import", input_hash=H),
    "upsert_entry": lambda: P.upsert_entry(
        stage="import", input_hash=H, input_data=Jsonb({}), result_data=Jsonb({}), ttl_seconds=60
    ),
    "delete_entry": lambda: P.delete_entry(stage="import", input_hash=H),
    "list_entries_by_hash": lambda: P.list_entries_by_hash(input_hash=H),
    # user_sessions: a reference table
    "upsert_user_session": lambda: P.upsert_user_session(
        session_id="s-1", import_hash=H, enrich_hash=None, analyze_hash=None
    ),
    "get_user_session": lambda: P.get_user_session(session_id="s-1"),
    "touch_user_session": lambda: P.touch_user_session(session_id="s-1"),
    # one hash for all three stages: one shard
    "get_session_entries": lambda: P.get_session_entries(
        import_hash=H, enrich_hash=H, analyze_hash=H
    ),
}

FAN_OUT: dict[str, Callable[[], Step[Any]]] = {
    "delete_stage_entries": lambda: P.delete_stage_entries(stage="import"),
    "purge_expired_entries": P.purge_expired_entries,
    "list_oldest_entries": lambda: P.list_oldest_entries(limit=10),
}


def _shard_of(conn: Connection, input_hash: str) -> int:
    row = conn.execute(
        "select get_shard_id_for_distribution_column('pipeline_cache', %s::varchar) as shard",
        (input_hash,),
    ).fetchone()
    assert row is not None
    return int(row["shard"])


def _shard_count(conn: Connection) -> int:
    row = conn.execute(
        "select count(*) as n from pg_dist_shard where logicalrelid = 'pipeline_cache'::regclass"
    ).fetchone()
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("query", sorted(KEYED))
def test_keyed_queries_plan_one_task(cconn: Connection, query: str) -> None:
    assert task_count(cconn, KEYED[query]()) == 1


@pytest.mark.parametrize("query", sorted(FAN_OUT))
def test_calls_naming_no_hash_ask_every_shard(cconn: Connection, query: str) -> None:
    assert task_count(cconn, FAN_OUT[query]()) == _shard_count(cconn) > 1


def test_session_entries_ask_only_the_shards_of_its_hashes(cconn: Connection) -> None:
    # hashes on three different shards (found by trying inputs)
    hashes: dict[int, str] = {}
    for i in range(200):
        h = pc.input_hash({"n": i})
        hashes.setdefault(_shard_of(cconn, h), h)
        if len(hashes) == 3:
            break
    a, b, c = hashes.values()
    assert (
        task_count(cconn, P.get_session_entries(import_hash=a, enrich_hash=b, analyze_hash=c)) == 3
    )
    assert (
        task_count(cconn, P.get_session_entries(import_hash=a, enrich_hash=b, analyze_hash=None))
        == 2
    )
    assert (
        task_count(cconn, P.get_session_entries(import_hash=a, enrich_hash=None, analyze_hash=a))
        == 1
    )


# -- scenarios -------------------------------------------------------------------------


def _expire(conn: Connection, stage: str, data: Any) -> None:
    conn.execute(
        "update pipeline_cache set expires_at = now() - interval '1 second'"
        " where stage = %s and input_hash = %s",
        (stage, pc.input_hash(data)),
    )


def test_entries_put_get_invalidate_and_purge(cconn: Connection) -> None:
    data = {"file": f"{uuid.uuid4()}.ics"}
    first = pc.put_entry(cconn, "import", data, {"events": 1}, ttl=3600.0)
    second = pc.put_entry(cconn, "import", data, {"events": 2})  # replaces, never expires
    assert (second["id"], second["expires_at"]) == (first["id"], None)
    got = pc.get_entry(cconn, "import", data)
    assert got is not None and got["result_data"] == {"events": 2}
    assert pc.get_entry_by_hash(cconn, "import", first["input_hash"]) == got
    pc.put_entry(cconn, "enrich", data, {"rich": True}, ttl=60.0)
    listed = pc.list_entries_by_hash(cconn, first["input_hash"])
    assert [r["stage"] for r in listed] == ["enrich", "import"]

    _expire(cconn, "enrich", data)
    assert pc.get_entry(cconn, "enrich", data) is None
    assert pc.purge_expired_entries(cconn) >= 1
    assert [r["stage"] for r in pc.list_entries_by_hash(cconn, first["input_hash"])] == ["import"]
    assert pc.invalidate_entry(cconn, "import", data) is True
    assert pc.invalidate_entry(cconn, "import", data) is False
    assert pc.get_entry(cconn, "import", data) is None

    pc.put_entry(cconn, "analyze", {"x": 1}, {})
    pc.put_entry(cconn, "analyze", {"x": 2}, {})
    assert pc.invalidate_stage(cconn, "analyze") >= 2
    assert pc.get_entry(cconn, "analyze", {"x": 1}) is None


def test_user_sessions_and_their_results(cconn: Connection) -> None:
    sid = f"sess-{uuid.uuid4()}"
    empty = pc.record_user_session(cconn, sid)
    assert pc.get_session_results(cconn, sid) == {
        "session_id": sid,
        "import_hash": None,
        "enrich_hash": None,
        "analyze_hash": None,
        "last_accessed": empty["last_accessed"],
        "import_result": None,
        "enrich_result": None,
        "analyze_result": None,
    }
    imp = pc.put_entry(cconn, "import", {"f": sid}, {"events": 3})
    ana = pc.put_entry(cconn, "analyze", {"g": sid}, {"score": 9}, ttl=60.0)
    stale = pc.input_hash({"gone": sid})  # recorded, never cached
    pc.record_user_session(cconn, sid, import_hash=imp["input_hash"], enrich_hash=stale)
    row = pc.record_user_session(cconn, sid, analyze_hash=ana["input_hash"])
    assert (row["import_hash"], row["enrich_hash"]) == (imp["input_hash"], stale)
    assert row["id"] == empty["id"]

    res = pc.get_session_results(cconn, sid)
    assert res is not None
    assert (res["import_result"], res["enrich_result"], res["analyze_result"]) == (
        {"events": 3},
        None,
        {"score": 9},
    )
    _expire(cconn, "analyze", {"g": sid})
    res = pc.get_session_results(cconn, sid)
    assert res is not None and res["analyze_result"] is None and res["analyze_hash"]
    assert pc.get_session_results(cconn, "nobody-" + sid) is None

    cconn.execute(
        "update user_sessions set last_accessed = now() - interval '1 hour' where session_id = %s",
        (sid,),
    )
    old = pc.get_user_session(cconn, sid)
    assert old is not None
    assert pc.touch_user_session(cconn, sid)["last_accessed"] > old["last_accessed"]
    with pytest.raises(NotFound):
        pc.touch_user_session(cconn, "ghost-" + sid)
