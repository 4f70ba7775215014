"""Read timestamps as SQLAlchemy (and hand-written code) stored them in SQLite.

Text in ISO-8601 form, date and time separated by a space or ``T``, seconds and any
number of fractional digits optional (rounded to microseconds), with a zone (``Z``,
``UTC``, ``+03:00``, ``+0300``, ``+03``) or without one; numbers are Unix epochs:
``abs(v) < 1e11`` is seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, anything
larger is refused. 1e11 seconds is the year 5138 and 1e11 milliseconds is March 1973, so
the ranges do not overlap for any date after 1973-03-03 (an epoch in milliseconds before
that reads as seconds: there is no way to tell them apart).

A value without a zone is *naive*; how it is read is the caller's choice (see
:mod:`pydal_lite.validate` for the one naive-datetime policy and :mod:`.convert`).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class ConversionError(ValueError):
    """A source value cannot become a value of the target column's type."""


def _fraction(digits: str | None) -> int:
    """Microseconds from fractional-second digits, rounded half up."""
    if not digits:
        return 0
    micro = int((digits + "000000")[:6])
    if len(digits) > 6 and digits[6] >= "5":
        micro += 1
    return micro


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("Z", "z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ConversionError(f"bad time zone offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 date or date-time; naive (``tzinfo`` None) when it names no zone."""
    m = _TS.fullmatch(text.strip())
    if m is None:
        raise ConversionError("not an ISO-8601 timestamp")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=_zone(zone),
        )
    except ValueError as exc:
        raise ConversionError(f"not a valid timestamp ({exc})") from None
    micro = _fraction(frac)
    return value + timedelta(microseconds=micro) if micro else value


def parse_epoch(value: float) -> datetime:
    """A Unix epoch in seconds, milliseconds or microseconds (by magnitude), as UTC."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConversionError("not a finite number")
    magnitude = abs(value)
    if magnitude < 1e11:
        scale = 1_000_000
    elif magnitude < 1e14:
        scale = 1_000
    elif magnitude < 1e17:
        scale = 1
    else:
        raise ConversionError("epoch number too large for seconds, milliseconds or microseconds")
    micros = value * scale if isinstance(value, int) else round(value * scale)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ConversionError("epoch out of range") from None


def to_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ConversionError(f"{type(value).__name__} is not a date")
    stamp = parse_timestamp(value)
    if stamp.time() != time(0) or stamp.tzinfo is not None:
        raise ConversionError("a date column got a timestamp with a time of day or zone")
    return stamp.date()


def to_time(value: Any) -> time:
    if not isinstance(value, str):
        raise ConversionError(f"{type(value).__name__} is not a time of day")
    m = _TIME.fullmatch(value.strip())
    if m is None:
        raise ConversionError("not a time of day (HH:MM[:SS[.ffffff]])")
    hour, minute, second, frac = m.groups()
    try:
        return time(int(hour), int(minute), int(second or 0), min(_fraction(frac), 999_999))
    except ValueError as exc:
        raise ConversionError(f"not a valid time of day ({exc})") from None
