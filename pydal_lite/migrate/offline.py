"""The commands that need no database: ``new`` and ``embedded status|stop``."""

from __future__ import annotations

import argparse

from .. import embedded
from ..errors import EmbeddedServerError, MigrationError
from .output import EXIT_CONNECT, EXIT_OK, EXIT_USAGE, Output, fail
from .scaffold import new_migration, reads_elsewhere, target_dir


def new_command(args: argparse.Namespace, io: Output) -> int:
    try:
        folder = target_dir(args.schema_dir)
        path = new_migration(folder, args.name)
    except MigrationError as exc:
        hint = "" if args.schema_dir else " (--schema-dir DIR names the folder)"
        return fail(io, args.json, EXIT_USAGE, f"{exc}{hint}")
    elsewhere = reads_elsewhere(folder) if args.schema_dir is None else None
    if elsewhere is not None:
        io.err(f"note: the other commands read {elsewhere} unless given --schema-dir {folder}")
    if args.json:
        io.json({"ok": True, "command": "new", "path": str(path)})
    else:
        io.line(str(path))
    return EXIT_OK


def embedded_command(args: argparse.Namespace, io: Output) -> int:
    datadir = embedded.default_datadir()
    try:
        if args.action == "stop":
            stopped = embedded.stop_running(datadir)
            message = "stopped" if stopped else "no server was running"
            io.line(f"embedded PostgreSQL in {datadir}: {message}")
            return EXIT_OK
    except EmbeddedServerError as exc:
        return fail(io, args.json, EXIT_CONNECT, str(exc))
    dsn = embedded.running_dsn(datadir)
    if args.json:
        io.json({"datadir": str(datadir), "running": dsn is not None, "dsn": dsn})
    elif dsn is None:
        io.line(f"embedded PostgreSQL in {datadir}: not running")
    else:
        io.line(f"embedded PostgreSQL in {datadir}: running; connect with: psql '{dsn}'")
    return EXIT_OK
