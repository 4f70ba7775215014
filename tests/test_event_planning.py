"""Event planning (seed 003): migrations 0006-0009, named queries and operations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from catalog import tables_in, version_below
from fix_citus import on_citus
from fix_db import rolled_back
from plans import explain, plan_nodes
from psycopg.rows import tuple_row

from pydal_lite import InvalidInput, NotFound, migrate, queries, sql
from pydal_lite import event_planning as ep
from pydal_lite.connection import AsyncConnection, Connection
from pydal_lite.runtime import Step

TASK_TABLES = {"task_management_runs", "extended_tasks", "task_conflicts"}
OUR_TABLES = TASK_TABLES | {
    "event_plans",
    "vendors",
    "checkpoint_migrations",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
}

# -- the seed's own SQL, verbatim ------------------------------------------------------

SEED_CHECK_TABLES = """
SELECT table_name 
FROM information_schema.tables 
WHERE table_schema = 'public' 
  AND table_name IN ('task_management_runs', 'extended_tasks', 'task_conflicts');
"""  # noqa: W291

SEED_CHECK_INDEXES = """
SELECT indexname, tablename 
FROM pg_indexes 
WHERE tablename IN ('task_management_runs', 'extended_tasks', 'task_conflicts');
"""  # noqa: W291

SEED_CHECK_FKS = """
SELECT conname, conrelid::regclass, confrelid::regclass
FROM pg_constraint
WHERE contype = 'f' 
  AND conrelid::regclass::text IN ('task_management_runs', 'extended_tasks', 'task_conflicts');
"""  # noqa: W291

SEED_ROLLBACK = [
    "DROP TABLE IF EXISTS task_conflicts CASCADE;",
    "DROP TABLE IF EXISTS extended_tasks CASCADE;",
    "DROP TABLE IF EXISTS task_management_runs CASCADE;",
]

EXPECTED_INDEXES = {
    ("task_management_runs_pkey", "task_management_runs"),
    ("task_management_runs_event_id_run_timestamp_idx", "task_management_runs"),
    ("task_management_runs_status_idx", "task_management_runs"),
    ("task_management_runs_run_timestamp_idx", "task_management_runs"),
    ("task_management_runs_processing_summary_idx", "task_management_runs"),
    ("task_management_runs_request_key_idx", "task_management_runs"),  # 0015, not the seed's
    ("extended_tasks_pkey", "extended_tasks"),
    ("extended_tasks_task_management_run_id_task_id_key", "extended_tasks"),
    ("extended_tasks_created_at_idx", "extended_tasks"),
    ("extended_tasks_task_data_idx", "extended_tasks"),
    ("extended_tasks_has_errors_idx", "extended_tasks"),
    ("extended_tasks_requires_manual_review_idx", "extended_tasks"),
    ("task_conflicts_pkey", "task_conflicts"),
    ("task_conflicts_task_management_run_id_conflict_id_key", "task_conflicts"),
    ("task_conflicts_resolution_status_idx", "task_conflicts"),
    ("task_conflicts_created_at_idx", "task_conflicts"),
    ("task_conflicts_conflict_data_idx", "task_conflicts"),
    ("task_conflicts_unresolved_idx", "task_conflicts"),
}

# Everything in the public schema a migration can create, each item with the table it
# belongs to (a table, its columns, constraints, indexes, identity sequences, triggers
# and comments), so a diff says whose objects appeared or disappeared.
CATALOG_SQL = """
with rel as (
    select
        c.oid,
        c.relname,
        c.relkind,
        coalesce(
            (select t.relname from pg_index as i join pg_class as t on t.oid = i.indrelid
             where i.indexrelid = c.oid),
            (select t.relname from pg_depend as d join pg_class as t on t.oid = d.refobjid
             where d.classid = 'pg_class'::regclass and d.objid = c.oid
               and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
             limit 1),
            c.relname
        ) as owner
    from pg_class as c
    where c.relnamespace = 'public'::regnamespace
)
select 'relation', owner, relname, relkind::text from rel
union all
select 'column', rel.owner, rel.relname || '.' || a.attname,
       -- the column's position among live columns: a column dropped and added again by
       -- a later migration's down and up keeps its place but gets a new attnum
       (row_number() over (partition by a.attrelid order by a.attnum))::text
       || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
       || ' ' || a.attidentity::text || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
from pg_attribute as a
join rel on rel.oid = a.attrelid and rel.relkind in ('r', 'p')
left join pg_attrdef as ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
where a.attnum > 0 and not a.attisdropped
union all
select 'constraint', rel.owner, con.conname, pg_get_constraintdef(con.oid)
from pg_constraint as con join rel on rel.oid = con.conrelid
union all
select 'index', rel.owner, rel.relname, pg_get_indexdef(rel.oid) from rel where relkind = 'i'
union all
select 'trigger', rel.owner, t.tgname, pg_get_triggerdef(t.oid)
from pg_trigger as t join rel on rel.oid = t.tgrelid
where not t.tgisinternal
union all
select 'comment', rel.owner, rel.relname || '.' || coalesce(a.attname, ''), d.description
from pg_description as d join rel on d.objoid = rel.oid and d.classoid = 'pg_class'::regclass
left join pg_attribute as a on a.attrelid = d.objoid and a.attnum = d.objsubid
    and d.objsubid > 0
union all
select 'function', '', p.oid::regprocedure::text, md5(p.prosrc)
from pg_proc as p where p.pronamespace = 'public'::regnamespace
union all
select 'extension', '', extname, extversion from pg_extension
"""

Item = tuple[str, str, str, str]


def catalog(dsn: str) -> set[Item]:
    with psycopg.connect(dsn, row_factory=tuple_row) as c:
        return {tuple(r) for r in c.execute(CATALOG_SQL).fetchall()}  # type: ignore[misc]


# -- helpers ----------------------------------------------------------------------


def _event(conn: Connection) -> uuid.UUID:
    plan = ep.create_event_plan(conn, "Wedding Anna & Ben", event_date=date(2027, 6, 12))
    return uuid.UUID(str(plan["id"]))


def _task(task_id: str, **data: Any) -> dict[str, Any]:
    return {"task_id": task_id, "task_data": {"title": task_id, **data}}


# -- schema -------------------------------------------------------------------------


def test_seed_testing_sql_returns_the_expected_rows(conn: Connection) -> None:
    found = {r["table_name"] for r in conn.execute(SEED_CHECK_TABLES).fetchall()}
    assert found == TASK_TABLES
    indexes = {(r["indexname"], r["tablename"]) for r in conn.execute(SEED_CHECK_INDEXES)}
    assert indexes == EXPECTED_INDEXES
    fks = {
        (r["conname"], str(r["conrelid"]), str(r["confrelid"]))
        for r in conn.execute(SEED_CHECK_FKS)
    }
    assert fks == {
        ("task_management_runs_event_id_fkey", "task_management_runs", "event_plans"),
        ("extended_tasks_task_management_run_id_fkey", "extended_tasks", "task_management_runs"),
        ("task_conflicts_task_management_run_id_fkey", "task_conflicts", "task_management_runs"),
    }
    cascades = conn.execute(
        "select count(*) as n from pg_constraint"
        " where contype = 'f' and confdeltype = 'c'"
        " and conrelid::regclass::text = any(%s)",
        [list(TASK_TABLES)],
    ).fetchone()
    assert cascades == {"n": 3}


def test_every_table_and_its_updated_at_trigger(conn: Connection) -> None:
    rows = conn.execute(
        "select c.relname as name, obj_description(c.oid, 'pg_class') as comment,"
        " exists (select 1 from pg_trigger t where t.tgrelid = c.oid"
        "   and t.tgname = c.relname || '_100_set_updated_at') as has_trigger"
        " from pg_class c where c.relkind = 'r' and c.relname = any(%s)",
        [sorted(OUR_TABLES)],
    ).fetchall()
    assert {r["name"] for r in rows} == OUR_TABLES
    assert all(r["comment"] for r in rows), [r["name"] for r in rows if not r["comment"]]
    with_trigger = {r["name"] for r in rows if r["has_trigger"]}
    expected = TASK_TABLES | {"event_plans", "vendors"}
    if on_citus(conn):  # 0017: each node would stamp its own now() on a reference table
        expected -= {"task_management_runs", "event_plans", "vendors"}
    assert with_trigger == expected


def test_seed_rollback_removes_the_three_tables_and_nothing_else(dsn: str) -> None:
    before = catalog(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        for statement in SEED_ROLLBACK:
            c.execute(statement)
    after = catalog(dsn)
    removed = before - after
    assert after <= before, f"the rollback changed other objects: {sorted(after - before)}"
    assert {owner for _, owner, _, _ in removed} == TASK_TABLES
    assert removed == {i for i in before if i[1] in TASK_TABLES}
    assert len(removed) > 60  # tables, columns, keys, indexes, triggers, comments


def test_down_of_0009_gives_back_the_0008_catalog(new_database: Any) -> None:
    at_0009 = new_database()
    migrate.up(at_0009, target="0009")
    full = catalog(at_0009)
    assert [m.version for m in migrate.down(at_0009, steps=1)] == ["0009"]
    at_0008 = new_database()
    migrate.up(at_0008, target="0008")
    assert catalog(at_0009) == catalog(at_0008)
    assert {owner for _, owner, _, _ in full - catalog(at_0009)} == TASK_TABLES


def test_down_below_0006_and_up_again(dsn: str) -> None:
    before = catalog(dsn)
    assert OUR_TABLES <= tables_in(dsn)
    rolled = [m.version for m in migrate.down(dsn, target=version_below(dsn, "0006"))]
    assert {"0006", "0007", "0008", "0009"} <= set(rolled)
    assert not OUR_TABLES & tables_in(dsn)
    migrate.up(dsn)
    assert OUR_TABLES <= tables_in(dsn)
    assert catalog(dsn) == before


def test_json_flags_and_statuses_are_enforced_by_the_database(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    check = psycopg.errors.CheckViolation
    with pytest.raises(check, match="extended_tasks_has_errors_check"), conn.transaction():
        conn.execute(
            "insert into extended_tasks (task_management_run_id, task_id, task_data)"
            " values (%s, 't1', '{\"has_errors\": \"yes\"}')",
            [run["id"]],
        )
    with pytest.raises(check, match="task_management_runs_status_check"), conn.transaction():
        conn.execute("update task_management_runs set status = 'done'")
    with pytest.raises(check, match="task_conflicts_resolved_at_check"), conn.transaction():
        conn.execute(
            "insert into task_conflicts (task_management_run_id, conflict_id, conflict_data,"
            " resolution_status) values (%s, 'c1', '{}', 'resolved')",
            [run["id"]],
        )


# -- operations ---------------------------------------------------------------------


def test_run_lifecycle_follows_the_transition_table(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn), processing_summary={"source": "test"})
    assert run["status"] == "initialized"
    assert run["processing_summary"] == {"source": "test"}
    moved = ep.set_run_status(conn, run["id"], "processing")
    assert moved["status"] == "processing"
    assert moved["updated_at"] >= run["updated_at"]
    with pytest.raises(ep.InvalidTransition, match=r"from 'processing' to 'initialized'|initial"):
        ep.set_run_status(conn, run["id"], "initialized")
    done = ep.set_run_status(conn, run["id"], "completed", processing_summary={"total_tasks": 3})
    assert (done["status"], done["processing_summary"]) == ("completed", {"total_tasks": 3})
    with pytest.raises(ep.InvalidTransition, match=r"from 'completed' to 'failed'"):
        ep.set_run_status(conn, run["id"], "failed", error_log="late")
    assert ep.get_run(conn, run["id"])["error_log"] is None

    other = ep.start_run(conn, run["event_id"])
    failed = ep.set_run_status(conn, other["id"], "failed", error_log="vendor api down")
    assert (failed["status"], failed["error_log"]) == ("failed", "vendor api down")
    assert [
        r["id"] for r in queries.event_planning.list_runs_for_event(conn, event_id=run["event_id"])
    ] == [
        other["id"],
        run["id"],
    ]


def test_run_errors_name_the_bad_value(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="'done'"):
        ep.set_run_status(conn, 1, "done")
    with pytest.raises(NotFound, match="no task management run 999"):
        ep.set_run_status(conn, 999, "processing")
    with pytest.raises(InvalidInput, match="'not-a-uuid'"):
        ep.start_run(conn, "not-a-uuid")
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=str(missing)):
        ep.start_run(conn, missing)
    with pytest.raises(InvalidInput, match="run_id must be an integer, got True"):
        ep.get_run(conn, True)


@pytest.mark.own_db  # the trigger must move updated_at: now() must move
def test_upsert_tasks_inserts_updates_and_skips_unchanged(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    tasks = [
        _task("t-1", category="venue"),
        _task("t-2", category="catering", has_errors=True, errors=["no quote"]),
        _task("t-3", category="venue", requires_manual_review=True),
    ]
    assert ep.upsert_tasks(conn, run["id"], tasks) == 3
    conn.commit()  # later statements get a later now()
    first = {r["task_id"]: r for r in ep.find_tasks(conn, run["id"], {})}
    assert ep.upsert_tasks(conn, run["id"], tasks) == 0  # nothing changed, nothing written
    changed = [_task("t-1", category="venue", has_errors=True), _task("t-4")]
    assert ep.upsert_tasks(conn, run["id"], changed) == 2
    conn.commit()
    rows = {r["task_id"]: r for r in ep.find_tasks(conn, run["id"], {})}
    assert sorted(rows) == ["t-1", "t-2", "t-3", "t-4"]
    assert rows["t-1"]["task_data"]["has_errors"] is True
    assert rows["t-1"]["id"] == first["t-1"]["id"]
    assert rows["t-1"]["updated_at"] > first["t-1"]["updated_at"]  # trigger stamped the update
    assert rows["t-2"]["updated_at"] == first["t-2"]["updated_at"]


def test_updated_at_trigger_stamps_each_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("insert into event_plans (id, title) values (%s, 'x')", [uuid.UUID(int=1)])
        c.execute(
            "insert into task_management_runs (id, event_id) values (1, %s)", [uuid.UUID(int=1)]
        )
        c.execute(
            "insert into extended_tasks (task_management_run_id, task_id, task_data)"
            " values (1, 't', '{}')"
        )
        c.execute(
            "insert into task_conflicts (task_management_run_id, conflict_id, conflict_data)"
            " values (1, 'c', '{}')"
        )
        for table in sorted(TASK_TABLES):
            stamps = c.execute(f"select updated_at from {table}").fetchone()  # noqa: S608
            c.execute(f"update {table} set created_at = created_at")  # noqa: S608
            later = c.execute(f"select updated_at from {table}").fetchone()  # noqa: S608
            assert stamps is not None and later is not None
            assert later[0] > stamps[0], table


def _on_citus(conn: Connection) -> bool:
    row = conn.execute(
        "select exists (select from pg_extension where extname = 'citus') as citus"
    ).fetchone()
    return bool(row and row["citus"])


def test_upsert_sends_one_statement_per_batch(conn: Connection) -> None:
    if _on_citus(conn):
        pytest.skip(
            "Citus runs the probe's statement trigger on the worker shards, which have "
            "neither its function nor its table (test_citus_events checks the counts)"
        )
    run = ep.start_run(conn, _event(conn))
    conn.execute("create table probe_statements (n int not null)")
    conn.execute(
        "create function probe_count() returns trigger language plpgsql as"
        " $$ begin insert into probe_statements values (1); return null; end $$"
    )
    conn.execute(
        "create trigger probe after insert on extended_tasks"
        " for each statement execute function probe_count()"
    )
    tasks = [_task(f"t-{i:05}", n=i) for i in range(2500)]
    assert ep.upsert_tasks(conn, run["id"], tasks, batch_size=1000) == 2500
    assert conn.execute("select count(*) as n from probe_statements").fetchone() == {"n": 3}
    assert conn.execute("select count(*) as n from extended_tasks").fetchone() == {"n": 2500}


def test_upsert_validates_before_sending_anything(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    with pytest.raises(InvalidInput, match="task_id 't-1' appears twice"):
        ep.upsert_tasks(conn, run["id"], [_task("t-1"), _task("t-1")])
    with pytest.raises(
        InvalidInput, match="has_errors of task 't-9' must be true or false, got 'yes'"
    ):
        ep.upsert_tasks(conn, run["id"], [_task("t-8"), _task("t-9", has_errors="yes")])
    with pytest.raises(InvalidInput, match="cannot be encoded as JSON"):
        ep.upsert_tasks(conn, run["id"], [_task("t-7", when=date(2027, 1, 1))])
    with pytest.raises(InvalidInput, match="task_id is 101 characters long, at most 100"):
        ep.upsert_tasks(conn, run["id"], [{"task_id": "x" * 101, "task_data": {}}])
    with pytest.raises(NotFound, match="no task management run 12345"):
        ep.upsert_tasks(conn, 12345, [_task("t-1")])
    assert ep.find_tasks(conn, run["id"], {}) == []
    assert ep.upsert_tasks(conn, run["id"], []) == 0


def test_find_and_flagged_task_lists(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    ep.upsert_tasks(
        conn,
        run["id"],
        [
            _task("t-1", category="venue", vendor={"id": "v-1"}),
            _task("t-2", category="venue", vendor={"id": "v-2"}, has_errors=True),
            _task("t-3", category="catering", has_errors=True, requires_manual_review=True),
            _task("t-4", category="catering", has_errors=False, requires_manual_review=False),
        ],
    )
    venue = ep.find_tasks(conn, run["id"], {"category": "venue"})
    assert [r["task_id"] for r in venue] == ["t-1", "t-2"]
    nested = ep.find_tasks(conn, run["id"], {"vendor": {"id": "v-2"}})
    assert [r["task_id"] for r in nested] == ["t-2"]
    errors = ep.list_tasks_with_errors(conn, run["id"])
    assert [r["task_id"] for r in errors] == ["t-2", "t-3"]
    page = ep.list_tasks_with_errors(conn, run["id"], after_task_id="t-2", limit=1)
    assert [r["task_id"] for r in page] == ["t-3"]
    assert [r["task_id"] for r in ep.list_tasks_for_review(conn, run["id"])] == ["t-3"]
    with pytest.raises(InvalidInput, match="filter must be a JSON object"):
        ep.find_tasks(conn, run["id"], ["venue"])  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="limit must be between 1 and 10000, got 0"):
        ep.list_tasks_for_review(conn, run["id"], limit=0)


def test_conflicts_upsert_list_and_resolve(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    conflicts = [
        {
            "conflict_id": "c-1",
            "conflict_data": {"conflict_type": "venue", "task_ids": ["t-1", "t-2"]},
        },
        {"conflict_id": "c-2", "conflict_data": {"conflict_type": "timeline", "task_ids": ["t-3"]}},
        {"conflict_id": "c-3", "conflict_data": {"conflict_type": "resource", "task_ids": ["t-1"]}},
    ]
    assert ep.upsert_conflicts(conn, run["id"], conflicts) == 3
    unresolved = ep.list_unresolved_conflicts(conn, run["id"])
    assert [r["conflict_id"] for r in unresolved] == ["c-1", "c-2", "c-3"]
    assert all(r["resolved_at"] is None for r in unresolved)

    done = ep.resolve_conflict(conn, run["id"], "c-1")
    assert done["resolution_status"] == "resolved" and done["resolved_at"] is not None
    assert (
        ep.resolve_conflict(conn, run["id"], "c-2", status="ignored")["resolution_status"]
        == "ignored"
    )
    with pytest.raises(
        ep.InvalidTransition, match=r"conflict 'c-1' of run \d+ is already 'resolved'"
    ):
        ep.resolve_conflict(conn, run["id"], "c-1")
    with pytest.raises(NotFound, match="no conflict 'c-9'"):
        ep.resolve_conflict(conn, run["id"], "c-9")
    with pytest.raises(InvalidInput, match="'fixed'"):
        ep.resolve_conflict(conn, run["id"], "c-3", status="fixed")

    # a re-run of the detector updates documents but does not reopen settled conflicts
    conflicts[0]["conflict_data"] = {"conflict_type": "venue", "task_ids": ["t-1"]}
    assert ep.upsert_conflicts(conn, run["id"], conflicts) == 1
    assert [r["conflict_id"] for r in ep.list_unresolved_conflicts(conn, run["id"])] == ["c-3"]
    venue = ep.find_conflicts(conn, run["id"], {"task_ids": ["t-1"]})
    assert [(r["conflict_id"], r["resolution_status"]) for r in venue] == [
        ("c-1", "resolved"),
        ("c-3", "unresolved"),
    ]


def test_run_summary_counts(conn: Connection) -> None:
    run = ep.start_run(conn, _event(conn))
    empty = ep.run_summary(conn, run["id"])
    assert (empty["task_count"], empty["error_count"], empty["review_count"]) == (0, 0, 0)
    assert empty["conflicts_by_status"] == {"unresolved": 0, "resolved": 0, "ignored": 0}
    ep.upsert_tasks(
        conn,
        run["id"],
        [
            _task("t-1", has_errors=True),
            _task("t-2", has_errors=True, requires_manual_review=True),
            _task("t-3", requires_manual_review=False),
        ],
    )
    ep.upsert_conflicts(
        conn, run["id"], [{"conflict_id": f"c-{i}", "conflict_data": {}} for i in range(4)]
    )
    ep.resolve_conflict(conn, run["id"], "c-0")
    ep.resolve_conflict(conn, run["id"], "c-1", status="ignored")
    s = ep.run_summary(conn, run["id"])
    assert (s["task_count"], s["error_count"], s["review_count"]) == (3, 2, 1)
    assert s["conflicts_by_status"] == {"unresolved": 2, "resolved": 1, "ignored": 1}
    assert s["status"] == "initialized"
    with pytest.raises(NotFound):
        ep.run_summary(conn, run["id"] + 1)


def test_deleting_the_event_plan_cascades(conn: Connection) -> None:
    event = _event(conn)
    run = ep.start_run(conn, event)
    ep.upsert_tasks(conn, run["id"], [_task("t-1")])
    ep.upsert_conflicts(conn, run["id"], [{"conflict_id": "c-1", "conflict_data": {}}])
    conn.execute("delete from event_plans where id = %s", [event])
    counts = conn.execute(
        "select (select count(*) from task_management_runs) as runs,"
        " (select count(*) from extended_tasks) as tasks,"
        " (select count(*) from task_conflicts) as conflicts"
    ).fetchone()
    assert counts == {"runs": 0, "tasks": 0, "conflicts": 0}


def test_vendors_search(conn: Connection) -> None:
    ep.add_vendor(conn, "Hall A", "venue", "Berlin", rating=4.5)
    ep.add_vendor(conn, "Hall B", "venue", "berlin", rating=4.9)
    ep.add_vendor(conn, "Hall C", "venue", "BERLIN")
    ep.add_vendor(conn, "Hall D", "venue", "Munich", rating=5)
    gone = ep.add_vendor(conn, "Hall E", "venue", "Berlin", rating=5)
    conn.execute("update vendors set is_active = false where id = %s", [gone["id"]])
    found = ep.find_vendors(conn, "venue", "Berlin")
    assert [v["name"] for v in found] == ["Hall B", "Hall A", "Hall C"]
    assert [
        v["name"] for v in queries.event_planning.list_vendors_by_name(conn, name="hall e")
    ] == ["Hall E"]
    with pytest.raises(InvalidInput, match="'florist'"):
        ep.add_vendor(conn, "Rosa", "florist", "Berlin")


async def test_operations_run_on_async_connections(aconn: AsyncConnection) -> None:
    plan = await ep.create_event_plan(aconn, "Conference")
    run = await ep.start_run(aconn, plan["id"])
    assert await ep.upsert_tasks(aconn, run["id"], [_task("t-1", has_errors=True)]) == 1
    assert (
        await ep.upsert_conflicts(aconn, run["id"], [{"conflict_id": "c-1", "conflict_data": {}}])
        == 1
    )
    await ep.set_run_status(aconn, run["id"], "processing")
    assert [r["task_id"] for r in await ep.list_tasks_with_errors(aconn, run["id"])] == ["t-1"]
    assert [r["task_id"] for r in await ep.find_tasks(aconn, run["id"], {"has_errors": True})] == [
        "t-1"
    ]
    await ep.resolve_conflict(aconn, run["id"], "c-1")
    summary = await ep.run_summary(aconn, run["id"])
    assert summary["status"] == "processing"
    assert (summary["task_count"], summary["error_count"]) == (1, 1)
    assert summary["conflicts_by_status"]["resolved"] == 1
    with pytest.raises(ep.InvalidTransition):
        await ep.set_run_status(aconn, run["id"], "processing")


# -- plans on a table large enough for the planner to care --------------------------------

N_TASKS = 30_000
N_CONFLICTS = 30_000
N_VENDORS = 20_000


@pytest.fixture(scope="module")
def big_db(module_dsn: str) -> tuple[str, int]:
    """One run with 30k tasks and 30k conflicts, a small second run, 20k vendors; analyzed;
    built once for the module. Returns the DSN and the big run's id."""
    from pydal_lite.connection import connect

    with connect(module_dsn, autocommit=True) as c:
        event = uuid.uuid4()
        c.execute("insert into event_plans (id, title) values (%s, 'big')", [event])
        run = c.execute(
            "insert into task_management_runs (event_id) values (%s) returning id", [event]
        ).fetchone()
        c.execute("insert into task_management_runs (event_id) values (%s)", [event])
        assert run is not None
        c.execute(
            """
            insert into extended_tasks (task_management_run_id, task_id, task_data)
            select
                r.id,
                'task-' || lpad(i::text, 6, '0'),
                jsonb_build_object(
                    'title', 'task ' || i,
                    'category', (array['venue', 'catering', 'photo', 'decor'])[i %% 4 + 1],
                    'assigned_vendor', 'vendor-' || (i %% 1000),
                    'has_errors', i %% 500 = 0,
                    'requires_manual_review', i %% 300 = 0
                )
            from task_management_runs as r
            cross join generate_series(1, case when r.id = %(run)s then %(n)s else 50 end) as i
            """,
            {"run": run["id"], "n": N_TASKS},
        )
        c.execute(
            """
            insert into task_conflicts (
                task_management_run_id, conflict_id, conflict_data, resolution_status, resolved_at
            )
            select
                %(run)s,
                'conflict-' || lpad(i::text, 6, '0'),
                jsonb_build_object(
                    'conflict_type', (array['timeline', 'resource', 'venue'])[i %% 3 + 1],
                    'task_ids', jsonb_build_array('task-' || lpad((i %% 5000)::text, 6, '0'))
                ),
                case when i %% 50 = 0 then 'unresolved' else 'resolved' end,
                case when i %% 50 = 0 then null else now() end
            from generate_series(1, %(n)s) as i
            """,
            {"run": run["id"], "n": N_CONFLICTS},
        )
        c.execute(
            """
            insert into vendors (name, service_type, location_city, rating, is_active)
            select
                'vendor ' || i,
                (array['venue', 'caterer', 'photographer', 'decorator', 'other'])[i %% 5 + 1],
                'city-' || (i %% 200),
                (i %% 50) / 10.0,
                i %% 10 <> 0
            from generate_series(1, %(n)s) as i
            """,
            {"n": N_VENDORS},
        )
        c.execute(
            "analyze event_plans, task_management_runs, extended_tasks, task_conflicts, vendors"
        )
    return module_dsn, int(run["id"])


@pytest.fixture
def big(big_db: tuple[str, int]) -> Iterator[tuple[Connection, int]]:
    """A connection to the module's big database, rolled back after the test; the run id."""
    with rolled_back(big_db[0]) as c:
        yield c, big_db[1]


def _plan(conn: Connection, step: Step[Any]) -> tuple[set[str], str]:
    """The indexes a step's plan uses and its node types, top down."""
    nodes = list(plan_nodes(explain(conn, step)))
    names = {node["Index Name"] for node in nodes if "Index Name" in node}
    return names, " > ".join(node["Node Type"] for node in nodes)


@pytest.mark.parametrize(
    ("query", "params", "index"),
    [
        (
            "find_tasks",
            {"filter": {"assigned_vendor": "vendor-17"}},
            "extended_tasks_task_data_idx",
        ),
        ("list_tasks_with_errors", {"after_task_id": ""}, "extended_tasks_has_errors_idx"),
        (
            "list_tasks_for_review",
            {"after_task_id": ""},
            "extended_tasks_requires_manual_review_idx",
        ),
        ("list_unresolved_conflicts", {"after_conflict_id": ""}, "task_conflicts_unresolved_idx"),
        (
            "find_conflicts",
            {"filter": {"task_ids": ["task-000017"]}},
            "task_conflicts_conflict_data_idx",
        ),
    ],
)
def test_json_and_partial_queries_use_their_index(
    big: tuple[Connection, int], query: str, params: dict[str, Any], index: str
) -> None:
    conn, run_id = big
    step = getattr(sql.event_planning, query)(run_id=run_id, limit=100, **params)
    names, nodes = _plan(conn, step)
    assert index in names, f"{query} planned as {nodes} using {names}"
    fn = getattr(queries.event_planning, query)
    assert index in (fn.__doc__ or ""), "the docstring names the index that serves the query"
    # and the query really returns the flagged rows through it
    rows = fn(conn, run_id=run_id, limit=100, **params)
    assert 0 < len(rows) <= 100


def test_summary_and_vendor_search_use_indexes(big: tuple[Connection, int]) -> None:
    conn, run_id = big
    names, nodes = _plan(conn, sql.event_planning.get_run_summary(run_id=run_id))
    assert {
        "extended_tasks_has_errors_idx",
        "extended_tasks_requires_manual_review_idx",
    } <= names, nodes
    summary = ep.run_summary(conn, run_id)
    assert (summary["task_count"], summary["error_count"], summary["review_count"]) == (
        N_TASKS,
        N_TASKS // 500,
        N_TASKS // 300,
    )
    assert summary["conflicts_by_status"] == {
        "unresolved": N_CONFLICTS // 50,
        "resolved": N_CONFLICTS - N_CONFLICTS // 50,
        "ignored": 0,
    }
    names, nodes = _plan(
        conn, sql.event_planning.list_vendors(service_type="venue", city="CITY-5", limit=10)
    )
    assert "vendors_service_type_location_city_rating_name_idx" in names, nodes
    assert "Sort" not in nodes  # the index gives the order


def test_vendor_indexes_are_built_concurrently_and_valid(conn: Connection) -> None:
    from pydal_lite.resources import schema_dir

    mig = migrate.parse_file(schema_dir() / "0008_add_vendor_performance_indexes.sql")
    assert mig.down is not None
    assert (mig.up.transaction, mig.down.transaction) == (False, False)
    assert all("concurrently" in s.sql for s in mig.up.statements() if "create index" in s.sql)
    rows = conn.execute(
        "select indexrelid::regclass::text as name, indisvalid as valid from pg_index"
        " where indrelid = 'vendors'::regclass and not indisprimary order by 1"
    ).fetchall()
    assert rows == [
        {"name": "vendors_name_idx", "valid": True},
        {"name": "vendors_service_type_location_city_rating_name_idx", "valid": True},
    ]
