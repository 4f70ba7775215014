"""Shrinkage time series: calculations, their data series and coefficient histories.

Tables from ``schema/0010_create_shrinkage_timeseries.sql`` (TimescaleDB hypertables where
the server has it, ordinary tables otherwise); queries from ``queries/shrinkage.sql``.
Every function here is an :func:`~pydal_lite.runtime.operation`: call it with a sync
``psycopg.Connection`` or ``await`` it with an ``AsyncConnection``, one transaction each::

    calc = create_calculation(conn, material["id"], "natural_loss_norm",
                              period_start=start, period_end=end, parameters={"norm": 0.12})
    ingest_calculation_data(conn, calc["id"], [(t, "mass_kg", 1000.0), ...])   # COPY
    list_downsampled_calculation_data(conn, calc["id"], bucket=timedelta(hours=1))

Time series rows are written with ``COPY ... FROM STDIN`` (text format), one round trip
per call however many rows, and validated while they stream: a bad row aborts the COPY
and the whole call is rolled back, nothing of it is written.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from . import sql
from . import validate as v
from .errors import InvalidInput, InvalidTransition, NotFound
from .runtime import CopyIn, Steps, operation, present
from .shrinkage_buckets import list_gapfilled_calculation_data, rollup_allows
from .sql.shrinkage import (
    GetCalculationRow,
    GetCoefficientAsOfRow,
    InsertCalculationMethodRow,
    InsertCalculationRow,
    InsertCoefficientTypeRow,
    InsertMaterialRow,
    ListCalculationDataRow,
    ListCoefficientsAsOfRow,
    ListDownsampledCalculationDataRow,
    ListMaterialCalculationsRow,
    ListMetricBucketsRow,
    UpdateCalculationStatusRow,
)

__all__ = [
    "CALCULATION_STATUSES",
    "STATUS_TRANSITIONS",
    "create_calculation",
    "create_calculation_method",
    "create_coefficient_type",
    "create_material",
    "delete_calculation",
    "get_calculation",
    "get_coefficient_as_of",
    "ingest_calculation_data",
    "ingest_coefficients",
    "list_calculation_data",
    "list_coefficients_as_of",
    "list_downsampled_calculation_data",
    "list_gapfilled_calculation_data",
    "list_material_calculations",
    "list_metric_buckets",
    "set_calculation_status",
]

log = logging.getLogger("pydal_lite.shrinkage")

CALCULATION_STATUSES = ("pending", "running", "completed", "failed")
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("running", "failed"),
    "running": ("completed", "failed"),
    "completed": (),
    "failed": (),
}
"""Allowed moves of ``calculations.status``; completed and failed are final."""

MATERIAL_KINDS = ("material", "object")

# Fixed statements: the column lists are code, never caller data.
# Binary COPY: no text formatting on either side; the types name the columns in order.
_COPY_DATA = (
    "copy calculation_data (calculation_id, observed_at, metric, value) from stdin (format binary)"
)
_COPY_DATA_TYPES = ("int8", "timestamptz", "text", "float8")
_COPY_COEFFICIENTS = (
    "copy coefficients (material_id, coefficient_code, valid_from, value) from stdin"
)

# The same rules as the CHECK constraints of 0010, checked before any round trip.
_MATERIAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,62}")

MAX_BUCKET = timedelta(days=366)


# -- validation ---------------------------------------------------------------


def _code(name: str, value: object, pattern: re.Pattern[str] = _CODE) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(f"{name} must match {pattern.pattern!r}, got {v.shown(value)}")
    return value


def _id(name: str, value: object) -> int:
    return v.integer(value, name, lo=1)


def _range(since: object, until: object) -> tuple[datetime, datetime]:
    start, end = v.aware_datetime(since, "since"), v.aware_datetime(until, "until")
    if end <= start:
        raise InvalidInput(f"until must be after since, got since={start!r} until={end!r}")
    return start, end


def _bucket(value: object) -> timedelta:
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_BUCKET:
        raise InvalidInput(
            f"bucket must be a timedelta above 0 and at most {MAX_BUCKET.days} days, "
            f"got {v.shown(value)}"
        )
    return value


def _data_rows(calculation_id: int, points: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """COPY rows for calculation_data, validated one by one as they stream.

    The common shapes (an aware datetime, a metric seen before, a finite float) take a
    fast path; anything else goes through the full checks and their messages."""
    metrics: set[str] = set()
    for i, point in enumerate(v.iterable(points, "points")):
        try:
            observed_at, metric, value = point
        except (TypeError, ValueError):
            raise InvalidInput(
                f"point {i} must be (observed_at, metric, value), got {v.shown(point)}"
            ) from None
        if type(observed_at) is not datetime or observed_at.utcoffset() is None:
            observed_at = v.aware_datetime(observed_at, f"point {i} observed_at")
        if type(metric) is not str or metric not in metrics:
            metrics.add(_code(f"point {i} metric", metric))
        if type(value) is not float or not math.isfinite(value):
            value = v.number(value, f"point {i} value")
        yield (calculation_id, observed_at, metric, value)


def _coefficient_rows(
    material_id: int, values: Iterable[Sequence[Any]]
) -> Iterator[tuple[Any, ...]]:
    """COPY rows for coefficients, validated one by one as they stream."""
    for i, item in enumerate(v.iterable(values, "values")):
        try:
            code, valid_from, value = item
        except (TypeError, ValueError):
            raise InvalidInput(
                f"coefficient {i} must be (coefficient_code, valid_from, value), "
                f"got {v.shown(item)}"
            ) from None
        yield (
            material_id,
            _code(f"coefficient {i} code", code),
            v.aware_datetime(valid_from, f"coefficient {i} valid_from"),
            v.number(value, f"coefficient {i} value"),
        )


# -- reference data -------------------------------------------------------------


def _duplicate(exc: psycopg.Error) -> str:
    # compressed TimescaleDB chunks report the violation without a detail line
    d = exc.diag
    return str(d.message_detail or d.message_primary or d.constraint_name or exc)


# Citus leaves diag.constraint_name empty and names the shard's copy of the constraint
# in the message, the shard id appended: ... constraint "calculation_data_pkey_102316".
_MESSAGE_CONSTRAINT = re.compile(r'constraint "([a-z0-9_]+?)(?:_[0-9]+)?"')


def _constraint(exc: psycopg.Error) -> str | None:
    """The name of the constraint ``exc`` reports (without a Citus shard id), if any."""
    if exc.diag.constraint_name:
        return exc.diag.constraint_name
    found = _MESSAGE_CONSTRAINT.search(exc.diag.message_primary or "")
    return found.group(1) if found else None


def _violates(exc: psycopg.Error, *constraints: str) -> bool:
    """Whether ``exc`` is a violation of one of ``constraints``: psycopg's class says
    so on PostgreSQL, but Citus relays a worker's error during COPY as InternalError
    (SQLSTATE XX000), and then only the message names the constraint."""
    if not isinstance(exc, psycopg.errors.InternalError):
        return True
    return _constraint(exc) in constraints


@operation
def create_material(
    code: str, name: str, *, unit: str, kind: str = "material"
) -> Steps[InsertMaterialRow]:
    """Insert a material (or storage object) and return its row."""
    _code("code", code, _MATERIAL_CODE)
    v.text(name, "name", blank=False)
    v.text(unit, "unit", blank=False)
    v.one_of(kind, "kind", MATERIAL_KINDS)
    try:
        row = yield from sql.shrinkage.insert_material(code=code, name=name, kind=kind, unit=unit)
    except psycopg.errors.UniqueViolation:
        raise InvalidInput(f"material code {code!r} already exists") from None
    return present(row, "insert_material")


@operation
def create_calculation_method(
    code: str, name: str, *, description: str = ""
) -> Steps[InsertCalculationMethodRow]:
    """Insert a calculation method and return its row."""
    _code("code", code)
    v.text(name, "name", blank=False)
    v.text(description, "description", min_len=0)
    try:
        row = yield from sql.shrinkage.insert_calculation_method(
            code=code, name=name, description=description
        )
    except psycopg.errors.UniqueViolation:
        raise InvalidInput(f"calculation method code {code!r} already exists") from None
    return present(row, "insert_calculation_method")


@operation
def create_coefficient_type(
    code: str, name: str, *, unit: str, description: str = ""
) -> Steps[InsertCoefficientTypeRow]:
    """Insert a coefficient type and return its row."""
    _code("code", code)
    v.text(name, "name", blank=False)
    v.text(unit, "unit", blank=False)
    v.text(description, "description", min_len=0)
    try:
        row = yield from sql.shrinkage.insert_coefficient_type(
            code=code, name=name, unit=unit, description=description
        )
    except psycopg.errors.UniqueViolation:
        raise InvalidInput(f"coefficient type code {code!r} already exists") from None
    return present(row, "insert_coefficient_type")


# -- calculations -----------------------------------------------------------------


@operation
def create_calculation(
    material_id: int,
    method_code: str,
    *,
    period_start: datetime,
    period_end: datetime,
    parameters: dict[str, Any] | None = None,
    request_key: str | None = None,
) -> Steps[InsertCalculationRow]:
    """Record a pending calculation of a material over [period_start, period_end).

    ``request_key`` (1 to 200 characters, chosen by the caller, unique across
    calculations) makes the call safe to retry after an unknown outcome
    (``CommitOutcomeUnknown``): when a calculation was created with that key, the call
    returns it (as it is now) if every argument is the one it was created with, and
    raises InvalidInput naming the key otherwise. Without a key every call creates one.
    """
    _id("material_id", material_id)
    _code("method_code", method_code)
    start = v.aware_datetime(period_start, "period_start")
    end = v.aware_datetime(period_end, "period_end")
    if end <= start:
        raise InvalidInput(f"period_end must be after period_start, got {start!r} .. {end!r}")
    params = v.json_object({} if parameters is None else parameters, "parameters")
    key = v.text(request_key, "request_key", max_len=200, nullable=True)  # 0015's CHECK
    try:
        row = yield from sql.shrinkage.insert_calculation(
            material_id=material_id,
            method_code=method_code,
            parameters=params,
            period_start=start,
            period_end=end,
            key=key,
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        if _constraint(exc) == "calculations_method_code_fkey":
            raise NotFound(f"no calculation method {method_code!r}") from None
        raise NotFound(f"no material with id {material_id!r}") from None
    if row is not None or key is None:
        return present(row, "insert_calculation")
    # the key was used before: a retry of the call that created the row, or a clash
    found = yield from sql.shrinkage.get_calculation_retry(
        key=key,
        material_id=material_id,
        method_code=method_code,
        parameters=params,
        period_start=start,
        period_end=end,
    )
    if found is None:
        raise NotFound(f"the calculation of request_key {key!r} was deleted while this call ran")
    if found["differing"]:
        raise InvalidInput(
            f"request_key {key!r} was used for calculation {found['id']} created with a "
            f"different {' and '.join(found['differing'])}"
        )
    existing = yield from sql.shrinkage.get_calculation(calculation_id=found["id"])
    log.info("create_calculation repeated with request_key %r: row %s returned", key, found["id"])
    return present(existing, "get_calculation")


@operation
def get_calculation(calculation_id: int) -> Steps[GetCalculationRow]:
    """The calculation's row; NotFound if there is none."""
    _id("calculation_id", calculation_id)
    row = yield from sql.shrinkage.get_calculation(calculation_id=calculation_id)
    if row is None:
        raise NotFound(f"no calculation with id {calculation_id!r}")
    return row


@operation
def list_material_calculations(material_id: int) -> Steps[list[ListMaterialCalculationsRow]]:
    """The material's calculations, newest period first."""
    _id("material_id", material_id)
    rows = yield from sql.shrinkage.list_material_calculations(material_id=material_id)
    return rows


@operation
def set_calculation_status(
    calculation_id: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> Steps[UpdateCalculationStatusRow]:
    """Move a calculation along STATUS_TRANSITIONS and return the updated row.

    ``result`` (a JSON object) is stored when given; ``error`` is meant for ``failed``.
    NotFound if the calculation does not exist; InvalidTransition (an InvalidInput) for
    a move the table of transitions does not allow, or when another session moved it
    first.
    """
    _id("calculation_id", calculation_id)
    v.one_of(status, "status", CALCULATION_STATUSES)
    payload = v.json_object(result, "result", nullable=True)
    if error is not None and status != "failed":
        raise InvalidInput(f"error is only recorded with status 'failed', got {status!r}")
    current = yield from sql.shrinkage.get_calculation(calculation_id=calculation_id)
    if current is None:
        raise NotFound(f"no calculation with id {calculation_id!r}")
    if status not in STATUS_TRANSITIONS[current["status"]]:
        raise InvalidTransition(
            f"calculation {calculation_id!r} cannot move from {current['status']!r} to {status!r}"
        )
    row = yield from sql.shrinkage.update_calculation_status(
        calculation_id=calculation_id,
        from_status=current["status"],
        status=status,
        result=payload,
        error=error,
    )
    if row is None:
        raise InvalidTransition(
            f"calculation {calculation_id!r} changed status while moving it to {status!r}"
        )
    return row


@operation
def delete_calculation(calculation_id: int) -> Steps[int]:
    """Delete a calculation and its data series; returns 1, or 0 if it did not exist."""
    _id("calculation_id", calculation_id)
    count = yield from sql.shrinkage.delete_calculation(calculation_id=calculation_id)
    return int(count)


# -- time series: writes ------------------------------------------------------------


@operation
def ingest_calculation_data(calculation_id: int, points: Iterable[Sequence[Any]]) -> Steps[int]:
    """COPY ``(observed_at, metric, value)`` points into the calculation's series.

    Returns the number of rows written. Points stream to the server as they are read
    (any iterable, memory stays flat); a bad point raises InvalidInput and a point that
    is already stored (same observed_at and metric) raises InvalidInput too, and in both
    cases nothing of this call is written.
    """
    _id("calculation_id", calculation_id)
    found = yield from sql.shrinkage.get_calculation(calculation_id=calculation_id)
    if found is None:
        raise NotFound(f"no calculation with id {calculation_id!r}")
    try:
        count = yield from CopyIn(
            _COPY_DATA, _data_rows(calculation_id, points), types=_COPY_DATA_TYPES
        )
    except (psycopg.errors.UniqueViolation, psycopg.errors.InternalError) as exc:
        if not _violates(exc, "calculation_data_pkey"):
            raise
        raise InvalidInput(
            f"calculation {calculation_id!r} already has a point: {_duplicate(exc)}"
        ) from None
    log.debug("copied %s calculation_data rows for calculation %s", count, calculation_id)
    return int(count)


@operation
def ingest_coefficients(material_id: int, values: Iterable[Sequence[Any]]) -> Steps[int]:
    """COPY ``(coefficient_code, valid_from, value)`` rows into the material's history.

    Returns the number of rows written; all or nothing, like ingest_calculation_data.
    NotFound names an unknown material or coefficient code.
    """
    _id("material_id", material_id)
    try:
        count = yield from CopyIn(_COPY_COEFFICIENTS, _coefficient_rows(material_id, values))
    except psycopg.errors.UniqueViolation as exc:
        raise InvalidInput(
            f"material {material_id!r} already has a coefficient value: {_duplicate(exc)}"
        ) from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFound(f"unknown material or coefficient type: {_duplicate(exc)}") from None
    except psycopg.errors.InternalError as exc:  # from a Citus worker
        if _violates(exc, "coefficients_pkey"):
            raise InvalidInput(
                f"material {material_id!r} already has a coefficient value: {_duplicate(exc)}"
            ) from None
        if _violates(exc, "coefficients_material_id_fkey", "coefficients_coefficient_code_fkey"):
            raise NotFound(f"unknown material or coefficient type: {_duplicate(exc)}") from None
        raise
    return int(count)


# -- time series: reads -------------------------------------------------------------


@operation
def list_calculation_data(
    calculation_id: int, *, since: datetime, until: datetime
) -> Steps[list[ListCalculationDataRow]]:
    """The calculation's rows with since <= observed_at < until, in time order."""
    _id("calculation_id", calculation_id)
    start, end = _range(since, until)
    rows = yield from sql.shrinkage.list_calculation_data(
        calculation_id=calculation_id, since=start, until=end
    )
    return rows


@operation
def list_downsampled_calculation_data(
    calculation_id: int,
    *,
    bucket: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Steps[list[ListDownsampledCalculationDataRow]]:
    """The calculation's series at ``bucket`` resolution: per bucket and metric the
    samples, avg, min, max and last value. ``since``/``until`` default to the
    calculation's period. Whole hours read the continuous aggregates with TimescaleDB
    (see :mod:`pydal_lite.shrinkage_buckets`)."""
    _id("calculation_id", calculation_id)
    _bucket(bucket)
    if since is not None and until is not None:
        _range(since, until)
    elif since is not None:
        v.aware_datetime(since, "since")
    elif until is not None:
        v.aware_datetime(until, "until")
    calc = yield from sql.shrinkage.get_calculation(calculation_id=calculation_id)
    if calc is None:
        raise NotFound(f"no calculation with id {calculation_id!r}")
    start, end = _range(
        calc["period_start"] if since is None else since,
        calc["period_end"] if until is None else until,
    )
    if rollup_allows(bucket, start, end):  # whole hours: the continuous aggregates
        return (
            yield from sql.shrinkage.list_downsampled_calculation_data_rollup(
                calculation_id=calculation_id, bucket=bucket, since=start, until=end
            )
        )
    rows = yield from sql.shrinkage.list_downsampled_calculation_data(
        calculation_id=calculation_id, bucket=bucket, since=start, until=end
    )
    return rows


@operation
def list_metric_buckets(
    metric: str, *, bucket: timedelta, since: datetime, until: datetime
) -> Steps[list[ListMetricBucketsRow]]:
    """Aggregates of one metric over all calculations, per time bucket and material;
    whole hours read the continuous aggregates with TimescaleDB."""
    _code("metric", metric)
    _bucket(bucket)
    start, end = _range(since, until)
    if rollup_allows(bucket, start, end):  # whole hours: the continuous aggregates
        return (
            yield from sql.shrinkage.list_metric_buckets_rollup(
                metric=metric, bucket=bucket, since=start, until=end
            )
        )
    rows = yield from sql.shrinkage.list_metric_buckets(
        metric=metric, bucket=bucket, since=start, until=end
    )
    return rows


@operation
def get_coefficient_as_of(
    material_id: int, coefficient_code: str, *, at: datetime
) -> Steps[GetCoefficientAsOfRow | None]:
    """The coefficient's row in force at ``at`` (newest valid_from <= at), or None."""
    _id("material_id", material_id)
    _code("coefficient_code", coefficient_code)
    v.aware_datetime(at, "at")
    row = yield from sql.shrinkage.get_coefficient_as_of(
        material_id=material_id, coefficient_code=coefficient_code, at=at
    )
    return row


@operation
def list_coefficients_as_of(
    material_id: int, *, at: datetime
) -> Steps[list[ListCoefficientsAsOfRow]]:
    """Every coefficient of the material as in force at ``at``, by coefficient code."""
    _id("material_id", material_id)
    v.aware_datetime(at, "at")
    rows = yield from sql.shrinkage.list_coefficients_as_of(material_id=material_id, at=at)
    return rows
