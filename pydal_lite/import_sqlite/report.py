"""What an import did: per-table counts and notes, and the final table printed by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    expansions: list[str] = field(default_factory=list)  # shapes expanded, by name
    tables: list[TableReport] = field(default_factory=list)
    naive_timestamps: int = 0
    naive_columns: list[str] = field(default_factory=list)
    # "table.column" -> (naive values, zone they were read in, where the zone was declared)
    naive_reads: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    defaulted_nulls: int = 0  # NULLs in not-null target columns given the column default
    defaulted_columns: list[str] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=dict)  # "table.column" -> NULLs filled
    empty_as_null: dict[str, int] = field(default_factory=dict)  # "table.column" -> ''s
    # "table.column" -> {(source value, target value): rows}
    value_mappings: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    derived_columns: dict[str, str] = field(default_factory=dict)  # "table.column" -> how
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

    def notes(self) -> list[str]:
        """What the import read in a way the user should know about, one line each."""
        out: list[str] = []
        for name in self.expansions:
            out.append(f"expanded: {name}")
        for where, pairs in self.value_mappings.items():
            shown = ", ".join(f"{a!r} -> {b!r} ({n:,})" for (a, b), n in sorted(pairs.items()))
            out.append(f"values mapped in {where}: {shown}")
        for where, how in sorted(self.derived_columns.items()):
            out.append(f"derived: {where} (the source has no such column) {how}")
        for where, (count, zone, origin) in sorted(self.naive_reads.items()):
            if count:
                declared = (
                    "the naive-datetime policy"
                    if origin == "default"
                    else f"declared for the {origin}"
                )
                out.append(f"naive timestamps: {where}: {count:,} read as {zone} time ({declared})")
        for where, count in sorted(self.filled.items()):
            out.append(f"filled: {count:,} NULLs in {where} took the declared fill value")
        for where, count in sorted(self.empty_as_null.items()):
            out.append(f"empty strings: {count:,} '' in {where} read as absent (NULL)")
        if self.defaulted_nulls:
            out.append(
                f"{self.defaulted_nulls:,} NULLs in columns that are not null in the target "
                f"took the column default ({', '.join(self.defaulted_columns)})"
            )
        for table, columns in sorted(self.ignored_columns.items()):
            out.append(
                f"{table}: column(s) {', '.join(columns)} have no target column (not imported)"
            )
        if self.ignored_tables:
            out.append(
                "SQLite table(s) without a target table (not imported): "
                + ", ".join(self.ignored_tables)
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """The counts and notes as plain data (e.g. for a JSON log)."""
        return {
            "path": self.path,
            "committed": self.committed,
            "tables": [vars(t) for t in self.tables],
            "notes": self.notes(),
        }
