"""Event planning Task Management Agent runs: start, read, move along RUN_TRANSITIONS, count."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any, TypeAlias

import psycopg
from psycopg.types.json import Jsonb

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, InvalidTransition, NotFound
from ..runtime import Steps, operation
from ..runtime.steps import present
from .limits import RUN_STATUSES, RUN_TRANSITIONS, check_request_key, check_run_id

log = logging.getLogger("pydal_lite.event_planning")

Run: TypeAlias = sql.event_planning.GetRunRow
"""A ``task_management_runs`` row."""
RunSummary: TypeAlias = sql.event_planning.GetRunSummaryRow
"""A run's status and times with its task and conflict counts (:func:`run_summary`)."""


@operation
def start_run(
    event_id: uuid.UUID | str,
    *,
    processing_summary: Mapping[str, Any] | None = None,
    request_key: str | None = None,
) -> Steps[Run]:
    """Start a run (status ``initialized``) for an event plan; NotFound if there is none.

    ``request_key`` (1 to 200 characters, chosen by the caller, unique across runs)
    makes the call safe to retry after an unknown outcome (``CommitOutcomeUnknown``):
    when a run was started with that key, the call returns it (as it is now) if
    ``event_id`` and ``processing_summary`` are those it was started with, and raises
    InvalidInput naming the key otherwise. The summary is compared only while the run is
    still ``initialized`` (:func:`set_run_status` may replace it). Without a key every
    call starts a new run.
    """
    event = v.uuid_value(event_id, "event_id")
    summary = v.json_object(processing_summary or {}, "processing_summary")
    key = check_request_key(request_key)
    try:
        inserted = yield from sql.event_planning.insert_run(
            event_id=event, processing_summary=summary, request_key=key
        )
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound(f"no event plan {str(event)!r}") from None
    if inserted is None and key is not None:
        row = yield from _existing_run(key, event, summary)
        return row
    row = present(inserted, "insert_run")
    log.info("started task management run %s for event plan %s", row["id"], event)
    return row


def _existing_run(key: str, event: uuid.UUID, summary: Jsonb) -> Steps[Run]:
    """The run an earlier :func:`start_run` with ``key`` started, if its arguments match."""
    found = yield from sql.event_planning.get_run_for_retry(
        request_key=key, event_id=event, processing_summary=summary
    )
    if found is None:
        raise NotFound(f"the run of request_key {key!r} was deleted while this call ran")
    if found["differing"]:
        raise InvalidInput(
            f"request_key {key!r} was used for run {found['id']} started with a different "
            f"{' and '.join(found['differing'])}"
        )
    row = yield from sql.event_planning.get_run(run_id=found["id"])
    log.info("start_run repeated with request_key %r: run %s returned", key, found["id"])
    return present(row, "get_run")


@operation
def get_run(run_id: int) -> Steps[Run]:
    """One run by id; NotFound if there is none."""
    row = yield from sql.event_planning.get_run(run_id=check_run_id(run_id))
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
    run_id = check_run_id(run_id)
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
    row = yield from sql.event_planning.get_run_summary(run_id=check_run_id(run_id))
    if row is None:
        raise NotFound(f"no task management run {run_id!r}")
    return row
