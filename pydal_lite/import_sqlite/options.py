"""What the user tells the importer about the file: zones, value mappings, fills, shapes.

Given as keyword arguments of :func:`~pydal_lite.import_sqlite.import_sqlite`, as CLI
options, or in an options file (``--mapping FILE``: JSON, or TOML on Python 3.11+)::

    source_timezone = "Europe/Moscow"            # naive values of the whole file

    [timezones]                                  # per table or per column; wins over the above
    poc_task_executions = "UTC"
    "poc_subtask_executions.started_at" = "Europe/Moscow"

    [values."poc_subtask_executions.status"]     # explicit value mappings
    in_progress = "running"

    [fill]                                       # a value for NULL (or a missing column)
    "background_tasks.user_session" = "unknown"

    [[derive."poc_task_executions.status"]]      # a column the source lacks, from the row
    when_null = ["completed_at"]
    value = "running"
    [[derive."poc_task_executions.status"]]
    value = "completed"

    [[wide]]                                     # wide source rows -> long target rows
    source = "measurements"
    target = "calculation_data"
    keys = { calculation_id = "calc_id", observed_at = "ts" }
    metrics = { mass_kg = "mass", moisture_pct = "moisture" }

See ``docs/migrating_from_sqlite.md`` for each section.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..validate import NaiveZone, naive_timezone, zone_of
from .errors import PlanError

TOP_KEYS = frozenset({"source_timezone", "timezones", "values", "fill", "derive", "wide"})


@dataclass(frozen=True)
class DeriveCase:
    """One case of a derivation: ``value`` when every ``when_null`` source column is NULL
    and every ``when_set`` one is not (no condition: always)."""

    value: Any
    when_null: tuple[str, ...] = ()
    when_set: tuple[str, ...] = ()

    def columns(self) -> tuple[str, ...]:
        return self.when_null + self.when_set

    def describe(self) -> str:
        parts = [f"{c} is null" for c in self.when_null]
        parts += [f"{c} is set" for c in self.when_set]
        return f"{' and '.join(parts) or 'otherwise'} -> {self.value!r}"


@dataclass(frozen=True)
class WideMapping:
    """Wide source rows (one column per quantity) into long target rows (one per value)."""

    source: str
    target: str
    keys: dict[str, str]  # target column -> source column
    metrics: dict[str, str]  # metric name -> source column
    metric_column: str = "metric"
    value_column: str = "value"


@dataclass
class ImportOptions:
    """Everything declared about the source; empty means the defaults."""

    source_timezone: str | None = None
    timezones: dict[str, str] = field(default_factory=dict)  # "table" | "table.column"
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # "table.column"
    fill: dict[str, Any] = field(default_factory=dict)  # "table.column" -> value
    derive: dict[str, list[DeriveCase]] = field(default_factory=dict)  # "table.column"
    wide: list[WideMapping] = field(default_factory=list)

    def zone_for(self, table: str, column: str) -> tuple[NaiveZone, str]:
        """The zone naive values of ``table.column`` are read in, and where it was set."""
        for key, origin in ((f"{table}.{column}", "column"), (table, "table")):
            if key in self.timezones:
                return zone_of(self.timezones[key], f"time zone of {key}"), origin
        if self.source_timezone is not None:
            return zone_of(self.source_timezone, "source time zone"), "file"
        return naive_timezone(), "default"

    def merged(self, other: ImportOptions) -> ImportOptions:
        """These options with ``other``'s on top (the CLI's flags over the file)."""
        return ImportOptions(
            source_timezone=other.source_timezone or self.source_timezone,
            timezones={**self.timezones, **other.timezones},
            values={
                k: {**self.values.get(k, {}), **other.values.get(k, {})}
                for k in {*self.values, *other.values}
            },
            fill={**self.fill, **other.fill},
            derive={**self.derive, **other.derive},
            wide=[*self.wide, *other.wide],
        )

    def check_zones(self) -> None:
        """Refuse unknown zone names before anything is read."""
        if self.source_timezone is not None:
            zone_of(self.source_timezone, "source time zone")
        for key, zone in self.timezones.items():
            zone_of(zone, f"time zone of {key}")


def _table_column(key: Any, where: str) -> str:
    if not isinstance(key, str) or key.count(".") != 1 or "" in key.split("."):
        raise PlanError(f"{where}: {key!r} must be 'table.column'")
    return key.lower()


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PlanError(f"{where} must be a table of names to names, got {value!r:.200}")
    return dict(value)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PlanError(f"{where} must be a column name or a list of them, got {value!r:.200}")


def _derive(key: str, cases: Any) -> list[DeriveCase]:
    where = f"derive.{key}"
    if not isinstance(cases, list) or not cases:
        raise PlanError(f"{where} must be a non-empty list of cases")
    out = []
    for i, case in enumerate(cases):
        if not isinstance(case, Mapping) or "value" not in case:
            raise PlanError(f"{where}[{i}] must have a value")
        unknown = set(case) - {"value", "when_null", "when_set"}
        if unknown:
            raise PlanError(f"{where}[{i}]: unknown key(s) {', '.join(sorted(unknown))}")
        out.append(
            DeriveCase(
                value=case["value"],
                when_null=_names(case.get("when_null", []), f"{where}[{i}].when_null"),
                when_set=_names(case.get("when_set", []), f"{where}[{i}].when_set"),
            )
        )
    return out


def _wide(i: int, spec: Any) -> WideMapping:
    where = f"wide[{i}]"
    if not isinstance(spec, Mapping):
        raise PlanError(f"{where} must be a table")
    unknown = set(spec) - {"source", "target", "keys", "metrics", "metric_column", "value_column"}
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for name in ("source", "target"):
        if not isinstance(spec.get(name), str) or not spec[name]:
            raise PlanError(f"{where}.{name} must be a table name")
    metrics = spec.get("metrics")
    if isinstance(metrics, list) and all(isinstance(m, str) for m in metrics):
        metrics = {m: m for m in metrics}
    keys, metrics = (
        _str_map(spec.get("keys"), f"{where}.keys"),
        _str_map(metrics, f"{where}.metrics"),
    )
    if not keys or not metrics:
        raise PlanError(f"{where} needs at least one key column and one metric")
    return WideMapping(
        source=spec["source"],
        target=spec["target"],
        keys=keys,
        metrics=metrics,
        metric_column=str(spec.get("metric_column", "metric")),
        value_column=str(spec.get("value_column", "value")),
    )


def parse_options(data: Any, where: str = "options") -> ImportOptions:
    """Options from a decoded JSON/TOML document; :class:`PlanError` names what is wrong."""
    if not isinstance(data, Mapping):
        raise PlanError(f"{where} must be a table (a JSON object)")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise PlanError(
            f"{where}: unknown section(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(TOP_KEYS))})"
        )
    zone = data.get("source_timezone")
    if zone is not None and not isinstance(zone, str):
        raise PlanError(f"{where}: source_timezone must be a zone name")
    timezones = {k.lower(): v for k, v in _str_map(data.get("timezones", {}), "timezones").items()}
    values_in = data.get("values", {})
    if not isinstance(values_in, Mapping):
        raise PlanError(f"{where}: values must be a table")
    values = {_table_column(k, "values"): _str_map(v, f"values.{k}") for k, v in values_in.items()}
    fill_in = data.get("fill", {})
    if not isinstance(fill_in, Mapping):
        raise PlanError(f"{where}: fill must be a table")
    fill = {_table_column(k, "fill"): v for k, v in fill_in.items()}
    derive_in = data.get("derive", {})
    if not isinstance(derive_in, Mapping):
        raise PlanError(f"{where}: derive must be a table")
    derive = {_table_column(k, "derive"): _derive(k, v) for k, v in derive_in.items()}
    wide_in = data.get("wide", [])
    if not isinstance(wide_in, list):
        raise PlanError(f"{where}: wide must be a list of tables ([[wide]] in TOML)")
    options = ImportOptions(
        source_timezone=zone,
        timezones=timezones,
        values=values,
        fill=fill,
        derive=derive,
        wide=[_wide(i, w) for i, w in enumerate(wide_in)],
    )
    try:
        options.check_zones()
    except ValueError as exc:  # InvalidInput: an unknown zone name
        raise PlanError(f"{where}: {exc}") from None
    return options


def load_options(path: str | Path) -> ImportOptions:
    """Read an options file: ``.toml`` (Python 3.11+) or JSON."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read options file {str(file)!r}: {exc.strerror}") from None
    if file.suffix.lower() == ".toml":
        try:
            tomllib = importlib.import_module("tomllib")
        except ModuleNotFoundError:  # Python 3.10
            raise PlanError(
                f"{str(file)!r}: TOML needs Python 3.11 or later; write the file as JSON"
            ) from None
        try:
            data: Any = tomllib.loads(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError
            raise PlanError(f"{str(file)!r} is not valid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"{str(file)!r} is not valid JSON: {exc}") from None
    return parse_options(data, str(file))


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    """``KEY=VALUE`` of a CLI flag (the value may itself hold ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise PlanError(f"{flag} {text!r}: expected KEY=VALUE")
    return key.strip(), value
