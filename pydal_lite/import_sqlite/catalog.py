"""Discover the target tables from the PostgreSQL catalog: columns, types, keys, foreign keys.

Nothing here knows a domain: every table of the current schema (except the migration
runner's own) is described as the server sees it at run time, and
:func:`dependency_order` puts parents before children by the foreign keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..migrate.tables import RUNNER_TABLES as BOOKKEEPING_TABLES
from .errors import PlanError

# The migration runner's bookkeeping; never an import target.
RUNNER_TABLES = frozenset(BOOKKEEPING_TABLES)

_TABLES = """
select c.oid::bigint as oid, c.relname as name
from pg_class c
where c.relnamespace = current_schema()::regnamespace
    and c.relkind in ('r', 'p')
    and not c.relispartition
order by c.relname
"""

_COLUMNS = r"""
select
    a.attrelid::bigint as oid,
    a.attname as name,
    format_type(a.atttypid, a.atttypmod) as type_name,
    coalesce(nullif(bt.typname, ''), t.typname) as typname,
    t.typtype as typtype,
    t.typcategory as category,
    et.typname as elem_typname,
    a.attnotnull as not_null,
    -- a column a BEFORE INSERT row trigger assigns (new.col := ...) has a default too
    a.atthasdef or exists (
        select 1
        from pg_trigger tg
        join pg_proc p on p.oid = tg.tgfoid
        where tg.tgrelid = a.attrelid
            and not tg.tgisinternal
            and tg.tgtype & 7 = 7  -- row, before, insert
            and p.prosrc ~* ('new\.' || a.attname || '\s*:=')
    ) as has_default,
    a.attidentity as identity,
    a.attgenerated as generated,
    pg_get_expr(d.adbin, d.adrelid) as default_expr,
    case when a.atttypmod > 4 and t.typname in ('varchar', 'bpchar')
        then a.atttypmod - 4 end as max_length,
    (select array_agg(e.enumlabel order by e.enumsortorder)
        from pg_enum e where e.enumtypid = t.oid) as enum_labels
from pg_attribute a
join pg_type t on t.oid = a.atttypid
left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_type et on et.oid = coalesce(bt.typelem, t.typelem) and t.typcategory = 'A'
where a.attrelid = any(%(oids)s::oid[])
    and a.attnum > 0
    and not a.attisdropped
order by a.attrelid, a.attnum
"""

# Unique indexes without expressions or predicates: primary keys, unique constraints and
# plain unique indexes alike. The primary key comes first.
_UNIQUE = """
select
    i.indrelid::bigint as oid,
    ic.relname as name,
    i.indisprimary as is_primary,
    array(
        select a.attname
        from unnest(i.indkey::int2[]) with ordinality k(attnum, n)
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
        order by k.n
    ) as columns
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
where i.indrelid = any(%(oids)s::oid[])
    and i.indisunique
    and i.indexprs is null
    and i.indpred is null
order by i.indrelid, i.indisprimary desc, ic.relname
"""

_FKEYS = """
select
    c.conrelid::bigint as oid,
    c.conname as name,
    (select r.relname from pg_class r where r.oid = c.confrelid) as ref_table,
    array(
        select a.attname
        from unnest(c.conkey) with ordinality k(attnum, n)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        order by k.n
    ) as columns,
    array(
        select a.attname
        from unnest(c.confkey) with ordinality k(attnum, n)
        join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum
        order by k.n
    ) as ref_columns
from pg_constraint c
where c.conrelid = any(%(oids)s::oid[])
    and c.contype = 'f'
order by c.conrelid, c.conname
"""


# CHECK constraints as expressions (pg_get_expr, without "CHECK"), with their columns.
_CHECKS = """
select
    c.conrelid::bigint as oid,
    c.conname as name,
    pg_get_expr(c.conbin, c.conrelid) as expr,
    array(
        select a.attname
        from unnest(c.conkey) k(attnum)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        order by a.attnum
    ) as columns
from pg_constraint c
where c.conrelid = any(%(oids)s::oid[])
    and c.contype = 'c'
order by c.conrelid, c.conname
"""


@dataclass(frozen=True)
class Check:
    """A CHECK constraint of a target table: its expression as the server prints it."""

    name: str
    expr: str  # e.g. "((status)::text = ANY ((ARRAY['running'::character varying, ...]))"
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TargetColumn:
    """One column of a target table, as the catalog describes it."""

    name: str
    type_name: str  # format_type(): "character varying(36)", "timestamp with time zone"
    base: str  # pg_type.typname of the (domain's base / array's element) type: "timestamptz"
    is_array: bool = False
    not_null: bool = False
    has_default: bool = False
    identity: str = ""  # "a" generated always, "d" by default, "" none
    generated: bool = False  # a stored generated column: never written
    max_length: int | None = None
    enum_labels: tuple[str, ...] = ()
    default_expr: str | None = None  # pg_get_expr() of the default, e.g. "'{}'::jsonb"


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of a target table."""

    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetTable:
    """A table of the target schema."""

    name: str
    columns: tuple[TargetColumn, ...]
    unique_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (index name, columns)
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    by_name: dict[str, TargetColumn] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({c.name: c for c in self.columns})

    def column(self, name: str) -> TargetColumn:
        return self.by_name[name]

    def checks_on(self, column: str) -> list[Check]:
        """The CHECK constraints that read ``column``."""
        return [c for c in self.checks if column in c.columns]


def _rows(conn: psycopg.Connection[Any], query: str, **params: Any) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(query, params)  # type: ignore[arg-type]
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def load_catalog(conn: psycopg.Connection[Any]) -> dict[str, TargetTable]:
    """Every table of the current schema, keyed by name (the runner's tables left out)."""
    tables = [t for t in _rows(conn, _TABLES) if t["name"] not in RUNNER_TABLES]
    oids = [t["oid"] for t in tables]
    columns: dict[int, list[TargetColumn]] = {oid: [] for oid in oids}
    for r in _rows(conn, _COLUMNS, oids=oids):
        is_array = r["category"] == "A" and r["elem_typname"] is not None
        columns[r["oid"]].append(
            TargetColumn(
                name=r["name"],
                type_name=r["type_name"],
                base=r["elem_typname"] if is_array else r["typname"],
                is_array=is_array,
                not_null=r["not_null"],
                has_default=r["has_default"],
                identity=r["identity"] or "",
                generated=bool(r["generated"]),
                max_length=r["max_length"],
                enum_labels=tuple(r["enum_labels"] or ()),
                default_expr=r["default_expr"] if not r["generated"] else None,
            )
        )
    uniques: dict[int, list[tuple[str, tuple[str, ...]]]] = {oid: [] for oid in oids}
    for r in _rows(conn, _UNIQUE, oids=oids):
        uniques[r["oid"]].append((r["name"], tuple(r["columns"])))
    fkeys: dict[int, list[ForeignKey]] = {oid: [] for oid in oids}
    for r in _rows(conn, _FKEYS, oids=oids):
        fkeys[r["oid"]].append(
            ForeignKey(r["name"], tuple(r["columns"]), r["ref_table"], tuple(r["ref_columns"]))
        )
    checks: dict[int, list[Check]] = {oid: [] for oid in oids}
    for r in _rows(conn, _CHECKS, oids=oids):
        checks[r["oid"]].append(Check(r["name"], r["expr"], tuple(r["columns"])))
    return {
        t["name"]: TargetTable(
            name=t["name"],
            columns=tuple(columns[t["oid"]]),
            unique_keys=tuple(uniques[t["oid"]]),
            foreign_keys=tuple(fkeys[t["oid"]]),
            checks=tuple(checks[t["oid"]]),
        )
        for t in tables
    }


def dependency_order(tables: Iterable[TargetTable]) -> list[TargetTable]:
    """``tables`` with every table after the tables its foreign keys reference.

    Only references among ``tables`` count (a parent outside the set must already hold
    its rows); a table referencing itself is fine. Ties keep name order, so the order is
    stable. A cycle between different tables is a :class:`PlanError`.
    """
    pending = {t.name: t for t in sorted(tables, key=lambda t: t.name)}
    parents = {
        name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in pending} - {name}
        for name, t in pending.items()
    }
    order: list[TargetTable] = []
    done: set[str] = set()
    while pending:
        ready = [name for name in pending if parents[name] <= done]
        if not ready:
            cycle = ", ".join(sorted(pending))
            raise PlanError(
                f"foreign keys form a cycle among tables {cycle}; import them separately"
            )
        for name in ready:
            order.append(pending.pop(name))
            done.add(name)
    return order


# Defaults that must be evaluated per row; a NULL for such a column stays an error.
_VOLATILE = re.compile(r"nextval|random|uuid|clock_timestamp|timeofday|txid|setval", re.IGNORECASE)


def null_defaults(
    conn: psycopg.Connection[Any], table: TargetTable, columns: Iterable[TargetColumn]
) -> dict[str, str]:
    """For not-null ``columns`` with a default that is the same for every row of one
    transaction (a constant, ``now()``), that default's value as text."""
    out: dict[str, str] = {}
    for col in columns:
        expr = col.default_expr
        if not col.not_null or col.identity or expr is None or _VOLATILE.search(expr):
            continue
        row = conn.execute(sql.SQL("select ({})::text").format(sql.SQL(expr))).fetchone()  # type: ignore[arg-type]
        if row is not None and row[0] is not None:
            out[col.name] = row[0]
    return out


def copy_columns(table: TargetTable, names: Sequence[str]) -> list[TargetColumn]:
    """The target columns named in ``names`` that can be written (not generated)."""
    return [table.column(n) for n in names if not table.column(n).generated]
