"""Planning metrics figures: one plan's durations and ratios, subtask counts by status."""

from __future__ import annotations

from .. import sql
from ..errors import NotFound, PydalError
from ..runtime import JsonValue, Steps, operation
from .keys import plan_key
from .limits import SUBTASK_STATUSES
from .rows import AgentMetrics, PlanMetrics


@operation
def count_subtasks_by_status() -> Steps[dict[str, int]]:
    """Number of subtasks per status across all plans (every status present as a key)."""
    rows = yield from sql.planning_metrics.count_subtasks_by_status()
    counts = dict.fromkeys(SUBTASK_STATUSES, 0)
    counts.update({r["status"]: int(r["subtasks"]) for r in rows})
    return counts


@operation
def get_plan_metrics(plan_id: str, *, task_execution_id: str | None = None) -> Steps[PlanMetrics]:
    """Figures for one plan, computed by the server in one query.

    Keys: the plan's ``id``, ``task_execution_id``, ``plan_id``, ``subtask_count``,
    ``is_complete``, ``created_at``, ``completed_at``; ``total_subtasks`` (rows),
    ``by_status`` (every status -> count), ``total_duration_seconds``,
    ``avg_duration_seconds``, ``max_duration_seconds`` (over subtasks that ran),
    ``completion_ratio`` (completed / total, None without subtasks) and ``per_agent``
    (list by agent of ``agent``, ``subtasks``, ``completed``, ``failed``, ``skipped``,
    duration total/avg/max and ``completion_ratio``). NotFound for an unknown plan.
    ``task_execution_id`` (the plan's run) spares a look-up (see :mod:`.keys`).
    """
    key = yield from plan_key(plan_id, task_execution_id)
    row = None
    if key is not None:
        row = yield from sql.planning_metrics.get_plan_metrics(
            task_execution_id=key, plan_id=plan_id
        )
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
