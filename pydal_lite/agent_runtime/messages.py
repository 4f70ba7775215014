"""Messages in the OpenAI chat shape: one rule for checking, fingerprinting and storing them.

Used by the API (:mod:`.sessions`) and by the SQLite importer, so a message means the
same thing whichever way it arrives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, NamedTuple

from .. import validate as v
from ..errors import InvalidInput
from .limits import MAX_CONTENT_CHARS, MAX_ID_CHARS, MAX_INT4, ROLES, check_metadata


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


def canonical_jsonb_text(value: Any) -> str:
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
        return "[" + ", ".join(canonical_jsonb_text(x) for x in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return (
            "{"
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)}: {canonical_jsonb_text(value[k])}"
                for k in keys
            )
            + "}"
        )
    raise TypeError(f"not a JSON-decoded value: {value!r:.200}")


class Message(NamedTuple):
    """A checked message. ``encoded`` is its part of the session digest (see :func:`chain`)."""

    role: str
    content: str | None
    name: str | None
    tool_call_id: str | None
    tool_calls: list[Any] | None
    token_count: int | None
    metadata: dict[str, Any] | None
    timestamp: datetime | None
    encoded: bytes

    @property
    def fingerprint(self) -> bytes:
        """messages_fingerprint() of this message: what the insert trigger stores."""
        calls = None if self.tool_calls is None else canonical_jsonb_text(self.tool_calls)
        parts = (self.role, self.content, self.name, self.tool_call_id, calls)
        return hashlib.sha256(b"".join(_digest(p) for p in parts)).digest()

    def same_as(self, stored: Mapping[str, Any]) -> bool:
        return bytes(stored["fingerprint"]) == self.fingerprint

    def row(self, seq: int) -> dict[str, Any]:
        """The message as insert_messages takes it, with its fingerprint (so the server
        need not compute it)."""
        row: dict[str, Any] = {
            "seq": seq,
            "role": self.role,
            "content": self.content,
            "fingerprint": self.fingerprint.hex(),
        }
        for key in ("name", "tool_call_id", "tool_calls", "token_count", "metadata"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        if self.timestamp is not None:
            row["timestamp"] = self.timestamp.isoformat()
        return row


def _field(value: str | None) -> bytes:
    if value is None:
        return b"\x00"
    data = value.encode()
    return b"\x01" + len(data).to_bytes(4, "big") + data


def encode(
    role: str,
    content: str | None,
    name: str | None,
    tool_call_id: str | None,
    tool_calls: list[Any] | None,
) -> bytes:
    """messages_chain_part() of these fields: each of role, content, name, tool_call_id
    and the canonical tool_calls text as \\x00 (null) or \\x01, its UTF-8 length (4
    bytes, big-endian) and its UTF-8 bytes."""
    calls = None if tool_calls is None else canonical_jsonb_text(tool_calls)
    return b"".join(_field(p) for p in (role, content, name, tool_call_id, calls))


def chain(messages: Sequence[Message]) -> bytes:
    """sessions.message_chain of a list: sha256 of its messages' ``encoded`` parts, in
    order. One hash over the whole list, so a save of a long session costs little more
    per message than encoding its text."""
    return hashlib.sha256(b"".join([m.encoded for m in messages])).digest()


# The common message (a role, str content, nothing else but maybe token_count and an aware
# timestamp) is checked and encoded here without the general path's calls: a save of a long
# session looks at every given message, so this is its cost per stored message.
_ROLE_PART = {r: _field(r) for r in ROLES}
_NO_EXTRAS = b"\x00\x00\x00"  # name, tool_call_id, tool_calls: null
_UTC = timezone.utc
_PLAIN_KEYS = frozenset({"role", "content", "token_count", "timestamp"})


def _plain_message(m: dict[str, Any]) -> Message | None:
    """The message if it has the common shape and is valid, else None (full checks)."""
    if not m.keys() <= _PLAIN_KEYS:
        return None
    get = m.get
    role = get("role")
    content = get("content")
    if (
        type(role) is not str
        or role not in _ROLE_PART
        or type(content) is not str
        or len(content) > MAX_CONTENT_CHARS
        or "\x00" in content
    ):
        return None
    count = get("token_count")
    if count is not None and (type(count) is not int or not 0 <= count <= MAX_INT4):
        return None
    when = get("timestamp")
    if when is not None and (
        type(when) is not datetime or (when.tzinfo is not _UTC and when.utcoffset() is None)
    ):
        return None
    try:
        data = content.encode()
    except UnicodeEncodeError:
        return None
    part = _ROLE_PART[role] + b"\x01" + len(data).to_bytes(4, "big") + data + _NO_EXTRAS
    return Message(role, content, None, None, None, count, None, when, part)


def parse_message(i: int, m: Any) -> Message:
    if type(m) is dict:
        plain = _plain_message(m)
        if plain is not None:
            return plain
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
        v.integer(token_count, f"{where}.token_count", lo=0, hi=MAX_INT4)
    content = v.text(
        content, f"{where}.content", max_len=MAX_CONTENT_CHARS, min_len=0, nullable=True
    )
    name = v.text(m.get("name") or None, f"{where}.name", max_len=MAX_ID_CHARS, nullable=True)
    tool_call_id = v.text(
        m.get("tool_call_id") or None,
        f"{where}.tool_call_id",
        max_len=MAX_ID_CHARS,
        nullable=True,
    )
    return Message(
        role=role,
        content=content,
        name=name,
        tool_call_id=tool_call_id,
        tool_calls=tool_calls,
        token_count=token_count,
        metadata=check_metadata(m.get("metadata"), f"{where}.metadata"),
        timestamp=v.aware_datetime(
            m.get("timestamp"), f"{where}.timestamp", nullable=True, iso=True
        ),
        encoded=encode(role, content, name, tool_call_id, tool_calls),
    )


def parse_messages(messages: Any) -> list[Message]:
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidInput(f"messages must be a list of dicts, got {messages!r:.200}")
    return [parse_message(i, m) for i, m in enumerate(messages)]


def chat_shape(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as the seed's to_dict: role and content, then the set extras."""
    out: dict[str, Any] = {"role": row["role"], "content": row["content"]}
    for key in ("name", "tool_call_id", "tool_calls"):
        if row[key] is not None:
            out[key] = row[key]
    return out


def first_difference(given: Sequence[Any], stored: Sequence[Any], same: Any) -> int:
    n = min(len(given), len(stored))
    for i in range(n):
        if not same(given[i], stored[i]):
            return i
    return n
