"""Exceptions raised by pydal_lite; all derive from PydalError."""

from __future__ import annotations

import psycopg
import psycopg_pool


class PydalError(Exception):
    """Base class of every error pydal_lite raises itself."""


class ConfigurationError(PydalError):
    """Settings are missing or contradict each other."""


class InvalidInput(PydalError, ValueError):
    """A caller passed a value the operation refuses before touching the database."""


class InvalidTransition(InvalidInput):
    """A status change that the row's current status does not allow."""


class NotFound(PydalError, LookupError):
    """A row the operation needs does not exist."""


class MigrationError(PydalError):
    """A migration could not be parsed, planned or applied."""


class MigrationFileError(MigrationError):
    """A file in schema/ does not follow the migration file format."""


class DriftError(MigrationError):
    """Applied migrations no longer match the files (changed checksum or missing file)."""


class MigrationFailed(MigrationError):
    """A statement of a migration failed on the server; the file's changes were rolled back."""

    def __init__(
        self, message: str, *, version: str, path: str, line: int | None, rolled_back: bool = True
    ) -> None:
        super().__init__(message)
        self.version = version
        self.path = path
        self.line = line
        self.rolled_back = rolled_back


class EmbeddedServerError(PydalError):
    """The embedded PostgreSQL server could not be started."""


class ConnectionFailure(PydalError, psycopg.OperationalError):
    """A connection could not be opened, or broke while in use (see the subclasses)."""


class CannotConnect(ConnectionFailure):
    """No server accepted a connection (down, unreachable, refused, or none read-write)."""


class ConnectionLost(ConnectionFailure):
    """The connection broke before the transaction's COMMIT was sent: nothing of it committed.

    The server rolls back a transaction whose connection goes away, so running the same
    transaction again on a new connection is safe. Work committed earlier stays committed.
    """


class CommitOutcomeUnknown(ConnectionFailure):
    """The connection broke while a COMMIT (or an autocommit statement) was in flight.

    The transaction may have committed or not; the client cannot tell. Do not blindly
    retry a write that is not idempotent: check whether it took effect (look the row up
    by a key the caller chose), or retry only writes that are safe to repeat.
    """


class PoolExhausted(PydalError, psycopg_pool.PoolTimeout):
    """The pool gave no connection within its timeout: all were in use, or new ones
    could not be opened (the message says which)."""
