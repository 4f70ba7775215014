"""Old sessions and the messages of their JSON lists."""

from __future__ import annotations

from typing import Any

from ..copy import TableWriter
from ..errors import BadRowError
from .common import Parent, json_list
from .rules import message_row
from .state import LegacyState


def run_sessions(st: LegacyState) -> None:
    if st.sessions is None:
        return
    s_out, m_out = st.outs["sessions"], st.outs["messages"]
    s_writer = st.ctx.writer(
        s_out.table, s_out.columns, on_conflict="error", bad_rows=st.sessions_rejected
    )
    m_writer = st.ctx.writer(
        m_out.table, m_out.columns, on_conflict="error", bad_rows=st.messages_dropped
    )
    wanted = ("session_id", "messages", "last_activity", "created_at")
    st.ctx.progress.start("sessions (old layout)", s_out.counts.source_rows)
    try:
        for rows in st.rows_of(st.sessions, wanted):
            _session_batch(st, rows, s_writer, m_writer)
            st.ctx.progress.advance(len(rows))
    finally:
        s_writer.close()
        m_writer.close()
        st.ctx.progress.finish()


def _session_batch(
    st: LegacyState, rows: list[dict[str, Any]], s_writer: TableWriter, m_writer: TableWriter
) -> None:
    s_out, m_out = st.outs["sessions"], st.outs["messages"]
    existing = st.session_ids([r["session_id"] for r in rows])
    ready: list[Parent] = []
    for row in rows:
        sid, items = row["session_id"], json_list(row["messages"])
        if sid in existing:
            st.existing_sessions.add(sid)
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
            st.ctx.bad_rows.reject(BadRowError("sessions", {"session_id": sid}, *problem))
            st.drop_children(sid, items, row["messages"], "sessions")
            continue
        ready.append(Parent(sid, values, items or [], row["messages"], converted=converted))
    if not ready:
        return
    at = s_out.index("id")
    for parent, new_id in zip(ready, st.allocate("sessions", len(ready)), strict=True):
        parent.values["id"] = parent.converted[at] = new_id
    converted = [tuple(p.converted) for p in ready]
    inserted, rejected, _ = s_writer.write(
        converted,
        lambda i: {"session_id": ready[i].sid},
        lambda i, c: ready[i].values.get(c or ""),
    )
    s_out.counts.imported += inserted
    if rejected:
        for parent in [p for p in ready if p.sid in st.sessions_rejected.by_session]:
            if parent.sid not in st.bad_sessions:
                st.drop_children(parent.sid, parent.items, parent.raw_list, "sessions")
        ready = [p for p in ready if p.sid not in st.bad_sessions]
    _write_messages(st, ready, m_writer)


def _write_messages(st: LegacyState, ready: list[Parent], m_writer: TableWriter) -> None:
    m_out = st.outs["messages"]
    rows: list[tuple[Any, ...]] = []
    keys: list[dict[str, Any]] = []
    for parent in ready:
        for seq, item in enumerate(parent.items):
            key = {"session_id": parent.sid, "message": seq}
            problem, values = message_row(parent.values, seq, item)
            row: list[Any] = []
            if problem is None:
                problem, row = m_out.convert(values)
            if problem is not None:
                st.messages_dropped.reject(BadRowError("messages", key, *problem))
                m_out.counts.skipped_bad += 1
                continue
            rows.append(tuple(row))
            keys.append(key)
            if len(rows) >= st.ctx.batch_size:
                st.flush(m_out, m_writer, rows, keys)
    if rows:
        st.flush(m_out, m_writer, rows, keys)
