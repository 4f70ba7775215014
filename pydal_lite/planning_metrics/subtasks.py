"""Planning metrics subtask lifecycle: start, complete, fail, skip (completing the plan).

Each call finds the plan's run first (:func:`.keys.plan_key`; the caller may pass it as
``task_execution_id=``), then names it in every statement: one shard on Citus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from .. import sql
from .. import validate as v
from ..errors import InvalidTransition, NotFound
from ..runtime import Step, Steps, operation
from .keys import plan_key
from .limits import check_subtask_ref
from .rows import Subtask

logger = logging.getLogger("pydal_lite.planning_metrics")

_Row = TypeVar("_Row")


def _refusal(
    key: str, plan_id: str, subtask_id: str, action: str, allowed: tuple[str, ...]
) -> Steps[NotFound | InvalidTransition]:
    """The error saying why a subtask update matched no row (``raise`` it)."""
    current = yield from sql.planning_metrics.get_subtask(
        task_execution_id=key, plan_id=plan_id, subtask_id=subtask_id
    )
    if current is None:
        return NotFound(f"no subtask {subtask_id!r} in plan {plan_id!r}")
    return InvalidTransition(
        f"cannot {action} subtask {subtask_id!r} of plan {plan_id!r}: its status is "
        f"{current['status']!r}, expected {' or '.join(allowed)}"
    )


@operation
def start_subtask(
    plan_id: str, subtask_id: str, *, task_execution_id: str | None = None
) -> Steps[Subtask]:
    """Move a pending subtask to running (``started_at`` = now); returns its row.

    NotFound if the subtask does not exist; InvalidInput if it is not pending.
    ``task_execution_id`` (the plan's run) spares a look-up (see :mod:`.keys`).
    """
    check_subtask_ref(plan_id, subtask_id)
    key = yield from plan_key(plan_id, task_execution_id)
    if key is None:
        raise NotFound(f"no subtask {subtask_id!r} in plan {plan_id!r}")
    row = yield from sql.planning_metrics.start_subtask(
        task_execution_id=key, plan_id=plan_id, subtask_id=subtask_id
    )
    if row is None:
        raise (yield from _refusal(key, plan_id, subtask_id, "start", ("pending",)))
    return row


def _end_subtask(
    plan_id: str,
    subtask_id: str,
    task_execution_id: str | None,
    step: Callable[[str], Step[_Row | None]],
    action: str,
    allowed: tuple[str, ...],
) -> Steps[_Row]:
    """Run ``step(run)`` under the plan's row lock, then complete the plan if it is done."""
    key = yield from plan_key(plan_id, task_execution_id)
    if key is None:
        raise NotFound(f"no plan {plan_id!r}")
    # The plan row lock serialises the "was this the last open subtask?" decision.
    plan = yield from sql.planning_metrics.lock_plan(task_execution_id=key, plan_id=plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id!r}")
    row = yield from step(key)
    if row is None:
        raise (yield from _refusal(key, plan_id, subtask_id, action, allowed))
    completed = yield from sql.planning_metrics.complete_plan_if_done(
        task_execution_id=key, plan_id=plan_id
    )
    if completed is not None:
        logger.debug("plan %s complete", plan_id)
    return row


@operation
def complete_subtask(
    plan_id: str,
    subtask_id: str,
    *,
    result: str | None = None,
    task_execution_id: str | None = None,
) -> Steps[Subtask]:
    """End a running subtask as completed; the server computes its duration.

    Completes the plan in the same transaction if this was its last open subtask.
    NotFound if the plan or subtask does not exist; InvalidInput if it is not running.
    """
    check_subtask_ref(plan_id, subtask_id)
    v.text(result, "result", min_len=0, nullable=True)

    def step(key: str) -> Step[Subtask | None]:
        return sql.planning_metrics.complete_subtask(
            task_execution_id=key, plan_id=plan_id, subtask_id=subtask_id, result=result
        )

    row = yield from _end_subtask(
        plan_id, subtask_id, task_execution_id, step, "complete", ("running",)
    )
    return row


@operation
def fail_subtask(
    plan_id: str, subtask_id: str, *, error: str, task_execution_id: str | None = None
) -> Steps[Subtask]:
    """End a pending or running subtask as failed with ``error``.

    The duration is computed by the server (null if it never started). Completes the
    plan in the same transaction if this was its last open subtask.
    """
    check_subtask_ref(plan_id, subtask_id)
    v.text(error, "error")

    def step(key: str) -> Step[Subtask | None]:
        return sql.planning_metrics.fail_subtask(
            task_execution_id=key, plan_id=plan_id, subtask_id=subtask_id, error=error
        )

    row = yield from _end_subtask(
        plan_id, subtask_id, task_execution_id, step, "fail", ("pending", "running")
    )
    return row


@operation
def skip_subtask(
    plan_id: str,
    subtask_id: str,
    *,
    reason: str | None = None,
    task_execution_id: str | None = None,
) -> Steps[Subtask]:
    """End a pending subtask as skipped (``reason`` goes to ``error``).

    Completes the plan in the same transaction if this was its last open subtask.
    """
    check_subtask_ref(plan_id, subtask_id)
    v.text(reason, "reason", min_len=0, nullable=True)

    def step(key: str) -> Step[Subtask | None]:
        return sql.planning_metrics.skip_subtask(
            task_execution_id=key, plan_id=plan_id, subtask_id=subtask_id, reason=reason
        )

    row = yield from _end_subtask(
        plan_id, subtask_id, task_execution_id, step, "skip", ("pending",)
    )
    return row
