"""Planning metrics keys: the run (task execution) a plan belongs to, new row ids.

Plans and subtasks are stored under their run: ``task_execution_id`` is in their
primary keys and is the tables' Citus distribution column (migrations 0016, 0017), so
every statement about one plan names it and runs on one shard. The calls that name a
plan by its row id alone take an optional ``task_execution_id=`` (the plan row's own
field): given, nothing is looked up; omitted, one more statement finds it
(``get_plan_key``; on Citus a probe of every shard's ``poc_execution_plans_id_idx``).
"""

from __future__ import annotations

import uuid

from .. import sql
from .. import validate as v
from ..runtime import Steps
from .limits import ID_LEN


def new_id() -> str:
    """A generated row id (uuid text). Made here, not by the server: Citus routes an
    insert only by a key the statement itself carries."""
    return str(uuid.uuid4())


def plan_key(plan_id: str, task_execution_id: str | None) -> Steps[str | None]:
    """The run of plan ``plan_id``: ``task_execution_id`` if the caller gave it (checked),
    else looked up; None when there is no such plan."""
    v.text(plan_id, "plan_id", max_len=ID_LEN)
    if task_execution_id is not None:
        v.text(task_execution_id, "task_execution_id", max_len=ID_LEN)
        return task_execution_id
    key = yield from sql.planning_metrics.get_plan_key(plan_id=plan_id)
    return key
