"""Planning metrics task executions (benchmark runs): start, finish, read, delete."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, InvalidTransition, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .keys import new_id
from .limits import ID_LEN, MODES, TASK_ID_LEN
from .rows import TaskExecution

logger = logging.getLogger("pydal_lite.planning_metrics")


@operation
def start_task_execution(
    task_id: str,
    mode: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    execution_id: str | None = None,
) -> Steps[TaskExecution]:
    """Record that a benchmark run of ``task_id`` in ``mode`` starts now; returns its row.

    ``execution_id`` (uuid text, at most 36 characters) is generated when omitted. A
    caller that chooses it can retry the call after an unknown outcome
    (``CommitOutcomeUnknown``): when an execution with that id exists, the call returns
    it (as it is now) if ``task_id``, ``mode`` and ``metadata`` are those it was started
    with (``metadata`` compared only while it is running: finishing merges into it), and
    raises InvalidInput naming the id otherwise.
    """
    v.text(task_id, "task_id", max_len=TASK_ID_LEN)
    v.one_of(mode, "mode", MODES)
    v.text(execution_id, "execution_id", max_len=ID_LEN, min_len=0, nullable=True)
    meta = v.json_object({} if metadata is None else metadata, "metadata")
    row = yield from sql.planning_metrics.insert_task_execution(
        id=new_id() if execution_id is None else execution_id,
        task_id=task_id,
        mode=mode,
        metadata=meta,
    )
    if row is not None or execution_id is None:
        return present(row, "insert_task_execution")
    # the id was taken: a retry of the call that created it, or a clash
    differing = yield from sql.planning_metrics.get_task_execution_for_retry(
        id=execution_id, task_id=task_id, mode=mode, metadata=meta
    )
    if differing is None:
        raise NotFound(f"task execution {execution_id!r} was deleted while this call ran")
    if differing:
        raise InvalidInput(
            f"task execution {execution_id!r} already exists, started with a different "
            f"{' and '.join(differing)}"
        )
    existing = yield from sql.planning_metrics.get_task_execution(id=execution_id)
    logger.info("start_task_execution repeated for %r: existing row returned", execution_id)
    return present(existing, "get_task_execution")


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
    v.text(execution_id, "execution_id", max_len=ID_LEN)
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
    v.text(execution_id, "execution_id", max_len=ID_LEN)
    row = yield from sql.planning_metrics.get_task_execution(id=execution_id)
    return row


@operation
def list_task_executions(task_id: str) -> Steps[list[TaskExecution]]:
    """Every execution of one benchmark task, by mode then start time."""
    v.text(task_id, "task_id", max_len=TASK_ID_LEN)
    rows = yield from sql.planning_metrics.list_task_executions(task_id=task_id)
    return rows


@operation
def delete_task_execution(execution_id: str) -> Steps[bool]:
    """Delete an execution with its plan and subtasks (cascade); True if it existed."""
    v.text(execution_id, "execution_id", max_len=ID_LEN)
    count = yield from sql.planning_metrics.delete_task_execution(id=execution_id)
    return bool(count)
