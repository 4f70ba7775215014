"""Convert values as SQLAlchemy wrote them into SQLite to what a PostgreSQL column takes.

One converter per target column, chosen by the column's type in the catalog. A
converter returns the value to hand to ``COPY`` (Python objects psycopg dumps as text)
or raises :class:`ConversionError` with a lowercase reason.

Timestamps (``timestamptz``; ``timestamp`` and ``date`` alike):

* text in ISO-8601 form, date and time separated by a space or ``T``, seconds and any
  number of fractional digits optional (rounded to microseconds), with a zone (``Z``,
  ``UTC``, ``+03:00``, ``+0300``, ``+03``) or without one. SQLAlchemy's SQLite
  ``DateTime`` writes ``2024-03-01 12:30:00.123456`` and drops any zone, so a value
  without a zone is taken as UTC; :attr:`Converters.naive_timestamps` counts them so the
  caller can say so.
* numbers (integer or real, or text holding one) are Unix epochs: ``abs(v) < 1e11`` is
  seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, anything larger is refused.
  1e11 seconds is the year 5138 and 1e11 milliseconds is March 1973, so the ranges do
  not overlap for any date after 1973-03-03 (an epoch in milliseconds before that reads
  as seconds: there is no way to tell them apart).

Booleans: 0/1 (integer or real) and the text ``true``/``false``, ``t``/``f``,
``1``/``0``, ``yes``/``no`` in any case. JSON: text is parsed to validate it (NaN and
Infinity are refused, and ``\\u0000`` for jsonb, which PostgreSQL cannot store) and sent
as written; numbers (SQLite's NUMERIC affinity turns the JSON text ``5`` into the
integer 5) are sent as JSON numbers; the JSON text ``null`` (SQLAlchemy's default for
Python ``None``) is read as a NULL where the column allows NULL or has a default.

NULL in a column that is ``not null`` in the target: the column's default when it is
the same for every row of the transaction (a constant or ``now()``), counted in
:attr:`Converters.defaulted`; otherwise the row is bad. UUIDs: text with or
without hyphens, braces or ``urn:uuid:``, or 16 bytes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from .catalog import TargetColumn

Converter = Callable[[Any], Any]

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_TRUE = frozenset({"true", "t", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "n", "off"})
_INT_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})


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


class Converters:
    """Builds converters for target columns and counts naive timestamps taken as UTC."""

    def __init__(self) -> None:
        self.naive_timestamps = 0
        self.naive_columns: set[str] = set()
        self.defaulted = 0
        self.defaulted_columns: set[str] = set()

    def for_column(self, table: str, col: TargetColumn, default: str | None = None) -> Converter:
        """The converter for ``col``, including its not-null check.

        ``default`` (text) replaces a NULL in a not-null column: the column's default,
        evaluated once (see :func:`.catalog.null_defaults`).
        """
        where = f"{table}.{col.name}"
        inner = self._typed(where, col, null_to_sql=not col.not_null or default is not None)
        if col.not_null:

            def not_null(value: Any) -> Any:
                out = None if value is None else inner(value)
                if out is None:
                    if default is None:
                        raise ConversionError("null in a not-null column without a default")
                    self.defaulted += 1
                    self.defaulted_columns.add(where)
                    return default
                return out

            return not_null

        def nullable(value: Any) -> Any:
            return None if value is None else inner(value)

        return nullable

    def _typed(self, where: str, col: TargetColumn, *, null_to_sql: bool) -> Converter:
        if col.is_array:
            element = self._scalar(where, col.base, col, null_to_sql=False)
            return _array(element)
        return self._scalar(where, col.base, col, null_to_sql=null_to_sql)

    def _scalar(self, where: str, base: str, col: TargetColumn, *, null_to_sql: bool) -> Converter:
        if base == "timestamptz":
            return self._timestamp(where, aware=True)
        if base == "timestamp":
            return self._timestamp(where, aware=False)
        if base == "date":
            return _to_date
        if base in ("time", "timetz"):
            return _to_time
        if base == "bool":
            return to_bool
        if base in ("json", "jsonb"):
            return _json(jsonb=base == "jsonb", null_to_sql=null_to_sql)
        if base == "uuid":
            return to_uuid
        if base in _INT_RANGE:
            return _integer(_INT_RANGE[base])
        if base == "numeric":
            return _to_numeric
        if base in ("float4", "float8"):
            return _to_float
        if base in _TEXT_TYPES:
            return _text(col.max_length)
        if base == "bytea":
            return _to_bytes
        if base == "interval":
            return _to_interval
        if col.enum_labels:
            return _enum(col.enum_labels)
        return _passthrough

    def _timestamp(self, where: str, *, aware: bool) -> Converter:
        def convert(value: Any) -> datetime:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out = parse_epoch(value)
            elif isinstance(value, str):
                text = value.strip()
                if _NUMBER.fullmatch(text):
                    out = parse_epoch(
                        float(text) if ("." in text or "e" in text.lower()) else int(text)
                    )
                else:
                    out = parse_timestamp(text)
                    if out.tzinfo is None:
                        self.naive_timestamps += 1
                        self.naive_columns.add(where)
                        out = out.replace(tzinfo=UTC)
            else:
                raise ConversionError(f"{type(value).__name__} is not a timestamp")
            return out if aware else out.astimezone(UTC).replace(tzinfo=None)

        return convert


def _to_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ConversionError(f"{type(value).__name__} is not a date")
    stamp = parse_timestamp(value)
    if stamp.time() != time(0) or stamp.tzinfo is not None:
        raise ConversionError("a date column got a timestamp with a time of day or zone")
    return stamp.date()


def _to_time(value: Any) -> time:
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


def to_bool(value: Any) -> bool:
    """0/1 or boolean text to bool."""
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConversionError("not a boolean (0/1 or true/false)")


def _reject_constant(name: str) -> Any:
    raise ConversionError(f"JSON {name} is not allowed")


def _json(*, jsonb: bool, null_to_sql: bool) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ConversionError("JSON bytes are not UTF-8") from None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ConversionError("JSON NaN/Infinity is not allowed")
            return json.dumps(value)
        if not isinstance(value, str):
            raise ConversionError(f"{type(value).__name__} is not JSON text")
        try:
            parsed = json.loads(value, parse_constant=_reject_constant)
        except ValueError as exc:
            if isinstance(exc, ConversionError):
                raise
            raise ConversionError(f"invalid JSON ({exc})") from None
        if parsed is None and null_to_sql:
            return None
        if jsonb and "\\u0000" in value:
            raise ConversionError("JSON contains \\u0000, which jsonb cannot store")
        if "\x00" in value:
            raise ConversionError("text contains a NUL character")
        return value

    return convert


def to_uuid(value: Any) -> uuid.UUID:
    """UUID text (any of Python's accepted spellings) or 16 bytes to a UUID."""
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise ConversionError("not a UUID")


def _integer(bound: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            out = int(value)
        elif isinstance(value, int):
            out = value
        elif isinstance(value, float) and value.is_integer():
            out = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            out = int(value)
        else:
            raise ConversionError("not an integer")
        if not -bound <= out < bound:
            raise ConversionError("integer out of range for the column type")
        return out

    return convert


def _to_numeric(value: Any) -> Decimal | int:
    if isinstance(value, int):
        return value
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ConversionError("not a number") from None


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConversionError("not a number")


def _text(max_length: int | None) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str):
            out = value
        elif isinstance(value, bytes):
            try:
                out = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ConversionError("bytes are not UTF-8 text") from None
        elif isinstance(value, float):
            out = repr(value)
        else:
            out = str(value)
        if "\x00" in out:
            raise ConversionError("text contains a NUL character")
        if max_length is not None and len(out) > max_length:
            raise ConversionError(f"text of {len(out)} characters is longer than {max_length}")
        return out

    return convert


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ConversionError(f"{type(value).__name__} is not binary data")


def _to_interval(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return _passthrough(value)


def _enum(labels: tuple[str, ...]) -> Converter:
    allowed = frozenset(labels)

    def convert(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        raise ConversionError(f"not one of the enum labels {sorted(allowed)!r}")

    return convert


def _array(element: Converter) -> Converter:
    def convert(value: Any) -> list[Any]:
        if not isinstance(value, str):
            raise ConversionError("an array column needs a JSON list")
        try:
            items = json.loads(value)
        except ValueError:
            raise ConversionError("an array column needs a JSON list") from None
        if not isinstance(items, list):
            raise ConversionError("an array column needs a JSON list")
        return [None if item is None else element(item) for item in items]

    return convert


def _passthrough(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ConversionError("text contains a NUL character")
    return value
