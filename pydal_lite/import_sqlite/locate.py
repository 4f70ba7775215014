"""Which row of a batch the server refused, read from its error."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

_LINE = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")
_FK_DETAIL = re.compile(r"Key \((.+)\)=\((.*)\) is not present in table")


def located(
    exc: psycopg.Error, rows: Sequence[Sequence[Any]], names: Sequence[str]
) -> tuple[int | None, str | None]:
    """The index in ``rows`` of the row the server rejected, and the column if known."""
    m = _LINE.search(exc.diag.context or "")
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


def constraint_columns(conn: psycopg.Connection[Any], table: str, exc: psycopg.Error) -> str | None:
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


def reason(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    detail = exc.diag.message_detail
    return f"{primary} ({detail})" if detail and "Failing row" not in detail else primary


def fatal(exc: psycopg.Error) -> bool:
    return isinstance(exc, (psycopg.OperationalError, pgerrors.QueryCanceled))
