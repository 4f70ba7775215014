"""Shrinkage buckets: which query serves a bucket read, and gap-filled series for charts.

The bucket reads of :mod:`pydal_lite.shrinkage` go to the ``*_rollup`` queries when the
bucket and the range are whole hours (UTC): with TimescaleDB those roll up the continuous
aggregates of ``schema/0014_add_timeseries_aggregates.sql`` (daily for whole days, hourly
otherwise); without it the same functions read the raw rows, so the rows are the same on
both servers. Any other range goes to the raw ``date_bin`` queries.

Rows written into a range the aggregates have already materialized (a backfill, an
import) show in rollups after the next refresh policy run (at most 30 minutes for the
hourly and 1 hour for the daily aggregate); newer rows show at once (real-time
aggregation).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from . import sql
from . import validate as v
from .errors import InvalidInput, NotFound
from .runtime import Steps, operation
from .sql.shrinkage import ListGapfilledCalculationDataRow

__all__ = ["MAX_GAPFILL_BUCKETS", "list_gapfilled_calculation_data", "rollup_allows"]

MAX_GAPFILL_BUCKETS = 10_000
"""Most buckets one gap-filled read returns: a chart, not an export."""

_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_METRIC = re.compile(r"[a-z][a-z0-9_]{0,62}")  # calculation_data_metric_check
_MAX_BUCKET = timedelta(days=366)


def rollup_allows(bucket: timedelta, since: datetime, until: datetime) -> bool:
    """Whether ``bucket`` over ``[since, until)`` is made of whole hourly buckets (UTC)."""
    return (
        bucket % _HOUR == timedelta(0)
        and (since - _EPOCH) % _HOUR == timedelta(0)
        and (until - _EPOCH) % _HOUR == timedelta(0)
    )


@operation
def list_gapfilled_calculation_data(
    calculation_id: int,
    metric: str,
    *,
    bucket: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Steps[list[ListGapfilledCalculationDataRow]]:
    """Every ``bucket`` of the calculation's ``metric`` over ``[since, until)``, empty ones
    included, for charts: samples (0 in a gap), avg (None in a gap), the avg interpolated
    across gaps, the last value and the last value carried forward. ``since``/``until``
    default to the calculation's period; at most MAX_GAPFILL_BUCKETS buckets."""
    v.integer(calculation_id, "calculation_id", lo=1)
    if not isinstance(metric, str) or not _METRIC.fullmatch(metric):
        raise InvalidInput(f"metric must match {_METRIC.pattern!r}, got {v.shown(metric)}")
    if not isinstance(bucket, timedelta) or not timedelta(0) < bucket <= _MAX_BUCKET:
        raise InvalidInput(
            f"bucket must be a timedelta above 0 and at most {_MAX_BUCKET.days} days, "
            f"got {v.shown(bucket)}"
        )
    if since is not None:
        v.aware_datetime(since, "since")
    if until is not None:
        v.aware_datetime(until, "until")
    calc = yield from sql.shrinkage.get_calculation(calculation_id=calculation_id)
    if calc is None:
        raise NotFound(f"no calculation with id {calculation_id!r}")
    start = calc["period_start"] if since is None else since
    end = calc["period_end"] if until is None else until
    if end <= start:
        raise InvalidInput(f"until must be after since, got since={start!r} until={end!r}")
    buckets = -((start - end) // bucket) + 1  # an upper bound: one more for the alignment
    if buckets > MAX_GAPFILL_BUCKETS:
        raise InvalidInput(
            f"{buckets} buckets of {bucket} from {start.isoformat()} to {end.isoformat()}: "
            f"at most {MAX_GAPFILL_BUCKETS} per read, use a larger bucket"
        )
    rows = yield from sql.shrinkage.list_gapfilled_calculation_data(
        calculation_id=calculation_id, metric=metric, bucket=bucket, since=start, until=end
    )
    return rows
