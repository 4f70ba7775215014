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
``plan_id`` column. Plans and subtasks are stored under their run (``task_execution_id``,
their Citus distribution key): the calls naming a plan look its run up first, or take it
as ``task_execution_id=`` (``plan["task_execution_id"]``) and skip that look-up, which on
Citus probes every shard (:mod:`.keys`).

Plan completion is automatic: the call that ends a plan's last open subtask
(:func:`complete_subtask`, :func:`fail_subtask` or :func:`skip_subtask`) sets the
plan's ``is_complete`` and ``completed_at`` in the same transaction. Those calls lock
the plan row first, so two subtasks ending at the same moment in two transactions
cannot both miss that they were the last. A plan recorded with no subtasks is complete
at once. A failed subtask does not fail the plan: skip the subtasks that cannot run
any more (:func:`skip_subtask`) and the plan completes.

Durations (``duration_seconds``) are computed by the server as ``completed_at -
started_at`` (transaction time, ``now()``), never sent by the client.

The package: :mod:`.limits` (allowed values, column lengths, argument checks),
:mod:`.keys` (a plan's run, generated ids), :mod:`.rows` (row types),
:mod:`.executions` (task executions), :mod:`.plans`, :mod:`.subtasks` (the subtask
lifecycle), :mod:`.metrics` (figures). Queries live in
``queries/planning_metrics.sql`` (typed steps in :mod:`pydal_lite.sql.planning_metrics`).
"""

from __future__ import annotations

from .executions import (
    delete_task_execution,
    finish_task_execution,
    get_task_execution,
    list_task_executions,
    start_task_execution,
)
from .limits import MODES, SUBTASK_STATUSES, TASK_STATUSES
from .metrics import count_subtasks_by_status, get_plan_metrics
from .plans import (
    get_plan,
    list_open_plans,
    list_plans_with_subtask_counts,
    list_subtasks,
    record_plan_created,
)
from .rows import AgentMetrics, Plan, PlanMetrics, PlanWithSubtasks, Subtask, TaskExecution
from .subtasks import complete_subtask, fail_subtask, skip_subtask, start_subtask

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
