"""Put a used clone of the template back to the template's state, or say it cannot be.

A clone costs a ``CREATE DATABASE`` (about a thousand files) and a ``DROP DATABASE`` (a
checkpoint of the whole server, on PostgreSQL 15). Most tests with their own clone only
write rows, and emptying the tables they wrote to costs one ``TRUNCATE``. :func:`baseline`
records, on a fresh clone: every public table's row count, every public sequence, the
rows of the tables that have some (their ``ctid``/``xmin``), and a fingerprint of the
catalogs (the rows of ``pg_attribute``, ``pg_proc``, ``pg_trigger``, ``pg_statistic``...,
the definitions in ``pg_class`` and ``pg_index``, the database's settings and grants).
:func:`reset` ends the clone's other sessions, truncates the tables that were empty and
have rows now, puts the sequences back, and answers whether the clone now matches the
baseline in all of that: a test that changed a definition, a setting or a template row,
ran ``ANALYZE``, or left a prepared transaction leaves a clone that is dropped instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

_SEQUENCES = """
select sequencename, last_value
from pg_sequences where schemaname = 'public' order by 1
"""

# database-local catalogs whose rows change only through definitions (or ANALYZE, for
# pg_statistic): any row added, removed or rewritten changes its count or ctid/xmin sum
_BY_ROW = (
    "pg_aggregate pg_am pg_attrdef pg_attribute pg_cast pg_collation pg_constraint"
    " pg_conversion pg_default_acl pg_depend pg_description pg_enum pg_event_trigger"
    " pg_extension pg_foreign_data_wrapper pg_foreign_server pg_foreign_table pg_inherits"
    " pg_init_privs pg_language pg_largeobject_metadata pg_opclass pg_operator"
    " pg_partitioned_table pg_policy pg_proc pg_publication pg_publication_rel pg_rewrite"
    " pg_seclabel pg_sequence pg_statistic pg_statistic_ext pg_transform pg_trigger"
    " pg_ts_config pg_type pg_user_mapping"
).split()
# TRUNCATE rewrites these rows (new relfilenode, sizes): compare what defines them instead
_BY_COLUMNS = {
    "pg_class": "oid, relname, relnamespace, reltype, relowner, relam, reltablespace,"
    " reltoastrelid, relkind, relnatts, relchecks, relhasrules, relhastriggers,"
    " relrowsecurity, relforcerowsecurity, relpersistence, relreplident, relispartition,"
    " relacl, reloptions, relpartbound",
    "pg_index": "indexrelid, indrelid, indisunique, indisprimary, indisexclusion,"
    " indimmediate, indisclustered, indisvalid, indisready, indislive, indisreplident,"
    " indkey, indclass, indoption, indexprs, indpred",
    # temporary schemas come and go with sessions
    "pg_namespace": "oid, nspname, nspowner, nspacl",
}
_NOT_TEMP = " where nspname !~ '^pg_(toast_)?temp_'"
_DATABASE = """
select 'database', count(*), sum(hashtext(concat_ws(',', datallowconn, datconnlimit, datacl,
    (select array_agg(setconfig::text order by setrole) from pg_db_role_setting
     where setdatabase = d.oid),
    (select sum(hashtext(concat_ws(',', classid, objid, objsubid, refclassid, refobjid,
        deptype))) from pg_shdepend where dbid = d.oid))))
from pg_database d where datname = current_database()
"""


def _fingerprint_sql() -> str:
    parts = [
        f"select '{t}', count(*), sum(hashtext(ctid::text || xmin::text)) from pg_catalog.{t}"  # noqa: S608 (constant names)
        for t in _BY_ROW
    ]
    parts += [
        f"select '{t}', count(*), sum(hashtext(concat_ws(',', {cols}))) from pg_catalog.{t}"  # noqa: S608
        + (_NOT_TEMP if t == "pg_namespace" else "")
        for t, cols in _BY_COLUMNS.items()
    ]
    return " union all ".join([*parts, _DATABASE.strip()])


_FINGERPRINT = _fingerprint_sql()


def contents(dsn: str) -> dict[str, int]:
    """Row count of every public table, and the number of public relations."""
    with psycopg.connect(dsn, autocommit=True) as c:
        return contents_on(c)


def contents_on(c: psycopg.Connection[Any]) -> dict[str, int]:
    """:func:`contents` on an open connection (a tuple-row one)."""
    tables = [
        r[0]
        for r in c.execute(
            "select relname from pg_class"
            " where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')"
            " order by relname"
        )
    ]
    out = {"(relations in public)": len(c.execute(
        "select oid from pg_class where relnamespace = 'public'::regnamespace"
    ).fetchall())}  # fmt: skip
    if tables:
        out.update({r[0]: r[1] for r in c.execute(_count_query(tuple(tables)))})
    return out


@functools.cache
def _count_query(tables: tuple[str, ...]) -> str:
    # rendered once per table list: composing it costs more than running it
    return (
        sql.SQL(" union all ")
        .join(
            sql.SQL("select {}, count(*) from {}").format(sql.Literal(t), sql.Identifier(t))
            for t in tables
        )
        .as_string()
    )


@dataclass(frozen=True)
class State:
    counts: dict[str, int]  # contents(): rows per table, relations in public
    sequences: dict[str, int | None]  # last_value; None before the first nextval
    kept: tuple[tuple[Any, ...], ...] = ()  # ctid/xmin sums of the tables with rows
    catalogs: tuple[tuple[Any, ...], ...] = ()


def _state(conn: psycopg.Connection[Any], kept: list[str], catalogs: bool = True) -> State:
    sums = sql.SQL(" union all ").join(
        sql.SQL("select {}, sum(hashtext(ctid::text || xmin::text)) from {}").format(
            sql.Literal(t), sql.Identifier(t)
        )
        for t in kept
    )
    return State(
        contents_on(conn),
        {r[0]: r[1] for r in conn.execute(_SEQUENCES).fetchall()},
        tuple(tuple(r) for r in conn.execute(sums).fetchall()) if kept else (),
        tuple(tuple(r) for r in conn.execute(_FINGERPRINT).fetchall())  # type: ignore[arg-type]
        if catalogs
        else (),
    )


def _kept(counts: dict[str, int]) -> list[str]:
    return sorted(t for t, n in counts.items() if n and not t.startswith("("))


def baseline(dsn: str) -> State:
    """The state of a fresh clone (nobody else connected)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return _state(conn, _kept(contents_on(conn)))


def reset(dsn: str, before: State) -> bool:
    """Put ``dsn`` back to ``before``'s rows and sequences; whether it then matches it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
        prepared = conn.execute(
            "select count(*) from pg_prepared_xacts where database = current_database()"
        ).fetchone()
        if prepared != (0,):
            return False
        kept = _kept(before.counts)
        now = _state(conn, kept)
        if now == before:
            return True
        if now.catalogs != before.catalogs or now.kept != before.kept:
            return False
        written = sorted(t for t, n in now.counts.items() if n and before.counts.get(t) == 0)
        with conn.transaction():
            if written:
                conn.execute(
                    sql.SQL("truncate {} restart identity cascade").format(
                        sql.SQL(", ").join(map(sql.Identifier, written))
                    )
                )
            for name, last in now.sequences.items():
                old = before.sequences.get(name, last)
                if last != old:
                    # never used before (None): is_called false, the next nextval gives the start
                    conn.execute(
                        "select setval(format('public.%%I', %s::text)::regclass,"
                        " coalesce(%s, start_value), %s)"
                        " from pg_sequences where schemaname = 'public' and sequencename = %s",
                        (name, old, old is not None, name),
                    )
        # TRUNCATE and setval leave what the fingerprint covers as it was (checked above)
        after = _state(conn, kept, catalogs=False)
        return (after.counts, after.sequences, after.kept) == (
            before.counts,
            before.sequences,
            before.kept,
        )
