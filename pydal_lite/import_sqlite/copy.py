"""Write converted rows into one target table through COPY, a batch at a time.

Each batch runs in a savepoint. While no row has been refused (and with
``on_conflict="error"``) a batch is copied straight into the table: the fast path. Once
the server refuses a batch, or always with ``on_conflict="skip"``, batches go through a
temporary *staging* table shaped like the target (types and defaults, no constraints,
plus the row's place in the batch) and :mod:`.checks` finds every row the target would
refuse in one query: bad rows cost about what good ones do, instead of one savepoint
and one re-sent batch per bad row. The rest is moved with ``insert ... select``.

With ``"skip"`` each staged row is also judged on every primary/unique key first:

* its key was in the target before the import: skipped as already present;
* its key equals an earlier row of the same file (earlier in the batch, or already
  imported by this run, which a second temporary table of imported keys remembers):
  a bad row, "duplicate of an earlier row in the file" -- two SQLite rows that are one
  row after conversion (``'2024-03-10 02:30:00'`` and ``'2024-03-10T02:30:00Z'``)
  must not pass for data the target already had.

Identity ``always`` columns take the source's ids as they are (COPY writes them; the
insert says ``overriding system value``). A refusal the checks could not foresee (a
type the server refuses, a trigger) is located from the server's error (COPY's
``line N``, a foreign key's ``Key (...)=(...)``) or else by bisecting the batch, and
the batch is retried without that row. The caller's :class:`.BadRows` raises the bad
row (naming table, key, column or constraint) or records it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from .badrows import Rejecter
from .catalog import TargetColumn, TargetTable
from .checks import Rule, existing_keys, staged_rules, violations_query
from .errors import BadRowError
from .locate import constraint_columns, fatal, located, reason

log = logging.getLogger("pydal_lite.import_sqlite")

OnConflict = Literal["error", "skip"]
KeyOf = Callable[[int], Any]
RawOf = Callable[[int, "str | None"], Any]

_staging_ids = itertools.count(1)


class _Undo(Exception):
    """A trial write of part of a batch went through; roll it back (bisection)."""


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
        self._target = sql.Identifier(table.name)
        cols = sql.SQL(", ").join(map(sql.Identifier, self.names))
        self._direct = sql.SQL("copy {} ({}) from stdin").format(self._target, cols)
        self._overriding = any(c.identity == "a" for c in columns)
        self._staging: sql.Identifier | None = None
        self._done: sql.Identifier | None = None
        self.staged_batches = 0
        if on_conflict == "skip":
            self._create_staging()

    # -- staging ---------------------------------------------------------------------------

    def _create_staging(self) -> None:
        n = next(_staging_ids)
        staging = self._staging = sql.Identifier(f"_pydal_import_{n}")
        written = set(self.names)
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("create temp table {} (like {} including defaults) on commit drop").format(
                    staging, self._target
                )
            )
            kept: list[str] = []
            for col in self.table.columns:
                if col.name not in written and (col.identity or col.generated):
                    cur.execute(
                        sql.SQL("alter table {} drop column {}").format(
                            staging, sql.Identifier(col.name)
                        )
                    )
                    continue
                kept.append(col.name)
                if col.not_null:
                    cur.execute(
                        sql.SQL("alter table {} alter column {} drop not null").format(
                            staging, sql.Identifier(col.name)
                        )
                    )
            cur.execute(sql.SQL("alter table {} add column _pydal_n integer").format(staging))
        moved = sql.SQL(", ").join(map(sql.Identifier, kept))
        self._copy = sql.SQL("copy {} ({}, _pydal_n) from stdin").format(
            staging, sql.SQL(", ").join(map(sql.Identifier, self.names))
        )
        self._move = sql.SQL("insert into {} ({}){} select {} from {} order by _pydal_n").format(
            self._target,
            moved,
            sql.SQL(" overriding system value" if self._overriding else ""),
            moved,
            staging,
        )
        self._clear = sql.SQL("truncate {}").format(staging)
        self._rules: list[Rule] = staged_rules(self.table, kept, not_null=True)
        self._violations = violations_query(self.table, staging, self._rules)
        self._forget = sql.SQL("delete from {} where _pydal_n = any(%s)").format(staging)
        self._drop_existing: sql.Composed | None = None
        if self.on_conflict == "skip":
            found = existing_keys(self.conn, self.table, staging, kept, f"_pydal_import_{n}_done")
            if found is not None:
                self._done, self._remember, self._drop_existing = found

    def close(self) -> None:
        """Drop the staging tables (they would go at commit or rollback anyway)."""
        for staging in (self._staging, self._done):
            if staging is not None and (
                self.conn.info.transaction_status == TransactionStatus.INTRANS
            ):
                self.conn.execute(sql.SQL("drop table if exists {}").format(staging))
        self._staging = self._done = None

    # -- writing ---------------------------------------------------------------------------

    def write(
        self, rows: list[tuple[Any, ...]], key_of: KeyOf, raw_of: RawOf
    ) -> tuple[int, int, int]:
        """Copy ``rows``; returns (inserted, rejected as bad, skipped as already present).

        ``key_of(i)`` and ``raw_of(i, column)`` give the source key and source value of
        ``rows[i]`` for error messages.
        """
        if not rows:
            return 0, 0, 0
        if self._staging is None:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    with cur.copy(self._direct) as copy:
                        for row in rows:
                            copy.write_row(row)
                return len(rows), 0, 0
            except psycopg.Error as exc:
                if fatal(exc):
                    raise
                log.info("%s: a batch was refused; checking rows in bulk", self.table.name)
                self._create_staging()
        return self._write_staged(rows, key_of, raw_of)

    def _write_staged(
        self, rows: list[tuple[Any, ...]], key_of: KeyOf, raw_of: RawOf
    ) -> tuple[int, int, int]:
        alive = list(range(len(rows)))
        rejected = 0
        while alive:
            batch = [rows[i] for i in alive]
            self.staged_batches += 1
            try:
                with self.conn.transaction():
                    existing, found = self._stage(batch)
                    bad = self._judge(found, batch, alive, key_of, raw_of)
                    if bad:
                        self.conn.execute(self._forget, ([n for n, _ in bad],))
                    inserted = self._flush()
            except psycopg.Error as exc:
                if fatal(exc):
                    raise
                at = self._locate(exc, batch)
                source_index = alive[at[0]]
                self.bad_rows.reject(
                    BadRowError(
                        self.table.name,
                        key_of(source_index),
                        at[1],
                        raw_of(source_index, at[1]),
                        reason(exc),
                    )
                )
                del alive[at[0]]
                rejected += 1
                continue
            for _, error in bad:
                self.bad_rows.reject(error)
            return inserted, rejected + len(bad), existing
        return 0, rejected, 0

    def _stage(self, batch: list[tuple[Any, ...]]) -> tuple[int, list[tuple[int, int]]]:
        """Copy ``batch`` into staging, drop pre-existing keys (skip mode), list violations."""
        assert self._staging is not None
        with self.conn.cursor() as cur:
            with cur.copy(self._copy) as copy:
                for n, row in enumerate(batch):
                    copy.write_row((*row, n))
            existing = 0
            if self._drop_existing is not None:
                existing = cur.execute(self._drop_existing).rowcount
            found: list[tuple[int, int]] = []
            if self._violations is not None:
                found = [(int(n), int(r)) for n, r in cur.execute(self._violations).fetchall()]
            return existing, found

    def _judge(
        self,
        found: list[tuple[int, int]],
        batch: list[tuple[Any, ...]],
        alive: list[int],
        key_of: KeyOf,
        raw_of: RawOf,
    ) -> list[tuple[int, BadRowError]]:
        """One BadRowError per violating row (its first rule); raised at once when the
        caller stops at the first bad row."""
        bad: list[tuple[int, BadRowError]] = []
        seen: set[int] = set()
        for n, r in found:
            if n in seen:
                continue
            seen.add(n)
            rule = self._rules[r]
            at = [self.names.index(c) for c in rule.columns if c in self.names]
            cols = ", ".join(rule.columns)
            error = BadRowError(
                self.table.name,
                key_of(alive[n]),
                cols,
                raw_of(alive[n], cols),
                rule.reason(self.table.name, [batch[n][i] for i in at]),
            )
            if not self.bad_rows.skipping:
                raise error
            bad.append((n, error))
        return bad

    def _flush(self) -> int:
        with self.conn.cursor() as cur:
            inserted = cur.execute(self._move).rowcount
            if self._done is not None:
                cur.execute(self._remember)
            cur.execute(self._clear)
        return inserted

    def _locate(self, exc: psycopg.Error, batch: list[tuple[Any, ...]]) -> tuple[int, str | None]:
        """The row of ``batch`` behind ``exc`` (from the error, else by bisection)."""
        at, column = located(exc, batch, self.names)
        if column is None:
            column = constraint_columns(self.conn, self.table.name, exc)
        if at is None:
            at = self._bisect(batch, 0, len(batch))
        if at is None:
            raise BadRowError(
                self.table.name, None, column, None, reason(exc) + " (row not located)"
            ) from exc
        return at, column

    def _bisect(self, batch: list[tuple[Any, ...]], lo: int, hi: int) -> int | None:
        """A row in ``batch[lo:hi]`` that the server refuses on its own, or None."""
        if not self._fails(batch[lo:hi]):
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._fails(batch[lo:mid]):
                hi = mid
            elif self._fails(batch[mid:hi]):
                lo = mid
            else:
                return None  # refused only together (e.g. two rows, one key)
        return lo

    def _fails(self, part: list[tuple[Any, ...]]) -> bool:
        """Would moving ``part`` fail? Tried in a savepoint that is always rolled back."""
        try:
            with self.conn.transaction():
                _, found = self._stage(part)
                if found:
                    self.conn.execute(self._forget, (sorted({n for n, _ in found}),))
                self._flush()
                raise _Undo
        except _Undo:
            return False
        except psycopg.Error as exc:
            if fatal(exc):
                raise
            return True
