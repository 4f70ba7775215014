"""Planning metrics row types: the stored rows and the shapes the calls build from them."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias, TypedDict

from .. import sql

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
