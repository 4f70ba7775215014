"""Connections, pools and transaction scopes built from one set of settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import dsn as _dsn
from .errors import CannotConnect
from .faults import AsyncGuardedConnection, GuardedConnection, aguard, guard, is_connection_failure
from .pools import AsyncConnection, AsyncPool, Connection, Pool

__all__ = [
    "AsyncConnection",
    "AsyncPool",
    "Connection",
    "Pool",
    "Settings",
    "aconnect",
    "atransaction",
    "connect",
    "create_async_pool",
    "create_pool",
    "transaction",
]

DEFAULT_APPLICATION_NAME = "pydal_lite"
_SECRET_KEYS = frozenset({"password", "sslpassword"})


@dataclass(frozen=True, repr=False)
class Settings:
    """How to reach the server(s) and size the pools. Times are in seconds.

    ``dsn`` is the primary: one server, or several (``host=db1,db2``) for failover,
    in which case libpq connects to whichever accepts writes
    (``target_session_attrs=read-write`` unless the DSN says otherwise). ``read_dsn``
    names the servers for reads that tolerate staleness (``connection(read_only=True)``);
    left out, a multi-host ``dsn`` reads from the same hosts with
    ``target_session_attrs=prefer-standby``, and a single-host one reads from the primary.
    ``check`` tests each connection with a round trip as it leaves the pool, so
    connections a failover broke are replaced instead of failing a caller once.
    """

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
    read_dsn: str | None = None
    check: bool = False

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("dsn", "read_dsn") and value:
                value = _dsn.shown(value)
            elif f.name == "extra":
                value = {k: "***" if k in _SECRET_KEYS else v for k, v in value.items()}
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    def connect_kwargs(self, *, read_only: bool = False) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (``read_only``: for the read pool)."""
        kwargs: dict[str, Any] = {
            "application_name": self.application_name,
            "connect_timeout": max(1, round(self.connect_timeout)),
            "row_factory": dict_row,
            **self.extra,
        }
        options = [str(self.extra["options"])] if self.extra.get("options") else []
        if self.statement_timeout is not None:
            options.append(f"-c statement_timeout={round(self.statement_timeout * 1000)}")
        if read_only:
            options.append("-c default_transaction_read_only=on")
        if options:
            kwargs["options"] = " ".join(options)
        return kwargs

    def primary_dsn(self) -> str:
        """The DSN the write pool connects with (see :func:`pydal_lite.dsn.for_primary`)."""
        return _dsn.for_primary(self.dsn)

    def reader_dsn(self) -> str | None:
        """The DSN of the read pool, None when reads share the primary's pool."""
        return _dsn.for_reader(self.dsn, self.read_dsn)


def _settings(dsn: str | Settings) -> Settings:
    return dsn if isinstance(dsn, Settings) else Settings(dsn=dsn)


def connect(dsn: str | Settings, *, autocommit: bool = False) -> Connection:
    """Open one connection (to the primary) whose rows are dicts.

    Raises :class:`~pydal_lite.errors.CannotConnect` (a ``psycopg.OperationalError``)
    when no server accepts it; the message never holds the password.
    """
    s = _settings(dsn)
    target = s.primary_dsn()
    try:
        return GuardedConnection.connect(target, autocommit=autocommit, **s.connect_kwargs())
    except psycopg.OperationalError as exc:
        if not is_connection_failure(exc):
            raise
        raise CannotConnect(_dsn.connect_error(target, exc)) from None


async def aconnect(dsn: str | Settings, *, autocommit: bool = False) -> AsyncConnection:
    """Open one async connection whose rows are dicts (errors as :func:`connect`)."""
    s = _settings(dsn)
    target = s.primary_dsn()
    try:
        return await AsyncGuardedConnection.connect(
            target, autocommit=autocommit, **s.connect_kwargs()
        )
    except psycopg.OperationalError as exc:
        if not is_connection_failure(exc):
            raise
        raise CannotConnect(_dsn.connect_error(target, exc)) from None


def _pool_kwargs(s: Settings, *, read_only: bool = False) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "kwargs": s.connect_kwargs(read_only=read_only),
        "min_size": s.min_size,
        "max_size": s.max_size,
        "timeout": s.pool_timeout,
        "max_idle": s.max_idle,
        "max_lifetime": s.max_lifetime,
        "name": f"{s.application_name}-reader" if read_only else s.application_name,
    }
    return kwargs


def create_pool(dsn: str | Settings, *, open: bool = True) -> Pool:
    """A :class:`~pydal_lite.pools.Pool` (a psycopg_pool ``ConnectionPool``) of dict-row
    connections to the primary, with a read pool when the settings name standbys."""
    s = _settings(dsn)
    check = Pool.check_connection if s.check else None
    read = s.reader_dsn()
    reader = None
    if read is not None:
        reader = Pool(read, open=False, check=check, **_pool_kwargs(s, read_only=True))
    return Pool(s.primary_dsn(), reader=reader, open=open, check=check, **_pool_kwargs(s))


def create_async_pool(dsn: str | Settings) -> AsyncPool:
    """The async twin of :func:`create_pool`; open it with ``async with`` or
    ``await pool.open()``."""
    s = _settings(dsn)
    check = AsyncPool.check_connection if s.check else None
    read = s.reader_dsn()
    reader = None
    if read is not None:
        reader = AsyncPool(read, check=check, **_pool_kwargs(s, read_only=True))
    return AsyncPool(s.primary_dsn(), reader=reader, check=check, **_pool_kwargs(s))


@contextmanager
def transaction(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Commit on success, roll back on error; nested scopes become savepoints.

    A connection that breaks raises :class:`~pydal_lite.errors.ConnectionLost` before
    COMMIT was sent (nothing committed) and :class:`~pydal_lite.errors.CommitOutcomeUnknown`
    while it was in flight.
    """
    if isinstance(conn, GuardedConnection):
        with conn.transaction():
            yield conn
    else:
        with guard(conn, conn.transaction()):
            yield conn


@asynccontextmanager
async def atransaction(
    conn: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The async twin of :func:`transaction`."""
    if isinstance(conn, AsyncGuardedConnection):
        async with conn.transaction():
            yield conn
    else:
        async with aguard(conn, conn.transaction()):
            yield conn
