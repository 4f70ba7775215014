"""Errors of the migration runner, worded in the library's terms (the CLI adds its flags)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DriftError, MigrationError, MigrationFailed, MigrationFileError


class SchemaDirError(MigrationFileError):
    """The migrations folder is missing, not a folder, unreadable or holds no migration."""

    def __init__(self, message: str, *, directory: Path) -> None:
        super().__init__(message)
        self.directory = directory


class UnreadableFile(MigrationFileError):
    """A migration file cannot be read (permissions, not UTF-8, a broken link)."""


class DuplicateVersion(MigrationFileError):
    """Two files carry the same version number (``001_b.sql`` beside ``0001_a.sql``)."""


class UnfilledMigration(MigrationFileError):
    """A migration file's up part holds no SQL yet (a skeleton written by ``new``)."""


class DriftBlocked(DriftError):
    """Applied versions no longer match the files; the run was refused before any change."""

    def __init__(self, message: str, *, drifted: list[str], missing: list[str]) -> None:
        super().__init__(message)
        self.drifted = drifted
        self.missing = missing


class ForgetRefused(MigrationError):
    """A version asked to be forgotten is not applied, or its file is still present."""


class UnknownVersion(MigrationError):
    """A version asked for is not a file (up) or not applied (down)."""

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option  # the keyword argument that named it: target or steps


class OutOfOrder(MigrationError):
    """Pending files are numbered below the newest applied version."""


class BaselineRefused(MigrationError):
    """``baseline`` found the database different from the files, or it has history already."""

    def __init__(self, message: str, *, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = differences or []


class ConnectionLost(MigrationError):
    """The server connection died mid-run; recorded progress lets the next run resume."""

    def __init__(self, message: str, *, version: str) -> None:
        super().__init__(message)
        self.version = version


class StatementFailed(MigrationFailed):
    """A statement of a migration failed on the server; ``sqlstate`` says how."""

    def __init__(
        self,
        message: str,
        *,
        version: str,
        path: str,
        line: int | None,
        rolled_back: bool,
        sqlstate: str | None,
    ) -> None:
        super().__init__(message, version=version, path=path, line=line, rolled_back=rolled_back)
        self.sqlstate = sqlstate
