"""Agent runtime limits and argument checks, shared by the API and the SQLite importer."""

from __future__ import annotations

from typing import Any, Literal

from .. import validate as v

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
MAX_INT4 = 2**31 - 1

OnMismatch = Literal["replace", "raise"]


def check_session_id(value: Any) -> str:
    return v.text(value, "session_id", max_len=MAX_ID_CHARS)


def check_agent(value: Any, what: str) -> str:
    return v.text(value, what, max_len=MAX_AGENT_CHARS)


def check_optional_agent(value: Any, what: str) -> str | None:
    return v.text(value, what, max_len=MAX_AGENT_CHARS, nullable=True)


def check_max_age(value: Any, what: str) -> float:
    return v.number(value, what, positive=True, hi=1_000_000)


def check_metadata(value: Any, what: str) -> dict[str, Any] | None:
    checked = v.json_object(value, what, nullable=True)
    return None if checked is None else dict(checked.obj)


def check_on_mismatch(value: Any) -> OnMismatch:
    return v.one_of(value, "on_mismatch", ("replace", "raise"))
