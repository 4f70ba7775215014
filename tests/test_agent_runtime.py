"""Agent runtime (seed 001): sessions, messages, agent contexts, switches, on a real server."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from catalog import tables_in, version_below
from fix_citus import on_citus, skip_on_citus
from fix_db import rolled_back
from plans import explain, plan_nodes
from psycopg import pq

from pydal_lite import InvalidInput, NotFound, connect, migrate
from pydal_lite import agent_runtime as ar
from pydal_lite.agent_runtime.messages import parse_message
from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.runtime import Step
from pydal_lite.sql import agent_runtime as q

TABLES = ("sessions", "messages", "agent_contexts", "agent_switches")

TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
    }
]
CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Please open a.py", "name": "alice"},
    {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
    {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"},
    {"role": "assistant", "content": "It prints hi."},
]


def _one(conn: Connection, sql: str, *params: Any) -> Any:
    """First column of the first row; read in its own transaction (a savepoint in the
    rolled-back default), so later operations on an own_db connection start theirs."""
    with conn.transaction():
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return next(iter(row.values()))


def _rows(conn: Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    with conn.transaction():
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _counts(conn: Connection) -> dict[str, int]:
    return {t: _one(conn, f"select count(*) from {t}") for t in TABLES}  # noqa: S608


def _msgs(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"}
        for i in range(start, start + n)
    ]


@contextmanager
def _trace(conn: Connection) -> Iterator[list[str]]:
    """Record the frontend messages libpq sends (its own protocol trace)."""
    sent: list[str] = []
    conn.prepare_threshold = None  # re-send every statement's text, so Parse names it
    with tempfile.TemporaryFile() as f:
        conn.pgconn.trace(f.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            conn.pgconn.untrace()
            f.seek(0)
            for line in f.read().decode().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and parts[0] == "F":
                    sent.append(parts[2] + "\t" + "\t".join(parts[3:]))


def _round_trips(sent: list[str]) -> int:
    """Each Sync (extended protocol) or Query (simple protocol) waits for the server."""
    return sum(1 for m in sent if m.startswith(("Sync", "Query")))


def _named(sent: list[str]) -> list[str]:
    out = []
    for m in sent:
        if m.startswith("Parse") and "pydal_lite:" in m:
            out.append(m.split("pydal_lite:agent_runtime.")[1].split(" ")[0])
    return out


# ---------------------------------------------------------------- schema


def test_seed_indexes_exist_with_their_columns(conn: Connection) -> None:
    defs = {
        r["indexname"]: r["indexdef"]
        for r in _rows(
            conn, "select indexname, indexdef from pg_indexes where schemaname = 'public'"
        )
    }
    assert "(session_id, last_activity)" in defs["idx_session_activity"]
    assert "(is_active, last_activity)" in defs["idx_active_sessions"]
    assert (
        'ON public.messages USING btree (session_db_id, "timestamp")'
        in defs["idx_session_timestamp"]
    )
    assert '(role, "timestamp")' in defs["idx_role_timestamp"]
    # led by session_db_id since 0016 (the Citus key; backs the context foreign key)
    assert "(session_db_id, context_db_id, switched_at)" in defs["idx_context_switched"]
    assert "WHERE (deleted_at IS NULL)" in defs["sessions_last_activity_idx"]
    assert "USING gin (to_tsvector('simple'::regconfig" in defs["messages_content_fts_idx"]
    assert "(session_db_id, seq)" in defs["messages_session_db_id_seq_key"]


def test_every_table_has_a_comment(conn: Connection) -> None:
    missing = _rows(
        conn,
        "select c.relname from pg_class c where c.relname = any(%s) "
        "and obj_description(c.oid, 'pg_class') is null",
        list(TABLES),
    )
    assert missing == []


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("insert into sessions (session_id) values (repeat('x', 256))", "session_id_length"),
        ("insert into sessions (session_id) values ('')", "session_id_length"),
        ("insert into sessions (session_id, is_active) values ('a', false)", "is_active"),
        (
            "insert into messages (session_db_id, seq, role, content) "
            "select id, 0, 'robot', 'x' from sessions",
            "messages_role_check",
        ),
        (
            "insert into messages (session_db_id, seq, role, content) "
            "select id, 0, 'user', null from sessions",
            "messages_content_check",
        ),
        (
            "insert into messages (session_db_id, seq, role, content, tool_calls) "
            "select id, 0, 'assistant', 'x', '{}' from sessions",
            "messages_tool_calls_check",
        ),
        (
            "insert into messages (session_db_id, seq, role, content) "
            "values (999999, 0, 'user', 'x')",
            "messages_session_db_id_fkey",
        ),
    ],
)
def test_database_enforces_the_rules_too(conn: Connection, sql: str, constraint: str) -> None:
    conn.execute("insert into sessions (session_id) values ('live')")
    # Citus runs an INSERT ... SELECT through the coordinator and reports a shard's
    # violation as XX000 (InternalError) with the shard's message
    expected = (psycopg.IntegrityError, psycopg.errors.InternalError_)
    if not on_citus(conn):
        expected = (psycopg.IntegrityError,)
    with pytest.raises(expected, match=constraint), conn.transaction():
        conn.execute(sql)


def test_down_to_0001_drops_the_tables_and_up_restores_them(conn: Connection, dsn: str) -> None:
    ar.save_session(conn, "kept?", CHAT)
    conn.close()
    migrate.down(dsn, target=version_below(dsn, "0002"))
    assert not set(TABLES) & tables_in(dsn)
    migrate.up(dsn)
    assert set(TABLES) <= tables_in(dsn)
    with connect(dsn) as c:
        assert ar.load_session(c, "kept?") is None  # down dropped the data
        ar.save_session(c, "again", CHAT)
        assert ar.load_session(c, "again")["messages"] == CHAT  # type: ignore[index]


# ---------------------------------------------------------------- save / load


def test_save_and_load_round_trip_openai_shape(conn: Connection) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    out = ar.save_session(conn, "s1", CHAT, at)
    assert out == {"session_id": "s1", "kept": 0, "inserted": 5, "deleted": 0}
    loaded = ar.load_session(conn, "s1")
    assert loaded is not None
    assert loaded["messages"] == CHAT
    assert loaded["last_activity"] == at
    assert loaded["is_active"] is True and loaded["deleted_at"] is None
    assert ar.load_session(conn, "nope") is None


def test_seed_normalisations_and_ignored_keys(conn: Connection) -> None:
    sdk_dump = {  # what openai's message.model_dump() gives
        "role": "assistant",
        "content": "ok",
        "refusal": None,
        "audio": None,
        "function_call": None,
        "tool_calls": None,
        "annotations": [],
    }
    ar.save_session(conn, "s", [{"role": "user", "content": None, "name": ""}, sdk_dump])
    loaded = ar.load_session(conn, "s")
    assert loaded is not None
    assert loaded["messages"] == [
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "ok"},
    ]
    # the reloaded list is recognised as the stored one
    assert ar.save_session(conn, "s", loaded["messages"])["inserted"] == 0


def test_saving_the_same_list_twice_stores_it_once(conn: Connection) -> None:
    ar.save_session(conn, "s1", CHAT)
    ids = _rows(conn, "select id from messages order by seq")
    again = ar.save_session(conn, "s1", [dict(m) for m in CHAT])
    assert again == {"session_id": "s1", "kept": 5, "inserted": 0, "deleted": 0}
    assert _rows(conn, "select id from messages order by seq") == ids


def test_longer_list_appends_only_the_tail_in_one_insert(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(100))
    old = _rows(conn, "select id, seq from messages order by seq")
    with _trace(conn) as sent:
        out = ar.save_session(conn, "s1", _msgs(150))
    assert out == {"session_id": "s1", "kept": 100, "inserted": 50, "deleted": 0}
    # BEGIN, upsert_session, append_messages, COMMIT: the stored list is recognised by the
    # session's digest, no stored fingerprint is read
    assert _named(sent) == ["upsert_session", "append_messages"]
    assert _round_trips(sent) == 4
    rows = _rows(conn, "select id, seq, content from messages order by seq")
    assert [(r["id"], r["seq"]) for r in rows[:100]] == [(r["id"], r["seq"]) for r in old]
    assert [r["seq"] for r in rows] == list(range(150))
    assert rows[149]["content"] == "message 149"


def test_round_trips_do_not_grow_with_the_tail(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(10))
    with _trace(conn) as one:
        ar.save_session(conn, "s1", _msgs(11))
    with _trace(conn) as many:
        ar.save_session(conn, "s1", _msgs(1011))
    with _trace(conn) as batched:
        ar.save_session(conn, "s1", _msgs(2211), batch_size=500)
    with _trace(conn) as nothing:
        ar.save_session(conn, "s1", _msgs(2211))
    assert _round_trips(one) == _round_trips(many) == 4
    # 1200 new rows / 500 per batch: the last batch also records the digest
    assert _named(batched) == [
        "upsert_session",
        "insert_messages",
        "insert_messages",
        "append_messages",
    ]
    assert _round_trips(batched) == 6
    assert _named(nothing) == ["upsert_session"]
    assert _one(conn, "select count(*) from messages") == 2211


def test_diverging_list_replaces_from_the_first_difference(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(5))
    kept_ids = _rows(conn, "select id from messages where seq < 2 order by seq")
    new = [*_msgs(2), {"role": "user", "content": "summary of the rest"}]
    assert ar.save_session(conn, "s1", new) == {
        "session_id": "s1",
        "kept": 2,
        "inserted": 1,
        "deleted": 3,
    }
    assert ar.load_session(conn, "s1")["messages"] == new  # type: ignore[index]
    assert _rows(conn, "select id from messages where seq < 2 order by seq") == kept_ids
    # a shorter list truncates, as the seed's "the list is the truth"
    assert ar.save_session(conn, "s1", _msgs(1))["deleted"] == 2
    assert _one(conn, "select count(*) from messages") == 1


def test_diverging_list_with_raise_names_the_index_and_writes_nothing(conn: Connection) -> None:
    at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ar.save_session(conn, "s1", _msgs(3), at)
    changed = _msgs(4)
    changed[1] = {**changed[1], "tool_calls": TOOL_CALLS}
    with pytest.raises(InvalidInput, match=r"'s1': messages\[1\] differs from stored message 1"):
        ar.save_session(conn, "s1", changed, on_mismatch="raise")
    with pytest.raises(InvalidInput, match="2 messages given but 3 are stored"):
        ar.save_session(conn, "s1", _msgs(2), on_mismatch="raise")
    assert ar.load_session(conn, "s1")["messages"] == _msgs(3)  # type: ignore[index]
    # the session upsert ran inside the same transaction and was rolled back too
    assert _one(conn, "select last_activity from sessions") == at


def test_tool_calls_are_compared_as_json(conn: Connection) -> None:
    msg = {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS}
    ar.save_session(conn, "s1", [msg])
    reordered = [{"function": TOOL_CALLS[0]["function"], "type": "function", "id": "call_1"}]
    assert ar.save_session(conn, "s1", [{**msg, "tool_calls": reordered}])["inserted"] == 0
    other = [{**TOOL_CALLS[0], "id": "call_2"}]
    assert ar.save_session(conn, "s1", [{**msg, "tool_calls": other}])["deleted"] == 1


# Numbers and key orders whose Python JSON text differs from jsonb's: 1e16 is '1e+16' in
# Python and 10000000000000000 in jsonb, -0.0 is 0.0, keys are reordered by length.
ODD_TOOL_CALLS = [
    {
        "id": "call_n",
        "type": "function",
        "function": {"name": "calc", "arguments": "{}"},
        "zeta": 1e16,
        "a": [1.0, -0.0, 2**70, -(2**64), 1.5e-7, 5e-324, 1e300, True, None],
        "nested": {"bb": {"y": 1, "x": [0.5, 3.0]}, "é": "ü\n\u0001", "a": {}},
    }
]


def test_tool_calls_with_odd_numbers_save_idempotently(conn: Connection) -> None:
    msgs = [*_msgs(2), {"role": "assistant", "content": None, "tool_calls": ODD_TOOL_CALLS}]
    assert ar.save_session(conn, "s1", msgs)["inserted"] == 3
    ids = _rows(conn, "select id from messages order by seq")
    for _ in range(3):
        out = ar.save_session(conn, "s1", msgs)
        assert out == {"session_id": "s1", "kept": 3, "inserted": 0, "deleted": 0}
    # the reloaded list (jsonb's spelling: 10000000000000000, 0.0) is the same list too
    loaded = ar.load_session(conn, "s1")
    assert loaded is not None
    assert loaded["messages"][2]["tool_calls"][0]["zeta"] == 10**16
    assert ar.save_session(conn, "s1", loaded["messages"])["kept"] == 3
    # equal as jsonb values: 1 for 1.0, 0 for -0.0, 10**16 for 1e16, other key order
    call = json.loads(json.dumps(ODD_TOOL_CALLS[0]))
    call["a"][0], call["a"][1], call["zeta"] = 1, 0, 10**16
    same = {**msgs[2], "tool_calls": [dict(reversed(list(call.items())))]}
    assert ar.save_session(conn, "s1", [*msgs[:2], same])["kept"] == 3
    assert _rows(conn, "select id from messages order by seq") == ids
    # a real difference still counts
    call["a"][0] = 2
    changed = {**msgs[2], "tool_calls": [call]}
    assert ar.save_session(conn, "s1", [*msgs[:2], changed])["deleted"] == 1


@pytest.mark.parametrize(
    "message",
    [
        CHAT[0],
        CHAT[1],
        CHAT[3],
        {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
        {"role": "assistant", "content": "x", "tool_calls": ODD_TOOL_CALLS},
        {"role": "user", "content": 'Привет, 世界 🎉 \t"q" \\ \u007f\u2028'},
        {"role": "assistant", "content": "", "tool_calls": [{"": [], "k": {}, "ключ": -1.25e-9}]},
    ],
)
def test_python_fingerprint_matches_the_servers(conn: Connection, message: Any) -> None:
    m = parse_message(0, message)
    ar.save_session(conn, "s1", [message])
    stored = _one(conn, "select fingerprint from messages")
    calls = None if m.tool_calls is None else json.dumps(m.tool_calls)  # Python's spelling
    computed = _one(
        conn,
        "select messages_fingerprint(%s, %s, %s, %s, %s::jsonb)",
        m.role,
        m.content,
        m.name,
        m.tool_call_id,
        calls,
    )
    assert bytes(stored) == bytes(computed) == m.fingerprint
    part = _one(
        conn,
        "select messages_chain_part(role, content, name, tool_call_id, tool_calls) from messages",
    )
    assert bytes(part) == m.encoded


def test_fingerprint_is_stored_for_every_writer(conn: Connection) -> None:
    skip_on_citus(
        conn,
        "0017 drops the triggers that forget a session's digest when plain SQL "
        "edits messages (docs/scaling.md)",
    )
    # plain SQL (as the SQLite importer's COPY) names no fingerprint: the trigger sets it
    conn.execute("insert into sessions (session_id) values ('raw')")
    conn.execute(
        "insert into messages (session_db_id, seq, role, content, tool_calls) "
        "select id, 0, 'assistant', 'hi', '[{\"b\": 1e16, \"a\": 1.0}]' from sessions"
    )
    given = [{"role": "assistant", "content": "hi", "tool_calls": [{"a": 1, "b": 1e16}]}]
    assert ar.save_session(conn, "raw", given)["kept"] == 1
    # an update keeps it in step; a writer cannot set a wrong one
    conn.execute("update messages set content = 'changed', fingerprint = '\\x00'::bytea")
    assert ar.save_session(conn, "raw", given) == {
        "session_id": "raw",
        "kept": 0,
        "inserted": 1,
        "deleted": 1,
    }


_DIGEST_OF_STORED = """
select
    s.message_count,
    s.message_chain,
    (select count(*) from messages as m where m.session_db_id = s.id) as stored,
    (
        select sha256(
            coalesce(
                string_agg(
                    messages_chain_part(m.role, m.content, m.name, m.tool_call_id, m.tool_calls),
                    ''::bytea
                    order by m.seq
                ),
                ''
            )
        )
        from messages as m
        where m.session_db_id = s.id
    ) as digest
from sessions as s
where s.session_id = %s
"""


def test_session_records_the_digest_of_its_stored_list(conn: Connection) -> None:
    skip_on_citus(
        conn,
        "0017 drops the triggers that forget a session's digest when plain SQL "
        "edits messages (docs/scaling.md)",
    )
    ar.save_session(conn, "s1", [])
    ar.save_session(conn, "s1", _msgs(3))
    ar.save_session(conn, "s1", _msgs(1200), batch_size=500)
    ar.save_session(conn, "s1", [*_msgs(7), {"role": "user", "content": "other"}])
    for _ in range(2):  # unchanged: nothing written, digest still right
        row = _rows(conn, _DIGEST_OF_STORED, "s1")[0]
        assert row["message_count"] == row["stored"] == 8
        assert bytes(row["message_chain"]) == bytes(row["digest"])
        assert (
            ar.save_session(conn, "s1", [*_msgs(7), {"role": "user", "content": "other"}])[
                "inserted"
            ]
            == 0
        )


@pytest.mark.own_db  # commits, as another writer's change would
@pytest.mark.parametrize(
    "change",
    [
        "update messages set content = 'edited' where seq = 1",
        "delete from messages where seq = 4",
        "delete from messages where seq >= 3",
        "truncate messages",
    ],
)
def test_other_writers_make_the_digest_unknown(conn: Connection, change: str) -> None:
    ar.save_session(conn, "s1", _msgs(5))
    conn.execute(change)
    conn.commit()
    assert _one(conn, "select message_chain from sessions") is None
    # the next save compares fingerprints one by one, restores the list, records the digest
    out = ar.save_session(conn, "s1", _msgs(6))
    assert out["kept"] + out["inserted"] == 6
    assert [r["content"] for r in _rows(conn, "select content from messages order by seq")] == [
        m["content"] for m in _msgs(6)
    ]
    row = _rows(conn, _DIGEST_OF_STORED, "s1")[0]
    assert row["message_count"] == row["stored"] == 6
    assert bytes(row["message_chain"]) == bytes(row["digest"])


@pytest.mark.own_db  # commits, as another writer's change would
def test_insert_by_another_writer_is_seen(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(5))
    conn.execute(
        "insert into messages (session_db_id, seq, role, content) "
        "select id, 5, 'user', 'foreign' from sessions"
    )
    conn.commit()
    # 0021's trigger saw the insert reach past message_count: the digest is unknown, so
    # the next save compares fingerprints one by one
    assert _one(conn, "select message_chain from sessions") is None
    assert ar.save_session(conn, "s1", _msgs(6)) == {
        "session_id": "s1",
        "kept": 5,
        "inserted": 1,
        "deleted": 1,
    }
    assert _one(conn, "select content from messages where seq = 5") == "message 5"


@pytest.mark.own_db  # commits before it counts what the next save reads
def test_append_cost_does_not_read_the_history(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(3000))
    conn.execute("analyze sessions, messages")
    conn.commit()
    with _trace(conn) as sent:
        ar.save_session(conn, "s1", _msgs(3001))
    # one upsert and one insert: no fingerprint list, no max(seq) probe (0021's trigger
    # sees inserts past message_count on the server)
    assert _named(sent) == ["upsert_session", "append_messages"]
    db_id = _one(conn, "select id from sessions where session_id = 's1'")
    rows = [{"seq": 3001, "role": "user", "content": "x"}]
    plan = explain(
        conn,
        q.append_messages(
            session_db_id=db_id, rows=rows, message_count=3002, message_chain=bytes(32)
        ),
    )
    scans = [
        n
        for n in plan_nodes(plan)
        if n.get("Relation Name") == "messages" and "Scan" in n["Node Type"]
    ]
    assert scans == []  # the insert reads no stored message


def test_save_reads_only_seq_and_fingerprint(conn: Connection) -> None:
    skip_on_citus(conn, "reads the single-server plan's output columns")
    ar.save_session(conn, "s1", CHAT)
    db_id = _one(conn, "select id from sessions")
    step = q.list_message_fingerprints(session_db_id=db_id)
    with psycopg.ClientCursor(conn) as cur:
        cur.execute("explain (verbose, format json) " + step.sql, step.params)
        row = cur.fetchone()
    assert row is not None
    plan = next(iter(row.values()))[0]["Plan"]
    outputs = {tuple(n.get("Output", [])) for n in plan_nodes(plan)}
    # no content, no hashing at read time: the stored 32 bytes and the position
    assert all(
        set(o) <= {"seq", "fingerprint", "m.seq", "messages.seq", "messages.fingerprint"}
        for o in outputs
    ), outputs
    assert not any("convert_to" in c or "sha256" in c for o in outputs for c in o)


def test_concurrent_saves_of_one_new_session_store_it_once(dsn: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with connect(dsn) as c:
                barrier.wait()
                ar.save_session(c, "shared", _msgs(n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (20, 20, 30, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(dsn) as c:
        seqs = [r["seq"] for r in _rows(c, "select seq from messages order by seq")]
        # every save left a list that is a prefix of the longest one; the last one wins
        assert seqs == list(range(len(seqs))) and len(seqs) in (20, 30)
        assert ar.load_session(c, "shared")["messages"] == _msgs(len(seqs))  # type: ignore[index]


async def test_async_save_load_and_paging(aconn: AsyncConnection) -> None:
    assert (await ar.save_session(aconn, "a1", CHAT))["inserted"] == 5
    assert (await ar.save_session(aconn, "a1", CHAT))["inserted"] == 0
    loaded = await ar.load_session(aconn, "a1")
    assert loaded is not None and loaded["messages"] == CHAT
    assert await ar.get_messages_paginated(aconn, "a1", page=2, page_size=2) == CHAT[2:4]
    page = await ar.get_messages_after(aconn, "a1", after_seq=3, limit=10)
    assert [m["seq"] for m in page["messages"]] == [4] and page["next_after_seq"] is None


# ---------------------------------------------------------------- reads


def test_get_messages_paginated(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(45))
    assert ar.get_messages_paginated(conn, "s1") == _msgs(20)
    assert ar.get_messages_paginated(conn, "s1", page=3, page_size=20) == _msgs(5, 40)
    assert ar.get_messages_paginated(conn, "s1", page=4, page_size=20) == []
    assert ar.get_messages_paginated(conn, "unknown") == []


def test_keyset_pages_cover_everything_once_in_order(conn: Connection) -> None:
    ar.save_session(conn, "s1", _msgs(103))
    ar.save_session(conn, "other", _msgs(7))
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = ar.get_messages_after(conn, "s1", after_seq=cursor, limit=25)
        seen += page["messages"]
        pages += 1
        cursor = page["next_after_seq"]
        if cursor is None:
            break
        assert cursor == page["messages"][-1]["seq"]
    assert pages == 5
    assert [m["seq"] for m in seen] == list(range(103))
    assert [{"role": m["role"], "content": m["content"]} for m in seen] == _msgs(103)
    exact = ar.get_messages_after(conn, "s1", after_seq=77, limit=25)
    assert exact["next_after_seq"] is None and len(exact["messages"]) == 25


def test_get_session_stats(conn: Connection) -> None:
    t0 = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
    msgs = [
        {"role": "user", "content": "a", "token_count": 10, "timestamp": t0},
        {"role": "assistant", "content": "b", "token_count": 32, "timestamp": t0 + timedelta(1)},
        {"role": "user", "content": "c", "timestamp": t0 + timedelta(hours=1)},
    ]
    ar.save_session(conn, "s1", msgs, t0 + timedelta(days=2))
    stats = ar.get_session_stats(conn, "s1")
    assert stats is not None
    assert stats["message_count"] == 3
    assert stats["total_tokens"] == 42
    assert stats["last_message_at"] == t0 + timedelta(days=1)
    assert stats["last_activity"] == t0 + timedelta(days=2)
    assert stats["created_at"] <= datetime.now(timezone.utc)
    ar.save_session(conn, "empty", [])
    empty = ar.get_session_stats(conn, "empty")
    assert empty is not None
    assert (empty["message_count"], empty["total_tokens"], empty["last_message_at"]) == (0, 0, None)
    assert ar.get_session_stats(conn, "nope") is None


def test_message_metadata_and_timestamps_are_kept(conn: Connection) -> None:
    at = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=3)))
    ar.save_session(
        conn, "s1", [{"role": "user", "content": "x", "metadata": {"ui": [1, 2]}, "timestamp": at}]
    )
    row = ar.get_messages_after(conn, "s1")["messages"][0]
    assert row["metadata"] == {"ui": [1, 2]} and row["timestamp"] == at


async def test_async_stats_and_search(aconn: AsyncConnection) -> None:
    await ar.save_session(aconn, "a1", [{"role": "user", "content": "деплой в пятницу"}])
    stats = await ar.get_session_stats(aconn, "a1")
    assert stats is not None and stats["message_count"] == 1
    hits = await ar.search_messages(aconn, None, "пятницу")
    assert [h["session_id"] for h in hits] == ["a1"]


def test_search_messages(conn: Connection) -> None:
    ar.save_session(
        conn,
        "s1",
        [
            {"role": "user", "content": "How do I tune PostgreSQL autovacuum?"},
            {"role": "assistant", "content": "Lower autovacuum_vacuum_scale_factor on big tables"},
            {"role": "user", "content": "Настрой деплой на пятницу"},
        ],
    )
    ar.save_session(conn, "s2", [{"role": "user", "content": "postgresql replication lag"}])
    ar.save_session(conn, "gone", [{"role": "user", "content": "postgresql secrets"}])
    ar.delete_session(conn, "gone")

    hits = ar.search_messages(conn, None, "PostgreSQL")
    assert sorted((h["session_id"], h["seq"]) for h in hits) == [("s1", 0), ("s2", 0)]
    assert all(h["rank"] > 0 for h in hits)
    assert [h["seq"] for h in ar.search_messages(conn, "s1", "postgresql")] == [0]
    assert [h["seq"] for h in ar.search_messages(conn, "s1", '"tune postgresql"')] == [0]
    assert ar.search_messages(conn, "s1", '"postgresql tune"') == []
    assert [h["session_id"] for h in ar.search_messages(conn, None, "postgresql -replication")] == [
        "s1"
    ]
    assert [h["seq"] for h in ar.search_messages(conn, "s1", "пятницу")] == [2]
    assert ar.search_messages(conn, None, "secrets") == []  # soft-deleted session
    assert len(ar.search_messages(conn, None, "postgresql or autovacuum", limit=1)) == 1


def test_long_content_is_stored_and_its_start_is_searchable(conn: Connection) -> None:
    body = "needle " + " ".join(f"w{i}" for i in range(30_000))
    assert 150_000 < len(body) < ar.MAX_CONTENT_CHARS
    ar.save_session(conn, "big", [{"role": "tool", "tool_call_id": "c", "content": body}])
    assert ar.load_session(conn, "big")["messages"][0]["content"] == body  # type: ignore[index]
    assert [h["seq"] for h in ar.search_messages(conn, "big", "needle")] == [0]
    assert ar.search_messages(conn, "big", "w29999") == []  # beyond the indexed 100,000


# ---------------------------------------------------------------- big table plans


@pytest.fixture(scope="module")
def big_db(module_dsn: str) -> str:
    """50,000 messages: one 20,000-message session and 150 sessions of 200, analyzed;
    built once for the module."""
    with connect(module_dsn) as conn:
        _fill_big(conn)
    return module_dsn


@pytest.fixture
def big(big_db: str) -> Iterator[Connection]:
    """A connection to the module's big database, rolled back after the test."""
    with rolled_back(big_db) as c:
        yield c


def _fill_big(conn: Connection) -> None:
    conn.execute(
        "insert into sessions (session_id, last_activity) "
        "select 'big-' || g, now() - g * interval '1 minute' from generate_series(0, 150) g"
    )
    conn.execute(
        """
        insert into messages (session_db_id, seq, role, content, token_count, timestamp)
        select s.id, g.seq,
               (array['user', 'assistant', 'tool'])[1 + g.seq % 3],
               'step ' || g.seq || ' of the '
                 || (array['deploy', 'refactor', 'migration', 'review', 'benchmark'])[1 + g.seq % 5]
                 || ' task touching module ' || (g.seq % 97)
                 || case when s.session_id = 'big-0' and g.seq % 9973 = 17
                    then ' zanzibar' else '' end,
               20 + g.seq % 50,
               now() - interval '1 day' + g.seq * interval '1 second'
        from sessions s
        cross join lateral generate_series(
            0, case when s.session_id = 'big-0' then 19999 else 199 end) as g(seq)
        """
    )
    conn.execute("analyze sessions")
    conn.execute("analyze messages")
    conn.commit()
    assert _one(conn, "select count(*) from messages") == 50_000


def test_keyset_page_uses_the_seq_index_and_cost_does_not_grow_with_depth(big: Connection) -> None:
    fn = q.list_session_messages_after
    big0 = _one(big, "select id from sessions where session_id = 'big-0'")
    shallow = explain(big, fn(session_db_id=big0, after_seq=-1, row_limit=51))
    deep = explain(big, fn(session_db_id=big0, after_seq=19_900, row_limit=51))
    for plan in (shallow, deep):
        scans = [n for n in plan_nodes(plan) if n.get("Relation Name") == "messages"]
        assert [n["Index Name"] for n in scans] == ["messages_session_db_id_seq_key"]
        assert scans[0]["Actual Rows"] <= 51
    blocks = [p["Shared Hit Blocks"] + p.get("Shared Read Blocks", 0) for p in (shallow, deep)]
    assert blocks[1] <= blocks[0] + 5 and blocks[1] < 60
    # the same depth by page number walks all the skipped rows
    paged = explain(
        big,
        q.list_session_messages_page(session_db_id=big0, page_size=50, page_offset=19_900),
    )
    scan = next(n for n in plan_nodes(paged) if n.get("Relation Name") == "messages")
    assert scan["Actual Rows"] >= 19_900
    assert paged["Shared Hit Blocks"] + paged.get("Shared Read Blocks", 0) > 5 * blocks[1]
    page = ar.get_messages_after(big, "big-0", after_seq=19_900, limit=50)
    assert [m["seq"] for m in page["messages"]] == list(range(19_901, 19_951))


def _nested_plans(conn: Connection, step: Step[Any]) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE plans of the statements run inside functions called by ``step``
    (auto_explain, sent to this client as NOTICEs)."""
    notes: list[str] = []
    handler = notes.append
    conn.add_notice_handler(lambda d: handler(d.message_primary or ""))
    try:
        with conn.transaction():
            conn.execute("load 'auto_explain'")
    except psycopg.Error as exc:
        pytest.skip(f"auto_explain is not available on this server: {exc}")
    with conn.transaction(force_rollback=True):  # the settings and any writes go away
        for name, value in {
            "log_min_duration": "0",
            "log_nested_statements": "on",
            "log_analyze": "on",
            "log_level": "notice",
            "log_format": "json",
        }.items():
            conn.execute(f"set local auto_explain.{name} = {value}")
        with psycopg.ClientCursor(conn) as cur:
            cur.execute(step.sql, step.params)
            cur.fetchall()
    docs = [json.loads(n[n.index("{") :]) for n in notes if "plan:" in n]
    # the caller's own statement names the function; the nested ones do not
    return [d["Plan"] for d in docs if "messages_search_candidates" not in d["Query Text"]]


def test_full_text_search_uses_the_gin_index(big: Connection) -> None:
    params = {"query": "zanzibar", "candidates": 1000, "row_limit": 20}
    (plan,) = _nested_plans(big, q.search_messages(**params))
    used = {n.get("Index Name") for n in plan_nodes(plan)}
    assert "messages_content_fts_idx" in used
    hits = ar.search_messages(big, None, "zanzibar")
    assert sorted(h["seq"] for h in hits) == [17, 9990, 19963]


@pytest.mark.parametrize("fn", ["search_messages", "search_session_messages"])
def test_search_ranks_a_bounded_number_of_common_word_matches(big: Connection, fn: str) -> None:
    # "step" is in every one of the 50,000 messages (20,000 in session big-0)
    params: dict[str, Any] = {"query": "step", "candidates": 100, "row_limit": 20}
    if fn == "search_session_messages":
        params["session_db_id"] = _one(big, "select id from sessions where session_id = 'big-0'")
    step = getattr(q, fn)(**params)
    nodes = list(plan_nodes(explain(big, step)))
    ranked = [n for n in nodes if n["Node Type"] == "Sort" and "ts_rank" in str(n["Sort Key"])]
    assert len(ranked) == 1
    # ts_rank and the final sort see at most `candidates` rows, not every match
    fed = sum(c["Actual Rows"] * c["Actual Loops"] for c in ranked[0]["Plans"])
    assert 0 < fed <= 100
    assert all(n["Node Type"] != "Sort" or n["Sort Method"] == "top-N heapsort" for n in nodes)
    sid = None if fn == "search_messages" else "big-0"
    hits = ar.search_messages(big, sid, "step", limit=20, candidates=100)
    assert len(hits) == 20
    if sid == "big-0":
        assert all(h["seq"] >= 19_900 for h in hits)  # among the session's newest 100
        return
    # across all sessions: the candidates come from the GIN index (a bitmap scan, no
    # parsing of every message), cut by a top-N sort; messages are then read by id
    for scan in (n for n in nodes if n.get("Relation Name") == "messages"):
        assert scan["Index Name"] == "messages_pkey"
        assert scan["Actual Rows"] * scan["Actual Loops"] <= 100
    (inner,) = _nested_plans(big, step)
    inside = list(plan_nodes(inner))
    scans = [n for n in inside if n.get("Relation Name") == "messages"]
    assert [n["Node Type"] for n in scans] == ["Bitmap Heap Scan"]
    assert scans[0]["Actual Rows"] * scans[0]["Actual Loops"] == 50_000  # every match...
    assert scans[0]["Plans"][0]["Index Name"] == "messages_content_fts_idx"
    assert (
        "Rows Removed by Index Recheck" not in scans[0]
        or not scans[0]["Rows Removed by Index Recheck"]
    )
    sorts = [n for n in inside if n["Node Type"] == "Sort"]
    assert [n["Sort Method"] for n in sorts] == ["top-N heapsort"]  # ...but no full sort
    assert inner["Actual Rows"] == 100


def test_search_with_an_excluded_common_word_uses_the_gin_index(big: Connection) -> None:
    # the planner would walk messages_pkey backwards for "step -deploy" (it expects
    # many matches) and parse every message; the function keeps the bitmap scan
    params = {"query": "step -deploy -refactor -migration -review -benchmark"}
    params |= {"candidates": 100, "row_limit": 20}
    (inner,) = _nested_plans(big, q.search_messages(**params))
    scans = [n for n in plan_nodes(inner) if n.get("Relation Name") == "messages"]
    assert [n["Node Type"] for n in scans] == ["Bitmap Heap Scan"]
    assert ar.search_messages(big, None, params["query"]) == []


def test_search_candidates_must_cover_the_limit(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="candidates must be between 20 and 100000, got 5"):
        ar.search_messages(conn, None, "x", limit=20, candidates=5)


def test_stats_read_only_the_sessions_messages_by_index(big: Connection) -> None:
    # big-1's 200 of the 50,000 messages (big-0 holds 40% of them: a scan is right there)
    big1 = _one(big, "select id from sessions where session_id = 'big-1'")
    plan = explain(big, q.get_message_stats(session_db_id=big1))
    used = {n.get("Index Name") for n in plan_nodes(plan)}
    # any index that leads with session_db_id reads just the session's rows
    assert used & {"idx_session_timestamp", "messages_session_db_id_seq_key", "messages_pkey"}
    assert plan["Plans"][0]["Actual Rows"] == 200
    stats = ar.get_session_stats(big, "big-1")
    assert stats is not None and stats["message_count"] == 200
    stats = ar.get_session_stats(big, "big-0")
    assert stats is not None and stats["message_count"] == 20_000


# ---------------------------------------------------------------- lifecycle


@pytest.mark.own_db  # restore must move last_activity: now() must move
def test_soft_delete_hides_and_restore_brings_back(conn: Connection) -> None:
    ar.save_session(conn, "s1", CHAT)
    ar.save_session(conn, "s2", CHAT)
    assert ar.delete_session(conn, "s1") is True
    assert ar.load_session(conn, "s1") is None
    assert ar.get_session_stats(conn, "s1") is None
    assert ar.get_messages_paginated(conn, "s1") == []
    assert ar.get_messages_after(conn, "s1")["messages"] == []
    assert ar.list_all_sessions(conn) == ["s2"]
    assert sorted(ar.list_all_sessions(conn, include_deleted=True)) == ["s1", "s2"]
    hidden = ar.load_session(conn, "s1", include_deleted=True)
    assert hidden is not None and hidden["is_active"] is False and hidden["deleted_at"]
    assert hidden["messages"] == CHAT
    with pytest.raises(InvalidInput, match="'s1' is soft-deleted; restore_session"):
        ar.save_session(conn, "s1", CHAT)
    # deleting again keeps the first deleted_at (retention clock not reset)
    first = _one(conn, "select deleted_at from sessions where session_id = 's1'")
    assert ar.delete_session(conn, "s1") is True
    assert _one(conn, "select deleted_at from sessions where session_id = 's1'") == first

    assert ar.restore_session(conn, "s1") is True
    assert ar.restore_session(conn, "s1") is False  # already live
    assert ar.restore_session(conn, "nope") is False
    restored = ar.load_session(conn, "s1")
    assert restored is not None and restored["messages"] == CHAT
    assert restored["last_activity"] > first
    assert ar.delete_session(conn, "nope") is False


def test_hard_delete_cascades_to_messages_contexts_and_switches(conn: Connection) -> None:
    for sid in ("s1", "s2"):
        ar.save_session(conn, sid, CHAT)
        ar.save_agent_context(conn, sid, "coder", [{"from": None, "to": "coder"}])
    assert _counts(conn) == {
        "sessions": 2,
        "messages": 10,
        "agent_contexts": 2,
        "agent_switches": 2,
    }
    assert ar.delete_session(conn, "s1", soft=False) is True
    assert _counts(conn) == {"sessions": 1, "messages": 5, "agent_contexts": 1, "agent_switches": 1}
    assert ar.delete_session(conn, "s1", soft=False) is False
    assert ar.load_session(conn, "s2") is not None


def test_cleanup_counts_with_controlled_timestamps(conn: Connection) -> None:
    now = datetime.now(timezone.utc)
    for sid, hours in (("old", 48), ("stale", 25), ("fresh", 1)):
        ar.save_session(conn, sid, _msgs(2), now - timedelta(hours=hours))
    assert ar.cleanup_old_sessions(conn, max_age_hours=24) == 2
    assert ar.cleanup_old_sessions(conn) == 0
    assert ar.list_all_sessions(conn) == ["fresh"]
    assert ar.cleanup_old_sessions(conn, max_age_hours=0.5) == 1
    assert ar.list_all_sessions(conn) == []

    assert ar.hard_delete_old_sessions(conn) == 0  # deleted just now
    conn.execute(
        "update sessions set deleted_at = now() - interval '31 days' where session_id = 'old'"
    )
    conn.execute(
        "update sessions set deleted_at = now() - interval '29 days' where session_id = 'stale'"
    )
    assert ar.hard_delete_old_sessions(conn, days_old=30) == 1
    assert sorted(ar.list_all_sessions(conn, include_deleted=True)) == ["fresh", "stale"]
    assert _one(conn, "select count(*) from messages") == 4
    assert ar.hard_delete_old_sessions(conn, days_old=28.5) == 1


async def test_async_lifecycle(aconn: AsyncConnection) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=3)
    await ar.save_session(aconn, "a1", _msgs(2), past)
    await ar.save_session(aconn, "a2", _msgs(2))
    assert await ar.list_all_sessions(aconn) == ["a2", "a1"]
    assert await ar.list_all_sessions(aconn, limit=1) == ["a2"]
    assert await ar.cleanup_old_sessions(aconn, max_age_hours=24) == 1
    assert await ar.restore_session(aconn, "a1") is True
    assert await ar.delete_session(aconn, "a1", soft=True) is True
    assert await ar.hard_delete_old_sessions(aconn, days_old=1) == 0
    assert await ar.delete_session(aconn, "a1", soft=False) is True
    assert await ar.list_all_sessions(aconn, include_deleted=True) == ["a2"]


def test_transaction_scope_rolls_back_several_operations(conn: Connection) -> None:
    with pytest.raises(RuntimeError), ar.session_scope(conn):
        ar.save_session(conn, "s1", CHAT)
        ar.save_agent_context(conn, "s1", "coder", [])
        raise RuntimeError("boom")
    assert _counts(conn) == dict.fromkeys(TABLES, 0)
    with ar.session_scope(conn):
        ar.save_session(conn, "s1", CHAT)
        ar.save_agent_context(conn, "s1", "coder", [])
    assert _counts(conn)["agent_contexts"] == 1


async def test_async_transaction_scope(aconn: AsyncConnection) -> None:
    with pytest.raises(RuntimeError):
        async with ar.asession_scope(aconn):
            await ar.save_session(aconn, "a1", CHAT)
            raise RuntimeError("boom")
    assert await ar.load_session(aconn, "a1") is None


# ---------------------------------------------------------------- agent context

HISTORY = [
    {"from": None, "to": "orchestrator", "reason": "start"},
    {"from": "orchestrator", "to": "coder", "reason": "User requested code changes"},
]


def test_agent_context_round_trip(conn: Connection) -> None:
    ar.save_session(conn, "s1", CHAT)
    created = datetime(2025, 1, 1, tzinfo=timezone.utc)
    t1 = datetime(2025, 1, 1, 10, tzinfo=timezone.utc)
    history = [dict(HISTORY[0], timestamp=t1.isoformat()), HISTORY[1]]
    out = ar.save_agent_context(conn, "s1", "coder", history, {"k": "v"}, created)
    assert out == {"session_id": "s1", "kept": 0, "inserted": 2, "deleted": 0}
    ctx = ar.load_agent_context(conn, "s1")
    assert ctx is not None
    assert ctx["current_agent"] == "coder"
    assert ctx["metadata"] == {"k": "v"}
    assert ctx["created_at"] == created
    assert ctx["switch_count"] == 2
    assert [(h["from"], h["to"], h["reason"]) for h in ctx["agent_history"]] == [
        (h["from"], h["to"], h["reason"]) for h in HISTORY
    ]
    assert datetime.fromisoformat(ctx["agent_history"][0]["timestamp"]) == t1
    assert ctx["last_switch_at"] > t1
    assert ar.load_agent_context(conn, "nope") is None
    ar.save_session(conn, "no-context", [])
    assert ar.load_agent_context(conn, "no-context") is None


@pytest.mark.own_db  # the trigger must move updated_at: now() must move
def test_agent_history_is_appended_not_rewritten(conn: Connection) -> None:
    ar.save_session(conn, "s1", [])
    ar.save_agent_context(conn, "s1", "orchestrator", HISTORY[:1])
    first = _rows(conn, "select id from agent_switches")
    before = _one(conn, "select updated_at from agent_contexts")
    third = {"from": "coder", "to": "reviewer", "reason": "review", "metadata": {"pr": 7}}
    out = ar.save_agent_context(conn, "s1", "reviewer", [*HISTORY, third], switch_count=9)
    assert out["kept"] == 1 and out["inserted"] == 2
    assert _rows(conn, "select id from agent_switches order by id")[:1] == first
    assert _one(conn, "select updated_at from agent_contexts") > before  # trigger
    ctx = ar.load_agent_context(conn, "s1")
    assert ctx is not None and ctx["switch_count"] == 9 and ctx["current_agent"] == "reviewer"
    # same list again: nothing written to agent_switches
    assert ar.save_agent_context(conn, "s1", "reviewer", [*HISTORY, third])["inserted"] == 0
    # a different history replaces from the first difference, or raises on request
    with pytest.raises(InvalidInput, match=r"agent_history\[1\] differs"):
        ar.save_agent_context(conn, "s1", "x", [HISTORY[0], third], on_mismatch="raise")
    assert ar.save_agent_context(conn, "s1", "x", [HISTORY[0], third])["deleted"] == 2
    assert _one(conn, "select count(*) from agent_switches") == 2


def test_get_agent_switch_history_newest_first_with_limit(conn: Connection) -> None:
    ar.save_session(conn, "s1", [])
    t0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
    history = [
        {"from": f"a{i}", "to": f"a{i + 1}", "timestamp": t0 + timedelta(minutes=i)}
        for i in range(5)
    ]
    history[2]["metadata"] = {"why": "tests"}
    ar.save_agent_context(conn, "s1", "a5", history)
    switches = ar.get_agent_switch_history(conn, "s1", limit=3)
    assert [s["to_agent"] for s in switches] == ["a5", "a4", "a3"]
    assert switches[2]["metadata"] == {"why": "tests"} and switches[0]["metadata"] == {}
    assert set(switches[0]) == {"id", "from_agent", "to_agent", "switched_at", "reason", "metadata"}
    assert len(ar.get_agent_switch_history(conn, "s1")) == 5
    assert ar.get_agent_switch_history(conn, "nope") == []


def test_save_agent_context_needs_a_live_session(conn: Connection) -> None:
    with pytest.raises(NotFound, match="session 'ghost' not found"):
        ar.save_agent_context(conn, "ghost", "coder", HISTORY)
    ar.save_session(conn, "s1", [])
    ar.delete_session(conn, "s1")
    with pytest.raises(NotFound, match="'s1'"):
        ar.save_agent_context(conn, "s1", "coder", HISTORY)
    assert _counts(conn)["agent_contexts"] == 0


def test_list_sessions_by_agent(conn: Connection) -> None:
    for sid, agent in (("s1", "coder"), ("s2", "orchestrator"), ("s3", "coder")):
        ar.save_session(conn, sid, [])
        ar.save_agent_context(conn, sid, agent, [])
    ar.delete_session(conn, "s3")
    assert ar.list_sessions_by_agent(conn, "coder") == ["s1"]


async def test_async_agent_context(aconn: AsyncConnection) -> None:
    await ar.save_session(aconn, "a1", [])
    out = await ar.save_agent_context(aconn, "a1", "coder", HISTORY, {"m": 1})
    assert out["inserted"] == 2
    ctx = await ar.load_agent_context(aconn, "a1")
    assert ctx is not None and ctx["metadata"] == {"m": 1}
    history = await ar.get_agent_switch_history(aconn, "a1", limit=1)
    assert [h["to_agent"] for h in history] == ["coder"]
    assert await ar.list_sessions_by_agent(aconn, "coder") == ["a1"]
    with pytest.raises(NotFound):
        await ar.save_agent_context(aconn, "ghost", "coder", [])


# ---------------------------------------------------------------- bad input


class _Opaque:
    pass


BAD_SAVES: list[tuple[Any, Any, str]] = [
    ("", [], "session_id must not be empty"),
    ("x" * 256, [], "session_id is 256 characters long, at most 255 allowed"),
    (42, [], "session_id must be a string, got 42"),
    ("s", "hello", "messages must be a list of dicts, got 'hello'"),
    ("s", [{"role": "robot", "content": "x"}], r"messages\[0\]: unknown role 'robot'"),
    ("s", [{"content": "x"}], r"messages\[0\]: unknown role None"),
    ("s", [*_msgs(3), ["user", "x"]], r"messages\[3\] must be a dict"),
    (
        "s",
        [{"role": "user", "content": "x" * (ar.MAX_CONTENT_CHARS + 1)}],
        r"messages\[0\]\.content is 1000001 characters long, at most 1000000 allowed",
    ),
    ("s", [{"role": "user", "content": "a\x00b"}], r"content contains a NUL"),
    ("s", [{"role": "user", "content": "\ud800"}], "lone surrogate"),
    (
        "s",
        [{"role": "user", "content": "x", "name": "n" * 256}],
        r"\.name is 256 characters long, at most 255",
    ),
    ("s", [{"role": "user", "content": "x", "token_count": -1}], r"token_count must be between"),
    ("s", [{"role": "user", "content": "x", "token_count": "7"}], "must be an integer, got '7'"),
    ("s", [{"role": "assistant", "tool_calls": "call"}], r"tool_calls must be a list"),
    (
        "s",
        [{"role": "user", "content": "x", "metadata": {"v": float("nan")}}],
        r"metadata cannot be encoded as JSON",
    ),
    (
        "s",
        [{"role": "user", "content": "x", "metadata": {"v": _Opaque()}}],
        r"metadata cannot be encoded as JSON",
    ),
    (
        "s",
        [{"role": "user", "content": "x", "metadata": {"v": "a\x00"}}],
        r"metadata contains a NUL character",
    ),
    ("s", [{"role": "user", "content": "x", "metadata": [1]}], r"metadata must be a JSON object"),
    ("s", [{"role": "user", "content": "x", "timestamp": "yesterday"}], "not an ISO 8601"),
]


@pytest.mark.parametrize(("sid", "messages", "message"), BAD_SAVES)
def test_bad_save_input_fails_before_writing(
    conn: Connection, sid: Any, messages: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ar.save_session(conn, sid, messages)
    assert _counts(conn) == dict.fromkeys(TABLES, 0)


def test_metadata_with_a_literal_backslash_u0000_text_is_fine(conn: Connection) -> None:
    ar.save_session(conn, "s", [{"role": "user", "content": "x", "metadata": {"v": "\\u0000"}}])
    assert ar.get_messages_after(conn, "s")["messages"][0]["metadata"] == {"v": "\\u0000"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: ar.get_messages_paginated(c, "s", page=0), "page must be between 1 and"),
        (lambda c: ar.get_messages_paginated(c, "s", page=-3), "got -3"),
        (lambda c: ar.get_messages_paginated(c, "s", page_size=0), "page_size must be between 1"),
        (lambda c: ar.get_messages_paginated(c, "s", page_size=1001), "and 1000, got 1001"),
        (lambda c: ar.get_messages_paginated(c, "s", page="2"), "page must be an integer"),
        (lambda c: ar.get_messages_after(c, "s", after_seq=-1), "after_seq must be between 0"),
        (lambda c: ar.get_messages_after(c, "s", limit=0), "limit must be between 1"),
        (lambda c: ar.search_messages(c, None, "   "), "query must not be blank"),
        (
            lambda c: ar.search_messages(c, None, "q" * 1001),
            "query is 1001 characters long, at most 1000",
        ),
        (lambda c: ar.search_messages(c, "s", "x", limit=5000), "limit must be between"),
        (lambda c: ar.get_agent_switch_history(c, "s", limit=0), "limit must be between"),
        (lambda c: ar.cleanup_old_sessions(c, max_age_hours=0), "max_age_hours must be > 0"),
        (lambda c: ar.cleanup_old_sessions(c, max_age_hours=True), "must be a number, got True"),
        (lambda c: ar.hard_delete_old_sessions(c, days_old=float("inf")), "got inf"),
        (lambda c: ar.hard_delete_old_sessions(c, days_old="30"), "got '30'"),
        (lambda c: ar.list_all_sessions(c, limit=0), "limit must be between 1"),
        (lambda c: ar.save_session(c, "s", [], on_mismatch="merge"), "unknown on_mismatch 'merge'"),
        (lambda c: ar.save_session(c, "s", [], batch_size=0), "batch_size must be between"),
        (lambda c: ar.save_agent_context(c, "s", "", []), "current_agent must not be empty"),
        (lambda c: ar.save_agent_context(c, "s", "a" * 101, []), "is 101 characters long"),
        (lambda c: ar.save_agent_context(c, "s", "a", {"to": "b"}), "agent_history must be"),
        (lambda c: ar.save_agent_context(c, "s", "a", [{"to": ""}]), r"history\[0\]\.to must"),
        (
            lambda c: ar.save_agent_context(c, "s", "a", [{"reason": "r" * 10_001}]),
            r"agent_history\[0\]\.reason is 10001 characters long, at most 10000",
        ),
        (
            lambda c: ar.save_agent_context(c, "s", "a", [], {1, 2}),
            "metadata must be a JSON object",
        ),
        (lambda c: ar.save_agent_context(c, "s", "a", [], switch_count=-1), "switch_count"),
        (lambda c: ar.save_agent_context(c, "s", "a", [], {"x": b"raw"}), "cannot be encoded"),
    ],
)
def test_bad_arguments_are_refused(conn: Connection, call: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(conn)
    assert _counts(conn) == dict.fromkeys(TABLES, 0)


async def test_async_bad_input_is_refused(aconn: AsyncConnection) -> None:
    with pytest.raises(InvalidInput, match="unknown role 'robot'"):
        await ar.save_session(aconn, "a1", [{"role": "robot", "content": "x"}])
    assert await ar.load_session(aconn, "a1") is None
