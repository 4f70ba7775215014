"""The migration runner: apply, roll back and inspect schema/ on a database.

Python API (each opens its own autocommit connection and holds the advisory lock)::

    from pydal_lite import migrate
    migrate.up(dsn)                 # -> list of applied Migration
    migrate.down(dsn, steps=1)      # -> list of rolled-back Migration
    migrate.status(dsn)             # -> list of VersionStatus
    migrate.history(dsn)            # -> list of HistoryEvent
    migrate.baseline(dsn, "0005")   # -> list of adopted Migration, after a catalog check
    migrate.dump(dsn)               # -> the schema-only dump, stable and reviewable
"""

from __future__ import annotations

from typing import Any

from .baseline import baseline as _baseline
from .connect import connect
from .dump import dump_schema
from .files import Migration, SchemaFolder, load_dir, parse_file, read_dir
from .runner import HistoryEvent, Migrator, Options, Outcome, VersionStatus
from .sqlsplit import split_statements

__all__ = [
    "HistoryEvent",
    "Migration",
    "Migrator",
    "Options",
    "Outcome",
    "SchemaFolder",
    "VersionStatus",
    "baseline",
    "connect",
    "down",
    "dump",
    "history",
    "load_dir",
    "parse_file",
    "read_dir",
    "split_statements",
    "status",
    "up",
]


def _quiet(_: str) -> None:
    pass


def _options(kwargs: dict[str, Any]) -> Options:
    kwargs.setdefault("out", _quiet)
    return Options(**kwargs)


def up(dsn: str, *, target: str | None = None, **options: Any) -> list[Migration]:
    """Apply pending migrations up to ``target`` (all by default)."""
    with connect(dsn) as conn:
        return Migrator(conn, _options(options)).up(target)


def down(
    dsn: str, *, steps: int | None = None, target: str | None = None, **options: Any
) -> list[Migration]:
    """Roll back ``steps`` migrations (default 1), or all above ``target``."""
    with connect(dsn) as conn:
        return Migrator(conn, _options(options)).down(steps=steps, target=target)


def status(dsn: str, **options: Any) -> list[VersionStatus]:
    """Every version known to the files or the database, with its state."""
    with connect(dsn) as conn:
        return Migrator(conn, _options(options)).status()


def history(dsn: str, **options: Any) -> list[HistoryEvent]:
    """Every recorded up, down and accept event, oldest first."""
    with connect(dsn) as conn:
        return Migrator(conn, _options(options)).history()


def baseline(dsn: str, version: str, **options: Any) -> list[Migration]:
    """Record the files up to ``version`` as applied if the database's catalog matches them."""
    opts = _options(options)
    with connect(dsn) as conn:
        folder = Migrator(conn, opts).folder
        return _baseline(conn, dsn, folder, version, out=opts.out)


def dump(dsn: str) -> str:
    """The schema-only dump of the database, without volatile lines or the runner's tables."""
    with connect(dsn) as conn:
        return dump_schema(conn, dsn)
