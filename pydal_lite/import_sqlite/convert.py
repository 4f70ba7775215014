"""Convert values as SQLAlchemy wrote them into SQLite to what a PostgreSQL column takes.

One converter per target column, chosen by the column's type in the catalog. A
converter returns the value to hand to ``COPY`` (Python objects psycopg dumps as text)
or raises :class:`ConversionError` with a lowercase reason.

Timestamps (``timestamptz``; ``timestamp`` and ``date`` alike): ISO-8601 text or
Unix epochs, see :mod:`.timestamps`; :mod:`.converters` decides how naive values are
read (the source's declared zone, else the naive-datetime policy of
:mod:`pydal_lite.validate`).

Booleans: 0/1 (integer or real) and the text ``true``/``false``, ``t``/``f``,
``1``/``0``, ``yes``/``no`` in any case. JSON: text is parsed to validate it (NaN and
Infinity are refused, and ``\\u0000`` for jsonb, which PostgreSQL cannot store) and sent
as written; numbers (SQLite's NUMERIC affinity turns the JSON text ``5`` into the
integer 5) are sent as JSON numbers; the JSON text ``null`` (SQLAlchemy's default for
Python ``None``) is read as a NULL where the column allows NULL or has a default.

UUIDs: text with or
without hyphens, braces or ``urn:uuid:``, or 16 bytes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import TargetColumn
from .timestamps import (
    NUMBER,
    ConversionError,
    parse_epoch,
    parse_timestamp,
    to_date,
    to_time,
)

Converter = Callable[[Any], Any]

UTC = timezone.utc
_TRUE = frozenset({"true", "t", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "n", "off"})
_INT_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})


def typed(col: TargetColumn, timestamp: Converter, *, null_to_sql: bool) -> Converter:
    """The converter for ``col``'s type; ``timestamp`` reads timestamp columns' values."""
    if col.is_array:
        return _array(_scalar(col.base, col, timestamp, null_to_sql=False))
    return _scalar(col.base, col, timestamp, null_to_sql=null_to_sql)


def _scalar(base: str, col: TargetColumn, timestamp: Converter, *, null_to_sql: bool) -> Converter:
    if base == "timestamptz":
        return timestamp
    if base == "timestamp":
        return lambda value: timestamp(value).astimezone(UTC).replace(tzinfo=None)
    if base == "date":
        return to_date
    if base in ("time", "timetz"):
        return to_time
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


def read_timestamp(value: Any) -> datetime:
    """A timestamp value: an aware datetime, or a naive one when the text names no zone."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_epoch(value)
    if isinstance(value, str):
        text = value.strip()
        if NUMBER.fullmatch(text):
            return parse_epoch(float(text) if ("." in text or "e" in text.lower()) else int(text))
        return parse_timestamp(text)
    raise ConversionError(f"{type(value).__name__} is not a timestamp")


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
