"""Pools that send writes to the primary and, when asked, reads to a standby.

:class:`Pool` is a psycopg_pool ``ConnectionPool`` (of the primary) with a second pool
for reads that tolerate staleness: ``pool.connection(read_only=True)`` takes a
connection from ``pool.reader`` (a standby, or the primary when no read DSN is set).
Read-only connections refuse writes in both cases, so code that writes through a
reader fails in development the same way it would against a standby. Pool timeouts
become :class:`~pydal_lite.errors.PoolExhausted`, broken connections
:class:`~pydal_lite.errors.ConnectionLost` / :class:`~pydal_lite.errors.CommitOutcomeUnknown`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import DictRow

from .errors import PoolExhausted
from .faults import (
    AsyncGuardedConnection,
    GuardedConnection,
    pool_timeout_message,
    translate_statement_error,
)

Connection = psycopg.Connection[DictRow]
AsyncConnection = psycopg.AsyncConnection[DictRow]


def _reset_read_only(conn: psycopg.Connection[Any]) -> None:
    if conn.read_only is not None:
        conn.read_only = None


async def _areset_read_only(conn: psycopg.AsyncConnection[Any]) -> None:
    if conn.read_only is not None:
        await conn.set_read_only(None)


class Pool(psycopg_pool.ConnectionPool[Connection]):
    """A pool of the primary; ``connection(read_only=True)`` reads from ``reader``."""

    def __init__(
        self, conninfo: str, *, reader: Pool | None = None, open: bool = True, **kwargs: Any
    ) -> None:
        self._reader = reader
        self._in_use = 0  # connections handed out and not returned (for PoolExhausted)
        self._count_lock = threading.Lock()
        super().__init__(
            conninfo,
            connection_class=GuardedConnection,
            reset=_reset_read_only,
            open=False,
            **kwargs,
        )
        if open:
            self.open()

    @property
    def reader(self) -> Pool:
        """The pool that serves ``connection(read_only=True)``: a standby's, or this one."""
        return self._reader or self

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        if self._reader is not None:
            self._reader.open(wait, timeout)
        super().open(wait, timeout)

    def wait(self, timeout: float = 30.0) -> None:
        super().wait(timeout)
        if self._reader is not None:
            self._reader.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        try:
            super().close(timeout)
        finally:
            if self._reader is not None:
                self._reader.close(timeout)

    def getconn(self, timeout: float | None = None) -> Connection:
        try:
            conn = super().getconn(timeout)
        except psycopg_pool.PoolTimeout as exc:
            wait = self.timeout if timeout is None else timeout
            raise PoolExhausted(pool_timeout_message(self, wait, self._in_use)) from exc
        with self._count_lock:
            self._in_use += 1
        return conn

    def putconn(self, conn: Connection) -> None:
        with self._count_lock:
            self._in_use -= 1
        super().putconn(conn)

    @contextmanager
    def connection(
        self, timeout: float | None = None, *, read_only: bool = False
    ) -> Iterator[Connection]:
        """A connection for one unit of work; commits at the end, rolls back on error.

        ``read_only=True`` says the work only reads and tolerates slightly stale data:
        it runs on the reader pool (a standby when configured), in read-only transactions.
        """
        if read_only and self._reader is not None:
            with self._reader.connection(timeout) as conn:
                yield conn
            return
        with super().connection(timeout) as conn:
            if read_only:
                conn.read_only = True
            try:
                yield conn
            except psycopg.Error as exc:
                translate_statement_error(exc, conn)
                raise


class AsyncPool(psycopg_pool.AsyncConnectionPool[AsyncConnection]):
    """The async twin of :class:`Pool`; open it with ``async with`` or ``await open()``."""

    def __init__(self, conninfo: str, *, reader: AsyncPool | None = None, **kwargs: Any) -> None:
        self._reader = reader
        self._in_use = 0  # one event loop: no lock needed
        super().__init__(
            conninfo,
            connection_class=AsyncGuardedConnection,
            reset=_areset_read_only,
            open=False,
            **kwargs,
        )

    @property
    def reader(self) -> AsyncPool:
        """The pool that serves ``connection(read_only=True)``: a standby's, or this one."""
        return self._reader or self

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        if self._reader is not None:
            await self._reader.open(wait, timeout)
        await super().open(wait, timeout)

    async def wait(self, timeout: float = 30.0) -> None:
        await super().wait(timeout)
        if self._reader is not None:
            await self._reader.wait(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        try:
            await super().close(timeout)
        finally:
            if self._reader is not None:
                await self._reader.close(timeout)

    async def getconn(self, timeout: float | None = None) -> AsyncConnection:
        try:
            conn = await super().getconn(timeout)
        except psycopg_pool.PoolTimeout as exc:
            wait = self.timeout if timeout is None else timeout
            raise PoolExhausted(pool_timeout_message(self, wait, self._in_use)) from exc
        self._in_use += 1
        return conn

    async def putconn(self, conn: AsyncConnection) -> None:
        self._in_use -= 1
        await super().putconn(conn)

    @asynccontextmanager
    async def connection(
        self, timeout: float | None = None, *, read_only: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """The async twin of :meth:`Pool.connection`."""
        if read_only and self._reader is not None:
            async with self._reader.connection(timeout) as conn:
                yield conn
            return
        async with super().connection(timeout) as conn:
            if read_only:
                await conn.set_read_only(True)
            try:
                yield conn
            except psycopg.Error as exc:
                translate_statement_error(exc, conn)
                raise
