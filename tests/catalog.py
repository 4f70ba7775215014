"""A comparable snapshot of a database's schema, from the system catalogs."""

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
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
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


def snapshot(dsn: str, *, exclude_tables: tuple[str, ...] = ()) -> set[tuple[Any, ...]]:
    """Every table, column, constraint, index, function, trigger, extension and type."""
    out: set[tuple[Any, ...]] = set()
    with psycopg.connect(dsn) as conn:
        for kind, query in _QUERIES.items():
            for row in conn.execute(query).fetchall():  # type: ignore[arg-type]
                if any(str(v).split(".")[-1].startswith(exclude_tables) for v in row[:2] if v):
                    continue
                out.add((kind, *row))
    return out
