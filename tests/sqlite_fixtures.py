"""Build SQLite files the way the seed systems' SQLAlchemy models wrote them.

Each builder takes canonical Python values (aware UTC datetimes, bools, dicts, UUIDs),
writes them as SQLAlchemy's SQLite dialect stores them (DATETIME as
``YYYY-MM-DD HH:MM:SS.ffffff`` text without a zone, BOOLEAN as 0/1, JSON as text) and
returns the rows the target must hold afterwards, keyed by target table, with the
target's column names and the values psycopg reads back.

Seed 000 gives its SQLite DDL verbatim (PLANNING_DDL below, copied from the seed);
the other DDL is what SQLAlchemy's ``create_all`` emits for the models the seeds
describe.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
T0 = datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)

Expected = dict[str, list[dict[str, Any]]]


def sa_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME storage format (the zone is dropped)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sa_json(value: Any) -> str | None:
    """SQLAlchemy JSON on SQLite: json.dumps text (None as SQL NULL here)."""
    return None if value is None else json.dumps(value)


def sa_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


# -- seed 000: planning metrics ------------------------------------------------------------

# poc_task_executions is referenced by the seed but not given; this is what SQLAlchemy
# makes of a model with the target's columns.
TASK_EXECUTIONS_DDL = """
CREATE TABLE poc_task_executions (
    id VARCHAR(36) PRIMARY KEY,
    task_id VARCHAR(100) NOT NULL,
    mode VARCHAR(50) NOT NULL,
    status VARCHAR(50) NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    completed_at TIMESTAMP WITH TIME ZONE,
    duration_seconds FLOAT,
    tokens INTEGER,
    success BOOLEAN,
    error TEXT,
    metadata JSON
);
"""

# Verbatim from seed 000.
PLANNING_DDL = """
CREATE TABLE poc_execution_plans (
    id VARCHAR(36) PRIMARY KEY,
    task_execution_id VARCHAR(36) NOT NULL UNIQUE,
    plan_id VARCHAR(100) NOT NULL,
    original_task TEXT NOT NULL,
    subtask_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    completed_at TIMESTAMP WITH TIME ZONE,
    is_complete BOOLEAN NOT NULL DEFAULT 0,
    metadata JSON,
    FOREIGN KEY(task_execution_id) REFERENCES poc_task_executions(id) ON DELETE CASCADE
);

CREATE INDEX idx_poc_plans_task_plan ON poc_execution_plans(task_execution_id, plan_id);
CREATE INDEX idx_poc_plans_complete ON poc_execution_plans(is_complete);

CREATE TABLE poc_subtask_executions (
    id VARCHAR(36) PRIMARY KEY,
    plan_id VARCHAR(36) NOT NULL,
    subtask_id VARCHAR(100) NOT NULL,
    sequence_number INTEGER NOT NULL,
    description TEXT NOT NULL,
    agent VARCHAR(50) NOT NULL,
    estimated_time VARCHAR(50),
    status VARCHAR(50) NOT NULL DEFAULT 'pending',
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    duration_seconds FLOAT,
    result TEXT,
    error TEXT,
    dependencies JSON,
    FOREIGN KEY(plan_id) REFERENCES poc_execution_plans(id) ON DELETE CASCADE
);

CREATE INDEX idx_poc_subtasks_plan_seq ON poc_subtask_executions(plan_id, sequence_number);
CREATE INDEX idx_poc_subtasks_status ON poc_subtask_executions(status);
CREATE INDEX idx_poc_subtasks_agent ON poc_subtask_executions(agent);
"""


def _uid(n: int, salt: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{salt}-{n}"))


def planning_rows(n_tasks: int = 4) -> Expected:
    """Canonical rows of the three planning tables (target column names and values)."""
    tasks, plans, subtasks = [], [], []
    for i in range(n_tasks):
        started = T0 + timedelta(hours=i)
        done = i % 2 == 0
        tasks.append(
            {
                "id": _uid(i, "task"),
                "task_id": f"task_{i:03d}",
                "mode": "multi-agent" if i % 2 else "single-agent",
                "status": "completed" if done else "running",
                "started_at": started,
                "completed_at": started + timedelta(minutes=5) if done else None,
                "duration_seconds": 300.0 if done else None,
                "tokens": 1000 + i if done else None,
                "success": (i % 4 == 0) if done else None,
                "error": None,
                "metadata": {"model": "gpt", "run": i},
            }
        )
        plans.append(
            {
                "id": _uid(i, "plan"),
                "task_execution_id": _uid(i, "task"),
                "plan_id": f"plan-{i}",
                "original_task": f"Сделать задачу {i}",
                "subtask_count": 3,
                "created_at": started + timedelta(seconds=1),
                "completed_at": started + timedelta(minutes=4) if done else None,
                "is_complete": done,
                "metadata": {"planner": "v1"} if i % 3 else None,
            }
        )
        for j in range(3):
            finished = done or j == 0
            subtasks.append(
                {
                    "id": _uid(i * 10 + j, "sub"),
                    "plan_id": _uid(i, "plan"),
                    "subtask_id": f"s{j}",
                    "sequence_number": j + 1,
                    "description": f"step {j} of {i}",
                    "agent": ["coder", "reviewer", "tester"][j],
                    "estimated_time": "5 min" if j else None,
                    "status": "completed" if finished else "pending",
                    "started_at": started + timedelta(seconds=10 * j + 2) if finished else None,
                    "completed_at": started + timedelta(seconds=10 * j + 9) if finished else None,
                    "duration_seconds": 7.0 if finished else None,
                    "result": "ok" if finished else None,
                    "error": None,
                    "dependencies": [f"s{k}" for k in range(j)],
                }
            )
    return {
        "poc_task_executions": tasks,
        "poc_execution_plans": plans,
        "poc_subtask_executions": subtasks,
    }


def _sa_row(
    row: dict[str, Any], datetimes: set[str], bools: set[str], jsons: set[str]
) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k in datetimes:
            out[k] = sa_datetime(v)
        elif k in bools:
            out[k] = sa_bool(v)
        elif k in jsons:
            out[k] = sa_json(v)
        else:
            out[k] = v
    return out


def insert(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    marks = ", ".join("?" for _ in cols)
    db.executemany(
        f"insert into {table} ({', '.join(cols)}) values ({marks})",  # noqa: S608
        [tuple(r[c] for c in cols) for r in rows],
    )


def build_planning(path: Path, expected: Expected | None = None) -> Expected:
    """benchmark.db with seed 000's tables."""
    expected = expected or planning_rows()
    with sqlite3.connect(path) as db:
        db.executescript(TASK_EXECUTIONS_DDL + PLANNING_DDL)
        dt = {"started_at", "completed_at", "created_at"}
        js = {"metadata", "dependencies"}
        bl = {"success", "is_complete"}
        for table, rows in expected.items():
            insert(db, table, [_sa_row(r, dt, bl, js) for r in rows])
    db.close()
    return expected


# -- seed 001: agent runtime, old layout ---------------------------------------------------

LEGACY_AGENT_DDL = """
CREATE TABLE sessions (
    session_id VARCHAR NOT NULL,
    messages TEXT NOT NULL,
    last_activity DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (session_id)
);
CREATE INDEX ix_sessions_last_activity ON sessions (last_activity);
CREATE TABLE agent_contexts (
    session_id VARCHAR NOT NULL,
    current_agent VARCHAR NOT NULL,
    agent_history TEXT NOT NULL,
    context_metadata TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    last_switch_at DATETIME,
    switch_count INTEGER NOT NULL,
    PRIMARY KEY (session_id)
);
CREATE INDEX ix_agent_contexts_last_switch_at ON agent_contexts (last_switch_at);
"""


def legacy_message(s: int, m: int) -> dict[str, Any]:
    """Message ``m`` of legacy session ``s`` as the old code stored it in the JSON list."""
    kind = m % 4
    if kind == 0:
        return {"role": "user", "content": f"вопрос {s}/{m}"}
    if kind == 1:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": f"call_{s}_{m}", "type": "function"}],
        }
    if kind == 2:
        return {
            "role": "tool",
            "content": "result",
            "tool_call_id": f"call_{s}_{m - 1}",
            "name": "fs",
        }
    return {"role": "assistant", "content": f"answer {m}", "metadata": {"tokens": m}, "x_extra": 1}


def legacy_session(s: int) -> str:
    return f"sess-{s:06d}"


def build_legacy_agent_runtime(
    path: Path, *, sessions: int = 5, messages: int = 6, contexts: int | None = None
) -> None:
    """data/agent_runtime.db in the old two-table layout, written in a stream."""
    n_contexts = sessions if contexts is None else contexts
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_AGENT_DDL)

        def session_rows() -> Iterator[tuple[Any, ...]]:
            for s in range(sessions):
                items = [legacy_message(s, m) for m in range(messages + s % 3)]
                yield (
                    legacy_session(s),
                    json.dumps(items, ensure_ascii=False),
                    sa_datetime(T0 + timedelta(minutes=s, seconds=30)),
                    sa_datetime(T0 + timedelta(minutes=s)),
                )

        db.executemany(
            "insert into sessions (session_id, messages, last_activity, created_at)"
            " values (?, ?, ?, ?)",
            session_rows(),
        )

        def context_rows() -> Iterator[tuple[Any, ...]]:
            for s in range(n_contexts):
                history = [
                    {
                        "from": None if k == 0 else "orchestrator",
                        "to": "orchestrator" if k == 0 else "coder",
                        "reason": f"switch {k}",
                        "timestamp": (T0 + timedelta(minutes=s, seconds=k)).isoformat(),
                    }
                    for k in range(s % 3)
                ]
                yield (
                    legacy_session(s),
                    "coder" if history else "orchestrator",
                    json.dumps(history),
                    json.dumps({"lang": "ru"} if s % 2 else {}),
                    sa_datetime(T0 + timedelta(minutes=s)),
                    sa_datetime(T0 + timedelta(minutes=s, seconds=len(history)))
                    if history
                    else None,
                    len(history),
                )

        db.executemany(
            "insert into agent_contexts (session_id, current_agent, agent_history,"
            " context_metadata, created_at, last_switch_at, switch_count)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            context_rows(),
        )
    db.close()


# -- seed 001: agent runtime, new (SQLAlchemy, normalised) layout --------------------------

NEW_AGENT_DDL = """
CREATE TABLE sessions (
    id INTEGER NOT NULL,
    session_id VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL,
    last_activity DATETIME NOT NULL,
    is_active BOOLEAN,
    deleted_at DATETIME,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_sessions_session_id ON sessions (session_id);
CREATE INDEX idx_session_activity ON sessions (session_id, last_activity);
CREATE TABLE messages (
    id INTEGER NOT NULL,
    session_db_id INTEGER NOT NULL,
    role VARCHAR(50) NOT NULL,
    content TEXT,
    timestamp DATETIME NOT NULL,
    name VARCHAR(255),
    tool_call_id VARCHAR(255),
    tool_calls TEXT,
    token_count INTEGER,
    metadata_json TEXT,
    PRIMARY KEY (id),
    FOREIGN KEY(session_db_id) REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE TABLE agent_contexts (
    id INTEGER NOT NULL,
    session_db_id INTEGER NOT NULL,
    current_agent VARCHAR(100) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    switch_count INTEGER NOT NULL,
    metadata_json TEXT,
    PRIMARY KEY (id),
    UNIQUE (session_db_id),
    FOREIGN KEY(session_db_id) REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE TABLE agent_switches (
    id INTEGER NOT NULL,
    context_db_id INTEGER NOT NULL,
    from_agent VARCHAR(100),
    to_agent VARCHAR(100) NOT NULL,
    switched_at DATETIME NOT NULL,
    reason TEXT,
    metadata_json TEXT,
    PRIMARY KEY (id),
    FOREIGN KEY(context_db_id) REFERENCES agent_contexts (id) ON DELETE CASCADE
);
"""


def build_new_agent_runtime(path: Path, *, sessions: int = 4) -> Expected:
    """The normalised SQLAlchemy layout (no messages.seq), ids from 1."""
    exp: Expected = {"sessions": [], "messages": [], "agent_contexts": [], "agent_switches": []}
    mid = 0
    for s in range(1, sessions + 1):
        deleted = T0 + timedelta(days=1) if s == sessions else None
        exp["sessions"].append(
            {
                "id": s,
                "session_id": f"new-{s}",
                "created_at": T0 + timedelta(hours=s),
                "last_activity": T0 + timedelta(hours=s, minutes=5),
                "is_active": deleted is None,
                "deleted_at": deleted,
            }
        )
        # stored out of order: seq follows (timestamp, id)
        for m in reversed(range(3)):
            mid += 1
            exp["messages"].append(
                {
                    "id": mid,
                    "session_db_id": s,
                    "seq": m,
                    "role": "user" if m % 2 == 0 else "assistant",
                    "content": f"m{m}",
                    "timestamp": T0 + timedelta(hours=s, seconds=m),
                    "name": None,
                    "tool_call_id": None,
                    "tool_calls": None,
                    "token_count": 3 + m,
                    "metadata_json": {"k": m} if m else None,
                }
            )
        exp["agent_contexts"].append(
            {
                "id": s,
                "session_db_id": s,
                "current_agent": "coder",
                "created_at": T0 + timedelta(hours=s),
                "updated_at": T0 + timedelta(hours=s, minutes=1),
                "switch_count": 1,
                # stored as NULL by the SQLAlchemy code; the target's default applies
                "metadata_json": {"a": 1} if s % 2 else {},
            }
        )
        exp["agent_switches"].append(
            {
                "id": s,
                "context_db_id": s,
                "from_agent": None,
                "to_agent": "coder",
                "switched_at": T0 + timedelta(hours=s, minutes=1),
                "reason": "start",
                "metadata_json": None,
            }
        )
    with sqlite3.connect(path) as db:
        db.executescript(NEW_AGENT_DDL)
        dt = {"created_at", "last_activity", "deleted_at", "timestamp", "updated_at", "switched_at"}
        bl = {"is_active"}
        js = {"tool_calls", "metadata_json"}
        for table, rows in exp.items():
            sa_rows = []
            for r in rows:
                row = _sa_row({k: v for k, v in r.items() if k != "seq"}, dt, bl, js)
                if table == "agent_contexts" and r["metadata_json"] == {}:
                    row["metadata_json"] = None
                sa_rows.append(row)
            insert(db, table, sa_rows)
    db.close()
    return exp


# -- seed 002: pipeline cache ----------------------------------------------------------------

PIPELINE_DDL = """
CREATE TABLE pipeline_cache (
    id INTEGER NOT NULL,
    stage VARCHAR(20) NOT NULL,
    input_hash VARCHAR(64) NOT NULL,
    input_data JSON NOT NULL,
    result_data JSON NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME,
    PRIMARY KEY (id)
);
CREATE INDEX ix_pipeline_cache_stage ON pipeline_cache (stage);
CREATE INDEX ix_pipeline_cache_input_hash ON pipeline_cache (input_hash);
CREATE INDEX ix_pipeline_cache_created_at ON pipeline_cache (created_at);
CREATE INDEX ix_pipeline_cache_expires_at ON pipeline_cache (expires_at);
CREATE TABLE user_sessions (
    id INTEGER NOT NULL,
    session_id VARCHAR(255) NOT NULL,
    import_hash VARCHAR(64),
    enrich_hash VARCHAR(64),
    analyze_hash VARCHAR(64),
    created_at DATETIME NOT NULL,
    last_accessed DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (session_id)
);
CREATE TABLE background_tasks (
    id INTEGER NOT NULL,
    task_id VARCHAR(36) NOT NULL,
    user_session VARCHAR(255) NOT NULL,
    task_type VARCHAR(50) NOT NULL,
    status VARCHAR(20) NOT NULL,
    input_data JSON,
    import_result JSON,
    enrich_result JSON,
    analyze_result JSON,
    progress INTEGER NOT NULL,
    current_stage VARCHAR(20),
    error_message TEXT,
    created_at DATETIME NOT NULL,
    started_at DATETIME,
    completed_at DATETIME,
    use_cache BOOLEAN NOT NULL,
    use_llm BOOLEAN NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (task_id)
);
CREATE INDEX ix_background_tasks_user_session ON background_tasks (user_session);
CREATE INDEX ix_background_tasks_status ON background_tasks (status);
"""


def build_pipeline(path: Path, *, n: int = 5) -> Expected:
    """The pipeline cache's database (seed 002 tables)."""
    hexes = [f"{k:064x}" for k in range(1, n + 1)]
    exp: Expected = {"pipeline_cache": [], "user_sessions": [], "background_tasks": []}
    for k in range(n):
        exp["pipeline_cache"].append(
            {
                "id": k + 10,
                "stage": ["import", "enrich", "analyze"][k % 3],
                "input_hash": hexes[k],
                "input_data": {"file": f"cal{k}.ics"},
                "result_data": [k, {"events": k * 2}] if k % 2 else 42 + k,
                "created_at": T0 + timedelta(days=k),
                "expires_at": T0 + timedelta(days=k + 7) if k % 2 else None,
            }
        )
        exp["user_sessions"].append(
            {
                "id": k + 1,
                "session_id": f"user-{k}",
                "import_hash": hexes[k],
                "enrich_hash": hexes[k] if k % 2 else None,
                "analyze_hash": None,
                "created_at": T0,
                "last_accessed": T0 + timedelta(minutes=k),
            }
        )
        status = ["pending", "completed", "failed", "cancelled", "completed"][k % 5]
        exp["background_tasks"].append(
            {
                "id": k + 100,
                "task_id": uuid.uuid5(uuid.NAMESPACE_URL, f"task{k}"),
                "user_session": f"user-{k}",
                "task_type": "ics_processing",
                "status": status,
                "input_data": {"use": k},
                "import_result": {"n": k} if status == "completed" else None,
                "enrich_result": None,
                "analyze_result": None,
                "progress": 100 if status == "completed" else 0,
                "current_stage": "analyze" if status == "completed" else None,
                "error_message": "boom" if status == "failed" else None,
                "created_at": T0 + timedelta(hours=k),
                "started_at": T0 + timedelta(hours=k, minutes=1) if status != "pending" else None,
                "completed_at": T0 + timedelta(hours=k, minutes=2) if status != "pending" else None,
                "use_cache": k % 2 == 0,
                "use_llm": k % 3 == 0,
            }
        )
    with sqlite3.connect(path) as db:
        db.executescript(PIPELINE_DDL)
        dt = {"created_at", "expires_at", "last_accessed", "started_at", "completed_at"}
        js = {"input_data", "result_data", "import_result", "enrich_result", "analyze_result"}
        bl = {"use_cache", "use_llm"}
        for table, rows in exp.items():
            sa_rows = []
            for i, r in enumerate(rows):
                row = _sa_row(r, dt, bl, js)
                if table == "background_tasks":
                    # one as SQLAlchemy's Uuid type stores it (32 hex digits), one with hyphens
                    row["task_id"] = r["task_id"].hex if i % 2 else str(r["task_id"])
                sa_rows.append(row)
            insert(db, table, sa_rows)
    db.close()
    return exp


# -- seed 004: shrinkage --------------------------------------------------------------------

SHRINKAGE_DDL = """
CREATE TABLE materials (
    id INTEGER NOT NULL,
    code VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    kind VARCHAR(20) NOT NULL,
    unit VARCHAR(20) NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (code)
);
CREATE TABLE calculation_methods (
    code VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (code)
);
CREATE TABLE coefficient_types (
    code VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    unit VARCHAR(20) NOT NULL,
    description TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (code)
);
CREATE TABLE calculations (
    id INTEGER NOT NULL,
    material_id INTEGER NOT NULL,
    method_code VARCHAR(64) NOT NULL,
    parameters JSON NOT NULL,
    period_start DATETIME NOT NULL,
    period_end DATETIME NOT NULL,
    status VARCHAR(20) NOT NULL,
    result JSON,
    error TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    completed_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(material_id) REFERENCES materials (id),
    FOREIGN KEY(method_code) REFERENCES calculation_methods (code)
);
CREATE TABLE calculation_data (
    calculation_id INTEGER NOT NULL,
    observed_at DATETIME NOT NULL,
    metric VARCHAR(64) NOT NULL,
    value FLOAT NOT NULL,
    PRIMARY KEY (calculation_id, observed_at, metric),
    FOREIGN KEY(calculation_id) REFERENCES calculations (id)
);
CREATE TABLE coefficients (
    material_id INTEGER NOT NULL,
    coefficient_code VARCHAR(64) NOT NULL,
    valid_from DATETIME NOT NULL,
    value FLOAT NOT NULL,
    PRIMARY KEY (material_id, coefficient_code, valid_from),
    FOREIGN KEY(material_id) REFERENCES materials (id),
    FOREIGN KEY(coefficient_code) REFERENCES coefficient_types (code)
);
"""


def build_shrinkage(path: Path, *, materials: int = 3, points: int = 4) -> Expected:
    """shrinkage_database.db with the time-series tables (ids kept, identity always)."""
    exp: Expected = {
        "materials": [],
        "calculation_methods": [
            {"code": "normative", "name": "Нормативная убыль", "description": "", "created_at": T0}
        ],
        "coefficient_types": [
            {
                "code": "loss_rate",
                "name": "Норма",
                "unit": "percent",
                "description": "x",
                "created_at": T0,
            }
        ],
        "calculations": [],
        "calculation_data": [],
        "coefficients": [],
    }
    for m in range(1, materials + 1):
        exp["materials"].append(
            {
                "id": m * 7,
                "code": f"MAT-{m}",
                "name": f"Зерно {m}",
                "kind": "material",
                "unit": "t",
                "created_at": T0,
            }
        )
        exp["coefficients"].append(
            {
                "material_id": m * 7,
                "coefficient_code": "loss_rate",
                "valid_from": T0,
                "value": 0.1 * m,
            }
        )
        exp["calculations"].append(
            {
                "id": m * 11,
                "material_id": m * 7,
                "method_code": "normative",
                "parameters": {"days": 30},
                "period_start": T0,
                "period_end": T0 + timedelta(days=30),
                "status": "completed",
                "result": {"loss_t": 1.5},
                "error": None,
                "created_at": T0,
                "updated_at": T0 + timedelta(days=30),
                "completed_at": T0 + timedelta(days=30),
            }
        )
        for p in range(points):
            exp["calculation_data"].append(
                {
                    "calculation_id": m * 11,
                    "observed_at": T0 + timedelta(days=p),
                    "metric": "mass_kg",
                    "value": 1000.0 - p * 0.5,
                }
            )
    with sqlite3.connect(path) as db:
        db.executescript(SHRINKAGE_DDL)
        dt = {
            "created_at",
            "updated_at",
            "completed_at",
            "period_start",
            "period_end",
            "observed_at",
            "valid_from",
        }
        js = {"parameters", "result"}
        for table, rows in exp.items():
            insert(db, table, [_sa_row(r, dt, set(), js) for r in rows])
    db.close()
    return exp


# -- comparing -------------------------------------------------------------------------------


def target_rows(
    conn: Any, table: str, columns: list[str], order_by: list[str]
) -> list[dict[str, Any]]:
    """Rows of ``table`` (dict rows), only ``columns``, sorted."""
    from psycopg import sql

    query = sql.SQL("select {} from {} order by {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, order_by)),
    )
    with conn.cursor() as cur:
        cur.execute(query)
        names = [d.name for d in cur.description]
        return [
            dict(zip(names, (r.values() if isinstance(r, dict) else r), strict=True))
            for r in cur.fetchall()
        ]


def assert_rows_equal(
    conn: Any, table: str, expected: list[dict[str, Any]], order_by: list[str]
) -> None:
    """Every expected row is in ``table`` with exactly these values, and nothing more."""
    columns = list(expected[0])
    got = target_rows(conn, table, columns, order_by)
    want = sorted(expected, key=lambda r: tuple(r[k] for k in order_by))
    assert len(got) == len(want), f"{table}: {len(got)} rows in the target, {len(want)} expected"
    for g, w in zip(got, want, strict=True):
        assert g == w, f"{table}: target row {g!r} != expected {w!r}"
