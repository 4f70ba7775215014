"""One converter per target column: value mapping, empty strings, type, NULL handling.

A column's converter runs, in order:

1. the value mapping of :mod:`.vocab` (enum member names, declared vocabularies);
2. ``''`` -> NULL where the target refuses the empty string (:func:`.vocab.empty_means_absent`);
3. the type's converter (:mod:`.convert`); a timestamp without a zone is read in the
   zone declared for its column, table or file (:meth:`.ImportOptions.zone_for`), else
   in the naive-datetime zone of :mod:`pydal_lite.validate` (the local zone unless
   configured) -- the one policy the API follows too;
4. NULL in a column that is ``not null`` in the target: the declared fill value
   (``--fill table.column=VALUE``), else the column's default when it is the same for
   every row of the transaction (a constant or ``now()``), else a bad row.

:class:`Converters` counts what it did, for the final report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..validate import NaiveZone, read_naive, zone_name
from .catalog import TargetColumn, TargetTable
from .convert import Converter, read_timestamp, typed
from .errors import PlanError
from .options import ImportOptions
from .timestamps import ConversionError
from .vocab import ExplicitMap, ValueMap, vocabulary

Mapper = ValueMap | ExplicitMap


@dataclass
class NaiveRead:
    """How one column's naive timestamps were read."""

    count: int
    zone: str  # as shown: "UTC", "Europe/Moscow", "local (UTC)"
    origin: str  # declared for the "column", its "table", the "file", or the "default"


class Converters:
    """Builds the converters of target columns and counts what they did."""

    def __init__(self, options: ImportOptions | None = None) -> None:
        self.options = options or ImportOptions()
        self.naive: dict[str, NaiveRead] = {}
        self.defaulted = 0
        self.defaulted_columns: set[str] = set()
        self.filled: dict[str, int] = {}
        self.empty_absent: dict[str, int] = {}
        self.maps: dict[str, Mapper] = {}

    @property
    def naive_timestamps(self) -> int:
        return sum(r.count for r in self.naive.values())

    @property
    def naive_columns(self) -> list[str]:
        return sorted(w for w, r in self.naive.items() if r.count)

    def mapped(self) -> dict[str, dict[tuple[str, str], int]]:
        """``table.column`` -> {(source value, target value): rows} for mappings used."""
        return {w: dict(m.used) for w, m in sorted(self.maps.items()) if m.used}

    def for_column(
        self,
        table: TargetTable,
        col: TargetColumn,
        default: str | None = None,
        *,
        empty_absent: bool = False,
    ) -> Converter:
        """The converter for ``col`` (see the module docstring).

        ``default`` (text) replaces a NULL in a not-null column: the column's default,
        evaluated once (see :func:`.catalog.null_defaults`); ``empty_absent``: read
        ``''`` as NULL.
        """
        where = f"{table.name}.{col.name}"
        mapper = self.mapper(table, col)
        has_fill = where in self.options.fill
        inner = typed(
            col,
            self._timestamp(table.name, col.name),
            null_to_sql=not col.not_null or default is not None or has_fill,
        )
        fill: Any = None
        if has_fill:
            raw = self.options.fill[where]
            try:
                fill = inner(mapper(raw) if mapper else raw)
            except ConversionError as exc:
                raise PlanError(f"fill value for {where} ({raw!r}): {exc}") from None

        def convert(value: Any) -> Any:
            if value is not None and mapper is not None:
                value = mapper(value)
            if empty_absent and value == "":
                self.empty_absent[where] = self.empty_absent.get(where, 0) + 1
                value = None
            out = None if value is None else inner(value)
            if out is not None:
                return out
            if has_fill:
                self.filled[where] = self.filled.get(where, 0) + 1
                return fill
            if not col.not_null:
                return None
            if default is None:
                raise ConversionError(
                    "null in a not-null column without a default "
                    f"(to accept a value for it: --fill {where}=VALUE)"
                )
            self.defaulted += 1
            self.defaulted_columns.add(where)
            return default

        return convert

    def mapper(self, table: TargetTable, col: TargetColumn) -> Mapper | None:
        """The value mapping of ``col`` (shared by all its converters, so counts add up)."""
        where = f"{table.name}.{col.name}"
        if where in self.maps:
            return self.maps[where]
        explicit = self.options.values.get(where)
        vocab = vocabulary(table, col)
        mapper: Mapper | None = None
        if vocab is not None:
            mapper = ValueMap(where, vocab[0], vocab[1], explicit)
        elif explicit:
            mapper = ExplicitMap(explicit)
        if mapper is not None:
            self.maps[where] = mapper
        return mapper

    def _timestamp(self, table: str, column: str) -> Callable[[Any], datetime]:
        where = f"{table}.{column}"
        zone, origin = self.options.zone_for(table, column)
        seen = self.naive.setdefault(where, NaiveRead(0, zone_name(zone), origin))
        return _reader(zone, seen)


def _reader(zone: NaiveZone, seen: NaiveRead) -> Callable[[Any], datetime]:
    def convert(value: Any) -> datetime:
        out = read_timestamp(value)
        if out.tzinfo is not None:
            return out
        seen.count += 1
        if zone is None:
            raise ConversionError(
                "a timestamp without a time zone, and naive datetimes are refused "
                "(declare the source's zone: --source-timezone or --timezone)"
            )
        try:
            return read_naive(out, zone)
        except (OverflowError, OSError):
            raise ConversionError("timestamp out of range in the local zone") from None

    return convert
