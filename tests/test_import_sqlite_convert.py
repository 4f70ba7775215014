"""Value conversion of the SQLite importer: the timestamp zoo and the other types, in Python."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from pydal_lite.import_sqlite.catalog import TargetColumn, TargetTable
from pydal_lite.import_sqlite.converters import Converters as _Converters
from pydal_lite.import_sqlite.options import ImportOptions
from pydal_lite.import_sqlite.timestamps import ConversionError, parse_epoch

T = TargetTable("t", ())


def Converters() -> _Converters:
    """Converters reading naive timestamps as UTC, whatever this machine's zone."""
    return _Converters(ImportOptions(source_timezone="UTC"))


UTC = timezone.utc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# (SQLite value, expected instant, naive?) -- every spelling SQLAlchemy or a hand-written
# script may have left in a DATETIME column.
TIMESTAMP_ZOO: list[tuple[Any, datetime, bool]] = [
    ("2024-03-01 12:30:00", at(2024, 3, 1, 12, 30), True),
    ("2024-03-01T12:30:00", at(2024, 3, 1, 12, 30), True),
    ("2024-03-01 12:30:00.123456", at(2024, 3, 1, 12, 30, 0, 123456), True),  # SQLAlchemy
    ("2024-03-01T12:30:00.5", at(2024, 3, 1, 12, 30, 0, 500000), True),
    ("2024-03-01 12:30:00.1234567", at(2024, 3, 1, 12, 30, 0, 123457), True),  # rounded
    ("2024-03-01 23:59:59.9999996", at(2024, 3, 2), True),  # rounds into the next day
    ("2024-03-01 12:30", at(2024, 3, 1, 12, 30), True),
    ("2024-03-01", at(2024, 3, 1), True),
    (" 2024-03-01 12:30:00 ", at(2024, 3, 1, 12, 30), True),
    ("2024-03-01T12:30:00Z", at(2024, 3, 1, 12, 30), False),
    ("2024-03-01 12:30:00 UTC", at(2024, 3, 1, 12, 30), False),
    ("2024-03-01T12:30:00+03:00", at(2024, 3, 1, 9, 30), False),
    ("2024-03-01 12:30:00.250-05:00", at(2024, 3, 1, 17, 30, 0, 250000), False),
    ("2024-03-01T12:30:00+0530", at(2024, 3, 1, 7, 0), False),
    ("2024-03-01T12:30:00-02", at(2024, 3, 1, 14, 30), False),
    ("2024-03-01T00:30:00+01:00", at(2024, 2, 29, 23, 30), False),  # crosses the day
    (1709296200, at(2024, 3, 1, 12, 30), False),  # epoch seconds (int)
    (1709296200.25, at(2024, 3, 1, 12, 30, 0, 250000), False),  # epoch seconds (real)
    (1709296200123, at(2024, 3, 1, 12, 30, 0, 123000), False),  # epoch milliseconds
    (1709296200123456, at(2024, 3, 1, 12, 30, 0, 123456), False),  # epoch microseconds
    ("1709296200", at(2024, 3, 1, 12, 30), False),  # epoch as text
    ("1709296200.5", at(2024, 3, 1, 12, 30, 0, 500000), False),
    (0, at(1970, 1, 1), False),
    (-86400, at(1969, 12, 31), False),
]

BAD_TIMESTAMPS = [
    "yesterday",
    "2024-13-01",
    "2024-02-30 10:00:00",
    "2024-03-01 25:00:00",
    "2024-03-01T12:30:00+25:00",
    "01/03/2024",
    1e20,
    float("nan"),
    b"2024-03-01",
]


def col(base: str, **kw: Any) -> TargetColumn:
    return TargetColumn(name="c", type_name=base, base=base, **kw)


@pytest.mark.parametrize(("value", "expected", "naive"), TIMESTAMP_ZOO)
def test_timestamptz_zoo(value: Any, expected: datetime, naive: bool) -> None:
    convs = Converters()
    out = convs.for_column(T, col("timestamptz"))(value)
    assert out == expected
    assert out.utcoffset() is not None
    assert convs.naive_timestamps == int(naive)
    assert convs.naive_columns == (["t.c"] if naive else [])


@pytest.mark.parametrize("value", BAD_TIMESTAMPS)
def test_bad_timestamps_are_refused(value: Any) -> None:
    with pytest.raises(ConversionError):
        Converters().for_column(T, col("timestamptz"))(value)


def test_epoch_units_by_magnitude() -> None:
    # the boundaries documented in convert.py
    assert parse_epoch(99_999_999_999) == at(1970, 1, 1) + timedelta(seconds=99_999_999_999)
    assert parse_epoch(100_000_000_000) == at(1973, 3, 3, 9, 46, 40)  # now milliseconds
    assert parse_epoch(100_000_000_000_000) == at(1973, 3, 3, 9, 46, 40)  # now microseconds
    with pytest.raises(ConversionError):
        parse_epoch(10**17)


def test_timestamp_without_zone_and_date_columns() -> None:
    ts = Converters().for_column(T, col("timestamp"))
    assert ts("2024-03-01T12:30:00+03:00") == datetime(2024, 3, 1, 9, 30)
    assert ts("2024-03-01 12:30:00") == datetime(2024, 3, 1, 12, 30)
    d = Converters().for_column(T, col("date"))
    assert d("2024-03-01") == date(2024, 3, 1)
    assert d("2024-03-01 00:00:00.000000") == date(2024, 3, 1)
    with pytest.raises(ConversionError):
        d("2024-03-01 10:00:00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True),
        (0, False),
        (1.0, True),
        ("true", True),
        ("FALSE", False),
        ("t", True),
        ("0", False),
    ],
)
def test_booleans(value: Any, expected: bool) -> None:
    assert Converters().for_column(T, col("bool"))(value) is expected


@pytest.mark.parametrize("value", [2, -1, "maybe", "", 0.5, b"\x01"])
def test_bad_booleans(value: Any) -> None:
    with pytest.raises(ConversionError, match="not a boolean"):
        Converters().for_column(T, col("bool"))(value)


def test_json() -> None:
    conv = Converters().for_column(T, col("jsonb"))
    assert conv('{"a": [1, 2]}') == '{"a": [1, 2]}'  # sent as written
    assert conv(5) == "5"  # SQLite's NUMERIC affinity turned the JSON text 5 into 5
    assert conv(2.5) == "2.5"
    assert conv("null") is None  # SQLAlchemy's None, nullable column
    not_null = Converters().for_column(T, col("jsonb", not_null=True))
    assert not_null("null") == "null"  # no default: JSON null stays
    with_default = Converters().for_column(T, col("jsonb", not_null=True), default="{}")
    assert with_default("null") == "{}"
    assert with_default(None) == "{}"
    for bad, reason in [
        ("{oops", "invalid JSON"),
        ('{"a": NaN}', "NaN"),
        ('{"a": "\\u0000"}', "u0000"),
        ("", "invalid JSON"),
    ]:
        with pytest.raises(ConversionError, match=reason):
            conv(bad)
    assert Converters().for_column(T, col("json"))('"\\u0000"') == '"\\u0000"'  # json may


def test_uuid() -> None:
    conv = Converters().for_column(T, col("uuid"))
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert conv(str(u)) == u
    assert conv(u.hex) == u  # SQLAlchemy's Uuid on SQLite: 32 hex digits
    assert conv("{" + str(u).upper() + "}") == u
    assert conv(u.bytes) == u
    with pytest.raises(ConversionError, match="not a UUID"):
        conv("12345")


def test_numbers_and_text() -> None:
    c = Converters()
    assert c.for_column(T, col("int4"))("42") == 42
    assert c.for_column(T, col("int4"))(7.0) == 7
    with pytest.raises(ConversionError, match="out of range"):
        c.for_column(T, col("int2"))(40000)
    with pytest.raises(ConversionError, match="not an integer"):
        c.for_column(T, col("int8"))(1.5)
    assert c.for_column(T, col("numeric"))(0.1) == Decimal("0.1")
    assert c.for_column(T, col("float8"))("1.5") == 1.5
    text = c.for_column(T, col("varchar", max_length=5))
    assert text(12) == "12"
    assert text(b"abc") == "abc"
    with pytest.raises(ConversionError, match="longer than 5"):
        text("abcdef")
    with pytest.raises(ConversionError, match="NUL"):
        text("a\x00b")
    arr = c.for_column(T, col("int4", is_array=True))
    assert arr("[1, 2, null]") == [1, 2, None]


def test_not_null() -> None:
    c = Converters()
    with pytest.raises(ConversionError, match="null in a not-null column"):
        c.for_column(T, col("text", not_null=True))(None)
    assert c.for_column(T, col("text", not_null=True), default="pending")(None) == "pending"
    assert c.defaulted == 1
    assert c.for_column(T, col("text"))(None) is None
