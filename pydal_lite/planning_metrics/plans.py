"""Planning metrics plans: record a plan with its subtasks, read plans and their subtasks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import errors as pgerrors
from psycopg.types.json import Jsonb

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .keys import new_id, plan_key
from .limits import ID_LEN, PLAN_ID_LEN, validate_subtasks
from .rows import Plan, PlanWithSubtasks, Subtask

logger = logging.getLogger("pydal_lite.planning_metrics")


@operation
def record_plan_created(
    task_execution_id: str,
    plan_id: str,
    original_task: str,
    subtasks: Sequence[Mapping[str, Any]],
    *,
    metadata: Mapping[str, Any] | None = None,
    row_id: str | None = None,
) -> Steps[PlanWithSubtasks]:
    """Record a plan and all its subtasks (pending) in one transaction.

    Each subtask is a mapping with ``subtask_id``, ``description``, ``agent`` and
    optionally ``sequence_number`` (default: its 1-based position), ``estimated_time``
    and ``dependencies`` (subtask ids of the same plan). The subtasks go to the server
    in one statement. Returns the plan row with ``subtasks`` (list of rows, in sequence
    order). Raises NotFound if the task execution does not exist, InvalidInput if it
    already has a plan or a value is invalid; nothing is written then.

    ``row_id`` (at most 36 characters) is the plan's row id, ``plan["id"]``, which the
    subtask calls take as ``plan_id``; generated when omitted. A caller that chooses it
    can retry the call after an unknown outcome (``CommitOutcomeUnknown``): when a plan
    with that row id exists, the call returns it with its subtasks (as they are now) if
    every argument is the one it was recorded with (subtasks compared as a set, whatever
    their status), and raises InvalidInput naming the row id otherwise.
    """
    v.text(task_execution_id, "task_execution_id", max_len=ID_LEN)
    v.text(plan_id, "plan_id", max_len=PLAN_ID_LEN)
    v.text(original_task, "original_task", min_len=0)
    v.text(row_id, "row_id", max_len=ID_LEN, nullable=True)
    rows = validate_subtasks(subtasks)
    meta = v.json_object(metadata, "metadata", nullable=True)
    batch = v.json_value(rows, "subtasks")
    found = yield from sql.planning_metrics.lock_task_execution(id=task_execution_id)
    if found is None:
        raise NotFound(f"no task execution {task_execution_id!r}")

    def recorded(row: str, owner: str) -> Steps[PlanWithSubtasks]:
        return _existing_plan(
            row,
            owner,
            task_execution_id=task_execution_id,
            plan_id=plan_id,
            original_task=original_task,
            metadata=meta,
            subtasks=batch,
        )

    if row_id is not None:
        # Row ids are unique by this check, not by an index: the primary key is
        # (task_execution_id, id), and Citus allows no unique index without the run.
        owner = yield from sql.planning_metrics.get_plan_key(plan_id=row_id)
        if owner is not None:
            return (yield from recorded(row_id, owner))
    new_row_id = new_id() if row_id is None else row_id
    try:
        inserted_plan = yield from sql.planning_metrics.insert_plan(
            id=new_row_id,
            task_execution_id=task_execution_id,
            plan_id=plan_id,
            original_task=original_task,
            subtask_count=len(rows),
            metadata=meta,
        )
    except pgerrors.UniqueViolation:
        raise InvalidInput(f"task execution {task_execution_id!r} already has a plan") from None
    if inserted_plan is None:  # the same call, concurrently, recorded it first
        return (yield from recorded(new_row_id, task_execution_id))
    plan: Plan = inserted_plan
    inserted = yield from sql.planning_metrics.insert_subtasks(
        task_execution_id=task_execution_id, plan_id=plan["id"], subtasks=batch
    )
    done = yield from sql.planning_metrics.complete_plan_if_done(
        task_execution_id=task_execution_id, plan_id=plan["id"]
    )
    ordered: list[Subtask] = sorted(inserted, key=lambda r: (r["sequence_number"], r["subtask_id"]))
    logger.debug("plan %s recorded with %d subtasks", plan["id"], len(rows))
    return {**(plan if done is None else done), "subtasks": ordered}


def _existing_plan(
    row_id: str,
    owner: str,
    *,
    task_execution_id: str,
    plan_id: str,
    original_task: str,
    metadata: Jsonb | None,
    subtasks: Jsonb,
) -> Steps[PlanWithSubtasks]:
    """The plan an earlier :func:`record_plan_created` recorded as ``row_id`` (for run
    ``owner``), with its subtasks, if it was recorded with these arguments; InvalidInput
    naming the row id otherwise."""
    differing = yield from sql.planning_metrics.get_plan_for_retry(
        task_execution_id=owner,
        id=row_id,
        plan_id=plan_id,
        original_task=original_task,
        metadata=metadata,
        subtasks=subtasks,
    )
    if differing is None:
        raise NotFound(f"plan {row_id!r} was deleted while this call ran")
    differing = (["task_execution_id"] if owner != task_execution_id else []) + differing
    if differing:
        raise InvalidInput(
            f"row_id {row_id!r} names a plan recorded with a different {' and '.join(differing)}"
        )
    found = yield from sql.planning_metrics.get_plan(task_execution_id=owner, plan_id=row_id)
    plan: Plan = present(found, "get_plan")
    stored = yield from sql.planning_metrics.list_subtasks(task_execution_id=owner, plan_id=row_id)
    logger.info("record_plan_created repeated for plan %r: existing plan returned", row_id)
    return {**plan, "subtasks": stored}


@operation
def get_plan(
    plan_id: str, *, task_execution_id: str | None = None
) -> Steps[PlanWithSubtasks | None]:
    """A plan with its ``subtasks`` (in sequence order), or None.

    ``task_execution_id`` (the plan's run) spares a look-up (see :mod:`.keys`).
    """
    key = yield from plan_key(plan_id, task_execution_id)
    if key is None:
        return None
    plan = yield from sql.planning_metrics.get_plan(task_execution_id=key, plan_id=plan_id)
    if plan is None:
        return None
    subtasks = yield from sql.planning_metrics.list_subtasks(task_execution_id=key, plan_id=plan_id)
    return {**plan, "subtasks": subtasks}


@operation
def list_subtasks(plan_id: str, *, task_execution_id: str | None = None) -> Steps[list[Subtask]]:
    """A plan's subtasks in sequence order (empty for an unknown plan).

    ``task_execution_id`` (the plan's run) spares a look-up (see :mod:`.keys`).
    """
    key = yield from plan_key(plan_id, task_execution_id)
    if key is None:
        return []
    rows = yield from sql.planning_metrics.list_subtasks(task_execution_id=key, plan_id=plan_id)
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
    v.text(after, "after", max_len=ID_LEN, nullable=True)
    rows = yield from sql.planning_metrics.list_plans_with_subtask_counts(limit=limit, after=after)
    if not rows and after is not None:
        found = yield from sql.planning_metrics.get_plan_key(plan_id=after)
        if found is None:
            raise NotFound(f"no plan {after!r} to page after")
    return rows
