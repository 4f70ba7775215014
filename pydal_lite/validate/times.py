"""Datetimes: one policy for naive values, shared by the API and the SQLite importer."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Final, Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidInput
from .scalars import shown

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
