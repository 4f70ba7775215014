"""Old agent contexts and the switches of their agent_history lists."""

from __future__ import annotations

from typing import Any

from ..copy import TableWriter
from ..errors import BadRowError
from .common import Parent, Problem, json_list
from .rules import switch_row
from .state import LegacyState


def run_contexts(st: LegacyState) -> None:
    if st.contexts is None:
        return
    c_out, w_out = st.outs["agent_contexts"], st.outs["agent_switches"]
    c_writer = st.ctx.writer(
        c_out.table, c_out.columns, on_conflict="error", bad_rows=st.contexts_rejected
    )
    w_writer = st.ctx.writer(
        w_out.table, w_out.columns, on_conflict="error", bad_rows=st.switches_dropped
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
    st.ctx.progress.start("agent_contexts (old layout)", c_out.counts.source_rows)
    try:
        for rows in st.rows_of(st.contexts, wanted):
            _context_batch(st, rows, c_writer, w_writer)
            st.ctx.progress.advance(len(rows))
    finally:
        c_writer.close()
        w_writer.close()
        st.ctx.progress.finish()


def _context_batch(
    st: LegacyState, rows: list[dict[str, Any]], c_writer: TableWriter, w_writer: TableWriter
) -> None:
    c_out, w_out = st.outs["agent_contexts"], st.outs["agent_switches"]
    session_ids = st.session_ids([r["session_id"] for r in rows])
    taken = st.with_context(list(session_ids.values()))
    ready: list[Parent] = []
    for row in rows:
        sid, items = row["session_id"], json_list(row["agent_history"])
        if sid in st.existing_sessions or session_ids.get(sid) in taken:
            st.existing_contexts.add(sid)
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
        if sid in st.bad_sessions:
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
            st.ctx.bad_rows.reject(BadRowError("agent_contexts", {"session_id": sid}, *problem))
            st.drop_children(sid, items, row["agent_history"], "agent_contexts")
            continue
        ready.append(
            Parent(sid, values, items or [], row["agent_history"], row, converted=converted)
        )
    if not ready:
        return
    at = c_out.index("id")
    for parent, new_id in zip(ready, st.allocate("agent_contexts", len(ready)), strict=True):
        parent.values["id"] = parent.converted[at] = new_id
    converted = [tuple(p.converted) for p in ready]
    inserted, rejected, _ = c_writer.write(
        converted,
        lambda i: {"session_id": ready[i].sid},
        lambda i, c: ready[i].values.get(c or ""),
    )
    c_out.counts.imported += inserted
    if rejected:
        for parent in [p for p in ready if p.sid in st.contexts_rejected.by_session]:
            if parent.sid not in st.bad_contexts:
                st.drop_children(parent.sid, parent.items, parent.raw_list, "agent_contexts")
        ready = [p for p in ready if p.sid not in st.bad_contexts]
    rows_out: list[tuple[Any, ...]] = []
    keys: list[dict[str, Any]] = []
    for parent in ready:
        for n, item in enumerate(parent.items):
            key = {"session_id": parent.sid, "switch": n}
            problem, values = switch_row(parent.values, parent.row, item)
            switch: list[Any] = []
            if problem is None:
                problem, switch = w_out.convert(values)
            if problem is not None:
                st.switches_dropped.reject(BadRowError("agent_switches", key, *problem))
                w_out.counts.skipped_bad += 1
                continue
            rows_out.append(tuple(switch))
            keys.append(key)
            if len(rows_out) >= st.ctx.batch_size:
                st.flush(w_out, w_writer, rows_out, keys)
    if rows_out:
        st.flush(w_out, w_writer, rows_out, keys)


# -- verification ---------------------------------------------------------------------
