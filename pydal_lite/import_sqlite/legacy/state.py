"""State shared by the old layout's copy: outputs, trackers, source reads, target lookups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..context import ImportContext
from ..copy import TableWriter
from ..errors import BadRowError, PlanError
from ..report import TableReport
from ..source import SourceTable, quote, select
from .common import PARENT_BATCH, Out, Tracker, actual, has, json_list


class LegacyState:
    """What the copy of the old layout shares: its tables, counts, trackers, lookups."""

    def __init__(
        self, ctx: ImportContext, sessions: SourceTable | None, contexts: SourceTable | None
    ) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.contexts = contexts
        self.source_tables = [
            name for name, t in (("sessions", sessions), ("agent_contexts", contexts)) if t
        ]
        self.existing_sessions: set[str] = set()  # in the target before: skipped
        self.bad_sessions: set[str] = set()
        self.existing_contexts: set[str] = set()
        self.bad_contexts: set[str] = set()
        self.outs: dict[str, Out] = {}
        self.before: dict[str, int] = {}
        self.messages_dropped = Tracker(ctx.bad_rows)
        self.switches_dropped = Tracker(ctx.bad_rows)
        self.sessions_rejected = Tracker(ctx.bad_rows)
        self.contexts_rejected = Tracker(ctx.bad_rows)

    # -- setup ----------------------------------------------------------------------------

    def out(self, name: str, wanted: tuple[str, ...], source: str, total: int) -> Out:
        table = self.ctx.catalog.get(name)
        if table is None:
            raise PlanError(
                f"the old agent-runtime layout needs target table {name!r}; "
                "run the migrations first"
            )
        required = [
            c.name
            for c in table.columns
            if c.not_null and not c.has_default and not c.identity and c.name not in wanted
        ]
        if required:
            raise PlanError(
                f"cannot expand the old agent-runtime layout into {name}: column(s) "
                f"{', '.join(required)} have no source"
            )
        cols = [table.column(w) for w in wanted if w in table.by_name]
        counts = TableReport(name, source, total)
        self.ctx.report.tables.append(counts)
        return Out(table, cols, self.ctx.converters_for(table, cols), counts)

    def total_items(self, table: SourceTable, column: str) -> int:
        """Elements of all valid JSON lists in ``column`` (SQLite's JSON1 when present)."""
        col = quote(actual(table, column))
        try:
            expr = (
                f"coalesce(sum(case when json_valid({col}) and json_type({col}) = 'array'"
                f" then json_array_length({col}) else 0 end), 0)"
            )
            row = self.ctx.source.conn.execute(select(expr, table.name)).fetchone()
            return int(row[0])
        except Exception:  # no JSON1 in this SQLite build: count in Python
            return sum(len(items) for _sid, items in self.lists(table, column) if items)

    def lengths(self, table: SourceTable, column: str) -> Iterator[tuple[Any, int | None]]:
        """(session_id, length of the JSON list or None) per row; SQLite's JSON1 when present."""
        col = quote(actual(table, column))
        expr = (
            quote(actual(table, "session_id"))
            + f", case when json_valid({col}) and json_type({col}) = 'array'"
            f" then json_array_length({col}) end"
        )
        try:
            cur = self.ctx.source.conn.execute(select(expr, table.name, " order by rowid"))
        except Exception:  # no JSON1 in this SQLite build
            for sid, items in self.lists(table, column):
                yield sid, None if items is None else len(items)
            return
        try:
            while batch := cur.fetchmany(self.ctx.batch_size):
                yield from batch
        finally:
            cur.close()

    def lists(self, table: SourceTable, column: str) -> Iterator[tuple[Any, list[Any] | None]]:
        cols = [actual(table, "session_id"), actual(table, column)]
        for batch in self.ctx.source.batches(table, cols, batch_size=PARENT_BATCH):
            for sid, text in batch:
                yield sid, json_list(text)

    def rows_of(
        self, table: SourceTable, wanted: tuple[str, ...]
    ) -> Iterator[list[dict[str, Any]]]:
        names = [actual(table, c) for c in wanted if has(table, c)]
        keys = [n.lower() for n in names]
        for batch in self.ctx.source.batches(table, names, batch_size=PARENT_BATCH):
            yield [dict(zip(keys, r, strict=True)) for r in batch]

    # -- target lookups -------------------------------------------------------------------

    def session_ids(self, sids: list[Any]) -> dict[str, int]:
        rows = self.ctx.conn.execute(
            "select session_id, id from sessions where session_id = any(%s)",
            ([s for s in sids if isinstance(s, str)],),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def with_context(self, session_db_ids: list[int]) -> set[int]:
        rows = self.ctx.conn.execute(
            "select session_db_id from agent_contexts where session_db_id = any(%s)",
            (session_db_ids,),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def allocate(self, table: str, n: int) -> list[int]:
        rows = self.ctx.conn.execute(
            "select nextval(pg_get_serial_sequence(%s, 'id')) from generate_series(1, %s)",
            (table, n),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def drop_children(self, sid: Any, items: list[Any] | None, raw: Any, parent: str) -> None:
        """A parent row was rejected (here or by the target): count it and skip its list,
        writing the whole list to the bad-rows file so nothing is lost."""
        if parent == "sessions":
            out, child, bad, what = (
                self.outs["sessions"],
                self.outs["messages"],
                self.bad_sessions,
                "messages",
            )
            column, table = "messages", "messages"
        else:
            out, child, bad, what = (
                self.outs["agent_contexts"],
                self.outs["agent_switches"],
                self.bad_contexts,
                "switches",
            )
            column, table = "agent_history", "agent_switches"
        bad.add(sid)
        out.counts.skipped_bad += 1
        n = len(items or ())
        child.counts.skipped_bad += n
        if n:
            self.ctx.bad_rows.reject(
                BadRowError(
                    table,
                    {"session_id": sid},
                    column,
                    raw,
                    f"all {n} {what} skipped with their {parent} row",
                )
            )

    @staticmethod
    def flush(
        out: Out, writer: TableWriter, rows: list[tuple[Any, ...]], keys: list[dict[str, Any]]
    ) -> None:
        frozen = list(keys)
        inserted, rejected, _ = writer.write(rows, lambda i: frozen[i], lambda i, c: None)
        out.counts.imported += inserted
        out.counts.skipped_bad += rejected
        rows.clear()
        keys.clear()

    # -- agent contexts and their switches ------------------------------------------------
