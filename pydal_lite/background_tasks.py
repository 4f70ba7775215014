"""Background tasks (seed 002): a PostgreSQL work queue with progress tracking.

A task is enqueued ``pending``; a worker claims the oldest pending one with
``FOR UPDATE SKIP LOCKED`` (:func:`claim_next_task`), so any number of workers on any
number of connections never take the same task and never wait on each other. The
claimed task is ``running`` and held by that worker (``claimed_by``); the worker
reports progress and stage results (:func:`update_progress`, which also refreshes
``heartbeat_at``) and ends it with :func:`complete_task` or :func:`fail_task`.

Each claim gets a fencing token, ``claim_id`` (a new UUID per claim, in the row
:func:`claim_next_task` returns). Worker-side calls pass it back (``claim_id=``
keyword) and only change the task while that claim is the current one: after the
task was cancelled (:func:`cancel_task`, allowed from pending or running) or reclaimed
(:func:`reclaim_stale_tasks`, for workers silent longer than ``stale_after`` seconds)
and perhaps claimed again -- even by a worker with the same id, such as a reused host
name -- the stalled worker's next call raises InvalidTransition (an InvalidInput)
saying so, and it should drop the task. A task claimed ``max_attempts`` times without
finishing is failed by the reclaim.

Every function is an :func:`~pydal_lite.runtime.operation` (sync connection ->
result, async connection -> awaitable), one transaction per call. Each call but
:func:`enqueue_task` changes the table with one statement (reads after it only explain
a refusal), so on an idle connection that statement goes alone, without BEGIN/COMMIT
(``one_write``: a claim + complete is 2 round trips, not 6); a connection lost while it
is in flight raises CommitOutcomeUnknown (a claim that did commit is taken back by
:func:`reclaim_stale_tasks`). Inside the caller's transaction they run in it as before::

    task = enqueue_task(conn, "sess-1", {"file": "cal.ics"})
    job = claim_next_task(conn, "worker-1")          # None when the queue is empty
    update_progress(conn, job["task_id"], claim_id=job["claim_id"], progress=40, stage="enrich")
    complete_task(conn, job["task_id"], claim_id=job["claim_id"], results={"analyze": {...}})
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

from psycopg.types.json import Jsonb

from . import sql
from . import validate as v
from .errors import InvalidInput, InvalidTransition, NotFound
from .pipeline_cache import MAX_SECONDS, check_session_id, check_stage
from .runtime import Steps, operation
from .runtime.steps import present

logger = logging.getLogger("pydal_lite.background_tasks")

__all__ = [
    "FINISHED_STATUSES",
    "STATUSES",
    "ReclaimedTask",
    "Task",
    "TaskSummary",
    "cancel_task",
    "claim_next_task",
    "complete_task",
    "count_tasks_by_status",
    "enqueue_task",
    "fail_task",
    "get_task",
    "list_recent_tasks",
    "list_tasks_by_session",
    "purge_finished_tasks",
    "reclaim_stale_tasks",
    "update_progress",
]

STATUSES: Final = ("pending", "running", "completed", "failed", "cancelled")
"""Allowed ``background_tasks.status`` values (the table's CHECK constraint)."""
FINISHED_STATUSES: Final = ("completed", "failed", "cancelled")
"""Statuses a task never leaves."""

DEFAULT_TASK_TYPE: Final = "ics_processing"
_TASK_TYPE_MAX_LEN: Final = 50
_WORKER_MAX_LEN: Final = 255
_TASK_TYPE: Final = re.compile(r"[a-z][a-z0-9_]*")

Task: TypeAlias = sql.background_tasks.GetTaskRow
"""A ``background_tasks`` row with every public column (what most functions return)."""
TaskSummary: TypeAlias = sql.background_tasks.ListRecentTasksRow
"""A task without its data and results (:func:`list_recent_tasks`)."""
ReclaimedTask: TypeAlias = sql.background_tasks.ReclaimStaleTasksRow
"""A task :func:`reclaim_stale_tasks` changed: its new status and the worker it left."""


def _task_id(value: Any) -> str:
    return str(v.uuid_value(value, "task_id"))


def _claim_id(value: Any) -> str:
    return str(v.uuid_value(value, "claim_id"))


def _worker(value: Any) -> str:
    return v.text(value, "worker", max_len=_WORKER_MAX_LEN)


def _task_type(value: Any) -> str:
    v.text(value, "task_type", max_len=_TASK_TYPE_MAX_LEN)
    if not _TASK_TYPE.fullmatch(value):
        raise InvalidInput(
            f"task_type must be lowercase letters, digits and _, got {v.shown(value)}"
        )
    return str(value)


def _not_held(task_id: str, claim_id: str, action: str) -> Steps[NotFound | InvalidTransition]:
    """The error saying why a worker-side update matched no row (``raise`` it)."""
    current = yield from sql.background_tasks.get_task(task_id=task_id)
    if current is None:
        return NotFound(f"no background task {task_id!r}")
    if current["status"] != "running":
        return InvalidTransition(
            f"cannot {action} task {task_id!r}: its status is {current['status']!r}, not 'running'"
        )
    return InvalidTransition(
        f"cannot {action} task {task_id!r}: claim {claim_id!r} is no longer current; the "
        f"task was claimed again (attempt {current['attempts']}) by worker "
        f"{current['claimed_by']!r}"
    )


@operation
def enqueue_task(
    user_session: str,
    input_data: Any = None,
    *,
    task_type: str = DEFAULT_TASK_TYPE,
    use_cache: bool = True,
    use_llm: bool = False,
    task_id: str | uuid.UUID | None = None,
) -> Steps[Task]:
    """Add a pending task for ``user_session``; returns it (with its ``task_id``).

    ``input_data`` is any JSON value (default: an empty object). ``task_id`` is an
    optional key the caller chooses: calling again with the same ``task_id`` and the
    same arguments (a retry after :class:`~pydal_lite.errors.CommitOutcomeUnknown`)
    returns the task as it is now and enqueues nothing; other arguments raise
    InvalidInput naming the key.
    """
    check_session_id(user_session, "user_session")
    _task_type(task_type)
    for name, flag in (("use_cache", use_cache), ("use_llm", use_llm)):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be a bool, got {v.shown(flag)}")
    key = None if task_id is None else _task_id(task_id)
    data = v.json_value({} if input_data is None else input_data, "input_data")
    row = yield from sql.background_tasks.insert_task(
        task_id=key,
        user_session=user_session,
        task_type=task_type,
        input_data=data,
        use_cache=use_cache,
        use_llm=use_llm,
    )
    if row is not None or key is None:  # a generated task_id never conflicts
        return present(row, "insert_task")
    found = yield from sql.background_tasks.get_task_for_retry(
        task_id=key,
        user_session=user_session,
        task_type=task_type,
        input_data=data,
        use_cache=use_cache,
        use_llm=use_llm,
    )
    if found is None:
        raise NotFound(f"task {str(key)!r} was deleted while this call ran")
    if found["differing"]:
        raise InvalidInput(
            f"task_id {str(key)!r} was used for a task enqueued with a different "
            f"{' and '.join(found['differing'])}"
        )
    existing = yield from sql.background_tasks.get_task(task_id=key)
    return present(existing, "get_task")


@operation
def get_task(task_id: str | uuid.UUID) -> Steps[Task | None]:
    """One task by its public id, or None."""
    row = yield from sql.background_tasks.get_task(task_id=_task_id(task_id))
    return row


@operation(one_write=True)
def claim_next_task(worker: str, *, task_types: Iterable[str] | None = None) -> Steps[Task | None]:
    """Claim the oldest pending task (of ``task_types``, default any) for ``worker``.

    Returns the task, now ``running`` and held by ``worker``, or None when no task is
    pending. The row's ``claim_id`` is this claim's fencing token: pass it to
    :func:`update_progress`, :func:`complete_task` and :func:`fail_task`. Safe with many
    concurrent workers (``FOR UPDATE SKIP LOCKED``).
    """
    _worker(worker)
    if isinstance(task_types, str):
        raise InvalidInput(f"task_types must be a list of task types, got {v.shown(task_types)}")
    if task_types is None:
        row = yield from sql.background_tasks.claim_next_task(worker=worker)
    else:
        types = [_task_type(t) for t in v.iterable(task_types, "task_types")]
        if not types:
            raise InvalidInput("task_types must not be empty (use None for any type)")
        row = yield from sql.background_tasks.claim_next_task_of_types(
            worker=worker, task_types=sorted(set(types))
        )
    if row is not None:
        logger.debug("worker %s claimed task %s", worker, row["task_id"])
    return row


@operation(one_write=True)
def update_progress(
    task_id: str | uuid.UUID,
    *,
    claim_id: str | uuid.UUID,
    progress: int | None = None,
    stage: str | None = None,
    stage_result: Any = None,
) -> Steps[Task]:
    """Report progress (0..100) and/or the current stage of a task under ``claim_id``.

    ``claim_id`` is the token of the claim (from :func:`claim_next_task`).
    ``stage_result`` (needs ``stage``) is stored in that stage's result column. Also
    serves as a heartbeat (call with no figures). Raises InvalidTransition if the task
    is no longer running under that claim (cancelled, reclaimed, claimed again): stop
    working on it.
    """
    tid = _task_id(task_id)
    cid = _claim_id(claim_id)
    if progress is not None:
        v.integer(progress, "progress", lo=0, hi=100)
    if stage is not None:
        check_stage(stage)
    if stage_result is not None and stage is None:
        raise InvalidInput("stage_result needs the stage it belongs to")
    result = None if stage_result is None else v.json_value(stage_result, "stage_result")
    row = yield from sql.background_tasks.update_progress(
        task_id=tid, claim_id=cid, progress=progress, stage=stage, stage_result=result
    )
    if row is None:
        raise (yield from _not_held(tid, cid, "update"))
    return row


@operation(one_write=True)
def complete_task(
    task_id: str | uuid.UUID,
    *,
    claim_id: str | uuid.UUID,
    results: Mapping[str, Any] | None = None,
) -> Steps[Task]:
    """End a task running under ``claim_id`` as completed (progress 100).

    ``results`` maps stages (``import``, ``enrich``, ``analyze``) to their results;
    each given one replaces the stored result, the others are kept. InvalidTransition
    if the claim is no longer current.
    """
    tid = _task_id(task_id)
    cid = _claim_id(claim_id)
    given: dict[str, Jsonb] = {}
    if results is not None:
        v.mapping(results, "results")
    for stage, value in (results or {}).items():
        check_stage(stage)
        if value is not None:
            given[stage] = v.json_value(value, f"results[{stage!r}]")
    row = yield from sql.background_tasks.complete_task(
        task_id=tid,
        claim_id=cid,
        import_result=given.get("import"),
        enrich_result=given.get("enrich"),
        analyze_result=given.get("analyze"),
    )
    if row is None:
        raise (yield from _not_held(tid, cid, "complete"))
    return row


@operation(one_write=True)
def fail_task(task_id: str | uuid.UUID, *, claim_id: str | uuid.UUID, error: str) -> Steps[Task]:
    """End a task running under ``claim_id`` as failed with the message ``error``."""
    tid = _task_id(task_id)
    cid = _claim_id(claim_id)
    v.text(error, "error")
    row = yield from sql.background_tasks.fail_task(task_id=tid, claim_id=cid, error_message=error)
    if row is None:
        raise (yield from _not_held(tid, cid, "fail"))
    return row


@operation(one_write=True)
def cancel_task(task_id: str | uuid.UUID, *, reason: str | None = None) -> Steps[Task]:
    """Cancel a pending or running task (``reason`` goes to ``error_message``).

    NotFound for an unknown task; InvalidTransition if it already finished. A running
    worker finds out at its next :func:`update_progress`.
    """
    tid = _task_id(task_id)
    if reason is not None:
        v.text(reason, "reason", min_len=0)
    row = yield from sql.background_tasks.cancel_task(task_id=tid, reason=reason)
    if row is None:
        current = yield from sql.background_tasks.get_task(task_id=tid)
        if current is None:
            raise NotFound(f"no background task {tid!r}")
        raise InvalidTransition(
            f"cannot cancel task {tid!r}: it already finished with status "
            f"{current['status']!r} (only pending or running tasks can be cancelled)"
        )
    return row


@operation
def list_tasks_by_session(
    user_session: str, *, status: str | None = None, limit: int = 100
) -> Steps[list[Task]]:
    """A user session's tasks, newest first, optionally only those with ``status``."""
    check_session_id(user_session, "user_session")
    if status is not None:
        v.one_of(status, "status", STATUSES)
    v.integer(limit, "limit", lo=1, bits=32)
    rows = yield from sql.background_tasks.list_tasks_by_session(
        user_session=user_session, status=status, limit=limit
    )
    return rows


@operation
def list_recent_tasks(*, limit: int = 100) -> Steps[list[TaskSummary]]:
    """The newest tasks of all sessions (without their data), newest first."""
    v.integer(limit, "limit", lo=1, bits=32)
    rows = yield from sql.background_tasks.list_recent_tasks(limit=limit)
    return rows


@operation
def count_tasks_by_status() -> Steps[dict[str, int]]:
    """Number of tasks per status (every status present as a key)."""
    rows = yield from sql.background_tasks.count_tasks_by_status()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({r["status"]: int(r["tasks"]) for r in rows})
    return counts


@operation(one_write=True)
def reclaim_stale_tasks(
    *, stale_after: float = 5 * 60.0, max_attempts: int = 3
) -> Steps[list[ReclaimedTask]]:
    """Take running tasks back from workers silent for more than ``stale_after`` seconds.

    ``stale_after`` is at least 1 second (0 would take back tasks whose workers are
    alive) and at most :data:`~pydal_lite.pipeline_cache.MAX_SECONDS`. Each task goes
    back to ``pending`` (progress reset, stage results kept), or to ``failed`` if it
    has been claimed ``max_attempts`` times. Returns one dict per task
    changed: ``task_id``, new ``status``, the worker it was taken from
    (``claimed_by``) and ``attempts``.
    """
    stale = v.number(stale_after, "stale_after", lo=1.0, hi=MAX_SECONDS)
    v.integer(max_attempts, "max_attempts", lo=1, bits=32)
    rows = yield from sql.background_tasks.reclaim_stale_tasks(
        stale_seconds=stale, max_attempts=max_attempts
    )
    for r in rows:
        logger.info(
            "reclaimed task %s from silent worker %s: now %s",
            r["task_id"],
            r["claimed_by"],
            r["status"],
        )
    return rows


@operation(one_write=True)
def purge_finished_tasks(*, older_than: float = 7 * 24 * 3600.0) -> Steps[int]:
    """Delete tasks that finished more than ``older_than`` seconds ago; returns how many.

    ``older_than`` is 0 .. :data:`~pydal_lite.pipeline_cache.MAX_SECONDS`.
    """
    seconds = v.number(older_than, "older_than", lo=0, hi=MAX_SECONDS)
    count = yield from sql.background_tasks.purge_finished_tasks(older_than_seconds=seconds)
    return count
