"""Command line: ``python -m pydal_lite.import_sqlite`` / ``pydal-import-sqlite``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from .. import __version__
from ..dsn import describe, redact, resolve
from ..errors import ConfigurationError, EmbeddedServerError, InvalidInput
from ..migrate.connect import connect
from .api import DEFAULT_BATCH_SIZE, import_sqlite
from .errors import ConflictError, ImportFailed, PlanError, SourceError
from .options import ImportOptions, load_options, parse_assignment
from .progress import ConsoleProgress
from .report import ImportReport

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_CONNECT = 4

EPILOG = """\
tables are matched by name and columns by name; parents are copied before children
(foreign keys); the old two-table agent-runtime layout (sessions with a JSON messages
list, agent_contexts with a JSON agent_history) is expanded into sessions, messages,
agent_contexts and agent_switches. Timestamps without a time zone are read in the zone
declared for their column, table or file (--timezone, --source-timezone), else by the
naive-datetime policy (PYDAL_NAIVE_TIMEZONE, default: this machine's local zone); the
summary names every column that had such values and how they were read. Enum member
names ('PENDING') are mapped to the target's values where unambiguous; --map-value
maps the rest. Numeric timestamps are Unix epochs in seconds (|v| < 1e11), milliseconds (< 1e14) or
microseconds (< 1e17). Everything runs in one transaction: any error, or a row count
that does not add up, rolls it all back. Sequences are not transactional: ids drawn
from them by a dry run or a rolled-back import (the old layout's new session ids, ids a
column default fills in) stay used, which leaves a harmless gap in later ids; a dry run
never sets a sequence.

--on-conflict skip: a source row whose primary/unique key the target held before the
import is left alone (counted "skipped existing"); child rows that reference it are
imported and attach to that existing row. Two source rows that are one row after
conversion (e.g. '2024-03-10 02:30:00' and '2024-03-10T02:30:00Z' in a key) are a bad
row, "duplicate of an earlier row in the file": the import stops, or with
--skip-bad-rows the later one goes to FILE.

connection: --dsn, else DATABASE_URL, else libpq's PG* variables (PGHOST, PGDATABASE, ...),
else the embedded server (as for python -m pydal_lite.migrate). Passwords are never printed.

exit codes:
  0  imported (or, with --dry-run, everything would import); the summary is on stdout
  1  the import failed and was rolled back: a bad row (table, key and column named),
     a row the target rejected, counts that did not match, or an interrupt; no row
     was changed
  2  usage error: bad arguments, not a SQLite file, unknown table, tables that cannot
     be matched (a required target column missing in the source)
  3  refused: the target already holds rows with the same keys (use --on-conflict skip)
  4  cannot connect, no database configured, or an invalid connection string (never
     printed; nor is any part of a password, e.g. of a URL with an unencoded '@')
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pydal_lite.import_sqlite",
        description=f"pydal_lite {__version__}: copy a SQLite file (written by SQLAlchemy) "
        "into the migrated PostgreSQL schema",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, metavar="PATH.db", help="the SQLite file (read only)")
    parser.add_argument("--dsn", help="connection string (password never printed)")
    parser.add_argument(
        "--tables",
        nargs="+",
        metavar="TABLE",
        help="import only these SQLite tables (names or comma-separated lists)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read, convert and copy everything, report, then roll back: no row changes "
        "(sequences are not transactional: ids drawn during the run stay used)",
    )
    parser.add_argument(
        "--on-conflict",
        choices=("error", "skip"),
        default="error",
        help="rows whose primary/unique key the target already holds: refuse the whole "
        "import (error, the default) or leave the existing rows alone (skip)",
    )
    parser.add_argument(
        "--skip-bad-rows",
        type=Path,
        metavar="FILE",
        help="write rows that cannot be converted or that the target rejects to FILE "
        "(JSON lines: table, key, column, value, reason) and go on, instead of stopping",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"rows read and copied per batch (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="options file (JSON, or TOML on Python 3.11+): time zones, value mappings, "
        "fill values, derivations, wide-to-long mappings (docs/migrating_from_sqlite.md)",
    )
    parser.add_argument(
        "--source-timezone",
        metavar="ZONE",
        help="zone of the file's timestamps without one: 'UTC', 'Europe/Moscow', '+03:00', "
        "'local' (default: the naive-datetime policy, PYDAL_NAIVE_TIMEZONE, else local)",
    )
    parser.add_argument(
        "--timezone",
        action="append",
        default=[],
        metavar="TABLE[.COLUMN]=ZONE",
        help="zone of one table's or one column's naive timestamps (repeatable)",
    )
    parser.add_argument(
        "--map-value",
        action="append",
        default=[],
        metavar="TABLE.COLUMN:OLD=NEW",
        help="read the source value OLD of TABLE.COLUMN as NEW (repeatable)",
    )
    parser.add_argument(
        "--fill",
        action="append",
        default=[],
        metavar="TABLE.COLUMN=VALUE",
        help="give NULLs (or a missing column) of TABLE.COLUMN this value (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def options_from(args: argparse.Namespace) -> ImportOptions:
    """The options file (if any) with the command line's flags on top."""
    base = load_options(args.mapping) if args.mapping is not None else ImportOptions()
    flags = ImportOptions(source_timezone=args.source_timezone)
    for text in args.timezone:
        key, zone = parse_assignment(text, "--timezone")
        flags.timezones[key.lower()] = zone
    for text in args.map_value:
        where, sep, rest = text.partition(":")
        old, new = parse_assignment(rest, "--map-value") if sep else ("", "")
        if not sep or where.count(".") != 1:
            raise PlanError(f"--map-value {text!r}: expected TABLE.COLUMN:OLD=NEW")
        flags.values.setdefault(where.lower(), {})[old] = new
    for text in args.fill:
        where, value = parse_assignment(text, "--fill")
        if where.count(".") != 1:
            raise PlanError(f"--fill {text!r}: expected TABLE.COLUMN=VALUE")
        flags.fill[where.lower()] = value
    options = base.merged(flags)
    try:
        options.check_zones()
    except InvalidInput as exc:
        raise PlanError(str(exc)) from None
    return options


def open_connection(dsn: str) -> psycopg.Connection[Any] | str:
    """The import's connection (not autocommit), or the one-line reason it cannot be
    opened; the reason never holds any of the password (see pydal_lite.dsn)."""
    try:
        conn = connect(dsn, connect_timeout=10, application_name="pydal_lite.import_sqlite")
    except (ConfigurationError, psycopg.OperationalError) as exc:
        return str(exc)
    conn.autocommit = False
    return conn


def _tables(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def print_summary(report: ImportReport) -> None:
    """The final table and the notes, on stdout."""
    print(report.format_table())
    for line in report.notes():
        print(f"note: {line}")
    if report.bad_rows_file and any(t.skipped_bad for t in report.tables):
        print(f"skipped bad rows are listed in {report.bad_rows_file}")
    if report.dry_run:
        print(
            "dry run: everything was read, converted and copied, then rolled back "
            f"({report.seconds:.1f} s; sequences are not transactional: ids drawn stay used)"
        )
    else:
        for name, value in sorted(report.sequences.items()):
            print(f"sequence of {name} set to {value}")
        print(
            f"committed: {report.imported:,} rows imported, {report.skipped:,} skipped "
            f"({report.seconds:.1f} s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print(f"error: --batch-size must be positive, got {args.batch_size}", file=sys.stderr)
        return EXIT_USAGE
    if not args.path.is_file():
        print(f"error: no such file: {str(args.path)!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = options_from(args)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        resolved = resolve(args.dsn)
    except (ConfigurationError, EmbeddedServerError) as exc:
        print(f"error: cannot connect: {redact(str(exc)).strip()}", file=sys.stderr)
        return EXIT_CONNECT
    if resolved.source == "embedded":
        print(f"no database configured: {resolved.note}", file=sys.stderr)
    conn = open_connection(resolved.dsn)
    if isinstance(conn, str):
        print(f"error: {conn}", file=sys.stderr)
        return EXIT_CONNECT
    progress = ConsoleProgress(sys.stderr) if not args.quiet else None
    print(f"importing {args.path} into {describe(resolved.dsn)}", file=sys.stderr)
    with conn:
        try:
            report = import_sqlite(
                args.path,
                conn,
                tables=_tables(args.tables),
                dry_run=args.dry_run,
                on_conflict=args.on_conflict,
                skip_bad_rows=args.skip_bad_rows,
                batch_size=args.batch_size,
                progress=progress,
                options=options,
            )
        except (SourceError, PlanError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ConflictError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFLICT
        except ImportFailed as exc:
            print(f"error: {exc}\nthe import was rolled back; no row was changed", file=sys.stderr)
            return EXIT_FAILED
        except psycopg.Error as exc:
            print(
                f"error: {redact(str(exc)).strip()}\n"
                "the import was rolled back; no row was changed",
                file=sys.stderr,
            )
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("\ninterrupted: the import was rolled back; no row was changed", file=sys.stderr)
            return EXIT_FAILED
    print_summary(report)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
