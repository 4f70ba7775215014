"""Agent contexts: the current agent of a session and its history of switches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import sql
from .. import validate as v
from ..errors import InvalidInput, NotFound
from ..runtime import Steps, operation, present
from ..sql.agent_runtime import ListAgentSwitchesRow
from .limits import (
    MAX_INT4,
    MAX_PAGE_SIZE,
    MAX_REASON_CHARS,
    OnMismatch,
    check_agent,
    check_metadata,
    check_on_mismatch,
    check_optional_agent,
    check_session_id,
)
from .messages import first_difference
from .sessions import SaveResult, live_session


@dataclass(frozen=True)
class _Switch:
    from_agent: str | None
    to_agent: str
    reason: str | None
    switched_at: datetime | None
    metadata: dict[str, Any] | None

    def same_as(self, stored: Mapping[str, Any]) -> bool:
        return (self.from_agent, self.to_agent, self.reason) == (
            stored["from_agent"],
            stored["to_agent"],
            stored["reason"],
        )

    def row(self, ord_: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "ord": ord_,
            "from_agent": self.from_agent,
            "to_agent": self.to_agent,
        }
        if self.reason is not None:
            row["reason"] = self.reason
        if self.metadata is not None:
            row["metadata"] = self.metadata
        if self.switched_at is not None:
            row["switched_at"] = self.switched_at.isoformat()
        return row


def _switches(history: Any, current_agent: str) -> list[_Switch]:
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise InvalidInput(f"agent_history must be a list of dicts, got {history!r:.200}")
    out = []
    for i, h in enumerate(history):
        where = f"agent_history[{i}]"
        if not isinstance(h, Mapping):
            raise InvalidInput(f"{where} must be a dict, got {h!r:.200}")
        to_agent = check_agent(h.get("to", current_agent), f"{where}.to")
        out.append(
            _Switch(
                from_agent=check_optional_agent(h.get("from"), f"{where}.from"),
                to_agent=to_agent,
                reason=v.text(
                    h.get("reason"),
                    f"{where}.reason",
                    max_len=MAX_REASON_CHARS,
                    min_len=0,
                    nullable=True,
                ),
                switched_at=v.aware_datetime(
                    h.get("timestamp"), f"{where}.timestamp", nullable=True, iso=True
                ),
                metadata=check_metadata(h.get("metadata") or None, f"{where}.metadata"),
            )
        )
    return out


@operation
def save_agent_context(
    session_id: str,
    current_agent: str,
    agent_history: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any] | None = None,
    created_at: datetime | None = None,
    last_switch_at: datetime | None = None,
    switch_count: int | None = None,
    *,
    on_mismatch: OnMismatch = "replace",
) -> Steps[SaveResult]:
    """Create or update the agent context of a live session (NotFound otherwise).

    ``agent_history`` is the whole list of switches (dicts with from, to, reason,
    timestamp, metadata; ``to`` defaults to current_agent); only entries not stored yet
    are inserted, in one statement; ``on_mismatch`` as in :func:`save_session`.
    ``created_at`` is used when the context is created; ``switch_count`` defaults to
    ``len(agent_history)``; ``last_switch_at`` is accepted for the seed's signature and
    derived from the stored switches on load.
    """
    sid = check_session_id(session_id)
    agent = check_agent(current_agent, "current_agent")
    switches = _switches(agent_history, agent or "")
    meta = v.json_object({} if metadata is None else metadata, "metadata")
    created = v.aware_datetime(created_at, "created_at", nullable=True, iso=True)
    v.aware_datetime(last_switch_at, "last_switch_at", nullable=True, iso=True)
    count = len(switches) if switch_count is None else switch_count
    v.integer(count, "switch_count", lo=0, hi=MAX_INT4)
    policy = check_on_mismatch(on_mismatch)

    session = yield from live_session(sid)
    if session is None:
        raise NotFound(f"session {sid!r} not found (unknown or soft-deleted)")
    db_id = session["id"]
    ctx = yield from sql.agent_runtime.upsert_agent_context(
        session_db_id=db_id,
        current_agent=agent,
        created_at=created,
        switch_count=count,
        metadata=meta,
    )
    ctx = present(ctx, "upsert_agent_context")
    stored = yield from sql.agent_runtime.list_context_switches(session_db_id=db_id)
    keep = first_difference(switches, stored, lambda g, s: g.same_as(s))
    deleted = 0
    if keep < len(stored):
        if policy == "raise":
            raise InvalidInput(
                f"session {sid!r}: agent_history[{keep}] differs from the stored history "
                f"({len(switches)} given, {len(stored)} stored; on_mismatch='raise')"
            )
        deleted = yield from sql.agent_runtime.delete_switches_from(
            session_db_id=db_id, from_id=stored[keep]["id"]
        )
    tail = switches[keep:]
    if tail:
        rows = [s.row(i) for i, s in enumerate(tail)]
        yield from sql.agent_runtime.insert_switches(
            session_db_id=db_id, context_db_id=ctx["id"], rows=rows
        )
    return {"session_id": sid, "kept": keep, "inserted": len(tail), "deleted": deleted}


@operation
def load_agent_context(session_id: str) -> Steps[dict[str, Any] | None]:
    """The agent context of a live session as the seed returned it, or None.

    Keys: session_id, current_agent, agent_history (from, to, reason, timestamp as an
    ISO string, in the order saved), metadata, created_at, updated_at, last_switch_at,
    switch_count.
    """
    sid = check_session_id(session_id)
    session = yield from live_session(sid)
    if session is None:
        return None
    ctx = yield from sql.agent_runtime.get_agent_context(session_db_id=session["id"])
    if ctx is None:
        return None
    rows = yield from sql.agent_runtime.list_context_history(session_db_id=session["id"])
    history = [
        {
            "from": r["from_agent"],
            "to": r["to_agent"],
            "reason": r["reason"],
            "timestamp": r["switched_at"].isoformat(),
        }
        for r in rows
    ]
    return {
        "session_id": sid,
        "current_agent": ctx["current_agent"],
        "agent_history": history,
        "metadata": ctx["metadata"],
        "created_at": ctx["created_at"],
        "updated_at": ctx["updated_at"],
        "last_switch_at": max((r["switched_at"] for r in rows), default=None),
        "switch_count": ctx["switch_count"],
    }


@operation
def get_agent_switch_history(
    session_id: str, limit: int = 100
) -> Steps[list[ListAgentSwitchesRow]]:
    """Up to ``limit`` switches of a live session, newest first: id, from_agent,
    to_agent, switched_at, reason, metadata ({} when none)."""
    sid = check_session_id(session_id)
    count = v.integer(limit, "limit", lo=1, hi=MAX_PAGE_SIZE)
    session = yield from live_session(sid)
    if session is None:
        return []
    rows = yield from sql.agent_runtime.list_agent_switches(
        session_db_id=session["id"], row_limit=count
    )
    return rows


@operation
def list_sessions_by_agent(current_agent: str) -> Steps[list[str]]:
    """session_id of every live session now handled by ``current_agent``, most recently
    active first."""
    agent = check_agent(current_agent, "current_agent")
    rows = yield from sql.agent_runtime.list_sessions_by_agent(current_agent=agent)
    return [r["session_id"] for r in rows]
