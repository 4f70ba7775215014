"""Import a SQLite file written by SQLAlchemy into the migrated PostgreSQL schema.

``python -m pydal_lite.import_sqlite PATH.db`` (see :mod:`.cli`), or from Python::

    from pydal_lite.import_sqlite import import_sqlite
    report = import_sqlite("benchmark.db", dsn)
    print(report.format_table())
"""

from __future__ import annotations

from .api import import_sqlite
from .errors import (
    BadRowError,
    ConflictError,
    ImportFailed,
    PlanError,
    SourceError,
    VerificationError,
)
from .options import DeriveCase, ImportOptions, WideMapping, load_options
from .progress import ConsoleProgress, Progress
from .report import ImportReport, TableReport

__all__ = [
    "BadRowError",
    "ConflictError",
    "ConsoleProgress",
    "DeriveCase",
    "ImportFailed",
    "ImportOptions",
    "ImportReport",
    "PlanError",
    "Progress",
    "SourceError",
    "TableReport",
    "VerificationError",
    "WideMapping",
    "import_sqlite",
    "load_options",
]
