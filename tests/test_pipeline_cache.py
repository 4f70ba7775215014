"""Pipeline cache (seed 002): cache entries by input hash, user sessions, migration 0004."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
from catalog import snapshot, tables_in, version_below

from pydal_lite import InvalidInput, NotFound, migrate, queries
from pydal_lite import pipeline_cache as pc
from pydal_lite.connection import AsyncConnection, Connection, connect

TABLES = ("pipeline_cache", "user_sessions")
INPUT = {"file": "calendar.ics", "options": {"tz": "Europe/Moscow", "lang": "ru"}}


def _expire(conn: Connection, stage: str, data: Any) -> None:
    conn.execute(
        "update pipeline_cache set expires_at = now() - interval '1 second'"
        " where stage = %s and input_hash = %s",
        (stage, pc.input_hash(data)),
    )


# --- hashing -----------------------------------------------------------------------


def test_input_hash_is_sha256_of_canonical_json() -> None:
    data = {"b": [1, 2, {"z": None, "a": True}], "a": "Привет"}
    canonical = '{"a":"Привет","b":[1,2,{"a":true,"z":null}]}'
    assert pc.canonical_json(data) == canonical
    assert pc.input_hash(data) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_input_hash_does_not_depend_on_key_order() -> None:
    one = {"file": "a.ics", "opts": {"x": 1, "y": [1, 2]}}
    two = {"opts": {"y": [1, 2], "x": 1}, "file": "a.ics"}
    assert pc.input_hash(one) == pc.input_hash(two)
    assert pc.input_hash(one) != pc.input_hash({**one, "file": "b.ics"})
    assert pc.input_hash([1, 2]) != pc.input_hash([2, 1])  # lists keep their order


@pytest.mark.parametrize(
    "value", [{"x": {1, 2}}, {"x": float("inf")}, {1: "a", "b": 2}, {"x": "a\x00b"}, object()]
)
def test_unencodable_input_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput):
        pc.input_hash(value)


def test_bad_input_data_is_named_as_input_data(conn: Connection) -> None:
    for call in (
        lambda: pc.put_entry(conn, "import", {"x": {1}}, 1),
        lambda: pc.get_entry(conn, "import", {"x": {1}}),
        lambda: pc.invalidate_entry(conn, "import", {"x": {1}}),
    ):
        with pytest.raises(InvalidInput, match=r"^input_data cannot be encoded as JSON"):
            call()
    with pytest.raises(InvalidInput, match=r"^input_data contains a NUL character"):
        pc.put_entry(conn, "import", {"x": "a\x00"}, 1)
    with pytest.raises(InvalidInput, match=r"^value cannot be encoded"):
        pc.input_hash({"x": {1}})
    with pytest.raises(InvalidInput, match=r"^data cannot be encoded"):
        pc.canonical_json({"x": {1}}, "data")


def test_ttl_has_an_upper_bound(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match=r"ttl must be > 0 and <= 3162240000.0, got 1e\+300"):
        pc.put_entry(conn, "import", INPUT, 1, ttl=1e300)
    assert conn.execute("select count(*) as n from pipeline_cache").fetchone() == {"n": 0}
    entry = pc.put_entry(conn, "import", INPUT, 1, ttl=pc.MAX_SECONDS)
    assert entry["expires_at"] is not None
    assert entry["expires_at"].year >= entry["created_at"].year + 99


def test_long_bad_hashes_are_cut_in_messages(conn: Connection) -> None:
    with pytest.raises(InvalidInput) as info:
        pc.get_entry_by_hash(conn, "import", "f" * 10_000)
    assert str(info.value).startswith("input_hash must be 64 lowercase hex characters, got 'fff")
    assert str(info.value).endswith("...") and len(str(info.value)) < 300


# --- cache entries -----------------------------------------------------------------


def test_put_then_get_hits_and_other_inputs_miss(conn: Connection) -> None:
    entry = pc.put_entry(conn, "import", INPUT, {"events": 3})
    assert entry["input_hash"] == pc.input_hash(INPUT) and entry["expires_at"] is None
    reordered = {"options": {"lang": "ru", "tz": "Europe/Moscow"}, "file": "calendar.ics"}
    hit = pc.get_entry(conn, "import", reordered)
    assert hit is not None and hit["result_data"] == {"events": 3}
    assert hit["input_data"] == INPUT
    assert pc.get_entry(conn, "enrich", INPUT) is None
    assert pc.get_entry(conn, "import", {"file": "other.ics"}) is None
    assert pc.get_entry_by_hash(conn, "import", entry["input_hash"]) == hit


def test_put_replaces_the_entry_one_row_per_stage_and_hash(conn: Connection) -> None:
    first = pc.put_entry(conn, "analyze", INPUT, {"v": 1})
    second = pc.put_entry(conn, "analyze", INPUT, {"v": 2}, ttl=60.0)
    assert second["id"] == first["id"] and second["result_data"] == {"v": 2}
    assert second["created_at"] == first["created_at"]
    assert second["expires_at"] is not None
    assert second["updated_at"] >= first["updated_at"]
    row = conn.execute("select count(*) as n from pipeline_cache").fetchone()
    assert row == {"n": 1}
    unique = psycopg.errors.UniqueViolation
    with pytest.raises(unique, match="pipeline_cache_stage_input_hash"), conn.transaction():
        conn.execute(
            "insert into pipeline_cache (stage, input_hash, input_data, result_data)"
            " values ('analyze', %s, '{}', '{}')",
            (first["input_hash"],),
        )


def test_expired_entries_are_misses_and_purged(conn: Connection) -> None:
    pc.put_entry(conn, "import", INPUT, {"events": 3}, ttl=3600.0)
    pc.put_entry(conn, "enrich", INPUT, {"x": 1}, ttl=3600.0)
    pc.put_entry(conn, "analyze", INPUT, {"y": 1})  # never expires
    _expire(conn, "import", INPUT)
    _expire(conn, "enrich", INPUT)
    assert pc.get_entry(conn, "import", INPUT) is None
    assert [e["stage"] for e in pc.list_entries_by_hash(conn, pc.input_hash(INPUT))] == ["analyze"]
    assert pc.purge_expired_entries(conn) == 2
    assert pc.purge_expired_entries(conn) == 0
    assert pc.get_entry(conn, "analyze", INPUT) is not None
    # a put over an expired entry revives it
    pc.put_entry(conn, "import", INPUT, {"events": 4}, ttl=3600.0)
    _expire(conn, "import", INPUT)
    revived = pc.put_entry(conn, "import", INPUT, {"events": 5})
    assert revived["expires_at"] is None
    hit = pc.get_entry(conn, "import", INPUT)
    assert hit is not None and hit["result_data"] == {"events": 5}


def test_list_oldest_entries_names_entries_without_data(conn: Connection) -> None:
    first = pc.put_entry(conn, "import", {"n": 1}, 1)
    pc.put_entry(conn, "enrich", {"n": 2}, 2)
    rows = queries.pipeline_cache.list_oldest_entries(conn, limit=1)
    assert [r["id"] for r in rows] == [first["id"]] and "result_data" not in rows[0]


def test_invalidate_entry_and_stage(conn: Connection) -> None:
    pc.put_entry(conn, "import", INPUT, 1)
    pc.put_entry(conn, "import", {"file": "b.ics"}, 2)
    pc.put_entry(conn, "enrich", INPUT, 3)
    assert pc.invalidate_entry(conn, "import", INPUT) is True
    assert pc.invalidate_entry(conn, "import", INPUT) is False
    assert pc.get_entry(conn, "import", {"file": "b.ics"}) is not None
    assert pc.invalidate_stage(conn, "import") == 1
    assert pc.get_entry(conn, "enrich", INPUT) is not None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: pc.put_entry(c, "export", INPUT, 1), "unknown stage 'export'"),
        (lambda c: pc.get_entry(c, "Import", INPUT), "unknown stage 'Import'"),
        (lambda c: pc.put_entry(c, "import", INPUT, {"r": {1}}), "result_data cannot be encoded"),
        (lambda c: pc.put_entry(c, "import", {"x": float("nan")}, 1), "cannot be encoded"),
        (lambda c: pc.put_entry(c, "import", INPUT, 1, ttl=0), "ttl must be > 0"),
        (lambda c: pc.put_entry(c, "import", INPUT, 1, ttl=float("inf")), "finite number"),
        (lambda c: pc.get_entry_by_hash(c, "import", "ABC"), "64 lowercase hex"),
        (lambda c: pc.invalidate_stage(c, "all"), "unknown stage 'all'"),
    ],
)
def test_bad_cache_input_is_refused_and_nothing_written(
    conn: Connection, call: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        call(conn)
    assert conn.execute("select count(*) as n from pipeline_cache").fetchone() == {"n": 0}


def test_database_enforces_stage_and_hash_format(conn: Connection) -> None:
    check = psycopg.errors.CheckViolation
    with pytest.raises(check, match="pipeline_cache_stage_check"), conn.transaction():
        conn.execute(
            "insert into pipeline_cache (stage, input_hash, input_data, result_data)"
            " values ('export', repeat('a', 64), '{}', '{}')"
        )
    with pytest.raises(check, match="pipeline_cache_input_hash_check"), conn.transaction():
        conn.execute(
            "insert into pipeline_cache (stage, input_hash, input_data, result_data)"
            " values ('import', 'xyz', '{}', '{}')"
        )


# --- user sessions -----------------------------------------------------------------


def test_record_user_session_keeps_the_latest_hash_per_stage(conn: Connection) -> None:
    h1, h2, h3 = (pc.input_hash(i) for i in range(3))
    created = pc.record_user_session(conn, "sess-1", import_hash=h1)
    assert created["import_hash"] == h1 and created["enrich_hash"] is None
    updated = pc.record_user_session(conn, "sess-1", enrich_hash=h2)
    assert (updated["import_hash"], updated["enrich_hash"]) == (h1, h2)
    assert updated["id"] == created["id"]
    latest = pc.record_user_session(conn, "sess-1", import_hash=h3, analyze_hash=h2)
    assert (latest["import_hash"], latest["enrich_hash"], latest["analyze_hash"]) == (h3, h2, h2)
    assert pc.get_user_session(conn, "sess-1") == latest
    assert pc.get_user_session(conn, "sess-2") is None


def test_last_accessed_moves_on_record_and_touch(conn: Connection) -> None:
    pc.record_user_session(conn, "sess-1")
    conn.execute(
        "update user_sessions set last_accessed = now() - interval '1 hour'"
        " where session_id = 'sess-1'"
    )
    old = pc.get_user_session(conn, "sess-1")
    assert old is not None
    touched = pc.touch_user_session(conn, "sess-1")
    assert touched["last_accessed"] > old["last_accessed"]
    assert touched["created_at"] == old["created_at"]
    with pytest.raises(NotFound, match="no user session 'ghost'"):
        pc.touch_user_session(conn, "ghost")


def test_session_results_join_the_live_cache(conn: Connection) -> None:
    imp = pc.put_entry(conn, "import", INPUT, {"events": 3})
    enr = pc.put_entry(conn, "enrich", INPUT, {"rich": True}, ttl=60.0)
    pc.record_user_session(
        conn, "sess-1", import_hash=imp["input_hash"], enrich_hash=enr["input_hash"]
    )
    res = pc.get_session_results(conn, "sess-1")
    assert res is not None
    assert res["import_result"] == {"events": 3} and res["enrich_result"] == {"rich": True}
    assert res["analyze_result"] is None
    _expire(conn, "enrich", INPUT)
    res = pc.get_session_results(conn, "sess-1")
    assert res is not None and res["enrich_result"] is None
    assert pc.get_session_results(conn, "nobody") is None


def test_session_results_of_a_session_without_hashes(conn: Connection) -> None:
    pc.put_entry(conn, "import", INPUT, {"events": 3})
    row = pc.record_user_session(conn, "sess-0")
    res = pc.get_session_results(conn, "sess-0")
    assert res == {
        "session_id": "sess-0",
        "import_hash": None,
        "enrich_hash": None,
        "analyze_hash": None,
        "last_accessed": row["last_accessed"],
        "import_result": None,
        "enrich_result": None,
        "analyze_result": None,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"session_id": ""}, "session_id must not be empty"),
        ({"session_id": "s" * 256}, "session_id is 256 characters long, at most 255"),
        ({"session_id": "s", "import_hash": "abc"}, "import_hash must be 64 lowercase hex"),
        ({"session_id": "s", "analyze_hash": "A" * 64}, "analyze_hash must be 64"),
    ],
)
def test_bad_session_input_is_refused(
    conn: Connection, kwargs: dict[str, Any], message: str
) -> None:
    session_id = kwargs.pop("session_id")
    with pytest.raises(InvalidInput, match=message):
        pc.record_user_session(conn, session_id, **kwargs)
    assert conn.execute("select count(*) as n from user_sessions").fetchone() == {"n": 0}


# --- async -------------------------------------------------------------------------


async def test_cache_operations_on_an_async_connection(aconn: AsyncConnection) -> None:
    entry = await pc.put_entry(aconn, "enrich", INPUT, {"a": 1}, ttl=30.0)
    hit = await pc.get_entry(aconn, "enrich", dict(reversed(list(INPUT.items()))))
    assert hit is not None and hit["id"] == entry["id"]
    session = await pc.record_user_session(aconn, "s", enrich_hash=entry["input_hash"])
    assert session["enrich_hash"] == entry["input_hash"]
    assert await pc.invalidate_entry(aconn, "enrich", INPUT) is True
    assert await pc.get_entry(aconn, "enrich", INPUT) is None
    assert await pc.purge_expired_entries(aconn) == 0


# --- migration ---------------------------------------------------------------------


def test_migration_0004_down_then_up(dsn: str) -> None:
    before = snapshot(dsn, only_tables=TABLES)
    assert {r[2] for r in before if r[0] == "index"} >= {
        "pipeline_cache_stage_input_hash_key",
        "pipeline_cache_input_hash_idx",
        "pipeline_cache_created_at_id_idx",
        "pipeline_cache_expires_at_idx",
        "user_sessions_session_id_key",
    }
    migrate.down(dsn, target=version_below(dsn, "0004"))
    assert not set(TABLES) & tables_in(dsn)
    assert "poc_task_executions" in tables_in(dsn)  # the version below stays
    migrate.up(dsn)
    assert set(TABLES) <= tables_in(dsn)
    assert snapshot(dsn, only_tables=TABLES) == before
    with connect(dsn) as c:
        assert pc.put_entry(c, "import", INPUT, 1)["result_data"] == 1
