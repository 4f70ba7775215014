"""Columns the source lacks: derive them from the row, or refuse before copying.

A target column missing from the source gets its default -- and a default can break
the target's own CHECK for the rest of the row: an old ``poc_task_executions`` table
without ``status`` but with ``completed_at`` would make every finished run
``status = 'running'``, which ``poc_task_executions_ended_check`` refuses (and with
``--skip-bad-rows`` their plans and subtasks would follow them out).

So, for a column the source lacks:

1. a *derivation* (an ordered list of :class:`~.options.DeriveCase`: a value when the
   named source columns are NULL / set) computes it per row. :data:`BUILTIN` holds the
   ones our schema defines (its CHECKs and column comments: a run with
   ``completed_at`` has ended; it failed if it has an ``error``, else it completed);
   the options file's ``derive`` section adds more or replaces them;
2. otherwise, when a CHECK reads the column together with columns the source has,
   :func:`.preflight.preflight` evaluates that CHECK with the default on every source row, on the
   server, before anything is copied, and refuses (:class:`.PlanError`) naming the
   column, the constraint and how many rows contradict it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import PlanError
from .options import DeriveCase

_C = DeriveCase
BUILTIN: dict[str, list[DeriveCase]] = {
    # poc_task_executions_ended_check: running exactly while completed_at is null
    "poc_task_executions.status": [
        _C("running", when_null=("completed_at",)),
        _C("failed", when_set=("error",)),
        _C("completed"),
    ],
    # poc_subtask_executions_timestamps_check
    "poc_subtask_executions.status": [
        _C("pending", when_null=("started_at", "completed_at")),
        _C("running", when_null=("completed_at",)),
        _C("failed", when_set=("error",)),
        _C("skipped", when_null=("started_at",)),
        _C("completed"),
    ],
    # poc_execution_plans_completion_check
    "poc_execution_plans.is_complete": [_C(False, when_null=("completed_at",)), _C(True)],
    # background_tasks_finished_check (a running task needs a worker: pending instead)
    "background_tasks.status": [
        _C("pending", when_null=("completed_at",)),
        _C("failed", when_set=("error_message",)),
        _C("completed"),
    ],
    # calculations_completed_at_check
    "calculations.status": [
        _C("pending", when_null=("completed_at",)),
        _C("failed", when_set=("error",)),
        _C("completed"),
    ],
}
Derive = Callable[[Sequence[Any]], Any]


def derivation(
    cases: Sequence[DeriveCase], where: str, source_columns: dict[str, str]
) -> tuple[list[str], Callable[[Sequence[Any]], Any]]:
    """The source columns the cases read and a function of their values (in that order)."""
    names: list[str] = []
    for case in cases:
        for col in case.columns():
            actual = source_columns.get(col.lower())
            if actual is None:
                raise PlanError(
                    f"derivation of {where} reads column {col!r}, which the source lacks"
                )
            if actual not in names:
                names.append(actual)
    index = {n.lower(): i for i, n in enumerate(names)}
    compiled = [
        (
            [index[c.lower()] for c in case.when_null],
            [index[c.lower()] for c in case.when_set],
            case.value,
        )
        for case in cases
    ]

    def derive(values: Sequence[Any]) -> Any:
        for nulls, sets, value in compiled:
            if all(values[i] is None for i in nulls) and all(values[i] is not None for i in sets):
                return value
        return None  # no case matched: the column's not-null rule decides

    return names, derive
