"""Agent runtime sessions and their messages: save, load, page, search, delete."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from .. import sql
from .. import validate as v
from ..errors import InvalidInput
from ..runtime import Steps, operation, present
from ..sql.agent_runtime import GetSessionRow, SearchMessagesRow
from .limits import (
    MAX_INT4,
    MAX_PAGE_SIZE,
    MAX_QUERY_CHARS,
    MAX_SEARCH_CANDIDATES,
    OnMismatch,
    check_max_age,
    check_on_mismatch,
    check_session_id,
)
from .messages import Message, chain, chat_shape, first_difference, parse_messages

log = logging.getLogger("pydal_lite.agent_runtime")


class SaveResult(TypedDict):
    """What a save wrote: rows kept as they were, inserted and deleted."""

    session_id: str
    kept: int
    inserted: int
    deleted: int


@operation
def save_session(
    session_id: str,
    messages: Sequence[Mapping[str, Any]],
    last_activity: datetime | None = None,
    *,
    on_mismatch: OnMismatch = "replace",
    batch_size: int = 1000,
) -> Steps[SaveResult]:
    """Store ``messages`` as the session's whole list, creating the session if new.

    Writes only the difference: nothing when the list is already stored, the new tail
    (one INSERT per ``batch_size`` messages) when it extends the stored list. See the
    module docstring for ``on_mismatch``. ``last_activity`` defaults to now().
    The session row records the length and digest of its stored list
    (``sessions.message_chain``), so recognising the stored list as a prefix of the
    given one reads that one row, whatever the history's length: round trips upsert
    session, insert batches (the last also records the new digest). Only when the
    digest does not match (a changed earlier message, a shorter list, or another
    writer's change) are the stored fingerprints read to find the first difference.
    """
    sid = check_session_id(session_id)
    given = parse_messages(messages)
    when = v.aware_datetime(last_activity, "last_activity", nullable=True, iso=True)
    policy = check_on_mismatch(on_mismatch)
    batch = v.integer(batch_size, "batch_size", lo=1, hi=100_000)

    session = yield from sql.agent_runtime.upsert_session(session_id=sid, last_activity=when)
    if session is None:
        raise InvalidInput(f"session {sid!r} is soft-deleted; restore_session() it before saving")
    db_id = session["id"]
    count = session["message_count"]
    recorded = session["message_chain"]
    deleted = 0
    if recorded is not None and count <= len(given) and bytes(recorded) == chain(given[:count]):
        keep = next_seq = count
    else:
        keep, next_seq, deleted = yield from _find_difference(sid, db_id, given, policy)
    tail = given[keep:]
    if next_seq + len(tail) > MAX_INT4:
        raise InvalidInput(f"session {sid!r}: too many messages ({next_seq + len(tail)})")
    digest = chain(given)
    if not tail:
        if keep != count or recorded is None or bytes(recorded) != digest:
            yield from sql.agent_runtime.set_session_chain(
                session_db_id=db_id, message_count=len(given), message_chain=digest
            )
    for start in range(0, len(tail), batch):
        rows = [m.row(next_seq + start + i) for i, m in enumerate(tail[start : start + batch])]
        if start + batch < len(tail):
            yield from sql.agent_runtime.insert_messages(session_db_id=db_id, rows=rows)
        else:
            yield from sql.agent_runtime.append_messages(
                session_db_id=db_id, rows=rows, message_count=len(given), message_chain=digest
            )
    return {"session_id": sid, "kept": keep, "inserted": len(tail), "deleted": deleted}


def _find_difference(
    sid: str, db_id: int, given: list[Message], policy: OnMismatch
) -> Steps[tuple[int, int, int]]:
    """(kept, next seq, deleted): compare every stored fingerprint, delete from the first
    difference (or raise, as ``policy`` says)."""
    stored = yield from sql.agent_runtime.list_message_fingerprints(session_db_id=db_id)
    keep = first_difference(given, stored, lambda g, s: g.same_as(s))
    deleted = 0
    if keep < len(stored):
        if policy == "raise":
            what = (
                f"messages[{keep}] differs from stored message {keep}"
                if keep < len(given)
                else f"{len(given)} messages given but {len(stored)} are stored"
            )
            raise InvalidInput(f"session {sid!r}: {what} (on_mismatch='raise')")
        deleted = yield from sql.agent_runtime.delete_messages_from(
            session_db_id=db_id, from_seq=stored[keep]["seq"]
        )
        log.info("session %r: replaced %s stored messages from index %s", sid, deleted, keep)
    next_seq = stored[keep - 1]["seq"] + 1 if keep else 0
    return keep, next_seq, deleted


@operation
def load_session(session_id: str, *, include_deleted: bool = False) -> Steps[dict[str, Any] | None]:
    """The session as the seed returned it, or None when unknown (or soft-deleted).

    Keys: session_id, messages (OpenAI chat shape, in order), last_activity, created_at,
    is_active, deleted_at.
    """
    sid = check_session_id(session_id)
    row = yield from sql.agent_runtime.get_session(
        session_id=sid, include_deleted=bool(include_deleted)
    )
    if row is None:
        return None
    rows = yield from sql.agent_runtime.list_session_messages(session_db_id=row["id"])
    return {
        "session_id": row["session_id"],
        "messages": [chat_shape(r) for r in rows],
        "last_activity": row["last_activity"],
        "created_at": row["created_at"],
        "is_active": row["is_active"],
        "deleted_at": row["deleted_at"],
    }


@operation
def get_messages_paginated(
    session_id: str, page: int = 1, page_size: int = 20
) -> Steps[list[dict[str, Any]]]:
    """Page ``page`` (1-based) of a live session's messages, oldest first, chat shape.

    OFFSET paging: the server still walks the skipped rows, so deep pages cost more;
    use :func:`get_messages_after` to walk long histories.
    """
    sid = check_session_id(session_id)
    size = v.integer(page_size, "page_size", lo=1, hi=MAX_PAGE_SIZE)
    number = v.integer(page, "page", lo=1, hi=MAX_INT4 // size + 1)
    session = yield from live_session(sid)
    if session is None:
        return []
    rows = yield from sql.agent_runtime.list_session_messages_page(
        session_db_id=session["id"], page_size=size, page_offset=(number - 1) * size
    )
    return [chat_shape(r) for r in rows]


@operation
def get_messages_after(
    session_id: str, after_seq: int | None = None, limit: int = 50
) -> Steps[dict[str, Any]]:
    """Keyset page: up to ``limit`` messages with seq > ``after_seq`` (None = from start).

    Returns ``{"messages": [...], "next_after_seq": int | None}``; pass next_after_seq
    back to get the next page (None when this was the last). Each message has seq,
    role, content, name, tool_call_id, tool_calls, timestamp, token_count, metadata.
    """
    sid = check_session_id(session_id)
    count = v.integer(limit, "limit", lo=1, hi=MAX_PAGE_SIZE)
    after = -1 if after_seq is None else v.integer(after_seq, "after_seq", lo=0, hi=MAX_INT4)
    session = yield from live_session(sid)
    if session is None:
        return {"messages": [], "next_after_seq": None}
    rows = yield from sql.agent_runtime.list_session_messages_after(
        session_db_id=session["id"], after_seq=after, row_limit=count + 1
    )
    more = len(rows) > count
    rows = rows[:count]
    return {"messages": rows, "next_after_seq": rows[-1]["seq"] if more else None}


@operation
def search_messages(
    session_id: str | None, query: str, limit: int = 20, *, candidates: int = 1000
) -> Steps[list[SearchMessagesRow]]:
    """Full-text search of live sessions' messages (one session, or all when None).

    ``query`` uses web search syntax (words, "a phrase", or, -word) with the 'simple'
    configuration (no stemming). Rows: session_id, seq, role, content, timestamp, rank,
    best first. Only the newest ``candidates`` matching messages (``limit`` ..
    :data:`MAX_SEARCH_CANDIDATES`) are ranked, so a common word costs no more than a
    rarer one; the result is the best ``limit`` among those, not among all matches.
    """
    text = v.text(query, "query", max_len=MAX_QUERY_CHARS, blank=False)
    count = v.integer(limit, "limit", lo=1, hi=MAX_PAGE_SIZE)
    pool = v.integer(candidates, "candidates", lo=count, hi=MAX_SEARCH_CANDIDATES)
    if session_id is None:
        rows = yield from sql.agent_runtime.search_messages(
            query=text, candidates=pool, row_limit=count
        )
    else:
        session = yield from live_session(check_session_id(session_id))
        if session is None:
            return []
        rows = yield from sql.agent_runtime.search_session_messages(
            session_db_id=session["id"], query=text, candidates=pool, row_limit=count
        )
    return rows


@operation
def get_session_stats(session_id: str) -> Steps[dict[str, Any] | None]:
    """message_count, total_tokens, last_message_at, created_at and last_activity of a
    live session (with its session_id), or None."""
    sid = check_session_id(session_id)
    session = yield from live_session(sid)
    if session is None:
        return None
    found = yield from sql.agent_runtime.get_message_stats(session_db_id=session["id"])
    stats = present(found, "get_message_stats")  # an aggregate without GROUP BY: one row
    return {
        "session_id": session["session_id"],
        "message_count": stats["message_count"],
        "total_tokens": stats["total_tokens"],
        "last_message_at": stats["last_message_at"],
        "created_at": session["created_at"],
        "last_activity": session["last_activity"],
    }


def live_session(sid: str) -> Steps[GetSessionRow | None]:
    """The live session's row: keyed calls pass its id (the Citus distribution key of
    messages, so each reads one shard)."""
    row = yield from sql.agent_runtime.get_session(session_id=sid, include_deleted=False)
    return row


# ---------------------------------------------------------------- lifecycle


@operation
def delete_session(session_id: str, soft: bool = True) -> Steps[bool]:
    """Soft-delete (default) or hard-delete a session; False when it does not exist.

    Soft delete hides it and keeps an earlier deleted_at; hard delete removes it with
    its messages, agent context and switches (ON DELETE CASCADE).
    """
    sid = check_session_id(session_id)
    if soft:
        count = yield from sql.agent_runtime.soft_delete_session(session_id=sid)
    else:
        count = yield from sql.agent_runtime.delete_session(session_id=sid)
    return bool(count)


@operation
def restore_session(session_id: str) -> Steps[bool]:
    """Make a soft-deleted session live again (last_activity becomes now()); False when
    it is unknown or not deleted."""
    count = yield from sql.agent_runtime.restore_session(session_id=check_session_id(session_id))
    return bool(count)


@operation
def list_all_sessions(
    include_deleted: bool = False, *, limit: int | None = None
) -> Steps[list[str]]:
    """session_id of every live session (and soft-deleted ones if asked), most recently
    active first; ``limit`` None means all."""
    count = None if limit is None else v.integer(limit, "limit", lo=1, hi=2**62)
    if include_deleted:
        rows = yield from sql.agent_runtime.list_all_session_ids(row_limit=count)
    else:
        rows = yield from sql.agent_runtime.list_live_session_ids(row_limit=count)
    return [r["session_id"] for r in rows]


@operation
def cleanup_old_sessions(max_age_hours: float = 24) -> Steps[int]:
    """Soft-delete live sessions idle for more than ``max_age_hours``; returns how many."""
    hours = check_max_age(max_age_hours, "max_age_hours")
    count = yield from sql.agent_runtime.soft_delete_idle_sessions(max_age_hours=hours)
    if count:
        log.info("soft-deleted %s sessions idle for more than %s hours", count, hours)
    return int(count)


@operation
def hard_delete_old_sessions(days_old: float = 30) -> Steps[int]:
    """Permanently delete sessions soft-deleted more than ``days_old`` days ago (with
    their messages, contexts and switches); returns how many sessions."""
    days = check_max_age(days_old, "days_old")
    count = yield from sql.agent_runtime.delete_expired_sessions(days_old=days)
    if count:
        log.info("hard-deleted %s sessions soft-deleted more than %s days ago", count, days)
    return int(count)
