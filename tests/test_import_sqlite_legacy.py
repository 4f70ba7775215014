"""The old two-table agent-runtime layout (seed 001) expanded into the four new tables."""

from __future__ import annotations

import json
import sqlite3
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_fixtures import (
    T0,
    build_legacy_agent_runtime,
    legacy_message,
    legacy_session,
    sa_datetime,
)

from pydal_lite.connection import connect
from pydal_lite.import_sqlite import BadRowError, ConflictError, import_sqlite

TABLES = ["sessions", "messages", "agent_contexts", "agent_switches"]


def expected_message(s: int, m: int) -> dict[str, Any]:
    """What message ``m`` of legacy session ``s`` must become (the documented mapping)."""
    item = legacy_message(s, m)
    metadata = item.get("metadata")
    extra = {k: v for k, v in item.items() if k == "x_extra"}
    if extra:
        metadata = {**(metadata or {}), "legacy_fields": extra}
    content = item.get("content")
    if content is None and not item.get("tool_calls"):
        content = ""
    return {
        "seq": m,
        "role": item["role"],
        "content": content,
        "name": item.get("name"),
        "tool_call_id": item.get("tool_call_id"),
        "tool_calls": item.get("tool_calls"),
        "token_count": None,
        "metadata_json": metadata,
        # the old layout kept no per-message time: the session's last_activity
        "timestamp": T0 + timedelta(minutes=s, seconds=30),
    }


def expected_history(s: int) -> list[dict[str, Any]]:
    return [
        {
            "from_agent": None if k == 0 else "orchestrator",
            "to_agent": "orchestrator" if k == 0 else "coder",
            "reason": f"switch {k}",
            "switched_at": T0 + timedelta(minutes=s, seconds=k),
            "metadata_json": None,
        }
        for k in range(s % 3)
    ]


def expected_history_raw(s: int) -> list[dict[str, Any]]:
    """agent_history as the fixture stored it."""
    return [
        {
            "from": None if k == 0 else "orchestrator",
            "to": "orchestrator" if k == 0 else "coder",
            "reason": f"switch {k}",
            "timestamp": (T0 + timedelta(minutes=s, seconds=k)).isoformat(),
        }
        for k in range(s % 3)
    ]


def counts(dsn: str) -> dict[str, int]:
    with connect(dsn) as c:
        return {
            t: c.execute(f"select count(*) as n from {t}").fetchone()["n"]  # type: ignore[index]  # noqa: S608
            for t in TABLES
        }


def assert_session_imported(c: Any, s: int, messages: int) -> None:
    sess = c.execute(
        "select id, created_at, last_activity, is_active, deleted_at from sessions"
        " where session_id = %s",
        (legacy_session(s),),
    ).fetchone()
    assert sess is not None, legacy_session(s)
    assert sess["created_at"] == T0 + timedelta(minutes=s)
    assert sess["last_activity"] == T0 + timedelta(minutes=s, seconds=30)
    assert (sess["is_active"], sess["deleted_at"]) == (True, None)
    got = c.execute(
        "select seq, role, content, name, tool_call_id, tool_calls, token_count, metadata_json,"
        " timestamp from messages where session_db_id = %s order by seq",
        (sess["id"],),
    ).fetchall()
    assert got == [expected_message(s, m) for m in range(messages + s % 3)]
    ctx = c.execute(
        "select id, current_agent, created_at, updated_at, switch_count, metadata_json"
        " from agent_contexts where session_db_id = %s",
        (sess["id"],),
    ).fetchone()
    history = expected_history(s)
    assert ctx is not None
    assert ctx["current_agent"] == ("coder" if history else "orchestrator")
    assert ctx["created_at"] == T0 + timedelta(minutes=s)
    assert ctx["updated_at"] == (
        T0 + timedelta(minutes=s, seconds=len(history)) if history else ctx["created_at"]
    )
    assert ctx["switch_count"] == len(history)
    assert ctx["metadata_json"] == ({"lang": "ru"} if s % 2 else {})
    switches = c.execute(
        "select from_agent, to_agent, reason, switched_at, metadata_json from agent_switches"
        " where context_db_id = %s order by id",
        (ctx["id"],),
    ).fetchall()
    assert switches == history


def test_old_layout_every_row(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=6, messages=5)
    report = import_sqlite(db, dsn)
    assert report.legacy_agent_runtime
    n_messages = sum(5 + s % 3 for s in range(6))
    n_switches = sum(s % 3 for s in range(6))
    assert {t.table: (t.source, t.source_rows, t.imported) for t in report.tables} == {
        "sessions": ("sessions", 6, 6),
        "messages": ("sessions.messages", n_messages, n_messages),
        "agent_contexts": ("agent_contexts", 6, 6),
        "agent_switches": ("agent_contexts.agent_history", n_switches, n_switches),
    }
    assert counts(dsn) == {
        "sessions": 6,
        "messages": n_messages,
        "agent_contexts": 6,
        "agent_switches": n_switches,
    }
    with connect(dsn) as c:
        for s in range(6):
            assert_session_imported(c, s, 5)


def _break(db: Path) -> None:
    with sqlite3.connect(db) as s:
        # not JSON at all: the session is a bad row, and its context after it
        s.execute(
            "update sessions set messages = '[{broken' where session_id = ?", (legacy_session(1),)
        )
        # one message without a role (Python) and one the target's CHECK refuses (server)
        items = [legacy_message(2, m) for m in range(5 + 2)]
        del items[1]["role"]
        items[3]["role"] = "robot"
        s.execute(
            "update sessions set messages = ? where session_id = ?",
            (json.dumps(items), legacy_session(2)),
        )
        # a context whose session does not exist
        s.execute(
            "insert into agent_contexts (session_id, current_agent, agent_history,"
            " context_metadata, created_at, switch_count) values ('ghost', 'a', '[]', '{}', ?, 0)",
            (sa_datetime(T0),),
        )
    s.close()


def test_old_layout_bad_rows_stop_the_import(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=4, messages=5)
    _break(db)
    with pytest.raises(BadRowError) as info:
        import_sqlite(db, dsn)
    assert (info.value.table, info.value.key, info.value.column) == (
        "sessions",
        {"session_id": legacy_session(1)},
        "messages",
    )
    assert counts(dsn) == dict.fromkeys(TABLES, 0)


def test_old_layout_skip_bad_rows_and_per_session_counts(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=4, messages=5)
    _break(db)
    bad_file = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, skip_bad_rows=bad_file)
    lines = [json.loads(x) for x in bad_file.read_text(encoding="utf-8").splitlines()]
    keyed = {(r["table"], json.dumps(r["key"], sort_keys=True)): r for r in lines}
    assert keyed[("sessions", json.dumps({"session_id": legacy_session(1)}))]["reason"] == (
        "messages is not a JSON list"
    )
    no_role = keyed[("messages", json.dumps({"message": 1, "session_id": legacy_session(2)}))]
    assert no_role["column"] == "role"
    robot = keyed[("messages", json.dumps({"message": 3, "session_id": legacy_session(2)}))]
    # the agent runtime's own rule (as save_session), not a copy of it
    assert robot["column"] == "role"
    assert robot["reason"].startswith("unknown role 'robot'")
    ghost = keyed[("agent_contexts", json.dumps({"session_id": "ghost"}))]
    assert ghost["reason"] == "no session with this session_id"
    orphan = keyed[("agent_contexts", json.dumps({"session_id": legacy_session(1)}))]
    assert orphan["reason"] == "its session row was skipped"
    switches = keyed[("agent_switches", json.dumps({"session_id": legacy_session(1)}))]
    assert switches["reason"] == "all 1 switches skipped with their agent_contexts row"
    assert switches["value"] == json.dumps(expected_history_raw(1))  # nothing lost
    assert len(lines) == 6
    # counts account for everything (session 1's messages were never countable: not JSON)
    total = sum(5 + s % 3 for s in range(4)) - (5 + 1)
    by_table = {t.table: (t.source_rows, t.imported, t.skipped_bad) for t in report.tables}
    assert by_table["sessions"] == (4, 3, 1)
    assert by_table["messages"] == (total, total - 2, 2)
    assert by_table["agent_contexts"] == (5, 3, 2)
    n_switches = sum(s % 3 for s in range(4))
    assert by_table["agent_switches"] == (n_switches, n_switches - 1, 1)
    with connect(dsn) as c:
        for s in (0, 3):
            assert_session_imported(c, s, 5)
        seqs = c.execute(
            "select m.seq from messages m join sessions s on s.id = m.session_db_id"
            " where s.session_id = %s order by m.seq",
            (legacy_session(2),),
        ).fetchall()
        # positions are the original ones: the two rejected messages leave gaps
        assert [r["seq"] for r in seqs] == [0, 2, 4, 5, 6]


def test_old_layout_second_import_refused_then_skip(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=3, messages=4)
    import_sqlite(db, dsn)
    before = counts(dsn)
    with pytest.raises(ConflictError, match="sessions: 3 source row"):
        import_sqlite(db, dsn)
    assert counts(dsn) == before
    with sqlite3.connect(db) as s:  # one new session with its context
        s.execute(
            "insert into sessions values (?, ?, ?, ?)",
            (
                legacy_session(3),
                json.dumps([legacy_message(3, m) for m in range(4)]),
                sa_datetime(T0 + timedelta(minutes=3, seconds=30)),
                sa_datetime(T0 + timedelta(minutes=3)),
            ),
        )
        s.execute(
            "insert into agent_contexts values (?, 'orchestrator', '[]', '{\"lang\": \"ru\"}', ?,"
            " null, 0)",
            (legacy_session(3), sa_datetime(T0 + timedelta(minutes=3))),
        )
    s.close()
    report = import_sqlite(db, dsn, on_conflict="skip")
    by_table = {t.table: (t.imported, t.skipped_existing) for t in report.tables}
    assert by_table["sessions"] == (1, 3)
    assert by_table["agent_contexts"] == (1, 3)
    assert by_table["messages"][0] == 4
    assert counts(dsn)["sessions"] == 4
    with connect(dsn) as c:
        assert_session_imported(c, 3, 4)


def test_old_layout_dry_run_changes_nothing(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=3, messages=4)
    report = import_sqlite(db, dsn, dry_run=True)
    assert report.table("messages").imported == sum(4 + s % 3 for s in range(3))
    assert counts(dsn) == dict.fromkeys(TABLES, 0)


@pytest.mark.slow  # 100k messages through the importer under tracemalloc: 1-3 minutes
def test_large_old_layout_memory_stays_flat(dsn: str, tmp_path: Path) -> None:
    """100k+ messages in 1,000 sessions: peak Python memory during the import stays small.

    The whole file is about 20 MB of JSON; holding it (or the converted rows) would use
    several times that. benchmarks/import_sqlite_large.py runs 1M messages.
    """
    db = tmp_path / "large.db"
    build_legacy_agent_runtime(db, sessions=1000, messages=100)
    n_messages = sum(100 + s % 3 for s in range(1000))
    assert n_messages >= 100_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        report = import_sqlite(db, dsn)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.monotonic() - started
    assert report.table("messages").imported == n_messages
    assert counts(dsn)["messages"] == n_messages
    print(f"\n{n_messages} messages in {seconds:.1f} s, peak traced memory {peak / 2**20:.1f} MiB")
    assert peak < 64 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


def test_old_contexts_alone_into_existing_sessions(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=3, messages=2)
    report = import_sqlite(db, dsn, tables=["sessions"])
    assert [t.table for t in report.tables] == ["sessions", "messages"]
    report = import_sqlite(db, dsn, tables=["agent_contexts"])  # found by session_id
    assert report.table("agent_contexts").imported == 3
    with connect(dsn) as c:
        for s in range(3):
            assert_session_imported(c, s, 2)
    with pytest.raises(ConflictError, match="agent_contexts: 3 source row"):
        import_sqlite(db, dsn, tables=["agent_contexts"])
    report = import_sqlite(db, dsn, tables=["agent_contexts"], on_conflict="skip")
    assert report.table("agent_contexts").skipped_existing == 3
    assert report.table("agent_switches").skipped_existing == sum(s % 3 for s in range(3))


def test_old_session_rejected_by_the_target_takes_its_children(dsn: str, tmp_path: Path) -> None:
    db = tmp_path / "agent_runtime.db"
    build_legacy_agent_runtime(db, sessions=3, messages=2)
    long_id = "x" * 300  # sessions_session_id_length_check: 1..255 characters
    with sqlite3.connect(db) as s:
        s.execute(
            "update sessions set session_id = ? where session_id = ?", (long_id, legacy_session(2))
        )
        s.execute(
            "update agent_contexts set session_id = ? where session_id = ?",
            (long_id, legacy_session(2)),
        )
    s.close()
    with pytest.raises(BadRowError, match="sessions_session_id_length_check"):
        import_sqlite(db, dsn)
    bad_file = tmp_path / "bad.jsonl"
    report = import_sqlite(db, dsn, skip_bad_rows=bad_file)
    reasons = [json.loads(x)["reason"] for x in bad_file.read_text(encoding="utf-8").splitlines()]
    assert any("sessions_session_id_length_check" in r for r in reasons)
    assert "all 4 messages skipped with their sessions row" in reasons
    assert "its session row was skipped" in reasons
    by_table = {t.table: (t.source_rows, t.imported, t.skipped_bad) for t in report.tables}
    assert by_table["sessions"] == (3, 2, 1)
    assert by_table["messages"] == (2 + 3 + 4, 5, 4)
    assert by_table["agent_contexts"] == (3, 2, 1)
    with connect(dsn) as c:
        for s_ in (0, 1):
            assert_session_imported(c, s_, 2)
