"""Domain operations written once, run on sync or async connections.

An operation is a generator function that yields steps and gets each step's typed
result back; the same generator is driven by a sync or an async runner, so the logic
and the SQL exist once::

    @operation
    def rename(session_id: str, title: str) -> Steps[int]:
        count = yield from sql.sessions.update_title(session_id=session_id, title=title)
        return count

    rename(conn, "s1", "new")           # sync connection: returns 1
    await rename(aconn, "s1", "new")    # async connection: returns an awaitable

Transactions are opened only where they buy something: leading plain reads (queries
whose plan the generator saw hold no DML and no row locks; ``-- @writes`` marks a read
with side effects, e.g. an advisory lock) run as statements of their own, so an
operation that only reads costs its queries and nothing more; at the first write or
locking read the runner opens a transaction (a savepoint inside the caller's) and every
later step runs in it, committed when the generator returns. This needs READ COMMITTED
(the connection's level, else the server's default, asked once per connection): each
statement sees its own snapshot either way. At any other level every step runs in the
transaction. Inside the caller's transaction, reads run in it without a savepoint.

Connection faults become :class:`~pydal_lite.errors.ConnectionLost` or, when COMMIT was
in flight, :class:`~pydal_lite.errors.CommitOutcomeUnknown` (see :mod:`pydal_lite.faults`).
Any other error from the server is thrown into the generator (so it may translate it into a
clearer error) and rolls the transaction back; the transaction is aborted then, so the
generator cannot go on with more steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from functools import update_wrapper
from typing import Any, Generic, TypeVar, overload
from weakref import WeakKeyDictionary

import psycopg
from psycopg import pq
from psycopg.rows import tuple_row
from typing_extensions import ParamSpec

from ..connection import atransaction, transaction
from ..errors import PydalError
from ..faults import translate_error
from .steps import AnyStep, Steps, arun_step, run_step

P = ParamSpec("P")
R = TypeVar("R")

_IDLE = pq.TransactionStatus.IDLE
_INERROR = pq.TransactionStatus.INERROR


def _refuse_after_error(status: int, exc: psycopg.Error) -> None:
    # The generator caught a server error and asked for another step, but the
    # transaction is aborted: every further statement would fail with a less clear error.
    if status == _INERROR:
        raise PydalError(
            "an operation cannot run more steps after a server error in its transaction; "
            "translate the error and raise instead"
        ) from exc


def _raise_fault(exc: psycopg.Error) -> None:
    # A broken connection is not the generator's to translate: say what it means (a
    # read outside a transaction committed nothing; the scope handles COMMIT itself).
    new = translate_error(exc)
    if new is not None:
        raise new from exc


# Per connection: is its default isolation READ COMMITTED (asked once, when needed)?
_DEFAULT_RC: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()
_ASK_ISOLATION = b"select current_setting('transaction_isolation') = 'read committed'"


def _known_outside_ok(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool | None:
    """Whether leading reads may run as statements of their own; None: ask the server."""
    level = conn.isolation_level
    if level is not None:
        return level == psycopg.IsolationLevel.READ_COMMITTED
    return _DEFAULT_RC.get(conn)


def _outside_ok(conn: psycopg.Connection[Any]) -> bool:
    known = _known_outside_ok(conn)
    if known is None:
        # Only ever asked on an idle connection, as a statement of its own.
        was = conn.autocommit
        conn.autocommit = True
        try:
            with conn.cursor(row_factory=tuple_row) as cur:
                row = cur.execute(_ASK_ISOLATION, prepare=False).fetchone()
        finally:
            conn.autocommit = was
        known = _DEFAULT_RC[conn] = bool(row and row[0])
    return known


async def _aoutside_ok(conn: psycopg.AsyncConnection[Any]) -> bool:
    known = _known_outside_ok(conn)
    if known is None:
        was = conn.autocommit
        await conn.set_autocommit(True)
        try:
            async with conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(_ASK_ISOLATION, prepare=False)
                row = await cur.fetchone()
        finally:
            await conn.set_autocommit(was)
        known = _DEFAULT_RC[conn] = bool(row and row[0])
    return known


def _refuse_swallowed(
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], error: psycopg.Error | None
) -> None:
    # The generator caught a server error and returned: its transaction is aborted, so
    # committing would silently roll back what it wrote before. Say so and roll back.
    if error is not None and conn.pgconn.transaction_status == _INERROR:
        raise PydalError(
            "an operation returned after catching a server error in its transaction; "
            "its earlier writes cannot commit: re-raise (or translate) the error instead"
        ) from error


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
        if isinstance(conn, psycopg.Connection):
            return _run_sync(conn, self._fn(*args, **kwargs))
        if isinstance(conn, psycopg.AsyncConnection):
            return _run_async(conn, self._fn(*args, **kwargs))
        raise TypeError(f"expected a psycopg connection, got {type(conn).__name__}")


def _run_sync(conn: psycopg.Connection[Any], gen: Steps[R]) -> R:
    with ExitStack() as stack:
        in_tx = False
        error: psycopg.Error | None = None
        try:
            step: AnyStep = next(gen)
            while True:
                idle = conn.pgconn.transaction_status == _IDLE
                if not in_tx and not (step.reads and (not idle or _outside_ok(conn))):
                    stack.enter_context(transaction(conn))
                    in_tx = True
                try:
                    if not in_tx and idle and not conn.autocommit:
                        # A read of its own: autocommit for one statement, no BEGIN/COMMIT.
                        conn.autocommit = True
                        try:
                            result = run_step(conn, step)
                        finally:
                            conn.autocommit = False
                    else:
                        result = run_step(conn, step)
                except psycopg.Error as exc:
                    _raise_fault(exc)
                    error = exc
                    step = gen.throw(exc)
                    _refuse_after_error(conn.pgconn.transaction_status, exc)
                else:
                    step = gen.send(result)
        except StopIteration as stop:
            _refuse_swallowed(conn, error)
            return stop.value  # type: ignore[no-any-return]
        finally:
            gen.close()


async def _run_async(conn: psycopg.AsyncConnection[Any], gen: Steps[R]) -> R:
    async with AsyncExitStack() as stack:
        in_tx = False
        error: psycopg.Error | None = None
        try:
            step: AnyStep = next(gen)
            while True:
                idle = conn.pgconn.transaction_status == _IDLE
                if not in_tx and not (step.reads and (not idle or await _aoutside_ok(conn))):
                    await stack.enter_async_context(atransaction(conn))
                    in_tx = True
                try:
                    if not in_tx and idle and not conn.autocommit:
                        await conn.set_autocommit(True)
                        try:
                            result = await arun_step(conn, step)
                        finally:
                            await conn.set_autocommit(False)
                    else:
                        result = await arun_step(conn, step)
                except psycopg.Error as exc:
                    _raise_fault(exc)
                    error = exc
                    step = gen.throw(exc)
                    _refuse_after_error(conn.pgconn.transaction_status, exc)
                else:
                    step = gen.send(result)
        except StopIteration as stop:
            _refuse_swallowed(conn, error)
            return stop.value  # type: ignore[no-any-return]
        finally:
            gen.close()


def operation(fn: Callable[P, Steps[R]]) -> Operation[P, R]:
    """Make a step generator callable as ``op(conn, ...)`` with sync or async connections."""
    return Operation(fn)
