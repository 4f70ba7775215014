"""Expand the old two-table agent-runtime layout (seed 001) into the four new tables.

The old SQLAlchemy models (``data/agent_runtime.db`` before the normalisation)::

    sessions(session_id VARCHAR PK, messages TEXT -- JSON list, last_activity DATETIME,
             created_at DATETIME)
    agent_contexts(session_id VARCHAR PK, current_agent VARCHAR, agent_history TEXT -- JSON
                   list, context_metadata TEXT -- JSON object, created_at DATETIME,
                   last_switch_at DATETIME, switch_count INTEGER)

are recognised by their columns (``sessions`` with ``session_id`` and ``messages`` and
no ``id``; ``agent_contexts`` with ``session_id`` and ``agent_history``) and become:

* ``sessions``: one row per old session (id from the target's identity sequence; a
  dry run or a rollback does not give those ids back),
  created_at and last_activity as they were, live (is_active, no deleted_at);
* ``messages``: one row per element of the JSON list, ``seq`` = its 0-based position;
  role, content, name, tool_call_id, tool_calls, token_count as in the element,
  ``metadata`` -> metadata_json, any other keys kept in metadata_json under
  ``legacy_fields``; ``timestamp`` from the element if it has one, else the session's
  last_activity (the old layout stored no per-message time). A null content without
  tool_calls becomes '' (as the seed's own upgrade code did);
* ``agent_contexts``: current_agent, created_at, switch_count, context_metadata ->
  metadata_json ('{}' when null), updated_at = last_switch_at or created_at;
* ``agent_switches``: one row per element of agent_history: ``from``/``from_agent``,
  ``to``/``to_agent`` (default: current_agent), ``timestamp``/``switched_at`` (default:
  last_switch_at, else created_at), ``reason``, ``metadata`` (other keys under
  ``legacy_fields``).

Conflicts are judged by ``session_id``: with on_conflict ``skip`` a session the target
already has is skipped with its messages, its agent context and its switches. After
copying, the number of messages of every imported session and of switches of every
imported context is compared with the JSON lists in the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import TargetColumn, TargetTable
from .convert import ConversionError, Converter
from .copy import Rejecter, TableWriter
from .errors import BadRowError, PlanError, VerificationError
from .report import TableReport
from .source import Expr, SourceTable, quote, select

if TYPE_CHECKING:
    from .importer import Importer

SESSION_COLUMNS = ("id", "session_id", "created_at", "last_activity")
MESSAGE_COLUMNS = (
    "session_db_id",
    "seq",
    "role",
    "content",
    "timestamp",
    "name",
    "tool_call_id",
    "tool_calls",
    "token_count",
    "metadata_json",
)
CONTEXT_COLUMNS = (
    "id",
    "session_db_id",
    "current_agent",
    "created_at",
    "updated_at",
    "switch_count",
    "metadata_json",
)
SWITCH_COLUMNS = (
    "context_db_id",
    "from_agent",
    "to_agent",
    "switched_at",
    "reason",
    "metadata_json",
)
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_call_id", "tool_calls", "token_count"})
SWITCH_KEYS = frozenset(
    {"from", "from_agent", "to", "to_agent", "timestamp", "switched_at", "reason", "metadata"}
)
# Old sessions read per batch; a batch's messages are copied in batch_size chunks.
PARENT_BATCH = 200

Problem = tuple[str, Any, str]  # column, value, reason


def _lower_columns(table: SourceTable | None) -> set[str]:
    return {c.lower() for c in table.columns} if table is not None else set()


def is_legacy_sessions(table: SourceTable | None) -> bool:
    """``sessions`` holding session_id and a JSON ``messages`` list (no surrogate id)."""
    cols = _lower_columns(table)
    return {"session_id", "messages"} <= cols and "id" not in cols


def is_legacy_contexts(table: SourceTable | None) -> bool:
    """``agent_contexts`` keyed by session_id with a JSON ``agent_history`` list."""
    cols = _lower_columns(table)
    return {"session_id", "agent_history"} <= cols and "session_db_id" not in cols


def derived_columns(target: TargetTable, source: SourceTable) -> dict[str, Expr]:
    """Columns of the new agent-runtime layout that its SQLAlchemy version did not have.

    The SQLAlchemy ``messages`` table has no ``seq``; the target orders a session's
    messages by it. It is derived as the 0-based position by (timestamp, id) within the
    session, the order the old code read them in.
    """
    cols = _lower_columns(source)
    if (
        target.name == "messages"
        and "seq" in target.by_name
        and "seq" not in cols
        and {"session_db_id", "timestamp", "id"} <= cols
    ):
        return {
            "seq": Expr(
                "row_number() over (partition by "
                + quote(_actual(source, "session_db_id"))
                + " order by "
                + quote(_actual(source, "timestamp"))
                + ", "
                + quote(_actual(source, "id"))
                + ") - 1"
            )
        }
    return {}


def detect(importer: Importer, chosen: dict[str, SourceTable]) -> Expander | None:
    """The expander when the chosen SQLite tables use the old layout, else None."""
    sessions = chosen.get("sessions")
    contexts = chosen.get("agent_contexts")
    old_sessions = sessions if is_legacy_sessions(sessions) else None
    old_contexts = contexts if is_legacy_contexts(contexts) else None
    if old_sessions is None and old_contexts is None:
        return None
    return Expander(importer, old_sessions, old_contexts)


@dataclass
class _Out:
    """A target table the expansion writes: its columns, converters and counts."""

    table: TargetTable
    columns: list[TargetColumn]
    convs: list[Converter]
    counts: TableReport

    def convert(self, values: dict[str, Any]) -> tuple[Problem | None, list[Any]]:
        """The converted row (None for columns not in ``values``), or the first value that
        does not convert as (column, value, reason)."""
        out: list[Any] = []
        for col, conv in zip(self.columns, self.convs, strict=True):
            if col.name not in values:
                out.append(None)
                continue
            try:
                out.append(conv(values[col.name]))
            except ConversionError as exc:
                return (col.name, values[col.name], str(exc)), []
        return None, out

    def index(self, column: str) -> int:
        return [c.name for c in self.columns].index(column)


class _Tracker:
    """Passes rejected rows on and counts them per session_id."""

    def __init__(self, inner: Rejecter) -> None:
        self.inner = inner
        self.by_session: dict[Any, int] = {}

    def reject(self, error: BadRowError) -> None:
        self.inner.reject(error)
        sid = error.key.get("session_id") if isinstance(error.key, dict) else None
        self.by_session[sid] = self.by_session.get(sid, 0) + 1


@dataclass
class _Parent:
    """An old session (or agent context) ready to be written, with its JSON list."""

    sid: str
    values: dict[str, Any]
    items: list[Any]
    raw_list: Any
    row: dict[str, Any] = field(default_factory=dict)
    converted: list[Any] = field(default_factory=list)


class Expander:
    """Streams the old layout into sessions, messages, agent_contexts and agent_switches."""

    def __init__(
        self, importer: Importer, sessions: SourceTable | None, contexts: SourceTable | None
    ) -> None:
        self.imp = importer
        self.sessions = sessions
        self.contexts = contexts
        self.source_tables = [
            name for name, t in (("sessions", sessions), ("agent_contexts", contexts)) if t
        ]
        self.existing_sessions: set[str] = set()  # in the target before: skipped
        self.bad_sessions: set[str] = set()
        self.existing_contexts: set[str] = set()
        self.bad_contexts: set[str] = set()
        self.outs: dict[str, _Out] = {}
        self.before: dict[str, int] = {}
        self.messages_dropped = _Tracker(importer.bad_rows)
        self.switches_dropped = _Tracker(importer.bad_rows)
        self.sessions_rejected = _Tracker(importer.bad_rows)
        self.contexts_rejected = _Tracker(importer.bad_rows)

    # -- setup ----------------------------------------------------------------------------

    def _out(self, name: str, wanted: tuple[str, ...], source: str, total: int) -> _Out:
        table = self.imp.catalog.get(name)
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
        self.imp.report.tables.append(counts)
        return _Out(table, cols, self.imp.converters_for(table, cols), counts)

    def check_target(self) -> None:
        """Plan the four outputs and count their source rows, before anything is copied."""
        if self.sessions is not None:
            _require(self.sessions, ("session_id", "messages"))
            self.outs["sessions"] = self._out(
                "sessions",
                SESSION_COLUMNS,
                self.sessions.name,
                self.imp.source.count(self.sessions),
            )
            self.outs["messages"] = self._out(
                "messages",
                MESSAGE_COLUMNS,
                f"{self.sessions.name}.messages",
                self._total_items(self.sessions, "messages"),
            )
        if self.contexts is not None:
            _require(self.contexts, ("session_id", "current_agent", "agent_history"))
            self.outs["agent_contexts"] = self._out(
                "agent_contexts",
                CONTEXT_COLUMNS,
                self.contexts.name,
                self.imp.source.count(self.contexts),
            )
            self.outs["agent_switches"] = self._out(
                "agent_switches",
                SWITCH_COLUMNS,
                f"{self.contexts.name}.agent_history",
                self._total_items(self.contexts, "agent_history"),
            )
        for name in self.outs:
            self.before[name] = self.imp.count_target(name)

    def _total_items(self, table: SourceTable, column: str) -> int:
        """Elements of all valid JSON lists in ``column`` (SQLite's JSON1 when present)."""
        col = quote(_actual(table, column))
        try:
            expr = (
                f"coalesce(sum(case when json_valid({col}) and json_type({col}) = 'array'"
                f" then json_array_length({col}) else 0 end), 0)"
            )
            row = self.imp.source.conn.execute(select(expr, table.name)).fetchone()
            return int(row[0])
        except Exception:  # no JSON1 in this SQLite build: count in Python
            return sum(len(items) for _sid, items in self._lists(table, column) if items)

    def _lengths(self, table: SourceTable, column: str) -> Iterator[tuple[Any, int | None]]:
        """(session_id, length of the JSON list or None) per row; SQLite's JSON1 when present."""
        col = quote(_actual(table, column))
        expr = (
            quote(_actual(table, "session_id"))
            + f", case when json_valid({col}) and json_type({col}) = 'array'"
            f" then json_array_length({col}) end"
        )
        try:
            cur = self.imp.source.conn.execute(select(expr, table.name, " order by rowid"))
        except Exception:  # no JSON1 in this SQLite build
            for sid, items in self._lists(table, column):
                yield sid, None if items is None else len(items)
            return
        try:
            while batch := cur.fetchmany(self.imp.batch_size):
                yield from batch
        finally:
            cur.close()

    def _lists(self, table: SourceTable, column: str) -> Iterator[tuple[Any, list[Any] | None]]:
        cols = [_actual(table, "session_id"), _actual(table, column)]
        for batch in self.imp.source.batches(table, cols, batch_size=PARENT_BATCH):
            for sid, text in batch:
                yield sid, _json_list(text)

    def _rows(self, table: SourceTable, wanted: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
        names = [_actual(table, c) for c in wanted if _has(table, c)]
        keys = [n.lower() for n in names]
        for batch in self.imp.source.batches(table, names, batch_size=PARENT_BATCH):
            yield [dict(zip(keys, r, strict=True)) for r in batch]

    # -- target lookups -------------------------------------------------------------------

    def _session_ids(self, sids: list[Any]) -> dict[str, int]:
        rows = self.imp.conn.execute(
            "select session_id, id from sessions where session_id = any(%s)",
            ([s for s in sids if isinstance(s, str)],),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def _with_context(self, session_db_ids: list[int]) -> set[int]:
        rows = self.imp.conn.execute(
            "select session_db_id from agent_contexts where session_db_id = any(%s)",
            (session_db_ids,),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def _allocate(self, table: str, n: int) -> list[int]:
        rows = self.imp.conn.execute(
            "select nextval(pg_get_serial_sequence(%s, 'id')) from generate_series(1, %s)",
            (table, n),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def overlaps(self) -> list[tuple[str, str, int, Any]]:
        """Old sessions whose session_id the target has (old contexts whose session already
        has a context, when the sessions are not part of this import)."""
        found: list[tuple[str, str, int, Any]] = []
        if self.sessions is not None and self.before["sessions"]:
            count, example = 0, None
            for batch in self._rows(self.sessions, ("session_id",)):
                hit = sorted(self._session_ids([r["session_id"] for r in batch]))
                count += len(hit)
                example = example or (hit and {"session_id": hit[0]}) or None
            if count:
                found.append(("sessions", "session_id", count, example))
        if self.contexts is not None and self.sessions is None and self.before["agent_contexts"]:
            count, example = 0, None
            for batch in self._rows(self.contexts, ("session_id",)):
                ids = self._session_ids([r["session_id"] for r in batch])
                taken = self._with_context(list(ids.values()))
                hit = sorted(sid for sid, i in ids.items() if i in taken)
                count += len(hit)
                example = example or (hit and {"session_id": hit[0]}) or None
            if count:
                found.append(("agent_contexts", "session_db_id", count, example))
        return found

    # -- sessions and their messages ------------------------------------------------------

    def run_sessions(self) -> None:
        if self.sessions is None:
            return
        s_out, m_out = self.outs["sessions"], self.outs["messages"]
        s_writer = self.imp.writer(
            s_out.table, s_out.columns, on_conflict="error", bad_rows=self.sessions_rejected
        )
        m_writer = self.imp.writer(
            m_out.table, m_out.columns, on_conflict="error", bad_rows=self.messages_dropped
        )
        wanted = ("session_id", "messages", "last_activity", "created_at")
        self.imp.progress.start("sessions (old layout)", s_out.counts.source_rows)
        try:
            for rows in self._rows(self.sessions, wanted):
                self._session_batch(rows, s_writer, m_writer)
                self.imp.progress.advance(len(rows))
        finally:
            s_writer.close()
            m_writer.close()
            self.imp.progress.finish()

    def _session_batch(
        self, rows: list[dict[str, Any]], s_writer: TableWriter, m_writer: TableWriter
    ) -> None:
        s_out, m_out = self.outs["sessions"], self.outs["messages"]
        existing = self._session_ids([r["session_id"] for r in rows])
        ready: list[_Parent] = []
        for row in rows:
            sid, items = row["session_id"], _json_list(row["messages"])
            if sid in existing:
                self.existing_sessions.add(sid)
                s_out.counts.skipped_existing += 1
                m_out.counts.skipped_existing += len(items or ())
                continue
            values = {
                "session_id": sid,
                "created_at": row.get("created_at") or row.get("last_activity"),
                "last_activity": row.get("last_activity") or row.get("created_at"),
            }
            problem, converted = s_out.convert(values)
            if problem is None and items is None:
                problem = ("messages", row["messages"], "messages is not a JSON list")
            if problem is not None:
                self.imp.bad_rows.reject(BadRowError("sessions", {"session_id": sid}, *problem))
                self._drop_children(sid, items, row["messages"], "sessions")
                continue
            ready.append(_Parent(sid, values, items or [], row["messages"], converted=converted))
        if not ready:
            return
        at = s_out.index("id")
        for parent, new_id in zip(ready, self._allocate("sessions", len(ready)), strict=True):
            parent.values["id"] = parent.converted[at] = new_id
        converted = [tuple(p.converted) for p in ready]
        inserted, rejected, _ = s_writer.write(
            converted,
            lambda i: {"session_id": ready[i].sid},
            lambda i, c: ready[i].values.get(c or ""),
        )
        s_out.counts.imported += inserted
        if rejected:
            for parent in [p for p in ready if p.sid in self.sessions_rejected.by_session]:
                if parent.sid not in self.bad_sessions:
                    self._drop_children(parent.sid, parent.items, parent.raw_list, "sessions")
            ready = [p for p in ready if p.sid not in self.bad_sessions]
        self._write_messages(ready, m_writer)

    def _drop_children(self, sid: Any, items: list[Any] | None, raw: Any, parent: str) -> None:
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
            self.imp.bad_rows.reject(
                BadRowError(
                    table,
                    {"session_id": sid},
                    column,
                    raw,
                    f"all {n} {what} skipped with their {parent} row",
                )
            )

    def _write_messages(self, ready: list[_Parent], m_writer: TableWriter) -> None:
        m_out = self.outs["messages"]
        rows: list[tuple[Any, ...]] = []
        keys: list[dict[str, Any]] = []
        for parent in ready:
            for seq, item in enumerate(parent.items):
                key = {"session_id": parent.sid, "message": seq}
                problem, values = _message(parent.values, seq, item)
                row: list[Any] = []
                if problem is None:
                    problem, row = m_out.convert(values)
                if problem is not None:
                    self.messages_dropped.reject(BadRowError("messages", key, *problem))
                    m_out.counts.skipped_bad += 1
                    continue
                rows.append(tuple(row))
                keys.append(key)
                if len(rows) >= self.imp.batch_size:
                    self._flush(m_out, m_writer, rows, keys)
        if rows:
            self._flush(m_out, m_writer, rows, keys)

    @staticmethod
    def _flush(
        out: _Out, writer: TableWriter, rows: list[tuple[Any, ...]], keys: list[dict[str, Any]]
    ) -> None:
        frozen = list(keys)
        inserted, rejected, _ = writer.write(rows, lambda i: frozen[i], lambda i, c: None)
        out.counts.imported += inserted
        out.counts.skipped_bad += rejected
        rows.clear()
        keys.clear()

    # -- agent contexts and their switches ------------------------------------------------

    def run_contexts(self) -> None:
        if self.contexts is None:
            return
        c_out, w_out = self.outs["agent_contexts"], self.outs["agent_switches"]
        c_writer = self.imp.writer(
            c_out.table, c_out.columns, on_conflict="error", bad_rows=self.contexts_rejected
        )
        w_writer = self.imp.writer(
            w_out.table, w_out.columns, on_conflict="error", bad_rows=self.switches_dropped
        )
        wanted = (
            "session_id",
            "current_agent",
            "agent_history",
            "context_metadata",
            "created_at",
            "last_switch_at",
            "switch_count",
        )
        self.imp.progress.start("agent_contexts (old layout)", c_out.counts.source_rows)
        try:
            for rows in self._rows(self.contexts, wanted):
                self._context_batch(rows, c_writer, w_writer)
                self.imp.progress.advance(len(rows))
        finally:
            c_writer.close()
            w_writer.close()
            self.imp.progress.finish()

    def _context_batch(
        self, rows: list[dict[str, Any]], c_writer: TableWriter, w_writer: TableWriter
    ) -> None:
        c_out, w_out = self.outs["agent_contexts"], self.outs["agent_switches"]
        session_ids = self._session_ids([r["session_id"] for r in rows])
        taken = self._with_context(list(session_ids.values()))
        ready: list[_Parent] = []
        for row in rows:
            sid, items = row["session_id"], _json_list(row["agent_history"])
            if sid in self.existing_sessions or session_ids.get(sid) in taken:
                self.existing_contexts.add(sid)
                c_out.counts.skipped_existing += 1
                w_out.counts.skipped_existing += len(items or ())
                continue
            created = row.get("created_at")
            metadata = row.get("context_metadata")
            values = {
                "session_db_id": session_ids.get(sid),
                "current_agent": row.get("current_agent"),
                "created_at": created,
                "updated_at": row.get("last_switch_at") or created,
                "switch_count": row["switch_count"]
                if row.get("switch_count") is not None
                else len(items or ()),
                "metadata_json": "{}" if metadata in (None, "", "null") else metadata,
            }
            problem: Problem | None = None
            if sid in self.bad_sessions:
                problem = ("session_id", sid, "its session row was skipped")
            elif sid not in session_ids:
                problem = ("session_id", sid, "no session with this session_id")
            converted: list[Any] = []
            if problem is None:
                problem, converted = c_out.convert(values)
            if problem is None and items is None:
                problem = (
                    "agent_history",
                    row["agent_history"],
                    "agent_history is not a JSON list",
                )
            if problem is not None:
                self.imp.bad_rows.reject(
                    BadRowError("agent_contexts", {"session_id": sid}, *problem)
                )
                self._drop_children(sid, items, row["agent_history"], "agent_contexts")
                continue
            ready.append(
                _Parent(sid, values, items or [], row["agent_history"], row, converted=converted)
            )
        if not ready:
            return
        at = c_out.index("id")
        for parent, new_id in zip(ready, self._allocate("agent_contexts", len(ready)), strict=True):
            parent.values["id"] = parent.converted[at] = new_id
        converted = [tuple(p.converted) for p in ready]
        inserted, rejected, _ = c_writer.write(
            converted,
            lambda i: {"session_id": ready[i].sid},
            lambda i, c: ready[i].values.get(c or ""),
        )
        c_out.counts.imported += inserted
        if rejected:
            for parent in [p for p in ready if p.sid in self.contexts_rejected.by_session]:
                if parent.sid not in self.bad_contexts:
                    self._drop_children(parent.sid, parent.items, parent.raw_list, "agent_contexts")
            ready = [p for p in ready if p.sid not in self.bad_contexts]
        rows_out: list[tuple[Any, ...]] = []
        keys: list[dict[str, Any]] = []
        for parent in ready:
            for n, item in enumerate(parent.items):
                key = {"session_id": parent.sid, "switch": n}
                problem, values = _switch(parent.values, parent.row, item)
                switch_row: list[Any] = []
                if problem is None:
                    problem, switch_row = w_out.convert(values)
                if problem is not None:
                    self.switches_dropped.reject(BadRowError("agent_switches", key, *problem))
                    w_out.counts.skipped_bad += 1
                    continue
                rows_out.append(tuple(switch_row))
                keys.append(key)
                if len(rows_out) >= self.imp.batch_size:
                    self._flush(w_out, w_writer, rows_out, keys)
        if rows_out:
            self._flush(w_out, w_writer, rows_out, keys)

    # -- verification ---------------------------------------------------------------------

    def verify(self) -> None:
        """Per-table counts, and the length of every imported list against the target."""
        problems: list[str] = []
        for name, out in self.outs.items():
            counts = out.counts
            added = self.imp.count_target(name) - self.before[name]
            if not counts.accounted:
                problems.append(
                    f"{name}: {counts.source_rows} source rows but {counts.imported} imported "
                    f"+ {counts.skipped} skipped"
                )
            if added != counts.imported:
                problems.append(
                    f"{name}: {counts.imported} rows copied but the table grew by {added}"
                )
        if self.sessions is not None:
            problems += self._per_parent(
                self.sessions,
                "messages",
                self.existing_sessions | self.bad_sessions,
                self.messages_dropped.by_session,
                "select s.session_id, count(m.id) from sessions s"
                " left join messages m on m.session_db_id = s.id"
                " where s.session_id = any(%s) group by s.session_id",
                "messages",
            )
        if self.contexts is not None:
            problems += self._per_parent(
                self.contexts,
                "agent_history",
                self.existing_contexts | self.bad_contexts,
                self.switches_dropped.by_session,
                "select s.session_id, count(w.id) from sessions s"
                " join agent_contexts c on c.session_db_id = s.id"
                " left join agent_switches w on w.context_db_id = c.id"
                " where s.session_id = any(%s) group by s.session_id",
                "agent switches",
            )
        if problems:
            shown = problems[:20] + (
                [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
            )
            raise VerificationError(
                "counts do not match; everything was rolled back:\n  " + "\n  ".join(shown)
            )

    def _per_parent(
        self,
        table: SourceTable,
        column: str,
        skipped: set[str],
        dropped: dict[Any, int],
        query: str,
        what: str,
    ) -> list[str]:
        problems: list[str] = []
        expected: dict[str, int] = {}

        def check() -> None:
            rows = self.imp.conn.execute(query, (list(expected),)).fetchall()
            got = {r[0]: int(r[1]) for r in rows}
            for sid, n in expected.items():
                if got.get(sid) != n:
                    problems.append(
                        f"session {sid!r}: {n} {what} expected in the target, "
                        f"found {got.get(sid, 0)}"
                    )
            expected.clear()

        for sid, length in self._lengths(table, column):
            if sid in skipped or length is None:
                continue
            expected[sid] = length - dropped.get(sid, 0)
            if len(expected) >= self.imp.batch_size:
                check()
        if expected:
            check()
        return problems


def _message(session: dict[str, Any], seq: int, item: Any) -> tuple[Problem | None, dict[str, Any]]:
    """The messages row for element ``seq`` of an old session's list."""
    if not isinstance(item, dict):
        return ("messages", item, "message is not a JSON object"), {}
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return ("metadata_json", metadata, "message metadata is not a JSON object"), {}
    extra = {
        k: v
        for k, v in item.items()
        if k not in MESSAGE_KEYS and k not in ("metadata", "timestamp")
    }
    if extra:
        metadata = {**(metadata or {}), "legacy_fields": extra}
    content = item.get("content")
    if content is None and not item.get("tool_calls"):
        content = ""
    if content is not None and not isinstance(content, str):
        return ("content", content, "message content is not text"), {}
    if item.get("role") is None:
        return ("role", None, "message has no role"), {}
    stamp = item.get("timestamp")
    return None, {
        "session_db_id": session["id"],
        "seq": seq,
        "role": item["role"],
        "content": content,
        "timestamp": stamp if stamp is not None else session["last_activity"],
        "name": item.get("name"),
        "tool_call_id": item.get("tool_call_id"),
        "tool_calls": _dump(item.get("tool_calls")),
        "token_count": item.get("token_count"),
        "metadata_json": _dump(metadata),
    }


def _switch(
    context: dict[str, Any], row: dict[str, Any], item: Any
) -> tuple[Problem | None, dict[str, Any]]:
    """The agent_switches row for one element of an old context's agent_history."""
    if not isinstance(item, dict):
        return ("agent_history", item, "agent history entry is not a JSON object"), {}
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return ("metadata_json", metadata, "switch metadata is not a JSON object"), {}
    extra = {k: v for k, v in item.items() if k not in SWITCH_KEYS}
    if extra:
        metadata = {**(metadata or {}), "legacy_fields": extra}
    when = item.get("timestamp", item.get("switched_at"))
    return None, {
        "context_db_id": context["id"],
        "from_agent": item.get("from", item.get("from_agent")),
        "to_agent": item.get("to", item.get("to_agent")) or row.get("current_agent"),
        "switched_at": when
        if when is not None
        else (row.get("last_switch_at") or row.get("created_at")),
        "reason": item.get("reason"),
        "metadata_json": _dump(metadata),
    }


def _require(table: SourceTable, names: tuple[str, ...]) -> None:
    missing = [n for n in names if not _has(table, n)]
    if missing:
        raise PlanError(f"old-layout table {table.name} lacks column(s) {', '.join(missing)}")


def _has(table: SourceTable, name: str) -> bool:
    return name in {c.lower() for c in table.columns}


def _actual(table: SourceTable, name: str) -> str:
    for c in table.columns:
        if c.lower() == name:
            return c
    raise PlanError(f"table {table.name} has no column {name!r}")


def _json_list(text: Any) -> list[Any] | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    try:  # strict, like SQLite's json_valid() that counted the lists: no NaN/Infinity
        value = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON {name} is not allowed")


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
