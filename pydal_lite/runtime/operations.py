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

``@operation(one_write=True)`` declares that the operation's only write is one statement
that is the whole of its effect (nothing it does afterwards needs to undo it): on an idle
connection at READ COMMITTED that statement is sent alone in autocommit, one round trip
instead of BEGIN, statement, COMMIT. It is atomic by itself; a connection lost while it
is in flight raises :class:`~pydal_lite.errors.CommitOutcomeUnknown`, as a lost COMMIT
would. Inside the caller's transaction it runs as any write does (in a savepoint).

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


def _raise_fault(exc: psycopg.Error, *, committing: bool = False) -> None:
    # A broken connection is not the generator's to translate: say what it means (a
    # read outside a transaction committed nothing, a write alone may have committed;
    # the scope handles COMMIT itself).
    new = translate_error(exc, committing=committing)
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
        except psycopg.Error as exc:
            _raise_fault(exc)  # nothing was written yet: ConnectionLost
            raise
        finally:
            if not conn.broken:  # else it raises, hiding the fault
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
        except psycopg.Error as exc:
            _raise_fault(exc)
            raise
        finally:
            if not conn.broken:
                await conn.set_autocommit(was)
        known = _DEFAULT_RC[conn] = bool(row and row[0])
    return known


def _write_alone_ok(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    # READ ONLY is applied by psycopg's BEGIN, which an autocommit statement skips.
    return conn.read_only is not True


def _refuse_second_write(wrote: bool) -> None:
    # The first write has committed already: a second one could not be atomic with it.
    if wrote:
        raise PydalError("an operation declared one_write=True asked for a second write")


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

    def __init__(self, fn: Callable[P, Steps[R]], *, one_write: bool = False) -> None:
        self._fn = fn
        self._one_write = one_write
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
            return _run_sync(conn, self._fn(*args, **kwargs), self._one_write)
        if isinstance(conn, psycopg.AsyncConnection):
            return _run_async(conn, self._fn(*args, **kwargs), self._one_write)
        raise TypeError(f"expected a psycopg connection, got {type(conn).__name__}")


def _run_sync(conn: psycopg.Connection[Any], gen: Steps[R], one_write: bool = False) -> R:
    with ExitStack() as stack:
        in_tx = wrote = False
        error: psycopg.Error | None = None
        try:
            step: AnyStep = next(gen)
            while True:
                idle = conn.pgconn.transaction_status == _IDLE
                alone = False  # this step is the one write, sent without BEGIN/COMMIT
                if not in_tx and not (step.reads and (not idle or _outside_ok(conn))):
                    _refuse_second_write(wrote)
                    if one_write and idle and _write_alone_ok(conn) and _outside_ok(conn):
                        alone = wrote = True
                    else:
                        stack.enter_context(transaction(conn))
                        in_tx = True
                try:
                    if not in_tx and idle and not conn.autocommit:
                        # A statement of its own (a read, or the one write): no BEGIN/COMMIT.
                        conn.autocommit = True
                        try:
                            result = run_step(conn, step)
                        finally:
                            if not conn.broken:  # else it raises, hiding the fault
                                conn.autocommit = False
                    else:
                        result = run_step(conn, step)
                except psycopg.Error as exc:
                    _raise_fault(exc, committing=alone)
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


async def _run_async(
    conn: psycopg.AsyncConnection[Any], gen: Steps[R], one_write: bool = False
) -> R:
    async with AsyncExitStack() as stack:
        in_tx = wrote = False
        error: psycopg.Error | None = None
        try:
            step: AnyStep = next(gen)
            while True:
                idle = conn.pgconn.transaction_status == _IDLE
                alone = False
                if not in_tx and not (step.reads and (not idle or await _aoutside_ok(conn))):
                    _refuse_second_write(wrote)
                    if one_write and idle and _write_alone_ok(conn) and await _aoutside_ok(conn):
                        alone = wrote = True
                    else:
                        await stack.enter_async_context(atransaction(conn))
                        in_tx = True
                try:
                    if not in_tx and idle and not conn.autocommit:
                        await conn.set_autocommit(True)
                        try:
                            result = await arun_step(conn, step)
                        finally:
                            if not conn.broken:
                                await conn.set_autocommit(False)
                    else:
                        result = await arun_step(conn, step)
                except psycopg.Error as exc:
                    _raise_fault(exc, committing=alone)
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


@overload
def operation(fn: Callable[P, Steps[R]], /) -> Operation[P, R]: ...
@overload
def operation(*, one_write: bool = False) -> Callable[[Callable[P, Steps[R]]], Operation[P, R]]: ...
def operation(
    fn: Callable[P, Steps[R]] | None = None, /, *, one_write: bool = False
) -> Operation[P, R] | Callable[[Callable[P, Steps[R]]], Operation[P, R]]:
    """Make a step generator callable as ``op(conn, ...)`` with sync or async connections.

    ``@operation(one_write=True)``: see the module docstring (its write goes alone).
    """
    if fn is None:
        return lambda f: Operation(f, one_write=one_write)
    return Operation(fn)
