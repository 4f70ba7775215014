"""Event planning tasks of a run: bulk upsert, containment search, flagged-task pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import psycopg
from psycopg.types.json import Jsonb

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .limits import (
    TASK_FLAGS,
    batches,
    check_cursor,
    check_encodable,
    check_limit,
    check_run_id,
    check_text_id,
)

Task: TypeAlias = sql.event_planning.FindTasksRow
"""An ``extended_tasks`` row."""


def _task_rows(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for task in v.iterable(tasks, "tasks"):
        task = v.mapping(task, "task")
        task_id = check_text_id(task.get("task_id"), "task_id")
        if task_id in seen:
            raise InvalidInput(f"task_id {task_id!r} appears twice in one upsert")
        seen.add(task_id)
        data = v.mapping(task.get("task_data"), f"task_data of task {task_id!r}")
        for flag in TASK_FLAGS:
            if flag in data and not isinstance(data[flag], bool):
                raise InvalidInput(
                    f"{flag} of task {task_id!r} must be true or false, got {data[flag]!r}"
                )
        rows.append({"task_id": task_id, "task_data": data})
    check_encodable(rows, "task_id", "task_data")
    return rows


@operation
def upsert_tasks(
    run_id: int, tasks: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
) -> Steps[int]:
    """Insert or replace tasks ``{"task_id": str, "task_data": dict}`` of a run.

    One statement per ``batch_size`` tasks, all in one transaction. Returns how many
    rows were inserted or changed (an unchanged document is not rewritten). Raises
    NotFound when the run does not exist; InvalidInput, before anything is sent, for
    a malformed task, a repeated task_id or a non-boolean flag.
    """
    run_id = check_run_id(run_id)
    size = v.integer(batch_size, "batch_size", lo=1)
    rows = _task_rows(tasks)
    total = 0
    for batch in batches(rows, size):
        try:
            count = yield from sql.event_planning.upsert_extended_tasks(
                run_id=run_id, rows=Jsonb(batch)
            )
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound(f"no task management run {run_id!r}") from None
        total += present(count, "upsert_extended_tasks")
    return total


@operation
def find_tasks(run_id: int, filter: Mapping[str, Any], *, limit: int = 100) -> Steps[list[Task]]:
    """Tasks of a run whose document contains ``filter`` (``task_data @> filter``)."""
    wanted = v.json_object(filter, "filter")
    rows = yield from sql.event_planning.find_tasks(
        run_id=check_run_id(run_id), filter=wanted, limit=check_limit(limit)
    )
    return rows


@operation
def list_tasks_with_errors(
    run_id: int, *, after_task_id: str = "", limit: int = 100
) -> Steps[list[Task]]:
    """Tasks of a run flagged ``has_errors``, by task_id after ``after_task_id``."""
    rows = yield from sql.event_planning.list_tasks_with_errors(
        run_id=check_run_id(run_id),
        after_task_id=check_cursor(after_task_id, "after_task_id"),
        limit=check_limit(limit),
    )
    return rows


@operation
def list_tasks_for_review(
    run_id: int, *, after_task_id: str = "", limit: int = 100
) -> Steps[list[Task]]:
    """Tasks of a run flagged ``requires_manual_review``, by task_id after ``after_task_id``."""
    rows = yield from sql.event_planning.list_tasks_for_review(
        run_id=check_run_id(run_id),
        after_task_id=check_cursor(after_task_id, "after_task_id"),
        limit=check_limit(limit),
    )
    return rows
