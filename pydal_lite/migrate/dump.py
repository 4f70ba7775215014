"""``dump [FILE]``: the schema as a reviewable file, the same bytes for the same schema.

``pg_dump --schema-only --no-owner --no-privileges`` (dbmate's choice), without the
runner's own tables and without the lines that change from run to run: the server and
pg_dump versions, and the random key of ``\\restrict`` lines (pg_dump 17.6 and later
point releases). Blank-line runs are folded, so review diffs show only schema changes.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from ..dsn import redact
from .backup import BackupFailed, find_pg_dump, run_pg_dump
from .tables import HISTORY_TABLE, PROGRESS_TABLE, VERSION_TABLE

HEADER = "-- Schema of the database, written by: python -m pydal_lite.migrate dump\n"
_VOLATILE = re.compile(
    r"^(?:-- Dumped (?:from database|by pg_dump) version .*|\\(?:un)?restrict .*"
    r"|-- (?:Started|Completed) on .*)$"
)


class DumpFailed(BackupFailed):
    """pg_dump is missing or failed; nothing was written."""


def dump_schema(conn: psycopg.Connection[Any], dsn: str) -> str:
    """The filtered schema-only dump of the database behind ``dsn``."""
    schema = conn.execute("select coalesce(current_schema(), 'public')").fetchone()
    qualified = sql.Identifier(schema[0] if schema else "public").as_string(conn)
    pg_dump = find_pg_dump(conn.info.server_version // 10000)
    args = ["--schema-only", "--no-owner", "--no-privileges", "--format=plain"]
    for table in (VERSION_TABLE, HISTORY_TABLE, PROGRESS_TABLE):
        args += ["--exclude-table", f"{qualified}.{table}"]
    proc = run_pg_dump(pg_dump, dsn, args, what="dump")
    if proc.returncode != 0:
        raise DumpFailed(
            f"dump: pg_dump failed (exit {proc.returncode}): {redact(proc.stderr.strip())}"
        )
    return clean(proc.stdout)


def clean(text: str) -> str:
    """Drop volatile lines and fold runs of blank lines."""
    lines: list[str] = []
    for line in text.splitlines():
        if _VOLATILE.match(line):
            continue
        if not line.strip() and (not lines or not lines[-1].strip()):
            continue
        lines.append(line.rstrip())
    while lines and not lines[-1].strip():
        lines.pop()
    return HEADER + "\n".join(lines) + "\n"
