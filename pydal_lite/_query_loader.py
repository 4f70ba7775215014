"""Load queries/*.sql with aiosql, one namespace per file, sync and async."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosql
from aiosql.adapters.apyformat import AsyncPyFormatAdapter
from aiosql.adapters.pyformat import PyFormatAdapter, _replacer
from aiosql.types import SQLOperationType
from aiosql.utils import VAR_REF

from .resources import queries_dir

PARAM = re.compile(r"%\((\w+)\)s")


def tag(namespace: str, query_name: str) -> str:
    """The comment every named query starts with, as seen in pg_stat_activity."""
    return f"/* pydal_lite:{namespace}.{query_name} */"


def process_sql(namespace: str, query_name: str, sql: str, *, script: bool = False) -> str:
    # Query files are plain SQL a DBA can paste into psql, so a literal % is
    # written once there; psycopg's pyformat needs it doubled, except in scripts
    # (# queries), which aiosql sends without parameters.
    body = sql if script else VAR_REF.sub(_replacer, sql.replace("%", "%%"))
    return f"{tag(namespace, query_name)}\n{body}"


class SyncAdapter(PyFormatAdapter):  # type: ignore[misc]
    """aiosql's psycopg adapter, with the name tag and without its pitfalls."""

    def __init__(self, namespace: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.namespace = namespace

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        return process_sql(
            self.namespace, query_name, sql, script=op_type == SQLOperationType.SCRIPT
        )

    def select(
        self, conn: Any, query_name: str, sql: str, parameters: Any, record_class: Any = None
    ) -> Any:
        # aiosql yields lazily and keeps the cursor open until consumed.
        return list(super().select(conn, query_name, sql, parameters, record_class))

    def insert_returning(self, conn: Any, query_name: str, sql: str, parameters: Any) -> Any:
        # aiosql unwraps one-column rows with res[0], a KeyError on dict rows.
        with conn.cursor() as cur:
            cur.execute(sql, parameters)
            return cur.fetchone()


class AsyncAdapter(AsyncPyFormatAdapter):  # type: ignore[misc]
    """aiosql's async psycopg adapter, with the name tag and without its pitfalls."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        return process_sql(
            self.namespace, query_name, sql, script=op_type == SQLOperationType.SCRIPT
        )

    async def select_value(self, conn: Any, query_name: str, sql: str, parameters: Any) -> Any:
        async with conn.cursor() as cur:
            await cur.execute(sql, parameters)
            row = await cur.fetchone()
        if row is None:
            return None
        return next(iter(row.values())) if isinstance(row, dict) else row[0]

    async def insert_update_delete_many(  # type: ignore[override]
        self, conn: Any, query_name: str, sql: str, parameters: Any
    ) -> int:
        # aiosql returns executemany()'s None; callers want the row count.
        async with conn.cursor() as cur:
            await cur.executemany(sql, parameters)
            return int(cur.rowcount)


def load(directory: Path | None = None, *, is_async: bool = False) -> SimpleNamespace:
    """One attribute per ``<file>.sql``, holding that file's aiosql ``Queries``."""
    folder = directory or queries_dir()
    adapter = AsyncAdapter if is_async else SyncAdapter
    namespace = SimpleNamespace()
    for path in sorted(folder.glob("*.sql")):
        queries = aiosql.from_path(path, partial(adapter, path.stem))
        setattr(namespace, path.stem, queries)
    return namespace


def lazy_module_attrs(*, is_async: bool) -> tuple[Any, Any]:
    """``__getattr__`` and ``__dir__`` for a module that loads the query files on first use."""
    loaded: list[SimpleNamespace] = []

    def _all() -> SimpleNamespace:
        if not loaded:
            loaded.append(load(is_async=is_async))
        return loaded[0]

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(_all(), name)
        except AttributeError:
            raise AttributeError(f"no query file {name + '.sql'!r} in queries/") from None

    def __dir__() -> list[str]:
        return sorted(vars(_all()))

    return __getattr__, __dir__
