"""The runner's own tables: applied versions, the event history, per-statement progress."""

from __future__ import annotations

import getpass
import hashlib
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..errors import MigrationError
from .tables import (
    CREATE_HISTORY,
    CREATE_PROGRESS,
    CREATE_VERSIONS,
    DIRECTION_CHECK,
    HISTORY_TABLE,
    PROGRESS_TABLE,
    RUNNER_TABLES,
    VERSION_COLUMNS,
    VERSION_TABLE,
)


def statement_sha(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


def actor(conn: psycopg.Connection[Any]) -> str:
    """``role (user@host)``: who ran the migration, for the history."""
    row = conn.execute("select current_user").fetchone()
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        who = "unknown"
    return f"{row[0] if row else '?'} ({who})"


@dataclass(frozen=True)
class HistoryEvent:
    """One row of the history table."""

    id: int
    version: str
    name: str
    direction: str
    checksum: str
    happened_at: datetime
    actor: str
    execution_ms: float

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["happened_at"] = self.happened_at.isoformat()
        return d


@dataclass(frozen=True)
class Progress:
    """What an interrupted run did with one statement of a transaction:false part."""

    state: str  # started | done
    sha256: str
    line: int


class Bookkeeping:
    """Reads and writes the runner's tables in ``schema`` over the runner's connection."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self._names = {
            "versions": sql.Identifier(schema, VERSION_TABLE),
            "history": sql.Identifier(schema, HISTORY_TABLE),
            "progress": sql.Identifier(schema, PROGRESS_TABLE),
        }

    def q(self, template: str, **values: sql.Composable) -> sql.Composed:
        """``template`` with the tables' qualified names and ``values`` filled in."""
        return sql.SQL(template).format(**self._names, **values)  # type: ignore[arg-type]

    def create_statements(self, *, progress: bool = True) -> list[sql.Composed]:
        """The DDL of the tables (the dry-run script prints it when they are missing)."""
        found = self._found()
        out = []
        if VERSION_TABLE not in found:
            out += [self.q(s) for s in CREATE_VERSIONS + CREATE_HISTORY]
        if progress and PROGRESS_TABLE not in found:
            out += [self.q(s) for s in CREATE_PROGRESS]
        return out

    def _found(self) -> set[str]:
        rows = self.conn.execute(
            "select c.relname::text, a.attname::text"
            " from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0"
            " where c.relnamespace = to_regnamespace(%s) and c.relname = any(%s)",
            (self.schema, list(RUNNER_TABLES)),
        ).fetchall()
        if not rows:
            return set()
        columns = {col for table, col in rows if table == VERSION_TABLE}
        tables = {table for table, _ in rows}
        if not VERSION_COLUMNS <= columns or HISTORY_TABLE not in tables:
            raise MigrationError(
                f"{self.schema}.{VERSION_TABLE} exists but is not pydal_lite's version table "
                f"(columns {sorted(columns)!r}; another tool such as dbmate, golang-migrate or "
                "Rails uses that name): migrate this database with that tool, or rename its table"
            )
        return tables

    def exists(self) -> bool:
        return bool(self._found())

    def ensure(self) -> None:
        """Create the tables, or bring those of an older runner up to date (under the lock)."""
        with self.conn.transaction():
            for statement in self.create_statements():
                self.conn.execute(statement)
            row = self.conn.execute(
                "select pg_get_constraintdef(c.oid) from pg_constraint c"
                " join pg_class t on t.oid = c.conrelid"
                " where t.relnamespace = to_regnamespace(%s) and t.relname = %s"
                " and c.conname = 'schema_migration_history_direction_check'",
                (self.schema, HISTORY_TABLE),
            ).fetchone()
            if row is not None and "'baseline'" not in row[0]:
                self.conn.execute(
                    self.q(
                        "alter table {history}"
                        " drop constraint schema_migration_history_direction_check,"
                        " add constraint schema_migration_history_direction_check "
                        + DIRECTION_CHECK
                    )
                )

    def applied(self) -> dict[str, dict[str, Any]]:
        if not self.exists():
            return {}
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                self.q(
                    "select version, name, checksum, applied_at, execution_ms"
                    " from {versions} order by version"
                )
            )
            return {row["version"]: row for row in cur.fetchall()}

    def history(self) -> list[HistoryEvent]:
        if not self.exists():
            return []
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                self.q(
                    "select id, version, name, direction, checksum, happened_at, actor,"
                    " execution_ms from {history} order by id"
                )
            )
            return [HistoryEvent(**row) for row in cur.fetchall()]

    def progress(self) -> dict[tuple[str, str], dict[int, Progress]]:
        """(version, direction) -> statement index -> what a stopped run left recorded."""
        if PROGRESS_TABLE not in self._found():
            return {}
        rows = self.conn.execute(
            self.q("select version, direction, statement, state, sha256, line from {progress}")
        ).fetchall()
        out: dict[tuple[str, str], dict[int, Progress]] = {}
        for version, direction, index, state, sha, line in rows:
            out.setdefault((version, direction), {})[index] = Progress(state, sha, line)
        return out

    def mark(
        self, version: str, direction: str, index: int, sha: str, line: int, state: str
    ) -> None:
        self.conn.execute(
            self.q(
                "insert into {progress} (version, direction, statement, sha256, state, line)"
                " values (%s, %s, %s, %s, %s, %s)"
                " on conflict (version, direction, statement) do update"
                " set sha256 = excluded.sha256, state = excluded.state, line = excluded.line,"
                " updated_at = now()"
            ),
            (version, direction, index, sha, state, line),
        )

    def finish(
        self, version: str, name: str, checksum: str, direction: str, who: str, ms: float
    ) -> None:
        """Record a completed part: the version row, the event, no progress left."""
        if direction == "up":
            self.conn.execute(
                self.q(
                    "insert into {versions} (version, name, checksum, applied_by, execution_ms)"
                    " values (%s, %s, %s, %s, %s)"
                ),
                (version, name, checksum, who, ms),
            )
        else:
            self.conn.execute(self.q("delete from {versions} where version = %s"), (version,))
        self.conn.execute(self.q("delete from {progress} where version = %s"), (version,))
        self.event(version, name, direction, checksum, who, ms)

    def adopt(self, version: str, name: str, checksum: str, who: str) -> None:
        """Record ``version`` as applied by ``baseline`` (nothing was run)."""
        self.conn.execute(
            self.q(
                "insert into {versions} (version, name, checksum, applied_by, execution_ms)"
                " values (%s, %s, %s, %s, 0)"
            ),
            (version, name, checksum, who),
        )
        self.event(version, name, "baseline", checksum, who, 0.0)

    def set_checksum(self, version: str, checksum: str) -> None:
        self.conn.execute(
            self.q("update {versions} set checksum = %s where version = %s"), (checksum, version)
        )

    def forget(self, version: str) -> None:
        self.conn.execute(self.q("delete from {versions} where version = %s"), (version,))
        self.conn.execute(self.q("delete from {progress} where version = %s"), (version,))

    def event(
        self, version: str, name: str, direction: str, checksum: str, who: str, ms: float
    ) -> None:
        self.conn.execute(
            self.q(
                "insert into {history} (version, name, direction, checksum, actor, execution_ms)"
                " values (%s, %s, %s, %s, %s, %s)"
            ),
            (version, name, direction, checksum, who, ms),
        )
