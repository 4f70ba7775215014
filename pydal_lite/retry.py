"""Run a unit of work in one transaction, again on transient errors, a bounded number of times.

Retrying is safe only when the failed attempt certainly committed nothing, so exactly
these are retried: a serialization failure (40001) and a deadlock (40P01), which the
server rolls back, and :class:`~pydal_lite.errors.ConnectionLost` (the connection broke
before COMMIT was sent). :class:`~pydal_lite.errors.CommitOutcomeUnknown` is never
retried: the first attempt may have committed. The work function must do nothing
outside the database that cannot be repeated, and must not commit by itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

from .connection import atransaction, transaction
from .errors import ConnectionLost, InvalidInput
from .pools import AsyncConnection, AsyncPool, Connection, Pool
from .validate import shown

log = logging.getLogger("pydal_lite.retry")

R = TypeVar("R")

RETRIED: tuple[type[BaseException], ...] = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    ConnectionLost,
)
"""The errors after which a transaction is run again."""


def _check(attempts: int, backoff: float) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise InvalidInput(f"attempts must be an integer from 1 to 20, got {shown(attempts)}")
    if not 0 <= backoff <= 10:
        raise InvalidInput(f"backoff must be 0 to 10 seconds, got {shown(backoff)}")


def _delay(attempt: int, backoff: float) -> float:
    # exponential with full jitter, so retrying clients do not collide again in step
    return random.uniform(0, backoff * 2 ** (attempt - 1))


def run_transaction(
    pool: Pool,
    work: Callable[[Connection], R],
    *,
    attempts: int = 3,
    backoff: float = 0.05,
    read_only: bool = False,
) -> R:
    """``work(conn)`` in one transaction on a connection from ``pool``; after a
    transient error it is rolled back and run again on a fresh connection, at most
    ``attempts`` times in all, sleeping up to ``backoff * 2**n`` seconds in between.
    The last error is raised when every attempt failed."""
    _check(attempts, backoff)
    for attempt in range(1, attempts + 1):
        try:
            with pool.connection(read_only=read_only) as conn, transaction(conn):
                return work(conn)
        except RETRIED as exc:
            if attempt == attempts:
                raise
            log.info("attempt %d of %d failed, retrying: %s", attempt, attempts, exc)
            time.sleep(_delay(attempt, backoff))
    raise AssertionError("unreachable")  # pragma: no cover


async def arun_transaction(
    pool: AsyncPool,
    work: Callable[[AsyncConnection], Awaitable[R]],
    *,
    attempts: int = 3,
    backoff: float = 0.05,
    read_only: bool = False,
) -> R:
    """The async twin of :func:`run_transaction`."""
    _check(attempts, backoff)
    for attempt in range(1, attempts + 1):
        try:
            async with pool.connection(read_only=read_only) as conn, atransaction(conn):
                return await work(conn)
        except RETRIED as exc:
            if attempt == attempts:
                raise
            log.info("attempt %d of %d failed, retrying: %s", attempt, attempts, exc)
            await asyncio.sleep(_delay(attempt, backoff))
    raise AssertionError("unreachable")  # pragma: no cover
