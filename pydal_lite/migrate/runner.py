"""Plan and apply migrations under a session advisory lock, recording every event."""

from __future__ import annotations

import getpass
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..dsn import redact
from ..errors import ConfigurationError, DriftError, MigrationError, MigrationFailed
from ..resources import schema_dir as default_schema_dir
from .files import Migration, Part, load_dir

log = logging.getLogger("pydal_lite.migrate")

# pg_advisory_lock key, fixed so every runner version agrees. Advisory locks are
# per database, so runners on different databases never wait for each other.
LOCK_KEY = 0x3A6F_51D2_0C94_7B11
LOCK_POLL_SECONDS = 0.5
VERSION_TABLE = "schema_migrations"
HISTORY_TABLE = "schema_migration_history"
_VERSION_COLUMNS = {"version", "name", "checksum", "applied_at", "applied_by", "execution_ms"}

# {versions} and {history} become schema-qualified names: a migration that changes
# search_path must not make the runner lose its own tables.
_CREATE_TABLES = [
    """
create table {versions} (
    version      text primary key,
    name         text not null,
    checksum     text not null,
    applied_at   timestamptz not null default now(),
    applied_by   text not null,
    execution_ms double precision not null
)""",
    "comment on table {versions} is"
    " 'One row per applied migration file of schema/; written by python -m pydal_lite.migrate'",
    "comment on column {versions}.checksum is 'SHA-256 of the file''s up part when applied'",
    "comment on column {versions}.version is 'The file''s number (NNNN of NNNN_name.sql)'",
    "comment on column {versions}.name is 'The file''s name without number and .sql'",
    "comment on column {versions}.applied_at is 'When the up part committed'",
    "comment on column {versions}.applied_by is 'Database role (OS user@host) that applied it'",
    "comment on column {versions}.execution_ms is 'How long the up part took, in milliseconds'",
    """
create table {history} (
    id           bigint generated always as identity primary key,
    version      text not null,
    name         text not null,
    direction    text not null constraint schema_migration_history_direction_check
                     check (direction in ('up', 'down', 'accept', 'failed')),
    checksum     text not null,
    happened_at  timestamptz not null default now(),
    actor        text not null,
    execution_ms double precision not null
)""",
    "comment on table {history} is"
    " 'Every up, down, failed and accepted-drift event of the migration runner, oldest first'",
    "comment on column {history}.direction is"
    " 'up, down, accept (drift accepted with --accept-drift)"
    " or failed (the part failed; nothing recorded as applied)'",
    "comment on column {history}.id is 'Event number, in the order the events happened'",
    "comment on column {history}.version is 'The file''s number (NNNN of NNNN_name.sql)'",
    "comment on column {history}.name is 'The file''s name without number and .sql'",
    "comment on column {history}.checksum is 'SHA-256 of the file''s up part at the event'",
    "comment on column {history}.happened_at is 'When the event was recorded'",
    "comment on column {history}.actor is 'Database role (OS user@host) that ran the runner'",
    "comment on column {history}.execution_ms is 'How long the part took, in milliseconds'",
    "comment on constraint schema_migration_history_direction_check on {history} is"
    " 'direction is up, down, accept or failed'",
]


@dataclass(frozen=True)
class VersionStatus:
    """One row of ``status``: a file, an applied version, or both."""

    version: str
    name: str
    state: str  # applied | pending | drifted | missing | out-of-order
    applied_at: datetime | None = None
    execution_ms: float | None = None
    checksum: str | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["applied_at"] = self.applied_at.isoformat() if self.applied_at else None
        return d


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


@dataclass
class Options:
    """Runner settings; times in seconds (0 disables the timeout)."""

    schema_dir: Path | None = None
    lock_timeout: float = 5.0
    statement_timeout: float = 15 * 60.0
    dry_run: bool = False
    accept_drift: bool = False
    allow_out_of_order: bool = False
    out: Callable[[str], None] = field(default=print)
    # where the server's NOTICEs go (a migration explaining a choice it made)
    notice: Callable[[str], None] = field(default=lambda text: log.info("%s", text))


def _actor(conn: psycopg.Connection[Any]) -> str:
    role = conn.execute("select current_user").fetchone()
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        who = "unknown"
    return f"{role[0] if role else '?'} ({who})"


class Migrator:
    """Applies schema/ to one database over one autocommit connection."""

    def __init__(self, conn: psycopg.Connection[Any], options: Options | None = None) -> None:
        if not conn.autocommit:
            raise ConfigurationError("the migrator needs an autocommit connection")
        self.conn = conn
        self.options = options or Options()
        self.out = self.options.out
        conn.add_notice_handler(self._on_notice)
        row = conn.execute("select coalesce(current_schema(), 'public')").fetchone()
        self.schema: str = row[0] if row else "public"
        self._names = {
            "versions": sql.Identifier(self.schema, VERSION_TABLE),
            "history": sql.Identifier(self.schema, HISTORY_TABLE),
        }

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self.options.notice(f"{(diag.severity or 'NOTICE').lower()}: {diag.message_primary}")

    def _sql(self, template: str) -> sql.Composed:
        return sql.SQL(template).format(**self._names)  # type: ignore[arg-type]

    # -- reading -----------------------------------------------------------

    def files(self) -> list[Migration]:
        return load_dir(self.options.schema_dir or default_schema_dir())

    def _tables_exist(self) -> bool:
        rows = self.conn.execute(
            "select c.relname::text, a.attname::text"
            " from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0"
            " where c.relnamespace = to_regnamespace(%s) and c.relname in (%s, %s)",
            (self.schema, VERSION_TABLE, HISTORY_TABLE),
        ).fetchall()
        if not rows:
            return False
        columns = {col for table, col in rows if table == VERSION_TABLE}
        if not _VERSION_COLUMNS <= columns or HISTORY_TABLE not in {t for t, _ in rows}:
            raise MigrationError(
                f"{self.schema}.{VERSION_TABLE} exists but is not pydal_lite's version table "
                f"(columns {sorted(columns)!r}; another tool such as dbmate, golang-migrate or "
                "Rails uses that name): migrate this database with that tool, or rename its table"
            )
        return True

    def applied(self) -> dict[str, dict[str, Any]]:
        if not self._tables_exist():
            return {}
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                self._sql(
                    "select version, name, checksum, applied_at, execution_ms"
                    " from {versions} order by version"
                )
            )
            return {row["version"]: row for row in cur.fetchall()}

    def status(self) -> list[VersionStatus]:
        files = {m.version: m for m in self.files()}
        applied = self.applied()
        top = max((int(v) for v in applied), default=-1)
        rows: list[VersionStatus] = []
        for version in sorted(set(files) | set(applied), key=int):
            mig, row = files.get(version), applied.get(version)
            if row is None:
                assert mig is not None
                state = "out-of-order" if int(version) < top else "pending"
                rows.append(VersionStatus(version, mig.name, state, checksum=mig.checksum))
                continue
            if mig is None:
                state = "missing"
            elif mig.checksum != row["checksum"]:
                state = "drifted"
            else:
                state = "applied"
            rows.append(
                VersionStatus(
                    version,
                    row["name"],
                    state,
                    row["applied_at"],
                    row["execution_ms"],
                    row["checksum"],
                )
            )
        return rows

    def history(self) -> list[HistoryEvent]:
        if not self._tables_exist():
            return []
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                self._sql(
                    "select id, version, name, direction, checksum, happened_at, actor,"
                    " execution_ms from {history} order by id"
                )
            )
            return [HistoryEvent(**row) for row in cur.fetchall()]

    def current_version(self) -> VersionStatus | None:
        applied = [s for s in self.status() if s.state in ("applied", "drifted", "missing")]
        return applied[-1] if applied else None

    # -- locking and session settings --------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the session advisory lock; other runners wait here, then see the new state."""
        waited = False
        # Poll instead of blocking in pg_advisory_lock(): a blocked statement holds a
        # snapshot, and CREATE INDEX CONCURRENTLY in the lock holder waits for every
        # snapshot to go away, a deadlock (the trap of flyway #1654).
        while not self._try_lock():
            if not waited:
                self.out(f"waiting for another migration runner ({self._lock_holder()})")
                waited = True
            time.sleep(LOCK_POLL_SECONDS)
        try:
            self._apply_timeouts()
            yield
        finally:
            if not self.conn.closed:
                self.conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
                self.conn.execute("reset lock_timeout")
                self.conn.execute("reset statement_timeout")

    def _try_lock(self) -> bool:
        row = self.conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        return bool(row and row[0])

    def _lock_holder(self) -> str:
        row = self.conn.execute(
            "select a.pid, a.application_name, a.client_addr::text"
            " from pg_locks l join pg_stat_activity a on a.pid = l.pid"
            " where l.locktype = 'advisory' and l.granted and l.database = ("
            "   select oid from pg_database where datname = current_database())"
            " and (l.classid::bigint << 32) | l.objid::bigint = %s",
            (LOCK_KEY,),
        ).fetchone()
        if row is None:
            return "holder unknown"
        return f"pid {row[0]}, application {row[1] or '?'}, client {row[2] or 'local'}"

    def _apply_timeouts(self, *, lock_timeout: float | None = None) -> None:
        o = self.options
        lock = o.lock_timeout if lock_timeout is None else lock_timeout
        self.conn.execute(
            "select set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false)",
            (f"{round(lock * 1000)}ms", f"{round(o.statement_timeout * 1000)}ms"),
        )

    def _ensure_tables(self) -> None:
        if not self._tables_exist():
            with self.conn.transaction():
                for statement in _CREATE_TABLES:
                    self.conn.execute(self._sql(statement))

    # -- applying ------------------------------------------------------------

    def _check_drift(self, states: list[VersionStatus], files: dict[str, Migration]) -> None:
        bad = [s for s in states if s.state in ("drifted", "missing")]
        if not bad:
            return
        if not self.options.accept_drift:
            lines = ", ".join(f"{s.version} ({s.state})" for s in bad)
            raise DriftError(
                f"applied migrations no longer match schema/: {lines}; restore the files, or "
                "rerun with --accept-drift to record the files' current checksums"
            )
        actor = _actor(self.conn)
        with self.conn.transaction():
            for s in bad:
                if s.state == "missing":
                    self.conn.execute(
                        self._sql("delete from {versions} where version = %s"), (s.version,)
                    )
                    checksum = s.checksum or ""
                else:
                    checksum = files[s.version].checksum
                    self.conn.execute(
                        self._sql("update {versions} set checksum = %s where version = %s"),
                        (checksum, s.version),
                    )
                self._record(s.version, s.name, "accept", checksum, actor, 0.0)
                self.out(f"accepted drift of {s.version}_{s.name} ({s.state})")

    def _record(
        self, version: str, name: str, direction: str, checksum: str, actor: str, ms: float
    ) -> None:
        self.conn.execute(
            self._sql(
                "insert into {history} (version, name, direction, checksum, actor, execution_ms)"
                " values (%s, %s, %s, %s, %s, %s)"
            ),
            (version, name, direction, checksum, actor, ms),
        )

    def _run_part(self, mig: Migration, part: Part) -> None:
        for stmt in part.statements():
            try:
                self.conn.execute(stmt.sql.encode())  # bytes: no %-placeholder parsing
            except psycopg.Error as exc:
                raise self._failure(mig, part, stmt.sql, stmt.line, exc) from None

    def _failure(
        self, mig: Migration, part: Part, statement: str, line: int, exc: psycopg.Error
    ) -> MigrationFailed:
        pos = exc.diag.statement_position
        if pos:
            line += statement.count("\n", 0, int(pos) - 1)
        first = statement.strip().splitlines()[0] if statement.strip() else ""
        message = f"{mig.path}:{line}: {exc.diag.message_primary or exc}"
        for extra in (exc.diag.message_detail, exc.diag.message_hint, exc.diag.context):
            if extra:
                message += f"\n    {extra.strip()}"
        message += f"\n    in: {first}"
        if not part.transaction:
            message += (
                "\n    this part runs without a transaction: statements before this line"
                " stay applied"
            )
            invalid = self._invalid_indexes()
            if invalid:
                message += "\n    invalid indexes left behind: drop them before rerunning: " + (
                    "; ".join(f"drop index concurrently {name}" for name in invalid)
                )
        return MigrationFailed(
            redact(message),
            version=mig.version,
            path=str(mig.path),
            line=line,
            rolled_back=part.transaction,
        )

    def _invalid_indexes(self) -> list[str]:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return []
        rows = self.conn.execute(
            "select indexrelid::regclass::text from pg_index where not indisvalid"
        ).fetchall()
        return [r[0] for r in rows]

    def _version_of(self, target: str, versions: list[str]) -> str | None:
        """``target`` as one of ``versions`` ("2" finds "0002"), or None."""
        if not target.isdigit():
            raise MigrationError(f"--to {target!r}: a version is a number such as 0003")
        return next((v for v in versions if int(v) == int(target)), None)

    def plan_up(self, target: str | None = None) -> list[Migration]:
        files = {m.version: m for m in self.files()}
        states = self.status()
        if target is not None:
            found = self._version_of(target, list(files))
            if found is None:
                raise MigrationError(f"--to {target!r}: no migration file has that version")
            target = found
        ooo = [s for s in states if s.state == "out-of-order"]
        if ooo and not self.options.allow_out_of_order:
            raise MigrationError(
                "pending migrations older than the newest applied one: "
                + ", ".join(f"{s.version}_{s.name}" for s in ooo)
                + "; renumber them, or rerun with --allow-out-of-order"
            )
        return [
            files[s.version]
            for s in states
            if s.state in ("pending", "out-of-order")
            and (target is None or int(s.version) <= int(target))
        ]

    def up(
        self,
        target: str | None = None,
        *,
        before_apply: Callable[[list[Migration]], None] | None = None,
    ) -> list[Migration]:
        """Apply pending migrations (up to ``target``); returns what was applied.

        ``before_apply`` runs under the lock, after the drift check, only if there is
        something to apply (``--backup`` uses it).
        """
        if self.options.dry_run:
            self._check_drift_readonly()
            plan = self.plan_up(target)
            for mig in plan:
                self._print_dry(mig, mig.up, "up")
            if not plan:
                self.out("-- dry run: nothing to apply")
            return plan
        with self.locked():
            files = {m.version: m for m in self.files()}
            self._check_drift(self.status(), files)
            plan = self.plan_up(target)
            if plan and before_apply is not None:
                before_apply(plan)
            if plan:
                self._ensure_tables()
            actor = _actor(self.conn) if plan else ""
            for mig in plan:
                self._apply_one(mig, mig.up, "up", actor)
            if not plan:
                self.out("nothing to apply: the database is up to date")
            return plan

    def plan_down(self, *, steps: int | None = None, target: str | None = None) -> list[Migration]:
        files = {m.version: m for m in self.files()}
        applied = sorted(self.applied(), key=int, reverse=True)
        if target is not None:
            found = "0" if target.isdigit() and int(target) == 0 else None
            found = found or self._version_of(target, applied)
            if found is None:
                raise MigrationError(f"--to {target!r}: that version is not applied")
            chosen = [v for v in applied if int(v) > int(found)]
        else:
            n = 1 if steps is None else steps
            if n < 0:
                raise MigrationError(f"--steps must be 0 or more, got {n}")
            chosen = applied[:n]
        plan: list[Migration] = []
        for version in chosen:
            mig = files.get(version)
            if mig is None:
                raise MigrationError(
                    f"cannot roll back {version}: its file is missing from schema/"
                )
            if mig.down is None:
                raise MigrationError(
                    f"cannot roll back {mig.path.name}: it has no '-- migrate:down' part"
                )
            plan.append(mig)
        return plan

    def down(
        self,
        *,
        steps: int | None = None,
        target: str | None = None,
        before_apply: Callable[[list[Migration]], None] | None = None,
    ) -> list[Migration]:
        """Roll back the newest ``steps`` (default 1) or everything above ``target``."""
        if self.options.dry_run:
            self._check_drift_readonly()
            plan = self.plan_down(steps=steps, target=target)
            for mig in plan:
                assert mig.down is not None
                self._print_dry(mig, mig.down, "down")
            if not plan:
                self.out("-- dry run: nothing to roll back")
            return plan
        with self.locked():
            files = {m.version: m for m in self.files()}
            self._check_drift(self.status(), files)
            plan = self.plan_down(steps=steps, target=target)
            if plan and before_apply is not None:
                before_apply(plan)
            actor = _actor(self.conn) if plan else ""
            for mig in plan:
                assert mig.down is not None
                self._apply_one(mig, mig.down, "down", actor)
            if not plan:
                self.out("nothing to roll back")
            return plan

    def _apply_one(self, mig: Migration, part: Part, direction: str, actor: str) -> None:
        """Run one part and record it; the record commits with a transactional part."""
        started = time.perf_counter()

        def record() -> float:
            ms = (time.perf_counter() - started) * 1000
            if direction == "up":
                self.conn.execute(
                    self._sql(
                        "insert into {versions}"
                        " (version, name, checksum, applied_by, execution_ms)"
                        " values (%s, %s, %s, %s, %s)"
                    ),
                    (mig.version, mig.name, mig.checksum, actor, ms),
                )
            else:
                self.conn.execute(
                    self._sql("delete from {versions} where version = %s"), (mig.version,)
                )
            self._record(mig.version, mig.name, direction, mig.checksum, actor, ms)
            return ms

        try:
            if part.transaction:
                with self.conn.transaction():
                    self._run_part(mig, part)
                    ms = record()
            else:
                # Waiting for a lock does not block writers in CREATE INDEX CONCURRENTLY,
                # and a lock timeout there leaves an invalid index behind: wait.
                self._apply_timeouts(lock_timeout=0)
                self._run_part(mig, part)
                with self.conn.transaction():
                    ms = record()
        except MigrationFailed:
            self._record_failure(mig, direction, actor, started)
            raise
        finally:
            # a file's own SET commands must not leak into the next file
            self.conn.execute("reset all")
            self._apply_timeouts()
        verb = "applied" if direction == "up" else "rolled back"
        self.out(f"{verb} {mig.version}_{mig.name} in {ms:.0f} ms")

    def _record_failure(self, mig: Migration, direction: str, actor: str, started: float) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return
        self._ensure_tables()
        ms = (time.perf_counter() - started) * 1000
        self._record(mig.version, mig.name, "failed", mig.checksum, actor, ms)
        log.warning("migration %s_%s failed (%s)", mig.version, mig.name, direction)

    def _check_drift_readonly(self) -> None:
        bad = [s for s in self.status() if s.state in ("drifted", "missing")]
        if bad and not self.options.accept_drift:
            raise DriftError(
                "applied migrations no longer match schema/: "
                + ", ".join(f"{s.version} ({s.state})" for s in bad)
            )

    def _print_dry(self, mig: Migration, part: Part, direction: str) -> None:
        mode = "" if part.transaction else " (transaction:false, statement by statement)"
        self.out(f"-- dry run: {direction} {mig.path.name}{mode}")
        self.out(part.sql.rstrip())
        self.out("")
