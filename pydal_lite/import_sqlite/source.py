"""Read a SQLite file: its tables, columns, keys, row counts and rows in batches.

The file is opened read-only and read inside one transaction, so counts and rows come
from the same snapshot even if an application writes to the file meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SourceError


class Expr(str):
    """A SQL expression to read instead of a column (fixed code, never from the file)."""

    __slots__ = ()


def quote(name: str) -> str:
    """A SQLite identifier, double-quoted (names come from the file's own catalog)."""
    return '"' + name.replace('"', '""') + '"'


def select(columns: str, table: str, tail: str = "") -> str:
    """``select columns from "table" tail``: ``table`` is quoted here; ``columns`` and
    ``tail`` are quoted identifiers or fixed expressions built by this package."""
    return "select " + columns + " from " + quote(table) + tail  # noqa: S608


@dataclass(frozen=True)
class SourceTable:
    """A table of the SQLite file."""

    name: str
    columns: tuple[str, ...]
    declared: tuple[str, ...]  # declared types, as SQLAlchemy wrote them
    primary_key: tuple[str, ...]  # empty: rows are keyed by rowid
    has_rowid: bool = True

    def key_columns(self) -> tuple[str, ...]:
        """Columns that name a row in messages: the primary key, else the rowid."""
        return self.primary_key or ("rowid",)


class Source:
    """An open, read-only SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"no such file: {str(self.path)!r}")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            self.conn.execute("begin")
            self.conn.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SourceError(
                f"{str(self.path)!r} is not a readable SQLite database: {exc}"
            ) from None
        self.tables = self._tables()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tables(self) -> dict[str, SourceTable]:
        rows = self.conn.execute(
            "select name, sql from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        ).fetchall()
        out: dict[str, SourceTable] = {}
        for name, ddl in rows:
            info = self.conn.execute(f"pragma table_info({quote(name)})").fetchall()
            pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            without_rowid = "without rowid" in " ".join((ddl or "").lower().split())
            out[name.lower()] = SourceTable(
                name=name,
                columns=tuple(r[1] for r in info),
                declared=tuple(r[2] for r in info),
                primary_key=pk,
                has_rowid=not without_rowid,
            )
        return out

    def count(self, table: SourceTable) -> int:
        return int(self.conn.execute(select("count(*)", table.name)).fetchone()[0])

    def batches(
        self, table: SourceTable, columns: Sequence[str], *, batch_size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``columns`` in stored order, ``batch_size`` at a time."""
        cols = ", ".join(c if isinstance(c, Expr) or c == "rowid" else quote(c) for c in columns)
        order = " order by rowid" if table.has_rowid else ""
        cur = self.conn.execute(select(cols, table.name, order))
        try:
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    return
                yield rows
        finally:
            cur.close()
