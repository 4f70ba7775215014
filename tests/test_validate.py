"""Unit tests of pydal_lite.validate: each check passes good values and names bad ones."""

from __future__ import annotations

import math
import os
import uuid
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from pydal_lite import InvalidInput, InvalidTransition
from pydal_lite import validate as v
from pydal_lite.event_planning import InvalidTransition as EventPlanningInvalidTransition

UTC = timezone.utc


def test_invalid_transition_is_an_invalid_input() -> None:
    assert issubclass(InvalidTransition, InvalidInput)
    assert issubclass(InvalidTransition, ValueError)
    assert EventPlanningInvalidTransition is InvalidTransition  # the old import path
    with pytest.raises(InvalidInput, match="cannot move"):
        raise InvalidTransition("cannot move")


# -- shown ----------------------------------------------------------------------


def test_shown_is_the_repr_cut_to_a_bound() -> None:
    assert v.shown("abc") == "'abc'"
    long = v.shown("x" * 1000)
    assert len(long) == v.SHOWN_CHARS + 3 and long.endswith("...")
    assert long.startswith("'xxx")


# -- text -----------------------------------------------------------------------


def test_text_returns_good_strings_unchanged() -> None:
    assert v.text("héllo", "name") == "héllo"
    assert v.text("a" * 10, "name", max_len=10) == "a" * 10
    assert v.text("", "note", min_len=0) == ""
    assert v.text(None, "note", nullable=True) is None
    assert v.text("  ", "note") == "  "


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (None, {}, "name must be a string, got None"),
        (b"x", {}, "name must be a string, got b'x'"),
        (7, {"nullable": True}, "name must be a string, got 7"),
        ("", {}, "name must not be empty"),
        ("ab", {"min_len": 3}, "name is 2 characters long, at least 3 required: 'ab'"),
        ("abcd", {"max_len": 3}, "name is 4 characters long, at most 3 allowed: 'abcd'"),
        (" \t", {"blank": False}, r"name must not be blank, got ' \\t'"),
        ("a\x00b", {}, r"name contains a NUL character, which PostgreSQL cannot store"),
        ("a\ud800", {}, r"name is not valid unicode \(lone surrogate\)"),
    ],
)
def test_text_refusals_name_the_parameter(value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v.text(value, "name", **kwargs)


def test_text_message_cuts_a_long_value() -> None:
    with pytest.raises(InvalidInput) as info:
        v.text("y" * 5000, "body", max_len=10)
    assert str(info.value).startswith("body is 5000 characters long, at most 10 allowed: 'yyy")
    assert len(str(info.value)) < 300


# -- integer --------------------------------------------------------------------


def test_integer_accepts_ints_within_bounds() -> None:
    assert v.integer(0, "n") == 0
    assert v.integer(5, "n", lo=5, hi=5) == 5
    assert v.integer(2**31 - 1, "n", bits=32) == 2**31 - 1
    assert v.integer(-(2**63), "n") == -(2**63)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (True, {}, "n must be an integer, got True"),
        (1.0, {}, "n must be an integer, got 1.0"),
        ("3", {}, "n must be an integer, got '3'"),
        (0, {"lo": 1, "hi": 10}, "n must be between 1 and 10, got 0"),
        (11, {"lo": 1, "hi": 10}, "n must be between 1 and 10, got 11"),
        (-1, {"lo": 0}, "n must be an integer >= 0, got -1"),
        (4, {"hi": 3}, "n must be an integer <= 3, got 4"),
        (2**31, {"lo": 1, "bits": 32}, "n must fit in a 32-bit integer, got 2147483648"),
        (2**63, {}, "n must fit in a 64-bit integer"),
        (-(2**63) - 1, {}, "n must fit in a 64-bit integer"),
    ],
)
def test_integer_refusals(value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v.integer(value, "n", **kwargs)


def test_integer_message_survives_an_int_too_long_to_print() -> None:
    with pytest.raises(
        InvalidInput, match="n must be an integer <= 10, got <int too large to show>"
    ):
        v.integer(10**5000, "n", hi=10)


# -- number ---------------------------------------------------------------------


def test_number_returns_a_float() -> None:
    assert v.number(3, "x") == 3.0 and isinstance(v.number(3, "x"), float)
    assert v.number(Decimal("2.5"), "x", lo=0, hi=5) == 2.5
    assert v.number(0, "x", lo=0) == 0.0
    assert v.number(1e-9, "x", positive=True) == 1e-9


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (True, {}, "x must be a number, got True"),
        ("1", {}, "x must be a number, got '1'"),
        (math.nan, {}, "x must be a finite number, got nan"),
        (math.inf, {}, "x must be a finite number, got inf"),
        (Decimal("NaN"), {}, "x must be a finite number"),
        (10**400, {}, "x must be a finite number"),
        (Decimal("sNaN"), {}, "x must be a finite number"),
        (0, {"positive": True}, "x must be > 0, got 0"),
        (-0.5, {"lo": 0}, r"x must be >= 0, got -0\.5"),
        (2e6, {"positive": True, "hi": 1_000_000}, r"x must be > 0 and <= 1000000, got 2000000\.0"),
    ],
)
def test_number_refusals(value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v.number(value, "x", **kwargs)


# -- aware_datetime -------------------------------------------------------------


def test_aware_datetime_accepts_aware_values_and_iso_text_when_asked() -> None:
    at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    assert v.aware_datetime(at, "at") is at
    assert v.aware_datetime(None, "at", nullable=True) is None
    parsed = v.aware_datetime("2025-01-02T03:04:00+03:00", "at", iso=True)
    assert parsed == at - timedelta(hours=3)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (date(2025, 1, 1), {}, "at must be a timezone-aware datetime"),
        (None, {}, "at must be a timezone-aware datetime, got None"),
        ("2025-01-01T00:00:00+00:00", {}, "at must be a timezone-aware datetime, got '2025"),
        ("yesterday", {"iso": True}, "at is not an ISO 8601 timestamp: 'yesterday'"),
    ],
)
def test_aware_datetime_refusals(value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v.aware_datetime(value, "at", **kwargs)


# -- the naive-datetime policy ------------------------------------------------------


@pytest.mark.skipif(
    bool(os.environ.get("PYDAL_NAIVE_TIMEZONE")), reason="PYDAL_NAIVE_TIMEZONE is set here"
)
def test_naive_datetimes_are_read_in_the_local_zone_by_default() -> None:
    assert v.naive_timezone() == "local"
    naive = datetime(2025, 6, 1, 12, 0)
    got = v.aware_datetime(naive, "at")
    # what Python itself means by a naive value: the same instant as naive.astimezone()
    assert got == naive.astimezone()
    assert got.utcoffset() is not None
    assert v.aware_datetime(naive.isoformat(), "at", iso=True) == naive.astimezone()


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", 0), ("Europe/Moscow", 3), ("+05:30", 5.5), ("-02:00", -2)],
)
def test_naive_datetimes_in_a_configured_zone(zone: str, offset: float) -> None:
    with v.naive_timezone_as(zone):
        got = v.aware_datetime("2025-06-01T12:00:00", "at", iso=True)
    assert got.utcoffset() == timedelta(hours=offset)
    assert got.replace(tzinfo=None) == datetime(2025, 6, 1, 12, 0)
    assert v.naive_timezone() == "local"  # restored


def test_aware_values_ignore_the_naive_zone() -> None:
    at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    with v.naive_timezone_as("Europe/Moscow"):
        assert v.aware_datetime(at, "at") is at


def test_naive_datetimes_refused_when_configured() -> None:
    with v.naive_timezone_as(None):
        with pytest.raises(
            InvalidInput, match="at must be a timezone-aware datetime, got datetime"
        ):
            v.aware_datetime(datetime(2025, 1, 1), "at")
        with pytest.raises(InvalidInput, match="naive datetimes are refused"):
            v.aware_datetime("2025-01-01T00:00:00", "at", iso=True)
    with v.naive_timezone_as("refuse"):
        assert v.naive_timezone() is None


@pytest.mark.parametrize("spec", ["Mars/Olympus", "", "+25:00", 3])
def test_unknown_zone_spellings_are_refused(spec: Any) -> None:
    with pytest.raises(InvalidInput, match="zone"):
        v.set_naive_timezone(spec)
    assert v.naive_timezone() == "local"


def test_zone_names_for_reports() -> None:
    assert v.zone_name(v.zone_of("Europe/Moscow")) == "Europe/Moscow"
    assert v.zone_name(v.zone_of("UTC")) == "UTC"
    assert v.zone_name("local").startswith("local (")
    assert v.zone_name(None) == "refused"


# -- uuid_value -----------------------------------------------------------------


def test_uuid_value_accepts_uuids_and_their_text() -> None:
    u = uuid.uuid4()
    assert v.uuid_value(u, "id") is u
    assert v.uuid_value(str(u), "id") == u
    assert v.uuid_value(str(u).upper(), "id") == u


@pytest.mark.parametrize("value", ["nope", "", None, 42])
def test_uuid_value_refusals(value: Any) -> None:
    with pytest.raises(InvalidInput, match=f"id must be a UUID, got {value!r}"):
        v.uuid_value(value, "id")


# -- JSON -----------------------------------------------------------------------


def test_json_value_wraps_storable_values() -> None:
    for value in ({"a": [1, 2.5, None, True]}, [], "текст", 0, None, {"s": "\\u0000"}):
        wrapped = v.json_value(value, "doc")
        assert isinstance(wrapped, Jsonb) and wrapped.obj == value


def test_json_text_is_compact_and_canonical_when_asked() -> None:
    assert v.json_text({"b": 1, "a": "é"}, "doc") == '{"b": 1, "a": "é"}'
    assert v.json_text({"b": 1, "a": "é"}, "doc", canonical=True) == '{"a":"é","b":1}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": {1, 2}}, r"doc cannot be encoded as JSON \(Object of type set"),
        ({"x": b"raw"}, "doc cannot be encoded as JSON"),
        ({"x": float("nan")}, "doc cannot be encoded as JSON .*not JSON compliant"),
        ([float("inf")], "doc cannot be encoded as JSON"),
        ({"x": "\ud800"}, "doc cannot be encoded as JSON"),
        ({"x": "a\x00"}, "doc contains a NUL character, which jsonb cannot store"),
        ({"k\x00": 1}, "doc contains a NUL character"),
        ({"x": "\\\x00"}, "doc contains a NUL character"),
    ],
)
def test_json_value_refusals(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        v.json_value(value, "doc")
    with pytest.raises(InvalidInput, match=message):
        v.json_text(value, "doc", canonical=True)


def test_json_value_refuses_a_cycle() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInput, match="doc cannot be encoded as JSON"):
        v.json_value(loop, "doc")


def test_json_object_wants_a_mapping_and_wraps_a_dict() -> None:
    wrapped = v.json_object(MappingProxyType({"a": 1}), "meta")
    assert type(wrapped.obj) is dict and wrapped.obj == {"a": 1}
    assert v.json_object(OrderedDict(b=2), "meta").obj == {"b": 2}
    assert v.json_object(None, "meta", nullable=True) is None
    with pytest.raises(InvalidInput, match=r"meta must be a JSON object \(a mapping\), got None"):
        v.json_object(None, "meta")
    with pytest.raises(InvalidInput, match=r"meta must be a JSON object \(a mapping\), got \[1\]"):
        v.json_object([1], "meta")
    with pytest.raises(InvalidInput, match="meta cannot be encoded as JSON"):
        v.json_object({"x": object()}, "meta")


def test_mapping_checks_only_the_shape() -> None:
    inner = {"x": object()}
    assert v.mapping(inner, "row") is inner
    with pytest.raises(InvalidInput, match="row must be a JSON object"):
        v.mapping(("a", 1), "row")


# -- one_of ---------------------------------------------------------------------


def test_one_of_returns_the_value_or_lists_the_choices() -> None:
    assert v.one_of("b", "mode", ("a", "b")) == "b"
    with pytest.raises(InvalidInput, match=r"unknown mode 'c', expected one of \['a', 'b'\]"):
        v.one_of("c", "mode", ("a", "b"))
    with pytest.raises(InvalidInput, match=r"unknown role 'x', expected one of \['a', 'z'\]"):
        v.one_of("x", "role", frozenset({"z", "a"}))
    with pytest.raises(InvalidInput, match="unknown mode None"):
        v.one_of(None, "mode", ("a",))
    with pytest.raises(InvalidInput, match=r"unknown role \[1\]"):
        v.one_of([1], "role", frozenset({"a"}))
