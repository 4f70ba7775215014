"""Statements of ``transaction:false`` parts: which must run alone, and resuming after a crash.

Each statement of such a part runs in its own small transaction together with its
progress row when the server allows it, so it is applied exactly once. Statements that
cannot run in a transaction block (``CREATE INDEX CONCURRENTLY`` and the like) run alone,
bracketed by a ``started`` and a ``done`` row. A run that died between the two left the
statement's outcome unknown; :func:`recover` finds out what it left behind.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger("pydal_lite.migrate")

_WORD = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_CREATE_INDEX = re.compile(
    r"create\s+(?:unique\s+)?index\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?"
    rf"(?P<name>{_WORD})\s+on\s+(?:only\s+)?(?P<table>{_WORD}(?:\s*\.\s*{_WORD})?)",
    re.IGNORECASE,
)
# statements PostgreSQL refuses inside a transaction block
_ALONE = re.compile(
    r"(?:create\s+(?:unique\s+)?index\s+concurrently|drop\s+index\s+concurrently"
    r"|reindex\b.*\bconcurrently\b|reindex\s+(?:\(.*?\)\s*)?(?:database|system)\b|vacuum\b"
    r"|(?:create|drop)\s+(?:database|tablespace)\b|alter\s+system\b"
    r"|alter\s+table\b.*\bdetach\s+partition\b.*\bconcurrently\b)",
    re.IGNORECASE | re.DOTALL,
)
_SESSION_SETTING = re.compile(r"(?:set|reset)\s", re.IGNORECASE)

# SQLSTATEs that, for a statement a dead run had started, mean it had in fact completed:
# what it creates already exists (42P07, 42710, 42701, 42P06, 42723, 42P04) or what it
# drops is already gone (42P01, 42704, 42703, 42883, 3D000).
COMPLETED_BEFORE = {
    "42P07",
    "42710",
    "42701",
    "42P06",
    "42723",
    "42P04",
    "42P01",
    "42704",
    "42703",
    "42883",
    "3D000",
}
# the server refused to run the statement inside a transaction block
NEEDS_AUTOCOMMIT = {"25001", "2D000"}


def runs_alone(statement: str) -> bool:
    """Whether PostgreSQL refuses ``statement`` inside a transaction block."""
    return bool(_ALONE.match(statement.lstrip()))


def is_session_setting(statement: str) -> bool:
    """``SET``/``RESET``: session state a resumed run must set again."""
    return bool(_SESSION_SETTING.match(statement.lstrip()))


def _unquote(word: str) -> str:
    word = word.strip()
    if word.startswith('"'):
        return word[1:-1].replace('""', '"')
    return word.lower()


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` found: ``done`` (nothing to run) or ``rerun``, and why."""

    action: str  # done | rerun
    note: str


def recover(conn: psycopg.Connection[Any], statement: str) -> Recovery:
    """Inspect what an interrupted ``statement`` left; drop an INVALID index it built.

    Only called under the runner's advisory lock after the run that started the
    statement has lost its session (a session lock is released only then), so an
    INVALID index of that name is no build in progress but the remains of a dead one.
    """
    m = _CREATE_INDEX.match(statement.lstrip())
    if m is None:
        return Recovery("rerun", "outcome unknown: running it again")
    name, table = _unquote(m["name"]), m["table"]
    row = conn.execute(
        "select n.nspname::text, i.indisvalid from pg_index i"
        " join pg_class c on c.oid = i.indexrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where c.relname = %s and i.indrelid = to_regclass(%s)",
        (name, re.sub(r"\s+", "", table)),
    ).fetchone()
    if row is None:
        return Recovery("rerun", f"index {name} does not exist: building it")
    schema, valid = row
    if valid:
        return Recovery("done", f"index {name} exists and is valid: the build had completed")
    conn.execute(sql.SQL("drop index concurrently {}").format(sql.Identifier(schema, name)))
    log.warning("dropped invalid index %s.%s left by an interrupted build", schema, name)
    return Recovery("rerun", f"dropped the INVALID index {name} an interrupted build left")
