"""Steps: one named query call (or one COPY) with its parameters, and how each is run.

A generated step function (``pydal_lite.sql.<file>.<query>(...)``) returns a
:class:`Step` typed with its result; ``run(conn, step)`` / ``await arun(aconn, step)``
execute it, and inside an :func:`~pydal_lite.runtime.operations.operation`
``row = yield from step`` hands it to the runner and gives mypy the row type.

Results follow the aiosql suffix, in one table (:data:`_FETCH`): none -> list of rows,
``^`` and ``<!`` -> row or None, ``$`` -> first column of the first row or None, ``!`` and
``*!`` -> row count, ``#`` -> status message. Rows are dicts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

import psycopg
from aiosql.types import SQLOperationType as Op
from psycopg import sql as pgsql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Json, Jsonb
from typing_extensions import LiteralString

from ..errors import InvalidInput, PydalError, ValueRejected
from ..validate import shown
from .loader import LoadedQuery, installed_query

R = TypeVar("R")

JsonValue: TypeAlias = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None
"""What a ``json``/``jsonb`` column holds once psycopg has loaded it."""

JsonParam: TypeAlias = Mapping[str, Any] | Sequence[Any] | str | int | float | bool | Json | Jsonb
"""What a ``json``/``jsonb`` parameter accepts: plain values are wrapped in psycopg's
``Jsonb`` for you; a ``Json``/``Jsonb`` made by the caller passes through as it is."""


def _dumps(value: Any) -> str:
    # Unescaped UTF-8: a third of the bytes for Cyrillic text, same jsonb value.
    return json.dumps(value, ensure_ascii=False)


def json_(value: JsonParam | None) -> Json | Jsonb | None:
    """A ``json`` parameter: None stays SQL NULL, anything else is sent as JSON."""
    if value is None or isinstance(value, (Json, Jsonb)):
        return value
    return Json(value, dumps=_dumps)


def jsonb(value: JsonParam | None) -> Json | Jsonb | None:
    """A ``jsonb`` parameter: None stays SQL NULL, anything else is sent as JSON."""
    if value is None or isinstance(value, (Json, Jsonb)):
        return value
    return Jsonb(value, dumps=_dumps)


def present(row: R | None, query: str) -> R:
    """The row an ``insert ... returning`` (or any query sure to find one) gave back."""
    if row is None:
        raise PydalError(f"{query} returned no row")
    return row


class Query:
    """A named query of ``queries/<file>.sql``, read once when its module is imported."""

    __slots__ = ("bounds", "file", "line", "name", "operation", "reads", "sql")

    def __init__(
        self,
        file: str,
        name: str,
        operation: Op,
        *,
        bits: Mapping[str, int] | None = None,
        reads: bool = False,
    ) -> None:
        loaded: LoadedQuery = installed_query(file, name, operation)
        self.file = file
        self.name = name
        self.line = loaded.line
        self.operation = operation
        self.sql: str = loaded.sql
        # A plain read (the generator saw no DML and no row locks in its plan) needs no
        # transaction of its own.
        self.reads = reads
        # smallint/integer parameters: checked here, so the error names the parameter.
        self.bounds = tuple(
            (name, -(2 ** (n - 1)), 2 ** (n - 1) - 1) for name, n in (bits or {}).items()
        )

    @property
    def where(self) -> str:
        return f"queries/{self.file}.sql:{self.line}"

    def __repr__(self) -> str:
        return f"<Query {self.file}.{self.name} at {self.where}>"


class Step(Generic[R]):
    """One call of a named query; ``yield from`` it inside an operation to get ``R``."""

    __slots__ = ("params", "query")

    def __init__(
        self, query: Query, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        self.query = query
        self.params = params

    @property
    def sql(self) -> str:
        return self.query.sql

    @property
    def reads(self) -> bool:
        """A plain read: it takes no locks and needs no transaction of its own."""
        return self.query.reads

    def __iter__(self) -> Generator[AnyStep, Any, R]:
        result: R = yield self
        return result

    def __repr__(self) -> str:
        return f"<Step {self.query.file}.{self.query.name}>"


class CopyIn:
    """``COPY ... FROM STDIN`` with ``rows``; the statement is fixed code, never user data."""

    __slots__ = ("rows", "statement", "types")
    reads = False

    def __init__(
        self,
        statement: LiteralString | pgsql.SQL | pgsql.Composed,
        rows: Iterable[Sequence[Any]],
        *,
        types: Sequence[str] | None = None,
    ) -> None:
        """``types`` (PostgreSQL type names, one per column) is required for a
        ``(format binary)`` statement: psycopg then sends each value in binary."""
        self.statement = statement
        self.rows = rows
        self.types = types

    def __iter__(self) -> Generator[AnyStep, Any, int]:
        count: int = yield self
        return count


AnyStep: TypeAlias = Step[Any] | CopyIn
Steps: TypeAlias = Generator[AnyStep, Any, R]
"""What an operation's generator function returns: it yields steps, returns ``R``."""


def _value(cur: Any) -> Any:
    row = cur.fetchone()
    return None if row is None else row[0]


async def _avalue(cur: Any) -> Any:
    row = await cur.fetchone()
    return None if row is None else row[0]


# The one table of result handling: row factory and how to read the cursor, per suffix.
_FETCH: dict[Op, tuple[Any, Callable[[Any], Any]]] = {
    Op.SELECT: (dict_row, lambda cur: cur.fetchall()),
    Op.SELECT_ONE: (dict_row, lambda cur: cur.fetchone()),
    Op.INSERT_RETURNING: (dict_row, lambda cur: cur.fetchone()),
    Op.SELECT_VALUE: (tuple_row, _value),
    Op.INSERT_UPDATE_DELETE: (tuple_row, lambda cur: cur.rowcount),
    Op.INSERT_UPDATE_DELETE_MANY: (tuple_row, lambda cur: cur.rowcount),
    Op.SCRIPT: (tuple_row, lambda cur: cur.statusmessage),
}
_AFETCH: dict[Op, Callable[[Any], Any]] = {
    Op.SELECT: lambda cur: cur.fetchall(),
    Op.SELECT_ONE: lambda cur: cur.fetchone(),
    Op.INSERT_RETURNING: lambda cur: cur.fetchone(),
    Op.SELECT_VALUE: _avalue,
}


def _check_bounds(query: Query, params: Mapping[str, Any]) -> None:
    for name, lo, hi in query.bounds:
        value = params[name]
        if isinstance(value, int) and not lo <= value <= hi:
            bits = 16 if hi < 2**16 else 32
            raise InvalidInput(
                f"{query.file}.{query.name}: {name} must fit in a {bits}-bit integer "
                f"({lo}..{hi}), got {shown(value)}"
            )


def _checked(query: Query, step: Step[Any]) -> None:
    if query.operation is Op.INSERT_UPDATE_DELETE_MANY:
        for row in step.params:
            _check_bounds(query, row)  # type: ignore[arg-type]
    else:
        _check_bounds(query, step.params)  # type: ignore[arg-type]


def _rejected(exc: psycopg.DataError, query: Query) -> ValueRejected:
    message = exc.diag.message_primary or str(exc).splitlines()[0]
    return ValueRejected(f"{query.file}.{query.name}: the server refused a value: {message}")


def _params(query: Query, step: Step[Any]) -> Any:
    # Scripts go without parameters, so psycopg leaves their % alone.
    return None if query.operation is Op.SCRIPT else step.params


def _note(exc: BaseException, query: Query) -> None:
    # The traceback then names the query and where it is written (3.11+; the SQL's
    # leading /* pydal_lite:file.query */ tag names it in server logs on any version).
    if sys.version_info >= (3, 11):
        exc.add_note(f"in query {query.file}.{query.name} ({query.where})")


def run_step(conn: psycopg.Connection[Any], step: AnyStep) -> Any:
    """Run one step on a sync connection, in whatever transaction state it is in."""
    if isinstance(step, CopyIn):
        with conn.cursor() as cur:
            with cur.copy(step.statement) as copy:
                if step.types:
                    copy.set_types(step.types)
                for row in step.rows:
                    copy.write_row(row)
            return cur.rowcount
    query = step.query
    if query.bounds:
        _checked(query, step)
    factory, fetch = _FETCH[query.operation]
    try:
        with conn.cursor(row_factory=factory) as cur:
            if query.operation is Op.INSERT_UPDATE_DELETE_MANY:
                cur.executemany(query.sql, step.params)  # type: ignore[arg-type]
            else:
                cur.execute(query.sql, _params(query, step))
            return fetch(cur)
    except psycopg.DataError as exc:
        rejected = _rejected(exc, query)
        _note(rejected, query)
        raise rejected from exc
    except psycopg.Error as exc:
        _note(exc, query)
        raise


async def arun_step(conn: psycopg.AsyncConnection[Any], step: AnyStep) -> Any:
    """Run one step on an async connection, in whatever transaction state it is in."""
    if isinstance(step, CopyIn):
        async with conn.cursor() as cur:
            async with cur.copy(step.statement) as copy:
                if step.types:
                    copy.set_types(step.types)
                for row in step.rows:
                    await copy.write_row(row)
            return cur.rowcount
    query = step.query
    if query.bounds:
        _checked(query, step)
    factory, fetch = _FETCH[query.operation]
    afetch = _AFETCH.get(query.operation)
    try:
        async with conn.cursor(row_factory=factory) as cur:
            if query.operation is Op.INSERT_UPDATE_DELETE_MANY:
                await cur.executemany(query.sql, step.params)  # type: ignore[arg-type]
            else:
                await cur.execute(query.sql, _params(query, step))
            return await afetch(cur) if afetch else fetch(cur)
    except psycopg.DataError as exc:
        rejected = _rejected(exc, query)
        _note(rejected, query)
        raise rejected from exc
    except psycopg.Error as exc:
        _note(exc, query)
        raise


def run(conn: psycopg.Connection[Any], step: Step[R]) -> R:
    """Run a generated step on a sync connection and return its typed result."""
    return run_step(conn, step)  # type: ignore[no-any-return]


async def arun(conn: psycopg.AsyncConnection[Any], step: Step[R]) -> R:
    """Run a generated step on an async connection and return its typed result."""
    return await arun_step(conn, step)  # type: ignore[no-any-return]
