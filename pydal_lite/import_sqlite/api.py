"""``import_sqlite()``: open the file and the connection, run the import in one transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from ..dsn import describe
from ..errors import InvalidInput
from .badrows import BadRows
from .copy import OnConflict
from .errors import PlanError
from .importer import Importer
from .options import ImportOptions
from .progress import Progress
from .report import ImportReport
from .source import Source

DEFAULT_BATCH_SIZE = 5000


def import_sqlite(
    path: str | Path,
    dsn_or_conn: str | psycopg.Connection[Any],
    *,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    on_conflict: OnConflict = "error",
    skip_bad_rows: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    options: ImportOptions | None = None,
    source_timezone: str | None = None,
) -> ImportReport:
    """Copy the rows of the SQLite file ``path`` into the migrated PostgreSQL schema.

    Tables are matched by name, columns by name, parents before children; values are
    converted the way SQLAlchemy wrote them (see :mod:`.convert`). The old two-table
    agent-runtime layout is expanded (see :mod:`.legacy_agent_runtime`). Everything
    runs in one transaction, at ``repeatable read`` when this call starts it: on any
    error, or when the counts do not add up, no row is left behind. With ``dry_run``
    the whole import runs and is then rolled back. Sequences are not transactional: ids
    drawn from them before a rollback stay used (a gap; see :func:`move_sequence`).

    ``on_conflict``: ``"error"`` refuses (:class:`ConflictError`) when the target already
    holds rows with the same primary or unique keys; ``"skip"`` leaves those rows alone
    (children referencing them attach to the existing rows). Either way two source rows
    with one key after conversion are a bad row ("duplicate of an earlier row in the
    file"), never "skipped existing".
    ``skip_bad_rows``: a file to write rows that cannot be converted or that the target
    rejects (JSON lines: table, key, column, value, reason) instead of stopping with
    :class:`BadRowError`. ``dsn_or_conn``: a DSN, or an open connection (its current
    transaction, if any, is used through a savepoint; it is not closed).

    ``options`` (:class:`.ImportOptions`, or :func:`.load_options` of a file) declares
    time zones, value mappings, fill values, derivations and wide-to-long mappings;
    ``source_timezone`` is the zone of the file's naive timestamps (overriding the
    options' one). Without a declared zone naive timestamps follow the naive-datetime
    policy of :mod:`pydal_lite.validate` (the local zone unless configured); the report
    says which columns had them and how they were read.
    """
    if on_conflict not in ("error", "skip"):
        raise InvalidInput(f"on_conflict must be 'error' or 'skip', got {on_conflict!r}")
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be positive, got {batch_size!r}")
    options = options or ImportOptions()
    if source_timezone is not None:
        options = options.merged(ImportOptions(source_timezone=source_timezone))
    try:
        options.check_zones()
    except InvalidInput as exc:
        raise PlanError(str(exc)) from None
    started = time.monotonic()
    progress = progress or Progress()
    with Source(path) as source:
        own = isinstance(dsn_or_conn, str)
        conn: psycopg.Connection[Any] = (
            psycopg.connect(dsn_or_conn, application_name="pydal_lite.import_sqlite")
            if isinstance(dsn_or_conn, str)
            else dsn_or_conn
        )
        target = describe(dsn_or_conn) if isinstance(dsn_or_conn, str) else describe(conn.info.dsn)
        report = ImportReport(path=str(path), target=target, dry_run=dry_run)
        bad_rows = BadRows(skip_bad_rows)
        report.bad_rows_file = str(skip_bad_rows) if skip_bad_rows is not None else None
        row_factory = conn.row_factory
        conn.row_factory = tuple_row  # type: ignore[assignment]  # restored below
        try:
            top_level = conn.info.transaction_status == TransactionStatus.IDLE
            with conn.transaction() as tx:
                if top_level:
                    conn.execute("set transaction isolation level repeatable read")
                Importer(
                    conn,
                    source,
                    report,
                    tables=tables,
                    on_conflict=on_conflict,
                    bad_rows=bad_rows,
                    batch_size=batch_size,
                    progress=progress,
                    options=options,
                    dry_run=dry_run,
                ).run()
                if dry_run:
                    raise psycopg.Rollback(tx)
            report.committed = not dry_run
        finally:
            conn.row_factory = row_factory
            bad_rows.close()
            if own:
                conn.close()
    report.seconds = time.monotonic() - started
    return report
