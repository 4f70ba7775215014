"""The import: match tables, refuse overlaps, copy in FK order, verify counts; one transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from .badrows import BadRows, Rejecter
from .catalog import TargetColumn, TargetTable, dependency_order, load_catalog, null_defaults
from .context import Detector, Expansion, Overlap
from .convert import Converter
from .converters import Converters
from .copy import OnConflict, TableWriter
from .errors import BadRowError, ConflictError, PlanError
from .legacy import derived_columns, detect_legacy
from .options import ImportOptions
from .plan import TablePlan, plan_table
from .preflight import preflight
from .progress import Progress
from .report import ImportReport, TableReport
from .source import Source, SourceTable
from .timestamps import ConversionError
from .verify import count_problems, move_sequence, overlap_count, refuse
from .vocab import empty_means_absent
from .wide import detect_wide

log = logging.getLogger("pydal_lite.import_sqlite")

DETECTORS: tuple[Detector, ...] = (detect_legacy, detect_wide)
"""The shapes that are not one table to one table, tried in order."""


class Importer:
    """One run; see :func:`pydal_lite.import_sqlite.import_sqlite` for the parameters."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        source: Source,
        report: ImportReport,
        *,
        tables: Sequence[str] | None,
        on_conflict: OnConflict,
        bad_rows: BadRows,
        batch_size: int,
        progress: Progress,
        options: ImportOptions,
        dry_run: bool = False,
    ) -> None:
        self.dry_run = dry_run
        self.conn = conn
        self.source = source
        self.report = report
        self.only = [t.lower() for t in tables] if tables else None
        self.on_conflict = on_conflict
        self.bad_rows = bad_rows
        self.batch_size = batch_size
        self.progress = progress
        self.options = options
        self.converters = Converters(options)
        self.catalog: dict[str, TargetTable] = {}
        self._empty_absent: dict[str, set[str]] = {}

    # -- planning ---------------------------------------------------------------------

    def run(self) -> None:
        self.catalog = load_catalog(self.conn)
        chosen = self._chosen_sources()
        expansions: list[Expansion] = []
        for detect in DETECTORS:
            found = detect(self, chosen)
            if found is not None:
                expansions.append(found)
                self.report.expansions.append(found.name)
                for name in found.source_tables:
                    chosen.pop(name, None)
        plans = self._plans(chosen)
        if not plans and not expansions:
            raise PlanError(
                f"no table of {str(self.source.path)!r} matches a table of the target "
                "schema; is the target migrated?"
            )
        for plan in plans:
            if plan.ignored:
                self.report.ignored_columns[plan.source.name] = plan.ignored
            for column, how in plan.derived.items():
                self.report.derived_columns[f"{plan.target.name}.{column}"] = how
        for expansion in expansions:
            expansion.check_target()
        for plan in plans:
            preflight(self, plan)
        before = {p.target.name: self.count_target(p.target.name) for p in plans}
        overlaps = [o for p in plans if before[p.target.name] for o in self._overlaps(p)]
        for expansion in expansions:
            overlaps += expansion.overlaps()
        if overlaps and self.on_conflict == "error":
            raise ConflictError(overlaps)
        log.info(
            "importing %s: tables %s%s",
            self.source.path,
            ", ".join(p.target.name for p in plans),
            "".join(f" + {e.name}" for e in expansions),
        )
        for expansion in expansions:
            expansion.run_before()
        for plan in plans:
            self._copy_table(plan)
        for expansion in expansions:
            expansion.run_after()
        problems: list[str] = []
        for plan in plans:
            added = self.count_target(plan.target.name) - before[plan.target.name]
            problems += count_problems(plan.target.name, self.report.table(plan.target.name), added)
        refuse(problems)
        for expansion in expansions:
            expansion.verify()
        self._move_sequences(plans)
        log.info("verified %s: %d rows imported", self.source.path, self.report.imported)
        self._fill_report()

    def _fill_report(self) -> None:
        conv, report = self.converters, self.report
        report.naive_timestamps = conv.naive_timestamps
        report.naive_columns = conv.naive_columns
        report.naive_reads = {
            w: (r.count, r.zone, r.origin) for w, r in sorted(conv.naive.items()) if r.count
        }
        report.defaulted_nulls = conv.defaulted
        report.defaulted_columns = sorted(conv.defaulted_columns)
        report.filled = dict(sorted(conv.filled.items()))
        report.empty_as_null = dict(sorted(conv.empty_absent.items()))
        report.value_mappings = conv.mapped()

    def _chosen_sources(self) -> dict[str, SourceTable]:
        tables = self.source.tables
        if self.only is not None:
            unknown = [t for t in self.only if t not in tables]
            if unknown:
                raise PlanError(
                    f"no table(s) {', '.join(unknown)} in {str(self.source.path)!r} "
                    f"(it has: {', '.join(sorted(t.name for t in tables.values())) or 'none'})"
                )
            return {name: tables[name] for name in self.only}
        return dict(tables)

    def _plans(self, chosen: dict[str, SourceTable]) -> list[TablePlan]:
        targets: list[TargetTable] = []
        sources: dict[str, SourceTable] = {}
        for name, table in sorted(chosen.items()):
            target = self.catalog.get(name)
            if target is None:
                if self.only is not None:
                    raise PlanError(f"target database has no table {name!r}")
                self.report.ignored_tables.append(table.name)
                continue
            targets.append(target)
            sources[target.name] = table
        return [
            plan_table(t, sources[t.name], derived_columns(t, sources[t.name]), self.options)
            for t in dependency_order(targets)
        ]

    # -- helpers shared with the expansions (ImportContext) ----------------------------

    def converters_for(
        self, table: TargetTable, columns: Sequence[TargetColumn], *, counted: bool = True
    ) -> list[Converter]:
        """Converters for ``columns``; ``counted=False`` for a look-ahead pass whose naive
        timestamps, mappings and defaulted NULLs must not be counted twice."""
        defaults = null_defaults(self.conn, table, columns)
        if table.name not in self._empty_absent:
            self._empty_absent[table.name] = empty_means_absent(self.conn, table, table.columns)
        empty = self._empty_absent[table.name]
        converters = self.converters if counted else Converters(self.options)
        return [
            converters.for_column(table, c, defaults.get(c.name), empty_absent=c.name in empty)
            for c in columns
        ]

    def writer(
        self,
        table: TargetTable,
        columns: Sequence[TargetColumn],
        *,
        on_conflict: OnConflict,
        bad_rows: Rejecter | None = None,
    ) -> TableWriter:
        return TableWriter(
            self.conn, table, columns, on_conflict=on_conflict, bad_rows=bad_rows or self.bad_rows
        )

    def count_target(self, table: str) -> int:
        row = self.conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        ).fetchone()
        return int(row[0]) if row else 0

    # -- conflicts ----------------------------------------------------------------------

    def _overlaps(self, plan: TablePlan) -> list[Overlap]:
        """Source rows whose primary or unique key the (non-empty) target already holds."""
        found: list[Overlap] = []
        mapped = {c.name: s for c, s in zip(plan.columns, plan.source_columns, strict=True)}
        for index, key in plan.target.unique_keys:
            if not all(k in mapped for k in key):
                continue
            cols = [plan.target.column(k) for k in key]
            if any(c.is_array or c.base in ("json", "jsonb") for c in cols):
                continue
            convs = self.converters_for(plan.target, cols, counted=False)
            count, example = overlap_count(
                self.conn,
                plan.target.name,
                cols,
                (
                    _convert_quietly(convs, row)
                    for batch in self.source.batches(
                        plan.source, [mapped[k] for k in key], batch_size=self.batch_size
                    )
                    for row in batch
                ),
                batch_size=self.batch_size,
            )
            if count:
                shown = dict(zip(key, example or (), strict=False))
                found.append((plan.target.name, f"{index}: {', '.join(key)}", count, shown))
        return found

    # -- copying ------------------------------------------------------------------------

    def _copy_table(self, plan: TablePlan) -> None:
        target = plan.target
        counts = TableReport(target.name, plan.source.name, self.source.count(plan.source))
        self.report.tables.append(counts)
        convs = self.converters_for(target, plan.columns)
        read = plan.read_columns
        key_at = [read.index(k) for k in plan.key_columns]
        names = [c.name for c in plan.columns]
        writer = self.writer(target, plan.columns, on_conflict=self.on_conflict)
        self.progress.start(target.name, counts.source_rows)
        try:
            for batch in self.source.batches(plan.source, read, batch_size=self.batch_size):
                rows: list[tuple[Any, ...]] = []
                raws: list[Sequence[Any]] = []
                for raw in batch:
                    out = self._convert(plan, convs, plan.prepare(raw), key_at)
                    if out is None:
                        counts.skipped_bad += 1
                    else:
                        rows.append(out)
                        raws.append(raw)

                def key_of(i: int, raws: list[Sequence[Any]] = raws) -> Any:
                    return _key(plan.key_columns, raws[i], key_at)

                def raw_of(i: int, column: str | None, raws: list[Sequence[Any]] = raws) -> Any:
                    # one column: its source value; "a, b" (a key or a CHECK): a dict of them
                    if column in names:
                        return raws[i][names.index(column)]
                    parts = (column or "").split(", ")
                    if len(parts) > 1 and all(p in names for p in parts):
                        return {p: raws[i][names.index(p)] for p in parts}
                    return None

                inserted, bad, existing = writer.write(rows, key_of, raw_of)
                counts.imported += inserted
                counts.skipped_bad += bad
                counts.skipped_existing += existing
                self.progress.advance(len(batch))
        finally:
            writer.close()
            self.progress.finish()

    def _convert(
        self, plan: TablePlan, convs: list[Converter], raw: Sequence[Any], key_at: list[int]
    ) -> tuple[Any, ...] | None:
        out = []
        for i, conv in enumerate(convs):
            try:
                out.append(conv(raw[i]))
            except ConversionError as exc:
                self.bad_rows.reject(
                    BadRowError(
                        plan.target.name,
                        _key(plan.key_columns, raw, key_at),
                        plan.columns[i].name,
                        raw[i],
                        str(exc),
                    )
                )
                return None
        return tuple(out)

    def _move_sequences(self, plans: list[TablePlan]) -> None:
        for plan in plans:
            for col in plan.columns:
                if col.identity or (col.has_default and col.base in ("int2", "int4", "int8")):
                    value = move_sequence(
                        self.conn, plan.target.name, col.name, dry_run=self.dry_run
                    )
                    if value is not None:
                        self.report.sequences[f"{plan.target.name}.{col.name}"] = value


def _key(names: Sequence[str], raw: Sequence[Any], at: Sequence[int]) -> Any:
    return {n: raw[i] for n, i in zip(names, at, strict=True)}


def _convert_quietly(convs: Sequence[Converter], row: Sequence[Any]) -> tuple[Any, ...] | None:
    try:
        return tuple(conv(v) for conv, v in zip(convs, row, strict=True))
    except ConversionError:
        return None
