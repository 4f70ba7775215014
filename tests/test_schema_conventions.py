"""Lint-like checks on the migrated schema: what a DBA reading \\d+ relies on."""

from __future__ import annotations

import re
from typing import Any

from catalog import snapshot, version_below

from pydal_lite import migrate
from pydal_lite.connection import Connection
from pydal_lite.resources import queries_dir

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


# The runner's own tables (created by pydal_lite.migrate, not by schema/).
RUNNER_TABLES = ("schema_migration",)

# Columns whose name says all a DBA needs; every other column needs COMMENT ON COLUMN.
OBVIOUS_COLUMNS = {"id", "created_at", "updated_at"}

# CHECKs whose rule the definition shows at a glance: non-negative, non-empty, JSON type.
OBVIOUS_CHECK = re.compile(
    r"^CHECK \(\(\(?\w+\)?(::[\w ]+)? (>= \(?0\)?(::[\w ]+)?|<> ''::text)\)\)$"
    r"|^CHECK \(\(jsonb_typeof\(\w+\) = '\w+'::text\)\)$"
)

# How a comment names a named query: queries/<file>.sql:<name>[,<name>...]
QUERY_REF = re.compile(r"queries/(\w+)\.sql:([a-z][a-z0-9_]*(?:,[a-z][a-z0-9_]*)*)")
# A bare word shaped like a query name (the STYLE.md verbs); it must name something real.
VERB_WORD = re.compile(
    r"\b(?:get|list|insert|upsert|claim|delete|count|find|update|complete|fail|cancel|"
    r"purge|reclaim|restore|search|lock|finish|start|skip|touch|resolve|soft_delete)"
    r"_[a-z0-9_]+\b"
)

_COMMENTS_SQL = """
select 'table ' || c.relname as what, d.description as text
from pg_description d
join pg_class c on d.classoid = 'pg_class'::regclass and d.objoid = c.oid
where c.relnamespace = 'public'::regnamespace
union all
select 'constraint ' || c.conname, d.description
from pg_description d
join pg_constraint c on d.classoid = 'pg_constraint'::regclass and d.objoid = c.oid
where c.connamespace = 'public'::regnamespace
union all
select 'function ' || p.proname, d.description
from pg_description d
join pg_proc p on d.classoid = 'pg_proc'::regclass and d.objoid = p.oid
where p.pronamespace = 'public'::regnamespace
"""

_NAMES_SQL = """
select relname::text as name from pg_class where relnamespace = 'public'::regnamespace
union select attname::text from pg_attribute a join pg_class c on c.oid = a.attrelid
    where c.relnamespace = 'public'::regnamespace and a.attnum > 0
union select conname::text from pg_constraint where connamespace = 'public'::regnamespace
union select proname::text from pg_proc where pronamespace = 'public'::regnamespace
union select tgname::text from pg_trigger where not tgisinternal
"""


def _named_queries() -> dict[str, set[str]]:
    return {
        path.stem: set(re.findall(r"^-- name: (\w+)", path.read_text("utf-8"), re.MULTILINE))
        for path in sorted(queries_dir().glob("*.sql"))
    }


def _columns(conn: Connection) -> list[tuple[str, str, bool]]:
    rows = conn.execute(
        """
        select c.relname as tbl, a.attname as col,
               col_description(c.oid, a.attnum) is not null as commented
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
          and a.attnum > 0 and not a.attisdropped
        """
    ).fetchall()
    return [(r["tbl"], r["col"], r["commented"]) for r in rows]


def test_every_column_has_a_comment_but_the_obvious_ones(conn: Connection) -> None:
    missing = sorted(
        f"{tbl}.{col}"
        for tbl, col, commented in _columns(conn)
        if not commented and col not in OBVIOUS_COLUMNS
    )
    assert missing == [], f"columns without COMMENT ON COLUMN: {missing}"


def test_at_least_95_percent_of_all_columns_are_commented(conn: Connection) -> None:
    columns = _columns(conn)
    commented = sum(1 for _, _, c in columns if c)
    assert commented >= 0.95 * len(columns), f"{commented}/{len(columns)} columns commented"


def test_every_index_but_primary_keys_has_a_comment_naming_what_it_serves(
    conn: Connection,
) -> None:
    rows = conn.execute(
        """
        select c.relname as name, obj_description(c.oid, 'pg_class') as text
        from pg_index i
        join pg_class c on c.oid = i.indexrelid
        where c.relnamespace = 'public'::regnamespace and not i.indisprimary
        """
    ).fetchall()
    assert rows, "no indexes found"
    missing = sorted(r["name"] for r in rows if not r["text"])
    assert missing == [], f"indexes without COMMENT ON INDEX: {missing}"
    # say which named query it serves, or say plainly that none does
    silent = sorted(
        r["name"]
        for r in rows
        if not QUERY_REF.search(r["text"]) and "no named query" not in r["text"].lower()
    )
    assert silent == [], f"index comments naming no query (nor 'no named query'): {silent}"


def test_every_check_whose_rule_is_not_obvious_has_a_comment(conn: Connection) -> None:
    rows = conn.execute(
        """
        select conrelid::regclass::text as tbl, conname as name,
               pg_get_constraintdef(oid) as def,
               obj_description(oid, 'pg_constraint') is not null as commented
        from pg_constraint
        where connamespace = 'public'::regnamespace and contype = 'c'
        """
    ).fetchall()
    assert rows, "no CHECK constraints found"
    missing = sorted(
        f"{r['tbl']}.{r['name']}"
        for r in rows
        if not r["commented"] and not OBVIOUS_CHECK.match(r["def"])
    )
    assert missing == [], f"CHECKs without COMMENT ON CONSTRAINT: {missing}"


def test_obvious_check_pattern_accepts_only_trivial_rules() -> None:
    assert OBVIOUS_CHECK.match("CHECK ((seq >= 0))")
    assert OBVIOUS_CHECK.match("CHECK ((duration_seconds >= (0)::double precision))")
    assert OBVIOUS_CHECK.match("CHECK (((user_session)::text <> ''::text))")
    assert OBVIOUS_CHECK.match("CHECK ((jsonb_typeof(metadata) = 'object'::text))")
    assert not OBVIOUS_CHECK.match("CHECK (((progress >= 0) AND (progress <= 100)))")
    assert not OBVIOUS_CHECK.match("CHECK ((is_active = (deleted_at IS NULL)))")
    assert not OBVIOUS_CHECK.match("CHECK ((code ~ '^[a-z][a-z0-9_]{0,62}$'::text))")


def test_query_names_in_comments_exist(conn: Connection) -> None:
    queries = _named_queries()
    every_query = set().union(*queries.values())
    catalog_names = {r["name"] for r in conn.execute(_NAMES_SQL).fetchall()}
    wrong = []
    for row in conn.execute(_COMMENTS_SQL).fetchall():
        text = row["text"]
        for file, names in QUERY_REF.findall(text):
            wrong += [
                f"{row['what']}: queries/{file}.sql:{name}"
                for name in names.split(",")
                if name not in queries.get(file, set())
            ]
        bare = set(VERB_WORD.findall(QUERY_REF.sub("", text)))
        wrong += [f"{row['what']}: {w}" for w in sorted(bare - every_query - catalog_names)]
    assert wrong == [], f"comments naming queries that do not exist: {wrong}"


def test_query_reference_check_catches_a_stale_name() -> None:
    # the stale words 0011 fixed: 0008 named get_vendor_by_name
    assert VERB_WORD.findall("get_vendor_by_name: case-insensitive name lookup") == [
        "get_vendor_by_name"
    ]
    assert "get_vendor_by_name" not in set().union(*_named_queries().values())
    ref = QUERY_REF.findall("served by queries/event_planning.sql:list_vendors,get_run.")
    assert ref == [("event_planning", "list_vendors,get_run")]


def test_down_of_0011_restores_the_catalog_before_it_and_up_rebuilds_it(
    dsn: str, new_database: Any
) -> None:
    head = snapshot(dsn, exclude_tables=RUNNER_TABLES)
    below = version_below(dsn, "0011")
    rolled = migrate.down(dsn, target=below)
    assert "0011" in [m.version for m in rolled]
    reference = str(new_database())
    migrate.up(reference, target=below)
    assert snapshot(dsn, exclude_tables=RUNNER_TABLES) == snapshot(
        reference, exclude_tables=RUNNER_TABLES
    )
    migrate.up(dsn)
    assert snapshot(dsn, exclude_tables=RUNNER_TABLES) == head
