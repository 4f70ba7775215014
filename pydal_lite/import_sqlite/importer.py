"""The import: match tables, refuse overlaps, copy in FK order, verify counts; one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from ..dsn import describe
from ..errors import InvalidInput
from . import legacy_agent_runtime as legacy
from .catalog import TargetColumn, TargetTable, dependency_order, load_catalog, null_defaults
from .convert import ConversionError, Converter, Converters
from .copy import BadRows, OnConflict, Rejecter, TableWriter
from .errors import BadRowError, ConflictError, PlanError, VerificationError
from .progress import Progress
from .report import ImportReport, TableReport
from .source import Expr, Source, SourceTable

log = logging.getLogger("pydal_lite.import_sqlite")

DEFAULT_BATCH_SIZE = 5000


@dataclass
class TablePlan:
    """How one SQLite table goes into one target table."""

    target: TargetTable
    source: SourceTable
    columns: list[TargetColumn]  # target columns written, in order
    source_columns: list[str]  # the SQLite column read for each of them
    key_columns: list[str]  # the SQLite columns that name a row in messages
    ignored: list[str] = field(default_factory=list)

    @property
    def read_columns(self) -> list[str]:
        return self.source_columns + [k for k in self.key_columns if k not in self.source_columns]


def plan_table(
    target: TargetTable, source: SourceTable, derived: dict[str, Expr] | None = None
) -> TablePlan:
    """Match columns by name (case-insensitively); refuse a required column with no source.

    ``derived`` gives SQLite expressions for target columns the source lacks.
    """
    by_lower = {c.lower(): c for c in source.columns}
    derived = derived or {}
    columns: list[TargetColumn] = []
    source_columns: list[str] = []
    for col in target.columns:
        src: str | None = by_lower.pop(col.name.lower(), None)
        if src is None and col.name in derived:
            src = derived[col.name]
        if src is not None and not col.generated:
            columns.append(col)
            source_columns.append(src)
        elif (
            src is None
            and col.not_null
            and not col.has_default
            and not col.identity
            and not col.generated
        ):
            raise PlanError(
                f"target column {target.name}.{col.name} is not null and has no default, "
                f"but SQLite table {source.name} has no column {col.name!r} "
                "(a different table of the same name? leave it out with --tables)"
            )
    if not columns:
        raise PlanError(f"SQLite table {source.name} shares no column with target {target.name}")
    return TablePlan(
        target=target,
        source=source,
        columns=columns,
        source_columns=source_columns,
        key_columns=list(source.key_columns()),
        ignored=sorted(by_lower.values()),
    )


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
        self.converters = Converters()
        self.catalog: dict[str, TargetTable] = {}

    # -- planning ---------------------------------------------------------------------

    def run(self) -> None:
        self.catalog = load_catalog(self.conn)
        chosen = self._chosen_sources()
        expander = legacy.detect(self, chosen)
        if expander is not None:
            self.report.legacy_agent_runtime = True
            for name in expander.source_tables:
                chosen.pop(name, None)
        plans = self._plans(chosen)
        if not plans and expander is None:
            raise PlanError(
                f"no table of {str(self.source.path)!r} matches a table of the target "
                "schema; is the target migrated?"
            )
        for plan in plans:
            if plan.ignored:
                self.report.ignored_columns[plan.source.name] = plan.ignored
                self.progress.message(
                    f"note: {plan.source.name}: column(s) {', '.join(plan.ignored)} have no "
                    f"target column in {plan.target.name} and are not imported"
                )
        if expander is not None:
            expander.check_target()
        before = {p.target.name: self.count_target(p.target.name) for p in plans}
        overlaps = [o for p in plans if before[p.target.name] for o in self._overlaps(p)]
        if expander is not None:
            overlaps += expander.overlaps()
        if overlaps and self.on_conflict == "error":
            raise ConflictError(overlaps)
        log.info(
            "importing %s: tables %s%s",
            self.source.path,
            ", ".join(p.target.name for p in plans),
            " + the old agent-runtime layout" if expander is not None else "",
        )
        if expander is not None:
            expander.run_sessions()
        for plan in plans:
            self._copy_table(plan)
        if expander is not None:
            expander.run_contexts()
        self._verify(plans, before)
        if expander is not None:
            expander.verify()
        self._move_sequences(plans)
        log.info("verified %s: %d rows imported", self.source.path, self.report.imported)
        self.report.naive_timestamps = self.converters.naive_timestamps
        self.report.naive_columns = sorted(self.converters.naive_columns)
        self.report.defaulted_nulls = self.converters.defaulted
        self.report.defaulted_columns = sorted(self.converters.defaulted_columns)

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
                self.progress.message(
                    f"note: SQLite table {table.name} has no target table and is not imported"
                )
                continue
            targets.append(target)
            sources[target.name] = table
        return [
            plan_table(t, sources[t.name], legacy.derived_columns(t, sources[t.name]))
            for t in dependency_order(targets)
        ]

    # -- helpers shared with the legacy expander ---------------------------------------

    def converters_for(
        self, table: TargetTable, columns: Sequence[TargetColumn], *, counted: bool = True
    ) -> list[Converter]:
        """Converters for ``columns``; ``counted=False`` for a look-ahead pass whose naive
        timestamps and defaulted NULLs must not be counted twice."""
        defaults = null_defaults(self.conn, table, columns)
        converters = self.converters if counted else Converters()
        return [converters.for_column(table.name, c, defaults.get(c.name)) for c in columns]

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

    def _overlaps(self, plan: TablePlan) -> list[tuple[str, str, int, Any]]:
        """Source rows whose primary or unique key the (non-empty) target already holds."""
        found: list[tuple[str, str, int, Any]] = []
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
        writer = self.writer(target, plan.columns, on_conflict=self.on_conflict)
        self.progress.start(target.name, counts.source_rows)
        try:
            for batch in self.source.batches(plan.source, read, batch_size=self.batch_size):
                rows: list[tuple[Any, ...]] = []
                raws: list[tuple[Any, ...]] = []
                for raw in batch:
                    out = self._convert(plan, convs, raw, key_at)
                    if out is None:
                        counts.skipped_bad += 1
                    else:
                        rows.append(out)
                        raws.append(raw)

                def key_of(i: int, raws: list[tuple[Any, ...]] = raws) -> Any:
                    return _key(plan.key_columns, raws[i], key_at)

                def raw_of(i: int, column: str | None, raws: list[tuple[Any, ...]] = raws) -> Any:
                    # one column: its source value; "a, b" (a key or a CHECK): a dict of them
                    names = [c.name for c in plan.columns]
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
        self, plan: TablePlan, convs: list[Converter], raw: tuple[Any, ...], key_at: list[int]
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

    # -- after copying ------------------------------------------------------------------

    def _verify(self, plans: list[TablePlan], before: dict[str, int]) -> None:
        problems = []
        for plan in plans:
            counts = self.report.table(plan.target.name)
            added = self.count_target(plan.target.name) - before[plan.target.name]
            if not counts.accounted:
                problems.append(
                    f"{plan.target.name}: {counts.source_rows} source rows but {counts.imported} "
                    f"imported + {counts.skipped} skipped"
                )
            if added != counts.imported:
                problems.append(
                    f"{plan.target.name}: {counts.imported} rows copied "
                    f"but the table grew by {added}"
                )
        if problems:
            raise VerificationError(
                "row counts do not match; everything was rolled back:\n  " + "\n  ".join(problems)
            )

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


def overlap_count(
    conn: psycopg.Connection[Any],
    table: str,
    cols: Sequence[TargetColumn],
    keys: Any,
    *,
    batch_size: int,
) -> tuple[int, tuple[Any, ...] | None]:
    """How many of ``keys`` (tuples of converted values) ``table`` already holds, and one."""
    names = [f"k{i}" for i in range(len(cols))]
    query = sql.SQL(
        "select {knames} from unnest({arrays}) as k({knames})"
        " where exists (select 1 from {table} t where {match})"
    ).format(
        knames=sql.SQL(", ").join(map(sql.Identifier, names)),
        arrays=sql.SQL(", ").join(
            sql.SQL("%s::{}[]").format(sql.SQL(c.type_name))
            for c in cols  # type: ignore[arg-type]
        ),
        table=sql.Identifier(table),
        match=sql.SQL(" and ").join(
            sql.SQL("t.{} = k.{}").format(sql.Identifier(c.name), sql.Identifier(n))
            for c, n in zip(cols, names, strict=True)
        ),
    )
    count = 0
    example: tuple[Any, ...] | None = None
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal count, example
        arrays = [list(col) for col in zip(*batch, strict=True)]
        found = conn.execute(query, arrays).fetchall()
        if found and example is None:
            example = tuple(found[0])
        count += len(found)
        batch.clear()

    for key in keys:
        if key is None or any(v is None for v in key):
            continue
        batch.append(key)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return count, example


def move_sequence(
    conn: psycopg.Connection[Any], table: str, column: str, *, dry_run: bool = False
) -> int | None:
    """Set the column's identity/serial sequence past the largest id; never move it back.

    Sequences are not transactional (a rollback does not undo ``setval``), so a dry run
    only computes the value. That does not make a dry run leave every sequence as it
    was: ids drawn during the copy (``nextval`` for the old layout's sessions and agent
    contexts, column defaults for rows the source gives no id) stay used after the
    rollback -- a gap in later ids, harmless, and the same after a failed import.
    """
    row = conn.execute(
        "select pg_get_serial_sequence(%s, %s)", (sql.Identifier(table).as_string(conn), column)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    seq = row[0]
    value: sql.Composable = sql.SQL(
        "greatest(m, coalesce(pg_sequence_last_value(%(seq)s::regclass), m))"
    )
    if not dry_run:
        value = sql.SQL("setval(%(seq)s::regclass, {})").format(value)
    result = conn.execute(
        sql.SQL("select {} from (select max({}) as m from {}) s where m is not null").format(
            value, sql.Identifier(column), sql.Identifier(table)
        ),
        {"seq": seq},
    ).fetchone()
    return int(result[0]) if result else None


def import_sqlite(
    path: str | Path,
    dsn_or_conn: str | psycopg.Connection[Any],
    *,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    on_conflict: OnConflict = "error",
    skip_bad_rows: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Copy the rows of the SQLite file ``path`` into the migrated PostgreSQL schema.

    Tables are matched by name, columns by name, parents before children; values are
    converted the way SQLAlchemy wrote them (see :mod:`.convert`). The old two-table
    agent-runtime layout is expanded (see :mod:`.legacy_agent_runtime`). Everything
    runs in one transaction, at ``repeatable read`` when this call starts it: on any
    error, or when the counts do not add up, no row is left behind. With ``dry_run``
    the whole import runs and is then rolled back. Sequences are not transactional: ids
    drawn from them before a rollback stay used (a gap; see :func:`move_sequence`).

    ``on_conflict``: ``"error"`` refuses (:class:`ConflictError`) when the target already
    holds rows with the same primary or unique keys; ``"skip"`` leaves those rows alone
    (children referencing them attach to the existing rows). Either way two source rows
    with one key after conversion are a bad row ("duplicate of an earlier row in the
    file"), never "skipped existing".
    ``skip_bad_rows``: a file to write rows that cannot be converted or that the target
    rejects (JSON lines: table, key, column, value, reason) instead of stopping with
    :class:`BadRowError`. ``dsn_or_conn``: a DSN, or an open connection (its current
    transaction, if any, is used through a savepoint; it is not closed).
    """
    if on_conflict not in ("error", "skip"):
        raise InvalidInput(f"on_conflict must be 'error' or 'skip', got {on_conflict!r}")
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be positive, got {batch_size!r}")
    started = time.monotonic()
    progress = progress or Progress()
    with Source(path) as source:
        own = isinstance(dsn_or_conn, str)
        conn: psycopg.Connection[Any] = (
            psycopg.connect(dsn_or_conn, application_name="pydal_lite.import_sqlite")
            if isinstance(dsn_or_conn, str)
            else dsn_or_conn
        )
        target = describe(dsn_or_conn) if isinstance(dsn_or_conn, str) else describe(conn.info.dsn)
        report = ImportReport(path=str(path), target=target, dry_run=dry_run)
        bad_rows = BadRows(skip_bad_rows)
        report.bad_rows_file = str(skip_bad_rows) if skip_bad_rows is not None else None
        row_factory = conn.row_factory
        conn.row_factory = tuple_row  # type: ignore[assignment]  # restored below
        try:
            top_level = conn.info.transaction_status == TransactionStatus.IDLE
            with conn.transaction() as tx:
                if top_level:
                    conn.execute("set transaction isolation level repeatable read")
                Importer(
                    conn,
                    source,
                    report,
                    tables=tables,
                    on_conflict=on_conflict,
                    bad_rows=bad_rows,
                    batch_size=batch_size,
                    progress=progress,
                    dry_run=dry_run,
                ).run()
                if dry_run:
                    raise psycopg.Rollback(tx)
            report.committed = not dry_run
        finally:
            conn.row_factory = row_factory
            bad_rows.close()
            if own:
                conn.close()
    report.seconds = time.monotonic() - started
    return report
