"""What an import did: per-table counts and notes, and the final table printed by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TableReport:
    """Counts of one target table. ``source_rows`` = imported + skipped_bad + skipped_existing."""

    table: str
    source: str  # the SQLite table (or "sessions.messages" for the expanded layout)
    source_rows: int = 0
    imported: int = 0
    skipped_bad: int = 0
    skipped_existing: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_bad + self.skipped_existing

    @property
    def accounted(self) -> bool:
        return self.source_rows == self.imported + self.skipped


@dataclass
class ImportReport:
    """Returned by :func:`pydal_lite.import_sqlite.import_sqlite`."""

    path: str
    target: str
    dry_run: bool = False
    committed: bool = False
    legacy_agent_runtime: bool = False
    tables: list[TableReport] = field(default_factory=list)
    naive_timestamps: int = 0
    naive_columns: list[str] = field(default_factory=list)
    defaulted_nulls: int = 0  # NULLs in not-null target columns given the column default
    defaulted_columns: list[str] = field(default_factory=list)
    ignored_tables: list[str] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)  # "table.column" -> last value set
    bad_rows_file: str | None = None
    seconds: float = 0.0

    def table(self, name: str) -> TableReport:
        """The counts of target table ``name``."""
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    @property
    def imported(self) -> int:
        return sum(t.imported for t in self.tables)

    @property
    def skipped(self) -> int:
        return sum(t.skipped for t in self.tables)

    def format_table(self) -> str:
        """The final table: target table, source, source rows, imported, skipped."""
        header = ("table", "from", "source rows", "imported", "skipped bad", "skipped existing")
        rows = [
            (
                t.table,
                t.source,
                f"{t.source_rows:,}",
                f"{t.imported:,}",
                f"{t.skipped_bad:,}",
                f"{t.skipped_existing:,}",
            )
            for t in self.tables
        ]
        total = sum(t.source_rows for t in self.tables)
        rows.append(
            (
                "total",
                "",
                f"{total:,}",
                f"{self.imported:,}",
                f"{sum(t.skipped_bad for t in self.tables):,}",
                f"{sum(t.skipped_existing for t in self.tables):,}",
            )
        )
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

        def fmt(row: tuple[str, ...]) -> str:
            cells = [
                row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i])
                for i in range(len(row))
            ]
            return "  ".join(cells).rstrip()

        lines = [fmt(header), fmt(tuple("-" * w for w in widths))]
        lines += [fmt(r) for r in rows[:-1]]
        lines += [fmt(tuple("-" * w for w in widths)), fmt(rows[-1])]
        return "\n".join(lines)
