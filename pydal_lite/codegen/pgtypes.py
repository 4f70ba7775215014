"""PostgreSQL types as the Python types psycopg loads and dumps.

Unknown types fall back to ``str`` (psycopg loads any type it has no loader for as
text) with a warning, never to ``Any``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import TupleRow, tuple_row

_SCALARS: dict[str, tuple[str, str | None]] = {
    # type name -> (python expression, module to import it from)
    "bool": ("bool", None),
    "int2": ("int", None),
    "int4": ("int", None),
    "int8": ("int", None),
    "oid": ("int", None),
    "float4": ("float", None),
    "float8": ("float", None),
    "numeric": ("Decimal", "decimal"),
    "text": ("str", None),
    "varchar": ("str", None),
    "bpchar": ("str", None),
    "char": ("str", None),
    "name": ("str", None),
    "citext": ("str", None),
    "tsvector": ("str", None),
    "tsquery": ("str", None),
    "regclass": ("str", None),
    "xml": ("str", None),
    "bytea": ("bytes", None),
    "date": ("date", "datetime"),
    "time": ("time", "datetime"),
    "timetz": ("time", "datetime"),
    "timestamp": ("datetime", "datetime"),
    "timestamptz": ("datetime", "datetime"),
    "interval": ("timedelta", "datetime"),
    "uuid": ("UUID", "uuid"),
    "json": ("JsonValue", "..runtime.steps"),
    "jsonb": ("JsonValue", "..runtime.steps"),
    "void": ("None", None),
    "inet": ("IPv4Interface | IPv6Interface", "ipaddress"),
    "cidr": ("IPv4Network | IPv6Network", "ipaddress"),
    "record": ("tuple[object, ...]", None),
}
# Parameter types wider than what comes back: psycopg dumps these Python values too.
_PARAM_SCALARS: dict[str, tuple[str, str | None]] = {
    "numeric": ("Decimal | float", "decimal"),
    "uuid": ("UUID | str", "uuid"),
    "json": ("JsonParam", "..runtime.steps"),
    "jsonb": ("JsonParam", "..runtime.steps"),
}
_CHECK_IN = re.compile(
    r"^CHECK \(+\(?(\w+)\)?(?:::[\w ]+)? = ANY \(+ARRAY\[(.*?)\](?:\)::[\w ]+\[\])?\)+$"
)
_CHECK_VALUE = re.compile(r"^'((?:[^']|'')*)'::[\w ]+$")


def cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[TupleRow]:
    # Whatever the connection's row factory, catalog rows are read as tuples here.
    return conn.cursor(row_factory=tuple_row)


@dataclass(frozen=True)
class PyType:
    """A Python type expression and the names it needs imported."""

    expr: str
    imports: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@dataclass
class TypeInfo:
    """What pg_type says about the OIDs of one query file's parameters and results."""

    conn: psycopg.Connection[Any]
    warnings: list[str] = field(default_factory=list)
    _types: dict[int, tuple[str, str, int, int, str]] = field(default_factory=dict)
    _enums: dict[int, list[str]] = field(default_factory=dict)

    def _load(self, oid: int) -> tuple[str, str, int, int, str]:
        if oid not in self._types:
            row = (
                cursor(self.conn)
                .execute(
                    "select typname, typtype::text, typelem::int, typbasetype::int,"
                    " typcategory::text from pg_type where oid = %s",
                    (oid,),
                )
                .fetchone()
            )
            self._types[oid] = row if row else (f"oid {oid}", "b", 0, 0, "U")
        return self._types[oid]

    def _enum_labels(self, oid: int) -> list[str]:
        if oid not in self._enums:
            rows = (
                cursor(self.conn)
                .execute(
                    "select enumlabel from pg_enum where enumtypid = %s order by enumsortorder",
                    (oid,),
                )
                .fetchall()
            )
            self._enums[oid] = [r[0] for r in rows]
        return self._enums[oid]

    def python(self, oid: int, *, param: bool, where: str) -> PyType:
        """The Python type for ``oid``, as a parameter or as a result column."""
        name, kind, elem, base, category = self._load(oid)
        if kind == "d":
            return self.python(base, param=param, where=where)
        if kind == "e":
            labels = self._enum_labels(oid)
            return _literal(labels) if not param else PyType("str")
        if category == "A" and elem:
            inner = self.python(elem, param=param, where=where)
            return PyType(f"list[{inner.expr}]", inner.imports)
        table = (_SCALARS | _PARAM_SCALARS) if param else _SCALARS
        if name in table:
            expr, module = table[name]
            return PyType(
                expr, frozenset({(module, expr.split(" |")[0])}) if module else frozenset()
            )
        self.warnings.append(f"{where}: type {name} has no Python mapping, typed as str")
        return PyType("str")

    def base_name(self, oid: int) -> str:
        """The type's name, through domains to their base type."""
        name, kind, _, base, _ = self._load(oid)
        return self.base_name(base) if kind == "d" else name

    def int_bits(self, oid: int) -> int:
        """16 or 32 for a smallint or integer (domain) type, else 0."""
        name, kind, _, base, _ = self._load(oid)
        if kind == "d":
            return self.int_bits(base)
        return {"int2": 16, "int4": 32}.get(name, 0)

    def check_literal(self, table_oid: int, column: int) -> PyType | None:
        """``Literal[...]`` of a ``CHECK (col = ANY (ARRAY[...]))`` on one text column."""
        if not table_oid or not column:
            return None
        rows = (
            cursor(self.conn)
            .execute(
                "select pg_get_constraintdef(oid) from pg_constraint"
                " where conrelid = %s and contype = 'c' and conkey = array[%s]::int2[]",
                (table_oid, column),
            )
            .fetchall()
        )
        for (definition,) in rows:
            m = _CHECK_IN.match(definition)
            if not m:
                continue
            values = [_CHECK_VALUE.match(v.strip()) for v in m.group(2).split(",")]
            if values and all(values):
                return _literal([v.group(1).replace("''", "'") for v in values if v])
        return None


def _literal(values: list[str]) -> PyType:
    inner = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    return PyType(f"Literal[{inner}]", frozenset({("typing", "Literal")}))
