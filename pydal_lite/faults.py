"""Connection faults as pydal_lite errors: what broke, and whether a commit may have happened.

psycopg reports a dead server, a terminated backend and a commit whose answer never
came with the same ``OperationalError``. The caller needs to know more: was anything
committed? :func:`translate_error` answers from where the error happened:

- before the transaction's COMMIT was sent -> :class:`~pydal_lite.errors.ConnectionLost`
  (the server rolled the transaction back; running it again is safe);
- while COMMIT (or an autocommit statement) was in flight ->
  :class:`~pydal_lite.errors.CommitOutcomeUnknown`;
- a pool timeout -> :class:`~pydal_lite.errors.PoolExhausted`.

The new errors subclass the psycopg / psycopg_pool classes they replace, so existing
``except psycopg.OperationalError`` and ``except PoolTimeout`` clauses keep working.
:func:`guard` / :func:`aguard` wrap a transaction scope and do the translation; the
connection classes of pydal_lite's pools and ``connect()`` use them for ``commit()``
and ``transaction()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import pq
from psycopg.rows import DictRow

from .dsn import redact
from .errors import CommitOutcomeUnknown, ConnectionLost, PoolExhausted, PydalError

T = TypeVar("T")

# Server errors that end the session: admin shutdown, crash shutdown, cannot connect
# now (starting up / shutting down), idle session timeout, idle-in-transaction timeout.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03", "57P05", "25P03"})
_POOL_ERRORS = (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg_pool.TooManyRequests)


def is_connection_failure(exc: BaseException) -> bool:
    """True when ``exc`` means the connection is gone (not a statement's own error)."""
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, _POOL_ERRORS):
        return False
    code = exc.sqlstate
    # libpq-level failures (server closed the connection, connection is closed,
    # connection refused) carry no SQLSTATE.
    return code is None or code.startswith("08") or code in _SESSION_ENDED


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return redact(text) or type(exc).__name__


def pool_timeout_message(
    pool: psycopg_pool.ConnectionPool[Any] | psycopg_pool.AsyncConnectionPool[Any],
    timeout: float,
    in_use: int,
) -> str:
    """Say why a pool gave no connection: all ``in_use``, or new ones failing to open."""
    stats = pool.get_stats()
    waiting, failed = stats.get("requests_waiting", 0), stats.get("connections_errors", 0)
    head = f"no connection from pool {pool.name!r} within {timeout:g} s"
    if in_use >= pool.max_size:
        return (
            f"{head}: all {in_use} of max_size={pool.max_size} connections in use, "
            f"requests waiting: {waiting} (raise max_size or hold connections shorter)"
        )
    return (
        f"{head}: {in_use} of max_size={pool.max_size} connections in use and no new one "
        f"could be opened ({failed} failed attempts so far): is the server reachable?"
    )


def translate_error(
    exc: BaseException,
    *,
    committing: bool = False,
) -> PydalError | None:
    """The pydal_lite error to raise instead of ``exc`` (``raise new from exc``), or None
    when ``exc`` is not a connection or pool fault (or is already a pydal_lite error).

    ``committing`` says that a COMMIT (or an autocommit statement) was in flight: a broken
    connection then leaves the outcome unknown. Otherwise the caller was inside a
    transaction that had not sent COMMIT, which the server rolls back: nothing committed.
    """
    if isinstance(exc, PydalError):
        return None
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return PoolExhausted(_reason(exc))
    if not is_connection_failure(exc):
        return None
    if committing:
        return CommitOutcomeUnknown(
            "connection lost while the commit was in flight: the transaction may or may "
            f"not have committed (check before retrying a write) ({_reason(exc)})"
        )
    return ConnectionLost(
        "connection lost before commit: the server rolled the transaction back, nothing "
        f"of it was committed and it is safe to run again ({_reason(exc)})"
    )


def _raise_translated(exc: BaseException, *, committing: bool) -> None:
    new = translate_error(exc, committing=committing)
    if new is not None:
        raise new from exc


def _opens_transaction(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    return conn.info.transaction_status == pq.TransactionStatus.IDLE


@contextmanager
def guard(conn: psycopg.Connection[Any], scope: AbstractContextManager[T]) -> Iterator[T]:
    """Run a transaction ``scope`` of ``conn``, translating connection faults: before
    its COMMIT -> ConnectionLost, during it -> CommitOutcomeUnknown. A nested scope (a
    savepoint) never commits, so a fault there is always ConnectionLost."""
    outer = _opens_transaction(conn)
    committing = False
    try:
        with scope as value:
            yield value
            committing = outer
    except psycopg.Error as exc:
        _raise_translated(exc, committing=committing)
        raise


@asynccontextmanager
async def aguard(
    conn: psycopg.AsyncConnection[Any], scope: AbstractAsyncContextManager[T]
) -> AsyncIterator[T]:
    """The async twin of :func:`guard`."""
    outer = _opens_transaction(conn)
    committing = False
    try:
        async with scope as value:
            yield value
            committing = outer
    except psycopg.Error as exc:
        _raise_translated(exc, committing=committing)
        raise


def translate_statement_error(
    exc: BaseException, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]
) -> None:
    """Raise the pydal_lite error for a fault outside any transaction scope: in
    autocommit mode the statement commits itself, so its outcome is unknown."""
    _raise_translated(exc, committing=conn.autocommit)


class GuardedConnection(psycopg.Connection[DictRow]):
    """A dict-row connection whose ``commit()`` and ``transaction()`` raise pydal_lite
    errors on connection faults (see :func:`translate_error`)."""

    def commit(self) -> None:
        committing = self.info.transaction_status == pq.TransactionStatus.INTRANS
        try:
            super().commit()
        except psycopg.Error as exc:
            _raise_translated(exc, committing=committing)
            raise

    @contextmanager
    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> Iterator[psycopg.Transaction]:
        with guard(self, super().transaction(savepoint_name, force_rollback)) as tx:
            yield tx


class AsyncGuardedConnection(psycopg.AsyncConnection[DictRow]):
    """The async twin of :class:`GuardedConnection`."""

    async def commit(self) -> None:
        committing = self.info.transaction_status == pq.TransactionStatus.INTRANS
        try:
            await super().commit()
        except psycopg.Error as exc:
            _raise_translated(exc, committing=committing)
            raise

    @asynccontextmanager
    async def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> AsyncIterator[psycopg.AsyncTransaction]:
        async with aguard(self, super().transaction(savepoint_name, force_rollback)) as tx:
            yield tx
