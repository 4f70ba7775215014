"""Lint-like checks on the migrated schema: what a DBA reading \\d+ relies on."""

from __future__ import annotations

import re

from pydal_lite.connection import Connection

# Tables whose DDL we copy verbatim from another project (names and comments are theirs).
FOREIGN_DDL = {"checkpoint_migrations", "checkpoints", "checkpoint_blobs", "checkpoint_writes"}

# Foreign keys deliberately left without an index, and why.
UNINDEXED_FKEYS = {
    # coefficient_types is reference data, never deleted while coefficients use it (no
    # cascade: the delete fails); an index on every chunk of the series is not worth it.
    "coefficients.coefficients_coefficient_code_fkey",
}


def test_every_table_has_a_comment(conn: Connection) -> None:
    rows = conn.execute(
        "select c.relname as name from pg_class c"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')"
        " and obj_description(c.oid, 'pg_class') is null"
    ).fetchall()
    missing = {r["name"] for r in rows} - FOREIGN_DDL
    assert missing == set(), f"tables without COMMENT ON TABLE: {sorted(missing)}"


def test_every_foreign_key_has_an_index_leading_with_its_columns(conn: Connection) -> None:
    # Without one, deleting a parent row scans the child table (ON DELETE CASCADE included).
    rows = conn.execute(
        """
        select c.conrelid::regclass::text as tbl, c.conname as name
        from pg_constraint c
        where c.contype = 'f'
          and c.connamespace = 'public'::regnamespace
          and not exists (
              select 1 from pg_index i
              where i.indrelid = c.conrelid
                and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
          )
        """
    ).fetchall()
    unindexed = {f"{r['tbl']}.{r['name']}" for r in rows} - UNINDEXED_FKEYS
    assert unindexed == set(), f"foreign keys without a supporting index: {sorted(unindexed)}"


def test_constraint_names_follow_postgres_patterns(conn: Connection) -> None:
    # "n": PostgreSQL 18 records NOT NULL constraints too, named <table>_<col>_not_null
    suffix = {
        "p": "_pkey",
        "f": "_fkey",
        "u": "_key",
        "c": "_check",
        "x": "_excl",
        "n": "_not_null",
    }
    rows = conn.execute(
        "select conrelid::regclass::text as tbl, conname as name, contype::text as kind"
        " from pg_constraint where connamespace = 'public'::regnamespace and contype <> 't'"
        " and conrelid <> 0"
    ).fetchall()
    wrong = [
        f"{r['tbl']}.{r['name']}"
        for r in rows
        if r["tbl"] not in FOREIGN_DDL
        and not (r["name"].startswith(f"{r['tbl']}_") and r["name"].endswith(suffix[r["kind"]]))
    ]
    assert wrong == [], f"constraints not named <table>_<cols>_<pkey|fkey|key|check>: {wrong}"


def test_index_names_follow_the_pattern_or_the_seeds(conn: Connection) -> None:
    rows = conn.execute(
        "select tablename, indexname from pg_indexes where schemaname = 'public'"
    ).fetchall()
    wrong = [
        r["indexname"]
        for r in rows
        if r["tablename"] not in FOREIGN_DDL
        and not re.match(
            rf"^({re.escape(r['tablename'])}_(\w+_)?(idx|key|pkey)|idx_\w+)$", r["indexname"]
        )
    ]
    assert wrong == [], f"indexes not named <table>_<cols>_idx (or a seed's idx_ name): {wrong}"
