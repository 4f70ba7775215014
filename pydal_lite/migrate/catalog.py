"""Compare two databases' catalogs: what ``baseline`` checks before adopting a database.

Compared: relations, columns with types, nullability and defaults, constraints, indexes
with their definitions and validity, triggers, functions (whole definition), views,
enum and domain types, extensions. Left out: system and TimescaleDB-internal schemas,
objects that belong to an extension, and the runner's own tables.
"""

from __future__ import annotations

from typing import Any

import psycopg

from .tables import RUNNER_TABLES

# system and TimescaleDB-internal schemas (a bound parameter of every query)
SKIP_SCHEMAS = (
    r"^(pg_catalog|information_schema|pg_toast|pg_temp_\d+|pg_toast_temp_\d+"
    r"|_timescaledb.*|timescaledb_information|timescaledb_experimental)$"
)

# each query returns (kind, key, value); the key names the object for people
_QUERIES = [
    """
    select 'relation', n.nspname || '.' || c.relname, c.relkind::text
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                      and d.objid = c.oid and d.deptype = 'e')""",
    """
    select 'column', n.nspname || '.' || c.relname || '.' || a.attname,
           format_type(a.atttypid, a.atttypmod)
           || case when a.attnotnull then ' not null' else '' end
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
    where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                      and d.objid = c.oid and d.deptype = 'e')""",
    """
    select 'constraint', n.nspname || '.' || coalesce(c.relname || '.', '') || k.conname,
           pg_get_constraintdef(k.oid)
    from pg_constraint k
    join pg_namespace n on n.oid = k.connamespace
    left join pg_class c on c.oid = k.conrelid
    where n.nspname !~ %(skip)s""",
    """
    select 'index', n.nspname || '.' || c.relname,
           pg_get_indexdef(i.indexrelid) || case when i.indisvalid then '' else ' (INVALID)' end
    from pg_index i
    join pg_class c on c.oid = i.indexrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                      and d.objid = i.indrelid and d.deptype = 'e')""",
    """
    select 'trigger', n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
    from pg_trigger t
    join pg_class c on c.oid = t.tgrelid
    join pg_namespace n on n.oid = c.relnamespace
    where not t.tgisinternal and n.nspname !~ %(skip)s""",
    """
    select 'function',
           n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           pg_get_functiondef(p.oid)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where p.prokind in ('f', 'p') and n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                      and d.objid = p.oid and d.deptype = 'e')""",
    """
    select 'view', n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('v', 'm') and n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                      and d.objid = c.oid and d.deptype = 'e')""",
    """
    select 'type', n.nspname || '.' || t.typname,
           case t.typtype
               when 'e' then 'enum (' || (select string_agg(quote_literal(e.enumlabel), ', '
                                                  order by e.enumsortorder)
                                           from pg_enum e where e.enumtypid = t.oid) || ')'
               when 'd' then 'domain over ' || format_type(t.typbasetype, t.typtypmod)
               else t.typtype::text end
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where t.typtype in ('e', 'd') and n.nspname !~ %(skip)s
      and not exists (select 1 from pg_depend d where d.classid = 'pg_type'::regclass
                      and d.objid = t.oid and d.deptype = 'e')""",
    "select 'extension', extname, '' from pg_extension where extname !~ %(skip)s",
]


def snapshot(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], str]:
    """(kind, name) -> definition for every object compared, the runner's own left out."""
    out: dict[tuple[str, str], str] = {}
    for query in _QUERIES:
        for kind, key, value in conn.execute(query, {"skip": SKIP_SCHEMAS}).fetchall():
            parts = key.split(".")
            if len(parts) > 1 and parts[1].startswith(RUNNER_TABLES):
                continue  # the runner's tables, their columns, keys, indexes, sequences
            out[(kind, key)] = value or ""
    return out


def _short(value: str) -> str:
    first = " ".join(value.split())
    return first if len(first) <= 160 else first[:157] + "..."


def differences(
    database: dict[tuple[str, str], str], expected: dict[tuple[str, str], str]
) -> list[str]:
    """What differs, one line each, ordered by kind and name.

    Extensions the database has beyond the expected ones (pg_stat_statements and the
    like, installed by operations) are not differences.
    """
    out: list[str] = []
    for kind, key in sorted(set(database) | set(expected)):
        have, want = database.get((kind, key)), expected.get((kind, key))
        if have == want:
            continue
        if want is None:
            if kind != "extension":
                out.append(f"{kind} {key}: only in the database: {_short(have or '')}")
        elif have is None:
            out.append(f"{kind} {key}: missing from the database (the files create it)")
        elif kind in ("function", "view"):
            out.append(f"{kind} {key}: definition differs")
        else:
            out.append(f"{kind} {key}: database has {_short(have)}; the files give {_short(want)}")
    return out
