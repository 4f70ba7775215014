"""Write converted rows into one target table through COPY, a batch at a time.

Each batch runs in a savepoint. With ``on_conflict="error"`` the batch is copied
straight into the table. With ``"skip"`` it is copied into a temporary staging table
that has the target's column types, defaults and CHECK constraints, then moved with
``insert ... on conflict do nothing``; rows whose key the target already holds are
counted as skipped. Identity ``always`` columns take the source's ids as they are
(COPY writes them; the insert says ``overriding system value``).

When the server rejects a row (a CHECK, a foreign key, a duplicate key, a value the
type refuses) the savepoint is rolled back and the row is located from the error
(COPY's ``line N`` context, or the foreign key's ``Key (...)=(...)`` detail). The
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
        if on_conflict == "skip":
            self._staging = sql.Identifier(f"_pydal_import_{next(_staging_ids)}")
            self._create_staging()
            self._copy = sql.SQL("copy {} ({}) from stdin").format(self._staging, cols)
            overriding = sql.SQL(
                " overriding system value" if any(c.identity == "a" for c in columns) else ""
            )
            self._move = sql.SQL(
                "insert into {} ({}){} select {} from {} on conflict do nothing"
            ).format(target, cols, overriding, cols, self._staging)
            self._clear = sql.SQL("truncate {}").format(self._staging)
        else:
            self._copy = sql.SQL("copy {} ({}) from stdin").format(target, cols)

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

    def close(self) -> None:
        """Drop the staging table (it would go at commit or rollback anyway)."""
        if self._staging is not None:
            staging, self._staging = self._staging, None
            if self.conn.info.transaction_status == TransactionStatus.INTRANS:
                self.conn.execute(sql.SQL("drop table if exists {}").format(staging))

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
                    inserted = self._write(batch)
            except psycopg.Error as exc:
                if isinstance(exc, (psycopg.OperationalError, pgerrors.QueryCanceled)):
                    raise
                at, column = _located(exc, batch, self.names)
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
            return inserted, rejected, len(batch) - inserted
        return 0, rejected, 0

    def _write(self, batch: list[tuple[Any, ...]]) -> int:
        with self.conn.cursor() as cur:
            with cur.copy(self._copy) as copy:
                for row in batch:
                    copy.write_row(row)
            if self._staging is None:
                return len(batch)
            cur.execute(self._move)
            inserted = cur.rowcount
            cur.execute(self._clear)
            return inserted
