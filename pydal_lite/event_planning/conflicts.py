"""Event planning conflicts of a run: bulk upsert, containment search, unresolved, resolve."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import psycopg
from psycopg.types.json import Jsonb

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, InvalidTransition, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .limits import (
    RESOLUTIONS,
    batches,
    check_cursor,
    check_encodable,
    check_limit,
    check_run_id,
    check_text_id,
)

Conflict: TypeAlias = sql.event_planning.FindConflictsRow
"""A ``task_conflicts`` row."""


def _conflict_rows(conflicts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for conflict in v.iterable(conflicts, "conflicts"):
        conflict = v.mapping(conflict, "conflict")
        conflict_id = check_text_id(conflict.get("conflict_id"), "conflict_id")
        if conflict_id in seen:
            raise InvalidInput(f"conflict_id {conflict_id!r} appears twice in one upsert")
        seen.add(conflict_id)
        data = v.mapping(conflict.get("conflict_data"), f"conflict_data of {conflict_id!r}")
        rows.append({"conflict_id": conflict_id, "conflict_data": data})
    check_encodable(rows, "conflict_id", "conflict_data")
    return rows


@operation
def upsert_conflicts(
    run_id: int, conflicts: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
) -> Steps[int]:
    """Insert or replace conflicts ``{"conflict_id": str, "conflict_data": dict}`` of a run.

    New conflicts are unresolved; existing ones get the new document and keep their
    resolution. One statement per batch, one transaction; returns rows inserted or
    changed. NotFound when the run does not exist.
    """
    run_id = check_run_id(run_id)
    size = v.integer(batch_size, "batch_size", lo=1)
    rows = _conflict_rows(conflicts)
    total = 0
    for batch in batches(rows, size):
        try:
            count = yield from sql.event_planning.upsert_task_conflicts(
                run_id=run_id, rows=Jsonb(batch)
            )
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound(f"no task management run {run_id!r}") from None
        total += present(count, "upsert_task_conflicts")
    return total


@operation
def find_conflicts(
    run_id: int, filter: Mapping[str, Any], *, limit: int = 100
) -> Steps[list[Conflict]]:
    """Conflicts of a run whose document contains ``filter`` (``conflict_data @> filter``)."""
    wanted = v.json_object(filter, "filter")
    rows = yield from sql.event_planning.find_conflicts(
        run_id=check_run_id(run_id), filter=wanted, limit=check_limit(limit)
    )
    return rows


@operation
def list_unresolved_conflicts(
    run_id: int, *, after_conflict_id: str = "", limit: int = 100
) -> Steps[list[Conflict]]:
    """Unresolved conflicts of a run, by conflict_id after ``after_conflict_id``."""
    rows = yield from sql.event_planning.list_unresolved_conflicts(
        run_id=check_run_id(run_id),
        after_conflict_id=check_cursor(after_conflict_id, "after_conflict_id"),
        limit=check_limit(limit),
    )
    return rows


@operation
def resolve_conflict(run_id: int, conflict_id: str, *, status: str = "resolved") -> Steps[Conflict]:
    """Settle an unresolved conflict as ``resolved`` or ``ignored``; returns the row.

    NotFound when the run has no such conflict; InvalidTransition when it is already
    settled.
    """
    run_id = check_run_id(run_id)
    conflict_id = check_text_id(conflict_id, "conflict_id")
    v.one_of(status, "status", RESOLUTIONS)
    row = yield from sql.event_planning.resolve_conflict(
        run_id=run_id, conflict_id=conflict_id, resolution_status=status
    )
    if row is None:
        current = yield from sql.event_planning.get_conflict(run_id=run_id, conflict_id=conflict_id)
        if current is None:
            raise NotFound(f"no conflict {conflict_id!r} in task management run {run_id!r}")
        raise InvalidTransition(
            f"conflict {conflict_id!r} of run {run_id} is already {current['resolution_status']!r}"
        )
    return row
