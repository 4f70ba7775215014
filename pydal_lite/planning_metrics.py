"""Planning metrics (seed 000): benchmark runs, their execution plans and subtasks.

Every function here is an :func:`~pydal_lite.runtime.operation`: call it with a sync
connection (``start_task_execution(conn, "task_001", "multi-agent")``) or await it
with an async one; each call is one transaction. Rows are dicts.

Lifecycle::

    run = start_task_execution(conn, "task_001", "multi-agent")
    plan = record_plan_created(conn, run["id"], "plan-1", "Build X", [
        {"subtask_id": "s1", "description": "research", "agent": "researcher"},
        {"subtask_id": "s2", "description": "write", "agent": "writer",
         "dependencies": ["s1"]},
    ])
    start_subtask(conn, plan["id"], "s1")
    complete_subtask(conn, plan["id"], "s1", result="notes")
    ...
    finish_task_execution(conn, run["id"], success=True, tokens=1234)

``plan_id`` in the subtask calls is the plan's row id (``plan["id"]``, what
``poc_subtask_executions.plan_id`` refers to); the planner's own id is the plan's
``plan_id`` column.

Plan completion is automatic: the call that ends a plan's last open subtask
(:func:`complete_subtask`, :func:`fail_subtask` or :func:`skip_subtask`) sets the
plan's ``is_complete`` and ``completed_at`` in the same transaction. Those calls lock
the plan row first, so two subtasks ending at the same moment in two transactions
cannot both miss that they were the last. A plan recorded with no subtasks is complete
at once. A failed subtask does not fail the plan: skip the subtasks that cannot run
any more (:func:`skip_subtask`) and the plan completes.

Durations (``duration_seconds``) are computed by the server as ``completed_at -
started_at`` (transaction time, ``now()``), never sent by the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias, TypedDict, TypeVar

from psycopg import errors as pgerrors

from . import sql
from . import validate as v
from .errors import InvalidInput, InvalidTransition, NotFound, PydalError
from .runtime import JsonValue, Step, Steps, operation
from .runtime.steps import present

logger = logging.getLogger("pydal_lite.planning_metrics")

__all__ = [
    "MODES",
    "SUBTASK_STATUSES",
    "TASK_STATUSES",
    "AgentMetrics",
    "Plan",
    "PlanMetrics",
    "PlanWithSubtasks",
    "Subtask",
    "TaskExecution",
    "complete_subtask",
    "count_subtasks_by_status",
    "delete_task_execution",
    "fail_subtask",
    "finish_task_execution",
    "get_plan",
    "get_plan_metrics",
    "get_task_execution",
    "list_open_plans",
    "list_plans_with_subtask_counts",
    "list_subtasks",
    "list_task_executions",
    "record_plan_created",
    "skip_subtask",
    "start_subtask",
    "start_task_execution",
]

MODES: Final = ("single-agent", "multi-agent")
"""Allowed ``poc_task_executions.mode`` values (the table's CHECK constraint)."""
TASK_STATUSES: Final = ("running", "completed", "failed")
"""Allowed ``poc_task_executions.status`` values."""
SUBTASK_STATUSES: Final = ("pending", "running", "completed", "failed", "skipped")
"""Allowed ``poc_subtask_executions.status`` values."""

# varchar lengths of the columns, checked before anything is sent
_ID_LEN: Final = 36
_TASK_ID_LEN: Final = 100
_PLAN_ID_LEN: Final = 100
_SUBTASK_ID_LEN: Final = 100
_AGENT_LEN: Final = 50
_ESTIMATE_LEN: Final = 50
_SUBTASK_KEYS: Final = frozenset(
    {"subtask_id", "sequence_number", "description", "agent", "estimated_time", "dependencies"}
)

_Row = TypeVar("_Row")

TaskExecution: TypeAlias = sql.planning_metrics.GetTaskExecutionRow
"""A ``poc_task_executions`` row (every query of it returns the same columns)."""
Plan: TypeAlias = sql.planning_metrics.GetPlanRow
"""A ``poc_execution_plans`` row."""
Subtask: TypeAlias = sql.planning_metrics.GetSubtaskRow
"""A ``poc_subtask_executions`` row."""


class PlanWithSubtasks(Plan):
    """A plan row with its subtask rows (``subtasks``, in sequence order)."""

    subtasks: list[Subtask]


class AgentMetrics(TypedDict):
    """One agent's figures within a plan (an element of :attr:`PlanMetrics.per_agent`)."""

    agent: str
    subtasks: int
    completed: int
    failed: int
    skipped: int
    total_duration_seconds: float
    avg_duration_seconds: float | None
    max_duration_seconds: float | None
    completion_ratio: float


class PlanMetrics(TypedDict):
    """What :func:`get_plan_metrics` returns."""

    id: str
    task_execution_id: str
    plan_id: str
    subtask_count: int
    is_complete: bool
    created_at: datetime
    completed_at: datetime | None
    total_subtasks: int
    total_duration_seconds: float
    avg_duration_seconds: float | None
    max_duration_seconds: float | None
    completion_ratio: float | None
    per_agent: list[AgentMetrics]
    by_status: dict[str, int]


def _validate_subtasks(subtasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(subtasks, (str, bytes)) or not isinstance(subtasks, Sequence):
        raise InvalidInput(f"subtasks must be a list of mappings, got {v.shown(subtasks)}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, sub in enumerate(subtasks, start=1):
        if not isinstance(sub, Mapping):
            raise InvalidInput(f"subtask #{position} must be a mapping, got {v.shown(sub)}")
        unknown = set(sub) - _SUBTASK_KEYS
        if unknown:
            raise InvalidInput(f"subtask #{position} has unknown keys {sorted(unknown)!r}")
        subtask_id = v.text(
            sub.get("subtask_id"), f"subtask #{position} subtask_id", max_len=_SUBTASK_ID_LEN
        )
        if subtask_id in seen:
            raise InvalidInput(f"subtask id {subtask_id!r} appears twice in the plan")
        seen.add(subtask_id)
        seq = v.integer(
            sub.get("sequence_number", position),
            f"subtask {subtask_id!r} sequence_number",
            lo=0,
            bits=32,
        )
        deps = sub.get("dependencies", [])
        if deps is not None and (
            isinstance(deps, (str, bytes))
            or not isinstance(deps, Sequence)
            or not all(isinstance(d, str) for d in deps)
        ):
            raise InvalidInput(
                f"subtask {subtask_id!r} dependencies must be a list of subtask ids, "
                f"got {v.shown(deps)}"
            )
        rows.append(
            {
                "subtask_id": subtask_id,
                "sequence_number": seq,
                "description": v.text(
                    sub.get("description"), f"subtask {subtask_id!r} description", min_len=0
                ),
                "agent": v.text(
                    sub.get("agent"), f"subtask {subtask_id!r} agent", max_len=_AGENT_LEN
                ),
                "estimated_time": v.text(
                    sub.get("estimated_time"),
                    f"subtask {subtask_id!r} estimated_time",
                    max_len=_ESTIMATE_LEN,
                    min_len=0,
                    nullable=True,
                ),
                "dependencies": None if deps is None else list(deps),
            }
        )
    for row in rows:
        missing = [d for d in row["dependencies"] or () if d not in seen]
        if missing:
            raise InvalidInput(
                f"subtask {row['subtask_id']!r} depends on unknown subtasks {missing!r}"
            )
    return rows


# --- task executions ---------------------------------------------------------------


@operation
def start_task_execution(
    task_id: str,
    mode: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    execution_id: str | None = None,
) -> Steps[TaskExecution]:
    """Record that a benchmark run of ``task_id`` in ``mode`` starts now; returns its row.

    ``execution_id`` (uuid text, at most 36 characters) is generated when omitted.
    """
    v.text(task_id, "task_id", max_len=_TASK_ID_LEN)
    v.one_of(mode, "mode", MODES)
    v.text(execution_id, "execution_id", max_len=_ID_LEN, min_len=0, nullable=True)
    meta = v.json_object({} if metadata is None else metadata, "metadata")
    try:
        row = yield from sql.planning_metrics.insert_task_execution(
            id=execution_id, task_id=task_id, mode=mode, metadata=meta
        )
    except pgerrors.UniqueViolation:
        raise InvalidInput(f"task execution {execution_id!r} already exists") from None
    return present(row, "insert_task_execution")


@operation
def finish_task_execution(
    execution_id: str,
    *,
    success: bool,
    tokens: int | None = None,
    error: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Steps[TaskExecution]:
    """End a running execution: ``failed`` when ``error`` is given, else ``completed``.

    ``success`` is the benchmark's verdict; ``tokens`` the tokens used; ``metadata`` is
    merged into the stored object. The server computes ``duration_seconds``. Raises
    NotFound for an unknown id and InvalidInput if the execution already ended.
    """
    v.text(execution_id, "execution_id", max_len=_ID_LEN)
    if not isinstance(success, bool):
        raise InvalidInput(f"success must be a bool, got {v.shown(success)}")
    if tokens is not None:
        v.integer(tokens, "tokens", lo=0)
    v.text(error, "error", min_len=0, nullable=True)
    meta = v.json_object({} if metadata is None else metadata, "metadata")
    row = yield from sql.planning_metrics.finish_task_execution(
        id=execution_id,
        status="completed" if error is None else "failed",
        success=success,
        tokens=tokens,
        error=error,
        metadata=meta,
    )
    if row is None:
        current = yield from sql.planning_metrics.get_task_execution(id=execution_id)
        if current is None:
            raise NotFound(f"no task execution {execution_id!r}")
        raise InvalidTransition(
            f"task execution {execution_id!r} already ended with status {current['status']!r}"
        )
    return row


@operation
def get_task_execution(execution_id: str) -> Steps[TaskExecution | None]:
    """One task execution, or None."""
    v.text(execution_id, "execution_id", max_len=_ID_LEN)
    row = yield from sql.planning_metrics.get_task_execution(id=execution_id)
    return row


@operation
def list_task_executions(task_id: str) -> Steps[list[TaskExecution]]:
    """Every execution of one benchmark task, by mode then start time."""
    v.text(task_id, "task_id", max_len=_TASK_ID_LEN)
    rows = yield from sql.planning_metrics.list_task_executions(task_id=task_id)
    return rows


@operation
def delete_task_execution(execution_id: str) -> Steps[bool]:
    """Delete an execution with its plan and subtasks (cascade); True if it existed."""
    v.text(execution_id, "execution_id", max_len=_ID_LEN)
    count = yield from sql.planning_metrics.delete_task_execution(id=execution_id)
    return bool(count)


# --- plans -------------------------------------------------------------------------


@operation
def record_plan_created(
    task_execution_id: str,
    plan_id: str,
    original_task: str,
    subtasks: Sequence[Mapping[str, Any]],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Steps[PlanWithSubtasks]:
    """Record a plan and all its subtasks (pending) in one transaction.

    Each subtask is a mapping with ``subtask_id``, ``description``, ``agent`` and
    optionally ``sequence_number`` (default: its 1-based position), ``estimated_time``
    and ``dependencies`` (subtask ids of the same plan). The subtasks go to the server
    in one statement. Returns the plan row with ``subtasks`` (list of rows, in sequence
    order). Raises NotFound if the task execution does not exist, InvalidInput if it
    already has a plan or a value is invalid; nothing is written then.
    """
    v.text(task_execution_id, "task_execution_id", max_len=_ID_LEN)
    v.text(plan_id, "plan_id", max_len=_PLAN_ID_LEN)
    v.text(original_task, "original_task", min_len=0)
    rows = _validate_subtasks(subtasks)
    meta = v.json_object(metadata, "metadata", nullable=True)
    batch = v.json_value(rows, "subtasks")
    found = yield from sql.planning_metrics.lock_task_execution(id=task_execution_id)
    if found is None:
        raise NotFound(f"no task execution {task_execution_id!r}")
    try:
        inserted_plan = yield from sql.planning_metrics.insert_plan(
            task_execution_id=task_execution_id,
            plan_id=plan_id,
            original_task=original_task,
            subtask_count=len(rows),
            metadata=meta,
        )
    except pgerrors.UniqueViolation:
        raise InvalidInput(f"task execution {task_execution_id!r} already has a plan") from None
    plan: Plan = present(inserted_plan, "insert_plan")
    inserted = yield from sql.planning_metrics.insert_subtasks(plan_id=plan["id"], subtasks=batch)
    done = yield from sql.planning_metrics.complete_plan_if_done(plan_id=plan["id"])
    ordered: list[Subtask] = sorted(inserted, key=lambda r: (r["sequence_number"], r["subtask_id"]))
    logger.debug("plan %s recorded with %d subtasks", plan["id"], len(rows))
    return {**(plan if done is None else done), "subtasks": ordered}


@operation
def get_plan(plan_id: str) -> Steps[PlanWithSubtasks | None]:
    """A plan with its ``subtasks`` (in sequence order), or None."""
    v.text(plan_id, "plan_id", max_len=_ID_LEN)
    plan = yield from sql.planning_metrics.get_plan(plan_id=plan_id)
    if plan is None:
        return None
    subtasks = yield from sql.planning_metrics.list_subtasks(plan_id=plan_id)
    return {**plan, "subtasks": subtasks}


@operation
def list_subtasks(plan_id: str) -> Steps[list[Subtask]]:
    """A plan's subtasks in sequence order (empty for an unknown plan)."""
    v.text(plan_id, "plan_id", max_len=_ID_LEN)
    rows = yield from sql.planning_metrics.list_subtasks(plan_id=plan_id)
    return rows


@operation
def list_open_plans(*, limit: int = 100) -> Steps[list[Plan]]:
    """Plans not complete yet, oldest first."""
    v.integer(limit, "limit", lo=1)
    rows = yield from sql.planning_metrics.list_open_plans(limit=limit)
    return rows


@operation
def list_plans_with_subtask_counts(
    *, limit: int = 100, after: str | None = None
) -> Steps[list[sql.planning_metrics.ListPlansWithSubtaskCountsRow]]:
    """The seed's check query, one page: plans with ``subtask_count`` and ``actual_subtasks``.

    Oldest plan first, at most ``limit`` plans. For the next page pass ``after`` = the
    ``id`` of the last plan of this one (keyset paging: each page costs the same however
    deep). NotFound if the ``after`` plan does not exist (any more).
    """
    v.integer(limit, "limit", lo=1, bits=32)
    v.text(after, "after", max_len=_ID_LEN, nullable=True)
    rows = yield from sql.planning_metrics.list_plans_with_subtask_counts(limit=limit, after=after)
    if not rows and after is not None:
        found = yield from sql.planning_metrics.get_plan(plan_id=after)
        if found is None:
            raise NotFound(f"no plan {after!r} to page after")
    return rows


@operation
def count_subtasks_by_status() -> Steps[dict[str, int]]:
    """Number of subtasks per status across all plans (every status present as a key)."""
    rows = yield from sql.planning_metrics.count_subtasks_by_status()
    counts = dict.fromkeys(SUBTASK_STATUSES, 0)
    counts.update({r["status"]: int(r["subtasks"]) for r in rows})
    return counts


# --- subtask lifecycle -------------------------------------------------------------


def _subtask_ref(plan_id: str, subtask_id: str) -> None:
    v.text(plan_id, "plan_id", max_len=_ID_LEN)
    v.text(subtask_id, "subtask_id", max_len=_SUBTASK_ID_LEN)


def _refusal(
    plan_id: str, subtask_id: str, action: str, allowed: tuple[str, ...]
) -> Steps[NotFound | InvalidTransition]:
    """The error saying why a subtask update matched no row (``raise`` it)."""
    current = yield from sql.planning_metrics.get_subtask(plan_id=plan_id, subtask_id=subtask_id)
    if current is None:
        return NotFound(f"no subtask {subtask_id!r} in plan {plan_id!r}")
    return InvalidTransition(
        f"cannot {action} subtask {subtask_id!r} of plan {plan_id!r}: its status is "
        f"{current['status']!r}, expected {' or '.join(allowed)}"
    )


@operation
def start_subtask(plan_id: str, subtask_id: str) -> Steps[Subtask]:
    """Move a pending subtask to running (``started_at`` = now); returns its row.

    NotFound if the subtask does not exist; InvalidInput if it is not pending.
    """
    _subtask_ref(plan_id, subtask_id)
    row = yield from sql.planning_metrics.start_subtask(plan_id=plan_id, subtask_id=subtask_id)
    if row is None:
        raise (yield from _refusal(plan_id, subtask_id, "start", ("pending",)))
    return row


def _end_subtask(
    plan_id: str,
    subtask_id: str,
    step: Step[_Row | None],
    action: str,
    allowed: tuple[str, ...],
) -> Steps[_Row]:
    # The plan row lock serialises the "was this the last open subtask?" decision.
    plan = yield from sql.planning_metrics.lock_plan(plan_id=plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id!r}")
    row = yield from step
    if row is None:
        raise (yield from _refusal(plan_id, subtask_id, action, allowed))
    completed = yield from sql.planning_metrics.complete_plan_if_done(plan_id=plan_id)
    if completed is not None:
        logger.debug("plan %s complete", plan_id)
    return row


@operation
def complete_subtask(plan_id: str, subtask_id: str, *, result: str | None = None) -> Steps[Subtask]:
    """End a running subtask as completed; the server computes its duration.

    Completes the plan in the same transaction if this was its last open subtask.
    NotFound if the plan or subtask does not exist; InvalidInput if it is not running.
    """
    _subtask_ref(plan_id, subtask_id)
    v.text(result, "result", min_len=0, nullable=True)
    step = sql.planning_metrics.complete_subtask(
        plan_id=plan_id, subtask_id=subtask_id, result=result
    )
    row = yield from _end_subtask(plan_id, subtask_id, step, "complete", ("running",))
    return row


@operation
def fail_subtask(plan_id: str, subtask_id: str, *, error: str) -> Steps[Subtask]:
    """End a pending or running subtask as failed with ``error``.

    The duration is computed by the server (null if it never started). Completes the
    plan in the same transaction if this was its last open subtask.
    """
    _subtask_ref(plan_id, subtask_id)
    v.text(error, "error")
    step = sql.planning_metrics.fail_subtask(plan_id=plan_id, subtask_id=subtask_id, error=error)
    row = yield from _end_subtask(plan_id, subtask_id, step, "fail", ("pending", "running"))
    return row


@operation
def skip_subtask(plan_id: str, subtask_id: str, *, reason: str | None = None) -> Steps[Subtask]:
    """End a pending subtask as skipped (``reason`` goes to ``error``).

    Completes the plan in the same transaction if this was its last open subtask.
    """
    _subtask_ref(plan_id, subtask_id)
    v.text(reason, "reason", min_len=0, nullable=True)
    step = sql.planning_metrics.skip_subtask(plan_id=plan_id, subtask_id=subtask_id, reason=reason)
    row = yield from _end_subtask(plan_id, subtask_id, step, "skip", ("pending",))
    return row


@operation
def get_plan_metrics(plan_id: str) -> Steps[PlanMetrics]:
    """Figures for one plan, computed by the server in one query.

    Keys: the plan's ``id``, ``task_execution_id``, ``plan_id``, ``subtask_count``,
    ``is_complete``, ``created_at``, ``completed_at``; ``total_subtasks`` (rows),
    ``by_status`` (every status -> count), ``total_duration_seconds``,
    ``avg_duration_seconds``, ``max_duration_seconds`` (over subtasks that ran),
    ``completion_ratio`` (completed / total, None without subtasks) and ``per_agent``
    (list by agent of ``agent``, ``subtasks``, ``completed``, ``failed``, ``skipped``,
    duration total/avg/max and ``completion_ratio``). NotFound for an unknown plan.
    """
    v.text(plan_id, "plan_id", max_len=_ID_LEN)
    row = yield from sql.planning_metrics.get_plan_metrics(plan_id=plan_id)
    if row is None:
        raise NotFound(f"no plan {plan_id!r}")
    return {
        "id": row["id"],
        "task_execution_id": row["task_execution_id"],
        "plan_id": row["plan_id"],
        "subtask_count": row["subtask_count"],
        "is_complete": row["is_complete"],
        "created_at": row["created_at"],
        "completed_at": row["completed_at"],
        "total_subtasks": row["total_subtasks"],
        "total_duration_seconds": row["total_duration_seconds"],
        "avg_duration_seconds": row["avg_duration_seconds"],
        "max_duration_seconds": row["max_duration_seconds"],
        "completion_ratio": row["completion_ratio"],
        "per_agent": _per_agent(row["per_agent"]),
        "by_status": {
            "pending": row["pending"],
            "running": row["running"],
            "completed": row["completed"],
            "failed": row["failed"],
            "skipped": row["skipped"],
        },
    }


# jsonb numbers come back as int when whole; ratios and durations are kept floats.


def _json_int(agent: dict[str, JsonValue], key: str) -> int:
    value = agent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydalError(f"get_plan_metrics: per_agent {key} is not an integer: {value!r}")
    return value


def _json_float(agent: dict[str, JsonValue], key: str) -> float | None:
    value = agent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydalError(f"get_plan_metrics: per_agent {key} is not a number: {value!r}")
    return float(value)


def _json_float_present(agent: dict[str, JsonValue], key: str) -> float:
    value = _json_float(agent, key)
    if value is None:
        raise PydalError(f"get_plan_metrics: per_agent {key} is null")
    return value


def _per_agent(value: JsonValue) -> list[AgentMetrics]:
    """The ``per_agent`` jsonb array of :func:`get_plan_metrics`, checked and typed."""
    if not isinstance(value, list):
        raise PydalError(f"get_plan_metrics: per_agent is not a JSON array: {value!r}")
    out: list[AgentMetrics] = []
    for agent in value:
        if not isinstance(agent, dict) or not isinstance(agent.get("agent"), str):
            raise PydalError(f"get_plan_metrics: per_agent entry is not an agent: {agent!r}")
        out.append(
            {
                "agent": str(agent["agent"]),
                "subtasks": _json_int(agent, "subtasks"),
                "completed": _json_int(agent, "completed"),
                "failed": _json_int(agent, "failed"),
                "skipped": _json_int(agent, "skipped"),
                "total_duration_seconds": _json_float_present(agent, "total_duration_seconds"),
                "avg_duration_seconds": _json_float(agent, "avg_duration_seconds"),
                "max_duration_seconds": _json_float(agent, "max_duration_seconds"),
                "completion_ratio": _json_float_present(agent, "completion_ratio"),
            }
        )
    return out
