"""Orchestrate a run: read schema/ once, hold the advisory lock, plan, apply part by part.

``up`` and ``down`` share one path (:meth:`Migrator.run`); parsing lives in :mod:`.files`,
planning in :mod:`.plan`, running a part in :mod:`.execute`, the dry-run script in
:mod:`.script`, and everything printed for people in the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ..errors import ConfigurationError
from ..resources import schema_dir as default_schema_dir
from . import plan as planning
from .bookkeeping import Bookkeeping, HistoryEvent, actor
from .execute import PartRunner
from .files import Migration, SchemaFolder, read_dir
from .lock import LOCK_KEY, advisory_lock
from .plan import VersionStatus
from .script import render
from .tables import HISTORY_TABLE, VERSION_TABLE

__all__ = [
    "HISTORY_TABLE",
    "LOCK_KEY",
    "VERSION_TABLE",
    "HistoryEvent",
    "Migrator",
    "Options",
    "Outcome",
    "VersionStatus",
]

log = logging.getLogger("pydal_lite.migrate")

# a killed runner's server session notices the dead client within this many ms, even
# inside CREATE INDEX CONCURRENTLY, and releases the lock (PostgreSQL 14+)
CLIENT_CHECK_MS = 1000


@dataclass
class Options:
    """Runner settings; times in seconds (0 disables the timeout)."""

    schema_dir: Path | None = None
    lock_timeout: float = 5.0
    statement_timeout: float = 15 * 60.0
    dry_run: bool = False
    accept_drift: bool = False
    allow_out_of_order: bool = False
    # applied versions whose file is gone, to forget (recorded as "forget" events)
    forget: tuple[str, ...] = ()
    out: Callable[[str], None] = field(default=print)
    # where the server's NOTICEs go (a migration explaining a choice it made)
    notice: Callable[[str], None] = field(default=lambda text: log.info("%s", text))


@dataclass(frozen=True)
class Outcome:
    """One part the run applied or rolled back."""

    version: str
    name: str
    direction: str  # up | down
    execution_ms: float
    resumed: bool  # it finished a transaction:false part an earlier run had started

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "direction": self.direction,
            "execution_ms": round(self.execution_ms, 3),
            "resumed": self.resumed,
        }


class Migrator:
    """Applies schema/ to one database over one autocommit connection."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        options: Options | None = None,
        *,
        folder: SchemaFolder | None = None,
    ) -> None:
        if not conn.autocommit:
            raise ConfigurationError("the migrator needs an autocommit connection")
        self.conn = conn
        self.options = options or Options()
        self.out = self.options.out
        self._folder = folder
        self.outcomes: list[Outcome] = []  # what this run applied or rolled back, in order
        conn.add_notice_handler(self._on_notice)
        row = conn.execute("select coalesce(current_schema(), 'public')").fetchone()
        self.schema: str = row[0] if row else "public"
        self.book = Bookkeeping(conn, self.schema)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self.options.notice(f"{(diag.severity or 'NOTICE').lower()}: {diag.message_primary}")

    # -- reading -----------------------------------------------------------

    @property
    def folder(self) -> SchemaFolder:
        """schema/ as read once for this migrator."""
        if self._folder is None:
            self._folder = read_dir(self.options.schema_dir or default_schema_dir())
        return self._folder

    def files(self) -> list[Migration]:
        return self.folder.migrations

    def applied(self) -> dict[str, dict[str, Any]]:
        return self.book.applied()

    def status(self) -> list[VersionStatus]:
        return planning.statuses(self.folder, self.book.applied(), self.book.progress())

    def history(self) -> list[HistoryEvent]:
        return self.book.history()

    def current_version(self) -> VersionStatus | None:
        applied = [s for s in self.status() if s.applied_at is not None]
        return applied[-1] if applied else None

    def plan_up(self, target: str | None = None) -> list[Migration]:
        return planning.plan_up(
            self.status(),
            self.folder,
            target=target,
            allow_out_of_order=self.options.allow_out_of_order,
        )

    def plan_down(self, *, steps: int | None = None, target: str | None = None) -> list[Migration]:
        return planning.plan_down(self.status(), self.folder, steps=steps, target=target)

    # -- locking and session settings --------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the session advisory lock; other runners wait here, then see the new state."""
        with advisory_lock(self.conn, self.out):
            try:
                self._apply_timeouts()
                yield
            finally:
                if not self.conn.closed and not self.conn.broken:
                    self.conn.execute("reset all")

    def session_settings(self, *, lock_timeout: float | None = None) -> dict[str, str]:
        """The settings every part starts with (the dry-run script sets the same)."""
        o = self.options
        lock = o.lock_timeout if lock_timeout is None else lock_timeout
        return {
            "lock_timeout": f"{round(lock * 1000)}ms",
            "statement_timeout": f"{round(o.statement_timeout * 1000)}ms",
        }

    def _apply_timeouts(self, *, lock_timeout: float | None = None) -> None:
        for name, value in self.session_settings(lock_timeout=lock_timeout).items():
            self.conn.execute("select set_config(%s, %s, false)", (name, value))
        if self.conn.info.server_version >= 140000:
            self.conn.execute(
                "select set_config('client_connection_check_interval', %s, false)",
                (f"{CLIENT_CHECK_MS}ms",),
            )

    # -- running -------------------------------------------------------------

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
        return self.run("up", lambda: self.plan_up(target), before_apply)

    def down(
        self,
        *,
        steps: int | None = None,
        target: str | None = None,
        before_apply: Callable[[list[Migration]], None] | None = None,
    ) -> list[Migration]:
        """Roll back the newest ``steps`` (default 1) or everything above ``target``."""
        return self.run("down", lambda: self.plan_down(steps=steps, target=target), before_apply)

    def run(
        self,
        direction: str,
        make_plan: Callable[[], list[Migration]],
        before_apply: Callable[[list[Migration]], None] | None = None,
    ) -> list[Migration]:
        """The one path of ``up`` and ``down``: drift check, plan, hook, apply each part."""
        where = str(self.folder.directory)
        if self.options.dry_run:
            states = self.status()
            planning.check_readonly(states, accept_drift=self.options.accept_drift, where=where)
            plan = make_plan()
            accepted = [s for s in states if s.state == "drifted"]
            lines = render(
                self.conn, self.book, self.folder, plan, direction, accepted, self.session_settings
            )
            for line in lines:
                self.out(line)
            return plan
        with self.locked():
            actions = planning.drift_actions(
                self.status(),
                accept_drift=self.options.accept_drift,
                forget=self.options.forget,
                where=where,
            )
            if actions:
                self._record_drift(actions)
            plan = make_plan()
            if plan and before_apply is not None:
                before_apply(plan)
            if plan:
                self.book.ensure()
                who = actor(self.conn)
                runner = PartRunner(self.conn, self.book, self.out)
            for mig in plan:
                part = mig.up if direction == "up" else mig.down
                assert part is not None
                try:
                    if not part.transaction:
                        # Waiting for a lock does not block writers in CREATE INDEX
                        # CONCURRENTLY, and a lock timeout there leaves an invalid index
                        # behind: wait.
                        self._apply_timeouts(lock_timeout=0)
                    ms, resumed = runner.run(mig, part, direction, who)
                finally:
                    # a file's own SET commands must not leak into the next file
                    if not self.conn.closed and not self.conn.broken:
                        self.conn.execute("reset all")
                        self._apply_timeouts()
                self.outcomes.append(Outcome(mig.version, mig.name, direction, ms, resumed))
                verb = "applied" if direction == "up" else "rolled back"
                self.out(f"{verb} {mig.version}_{mig.name} in {ms:.0f} ms")
            if not plan:
                self.out(
                    "nothing to apply: the database is up to date"
                    if direction == "up"
                    else "nothing to roll back"
                )
            return plan

    def _record_drift(self, actions: list[tuple[VersionStatus, str]]) -> None:
        self.book.ensure()
        who = actor(self.conn)
        files = self.folder.by_version()
        with self.conn.transaction():
            for s, action in actions:
                if action == "forget":
                    self.book.forget(s.version)
                    checksum = s.checksum or ""
                    self.out(f"forgot {s.version}_{s.name} (applied, its file is missing)")
                else:
                    checksum = files[s.version].checksum
                    self.book.set_checksum(s.version, checksum)
                    self.out(f"accepted drift of {s.version}_{s.name} ({s.state})")
                self.book.event(s.version, s.name, action, checksum, who, 0.0)
