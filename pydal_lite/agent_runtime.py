"""Agent runtime storage (seed 001): sessions, OpenAI-shaped messages, agent contexts.

Every function is an :func:`~pydal_lite.operation.operation`: call it with a sync
connection (``save_session(conn, "s1", messages)``) or await it with an async one
(``await save_session(aconn, "s1", messages)``); each call is one transaction, or a
savepoint inside :func:`transaction` / :func:`atransaction` (the seed's
``session_scope``). Queries live in ``queries/agent_runtime.sql``, tables in
``schema/0002_create_agent_runtime.sql``.

Decisions (the seed leaves them open):

- Messages are dicts in the OpenAI chat shape. Stored keys: ``role`` (one of
  :data:`ROLES`, required), ``content`` (str or None), ``name``, ``tool_call_id``,
  ``tool_calls`` (a list), plus optional ``token_count``, ``metadata`` (a dict) and
  ``timestamp`` (an aware datetime). Other keys (``refusal``, ``audio``...) are ignored,
  as the seed did. As in the seed, a None content without tool_calls is stored as ``""``
  and empty ``name`` / ``tool_call_id`` / ``tool_calls`` as absent.
- ``save_session`` takes the whole list, like the seed, but writes only what changed:
  the stored messages are compared with the given list by role, content, name,
  tool_call_id and tool_calls (not timestamp, token_count or metadata) via a 32-byte
  fingerprint per message, stored in ``messages.fingerprint`` by an insert trigger and
  recomputed here for the given list, so stored content is neither downloaded nor
  re-hashed: a save reads 32 bytes per stored message (the given list is still hashed
  here, SHA-256 at about 1 GB/s, as comparing it needs). tool_calls are compared as jsonb
  values (key order and number spelling do not matter: ``1e16`` equals
  ``10000000000000000``, ``1.0`` equals ``1``, ``-0.0`` equals ``0``), through the
  canonical text of :func:`_canonical_jsonb_text`. The new tail goes in with one INSERT
  per ``batch_size`` messages. Saving the same list twice stores it once. If the stored list
  is not a prefix of the given one, ``on_mismatch="replace"`` (default, the seed's
  meaning: the given list is the truth) deletes the stored messages from the first
  difference on and inserts the rest; ``on_mismatch="raise"`` raises
  :class:`~pydal_lite.errors.InvalidInput` naming the first differing index.
- Saving to a soft-deleted session raises InvalidInput (restore it first): neither
  writing into an invisible session nor silently undoing a delete.
- ``save_agent_context`` for an unknown or soft-deleted session raises
  :class:`~pydal_lite.errors.NotFound` (the seed only logged it). ``agent_history`` is
  handled like messages (entries compared by from, to and reason).
- Soft-deleted sessions are invisible to every read unless ``include_deleted=True``
  where offered; ``restore_session`` makes them live again (and stamps last_activity,
  so the next cleanup does not delete them at once).
- Reads: :func:`get_messages_paginated` (page numbers, the seed's) and
  :func:`get_messages_after` (keyset on ``messages.seq``, cost independent of depth);
  :func:`search_messages` is PostgreSQL full-text search ('simple' configuration, no
  stemming, any language; the first 100,000 characters of each message are indexed).
  It ranks only the newest ``candidates`` matches (default 1,000), so its cost is
  bounded however common the words are; the price is that an older, better match
  beyond them is not returned.
- Limits (also CHECK constraints): session_id, name, tool_call_id 1..255 characters,
  agent names 1..100, content up to 1,000,000, switch reason up to 10,000; page sizes
  and limits 1..1000.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal, TypedDict

from . import sql
from . import validate as v
from .connection import atransaction, transaction
from .errors import InvalidInput, NotFound
from .runtime import Steps, operation
from .sql.agent_runtime import ListAgentSwitchesRow, SearchMessagesRow

__all__ = [
    "MAX_AGENT_CHARS",
    "MAX_CONTENT_CHARS",
    "MAX_ID_CHARS",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_CHARS",
    "MAX_REASON_CHARS",
    "MAX_SEARCH_CANDIDATES",
    "ROLES",
    "SaveResult",
    "asession_scope",
    "atransaction",
    "cleanup_old_sessions",
    "delete_session",
    "get_agent_switch_history",
    "get_messages_after",
    "get_messages_paginated",
    "get_session_stats",
    "hard_delete_old_sessions",
    "list_all_sessions",
    "list_sessions_by_agent",
    "load_agent_context",
    "load_session",
    "restore_session",
    "save_agent_context",
    "save_session",
    "search_messages",
    "session_scope",
    "transaction",
]

log = logging.getLogger("pydal_lite.agent_runtime")

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
"""Accepted message roles (OpenAI chat roles; ``function`` is the legacy one)."""

MAX_ID_CHARS = 255
"""Longest session_id, message name and tool_call_id (characters)."""
MAX_AGENT_CHARS = 100
"""Longest agent name (characters), as the seed's String(100)."""
MAX_CONTENT_CHARS = 1_000_000
"""Longest message content (characters); full-text search sees the first 100,000."""
MAX_REASON_CHARS = 10_000
"""Longest agent switch reason (characters)."""
MAX_PAGE_SIZE = 1000
"""Largest page_size / limit of any read."""
MAX_QUERY_CHARS = 1000
"""Longest full-text search query (characters)."""
MAX_SEARCH_CANDIDATES = 100_000
"""Most matching messages one search ranks (its ``candidates``)."""
_MAX_INT4 = 2**31 - 1

session_scope = transaction
"""The seed's ``session_scope``: ``with session_scope(conn): ...`` commits or rolls back."""
asession_scope = atransaction
"""Async twin of :data:`session_scope`."""

OnMismatch = Literal["replace", "raise"]


class SaveResult(TypedDict):
    """What a save wrote: rows kept as they were, inserted and deleted."""

    session_id: str
    kept: int
    inserted: int
    deleted: int


# ---------------------------------------------------------------- validation


def _session_id(value: Any) -> str:
    return v.text(value, "session_id", max_len=MAX_ID_CHARS)


def _agent(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_AGENT_CHARS)


def _optional_agent(value: Any, what: str) -> str | None:
    return v.text(value, what, max_len=MAX_AGENT_CHARS, nullable=True)


def _max_age(value: Any, what: str) -> float:
    return v.number(value, what, positive=True, hi=1_000_000)


def _metadata(value: Any, what: str) -> dict[str, Any] | None:
    checked = v.json_object(value, what, nullable=True)
    return None if checked is None else dict(checked.obj)


def _on_mismatch(value: Any) -> OnMismatch:
    return v.one_of(value, "on_mismatch", ("replace", "raise"))


# ---------------------------------------------------------------- messages


def _digest(value: str | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + hashlib.sha256(value.encode()).digest()


def _jsonb_number(value: int | float) -> str:
    """A JSON number as jsonb prints ``trim_scale`` of it: plain digits, no trailing
    fractional zeros, no negative zero (jsonb holds the float's shortest repr exactly)."""
    if isinstance(value, int):
        return str(value)
    d = Decimal(repr(value))
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def _canonical_jsonb_text(value: Any) -> str:
    """``messages_canonical_json(value)::text`` for a JSON-decoded Python value: jsonb's
    output (keys by byte length, then bytes; ", " and ": " separators; strings escaped
    as json.dumps with ensure_ascii=False does) with numbers as :func:`_jsonb_number`."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _jsonb_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_canonical_jsonb_text(x) for x in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return (
            "{"
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)}: {_canonical_jsonb_text(value[k])}"
                for k in keys
            )
            + "}"
        )
    raise TypeError(f"not a JSON-decoded value: {value!r:.200}")


@dataclass(frozen=True)
class _Message:
    role: str
    content: str | None
    name: str | None
    tool_call_id: str | None
    tool_calls: list[Any] | None
    token_count: int | None
    metadata: dict[str, Any] | None
    timestamp: datetime | None

    @cached_property
    def fingerprint(self) -> bytes:
        """messages_fingerprint() of this message: what the insert trigger stores."""
        calls = None if self.tool_calls is None else _canonical_jsonb_text(self.tool_calls)
        parts = (self.role, self.content, self.name, self.tool_call_id, calls)
        return hashlib.sha256(b"".join(_digest(p) for p in parts)).digest()

    def same_as(self, stored: Mapping[str, Any]) -> bool:
        return bytes(stored["fingerprint"]) == self.fingerprint

    def row(self, seq: int) -> dict[str, Any]:
        row: dict[str, Any] = {"seq": seq, "role": self.role, "content": self.content}
        for key in ("name", "tool_call_id", "tool_calls", "token_count", "metadata"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        if self.timestamp is not None:
            row["timestamp"] = self.timestamp.isoformat()
        return row


def _message(i: int, m: Any) -> _Message:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping):
        raise InvalidInput(f"{where} must be a dict, got {m!r:.200}")
    role = m.get("role")
    if role not in ROLES:
        raise InvalidInput(f"{where}: unknown role {role!r}; expected one of {sorted(ROLES)}")
    tool_calls = m.get("tool_calls") or None
    if tool_calls is not None:
        if isinstance(tool_calls, (str, bytes)) or not isinstance(tool_calls, Sequence):
            raise InvalidInput(f"{where}.tool_calls must be a list, got {tool_calls!r:.200}")
        tool_calls = json.loads(v.json_text(list(tool_calls), f"{where}.tool_calls"))
    content = m.get("content")
    if content is None and tool_calls is None:
        content = ""  # the seed's rule: only a tool-calling message may lack content
    token_count = m.get("token_count")
    if token_count is not None:
        v.integer(token_count, f"{where}.token_count", lo=0, hi=_MAX_INT4)
    return _Message(
        role=role,
        content=v.text(
            content, f"{where}.content", max_len=MAX_CONTENT_CHARS, min_len=0, nullable=True
        ),
        name=v.text(m.get("name") or None, f"{where}.name", max_len=MAX_ID_CHARS, nullable=True),
        tool_call_id=v.text(
            m.get("tool_call_id") or None,
            f"{where}.tool_call_id",
            max_len=MAX_ID_CHARS,
            nullable=True,
        ),
        tool_calls=tool_calls,
        token_count=token_count,
        metadata=_metadata(m.get("metadata"), f"{where}.metadata"),
        timestamp=v.aware_datetime(
            m.get("timestamp"), f"{where}.timestamp", nullable=True, iso=True
        ),
    )


def _messages(messages: Any) -> list[_Message]:
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidInput(f"messages must be a list of dicts, got {messages!r:.200}")
    return [_message(i, m) for i, m in enumerate(messages)]


def _chat_shape(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as the seed's to_dict: role and content, then the set extras."""
    out: dict[str, Any] = {"role": row["role"], "content": row["content"]}
    for key in ("name", "tool_call_id", "tool_calls"):
        if row[key] is not None:
            out[key] = row[key]
    return out


def _first_difference(given: Sequence[Any], stored: Sequence[Any], same: Any) -> int:
    n = min(len(given), len(stored))
    for i in range(n):
        if not same(given[i], stored[i]):
            return i
    return n


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
    Round trips: upsert session, read fingerprints, [delete diverged], insert batches.
    """
    sid = _session_id(session_id)
    given = _messages(messages)
    when = v.aware_datetime(last_activity, "last_activity", nullable=True, iso=True)
    policy = _on_mismatch(on_mismatch)
    batch = v.integer(batch_size, "batch_size", lo=1, hi=100_000)

    session = yield from sql.agent_runtime.upsert_session(session_id=sid, last_activity=when)
    if session is None:
        raise InvalidInput(f"session {sid!r} is soft-deleted; restore_session() it before saving")
    db_id = session["id"]
    stored = yield from sql.agent_runtime.list_message_fingerprints(session_db_id=db_id)
    keep = _first_difference(given, stored, lambda g, s: g.same_as(s))
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
    tail = given[keep:]
    if next_seq + len(tail) > _MAX_INT4:
        raise InvalidInput(f"session {sid!r}: too many messages ({next_seq + len(tail)})")
    for start in range(0, len(tail), batch):
        rows = [m.row(next_seq + start + i) for i, m in enumerate(tail[start : start + batch])]
        yield from sql.agent_runtime.insert_messages(session_db_id=db_id, rows=rows)
    return {"session_id": sid, "kept": keep, "inserted": len(tail), "deleted": deleted}


@operation
def load_session(session_id: str, *, include_deleted: bool = False) -> Steps[dict[str, Any] | None]:
    """The session as the seed returned it, or None when unknown (or soft-deleted).

    Keys: session_id, messages (OpenAI chat shape, in order), last_activity, created_at,
    is_active, deleted_at.
    """
    sid = _session_id(session_id)
    row = yield from sql.agent_runtime.get_session(
        session_id=sid, include_deleted=bool(include_deleted)
    )
    if row is None:
        return None
    rows = yield from sql.agent_runtime.list_session_messages(session_db_id=row["id"])
    return {
        "session_id": row["session_id"],
        "messages": [_chat_shape(r) for r in rows],
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
    sid = _session_id(session_id)
    size = v.integer(page_size, "page_size", lo=1, hi=MAX_PAGE_SIZE)
    number = v.integer(page, "page", lo=1, hi=_MAX_INT4 // size + 1)
    rows = yield from sql.agent_runtime.list_session_messages_page(
        session_id=sid, page_size=size, page_offset=(number - 1) * size
    )
    return [_chat_shape(r) for r in rows]


@operation
def get_messages_after(
    session_id: str, after_seq: int | None = None, limit: int = 50
) -> Steps[dict[str, Any]]:
    """Keyset page: up to ``limit`` messages with seq > ``after_seq`` (None = from start).

    Returns ``{"messages": [...], "next_after_seq": int | None}``; pass next_after_seq
    back to get the next page (None when this was the last). Each message has seq,
    role, content, name, tool_call_id, tool_calls, timestamp, token_count, metadata.
    """
    sid = _session_id(session_id)
    count = v.integer(limit, "limit", lo=1, hi=MAX_PAGE_SIZE)
    after = -1 if after_seq is None else v.integer(after_seq, "after_seq", lo=0, hi=_MAX_INT4)
    rows = yield from sql.agent_runtime.list_session_messages_after(
        session_id=sid, after_seq=after, row_limit=count + 1
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
        rows = yield from sql.agent_runtime.search_session_messages(
            session_id=_session_id(session_id), query=text, candidates=pool, row_limit=count
        )
    return rows


@operation
def get_session_stats(session_id: str) -> Steps[dict[str, Any] | None]:
    """message_count, total_tokens, last_message_at, created_at and last_activity of a
    live session (with its session_id), or None."""
    sid = _session_id(session_id)
    row = yield from sql.agent_runtime.get_session_stats(session_id=sid)
    return dict(row) if row is not None else None


# ---------------------------------------------------------------- lifecycle


@operation
def delete_session(session_id: str, soft: bool = True) -> Steps[bool]:
    """Soft-delete (default) or hard-delete a session; False when it does not exist.

    Soft delete hides it and keeps an earlier deleted_at; hard delete removes it with
    its messages, agent context and switches (ON DELETE CASCADE).
    """
    sid = _session_id(session_id)
    if soft:
        count = yield from sql.agent_runtime.soft_delete_session(session_id=sid)
    else:
        count = yield from sql.agent_runtime.delete_session(session_id=sid)
    return bool(count)


@operation
def restore_session(session_id: str) -> Steps[bool]:
    """Make a soft-deleted session live again (last_activity becomes now()); False when
    it is unknown or not deleted."""
    count = yield from sql.agent_runtime.restore_session(session_id=_session_id(session_id))
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
    hours = _max_age(max_age_hours, "max_age_hours")
    count = yield from sql.agent_runtime.soft_delete_idle_sessions(max_age_hours=hours)
    if count:
        log.info("soft-deleted %s sessions idle for more than %s hours", count, hours)
    return int(count)


@operation
def hard_delete_old_sessions(days_old: float = 30) -> Steps[int]:
    """Permanently delete sessions soft-deleted more than ``days_old`` days ago (with
    their messages, contexts and switches); returns how many sessions."""
    days = _max_age(days_old, "days_old")
    count = yield from sql.agent_runtime.delete_expired_sessions(days_old=days)
    if count:
        log.info("hard-deleted %s sessions soft-deleted more than %s days ago", count, days)
    return int(count)


# ---------------------------------------------------------------- agent context


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
        to_agent = _agent(h.get("to", current_agent), f"{where}.to")
        out.append(
            _Switch(
                from_agent=_optional_agent(h.get("from"), f"{where}.from"),
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
                metadata=_metadata(h.get("metadata") or None, f"{where}.metadata"),
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
    sid = _session_id(session_id)
    agent = _agent(current_agent, "current_agent")
    switches = _switches(agent_history, agent or "")
    meta = v.json_object({} if metadata is None else metadata, "metadata")
    created = v.aware_datetime(created_at, "created_at", nullable=True, iso=True)
    v.aware_datetime(last_switch_at, "last_switch_at", nullable=True, iso=True)
    count = len(switches) if switch_count is None else switch_count
    v.integer(count, "switch_count", lo=0, hi=_MAX_INT4)
    policy = _on_mismatch(on_mismatch)

    ctx = yield from sql.agent_runtime.upsert_agent_context(
        session_id=sid,
        current_agent=agent,
        created_at=created,
        switch_count=count,
        metadata=meta,
    )
    if ctx is None:
        raise NotFound(f"session {sid!r} not found (unknown or soft-deleted)")
    stored = yield from sql.agent_runtime.list_context_switches(context_db_id=ctx["id"])
    keep = _first_difference(switches, stored, lambda g, s: g.same_as(s))
    deleted = 0
    if keep < len(stored):
        if policy == "raise":
            raise InvalidInput(
                f"session {sid!r}: agent_history[{keep}] differs from the stored history "
                f"({len(switches)} given, {len(stored)} stored; on_mismatch='raise')"
            )
        deleted = yield from sql.agent_runtime.delete_switches_from(
            context_db_id=ctx["id"], from_id=stored[keep]["id"]
        )
    tail = switches[keep:]
    if tail:
        rows = [s.row(i) for i, s in enumerate(tail)]
        yield from sql.agent_runtime.insert_switches(context_db_id=ctx["id"], rows=rows)
    return {"session_id": sid, "kept": keep, "inserted": len(tail), "deleted": deleted}


@operation
def load_agent_context(session_id: str) -> Steps[dict[str, Any] | None]:
    """The agent context of a live session as the seed returned it, or None.

    Keys: session_id, current_agent, agent_history (from, to, reason, timestamp as an
    ISO string, in the order saved), metadata, created_at, updated_at, last_switch_at,
    switch_count.
    """
    sid = _session_id(session_id)
    ctx = yield from sql.agent_runtime.get_agent_context(session_id=sid)
    if ctx is None:
        return None
    rows = yield from sql.agent_runtime.list_context_history(context_db_id=ctx["id"])
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
    sid = _session_id(session_id)
    count = v.integer(limit, "limit", lo=1, hi=MAX_PAGE_SIZE)
    rows = yield from sql.agent_runtime.list_agent_switches(session_id=sid, row_limit=count)
    return rows


@operation
def list_sessions_by_agent(current_agent: str) -> Steps[list[str]]:
    """session_id of every live session now handled by ``current_agent``, most recently
    active first."""
    agent = _agent(current_agent, "current_agent")
    rows = yield from sql.agent_runtime.list_sessions_by_agent(current_agent=agent)
    return [r["session_id"] for r in rows]
