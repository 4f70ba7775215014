"""Why an import stopped; every error means nothing was committed."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from ..errors import PydalError


class ImportFailed(PydalError):
    """The import stopped and its transaction was rolled back: no row of the target changed
    (sequences are not transactional: ids drawn before the rollback stay used)."""


class SourceError(ImportFailed):
    """The SQLite file cannot be opened or read as a database."""


class PlanError(ImportFailed):
    """The source and target cannot be matched (unknown table, missing required column)."""


def _show(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return repr(value)


def format_key(key: Any) -> str:
    """A row key for messages: ``id=5`` or ``session_id='a', message=3``."""
    if isinstance(key, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in key.items())
    return _show(key)


class BadRowError(ImportFailed):
    """A source row cannot be converted or was rejected by the target."""

    def __init__(self, table: str, key: Any, column: str | None, value: Any, reason: str) -> None:
        where = f"column {column}" if column else "the row"
        shown = value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
        super().__init__(
            f"table {table}, row {format_key(key)}: {where}: {reason}"
            + ("" if column is None else f" (value {shown!r})")
        )
        self.table = table
        self.key = key
        self.column = column
        self.value = value
        self.reason = reason

    def as_json(self) -> str:
        """One line of the --skip-bad-rows file."""
        return json.dumps(
            {
                "table": self.table,
                "key": self.key,
                "column": self.column,
                "value": _jsonable(self.value),
                "reason": self.reason,
            },
            ensure_ascii=False,
            default=str,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return value


class ConflictError(ImportFailed):
    """The target already holds rows with the same keys (and --on-conflict is error)."""

    def __init__(self, overlaps: list[tuple[str, str, int, Any]]) -> None:
        lines = [
            f"  {table}: {count} source row(s) with a key the target already holds "
            f"({index}), e.g. {format_key(example)}"
            for table, index, count, example in overlaps
        ]
        super().__init__(
            "the target already holds rows with the same keys; nothing was imported "
            "(pass --on-conflict skip to keep the existing rows and import the rest):\n"
            + "\n".join(lines)
        )
        self.overlaps = overlaps


class VerificationError(ImportFailed):
    """Row counts in the target do not match the source; everything was rolled back."""
