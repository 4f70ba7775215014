"""Input checks shared by the domain modules; each failure raises InvalidInput.

Every check takes the value and ``what`` (the parameter's name as the caller knows
it, e.g. ``"session_id"`` or ``"messages[3].content"``), returns the value to use and
raises :class:`~pydal_lite.errors.InvalidInput` with a message that names ``what``
and shows the offending value (``!r``, cut to :data:`SHOWN_CHARS` characters).
They check what PostgreSQL would refuse later (NUL characters, lone surrogates,
NaN in jsonb, integers wider than the column) so the caller hears about it before
any statement is sent.

Naive datetimes (no ``tzinfo``) follow one policy, here and in the SQLite importer:
they are read as wall time in the *naive-datetime zone*, by default what Python itself
means by a naive ``datetime.now()``: the machine's local zone. So the seed systems'
callers that pass ``datetime.now()`` or ``datetime.now().isoformat()`` store the instant
they meant. :func:`set_naive_timezone` changes the zone for the process (``"UTC"``, an
IANA name such as ``"Europe/Moscow"``, a ``tzinfo``, ``"local"``), or refuses naive
values with ``None``; the environment variable ``PYDAL_NAIVE_TIMEZONE`` sets the
starting value (same spellings, ``refuse`` for None). An ambiguous wall time (the hour
a DST change repeats) is read as its first occurrence.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg.types.json import Jsonb

from .errors import InvalidInput

__all__ = [
    "SHOWN_CHARS",
    "aware_datetime",
    "integer",
    "json_object",
    "json_text",
    "json_value",
    "mapping",
    "naive_timezone",
    "naive_timezone_as",
    "number",
    "one_of",
    "read_naive",
    "set_naive_timezone",
    "shown",
    "text",
    "uuid_value",
    "zone_name",
    "zone_of",
]

SHOWN_CHARS: Final = 200
"""Longest repr of an offending value put in a message (characters)."""

_T = TypeVar("_T")
# An escaped NUL in JSON text that is not itself an escaped backslash followed by "u0000".
_JSON_NUL: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def shown(value: object) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARS` characters with ``...`` when longer."""
    try:
        out = repr(value)
    except ValueError:  # an int with more digits than Python will print
        return f"<{type(value).__name__} too large to show>"
    return out if len(out) <= SHOWN_CHARS else out[:SHOWN_CHARS] + "..."


@overload
def text(
    value: object,
    what: str,
    *,
    max_len: int | None = ...,
    min_len: int = ...,
    blank: bool = ...,
    nullable: Literal[False] = ...,
) -> str: ...
@overload
def text(
    value: object,
    what: str,
    *,
    nullable: bool,
    max_len: int | None = ...,
    min_len: int = ...,
    blank: bool = ...,
) -> str | None: ...
def text(
    value: object,
    what: str,
    *,
    max_len: int | None = None,
    min_len: int = 1,
    blank: bool = True,
    nullable: bool = False,
) -> str | None:
    """A str of ``min_len``..``max_len`` characters that PostgreSQL text can store.

    Refuses non-str values, NUL characters and lone surrogates (not UTF-8);
    ``blank=False`` also refuses whitespace-only strings; ``nullable`` lets None through.
    """
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {shown(value)}")
    n = len(value)
    if n < min_len:
        if n == 0:
            raise InvalidInput(f"{what} must not be empty")
        raise InvalidInput(
            f"{what} is {n} characters long, at least {min_len} required: {shown(value)}"
        )
    if max_len is not None and n > max_len:
        raise InvalidInput(
            f"{what} is {n} characters long, at most {max_len} allowed: {shown(value)}"
        )
    if not blank and not value.strip():
        raise InvalidInput(f"{what} must not be blank, got {shown(value)}")
    if "\x00" in value:
        raise InvalidInput(
            f"{what} contains a NUL character, which PostgreSQL cannot store: {shown(value)}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{what} is not valid unicode (lone surrogate): {shown(value)}"
        ) from None
    return value


def integer(
    value: object, what: str, *, lo: int | None = None, hi: int | None = None, bits: int = 64
) -> int:
    """An int (not a bool) in ``lo``..``hi`` that fits a ``bits``-bit signed column.

    ``bits`` is the storage width (32 for ``integer``, 64 for ``bigint``); ``lo`` and
    ``hi`` are the caller's own bounds, named in the message.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, got {shown(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            raise InvalidInput(f"{what} must be between {lo} and {hi}, got {shown(value)}")
        if lo is not None:
            raise InvalidInput(f"{what} must be an integer >= {lo}, got {shown(value)}")
        raise InvalidInput(f"{what} must be an integer <= {hi}, got {shown(value)}")
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise InvalidInput(f"{what} must fit in a {bits}-bit integer, got {shown(value)}")
    return value


def number(
    value: object,
    what: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number (int, float, Decimal; not a bool) as a float, ``> 0`` if
    ``positive``, in ``lo``..``hi``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise InvalidInput(f"{what} must be a number, got {shown(value)}")
    try:
        out = float(value)
    except (OverflowError, ValueError):  # an int beyond float range, a signaling NaN
        out = math.nan
    if not math.isfinite(out):
        raise InvalidInput(f"{what} must be a finite number, got {shown(value)}")
    bounds = []
    if positive:
        bounds.append("> 0")
    if lo is not None:
        bounds.append(f">= {lo}")
    if hi is not None:
        bounds.append(f"<= {hi}")
    if (positive and out <= 0) or (lo is not None and out < lo) or (hi is not None and out > hi):
        raise InvalidInput(f"{what} must be {' and '.join(bounds)}, got {shown(value)}")
    return out


# -- naive datetimes ----------------------------------------------------------------

NaiveZone = tzinfo | Literal["local"] | None
"""How naive datetimes are read: ``"local"`` (the machine's zone), a zone, or None (refused)."""

LOCAL: Final = "local"


def zone_of(spec: object, what: str = "time zone") -> NaiveZone:
    """A :data:`NaiveZone` from its spelling: ``"local"``, ``"UTC"``, an IANA name
    (``"Europe/Moscow"``), a fixed offset (``"+03:00"``), ``"refuse"``/None, or a tzinfo."""
    if spec is None or isinstance(spec, tzinfo):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput(f"{what} must be a zone name, got {shown(spec)}")
    name = spec.strip()
    if name.lower() == LOCAL:
        return LOCAL
    if name.lower() == "refuse":
        return None
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        if int(hours) > 23 or int(minutes) > 59:
            raise InvalidInput(f"{what} has a bad offset: {shown(spec)}")
        delta = int(hours) * 60 + int(minutes)
        return timezone(timedelta(minutes=-delta if sign == "-" else delta))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown {what} {shown(spec)} (expected 'local', 'UTC', an IANA name such as "
            "'Europe/Moscow', an offset such as '+03:00', or 'refuse')"
        ) from None


def zone_name(zone: NaiveZone) -> str:
    """How a :data:`NaiveZone` is shown in reports: ``local (UTC+03:00)``, ``Europe/Moscow``."""
    if zone is None:
        return "refused"
    if zone == LOCAL:
        local = datetime.now().astimezone().tzinfo
        return f"local ({local})"
    key = getattr(zone, "key", None)
    return str(key) if key else str(zone)


_naive_zone: NaiveZone = zone_of(
    os.environ.get("PYDAL_NAIVE_TIMEZONE") or LOCAL, "PYDAL_NAIVE_TIMEZONE"
)


def naive_timezone() -> NaiveZone:
    """The zone naive datetimes are read in (``"local"`` unless configured; None: refused)."""
    return _naive_zone


def set_naive_timezone(zone: object) -> NaiveZone:
    """Set the zone naive datetimes are read in for this process (see the module
    docstring for the spellings); returns the previous setting."""
    global _naive_zone
    previous, _naive_zone = _naive_zone, zone_of(zone)
    return previous


@contextmanager
def naive_timezone_as(zone: object) -> Iterator[NaiveZone]:
    """Read naive datetimes in ``zone`` inside the ``with`` block (process-wide, so not
    for code running in other threads meanwhile)."""
    previous = set_naive_timezone(zone)
    try:
        yield _naive_zone
    finally:
        set_naive_timezone(previous)


def read_naive(value: datetime, zone: NaiveZone | Literal["default"] = "default") -> datetime:
    """``value`` made aware: an aware value as it is, a naive one read as wall time in
    ``zone`` (default: :func:`naive_timezone`). Raises ValueError when the zone is None."""
    if value.utcoffset() is not None:
        return value
    chosen = _naive_zone if zone == "default" else zone
    if chosen is None:
        raise ValueError("naive datetimes are refused")
    if chosen == LOCAL:
        return value.astimezone()  # Python's own reading of a naive value: local time
    assert isinstance(chosen, tzinfo)
    return value.replace(tzinfo=chosen)


@overload
def aware_datetime(
    value: object, what: str, *, nullable: Literal[False] = ..., iso: bool = ...
) -> datetime: ...
@overload
def aware_datetime(
    value: object, what: str, *, nullable: bool, iso: bool = ...
) -> datetime | None: ...
def aware_datetime(
    value: object, what: str, *, nullable: bool = False, iso: bool = False
) -> datetime | None:
    """A timezone-aware datetime; ``iso=True`` also parses ISO 8601 strings.

    A naive value (or ISO text without an offset) is read in the naive-datetime zone
    (:func:`naive_timezone`, the local zone by default) and returned aware; when that
    policy is None it is refused.
    """
    if value is None and nullable:
        return None
    if iso and isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{what} is not an ISO 8601 timestamp: {shown(value)}") from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {shown(value)}")
    try:
        return read_naive(value)
    except ValueError:
        raise InvalidInput(
            f"{what} must be a timezone-aware datetime, got {shown(value)} "
            "(naive datetimes are refused by set_naive_timezone(None))"
        ) from None
    except (OverflowError, OSError):
        raise InvalidInput(f"{what} is out of range in the local zone: {shown(value)}") from None


def uuid_value(value: object, what: str) -> uuid.UUID:
    """A uuid.UUID, or its text form (any form ``uuid.UUID()`` parses)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"{what} must be a UUID, got {shown(value)}") from None


def json_text(value: object, what: str, *, canonical: bool = False) -> str:
    """``value`` as JSON text (non-ASCII kept), after checking that jsonb can store it.

    Refuses what ``json.dumps`` cannot encode (sets, bytes, objects, mixed-type keys),
    NaN and infinity, lone surrogates and NUL characters (in keys or strings).
    ``canonical=True`` sorts keys and drops spaces, so equal values give equal text.
    """
    try:
        if canonical:
            out = json.dumps(
                value, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
            )
        else:
            out = json.dumps(value, ensure_ascii=False, allow_nan=False)
        out.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} cannot be encoded as JSON ({exc}): {shown(value)}") from None
    if "\\u0000" in out and _JSON_NUL.search(out):
        raise InvalidInput(
            f"{what} contains a NUL character, which jsonb cannot store: {shown(value)}"
        )
    return out


def json_value(value: object, what: str) -> Jsonb:
    """``value`` wrapped for a jsonb parameter, after the checks of :func:`json_text`."""
    json_text(value, what)
    return Jsonb(value)


def mapping(value: object, what: str) -> Mapping[str, Any]:
    """A Mapping (a JSON object's Python shape); its contents are not checked."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object (a mapping), got {shown(value)}")
    return value


@overload
def json_object(value: object, what: str, *, nullable: Literal[False] = ...) -> Jsonb: ...
@overload
def json_object(value: object, what: str, *, nullable: bool) -> Jsonb | None: ...
def json_object(value: object, what: str, *, nullable: bool = False) -> Jsonb | None:
    """A Mapping checked as :func:`json_value`, wrapped (as a dict) for a jsonb parameter."""
    if value is None and nullable:
        return None
    return json_value(dict(mapping(value, what)), what)


def iterable(value: object, what: str) -> Iterable[Any]:
    """A list-like collection of items (not a str, bytes or mapping); items unchecked."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidInput(f"{what} must be a list, got {shown(value)}")
    return value


def one_of(value: object, what: str, choices: Collection[_T]) -> _T:
    """``value`` if it is one of ``choices`` (listed in the message otherwise)."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value and a set of choices
        known = False
    if not known:
        listed = (
            sorted(choices, key=str) if isinstance(choices, (set, frozenset)) else list(choices)
        )
        raise InvalidInput(f"unknown {what} {shown(value)}, expected one of {listed!r}")
    return value  # type: ignore[return-value]
