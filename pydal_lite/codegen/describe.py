"""Ask the server what each named query takes and returns.

Every query is prepared in a scratch database migrated by the real runner; libpq's
describe gives the parameter and result types and, for plain column references, the
source table and column; ``EXPLAIN (VERBOSE)`` of its generic plan tells which
relations sit on the nullable side of an outer join and what each result expression is.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from aiosql.types import SQLOperationType
from psycopg import pq
from psycopg import sql as pgsql

from .. import migrate
from ..dsn import with_database
from ..errors import PydalError
from ..runtime.loader import LoadedQuery
from .pgtypes import cursor
from .plan import PlanFacts, plan_facts

_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")


class DescribeError(PydalError):
    """A named query the server could not prepare or describe."""


@dataclass(frozen=True)
class Field:
    """One result column as the server describes it."""

    name: str
    type_oid: int
    table_oid: int  # 0 when the column is not a plain table column
    column: int  # attnum in table_oid, 0 when none


@dataclass(frozen=True)
class Described:
    """A named query with the server's description of it."""

    query: LoadedQuery
    params: tuple[tuple[str, int], ...]  # (name, type oid) in first-use order
    fields: tuple[Field, ...]
    plan: PlanFacts | None  # None for statements EXPLAIN cannot show


def to_numbered(sql: str) -> tuple[str, list[str]]:
    """psycopg's ``%(name)s`` SQL as the server's ``$n`` form, and the names in order."""
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PYFORMAT.sub(repl, sql), names


@contextmanager
def scratch_database(dsn: str, schema_dir: Path | None) -> Iterator[psycopg.Connection[Any]]:
    """A new database on ``dsn``'s server, migrated to the newest version, dropped after."""
    name = f"pydal_codegen_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(name)))
    try:
        target = with_database(dsn, name)
        migrate.up(target, schema_dir=schema_dir)
        with psycopg.connect(target, autocommit=True) as conn:
            yield conn
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                pgsql.SQL("drop database if exists {} with (force)").format(pgsql.Identifier(name))
            )


def _server_error(query: LoadedQuery, res: pq.abc.PGresult) -> DescribeError:
    message = (res.error_message or b"").decode("utf-8", "replace").strip()
    message = message.removeprefix("ERROR:").strip().splitlines()[0] if message else "failed"
    return DescribeError(f"{query.where}: {query.name}: the server cannot prepare it: {message}")


def describe(conn: psycopg.Connection[Any], query: LoadedQuery) -> Described:
    """Prepare ``query`` on ``conn`` and describe it (nothing is executed).

    Scripts (``#``) are not prepared: they may hold several statements, take no
    parameters and return the status text.
    """
    if query.operation == SQLOperationType.SCRIPT:
        return Described(query, (), (), None)
    text, names = to_numbered(query.sql)
    pgconn = conn.pgconn
    stmt = b"pydal_codegen"
    res = pgconn.prepare(stmt, text.encode())
    if res.status != pq.ExecStatus.COMMAND_OK:
        raise _server_error(query, res)
    try:
        d = pgconn.describe_prepared(stmt)
        if d.status != pq.ExecStatus.COMMAND_OK:
            raise _server_error(query, d)
        params = tuple((names[i], d.param_type(i)) for i in range(d.nparams))
        fields = tuple(
            Field(
                (d.fname(i) or b"").decode(),
                d.ftype(i),
                d.ftable(i),
                d.ftablecol(i),
            )
            for i in range(d.nfields)
        )
        plan = _explain(conn, len(params), text) if fields else None
    finally:
        conn.execute("deallocate pydal_codegen")
    return Described(query, params, fields, plan)


def _explain(conn: psycopg.Connection[Any], nparams: int, text: str) -> PlanFacts | None:
    """The generic plan's facts, or None when the server cannot show one."""
    # A generic plan keeps the parameters symbolic: the joins stay as written. NULL
    # arguments can fail (a NOT NULL domain); PostgreSQL 16+ needs no arguments at all.
    args = ", ".join(["null"] * nparams)
    execute = f"execute pydal_codegen({args})" if nparams else "execute pydal_codegen"
    attempts = [f"explain (verbose, format json) {execute}"]
    if conn.info.server_version >= 160000:
        attempts.append(f"explain (verbose, generic_plan, format json) {text}")
    row = None
    for statement in attempts:
        try:
            with conn.transaction():
                conn.execute("set local plan_cache_mode = force_generic_plan")
                row = cursor(conn).execute(statement.encode()).fetchone()
            break
        except psycopg.Error:
            continue
    if row is None:
        return None
    doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return plan_facts(doc[0]["Plan"])
