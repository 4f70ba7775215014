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

KNOWN_DIRECTIVES = frozenset({"nonnull", "nullable", "nullable-params", "writes"})
_READ_SUFFIXES = frozenset({Op.SELECT, Op.SELECT_ONE, Op.SELECT_VALUE})


RESERVED_PARAMS = frozenset({"conn"})  # the generated functions' first argument
# Names the generated modules import or define besides the queries.
RESERVED_QUERIES = frozenset({"jsonb", "json_", "date", "datetime", "time", "timedelta"})


class ModelError(PydalError):
    """A query the generator cannot turn into typed Python (bad directive or name)."""


@dataclass(frozen=True)
class Value:
    """A parameter or a result column."""

    name: str
    type: PyType
    nullable: bool
    bits: int = 0  # 16 or 32 for smallint/integer parameters, checked at run time
    json: str = ""  # "json" or "jsonb" for parameters the generated code wraps

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
    reads: bool = False  # a plain read: no DML, no row locks (from the plan)


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
        if key == "writes":
            continue
        {"nonnull": nonnull, "nullable": nullable, "nullable-params": nullable_params}[key] |= (
            _names(value)
        )
    if q.name in RESERVED_QUERIES or keyword.iskeyword(q.name):
        raise ModelError(f"{q.where}: {q.name}: the name is taken in the generated module")
    params: list[Value] = []
    for name, oid in described.params:
        if keyword.iskeyword(name) or name in RESERVED_PARAMS:
            raise ModelError(
                f"{q.where}: {q.name}: parameter {name!r} is reserved in Python or in the "
                "generated signature; rename it"
            )
        py = types.python(oid, param=True, where=f"{q.where}: {q.name}: parameter {name}")
        kind = types.base_name(oid)
        json = kind if kind in ("json", "jsonb") else ""
        params.append(Value(name, py, name in nullable_params, types.int_bits(oid), json))
    if described.fields and described.plan is None:
        types.warnings.append(
            f"{q.where}: {q.name}: the server shows no plan for it, so outer joins are "
            "unknown: its table columns are typed optional"
        )
    columns = _columns(described, types, nonnull, nullable)
    unknown = (nonnull | nullable) - {c.name for c in columns}
    if unknown:
        raise ModelError(f"{q.where}: {q.name}: no result column {sorted(unknown)!r}")
    plan = described.plan
    reads = (
        q.operation in _READ_SUFFIXES
        and plan is not None
        and not plan.writes
        and not any(key == "writes" for key, _ in q.directives)
    )
    return QueryModel(q.file, q.name, q.line, q.operation, q.doc, tuple(params), columns, reads)


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
        attr = _attribute(types, ref[0], ref[1]) if ref else None
        # The plan's alias.col is trusted for returning lists, or where it names the same
        # table as libpq's describe (a UNION's top node shows only its first branch).
        if ref and attr and ((plan and plan.top == "ModifyTable") or attr[0] == table_oid):
            table_oid, column, notnull = attr
            maybe_null = ref[2] or not notnull
        elif table_oid and column:
            notnull = _attnotnull(types, table_oid, column)
            outer = plan is None or _on_nullable_side(types, table_oid, plan.nullable_relations)
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


def _on_nullable_side(types: TypeInfo, table_oid: int, relations: set[str]) -> bool:
    """Whether ``table_oid`` is, or is an ancestor of (partitions, inheritance, TimescaleDB
    chunks), a relation on the nullable side of an outer join."""
    if not relations:
        return False
    row = (
        cursor(types.conn)
        .execute(
            "with recursive up(relid) as ("
            " select to_regclass(n)::oid from unnest(%s::text[]) as n"
            " union"
            " select i.inhparent from pg_inherits as i join up on i.inhrelid = up.relid"
            ") select exists (select 1 from up where relid = %s)",
            (sorted(relations), table_oid),
        )
        .fetchone()
    )
    return bool(row and row[0])
