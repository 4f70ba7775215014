"""Event planning limits and argument checks: allowed values, run moves, ids, limits, batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import validate as v
from ..errors import InvalidInput

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
MAX_REQUEST_KEY_LENGTH = 200  # task_management_runs_request_key_check (schema/0015)


def check_run_id(value: Any) -> int:
    return v.integer(value, "run_id", lo=1)


def check_text_id(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_ID_LENGTH)


def check_request_key(value: Any) -> str | None:
    return v.text(value, "request_key", max_len=MAX_REQUEST_KEY_LENGTH, nullable=True)


def check_cursor(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_ID_LENGTH, min_len=0)


def check_limit(value: Any) -> int:
    return v.integer(value, "limit", lo=1, hi=MAX_LIMIT)


def batches(rows: list[dict[str, Any]], batch_size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


def check_encodable(rows: list[dict[str, Any]], key: str, doc: str) -> None:
    # One json.dumps for the whole list (a fifth of an upsert's time when done per
    # row); only on failure look for the row to name.
    try:
        v.json_value(rows, f"the {doc} documents")
    except InvalidInput:
        for row in rows:
            v.json_value(row[doc], f"{doc} of {row[key]!r}")
        raise
