"""Checks around the copy: keys the target already holds, counts after, sequences moved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from .catalog import TargetColumn
from .errors import VerificationError
from .report import TableReport


def count_problems(table: str, counts: TableReport, added: int) -> list[str]:
    """Why ``counts`` of ``table`` do not add up (source = imported + skipped; the table
    grew by exactly the imported rows), or nothing."""
    problems = []
    if not counts.accounted:
        problems.append(
            f"{table}: {counts.source_rows} source rows but {counts.imported} "
            f"imported + {counts.skipped} skipped"
        )
    if added != counts.imported:
        problems.append(f"{table}: {counts.imported} rows copied but the table grew by {added}")
    return problems


def refuse(problems: list[str]) -> None:
    """Raise VerificationError listing (up to 20 of) ``problems``, if any."""
    if problems:
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise VerificationError(
            "counts do not match; everything was rolled back:\n  " + "\n  ".join(shown)
        )


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
