"""The CLI's commands: connect, run one command, print it, map errors to exit codes.

Library errors say what happened; the hints naming command-line flags are added here.
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from .. import embedded
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
from .baseline import baseline
from .connect import connect
from .dump import dump_schema
from .errors import (
    BaselineRefused,
    ConnectionLost,
    DriftBlocked,
    ForgetRefused,
    OutOfOrder,
    UnfilledMigration,
    UnknownVersion,
)
from .files import read_dir
from .offline import embedded_command, new_command
from .output import (
    EXIT_BACKUP,
    EXIT_CONNECT,
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_USAGE,
    Output,
    fail,
    history_lines,
    status_lines,
)
from .runner import Migrator, Options

_READS_FILES = {"up", "down", "status", "version", "verify", "baseline"}


def run_command(command: str, args: argparse.Namespace) -> int:
    io = Output()
    try:
        return _run(command, args, io)
    finally:
        io.closing_note()


def _run(command: str, args: argparse.Namespace, io: Output) -> int:
    if command == "new":
        return new_command(args, io)
    if command == "embedded":
        return embedded_command(args, io)
    try:
        folder = (
            read_dir(args.schema_dir or default_schema_dir()) if command in _READS_FILES else None
        )
    except MigrationFileError as exc:
        return fail(io, args.json, EXIT_USAGE, str(exc))
    except FileNotFoundError as exc:
        return fail(io, args.json, EXIT_USAGE, f"{exc}: pass --schema-dir")
    try:
        resolved = resolve(args.dsn)
        psql = None
        if resolved.source == "embedded":
            psql = embedded.running_dsn() or resolved.dsn
            io.err(f"no database configured: {resolved.note}")
            io.err(f"  connect with: psql '{psql}'")
            io.err("  stop it with: python -m pydal_lite.migrate embedded stop")
        conn = connect(resolved.dsn, wait=args.wait)
    except (psycopg.OperationalError, ConfigurationError, EmbeddedServerError) as exc:
        return fail(io, args.json, EXIT_CONNECT, redact(str(exc)))
    options = Options(
        schema_dir=args.schema_dir,
        lock_timeout=args.lock_timeout,
        statement_timeout=args.statement_timeout,
        dry_run=args.dry_run,
        accept_drift=args.accept_drift,
        allow_out_of_order=args.allow_out_of_order,
        forget=tuple(args.forget),
        out=io.err if args.json else io.line,
        notice=io.err,
    )
    with conn:
        migrator = Migrator(conn, options, folder=folder)
        try:
            return _command(command, args, migrator, resolved.dsn, io, psql)
        except Exception as exc:
            code, message = explain(exc)
            if code is None:
                raise
            done = [o.as_json() for o in migrator.outcomes]
            return fail(io, args.json, code, message, command=command, outcomes=done)


def explain(exc: Exception) -> tuple[int | None, str]:
    """The exit code and message for ``exc``, with the flags that would help."""
    text = str(exc)
    if isinstance(exc, ConnectionLost):
        return EXIT_FAILED, f"migration {exc.version}: {text}"
    if isinstance(exc, MigrationFailed):
        outcome = "was rolled back" if exc.rolled_back else "ran without a transaction"
        return EXIT_FAILED, f"migration {exc.version} failed and {outcome}:\n{text}"
    if isinstance(exc, DriftBlocked):
        hints = []
        if exc.drifted:
            hints.append("rerun with --accept-drift to record the changed files' checksums")
        hints += [f"--forget {v} forgets applied version {v} (recorded)" for v in exc.missing]
        return EXIT_DRIFT, text + "".join(f"\n  {h}" for h in hints)
    if isinstance(exc, BaselineRefused):
        return (EXIT_DRIFT if exc.differences else EXIT_USAGE), f"baseline: {text}"
    if isinstance(exc, DriftError):
        return EXIT_DRIFT, text
    if isinstance(exc, BackupFailed):
        return EXIT_BACKUP, text
    if isinstance(exc, UnknownVersion):
        flag = {"target": "--to", "steps": "--steps"}.get(exc.option, exc.option.upper())
        return EXIT_USAGE, f"{flag} {text}"
    if isinstance(exc, OutOfOrder):
        return EXIT_USAGE, f"{text} (rerun with --allow-out-of-order)"
    if isinstance(exc, ForgetRefused):
        return EXIT_USAGE, f"--forget: {text}"
    if isinstance(exc, UnfilledMigration):
        return EXIT_USAGE, f"{text} (up --to VERSION applies the files before it)"
    if isinstance(exc, MigrationError):
        return EXIT_USAGE, text
    if isinstance(exc, psycopg.Error):
        return EXIT_FAILED, redact(text)
    return None, text


def _backup_hook(args: argparse.Namespace, migrator: Migrator, dsn: str, io: Output) -> Any:
    if args.backup is None or args.dry_run:
        return None

    def hook(plan: Any) -> None:
        major = migrator.conn.info.server_version // 10000
        path = take_backup(dsn, args.backup, server_major=major, label=args.command or "up")
        migrator.out(f"backup written to {path}")

    return hook


def _command(
    command: str,
    args: argparse.Namespace,
    migrator: Migrator,
    dsn: str,
    io: Output,
    psql: str | None,
) -> int:
    if command in ("up", "down"):
        hook = _backup_hook(args, migrator, dsn, io)
        if command == "up":
            plan = migrator.up(getattr(args, "target", None), before_apply=hook)
        else:
            plan = migrator.down(steps=args.steps, target=args.target, before_apply=hook)
        if args.json:
            io.json(
                {
                    "ok": True,
                    "command": command,
                    "dry_run": args.dry_run,
                    "planned": [m.version for m in plan],
                    "outcomes": [o.as_json() for o in migrator.outcomes],
                    "status": [s.as_json() for s in migrator.status()],
                }
            )
        elif command == "up" and not args.dry_run:
            for line in status_lines(migrator.status()):
                io.line(line)
        return EXIT_OK
    if command == "status":
        states = migrator.status()
        if args.json:
            io.json([s.as_json() for s in states])
        else:
            for line in status_lines(states):
                io.line(line)
            for s in states:
                if s.state == "unfilled":
                    io.line(f"{s.version}_{s.name}: unfilled (its up part has no SQL yet)")
            if psql:
                io.line(f"server: the embedded PostgreSQL; connect with: psql '{psql}'")
        return EXIT_DRIFT if any(s.state in ("drifted", "missing") for s in states) else EXIT_OK
    if command == "version":
        current = migrator.current_version()
        if args.json:
            io.json(current.as_json() if current else None)
        else:
            io.line(
                f"{current.version} {current.name}" if current else "none: no migration applied"
            )
        return EXIT_OK
    if command == "history":
        events = migrator.history()
        if args.json:
            io.json([e.as_json() for e in events])
        else:
            for line in history_lines(events):
                io.line(line)
        return EXIT_OK
    if command == "verify":
        return _verify(args, migrator, io)
    if command == "baseline":
        adopted = baseline(migrator.conn, dsn, migrator.folder, args.version, out=migrator.out)
        if args.json:
            io.json({"ok": True, "command": "baseline", "recorded": [m.version for m in adopted]})
        return EXIT_OK
    if command == "dump":
        return _dump(args, migrator, dsn, io)
    raise AssertionError(command)


def _verify(args: argparse.Namespace, migrator: Migrator, io: Output) -> int:
    states = migrator.status()
    by = {k: [s for s in states if s.state == k] for k in {s.state for s in states}}
    bad = by.get("drifted", []) + by.get("missing", [])
    waiting = [
        s for s in states if s.state in ("pending", "out-of-order", "unfilled", "interrupted")
    ]
    code = EXIT_DRIFT if bad else EXIT_PENDING if waiting else EXIT_OK
    if args.json:
        io.json(
            {
                "ok": code == EXIT_OK,
                "exit_code": code,
                **{k: [s.version for s in v] for k, v in sorted(by.items()) if k != "applied"},
            }
        )
        return code
    for s in bad + waiting:
        io.line(f"{s.version}_{s.name}: {s.state}")
    if code == EXIT_OK:
        io.line("ok: every migration applied, checksums match")
    return code


def _dump(args: argparse.Namespace, migrator: Migrator, dsn: str, io: Output) -> int:
    text = dump_schema(migrator.conn, dsn)
    if args.file is None:
        for line in text.splitlines():
            io.line(line)
        return EXIT_OK
    try:
        args.file.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(
            io, args.json, EXIT_USAGE, f"dump: cannot write {str(args.file)!r}: {exc.strerror}"
        )
    if args.json:
        io.json({"ok": True, "command": "dump", "file": str(args.file), "bytes": len(text)})
    else:
        io.err(f"schema written to {args.file}")
    return EXIT_OK
