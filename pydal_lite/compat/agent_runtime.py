"""Seed 001's ``Database`` class, backed by :mod:`pydal_lite.agent_runtime`.

The seed promised its callers that every existing method works unchanged::

    from app.services.database import Database      # now: re-export this module's names
    db = Database()
    db.save_session(session_id, messages, last_activity)
    session = db.load_session(session_id)

This class keeps that promise on PostgreSQL: the seed's constructor and method names,
parameters and defaults, and return shapes (``None`` where the seed returned ``None``;
the domain functions' save counts are not returned). Differences from
:mod:`pydal_lite.agent_runtime`, all the seed's own behaviour:

- naive datetimes (``datetime.now()``, ``datetime.now().isoformat()``) are accepted and
  read by the naive-datetime policy of :mod:`pydal_lite.validate` (the local zone
  unless configured), as everywhere in pydal_lite;
- ``save_agent_context`` for an unknown or soft-deleted session logs a warning and
  returns None (the seed only logged it); the domain function raises NotFound;
- ``session_scope()`` yields the instance's connection inside one transaction; the
  instance's methods called inside the block run in that transaction (the seed yielded
  a SQLAlchemy session: code that used ``session.query`` needs SQL instead).

Connections: one pooled connection per instance (a ``psycopg_pool`` pool of size 1,
re-opened if it breaks), opened on first use like SQLAlchemy's engine. ``db_url``: a
``postgresql://`` URL (``postgresql+psycopg://`` too) is used as given; a legacy
``sqlite://`` URL -- what the seed's code and configs pass -- names the old file, so the
connection comes from ``DATABASE_URL`` (else libpq's ``PG*`` variables, else the
embedded default server) and a one-line warning says so. To bring the old file's data
along, run ``python -m pydal_lite.import_sqlite`` on it once.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from .. import agent_runtime as ar
from ..connection import Connection, Settings, create_pool, transaction
from ..dsn import describe, resolve
from ..errors import InvalidInput, NotFound
from ..validate import aware_datetime

__all__ = ["Database", "LegacyDatabaseUrlWarning", "get_database"]

log = logging.getLogger("pydal_lite.compat.agent_runtime")

_POSTGRES_SCHEMES = (
    "postgresql://",
    "postgres://",
    "postgresql+psycopg://",
    "postgresql+psycopg2://",
)


class LegacyDatabaseUrlWarning(UserWarning):
    """A ``sqlite://`` URL was given; the data now lives in PostgreSQL."""


def _dsn(db_url: str | None) -> str:
    """The PostgreSQL connection string for ``db_url`` (see the module docstring)."""
    if db_url is not None and not isinstance(db_url, str):
        raise InvalidInput(f"db_url must be a string, got {type(db_url).__name__}")
    if db_url and db_url.startswith(_POSTGRES_SCHEMES):
        scheme, rest = db_url.split("://", 1)
        return "postgresql://" + rest if "+" in scheme else db_url
    if db_url and not db_url.startswith("sqlite:"):
        raise InvalidInput(
            f"db_url must be a postgresql:// URL (or the old sqlite:// one), got "
            f"{db_url.split('://', 1)[0]!r}://..."
        )
    resolved = resolve(None)
    if db_url:
        warnings.warn(
            f"Database(db_url={db_url!r}): the agent runtime's data is in PostgreSQL now; "
            f"using {describe(resolved.dsn) if resolved.dsn else 'the PG* environment'} "
            f"(from {resolved.source})",
            LegacyDatabaseUrlWarning,
            stacklevel=3,
        )
    return resolved.dsn


def _when(value: datetime | str | None, what: str) -> datetime | None:
    """A datetime or ISO text (``datetime.now().isoformat()``), naive ones per the policy."""
    return aware_datetime(value, what, nullable=True, iso=True)


class Database:
    """Seed 001's ``Database``: the same methods, on PostgreSQL through pydal_lite."""

    def __init__(self, db_url: str | None = None) -> None:
        self.dsn = _dsn(db_url)
        self._pool = self._new_pool()
        self._opened = False
        self._open_lock = threading.Lock()
        self._local = threading.local()

    def _new_pool(self) -> ConnectionPool[Connection]:
        settings = Settings(
            dsn=self.dsn, application_name="pydal_lite.compat", min_size=1, max_size=1
        )
        return create_pool(settings, open=False)

    def __repr__(self) -> str:
        return f"Database({describe(self.dsn) if self.dsn else 'PG* environment'!r})"

    # -- connections ----------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        scoped: Connection | None = getattr(self._local, "conn", None)
        if scoped is not None:
            yield scoped
            return
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open()
                    self._opened = True
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def session_scope(self) -> Iterator[Connection]:
        """One transaction: commit at the end of the block, roll back on an error.

        Yields the connection; this instance's methods called inside run in the same
        transaction.
        """
        if getattr(self._local, "conn", None) is not None:
            with transaction(self._local.conn) as conn:  # nested: a savepoint
                yield conn
            return
        with self._conn() as conn, transaction(conn):
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    def close(self) -> None:
        """Close the pooled connection (a later call opens it again)."""
        if self._opened:
            self._pool.close()
            self._pool = self._new_pool()
            self._opened = False

    # -- sessions -------------------------------------------------------------------------

    def save_session(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        last_activity: datetime | str | None = None,
    ) -> None:
        """Store the session's whole message list (only the changes are written)."""
        with self._conn() as conn:
            ar.save_session(conn, session_id, messages, _when(last_activity, "last_activity"))

    def load_session(self, session_id: str) -> dict[str, Any] | None:
        """session_id, messages, last_activity (and created_at, ...), or None."""
        with self._conn() as conn:
            return ar.load_session(conn, session_id)

    def get_messages_paginated(
        self, session_id: str, page: int = 1, page_size: int = 20
    ) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return ar.get_messages_paginated(conn, session_id, page, page_size)

    def get_session_stats(self, session_id: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            return ar.get_session_stats(conn, session_id)

    def delete_session(self, session_id: str, soft: bool = True) -> bool:
        with self._conn() as conn:
            return ar.delete_session(conn, session_id, soft)

    def list_all_sessions(self, include_deleted: bool = False) -> list[str]:
        with self._conn() as conn:
            return ar.list_all_sessions(conn, include_deleted)

    def cleanup_old_sessions(self, max_age_hours: float = 24) -> int:
        with self._conn() as conn:
            return ar.cleanup_old_sessions(conn, max_age_hours)

    def hard_delete_old_sessions(self, days_old: float = 30) -> int:
        with self._conn() as conn:
            return ar.hard_delete_old_sessions(conn, days_old)

    # -- agent contexts -------------------------------------------------------------------

    def save_agent_context(
        self,
        session_id: str,
        current_agent: str,
        agent_history: Sequence[Mapping[str, Any]],
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        last_switch_at: datetime | str | None = None,
        switch_count: int | None = None,
    ) -> None:
        """Create or update the agent context; an unknown session is logged, as the seed did."""
        with self._conn() as conn:
            try:
                ar.save_agent_context(
                    conn,
                    session_id,
                    current_agent,
                    agent_history,
                    metadata,
                    _when(created_at, "created_at"),
                    _when(last_switch_at, "last_switch_at"),
                    switch_count,
                )
            except NotFound as exc:
                log.warning("agent context not saved: %s", exc)

    def load_agent_context(self, session_id: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            return ar.load_agent_context(conn, session_id)

    def get_agent_switch_history(self, session_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return [dict(r) for r in ar.get_agent_switch_history(conn, session_id, limit)]

    def list_all_contexts(self) -> list[str]:
        """session_id of every live session that has an agent context.

        One transaction: the live sessions, then each one's context (one query per
        session; pydal_lite.agent_runtime has no single query for this list yet).
        """
        with self._conn() as conn, transaction(conn):
            return [
                sid
                for sid in ar.list_all_sessions(conn)
                if ar.load_agent_context(conn, sid) is not None
            ]


_default: Database | None = None
_default_lock = threading.Lock()


def get_database() -> Database:
    """The process-wide instance (the seed's singleton), created on first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Database()
        return _default
