"""Domain operations written once, run on sync or async connections in one transaction.

An operation is a generator that yields steps (a named query call, a COPY) and
receives each step's result. The same generator is driven by a sync or an async
runner, so the logic and the SQL exist once::

    @operation
    def rename(session_id: str, title: str) -> Steps[int]:
        count = yield q.sessions.update_title(session_id=session_id, title=title)
        return count

    rename(conn, "s1", "new")           # sync connection: returns 1
    await rename(aconn, "s1", "new")    # async connection: returns an awaitable

Results per aiosql suffix: none -> list of rows, ``^`` -> row or None, ``$`` -> value
or None, ``!`` -> row count, ``<!`` -> row (all its columns) or None, ``*!`` -> total row
count, ``#`` -> status message. Rows are dicts. An error from the server is thrown
into the generator (so it may translate it into a clearer error) and rolls back;
the transaction is aborted then, so the generator cannot go on with more steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, Generic, TypeVar, overload

import psycopg
from aiosql.types import SQLOperationType
from psycopg import pq
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from typing_extensions import LiteralString, ParamSpec

from ._query_loader import PARAM
from .errors import InvalidInput, PydalError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Call:
    """Run the named query ``ref`` (``"file.query"``) with ``params``."""

    ref: str
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class CopyIn:
    """``COPY ... FROM STDIN`` with ``rows``; the statement is fixed code, never user data."""

    statement: LiteralString | pgsql.SQL | pgsql.Composed
    rows: Iterable[Sequence[Any]]


Step = Call | CopyIn
Steps = Generator[Step, Any, R]


class _File:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, query: str) -> Callable[..., Call]:
        ref = f"{self._name}.{query}"

        def make(*many: Sequence[Mapping[str, Any]], **params: Any) -> Call:
            if many:
                return Call(ref, many[0])
            return Call(ref, params)

        return make


class _Files:
    def __getattr__(self, name: str) -> _File:
        return _File(name)


q: Any = _Files()
"""Step builder: ``yield q.<file>.<query>(**params)``, or ``(rows)`` for ``*!`` queries."""


@dataclass(frozen=True)
class _Prepared:
    sql: str
    op: SQLOperationType
    params: Any


def _prepare(call: Call) -> _Prepared:
    from . import queries

    file, _, name = call.ref.partition(".")
    fn = getattr(getattr(queries, file), name, None)
    if fn is None:
        raise LookupError(f"no query {name!r} in queries/{file}.sql")
    op: SQLOperationType = fn.operation
    wanted = set(PARAM.findall(fn.sql))
    batch = call.params if op == SQLOperationType.INSERT_UPDATE_DELETE_MANY else [call.params]
    for params in batch:  # type: ignore[union-attr]
        given = set(params)  # type: ignore[arg-type]
        if wanted - given or given - wanted:
            raise InvalidInput(
                f"{call.ref}: missing parameters {sorted(wanted - given)!r}, "
                f"unknown parameters {sorted(map(str, given - wanted))!r}"
            )
    return _Prepared(fn.sql, op, call.params)


def _result(op: SQLOperationType, cur: Any, rows: list[Any] | None) -> Any:
    if op == SQLOperationType.SELECT:
        return rows
    if op in (SQLOperationType.SELECT_ONE, SQLOperationType.INSERT_RETURNING):
        return rows[0] if rows else None
    if op == SQLOperationType.SELECT_VALUE:
        return next(iter(rows[0].values())) if rows else None
    if op == SQLOperationType.SCRIPT:
        return cur.statusmessage
    return cur.rowcount


def _returns_rows(op: SQLOperationType) -> bool:
    return op in (
        SQLOperationType.SELECT,
        SQLOperationType.SELECT_ONE,
        SQLOperationType.SELECT_VALUE,
        SQLOperationType.INSERT_RETURNING,
    )


def run_step(conn: psycopg.Connection[Any], step: Step) -> Any:
    """Run one step on a sync connection and return its result."""
    with conn.cursor(row_factory=dict_row) as cur:
        if isinstance(step, CopyIn):
            with cur.copy(step.statement) as copy:
                for row in step.rows:
                    copy.write_row(row)
            return cur.rowcount
        p = _prepare(step)
        if p.op == SQLOperationType.INSERT_UPDATE_DELETE_MANY:
            cur.executemany(p.sql, p.params)  # type: ignore[arg-type]
            return cur.rowcount
        cur.execute(p.sql, p.params)  # type: ignore[arg-type]
        return _result(p.op, cur, cur.fetchall() if _returns_rows(p.op) else None)


async def arun_step(conn: psycopg.AsyncConnection[Any], step: Step) -> Any:
    """Run one step on an async connection and return its result."""
    async with conn.cursor(row_factory=dict_row) as cur:
        if isinstance(step, CopyIn):
            async with cur.copy(step.statement) as copy:
                for row in step.rows:
                    await copy.write_row(row)
            return cur.rowcount
        p = _prepare(step)
        if p.op == SQLOperationType.INSERT_UPDATE_DELETE_MANY:
            await cur.executemany(p.sql, p.params)  # type: ignore[arg-type]
            return cur.rowcount
        await cur.execute(p.sql, p.params)  # type: ignore[arg-type]
        return _result(p.op, cur, await cur.fetchall() if _returns_rows(p.op) else None)


def _refuse_after_error(status: pq.TransactionStatus, exc: psycopg.Error) -> None:
    # The generator caught a server error and asked for another step, but the
    # transaction is aborted: every further statement would fail with a less clear error.
    if status == pq.TransactionStatus.INERROR:
        raise PydalError(
            "an operation cannot run more steps after a server error in its transaction; "
            "translate the error and raise instead"
        ) from exc


class Operation(Generic[P, R]):
    """A domain operation; call it with a sync or an async connection first."""

    def __init__(self, fn: Callable[P, Steps[R]]) -> None:
        self._fn = fn
        update_wrapper(self, fn)

    @overload
    def __call__(
        self, conn: psycopg.AsyncConnection[Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[R]: ...
    @overload
    def __call__(
        self, conn: psycopg.Connection[Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...
    def __call__(self, conn: Any, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        if isinstance(conn, psycopg.AsyncConnection):
            return self._run_async(conn, self._fn(*args, **kwargs))
        if isinstance(conn, psycopg.Connection):
            return self._run_sync(conn, self._fn(*args, **kwargs))
        raise TypeError(f"expected a psycopg connection, got {type(conn).__name__}")

    @staticmethod
    def _run_sync(conn: psycopg.Connection[Any], gen: Steps[R]) -> R:
        with conn.transaction():
            try:
                step = next(gen)
                while True:
                    try:
                        result = run_step(conn, step)
                    except psycopg.Error as exc:
                        step = gen.throw(exc)
                        _refuse_after_error(conn.info.transaction_status, exc)
                    else:
                        step = gen.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                gen.close()

    @staticmethod
    async def _run_async(conn: psycopg.AsyncConnection[Any], gen: Steps[R]) -> R:
        async with conn.transaction():
            try:
                step = next(gen)
                while True:
                    try:
                        result = await arun_step(conn, step)
                    except psycopg.Error as exc:
                        step = gen.throw(exc)
                        _refuse_after_error(conn.info.transaction_status, exc)
                    else:
                        step = gen.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                gen.close()


def operation(fn: Callable[P, Steps[R]]) -> Operation[P, R]:
    """Make a step generator callable as ``op(conn, ...)`` with sync or async connections."""
    return Operation(fn)
