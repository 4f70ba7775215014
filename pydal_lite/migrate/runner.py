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
from psycopg.rows import dict_row

from ..dsn import redact
from ..errors import ConfigurationError, DriftError, MigrationError, MigrationFailed
from ..resources import schema_dir as default_schema_dir
from .files import Migration, Part, load_dir

log = logging.getLogger("pydal_lite.migrate")

# pg_advisory_lock key: the first 8 bytes of sha256("pydal_lite.migrate"), fixed so
# every runner version agrees. Advisory locks are per database.
LOCK_KEY = 0x3A6F_51D2_0C94_7B11
VERSION_TABLE = "schema_migrations"
HISTORY_TABLE = "schema_migration_history"

_CREATE_TABLES = """
create table if not exists schema_migrations (
    version      text primary key,
    name         text not null,
    checksum     text not null,
    applied_at   timestamptz not null default now(),
    applied_by   text not null,
    execution_ms double precision not null
);
comment on table schema_migrations is
    'One row per applied migration file of schema/; written by python -m pydal_lite.migrate';
comment on column schema_migrations.checksum is 'SHA-256 of the file''s up part when applied';
create table if not exists schema_migration_history (
    id           bigint generated always as identity primary key,
    version      text not null,
    name         text not null,
    direction    text not null constraint schema_migration_history_direction_check
                     check (direction in ('up', 'down', 'accept')),
    checksum     text not null,
    happened_at  timestamptz not null default now(),
    actor        text not null,
    execution_ms double precision not null
);
comment on table schema_migration_history is
    'Every up, down and accepted-drift event of the migration runner, oldest first';
"""


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


def _actor(conn: psycopg.Connection[Any]) -> str:
    role = conn.execute("select current_user").fetchone()
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        who = "unknown"
    return f"{role[0] if role else '?'} ({who})"


class Migrator:
    """Applies schema/ to one database; use as a context manager or call close()."""

    def __init__(self, conn: psycopg.Connection[Any], options: Options | None = None) -> None:
        if not conn.autocommit:
            raise ConfigurationError("the migrator needs an autocommit connection")
        self.conn = conn
        self.options = options or Options()
        self.out = self.options.out

    # -- reading -----------------------------------------------------------

    def files(self) -> list[Migration]:
        return load_dir(self.options.schema_dir or default_schema_dir())

    def _tables_exist(self) -> bool:
        row = self.conn.execute("select to_regclass('schema_migrations') is not null").fetchone()
        return bool(row and row[0])

    def applied(self) -> dict[str, dict[str, Any]]:
        if not self._tables_exist():
            return {}
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "select version, name, checksum, applied_at, execution_ms"
                " from schema_migrations order by version"
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
                "select id, version, name, direction, checksum, happened_at, actor, execution_ms"
                " from schema_migration_history order by id"
            )
            return [HistoryEvent(**row) for row in cur.fetchall()]

    def current_version(self) -> VersionStatus | None:
        applied = [s for s in self.status() if s.state in ("applied", "drifted", "missing")]
        return applied[-1] if applied else None

    # -- locking and session settings --------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the session advisory lock; other runners wait here, then see the new state."""
        got = self.conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if not (got and got[0]):
            self.out("another migration runner holds the lock on this database; waiting for it")
            # lock_timeout also bounds advisory lock waits: wait without it here
            self.conn.execute("select set_config('lock_timeout', '0', false)")
            self.conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            self._apply_timeouts()
            yield
        finally:
            if not self.conn.closed:
                self.conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))

    def _apply_timeouts(self) -> None:
        o = self.options
        self.conn.execute(
            "select set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false)",
            (f"{round(o.lock_timeout * 1000)}ms", f"{round(o.statement_timeout * 1000)}ms"),
        )

    def _ensure_tables(self) -> None:
        if not self._tables_exist():
            with self.conn.transaction():
                self.conn.execute(_CREATE_TABLES)

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
                        "delete from schema_migrations where version = %s", (s.version,)
                    )
                    checksum = s.checksum or ""
                else:
                    checksum = files[s.version].checksum
                    self.conn.execute(
                        "update schema_migrations set checksum = %s where version = %s",
                        (checksum, s.version),
                    )
                self._record(s.version, s.name, "accept", checksum, actor, 0.0)
                self.out(f"accepted drift of {s.version}_{s.name} ({s.state})")

    def _record(
        self, version: str, name: str, direction: str, checksum: str, actor: str, ms: float
    ) -> None:
        self.conn.execute(
            "insert into schema_migration_history"
            " (version, name, direction, checksum, actor, execution_ms)"
            " values (%s, %s, %s, %s, %s, %s)",
            (version, name, direction, checksum, actor, ms),
        )

    def _run_part(self, mig: Migration, part: Part) -> None:
        for stmt in part.statements():
            try:
                self.conn.execute(stmt.sql.encode())  # bytes: no %-placeholder parsing
            except psycopg.Error as exc:
                line = stmt.line
                pos = exc.diag.statement_position
                if pos:
                    line += stmt.sql.count("\n", 0, int(pos) - 1)
                first = stmt.sql.strip().splitlines()[0] if stmt.sql.strip() else ""
                note = (
                    ""
                    if part.transaction
                    else (
                        "; this part runs without a transaction:"
                        " statements before this line stay applied"
                    )
                )
                message = redact(f"{mig.path}:{line}: {exc.diag.message_primary or exc}")
                detail = exc.diag.message_detail
                raise MigrationFailed(
                    f"{message}{' (' + detail + ')' if detail else ''}\n    in: {first}{note}",
                    version=mig.version,
                    path=str(mig.path),
                    line=line,
                    rolled_back=part.transaction,
                ) from None

    def plan_up(self, target: str | None = None) -> list[Migration]:
        files = {m.version: m for m in self.files()}
        states = self.status()
        if target is not None and target not in files:
            raise MigrationError(f"--to {target!r}: no migration file has that version")
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
        """Apply pending migrations (up to ``target``); returns what was applied."""
        if self.options.dry_run:
            self._check_drift_readonly()
            plan = self.plan_up(target)
            for mig in plan:
                self._print_dry(mig, mig.up, "up")
            if not plan:
                self.out("-- dry run: nothing to apply")
            return plan
        with self.locked():
            self._ensure_tables()
            files = {m.version: m for m in self.files()}
            self._check_drift(self.status(), files)
            plan = self.plan_up(target)
            if plan and before_apply is not None:
                before_apply(plan)
            actor = _actor(self.conn) if plan else ""
            for mig in plan:
                self._apply_one(mig, actor)
            if not plan:
                self.out("nothing to apply: the database is up to date")
            return plan

    def _apply_one(self, mig: Migration, actor: str) -> None:
        started = time.perf_counter()
        if mig.up.transaction:
            with self.conn.transaction():
                self._run_part(mig, mig.up)
                ms = (time.perf_counter() - started) * 1000
                self._mark_applied(mig, actor, ms)
        else:
            self._run_part(mig, mig.up)
            ms = (time.perf_counter() - started) * 1000
            with self.conn.transaction():
                self._mark_applied(mig, actor, ms)
        self.out(f"applied {mig.version}_{mig.name} in {ms:.0f} ms")

    def _mark_applied(self, mig: Migration, actor: str, ms: float) -> None:
        self.conn.execute(
            "insert into schema_migrations (version, name, checksum, applied_by, execution_ms)"
            " values (%s, %s, %s, %s, %s)",
            (mig.version, mig.name, mig.checksum, actor, ms),
        )
        self._record(mig.version, mig.name, "up", mig.checksum, actor, ms)

    def plan_down(self, *, steps: int | None = None, target: str | None = None) -> list[Migration]:
        files = {m.version: m for m in self.files()}
        applied = sorted(self.applied(), key=int, reverse=True)
        if target is not None:
            if target != "0" and target not in applied:
                raise MigrationError(f"--to {target!r}: that version is not applied")
            chosen = [v for v in applied if int(v) > int(target)]
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

    def down(self, *, steps: int | None = None, target: str | None = None) -> list[Migration]:
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
            self._ensure_tables()
            files = {m.version: m for m in self.files()}
            self._check_drift(self.status(), files)
            plan = self.plan_down(steps=steps, target=target)
            actor = _actor(self.conn) if plan else ""
            for mig in plan:
                self._roll_back_one(mig, actor)
            if not plan:
                self.out("nothing to roll back")
            return plan

    def _roll_back_one(self, mig: Migration, actor: str) -> None:
        assert mig.down is not None
        started = time.perf_counter()

        def mark() -> None:
            ms = (time.perf_counter() - started) * 1000
            self.conn.execute("delete from schema_migrations where version = %s", (mig.version,))
            self._record(mig.version, mig.name, "down", mig.checksum, actor, ms)

        if mig.down.transaction:
            with self.conn.transaction():
                self._run_part(mig, mig.down)
                mark()
        else:
            self._run_part(mig, mig.down)
            with self.conn.transaction():
                mark()
        self.out(f"rolled back {mig.version}_{mig.name}")

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
