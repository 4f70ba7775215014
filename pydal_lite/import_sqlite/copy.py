"""Write converted rows into one target table through COPY, a batch at a time.

Each batch runs in a savepoint. With ``on_conflict="error"`` the batch is copied
straight into the table. With ``"skip"`` it is copied into a temporary staging table
that has the target's column types, defaults and CHECK constraints (plus the row's
place in the batch), and each staged row is judged on every primary/unique key:

* its key was in the target before the import: skipped as already present;
* its key equals an earlier row of the same file (earlier in the batch, or already
  imported by this run, which a second temporary table of imported keys remembers):
  a bad row, "duplicate of an earlier row in the file" -- two SQLite rows that are one
  row after conversion (``'2024-03-10 02:30:00'`` and ``'2024-03-10T02:30:00Z'``)
  must not pass for data the target already had;

the rest is moved with a plain ``insert``. Identity ``always`` columns take the
source's ids as they are (COPY writes them; the insert says ``overriding system
value``).

When the server rejects a row (a CHECK, a foreign key, a duplicate key, a value the
type refuses) the savepoint is rolled back and the row is located from the error
(COPY's ``line N`` context, or the foreign key's ``Key (...)=(...)`` detail), and its
column from the error or, for a CHECK or key constraint, from ``pg_constraint``. The
caller's :class:`BadRows` either raises (naming the table, the row's key and the
column or constraint) or records the row, and the batch is retried without it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.pq import TransactionStatus

from .catalog import TargetColumn, TargetTable
from .errors import BadRowError

OnConflict = Literal["error", "skip"]
KeyOf = Callable[[int], Any]

_LINE = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")
_FK_DETAIL = re.compile(r"Key \((.+)\)=\((.*)\) is not present in table")
_staging_ids = itertools.count(1)


class Rejecter(Protocol):
    """Takes a rejected row: raises it, or records it and returns."""

    def reject(self, error: BadRowError) -> None: ...


class BadRows:
    """Where rejected rows go: raise (the default) or append to a JSON-lines file."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self._file: TextIO | None = None
        if self.path is not None:
            self._file = self.path.open("w", encoding="utf-8")

    @property
    def skipping(self) -> bool:
        return self._file is not None

    def reject(self, error: BadRowError) -> None:
        """Raise ``error``, or record it and return when skipping bad rows."""
        if self._file is None:
            raise error
        self._file.write(error.as_json() + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _located(
    exc: psycopg.Error, rows: Sequence[Sequence[Any]], names: Sequence[str]
) -> tuple[int | None, str | None]:
    """The index in ``rows`` of the row the server rejected, and the column if known."""
    context = exc.diag.context or ""
    m = _LINE.search(context)
    if m is not None:
        index = int(m.group(1)) - 1
        return (index if 0 <= index < len(rows) else None), m.group(2) or exc.diag.column_name
    if isinstance(exc, pgerrors.ForeignKeyViolation):
        d = _FK_DETAIL.search(exc.diag.message_detail or "")
        if d is not None:
            cols = [c.strip().strip('"') for c in d.group(1).split(",")]
            vals = [v.strip() for v in d.group(2).split(",")] if len(cols) > 1 else [d.group(2)]
            if all(c in names for c in cols) and len(vals) == len(cols):
                idx = [names.index(c) for c in cols]
                for i, row in enumerate(rows):
                    if [str(row[j]) for j in idx] == vals:
                        return i, ", ".join(cols)
    return None, exc.diag.column_name


def _constraint_columns(
    conn: psycopg.Connection[Any], table: str, exc: psycopg.Error
) -> str | None:
    """The column(s) of the constraint ``exc`` names, on ``table`` (e.g. a CHECK)."""
    name = exc.diag.constraint_name
    if not name:
        return None
    row = conn.execute(
        "select string_agg(a.attname, ', ' order by a.attnum)"
        " from pg_constraint c"
        " join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)"
        " where c.conrelid = %s::regclass and c.conname = %s",
        (sql.Identifier(table).as_string(conn), name),
    ).fetchone()
    return str(row[0]) if row and row[0] else None


class _Duplicates(Exception):
    """Rows of a staged batch whose key an earlier row of the file already has."""

    def __init__(self, found: list[tuple[int, str, tuple[str, ...]]]) -> None:
        super().__init__(f"{len(found)} duplicate row(s)")
        self.found = found  # (index in the batch, key name, key columns), in batch order


def _reason(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    detail = exc.diag.message_detail
    return f"{primary} ({detail})" if detail and "Failing row" not in detail else primary


class TableWriter:
    """COPY batches of converted rows into ``table``'s ``columns``."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        table: TargetTable,
        columns: Sequence[TargetColumn],
        *,
        on_conflict: OnConflict = "error",
        bad_rows: Rejecter,
    ) -> None:
        self.conn = conn
        self.table = table
        self.names = [c.name for c in columns]
        self.on_conflict = on_conflict
        self.bad_rows = bad_rows
        cols = sql.SQL(", ").join(map(sql.Identifier, self.names))
        target = sql.Identifier(table.name)
        self._staging: sql.Identifier | None = None
        self._done: sql.Identifier | None = None
        if on_conflict == "skip":
            n = next(_staging_ids)
            self._staging = sql.Identifier(f"_pydal_import_{n}")
            # keys the rows are judged on: those whose columns are all written
            self._keys = [
                (name, key) for name, key in table.unique_keys if set(key) <= set(self.names)
            ]
            self._create_staging()
            self._copy = sql.SQL("copy {} ({}, _pydal_n) from stdin").format(self._staging, cols)
            overriding = sql.SQL(
                " overriding system value" if any(c.identity == "a" for c in columns) else ""
            )
            self._move = sql.SQL(
                "insert into {} ({}){} select {} from {} order by _pydal_n"
            ).format(target, cols, overriding, cols, self._staging)
            self._clear = sql.SQL("truncate {}").format(self._staging)
            key_cols = sorted({c for _, key in self._keys for c in key}, key=self.names.index)
            if key_cols:
                self._done = sql.Identifier(f"_pydal_import_{n}_done")
                kc = sql.SQL(", ").join(map(sql.Identifier, key_cols))
                self._create_done(kc)
                self._remember = sql.SQL("insert into {} ({}) select {} from {}").format(
                    self._done, kc, kc, self._staging
                )
                self._drop_existing, self._duplicates = self._judging(target, self._done)
        else:
            self._copy = sql.SQL("copy {} ({}) from stdin").format(target, cols)

    def _judging(
        self, target: sql.Identifier, done: sql.Identifier
    ) -> tuple[sql.Composed, sql.Composed]:
        """Two statements on the staged batch: delete the rows whose key the target held
        before the import (any key matches a target row this run did not import), then
        list the rest that repeat a key (earlier in the batch, or imported by this run):
        (place, index of the key)."""
        assert self._staging is not None

        def match(alias: str, key: Sequence[str]) -> sql.Composable:
            return sql.SQL(" and ").join(
                sql.SQL("{}.{} = s.{}").format(
                    sql.Identifier(alias), sql.Identifier(c), sql.Identifier(c)
                )
                for c in key
            )

        def holds(table: sql.Identifier, alias: str, key: Sequence[str]) -> sql.Composable:
            return sql.SQL("exists (select 1 from {} {} where {})").format(
                table, sql.Identifier(alias), match(alias, key)
            )

        existing = sql.SQL(" or ").join(
            sql.SQL("({} and not {})").format(holds(target, "t", key), holds(done, "d", key))
            for _, key in self._keys
        )
        drop = sql.SQL("delete from {} s where {}").format(self._staging, existing)
        ranks = sql.SQL(", ").join(
            sql.SQL("row_number() over (partition by {} order by _pydal_n) as {}").format(
                sql.SQL(", ").join(map(sql.Identifier, key)), sql.Identifier(f"_pydal_r{i}")
            )
            for i, (_, key) in enumerate(self._keys)
        )
        which = sql.SQL(" ").join(
            sql.SQL("when {} and ({} > 1 or {}) then {}").format(
                sql.SQL(" and ").join(
                    sql.SQL("s.{} is not null").format(sql.Identifier(c)) for c in key
                ),
                sql.Identifier("s", f"_pydal_r{i}"),
                holds(done, "d", key),
                sql.Literal(i),
            )
            for i, (_, key) in enumerate(self._keys)
        )
        duplicates = sql.SQL(
            "select n, k from (select s._pydal_n as n, case {} end as k"
            " from (select {}, _pydal_n, {} from {}) s) x where k is not null order by n"
        ).format(which, sql.SQL(", ").join(map(sql.Identifier, self.names)), ranks, self._staging)
        return drop, duplicates

    def _create_done(self, key_cols: sql.Composable) -> None:
        """The keys this run has imported so far (to tell them from pre-existing rows)."""
        assert self._done is not None
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("create temp table {} on commit drop as select {} from {} limit 0").format(
                    self._done, key_cols, sql.Identifier(self.table.name)
                )
            )
            for _, key in self._keys:
                cur.execute(
                    sql.SQL("create index on {} ({})").format(
                        self._done, sql.SQL(", ").join(map(sql.Identifier, key))
                    )
                )

    def _create_staging(self) -> None:
        assert self._staging is not None
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "create temp table {} (like {} including defaults including constraints)"
                    " on commit drop"
                ).format(self._staging, sql.Identifier(self.table.name))
            )
            for col in self.table.columns:
                if col.name not in self.names:
                    cur.execute(
                        sql.SQL("alter table {} drop column {}").format(
                            self._staging, sql.Identifier(col.name)
                        )
                    )
            # the row's place in the batch: judged rows are named by it
            cur.execute(sql.SQL("alter table {} add column _pydal_n integer").format(self._staging))

    def close(self) -> None:
        """Drop the staging tables (they would go at commit or rollback anyway)."""
        for staging in (self._staging, self._done):
            if staging is not None and (
                self.conn.info.transaction_status == TransactionStatus.INTRANS
            ):
                self.conn.execute(sql.SQL("drop table if exists {}").format(staging))
        self._staging = self._done = None

    def write(
        self, rows: list[tuple[Any, ...]], key_of: KeyOf, raw_of: Callable[[int, str | None], Any]
    ) -> tuple[int, int, int]:
        """Copy ``rows``; returns (inserted, rejected as bad, skipped as already present).

        ``key_of(i)`` and ``raw_of(i, column)`` give the source key and source value of
        ``rows[i]`` for error messages. ``rows`` may be shortened (rejected rows removed).
        """
        alive = list(range(len(rows)))
        rejected = 0
        while alive:
            batch = [rows[i] for i in alive]
            try:
                with self.conn.transaction():
                    inserted, existing = self._write(batch)
            except _Duplicates as dup:
                for pos, index, key in dup.found:
                    source_index = alive[pos]
                    cols = ", ".join(key)
                    self.bad_rows.reject(
                        BadRowError(
                            self.table.name,
                            key_of(source_index),
                            cols,
                            raw_of(source_index, cols),
                            f"duplicate of an earlier row in the file ({index}: {cols})",
                        )
                    )
                for pos in sorted((p for p, _, _ in dup.found), reverse=True):
                    del alive[pos]
                rejected += len(dup.found)
                continue
            except psycopg.Error as exc:
                if isinstance(exc, (psycopg.OperationalError, pgerrors.QueryCanceled)):
                    raise
                at, column = _located(exc, batch, self.names)
                if column is None:
                    column = _constraint_columns(self.conn, self.table.name, exc)
                if at is None:
                    raise BadRowError(
                        self.table.name, None, column, None, _reason(exc) + " (row not located)"
                    ) from exc
                source_index = alive[at]
                self.bad_rows.reject(
                    BadRowError(
                        self.table.name,
                        key_of(source_index),
                        column,
                        raw_of(source_index, column),
                        _reason(exc),
                    )
                )
                del alive[at]
                rejected += 1
                continue
            return inserted, rejected, existing
        return 0, rejected, 0

    def _write(self, batch: list[tuple[Any, ...]]) -> tuple[int, int]:
        """Copy ``batch``; returns (inserted, skipped as already present)."""
        with self.conn.cursor() as cur:
            with cur.copy(self._copy) as copy:
                if self._staging is None:
                    for row in batch:
                        copy.write_row(row)
                else:
                    for n, row in enumerate(batch):
                        copy.write_row((*row, n))
            if self._staging is None:
                return len(batch), 0
            existing = 0
            if self._done is not None:
                existing = cur.execute(self._drop_existing).rowcount
                found = [(n, *self._keys[k]) for n, k in cur.execute(self._duplicates).fetchall()]
                if found:
                    raise _Duplicates(found)  # the savepoint goes; the caller rejects them
            cur.execute(self._move)
            inserted = cur.rowcount
            if self._done is not None:
                cur.execute(self._remember)
            cur.execute(self._clear)
            return inserted, existing
