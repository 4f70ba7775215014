"""Agent runtime storage (seed 001): sessions, OpenAI-shaped messages, agent contexts.

Every function is an :func:`~pydal_lite.runtime.operation`: call it with a sync
connection (``save_session(conn, "s1", messages)``) or await it with an async one
(``await save_session(aconn, "s1", messages)``); each call that writes is one
transaction, or a savepoint inside :func:`transaction` / :func:`atransaction` (the
seed's ``session_scope``). Queries live in ``queries/agent_runtime.sql`` (typed steps in
:mod:`pydal_lite.sql.agent_runtime`), tables in ``schema/0002_create_agent_runtime.sql``.
The package: :mod:`.limits` (limits and argument checks), :mod:`.messages` (the message
rules, shared with the SQLite importer), :mod:`.sessions`, :mod:`.contexts`.

Decisions (the seed leaves them open):

- Messages are dicts in the OpenAI chat shape. Stored keys: ``role`` (one of
  :data:`ROLES`, required), ``content`` (str or None), ``name``, ``tool_call_id``,
  ``tool_calls`` (a list), plus optional ``token_count``, ``metadata`` (a dict) and
  ``timestamp`` (a datetime; a naive one is read in the naive-datetime zone of
  :mod:`pydal_lite.validate`, by default the machine's local zone as for
  ``datetime.now()``). Other keys (``refusal``, ``audio``...) are ignored, as the seed
  did. As in the seed, a None content without tool_calls is stored as ``""``
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

from ..connection import atransaction, transaction
from .contexts import (
    get_agent_switch_history,
    list_sessions_by_agent,
    load_agent_context,
    save_agent_context,
)
from .limits import (
    MAX_AGENT_CHARS,
    MAX_CONTENT_CHARS,
    MAX_ID_CHARS,
    MAX_PAGE_SIZE,
    MAX_QUERY_CHARS,
    MAX_REASON_CHARS,
    MAX_SEARCH_CANDIDATES,
    ROLES,
    OnMismatch,
)
from .sessions import (
    SaveResult,
    cleanup_old_sessions,
    delete_session,
    get_messages_after,
    get_messages_paginated,
    get_session_stats,
    hard_delete_old_sessions,
    list_all_sessions,
    load_session,
    restore_session,
    save_session,
    search_messages,
)

__all__ = [
    "MAX_AGENT_CHARS",
    "MAX_CONTENT_CHARS",
    "MAX_ID_CHARS",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_CHARS",
    "MAX_REASON_CHARS",
    "MAX_SEARCH_CANDIDATES",
    "ROLES",
    "OnMismatch",
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

session_scope = transaction
"""The seed's ``session_scope``: ``with session_scope(conn): ...`` commits or rolls back."""
asession_scope = atransaction
"""Async twin of :data:`session_scope`."""
