"""Schema helpers for down/up tests: catalog snapshots, table lists, migration versions."""

from __future__ import annotations

from typing import Any

import psycopg

_QUERIES = {
    "relation": """
        select c.relkind::text, c.relname, obj_description(c.oid, 'pg_class')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public'""",
    "column": """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
               pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = 'public' and a.attnum > 0 and not a.attisdropped""",
    "constraint": """
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid),
               obj_description(oid, 'pg_constraint')
        from pg_constraint where connamespace = 'public'::regnamespace""",
    "index": "select tablename, indexname, indexdef from pg_indexes where schemaname = 'public'",
    "function": """
        select p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc)
        from pg_proc p where p.pronamespace = 'public'::regnamespace""",
    "trigger": """
        select tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
        from pg_trigger where not tgisinternal""",
    "extension": "select extname, extversion from pg_extension",
    "type": """
        select t.typname, t.typtype::text from pg_type t
        where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'c')
          and not exists (select 1 from pg_class c where c.reltype = t.oid)""",
}


def snapshot(
    dsn: str,
    *,
    exclude_tables: tuple[str, ...] = (),
    only_tables: tuple[str, ...] | None = None,
) -> set[tuple[Any, ...]]:
    """Every table, column, constraint, index, function, trigger, extension and type.

    A row belongs to a table when one of its first two values (the relation or owner
    name, schema stripped) starts with that name: ``exclude_tables`` drops those rows,
    ``only_tables`` keeps only those (their relations, columns with comments,
    constraints, indexes and triggers).
    """
    out: set[tuple[Any, ...]] = set()
    with psycopg.connect(dsn) as conn:
        for kind, query in _QUERIES.items():
            for row in conn.execute(query).fetchall():  # type: ignore[arg-type]
                names = [str(v).split(".")[-1] for v in row[:2] if v]
                if any(n.startswith(exclude_tables) for n in names):
                    continue
                if only_tables is not None and not any(n.startswith(only_tables) for n in names):
                    continue
                out.add((kind, *row))
    return out


def tables_in(dsn: str) -> set[str]:
    """Names of the tables in schema public."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select tablename from pg_tables where schemaname = 'public'")
        return {r[0] for r in rows.fetchall()}


def version_below(dsn: str, version: str) -> str:
    """The newest applied migration older than ``version``: the ``target`` that makes
    ``migrate.down`` undo ``version`` and everything after it, whatever else is merged."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select version from schema_migrations").fetchall()
    below = [r[0] for r in rows if int(r[0]) < int(version)]
    assert below, f"no applied migration below {version}"
    return str(max(below, key=int))
