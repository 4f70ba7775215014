"""The agent runtime's message and switch rules, applied to the old layout's JSON lists.

One home for each rule: an element of an old ``messages`` list becomes a row by the
rules :func:`pydal_lite.agent_runtime.save_session` applies to a given message (roles,
``None`` content without tool_calls -> ``''``, an empty ``name`` / ``tool_call_id`` /
``tool_calls`` -> absent, lengths, JSON checks), not by a copy of them here. So a list
imported, loaded with ``load_session`` and saved back is the same list and writes
nothing. Agent switches likewise follow ``save_agent_context``'s rules.

The importer sees the rules through :class:`Rules`; :data:`AGENT_RUNTIME` is the
implementation backed by :mod:`pydal_lite.agent_runtime`. What is importer-only stays
here: the old keys' aliases (``from_agent``, ``switched_at``), keys the runtime does not
store kept under ``metadata.legacy_fields``, and timestamps, which the importer reads
with the source's declared zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# The rules' one home: agent_runtime.messages (message rules); the switch rules are
# still private to agent_runtime.contexts.
from ...agent_runtime.contexts import _switches as _runtime_switches
from ...agent_runtime.messages import parse_message as _runtime_message
from ...errors import InvalidInput
from .common import Problem, dump

MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_call_id", "tool_calls", "token_count"})
SWITCH_KEYS = frozenset(
    {"from", "from_agent", "to", "to_agent", "timestamp", "switched_at", "reason", "metadata"}
)


@dataclass(frozen=True)
class StoredMessage:
    """A message as save_session stores it."""

    role: str
    content: str | None
    name: str | None
    tool_call_id: str | None
    tool_calls: list[Any] | None
    token_count: int | None
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class StoredSwitch:
    """An agent switch as save_agent_context stores it."""

    from_agent: str | None
    to_agent: str
    reason: str | None
    metadata: dict[str, Any] | None


class Rules(Protocol):
    """The domain's rules for one message and one switch; InvalidInput when refused."""

    def message(self, index: int, item: Mapping[str, Any]) -> StoredMessage: ...

    def switch(self, item: Mapping[str, Any], current_agent: str) -> StoredSwitch: ...


class AgentRuntimeRules:
    """:class:`Rules` as :mod:`pydal_lite.agent_runtime` applies them."""

    def message(self, index: int, item: Mapping[str, Any]) -> StoredMessage:
        m = _runtime_message(index, item)
        return StoredMessage(
            m.role, m.content, m.name, m.tool_call_id, m.tool_calls, m.token_count, m.metadata
        )

    def switch(self, item: Mapping[str, Any], current_agent: str) -> StoredSwitch:
        (s,) = _runtime_switches([item], current_agent)
        return StoredSwitch(s.from_agent, s.to_agent, s.reason, s.metadata)


AGENT_RUNTIME: Rules = AgentRuntimeRules()


_FIELD = re.compile(r"(?:messages|agent_history)\[\d+\](?:\.(\w+))?:? ?")
_COLUMNS = {"metadata": "metadata_json", "from": "from_agent", "to": "to_agent"}


def _refused(
    exc: InvalidInput, item: Mapping[str, Any], whole: str
) -> tuple[Problem, dict[str, Any]]:
    """The problem as (column, value, reason) from the runtime's message, which names the
    field (``messages[3].name is ...``, ``messages[3]: unknown role ...``)."""
    text = str(exc)
    m = _FIELD.match(text)
    field = (m.group(1) if m else None) or ("role" if "unknown role" in text else None)
    reason = text[m.end() :] if m and not m.group(1) else text
    if field is None:
        return (whole, item, reason), {}
    return (_COLUMNS.get(field, field), item.get(field), reason), {}


def message_row(
    session: Mapping[str, Any], seq: int, item: Any, rules: Rules = AGENT_RUNTIME
) -> tuple[Problem | None, dict[str, Any]]:
    """The messages row for element ``seq`` of an old session's list, or the problem."""
    if not isinstance(item, dict):
        return ("messages", item, "message is not a JSON object"), {}
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return ("metadata_json", metadata, "message metadata is not a JSON object"), {}
    extra = {k: v for k, v in item.items() if k not in MESSAGE_KEYS | {"metadata", "timestamp"}}
    if extra:
        metadata = {**(metadata or {}), "legacy_fields": extra}
    given = {k: v for k, v in item.items() if k in MESSAGE_KEYS}
    if metadata is not None:
        given["metadata"] = metadata
    try:
        m = rules.message(seq, given)
    except InvalidInput as exc:
        return _refused(exc, item, "messages")
    stamp = item.get("timestamp")
    return None, {
        "session_db_id": session["id"],
        "seq": seq,
        "role": m.role,
        "content": m.content,
        "timestamp": stamp if stamp is not None else session["last_activity"],
        "name": m.name,
        "tool_call_id": m.tool_call_id,
        "tool_calls": dump(m.tool_calls),
        "token_count": m.token_count,
        "metadata_json": dump(m.metadata),
    }


def switch_row(
    context: Mapping[str, Any], row: Mapping[str, Any], item: Any, rules: Rules = AGENT_RUNTIME
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
    given: dict[str, Any] = {
        "from": item.get("from", item.get("from_agent")),
        "reason": item.get("reason"),
        "metadata": metadata,
    }
    to = item.get("to", item.get("to_agent"))
    if to:
        given["to"] = to
    current = row.get("current_agent")
    try:
        s = rules.switch(given, current if isinstance(current, str) else "")
    except InvalidInput as exc:
        return _refused(exc, item, "agent_history")
    when = item.get("timestamp", item.get("switched_at"))
    return None, {
        "session_db_id": context["session_db_id"],
        "context_db_id": context["id"],
        "from_agent": s.from_agent,
        "to_agent": s.to_agent,
        "switched_at": when
        if when is not None
        else (row.get("last_switch_at") or row.get("created_at")),
        "reason": s.reason,
        "metadata_json": dump(s.metadata),
    }
