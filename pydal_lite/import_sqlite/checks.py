"""Find the rows of a staged batch that the target would refuse, in one statement.

The batch sits in a temporary staging table shaped like the target (same column types
and defaults, no constraints, plus ``_pydal_n``, the row's place in the batch). One
``union all`` query then lists every row that breaks a rule of the target, with the
rule, for all rows at once instead of one round trip per bad row:

* a ``not null`` column holding NULL (a default that gave NULL);
* a CHECK constraint that is false (NULL passes, as in PostgreSQL) -- the expression
  is the server's own (``pg_get_expr``), evaluated on the staged columns;
* a foreign key whose parent row is neither in the parent table nor, for a table that
  references itself, elsewhere in the batch;
* a primary or unique key that an earlier row of the batch has, or that the target
  already holds (imported by an earlier batch of this run).

Rules the query cannot see (an exclusion constraint, a trigger, a constraint on a
column the staging table lacks) are left to the server; the writer locates those rows
from the server's error, or by bisection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .catalog import TargetTable


@dataclass(frozen=True)
class Rule:
    """A rule a staged row can break: what to call it in the bad-rows report."""

    kind: str  # "not null", "check", "foreign key", "unique"
    name: str  # constraint or column
    columns: tuple[str, ...]
    ref_table: str = ""
    ref_columns: tuple[str, ...] = ()

    def reason(self, table: str, values: Sequence[object]) -> str:
        """A reason worded like the server's, with the row's values where they help."""
        cols = ", ".join(self.columns)
        if self.kind == "not null":
            return f'null value in column "{self.name}" violates not-null constraint'
        if self.kind == "check":
            return f'new row for relation "{table}" violates check constraint "{self.name}"'
        if self.kind == "foreign key":
            shown = ", ".join("" if v is None else str(v) for v in values)
            return (
                f'insert or update on table "{table}" violates foreign key constraint '
                f'"{self.name}" (Key ({cols})=({shown}) is not present in table '
                f'"{self.ref_table}")'
            )
        return f"duplicate of an earlier row in the file ({self.name}: {cols})"


def staged_rules(table: TargetTable, staged: Sequence[str], *, not_null: bool) -> list[Rule]:
    """The rules of ``table`` that the staging columns ``staged`` let the query check."""
    have = set(staged)
    rules: list[Rule] = []
    if not_null:
        rules += [
            Rule("not null", c.name, (c.name,))
            for c in table.columns
            if c.not_null and c.name in have
        ]
    rules += [Rule("check", c.name, c.columns) for c in table.checks if set(c.columns) <= have]
    rules += [
        Rule("foreign key", fk.name, fk.columns, fk.ref_table, fk.ref_columns)
        for fk in table.foreign_keys
        if set(fk.columns) <= have and len(fk.ref_columns) == len(fk.columns)
    ]
    rules += [Rule("unique", name, key, table.name, key) for name, key in table.unique_keys]
    return [r for r in rules if set(r.columns) <= have]


def violations_query(
    table: TargetTable, staging: sql.Identifier, rules: Sequence[Rule]
) -> sql.Composed | None:
    """``select n, rule`` for every (row, broken rule) of the staged batch, by row."""
    parts: list[sql.Composable] = []
    target = sql.Identifier(table.name)
    for i, rule in enumerate(rules):
        idx = sql.Literal(i)
        cols = [sql.Identifier(c) for c in rule.columns]
        set_ = sql.SQL(" and ").join(sql.SQL("s.{} is not null").format(c) for c in cols)
        if rule.kind == "not null":
            parts.append(
                sql.SQL("select s._pydal_n, {} from {} s where s.{} is null").format(
                    idx, staging, cols[0]
                )
            )
        elif rule.kind == "check":
            expr = next(c.expr for c in table.checks if c.name == rule.name)
            # the expression is the server's own text of our schema's constraint
            parts.append(
                sql.SQL("select s._pydal_n, {} from {} s where not coalesce(({}), true)").format(
                    idx,
                    staging,
                    sql.SQL(expr),  # type: ignore[arg-type]
                )
            )
        elif rule.kind == "foreign key":
            ref = sql.Identifier(rule.ref_table)

            def match(alias: str, rule: Rule = rule) -> sql.Composable:
                return sql.SQL(" and ").join(
                    sql.SQL("{}.{} = s.{}").format(
                        sql.Identifier(alias), sql.Identifier(r), sql.Identifier(c)
                    )
                    for c, r in zip(rule.columns, rule.ref_columns, strict=True)
                )

            found = sql.SQL("exists (select 1 from {} p where {})").format(ref, match("p"))
            if rule.ref_table == table.name:  # a parent elsewhere in the same batch
                found = sql.SQL("({} or exists (select 1 from {} b where {}))").format(
                    found, staging, match("b")
                )
            parts.append(
                sql.SQL("select s._pydal_n, {} from {} s where {} and not {}").format(
                    idx, staging, set_, found
                )
            )
        else:
            keys = sql.SQL(", ").join(cols)
            held = sql.SQL(" and ").join(sql.SQL("t.{} = s.{}").format(c, c) for c in cols)
            parts.append(
                sql.SQL(
                    "select n, {} from (select s._pydal_n as n, row_number() over "
                    "(partition by {} order by s._pydal_n) as r, "
                    "exists (select 1 from {} t where {}) as held "
                    "from {} s where {}) x where r > 1 or held"
                ).format(idx, keys, target, held, staging, set_)
            )
    if not parts:
        return None
    return sql.SQL("{} order by 1, 2").format(sql.SQL(" union all ").join(parts))


def existing_keys(
    conn: psycopg.Connection[Any],
    table: TargetTable,
    staging: sql.Identifier,
    staged: Sequence[str],
    name: str,
) -> tuple[sql.Identifier, sql.Composed, sql.Composed] | None:
    """For ``on_conflict="skip"``: a temporary table of the keys this run imported, the
    statement that remembers a batch's keys in it, and the one that deletes staged rows
    whose key the target held *before* the import (a key this run imported is a
    duplicate in the file, which the violations query reports)."""
    keys = [key for _, key in table.unique_keys if set(key) <= set(staged)]
    if not keys:
        return None
    done = sql.Identifier(name)
    key_cols = sorted({c for key in keys for c in key}, key=list(staged).index)
    kc = sql.SQL(", ").join(map(sql.Identifier, key_cols))
    target = sql.Identifier(table.name)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("create temp table {} on commit drop as select {} from {} limit 0").format(
                done, kc, target
            )
        )
        for key in keys:
            cur.execute(
                sql.SQL("create index on {} ({})").format(
                    done, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
    remember = sql.SQL("insert into {} ({}) select {} from {}").format(done, kc, kc, staging)

    def holds(tab: sql.Identifier, key: Sequence[str]) -> sql.Composable:
        return sql.SQL("exists (select 1 from {} x where {})").format(
            tab,
            sql.SQL(" and ").join(
                sql.SQL("x.{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in key
            ),
        )

    drop = sql.SQL("delete from {} s where {}").format(
        staging,
        sql.SQL(" or ").join(
            sql.SQL("({} and not {})").format(holds(target, k), holds(done, k)) for k in keys
        ),
    )
    return done, remember, drop
