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

Transactions are opened only where they buy something: leading plain reads (no
``FOR UPDATE``/``FOR SHARE``) run as statements of their own, so an operation that only
reads costs its queries and nothing more; at the first write or locking read the
runner opens a transaction (a savepoint inside the caller's) and every later step runs
in it, committed when the generator returns. Under READ COMMITTED, which the runner
requires for this (any other isolation level gets the transaction from the first step),
each statement sees its own snapshot either way, so nothing observable changes.

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

import psycopg
from psycopg import pq
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


def _outside_ok(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether leading reads may run as statements of their own on this connection."""
    level = conn.isolation_level
    return level is None or level == psycopg.IsolationLevel.READ_COMMITTED


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
    outside = _outside_ok(conn)
    with ExitStack() as stack:
        in_tx = False
        try:
            step: AnyStep = next(gen)
            while True:
                if not in_tx and not (outside and step.reads):
                    stack.enter_context(transaction(conn))
                    in_tx = True
                try:
                    if (
                        not in_tx
                        and not conn.autocommit
                        and conn.pgconn.transaction_status == _IDLE
                    ):
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
                    step = gen.throw(exc)
                    _refuse_after_error(conn.pgconn.transaction_status, exc)
                else:
                    step = gen.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            gen.close()


async def _run_async(conn: psycopg.AsyncConnection[Any], gen: Steps[R]) -> R:
    outside = _outside_ok(conn)
    async with AsyncExitStack() as stack:
        in_tx = False
        try:
            step: AnyStep = next(gen)
            while True:
                if not in_tx and not (outside and step.reads):
                    await stack.enter_async_context(atransaction(conn))
                    in_tx = True
                try:
                    if (
                        not in_tx
                        and not conn.autocommit
                        and conn.pgconn.transaction_status == _IDLE
                    ):
                        await conn.set_autocommit(True)
                        try:
                            result = await arun_step(conn, step)
                        finally:
                            await conn.set_autocommit(False)
                    else:
                        result = await arun_step(conn, step)
                except psycopg.Error as exc:
                    _raise_fault(exc)
                    step = gen.throw(exc)
                    _refuse_after_error(conn.pgconn.transaction_status, exc)
                else:
                    step = gen.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            gen.close()


def operation(fn: Callable[P, Steps[R]]) -> Operation[P, R]:
    """Make a step generator callable as ``op(conn, ...)`` with sync or async connections."""
    return Operation(fn)
