"""Before copying: refuse a default that would contradict a CHECK (see :mod:`.derive`)."""

from __future__ import annotations

import itertools

from psycopg import sql

from .catalog import Check, TargetColumn
from .context import ImportContext
from .errors import PlanError
from .plan import TablePlan
from .timestamps import ConversionError

_preflight_ids = itertools.count(1)


def risky_defaults(plan: TablePlan) -> list[tuple[TargetColumn, Check]]:
    """Columns left to their default whose CHECKs also read columns the source gives."""
    written = {c.name for c in plan.columns}
    out: list[tuple[TargetColumn, Check]] = []
    for col in plan.target.columns:
        if col.name in written or col.identity or col.generated or not col.has_default:
            continue
        for check in plan.target.checks_on(col.name):
            if set(check.columns) & written:
                out.append((col, check))
    return out


def preflight(ctx: ImportContext, plan: TablePlan) -> None:
    """Refuse (PlanError) when a default would contradict a CHECK for some source row."""
    risky = risky_defaults(plan)
    if not risky:
        return
    needed = sorted(
        {c for _, check in risky for c in check.columns} & {c.name for c in plan.columns}
    )
    at = [[c.name for c in plan.columns].index(n) for n in needed]
    cols = [plan.columns[i] for i in at]
    convs = ctx.converters_for(plan.target, cols, counted=False)
    temp = sql.Identifier(f"_pydal_preflight_{next(_preflight_ids)}")
    names = sql.SQL(", ").join(map(sql.Identifier, needed))
    total = 0
    with ctx.conn.cursor() as cur:
        cur.execute(
            sql.SQL("create temp table {} (like {} including defaults) on commit drop").format(
                temp, sql.Identifier(plan.target.name)
            )
        )
        for col in plan.target.columns:
            if col.not_null:
                cur.execute(
                    sql.SQL("alter table {} alter column {} drop not null").format(
                        temp, sql.Identifier(col.name)
                    )
                )
        read = [plan.source_columns[i] for i in at]
        with cur.copy(sql.SQL("copy {} ({}) from stdin").format(temp, names)) as copy:
            for batch in ctx.source.batches(plan.source, read, batch_size=ctx.batch_size):
                for raw in batch:
                    try:
                        copy.write_row([conv(v) for conv, v in zip(convs, raw, strict=True)])
                    except ConversionError:
                        continue  # a bad row anyway; reported when copied
                    total += 1
        try:
            for col, check in risky:
                # the expression is the server's own text of our schema's constraint
                row = cur.execute(
                    sql.SQL(
                        "select count(*) over (), {} from {} where not coalesce(({}), true) limit 1"
                    ).format(names, temp, sql.SQL(check.expr)),  # type: ignore[arg-type]
                ).fetchone()
                if row is not None:
                    example = ", ".join(f"{n}={v!r}" for n, v in zip(needed, row[1:], strict=True))
                    raise PlanError(
                        f"{plan.target.name}.{col.name}: SQLite table {plan.source.name} has no "
                        f"column {col.name!r}, and its default ({col.default_expr}) contradicts "
                        f"{check.name} ({check.expr}) for {row[0]:,} of {total:,} rows "
                        f"(e.g. {example}); nothing was copied. Declare how to derive it from "
                        f'the row ([[derive."{plan.target.name}.{col.name}"]] in the options '
                        "file), or add the column to the source"
                    )
        finally:
            cur.execute(sql.SQL("drop table if exists {}").format(temp))
