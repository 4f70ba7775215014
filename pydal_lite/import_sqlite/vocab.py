"""What text values mean in the target: vocabularies and the empty string.

A *vocabulary* is the list of values a column allows: the labels of an enum type, or
the list of a single-column ``CHECK (col in (...))`` as the server prints it
(``(status)::text = ANY (ARRAY['running'::character varying, ...])``). SQLAlchemy's
``Enum`` columns store the Python member *names* (``'PENDING'``), and old code wrote
its own words (``'in_progress'``); :class:`ValueMap` reads them as the target's values:

1. a value the vocabulary has is kept;
2. an explicit mapping (``--map-value table.column:OLD=NEW`` or the options file) wins;
3. otherwise a value equal to exactly one allowed value once case, ``-``, ``_`` and
   spaces are ignored (``'SINGLE_AGENT'`` -> ``'single-agent'``) is mapped to it;
4. anything else is a bad row whose reason lists the allowed values and the option.

Every mapping used is counted and shown in the final report.

The empty string: where the target refuses ``''`` in a nullable text column (a CHECK
such as ``char_length(name) between 1 and 255``), ``''`` is read as absent (NULL), the
rule :func:`pydal_lite.agent_runtime.save_session` applies to ``name`` and
``tool_call_id``. :func:`empty_means_absent` finds those columns by asking the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from .catalog import TargetColumn, TargetTable
from .errors import PlanError
from .timestamps import ConversionError

_ANY = re.compile(
    r"\(*\(?\"?(?P<col>[^\"()]+)\"?\)?(?:::[a-z ]+)?\s*=\s*ANY\s*\(\(?ARRAY\[(?P<items>.*)\]\)?"
    r"(?:::[a-z ]+\[\])?\)\)*"
)
_LITERAL = re.compile(r"'((?:[^']|'')*)'::[a-z ]+")
_TEXT_BASES = frozenset({"text", "varchar", "bpchar", "citext"})


def fold(value: str) -> str:
    """``value`` without case, ``-``, ``_`` and spaces: how near-spellings are compared."""
    return re.sub(r"[\s_-]+", "", value.casefold())


def vocabulary(table: TargetTable, col: TargetColumn) -> tuple[tuple[str, ...], str] | None:
    """The values ``col`` allows and what says so (enum type or CHECK name), if any."""
    if col.enum_labels:
        return col.enum_labels, f"the enum type of {table.name}.{col.name}"
    for check in table.checks:
        if check.columns != (col.name,):
            continue
        m = _ANY.fullmatch(check.expr.strip())
        if m is None or m.group("col") != col.name:
            continue
        items = [x.replace("''", "'") for x in _LITERAL.findall(m.group("items"))]
        if items:
            return tuple(items), check.name
    return None


class ValueMap:
    """Maps source text onto a column's vocabulary (see the module docstring)."""

    def __init__(
        self,
        where: str,
        labels: tuple[str, ...],
        source: str,
        explicit: Mapping[str, str] | None = None,
    ) -> None:
        self.where = where
        self.labels = labels
        self.source = source
        self.allowed = frozenset(labels)
        self.explicit = dict(explicit or {})
        bad = {k: v for k, v in self.explicit.items() if v not in self.allowed}
        if bad:
            old, new = next(iter(bad.items()))
            raise PlanError(
                f"value mapping {where}: {old!r} -> {new!r}: {new!r} is not one of the values "
                f"{source} allows ({', '.join(map(repr, labels))})"
            )
        by_fold: dict[str, list[str]] = {}
        for label in labels:
            by_fold.setdefault(fold(label), []).append(label)
        self.folded = {k: v[0] for k, v in by_fold.items() if len(v) == 1}
        self.ambiguous = {k: v for k, v in by_fold.items() if len(v) > 1}
        self.used: dict[tuple[str, str], int] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or value in self.allowed:
            return value
        new = self.explicit.get(value)
        if new is None:
            key = fold(value)
            new = self.folded.get(key)
            if new is None:
                why = (
                    f"it could be any of {', '.join(map(repr, self.ambiguous[key]))}"
                    if key in self.ambiguous
                    else f"allowed: {', '.join(map(repr, self.labels))}"
                )
                raise ConversionError(
                    f"{value!r} is not a value {self.source} allows ({why}); map it with "
                    f"--map-value {self.where}:{value}=VALUE"
                )
        self.used[(value, new)] = self.used.get((value, new), 0) + 1
        return new


class ExplicitMap:
    """An explicit mapping for a column without a vocabulary: listed values are replaced."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        self.used: dict[tuple[str, str], int] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.mapping:
            new = self.mapping[value]
            self.used[(value, new)] = self.used.get((value, new), 0) + 1
            return new
        return value


def empty_means_absent(
    conn: psycopg.Connection[Any], table: TargetTable, columns: Iterable[TargetColumn]
) -> set[str]:
    """Nullable text ``columns`` for which some single-column CHECK refuses ``''``."""
    out: set[str] = set()
    for col in columns:
        if col.not_null or col.is_array or col.base not in _TEXT_BASES:
            continue
        for check in table.checks:
            if check.columns != (col.name,):
                continue
            # the expression comes from the catalog; the column is the one it reads
            probe = sql.SQL("select coalesce(({}), true) from (select ''::{} as {}) s").format(
                sql.SQL(check.expr),  # type: ignore[arg-type]
                sql.SQL(col.type_name),  # type: ignore[arg-type]
                sql.Identifier(col.name),
            )
            row = conn.execute(probe).fetchone()
            if row is not None and row[0] is False:
                out.add(col.name)
                break
    return out
