"""Shared pieces of the old-layout expansion: columns, the row holders, JSON helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..badrows import Rejecter
from ..catalog import TargetColumn, TargetTable
from ..convert import Converter
from ..errors import BadRowError, PlanError
from ..report import TableReport
from ..source import SourceTable
from ..timestamps import ConversionError

SESSION_COLUMNS = ("id", "session_id", "created_at", "last_activity")
MESSAGE_COLUMNS = (
    "session_db_id",
    "seq",
    "role",
    "content",
    "timestamp",
    "name",
    "tool_call_id",
    "tool_calls",
    "token_count",
    "metadata_json",
)
CONTEXT_COLUMNS = (
    "id",
    "session_db_id",
    "current_agent",
    "created_at",
    "updated_at",
    "switch_count",
    "metadata_json",
)
SWITCH_COLUMNS = (
    "session_db_id",
    "context_db_id",
    "from_agent",
    "to_agent",
    "switched_at",
    "reason",
    "metadata_json",
)
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_call_id", "tool_calls", "token_count"})
SWITCH_KEYS = frozenset(
    {"from", "from_agent", "to", "to_agent", "timestamp", "switched_at", "reason", "metadata"}
)
# Old sessions read per batch; a batch's messages are copied in batch_size chunks.
PARENT_BATCH = 200

Problem = tuple[str, Any, str]  # column, value, reason


@dataclass
class Out:
    """A target table the expansion writes: its columns, converters and counts."""

    table: TargetTable
    columns: list[TargetColumn]
    convs: list[Converter]
    counts: TableReport

    def convert(self, values: dict[str, Any]) -> tuple[Problem | None, list[Any]]:
        """The converted row (None for columns not in ``values``), or the first value that
        does not convert as (column, value, reason)."""
        out: list[Any] = []
        for col, conv in zip(self.columns, self.convs, strict=True):
            if col.name not in values:
                out.append(None)
                continue
            try:
                out.append(conv(values[col.name]))
            except ConversionError as exc:
                return (col.name, values[col.name], str(exc)), []
        return None, out

    def index(self, column: str) -> int:
        return [c.name for c in self.columns].index(column)


class Tracker:
    """Passes rejected rows on and counts them per session_id."""

    def __init__(self, inner: Rejecter) -> None:
        self.inner = inner
        self.by_session: dict[Any, int] = {}

    @property
    def skipping(self) -> bool:
        return self.inner.skipping

    def reject(self, error: BadRowError) -> None:
        self.inner.reject(error)
        sid = error.key.get("session_id") if isinstance(error.key, dict) else None
        self.by_session[sid] = self.by_session.get(sid, 0) + 1


@dataclass
class Parent:
    """An old session (or agent context) ready to be written, with its JSON list."""

    sid: str
    values: dict[str, Any]
    items: list[Any]
    raw_list: Any
    row: dict[str, Any] = field(default_factory=dict)
    converted: list[Any] = field(default_factory=list)


def require(table: SourceTable, names: tuple[str, ...]) -> None:
    missing = [n for n in names if not has(table, n)]
    if missing:
        raise PlanError(f"old-layout table {table.name} lacks column(s) {', '.join(missing)}")


def has(table: SourceTable, name: str) -> bool:
    return name in {c.lower() for c in table.columns}


def actual(table: SourceTable, name: str) -> str:
    for c in table.columns:
        if c.lower() == name:
            return c
    raise PlanError(f"table {table.name} has no column {name!r}")


def json_list(text: Any) -> list[Any] | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    try:  # strict, like SQLite's json_valid() that counted the lists: no NaN/Infinity
        value = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON {name} is not allowed")


def dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
