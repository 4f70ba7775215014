"""Planning metrics limits and argument checks: allowed values, column lengths, subtask input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .. import validate as v
from ..errors import InvalidInput

MODES: Final = ("single-agent", "multi-agent")
"""Allowed ``poc_task_executions.mode`` values (the table's CHECK constraint)."""
TASK_STATUSES: Final = ("running", "completed", "failed")
"""Allowed ``poc_task_executions.status`` values."""
SUBTASK_STATUSES: Final = ("pending", "running", "completed", "failed", "skipped")
"""Allowed ``poc_subtask_executions.status`` values."""

# varchar lengths of the columns, checked before anything is sent
ID_LEN: Final = 36
TASK_ID_LEN: Final = 100
PLAN_ID_LEN: Final = 100
SUBTASK_ID_LEN: Final = 100
AGENT_LEN: Final = 50
ESTIMATE_LEN: Final = 50
SUBTASK_KEYS: Final = frozenset(
    {"subtask_id", "sequence_number", "description", "agent", "estimated_time", "dependencies"}
)


def check_subtask_ref(plan_id: str, subtask_id: str) -> None:
    """Check the (plan row id, subtask id) pair the subtask calls take."""
    v.text(plan_id, "plan_id", max_len=ID_LEN)
    v.text(subtask_id, "subtask_id", max_len=SUBTASK_ID_LEN)


def validate_subtasks(subtasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The subtasks of :func:`record_plan_created` checked, as rows ready to send."""
    if isinstance(subtasks, (str, bytes)) or not isinstance(subtasks, Sequence):
        raise InvalidInput(f"subtasks must be a list of mappings, got {v.shown(subtasks)}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, sub in enumerate(subtasks, start=1):
        if not isinstance(sub, Mapping):
            raise InvalidInput(f"subtask #{position} must be a mapping, got {v.shown(sub)}")
        unknown = set(sub) - SUBTASK_KEYS
        if unknown:
            raise InvalidInput(f"subtask #{position} has unknown keys {sorted(unknown)!r}")
        subtask_id = v.text(
            sub.get("subtask_id"), f"subtask #{position} subtask_id", max_len=SUBTASK_ID_LEN
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
                    sub.get("agent"), f"subtask {subtask_id!r} agent", max_len=AGENT_LEN
                ),
                "estimated_time": v.text(
                    sub.get("estimated_time"),
                    f"subtask {subtask_id!r} estimated_time",
                    max_len=ESTIMATE_LEN,
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
