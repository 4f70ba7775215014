"""Run one part of a migration file on the server and record it.

A transactional part runs in one transaction with its version row. A ``transaction:false``
part runs statement by statement with a progress row each (see :mod:`.resume`), so a run
that dies inside it is resumed by the next one instead of failing on what it left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from ..dsn import redact
from ..errors import MigrationError, MigrationFailed
from .bookkeeping import Bookkeeping, statement_sha
from .errors import ConnectionLost, StatementFailed
from .files import Migration, Part
from .resume import COMPLETED_BEFORE, NEEDS_AUTOCOMMIT, is_session_setting, recover, runs_alone
from .sqlsplit import Statement


class PartRunner:
    """Runs parts over the runner's autocommit connection, reporting through ``out``."""

    def __init__(
        self, conn: psycopg.Connection[Any], book: Bookkeeping, out: Callable[[str], None]
    ) -> None:
        self.conn = conn
        self.book = book
        self.out = out

    def run(self, mig: Migration, part: Part, direction: str, who: str) -> tuple[float, bool]:
        """Apply ``part`` and record it; return (milliseconds, resumed an interrupted run)."""
        started = time.perf_counter()
        try:
            if part.transaction:
                with self.conn.transaction():
                    for stmt in part.statements():
                        self._execute(mig, part, stmt)
                    ms = (time.perf_counter() - started) * 1000
                    self.book.finish(mig.version, mig.name, mig.checksum, direction, who, ms)
                return ms, False
            resumed = self._run_statements(mig, part, direction)
            with self.conn.transaction():
                ms = (time.perf_counter() - started) * 1000
                self.book.finish(mig.version, mig.name, mig.checksum, direction, who, ms)
            return ms, resumed
        except MigrationFailed:
            self._record_failure(mig, who, started)
            raise
        except psycopg.OperationalError as exc:
            if not self.conn.broken and not self.conn.closed:
                raise
            raise self._lost(mig, part, exc) from None

    def _execute(self, mig: Migration, part: Part, stmt: Statement) -> None:
        try:
            self.conn.execute(stmt.sql.encode())  # bytes: no %-placeholder parsing
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                raise
            raise self.failure(mig, part, stmt, exc) from None

    def _run_statements(self, mig: Migration, part: Part, direction: str) -> bool:
        statements = part.statements()
        recorded = self.book.progress().get((mig.version, direction), {})
        resumed = bool(recorded)
        if resumed:
            self.out(f"resuming {mig.version}_{mig.name} ({direction}): an earlier run stopped")
        for index, stmt in enumerate(statements):
            sha = statement_sha(stmt.sql)
            before = recorded.get(index)
            if before is not None and before.state == "done" and not is_session_setting(stmt.sql):
                if before.sha256 != sha:
                    raise MigrationError(
                        f"{mig.path}:{stmt.line}: this statement was completed by an earlier "
                        "run that stopped inside the file, and has been edited since: restore "
                        "it as it was, let the run finish, then put the change in a new file"
                    )
                continue
            if before is not None and before.state == "started":
                recovery = recover(self.conn, stmt.sql)
                self.out(f"  {mig.path.name}:{stmt.line}: {recovery.note}")
                if recovery.action == "done":
                    self.book.mark(mig.version, direction, index, sha, stmt.line, "done")
                    continue
            self._run_one(mig, part, direction, index, stmt, interrupted=before is not None)
        return resumed

    def _run_one(
        self,
        mig: Migration,
        part: Part,
        direction: str,
        index: int,
        stmt: Statement,
        *,
        interrupted: bool,
    ) -> None:
        sha = statement_sha(stmt.sql)
        if not runs_alone(stmt.sql):
            try:
                with self.conn.transaction():
                    self._execute(mig, part, stmt)
                    self.book.mark(mig.version, direction, index, sha, stmt.line, "done")
                return
            except StatementFailed as exc:
                if exc.sqlstate not in NEEDS_AUTOCOMMIT:
                    raise
        self.book.mark(mig.version, direction, index, sha, stmt.line, "started")
        try:
            self._execute(mig, part, stmt)
        except StatementFailed as exc:
            if not (interrupted and exc.sqlstate in COMPLETED_BEFORE):
                raise
            reason = str(exc).splitlines()[0].partition(": ")[2]
            self.out(f"  {mig.path.name}:{stmt.line}: the earlier run had completed it ({reason})")
        self.book.mark(mig.version, direction, index, sha, stmt.line, "done")

    def failure(
        self, mig: Migration, part: Part, stmt: Statement, exc: psycopg.Error
    ) -> StatementFailed:
        line = stmt.line
        pos = exc.diag.statement_position
        if pos:
            line += stmt.sql.count("\n", 0, int(pos) - 1)
        first = stmt.sql.strip().splitlines()[0] if stmt.sql.strip() else ""
        message = f"{mig.path}:{line}: {exc.diag.message_primary or exc}"
        for extra in (exc.diag.message_detail, exc.diag.message_hint, exc.diag.context):
            if extra:
                message += f"\n    {extra.strip()}"
        message += f"\n    in: {first}"
        if not part.transaction:
            message += (
                "\n    this part runs without a transaction: the statements before this one"
                " stay applied and are recorded; once the cause is fixed, running up again"
                " resumes at this statement (an INVALID index it left is dropped and rebuilt)"
            )
        return StatementFailed(
            redact(message),
            version=mig.version,
            path=str(mig.path),
            line=line,
            rolled_back=part.transaction,
            sqlstate=exc.sqlstate,
        )

    def _lost(self, mig: Migration, part: Part, exc: Exception) -> ConnectionLost:
        if part.transaction:
            what = "its changes were rolled back"
        else:
            what = "the statements it completed are recorded and the next run resumes there"
        return ConnectionLost(
            redact(
                f"lost the server connection while running {mig.path} "
                f"({str(exc).strip() or type(exc).__name__}); {what}"
            ),
            version=mig.version,
        )

    def _record_failure(self, mig: Migration, who: str, started: float) -> None:
        if self.conn.broken or self.conn.closed:
            return
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return
        ms = (time.perf_counter() - started) * 1000
        self.book.event(mig.version, mig.name, "failed", mig.checksum, who, ms)
