"""Event planning (seed 003): event plans, vendors, Task Management Agent runs, tasks, conflicts.

Every function here is an :func:`~pydal_lite.runtime.operation`: call it with a sync
``psycopg.Connection`` (returns the result) or an ``AsyncConnection`` (returns an
awaitable); each call is one transaction. Rows are dicts.

A run moves through :data:`RUN_TRANSITIONS`::

    initialized -> processing -> completed
         |             |
         +-------------+--------> failed

``completed`` and ``failed`` are final. The JSON flags of a task document are
``{"has_errors": true}`` and ``{"requires_manual_review": true}`` (JSON booleans; a
missing key means false); they are what the partial indexes of schema/0009 cover.
Bulk writes send one statement per batch (``jsonb_to_recordset``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, TypeAlias

import psycopg
from psycopg.types.json import Jsonb

from . import sql
from . import validate as v
from .errors import InvalidInput, InvalidTransition, NotFound
from .runtime import Steps, operation
from .runtime.steps import present

__all__ = [
    "RESOLUTIONS",
    "RUN_STATUSES",
    "RUN_TRANSITIONS",
    "SERVICE_TYPES",
    "TASK_FLAGS",
    "Conflict",
    "EventPlan",
    "InvalidTransition",
    "Run",
    "RunSummary",
    "Task",
    "Vendor",
    "VendorMatch",
    "add_vendor",
    "create_event_plan",
    "find_conflicts",
    "find_tasks",
    "find_vendors",
    "get_run",
    "list_tasks_for_review",
    "list_tasks_with_errors",
    "list_unresolved_conflicts",
    "resolve_conflict",
    "run_summary",
    "set_run_status",
    "start_run",
    "upsert_conflicts",
    "upsert_tasks",
]

log = logging.getLogger("pydal_lite.event_planning")

EventPlan: TypeAlias = sql.event_planning.InsertEventPlanRow
"""An ``event_plans`` row (:func:`create_event_plan`)."""
Vendor: TypeAlias = sql.event_planning.InsertVendorRow
"""A ``vendors`` row with every column (:func:`add_vendor`)."""
VendorMatch: TypeAlias = sql.event_planning.ListVendorsRow
"""A vendor found by :func:`find_vendors`: without ``is_active`` and the times."""
Run: TypeAlias = sql.event_planning.GetRunRow
"""A ``task_management_runs`` row."""
RunSummary: TypeAlias = sql.event_planning.GetRunSummaryRow
"""A run's status and times with its task and conflict counts (:func:`run_summary`)."""
Task: TypeAlias = sql.event_planning.FindTasksRow
"""An ``extended_tasks`` row."""
Conflict: TypeAlias = sql.event_planning.FindConflictsRow
"""A ``task_conflicts`` row."""

RUN_STATUSES = ("initialized", "processing", "completed", "failed")
"""Values of task_management_runs.status (its CHECK constraint)."""

RUN_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "initialized": frozenset({"processing", "failed"}),
    "processing": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
}
"""Allowed moves of a run: current status -> statuses it may move to."""

RESOLUTIONS = ("resolved", "ignored")
"""How an unresolved conflict can be settled (task_conflicts.resolution_status)."""

SERVICE_TYPES = ("venue", "caterer", "photographer", "decorator", "makeup_artist", "other")
"""Values of vendors.service_type (its CHECK constraint)."""

TASK_FLAGS = ("has_errors", "requires_manual_review")
"""Boolean keys of a task document that the partial indexes of schema/0009 cover."""

MAX_ID_LENGTH = 100  # varchar(100) of task_id and conflict_id
MAX_LIMIT = 10_000


# -- validation ---------------------------------------------------------------------


def _run_id(value: Any) -> int:
    return v.integer(value, "run_id", lo=1)


def _text_id(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_ID_LENGTH)


def _cursor(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_ID_LENGTH, min_len=0)


def _limit(value: Any) -> int:
    return v.integer(value, "limit", lo=1, hi=MAX_LIMIT)


def _batches(rows: list[dict[str, Any]], batch_size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


def _check_encodable(rows: list[dict[str, Any]], key: str, doc: str) -> None:
    # One json.dumps for the whole list (a fifth of an upsert's time when done per
    # row); only on failure look for the row to name.
    try:
        v.json_value(rows, f"the {doc} documents")
    except InvalidInput:
        for row in rows:
            v.json_value(row[doc], f"{doc} of {row[key]!r}")
        raise


def _task_rows(tasks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for task in tasks:
        task = v.mapping(task, "task")
        task_id = _text_id(task.get("task_id"), "task_id")
        if task_id in seen:
            raise InvalidInput(f"task_id {task_id!r} appears twice in one upsert")
        seen.add(task_id)
        data = v.mapping(task.get("task_data"), f"task_data of task {task_id!r}")
        for flag in TASK_FLAGS:
            if flag in data and not isinstance(data[flag], bool):
                raise InvalidInput(
                    f"{flag} of task {task_id!r} must be true or false, got {data[flag]!r}"
                )
        rows.append({"task_id": task_id, "task_data": data})
    _check_encodable(rows, "task_id", "task_data")
    return rows


def _conflict_rows(conflicts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for conflict in conflicts:
        conflict = v.mapping(conflict, "conflict")
        conflict_id = _text_id(conflict.get("conflict_id"), "conflict_id")
        if conflict_id in seen:
            raise InvalidInput(f"conflict_id {conflict_id!r} appears twice in one upsert")
        seen.add(conflict_id)
        data = v.mapping(conflict.get("conflict_data"), f"conflict_data of {conflict_id!r}")
        rows.append({"conflict_id": conflict_id, "conflict_data": data})
    _check_encodable(rows, "conflict_id", "conflict_data")
    return rows


# -- event plans and vendors ----------------------------------------------------------


@operation
def create_event_plan(title: str, *, event_date: date | None = None) -> Steps[EventPlan]:
    """Create an event plan; returns its row (``id`` is a UUID)."""
    v.text(title, "title", blank=False)
    if event_date is not None and not isinstance(event_date, date):
        raise InvalidInput(f"event_date must be a date or None, got {event_date!r}")
    row = yield from sql.event_planning.insert_event_plan(title=title, event_date=event_date)
    return present(row, "insert_event_plan")


@operation
def add_vendor(
    name: str,
    service_type: str,
    location_city: str,
    *,
    rating: float | None = None,
    price_from: float | None = None,
) -> Steps[Vendor]:
    """Add an active vendor; returns its row."""
    v.text(name, "name", blank=False)
    v.one_of(service_type, "service_type", SERVICE_TYPES)
    v.text(location_city, "location_city", blank=False)
    if rating is not None:
        v.number(rating, "rating", lo=0, hi=5)
    if price_from is not None:
        v.number(price_from, "price_from", lo=0)
    row = yield from sql.event_planning.insert_vendor(
        name=name,
        service_type=service_type,
        location_city=location_city,
        rating=rating,
        price_from=price_from,
    )
    return present(row, "insert_vendor")


@operation
def find_vendors(service_type: str, city: str, *, limit: int = 20) -> Steps[list[VendorMatch]]:
    """Active vendors of ``service_type`` in ``city`` (any case), best rated first."""
    v.one_of(service_type, "service_type", SERVICE_TYPES)
    v.text(city, "city", min_len=0)
    rows = yield from sql.event_planning.list_vendors(
        service_type=service_type, city=city, limit=_limit(limit)
    )
    return rows


# -- runs ---------------------------------------------------------------------------


@operation
def start_run(
    event_id: uuid.UUID | str, *, processing_summary: Mapping[str, Any] | None = None
) -> Steps[Run]:
    """Start a run (status ``initialized``) for an event plan; NotFound if there is none."""
    event = v.uuid_value(event_id, "event_id")
    summary = v.json_object(processing_summary or {}, "processing_summary")
    try:
        inserted = yield from sql.event_planning.insert_run(
            event_id=event, processing_summary=summary
        )
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound(f"no event plan {str(event)!r}") from None
    row = present(inserted, "insert_run")
    log.info("started task management run %s for event plan %s", row["id"], event)
    return row


@operation
def get_run(run_id: int) -> Steps[Run]:
    """One run by id; NotFound if there is none."""
    row = yield from sql.event_planning.get_run(run_id=_run_id(run_id))
    if row is None:
        raise NotFound(f"no task management run {run_id!r}")
    return row


@operation
def set_run_status(
    run_id: int,
    status: str,
    *,
    error_log: str | None = None,
    processing_summary: Mapping[str, Any] | None = None,
) -> Steps[Run]:
    """Move a run to ``status`` along :data:`RUN_TRANSITIONS`; returns the updated row.

    ``error_log`` and ``processing_summary`` replace the stored values when given.
    Raises InvalidTransition when the run's current status does not allow the move
    (checked and applied in one statement), NotFound when the run does not exist.
    """
    run_id = _run_id(run_id)
    v.one_of(status, "status", RUN_STATUSES)
    sources = sorted(s for s, targets in RUN_TRANSITIONS.items() if status in targets)
    if not sources:
        raise InvalidTransition(f"no run can move to {status!r}: it is the initial status")
    v.text(error_log, "error_log", min_len=0, nullable=True)
    summary = None
    if processing_summary is not None:
        summary = v.json_object(processing_summary, "processing_summary")
    row = yield from sql.event_planning.update_run_status(
        run_id=run_id,
        status=status,
        from_statuses=sources,
        error_log=error_log,
        processing_summary=summary,
    )
    if row is None:
        current = yield from sql.event_planning.get_run(run_id=run_id)
        if current is None:
            raise NotFound(f"no task management run {run_id!r}")
        raise InvalidTransition(
            f"cannot move run {run_id} from {current['status']!r} to {status!r}"
            f" (allowed from {current['status']!r}: "
            f"{sorted(RUN_TRANSITIONS[current['status']])!r})"
        )
    return row


@operation
def run_summary(run_id: int) -> Steps[RunSummary]:
    """Counts of one run: ``task_count``, ``error_count``, ``review_count`` and
    ``conflicts_by_status`` (``{"unresolved": n, "resolved": n, "ignored": n}``),
    with the run's ``status`` and times. NotFound if the run does not exist."""
    row = yield from sql.event_planning.get_run_summary(run_id=_run_id(run_id))
    if row is None:
        raise NotFound(f"no task management run {run_id!r}")
    return row


# -- tasks --------------------------------------------------------------------------


@operation
def upsert_tasks(
    run_id: int, tasks: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
) -> Steps[int]:
    """Insert or replace tasks ``{"task_id": str, "task_data": dict}`` of a run.

    One statement per ``batch_size`` tasks, all in one transaction. Returns how many
    rows were inserted or changed (an unchanged document is not rewritten). Raises
    NotFound when the run does not exist; InvalidInput, before anything is sent, for
    a malformed task, a repeated task_id or a non-boolean flag.
    """
    run_id = _run_id(run_id)
    size = v.integer(batch_size, "batch_size", lo=1)
    rows = _task_rows(tasks)
    total = 0
    for batch in _batches(rows, size):
        try:
            count: int = yield from sql.event_planning.upsert_extended_tasks(
                run_id=run_id, rows=Jsonb(batch)
            )
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound(f"no task management run {run_id!r}") from None
        total += count
    return total


@operation
def find_tasks(run_id: int, filter: Mapping[str, Any], *, limit: int = 100) -> Steps[list[Task]]:
    """Tasks of a run whose document contains ``filter`` (``task_data @> filter``)."""
    wanted = v.json_object(filter, "filter")
    rows = yield from sql.event_planning.find_tasks(
        run_id=_run_id(run_id), filter=wanted, limit=_limit(limit)
    )
    return rows


@operation
def list_tasks_with_errors(
    run_id: int, *, after_task_id: str = "", limit: int = 100
) -> Steps[list[Task]]:
    """Tasks of a run flagged ``has_errors``, by task_id after ``after_task_id``."""
    rows = yield from sql.event_planning.list_tasks_with_errors(
        run_id=_run_id(run_id),
        after_task_id=_cursor(after_task_id, "after_task_id"),
        limit=_limit(limit),
    )
    return rows


@operation
def list_tasks_for_review(
    run_id: int, *, after_task_id: str = "", limit: int = 100
) -> Steps[list[Task]]:
    """Tasks of a run flagged ``requires_manual_review``, by task_id after ``after_task_id``."""
    rows = yield from sql.event_planning.list_tasks_for_review(
        run_id=_run_id(run_id),
        after_task_id=_cursor(after_task_id, "after_task_id"),
        limit=_limit(limit),
    )
    return rows


# -- conflicts ------------------------------------------------------------------------


@operation
def upsert_conflicts(
    run_id: int, conflicts: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
) -> Steps[int]:
    """Insert or replace conflicts ``{"conflict_id": str, "conflict_data": dict}`` of a run.

    New conflicts are unresolved; existing ones get the new document and keep their
    resolution. One statement per batch, one transaction; returns rows inserted or
    changed. NotFound when the run does not exist.
    """
    run_id = _run_id(run_id)
    size = v.integer(batch_size, "batch_size", lo=1)
    rows = _conflict_rows(conflicts)
    total = 0
    for batch in _batches(rows, size):
        try:
            count: int = yield from sql.event_planning.upsert_task_conflicts(
                run_id=run_id, rows=Jsonb(batch)
            )
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound(f"no task management run {run_id!r}") from None
        total += count
    return total


@operation
def find_conflicts(
    run_id: int, filter: Mapping[str, Any], *, limit: int = 100
) -> Steps[list[Conflict]]:
    """Conflicts of a run whose document contains ``filter`` (``conflict_data @> filter``)."""
    wanted = v.json_object(filter, "filter")
    rows = yield from sql.event_planning.find_conflicts(
        run_id=_run_id(run_id), filter=wanted, limit=_limit(limit)
    )
    return rows


@operation
def list_unresolved_conflicts(
    run_id: int, *, after_conflict_id: str = "", limit: int = 100
) -> Steps[list[Conflict]]:
    """Unresolved conflicts of a run, by conflict_id after ``after_conflict_id``."""
    rows = yield from sql.event_planning.list_unresolved_conflicts(
        run_id=_run_id(run_id),
        after_conflict_id=_cursor(after_conflict_id, "after_conflict_id"),
        limit=_limit(limit),
    )
    return rows


@operation
def resolve_conflict(run_id: int, conflict_id: str, *, status: str = "resolved") -> Steps[Conflict]:
    """Settle an unresolved conflict as ``resolved`` or ``ignored``; returns the row.

    NotFound when the run has no such conflict; InvalidTransition when it is already
    settled.
    """
    run_id = _run_id(run_id)
    conflict_id = _text_id(conflict_id, "conflict_id")
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
