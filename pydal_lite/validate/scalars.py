"""Checks of scalar arguments: text, numbers, ids, choices, and how a bad value is shown."""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar, overload

from ..errors import InvalidInput

SHOWN_CHARS: Final = 200
"""Longest repr of an offending value put in a message (characters)."""

_T = TypeVar("_T")


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


def uuid_value(value: object, what: str) -> uuid.UUID:
    """A uuid.UUID, or its text form (any form ``uuid.UUID()`` parses)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"{what} must be a UUID, got {shown(value)}") from None


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
