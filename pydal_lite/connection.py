"""Connections, pools and transaction scopes built from one set of settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

Connection = psycopg.Connection[DictRow]
AsyncConnection = psycopg.AsyncConnection[DictRow]

DEFAULT_APPLICATION_NAME = "pydal_lite"


@dataclass(frozen=True)
class Settings:
    """How to reach the server and size the pool. Times are in seconds."""

    dsn: str
    application_name: str = DEFAULT_APPLICATION_NAME
    connect_timeout: float = 10.0
    min_size: int = 1
    max_size: int = 10
    pool_timeout: float = 30.0
    max_idle: float = 10 * 60.0
    max_lifetime: float = 60 * 60.0
    statement_timeout: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "application_name": self.application_name,
            "connect_timeout": max(1, round(self.connect_timeout)),
            "row_factory": dict_row,
            **self.extra,
        }
        if self.statement_timeout is not None:
            kwargs["options"] = f"-c statement_timeout={round(self.statement_timeout * 1000)}"
        return kwargs


def _settings(dsn: str | Settings) -> Settings:
    return dsn if isinstance(dsn, Settings) else Settings(dsn=dsn)


def connect(dsn: str | Settings, *, autocommit: bool = False) -> Connection:
    """Open one connection whose rows are dicts."""
    s = _settings(dsn)
    return psycopg.Connection.connect(s.dsn, autocommit=autocommit, **s.connect_kwargs())


async def aconnect(dsn: str | Settings, *, autocommit: bool = False) -> AsyncConnection:
    """Open one async connection whose rows are dicts."""
    s = _settings(dsn)
    return await psycopg.AsyncConnection.connect(s.dsn, autocommit=autocommit, **s.connect_kwargs())


def _pool_kwargs(s: Settings) -> dict[str, Any]:
    return {
        "kwargs": s.connect_kwargs(),
        "min_size": s.min_size,
        "max_size": s.max_size,
        "timeout": s.pool_timeout,
        "max_idle": s.max_idle,
        "max_lifetime": s.max_lifetime,
        "name": s.application_name,
    }


def create_pool(dsn: str | Settings, *, open: bool = True) -> ConnectionPool[Connection]:
    """A psycopg_pool ``ConnectionPool`` of dict-row connections."""
    s = _settings(dsn)
    return ConnectionPool(
        s.dsn, connection_class=psycopg.Connection[DictRow], open=open, **_pool_kwargs(s)
    )


def create_async_pool(dsn: str | Settings) -> AsyncConnectionPool[AsyncConnection]:
    """An ``AsyncConnectionPool`` of dict-row connections; open it with ``async with`` or
    ``await pool.open()``."""
    s = _settings(dsn)
    return AsyncConnectionPool(
        s.dsn, connection_class=psycopg.AsyncConnection[DictRow], open=False, **_pool_kwargs(s)
    )


@contextmanager
def transaction(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Commit on success, roll back on error; nested scopes become savepoints."""
    with conn.transaction():
        yield conn


@asynccontextmanager
async def atransaction(
    conn: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The async twin of :func:`transaction`."""
    async with conn.transaction():
        yield conn
