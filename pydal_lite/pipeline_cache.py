"""Pipeline cache (seed 002): stage results keyed by a hash of their input, per-session hashes.

A cache entry belongs to a stage (``import``, ``enrich``, ``analyze``) and an
``input_hash``: the lowercase hex SHA-256 of the input's canonical JSON
(:func:`canonical_json`: sorted keys, no spaces, non-ASCII kept, UTF-8), so the same
input always hashes alike whatever its key order. There is at most one entry per
(stage, input_hash); :func:`put_entry` replaces it. An entry past its ``expires_at`` is
a miss for :func:`get_entry` and is deleted by :func:`purge_expired_entries`.

Every function taking a connection is an :func:`~pydal_lite.runtime.operation`:
sync connection -> result, async connection -> awaitable. Rows are dicts::

    entry = put_entry(conn, "import", {"file": "a.ics"}, {"events": 3}, ttl=3600.0)
    get_entry(conn, "import", {"file": "a.ics"})["result_data"]   # {'events': 3}
    record_user_session(conn, "sess-1", import_hash=entry["input_hash"])
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime
from typing import Any, Final, TypeAlias, TypedDict

from psycopg.types.json import Jsonb

from . import sql
from . import validate as v
from .errors import InvalidInput, NotFound
from .runtime import Steps, operation
from .runtime.steps import JsonValue, present

logger = logging.getLogger("pydal_lite.pipeline_cache")

__all__ = [
    "MAX_SECONDS",
    "STAGES",
    "CacheEntry",
    "SessionResults",
    "UserSession",
    "canonical_json",
    "get_entry",
    "get_entry_by_hash",
    "get_session_results",
    "get_user_session",
    "input_hash",
    "invalidate_entry",
    "invalidate_stage",
    "list_entries_by_hash",
    "purge_expired_entries",
    "put_entry",
    "record_user_session",
    "touch_user_session",
]

STAGES: Final = ("import", "enrich", "analyze")
"""The pipeline stages, in order (the CHECK constraint of ``pipeline_cache.stage``)."""

MAX_SECONDS: Final = 100 * 366 * 24 * 3600.0
"""Longest duration accepted in seconds (100 years) for ``ttl`` here and for the queue's
``stale_after`` and ``older_than``: far beyond any real use, and small enough that
``now()`` plus or minus it stays a valid timestamptz."""

SESSION_ID_MAX_LEN: Final = 255
_HASH = re.compile(r"[0-9a-f]{64}")

CacheEntry: TypeAlias = sql.pipeline_cache.GetEntryRow
"""A ``pipeline_cache`` row: stage, input hash, input and result documents, times."""
UserSession: TypeAlias = sql.pipeline_cache.GetUserSessionRow
"""A ``user_sessions`` row: the latest input hash of each stage and ``last_accessed``."""


class SessionResults(TypedDict):
    """A session's hashes, each with its stage's live cached result (get_session_results)."""

    session_id: str
    import_hash: str | None
    enrich_hash: str | None
    analyze_hash: str | None
    last_accessed: datetime
    import_result: JsonValue | None
    enrich_result: JsonValue | None
    analyze_result: JsonValue | None


def canonical_json(value: Any, what: str = "value") -> str:
    """``value`` as canonical JSON text: sorted keys, ``,``/``:`` separators, non-ASCII kept.

    Raises InvalidInput (naming ``what``) for values JSON cannot encode (objects,
    NaN/infinity, mixed-type keys) and for NUL characters, which jsonb cannot store.
    """
    return v.json_text(value, what, canonical=True)


def input_hash(value: Any, what: str = "value") -> str:
    """Lowercase hex SHA-256 of :func:`canonical_json` of ``value`` (UTF-8)."""
    return hashlib.sha256(canonical_json(value, what).encode("utf-8")).hexdigest()


def check_stage(stage: Any) -> str:
    return v.one_of(stage, "stage", STAGES)


def check_hash(value: Any, what: str = "input_hash") -> str:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise InvalidInput(f"{what} must be 64 lowercase hex characters, got {v.shown(value)}")
    return value


def check_session_id(value: Any, what: str = "session_id") -> str:
    return v.text(value, what, max_len=SESSION_ID_MAX_LEN)


# --- cache entries -----------------------------------------------------------------


@operation
def get_entry(stage: str, input_data: Any) -> Steps[CacheEntry | None]:
    """The live entry of ``stage`` for ``input_data`` (hashed here), or None on a miss."""
    check_stage(stage)
    key = input_hash(input_data, "input_data")
    row = yield from sql.pipeline_cache.get_entry(stage=stage, input_hash=key)
    return row


@operation
def get_entry_by_hash(stage: str, input_hash: str) -> Steps[CacheEntry | None]:
    """The live entry of ``stage`` for an already computed ``input_hash``, or None."""
    check_stage(stage)
    check_hash(input_hash)
    row = yield from sql.pipeline_cache.get_entry(stage=stage, input_hash=input_hash)
    return row


@operation
def put_entry(
    stage: str, input_data: Any, result_data: Any, *, ttl: float | None = None
) -> Steps[CacheEntry]:
    """Store ``result_data`` for ``stage`` and ``input_data``, replacing any entry.

    ``ttl`` is the lifetime in seconds, > 0 and at most :data:`MAX_SECONDS` (None:
    never expires). Returns the stored row, whose ``input_hash`` is the key.
    """
    check_stage(stage)
    key = input_hash(input_data, "input_data")
    result = v.json_value(result_data, "result_data")
    seconds = None if ttl is None else v.number(ttl, "ttl", positive=True, hi=MAX_SECONDS)
    row = yield from sql.pipeline_cache.upsert_entry(
        stage=stage,
        input_hash=key,
        input_data=Jsonb(input_data),
        result_data=result,
        ttl_seconds=seconds,
    )
    return present(row, "upsert_entry")


@operation
def invalidate_entry(stage: str, input_data: Any) -> Steps[bool]:
    """Delete the entry of ``stage`` for ``input_data``; True if there was one."""
    check_stage(stage)
    key = input_hash(input_data, "input_data")
    count = yield from sql.pipeline_cache.delete_entry(stage=stage, input_hash=key)
    return bool(count)


@operation
def invalidate_stage(stage: str) -> Steps[int]:
    """Delete every entry of ``stage``; returns how many."""
    check_stage(stage)
    count = yield from sql.pipeline_cache.delete_stage_entries(stage=stage)
    return count


@operation
def purge_expired_entries() -> Steps[int]:
    """Delete every expired entry; returns how many."""
    count = yield from sql.pipeline_cache.purge_expired_entries()
    logger.debug("purged %d expired cache entries", count)
    return count


@operation
def list_entries_by_hash(input_hash: str) -> Steps[list[CacheEntry]]:
    """The live entries of every stage for one input hash, by stage."""
    check_hash(input_hash)
    rows = yield from sql.pipeline_cache.list_entries_by_hash(input_hash=input_hash)
    return rows


# --- user sessions -----------------------------------------------------------------


@operation
def record_user_session(
    session_id: str,
    *,
    import_hash: str | None = None,
    enrich_hash: str | None = None,
    analyze_hash: str | None = None,
) -> Steps[UserSession]:
    """Create or update a user session: each given hash replaces the stored one.

    Hashes not given are kept; ``last_accessed`` becomes now. Returns the row.
    """
    check_session_id(session_id)
    hashes = {"import_hash": import_hash, "enrich_hash": enrich_hash, "analyze_hash": analyze_hash}
    for name, value in hashes.items():
        if value is not None:
            check_hash(value, name)
    row = yield from sql.pipeline_cache.upsert_user_session(
        session_id=session_id,
        import_hash=import_hash,
        enrich_hash=enrich_hash,
        analyze_hash=analyze_hash,
    )
    return present(row, "upsert_user_session")


@operation
def get_user_session(session_id: str) -> Steps[UserSession | None]:
    """One user session (``last_accessed`` untouched), or None."""
    check_session_id(session_id)
    row = yield from sql.pipeline_cache.get_user_session(session_id=session_id)
    return row


@operation
def touch_user_session(session_id: str) -> Steps[UserSession]:
    """Set ``last_accessed`` to now; returns the row. NotFound for an unknown session."""
    check_session_id(session_id)
    row = yield from sql.pipeline_cache.touch_user_session(session_id=session_id)
    if row is None:
        raise NotFound(f"no user session {session_id!r}")
    return row


@operation
def get_session_results(session_id: str) -> Steps[SessionResults | None]:
    """The session's latest hashes and the live cached result of each stage, or None.

    Keys: ``session_id``, ``import_hash``, ``enrich_hash``, ``analyze_hash``,
    ``last_accessed``, ``import_result``, ``enrich_result``, ``analyze_result`` (None
    when that stage has no live entry).
    """
    check_session_id(session_id)
    # Two queries, not a join: on Citus user_sessions is a reference table and the
    # entries are sharded by input_hash, so the hashes must be parameters to be routed.
    us = yield from sql.pipeline_cache.get_user_session(session_id=session_id)
    if us is None:
        return None
    results: dict[str, JsonValue | None] = dict.fromkeys(STAGES)
    if us["import_hash"] or us["enrich_hash"] or us["analyze_hash"]:
        entries = yield from sql.pipeline_cache.get_session_entries(
            import_hash=us["import_hash"],
            enrich_hash=us["enrich_hash"],
            analyze_hash=us["analyze_hash"],
        )
        results.update((e["stage"], e["result_data"]) for e in entries)
    return SessionResults(
        session_id=us["session_id"],
        import_hash=us["import_hash"],
        enrich_hash=us["enrich_hash"],
        analyze_hash=us["analyze_hash"],
        last_accessed=us["last_accessed"],
        import_result=results["import"],
        enrich_result=results["enrich"],
        analyze_result=results["analyze"],
    )
