"""Wide source rows into long target rows, as the options file's ``[[wide]]`` declares.

A legacy table with one column per measured quantity::

    measurements(calc_id, ts, mass, moisture)

becomes rows of a long target table (``calculation_data(calculation_id, observed_at,
metric, value)``): one row per non-NULL cell of the declared metric columns, the key
columns copied to every row. A NULL cell is no measurement and no row.

It runs like any other table of the import: the same converters (declared zones and
value mappings use the *target's* table and column names), the same overlap check
before copying, the same bad-row handling, in the same transaction, and it is verified
the same way before the commit: per table (non-NULL cells = imported + skipped) and
per metric (the target holds exactly the imported cells of each metric more than
before).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg import sql

from .badrows import BadRows
from .catalog import TargetColumn, TargetTable
from .context import ImportContext, Overlap
from .convert import Converter
from .copy import TableWriter
from .errors import BadRowError, PlanError
from .options import WideMapping
from .report import TableReport
from .source import SourceTable, quote, select
from .timestamps import ConversionError
from .verify import count_problems, overlap_count, refuse


class _ByMetric:
    """Passes rejected rows on and counts them per metric."""

    def __init__(self, inner: BadRows) -> None:
        self.inner = inner
        self.counts: dict[str, int] = {}

    @property
    def skipping(self) -> bool:
        return self.inner.skipping

    def reject(self, error: BadRowError) -> None:
        self.inner.reject(error)
        metric = error.key.get("metric") if isinstance(error.key, dict) else None
        self.counts[str(metric)] = self.counts.get(str(metric), 0) + 1


class _Mapping:
    """One declared mapping, planned against the source and the target."""

    def __init__(self, ctx: ImportContext, spec: WideMapping, source: SourceTable) -> None:
        self.spec, self.source = spec, source
        where = f"wide mapping {spec.source} -> {spec.target}"
        target = ctx.catalog.get(spec.target)
        if target is None:
            raise PlanError(f"{where}: the target database has no table {spec.target!r}")
        self.target: TargetTable = target
        wanted = [*spec.keys, spec.metric_column, spec.value_column]
        missing = [c for c in wanted if c not in target.by_name]
        if missing:
            raise PlanError(f"{where}: target table has no column(s) {', '.join(missing)}")
        required = [
            c.name
            for c in target.columns
            if c.not_null
            and not c.has_default
            and not c.identity
            and not c.generated
            and c.name not in wanted
        ]
        if required:
            raise PlanError(f"{where}: target column(s) {', '.join(required)} get no value")
        by_lower = {c.lower(): c for c in source.columns}
        self.read: list[str] = []
        for src in [*spec.keys.values(), *spec.metrics.values()]:
            actual = by_lower.get(src.lower())
            if actual is None:
                raise PlanError(f"{where}: SQLite table {source.name} has no column {src!r}")
            self.read.append(actual)
        self.columns: list[TargetColumn] = [target.column(c) for c in wanted]
        self.nkeys = len(spec.keys)
        self.metrics = list(spec.metrics)
        self.expected = self._cells(ctx)
        self.rejected = _ByMetric(ctx.bad_rows)
        self.counts = TableReport(
            target.name,
            f"{source.name} (wide, {len(self.metrics)} metrics)",
            sum(self.expected.values()),
        )

    def _cells(self, ctx: ImportContext) -> dict[str, int]:
        """Non-NULL cells of each metric column, counted by SQLite."""
        expr = ", ".join(f"count({quote(c)})" for c in self.read[self.nkeys :])
        row = ctx.source.conn.execute(select(expr, self.source.name)).fetchone()
        return {metric: int(n) for metric, n in zip(self.metrics, row, strict=True)}

    def rows(self, ctx: ImportContext) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        """(key for messages, [keys..., metric, value]) for every non-NULL cell."""
        key_names = list(self.spec.keys)
        for batch in ctx.source.batches(self.source, self.read, batch_size=ctx.batch_size):
            for raw in batch:
                keys = list(raw[: self.nkeys])
                for i, metric in enumerate(self.metrics):
                    value = raw[self.nkeys + i]
                    if value is not None:
                        key = {**dict(zip(key_names, keys, strict=True)), "metric": metric}
                        yield key, [*keys, metric, value]


class WideExpansion:
    """The declared wide-to-long mappings, as one :class:`~.context.Expansion`."""

    name = "wide-to-long mappings"

    def __init__(self, ctx: ImportContext, found: list[tuple[WideMapping, SourceTable]]) -> None:
        self.ctx = ctx
        self.found = found
        self.source_tables = [t.name.lower() for _, t in found]
        self.mappings: list[_Mapping] = []
        self.before: dict[str, dict[str, int]] = {}
        self.name = "wide-to-long: " + ", ".join(
            f"{m.source} -> {m.target} ({', '.join(m.metrics)})" for m, _ in found
        )

    def check_target(self) -> None:
        for spec, table in self.found:
            mapping = _Mapping(self.ctx, spec, table)
            self.mappings.append(mapping)
            self.ctx.report.tables.append(mapping.counts)
            self.before[spec.source] = self._per_metric(mapping)

    def _per_metric(self, m: _Mapping) -> dict[str, int]:
        column = m.spec.metric_column
        rows = self.ctx.conn.execute(
            sql.SQL("select {}, count(*) from {} where {} = any(%s) group by 1").format(
                sql.Identifier(column), sql.Identifier(m.target.name), sql.Identifier(column)
            ),
            (m.metrics,),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def overlaps(self) -> list[Overlap]:
        found: list[Overlap] = []
        for m in self.mappings:
            if not self.ctx.count_target(m.target.name):
                continue
            names = [c.name for c in m.columns]
            for index, key in m.target.unique_keys:
                if not set(key) <= set(names):
                    continue
                at = [names.index(k) for k in key]
                convs = self.ctx.converters_for(m.target, [m.columns[i] for i in at], counted=False)
                count, example = overlap_count(
                    self.ctx.conn,
                    m.target.name,
                    [m.columns[i] for i in at],
                    (_quietly(convs, [values[i] for i in at]) for _, values in m.rows(self.ctx)),
                    batch_size=self.ctx.batch_size,
                )
                if count:
                    shown = dict(zip(key, example or (), strict=False))
                    found.append((m.target.name, f"{index}: {', '.join(key)}", count, shown))
        return found

    def run_before(self) -> None:
        """Nothing: long rows reference the plain tables (e.g. calculations)."""

    def run_after(self) -> None:
        for m in self.mappings:
            self._copy(m)

    def _copy(self, m: _Mapping) -> None:
        ctx = self.ctx
        convs = ctx.converters_for(m.target, m.columns)
        writer = ctx.writer(m.target, m.columns, on_conflict=ctx.on_conflict, bad_rows=m.rejected)
        ctx.progress.start(f"{m.target.name} (from {m.source.name})", m.counts.source_rows)
        rows: list[tuple[Any, ...]] = []
        keys: list[dict[str, Any]] = []
        try:
            for key, values in m.rows(ctx):
                try:
                    rows.append(tuple(c(v) for c, v in zip(convs, values, strict=True)))
                    keys.append(key)
                except ConversionError as exc:
                    column, value = _failed(convs, values, m.columns)
                    m.rejected.reject(BadRowError(m.target.name, key, column, value, str(exc)))
                    m.counts.skipped_bad += 1
                if len(rows) >= ctx.batch_size:
                    self._flush(m, writer, rows, keys)
            self._flush(m, writer, rows, keys)
        finally:
            writer.close()
            ctx.progress.finish()

    def _flush(
        self, m: _Mapping, writer: TableWriter, rows: list[tuple[Any, ...]], keys: list[Any]
    ) -> None:
        frozen = list(keys)
        names = [c.name for c in m.columns]
        values = [list(r) for r in rows]

        def raw_of(i: int, column: str | None) -> Any:
            return values[i][names.index(column)] if column in names else None

        inserted, bad, existing = writer.write(rows, lambda i: frozen[i], raw_of)
        m.counts.imported += inserted
        m.counts.skipped_bad += bad
        m.counts.skipped_existing += existing
        self.ctx.progress.advance(len(rows))
        rows.clear()
        keys.clear()

    def verify(self) -> None:
        problems: list[str] = []
        for m in self.mappings:
            before = self.before[m.spec.source]
            after = self._per_metric(m)
            added_total = sum(after.values()) - sum(before.values())
            problems += count_problems(m.target.name, m.counts, added_total)
            if m.counts.skipped_existing:
                continue  # which metrics the skipped rows had is not tracked: totals only
            bad = m.rejected.counts
            for metric in m.metrics:
                want = m.expected.get(metric, 0) - bad.get(metric, 0)
                got = after.get(metric, 0) - before.get(metric, 0)
                if got != want:
                    problems.append(
                        f"{m.target.name}: metric {metric!r}: {want} cells to import "
                        f"from {m.source.name}, the table gained {got}"
                    )
        refuse(problems)


def _quietly(convs: list[Converter], values: list[Any]) -> tuple[Any, ...] | None:
    try:
        return tuple(c(v) for c, v in zip(convs, values, strict=True))
    except ConversionError:
        return None


def _failed(
    convs: list[Converter], values: list[Any], columns: list[TargetColumn]
) -> tuple[str, Any]:
    for conv, value, col in zip(convs, values, columns, strict=True):
        try:
            conv(value)
        except ConversionError:
            return col.name, value
    return "", None


def detect_wide(ctx: ImportContext, chosen: dict[str, SourceTable]) -> WideExpansion | None:
    """The declared wide mappings whose source tables are among the chosen ones."""
    found: list[tuple[WideMapping, SourceTable]] = []
    for spec in ctx.options.wide:
        table = chosen.get(spec.source.lower())
        if table is None:
            if spec.source.lower() in ctx.source.tables:
                continue  # left out with --tables
            raise PlanError(
                f"wide mapping: SQLite file has no table {spec.source!r} "
                f"(it has: {', '.join(sorted(t.name for t in ctx.source.tables.values()))})"
            )
        found.append((spec, table))
    return WideExpansion(ctx, found) if found else None
