"""The small interfaces between the importer and the shapes it expands.

A source shape that is not "one SQLite table -> the target table of the same name"
(the old two-table agent-runtime layout, a wide table mapped to long rows) is an
:class:`Expansion`: it takes its source tables out of the plain plan, checks the target
before anything is copied, reports key overlaps, copies, and verifies its own counts --
all inside the importer's one transaction. It sees the import through
:class:`ImportContext` and never the importer itself, so nothing here imports
:mod:`.importer` (no cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

from .badrows import BadRows, Rejecter
from .catalog import TargetColumn, TargetTable
from .convert import Converter
from .copy import OnConflict, TableWriter
from .options import ImportOptions
from .progress import Progress
from .report import ImportReport
from .source import Source, SourceTable

Overlap = tuple[str, str, int, Any]  # target table, key, rows, an example key


class ImportContext(Protocol):
    """What an expansion may use of the running import."""

    conn: psycopg.Connection[Any]
    source: Source
    catalog: dict[str, TargetTable]
    report: ImportReport
    bad_rows: BadRows
    batch_size: int
    progress: Progress
    options: ImportOptions
    on_conflict: OnConflict

    def converters_for(
        self, table: TargetTable, columns: Sequence[TargetColumn], *, counted: bool = True
    ) -> list[Converter]:
        """Converters for ``columns`` (``counted=False``: a look-ahead pass)."""
        ...

    def writer(
        self,
        table: TargetTable,
        columns: Sequence[TargetColumn],
        *,
        on_conflict: OnConflict,
        bad_rows: Rejecter | None = None,
    ) -> TableWriter:
        """A COPY writer for ``table``."""
        ...

    def count_target(self, table: str) -> int:
        """Rows ``table`` holds now (in this transaction)."""
        ...


class Expansion(Protocol):
    """A source shape the importer copies through its own code (see the module docstring)."""

    source_tables: list[str]  # lower-case SQLite table names it consumes
    name: str  # shown in the report ("the old agent-runtime layout")

    def check_target(self) -> None:
        """Plan and count, before anything is copied; PlanError when it cannot work."""
        ...

    def overlaps(self) -> list[Overlap]:
        """Source rows whose key the target already holds."""
        ...

    def run_before(self) -> None:
        """Copy what the plain tables depend on."""
        ...

    def run_after(self) -> None:
        """Copy what depends on the plain tables."""
        ...

    def verify(self) -> None:
        """Compare its counts with the target; VerificationError when they differ."""
        ...


class Detector(Protocol):
    """Finds an expansion among the chosen SQLite tables, or returns None."""

    def __call__(self, ctx: ImportContext, chosen: dict[str, SourceTable]) -> Expansion | None: ...
