"""Input checks shared by the domain modules; each failure raises InvalidInput.

Every check takes the value and ``what`` (the parameter's name as the caller knows
it, e.g. ``"session_id"`` or ``"messages[3].content"``), returns the value to use and
raises :class:`~pydal_lite.errors.InvalidInput` with a message that names ``what``
and shows the offending value (``!r``, cut to :data:`SHOWN_CHARS` characters).
They check what PostgreSQL would refuse later (NUL characters, lone surrogates,
NaN in jsonb, integers wider than the column) so the caller hears about it before
any statement is sent.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar, overload

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
    "number",
    "one_of",
    "shown",
    "text",
    "uuid_value",
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
    """A timezone-aware datetime; ``iso=True`` also parses ISO 8601 strings."""
    if value is None and nullable:
        return None
    if iso and isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{what} is not an ISO 8601 timestamp: {shown(value)}") from None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, got {shown(value)}")
    return value


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
