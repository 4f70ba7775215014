"""From a described query to what the generated code says: names, types, nullability.

Nullability rules, in order:

- a ``-- @nonnull a, b`` or ``-- @nullable c`` line in the query's comment decides for
  those result columns; ``-- @nullable-params x`` makes parameters accept None;
- a result that is a plain table column is optional when the column allows NULL or
  its table is on the nullable side of an outer join (read off the generic plan);
- any other expression is optional unless EXPLAIN shows a form that cannot be NULL
  (``count(...)``, a constant, ``COALESCE(..., constant)``, ``x IS NULL``);
- a parameter accepts None when the query tests it (``:x is null``,
  ``coalesce(:x, ...)``) or the comment says so.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from aiosql.types import SQLOperationType as Op

from ..errors import PydalError
from .describe import Described
from .pgtypes import PyType, TypeInfo, cursor
from .plan import never_null

KNOWN_DIRECTIVES = frozenset({"nonnull", "nullable", "nullable-params"})


class ModelError(PydalError):
    """A query the generator cannot turn into typed Python (bad directive or name)."""


@dataclass(frozen=True)
class Value:
    """A parameter or a result column."""

    name: str
    type: PyType
    nullable: bool

    @property
    def annotation(self) -> str:
        return f"{self.type.expr} | None" if self.nullable else self.type.expr


@dataclass(frozen=True)
class QueryModel:
    """Everything the renderer needs for one named query."""

    file: str
    name: str
    line: int
    operation: Op
    doc: str
    params: tuple[Value, ...]
    columns: tuple[Value, ...]


def _names(text: str) -> set[str]:
    return {n.strip() for n in text.split(",") if n.strip()}


def _tested_params(source: str) -> set[str]:
    found = set(re.findall(r"coalesce\(\s*:(\w+)", source, re.IGNORECASE))
    found |= set(
        re.findall(r":(\w+)(?:::\w+(?:\[\])?)?\s+is\s+(?:not\s+)?null", source, re.IGNORECASE)
    )
    return found


def build(described: Described, types: TypeInfo) -> QueryModel:
    """The typed model of one described query."""
    q = described.query
    nonnull: set[str] = set()
    nullable: set[str] = set()
    nullable_params = _tested_params(q.source)
    for key, value in q.directives:
        if key not in KNOWN_DIRECTIVES:
            raise ModelError(
                f"{q.where}: {q.name}: unknown directive @{key} "
                f"(known: {', '.join(sorted(KNOWN_DIRECTIVES))})"
            )
        {"nonnull": nonnull, "nullable": nullable, "nullable-params": nullable_params}[key] |= (
            _names(value)
        )
    params: list[Value] = []
    for name, oid in described.params:
        if keyword.iskeyword(name):
            raise ModelError(f"{q.where}: {q.name}: parameter {name!r} is a Python keyword")
        py = types.python(oid, param=True, where=f"{q.where}: {q.name}: parameter {name}")
        params.append(Value(name, py, name in nullable_params))
    columns = _columns(described, types, nonnull, nullable)
    unknown = (nonnull | nullable) - {c.name for c in columns}
    if unknown:
        raise ModelError(f"{q.where}: {q.name}: no result column {sorted(unknown)!r}")
    return QueryModel(q.file, q.name, q.line, q.operation, q.doc, tuple(params), columns)


def _columns(
    described: Described, types: TypeInfo, nonnull: set[str], nullable: set[str]
) -> tuple[Value, ...]:
    q = described.query
    plan = described.plan
    # Junk columns (sort and group keys) follow the result columns in the top node.
    n = len(described.fields)
    outputs = plan.outputs[:n] if plan and len(plan.outputs) >= n else []
    out: list[Value] = []
    seen: set[str] = set()
    for i, f in enumerate(described.fields):
        if f.name in seen:
            raise ModelError(f"{q.where}: {q.name}: two result columns are named {f.name!r}")
        seen.add(f.name)
        where = f"{q.where}: {q.name}: column {f.name}"
        table_oid, column = f.table_oid, f.column
        maybe_null = True
        ref = plan.column_ref(outputs[i]) if outputs and plan else None
        if ref is not None:
            relation, colname, outer = ref
            table_oid, column, notnull = _attribute(types, relation, colname)
            maybe_null = outer or not notnull
        elif table_oid and column:
            notnull = _attnotnull(types, table_oid, column)
            outer = plan is not None and _relname(types, table_oid) in plan.nullable_relations
            maybe_null = outer or not notnull
        elif outputs and never_null(outputs[i]):
            maybe_null = False
        if f.name in nonnull:
            maybe_null = False
        if f.name in nullable:
            maybe_null = True
        py = types.check_literal(table_oid, column) or types.python(
            f.type_oid, param=False, where=where
        )
        out.append(Value(f.name, py, maybe_null))
    return tuple(out)


def _attribute(types: TypeInfo, relation: str, column: str) -> tuple[int, int, bool]:
    row = (
        cursor(types.conn)
        .execute(
            "select a.attrelid::int, a.attnum::int, a.attnotnull from pg_attribute a"
            " where a.attrelid = to_regclass(%s) and a.attname = %s",
            (relation, column),
        )
        .fetchone()
    )
    return (row[0], row[1], row[2]) if row else (0, 0, False)


def _attnotnull(types: TypeInfo, table_oid: int, column: int) -> bool:
    row = (
        cursor(types.conn)
        .execute(
            "select attnotnull from pg_attribute where attrelid = %s and attnum = %s",
            (table_oid, column),
        )
        .fetchone()
    )
    return bool(row and row[0])


def _relname(types: TypeInfo, table_oid: int) -> str:
    row = (
        cursor(types.conn)
        .execute(
            "select n.nspname || '.' || c.relname from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where c.oid = %s",
            (table_oid,),
        )
        .fetchone()
    )
    return str(row[0]) if row else ""
