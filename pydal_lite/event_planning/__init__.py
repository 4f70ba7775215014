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

The package: :mod:`.limits` (allowed values, run moves, argument checks, batching),
:mod:`.events` (event plans and vendors), :mod:`.runs`, :mod:`.tasks`, :mod:`.conflicts`.
Queries live in ``queries/event_planning.sql`` (typed steps in
:mod:`pydal_lite.sql.event_planning`).
"""

from __future__ import annotations

from ..errors import InvalidTransition
from .conflicts import (
    Conflict,
    find_conflicts,
    list_unresolved_conflicts,
    resolve_conflict,
    upsert_conflicts,
)
from .events import EventPlan, Vendor, VendorMatch, add_vendor, create_event_plan, find_vendors
from .limits import MAX_ID_LENGTH as MAX_ID_LENGTH  # public, outside __all__ as before
from .limits import MAX_LIMIT as MAX_LIMIT
from .limits import (
    RESOLUTIONS,
    RUN_STATUSES,
    RUN_TRANSITIONS,
    SERVICE_TYPES,
    TASK_FLAGS,
)
from .runs import Run, RunSummary, get_run, run_summary, set_run_status, start_run
from .tasks import (
    Task,
    find_tasks,
    list_tasks_for_review,
    list_tasks_with_errors,
    upsert_tasks,
)

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
