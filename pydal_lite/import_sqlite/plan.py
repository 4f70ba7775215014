"""How one SQLite table goes into one target table: columns matched, derived or filled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import TargetColumn, TargetTable
from .derive import BUILTIN, derivation
from .errors import PlanError
from .options import ImportOptions
from .source import Expr, SourceTable

NULL = Expr("NULL")


@dataclass
class TablePlan:
    """How one SQLite table goes into one target table."""

    target: TargetTable
    source: SourceTable
    columns: list[TargetColumn]  # target columns written, in order
    source_columns: list[str]  # the SQLite column (or expression) read for each of them
    key_columns: list[str]  # the SQLite columns that name a row in messages
    ignored: list[str] = field(default_factory=list)
    # column index -> (positions in the read row of its inputs, the derivation)
    computed: dict[int, tuple[list[int], Callable[[Sequence[Any]], Any]]] = field(
        default_factory=dict
    )
    derived: dict[str, str] = field(default_factory=dict)  # column -> "from a, b"
    inputs: list[str] = field(default_factory=list)  # source columns derivations read

    @property
    def read_columns(self) -> list[str]:
        extra = [k for k in [*self.key_columns, *self.inputs] if k not in self.source_columns]
        return self.source_columns + list(dict.fromkeys(extra))

    def prepare(self, raw: Sequence[Any]) -> Sequence[Any]:
        """The read row with the derived columns filled in."""
        if not self.computed:
            return raw
        row = list(raw)
        for i, (at, derive) in self.computed.items():
            row[i] = derive([raw[j] for j in at])
        return row


def plan_table(
    target: TargetTable,
    source: SourceTable,
    derived: dict[str, Expr] | None = None,
    options: ImportOptions | None = None,
) -> TablePlan:
    """Match columns by name (case-insensitively); derive, fill or refuse the rest.

    ``derived`` gives SQLite expressions for target columns the source lacks; a column
    still missing is derived from the row (:mod:`.derive`), filled with a declared
    value, left to its default, or -- not null without a default -- a PlanError.
    """
    options = options or ImportOptions()
    source_by_lower = {c.lower(): c for c in source.columns}
    by_lower = dict(source_by_lower)
    derived = derived or {}
    columns: list[TargetColumn] = []
    source_columns: list[str] = []
    derivations: dict[str, tuple[list[str], Callable[[Sequence[Any]], Any]]] = {}
    for col in target.columns:
        where = f"{target.name}.{col.name}"
        src: str | None = by_lower.pop(col.name.lower(), None)
        if src is None and col.name in derived:
            src = derived[col.name]
        if col.generated:
            continue
        if src is not None:
            columns.append(col)
            source_columns.append(src)
            continue
        if col.identity:
            continue
        cases = options.derive.get(where)
        if cases is None and where in BUILTIN:
            wanted = {c.lower() for case in BUILTIN[where] for c in case.columns()}
            cases = BUILTIN[where] if wanted <= set(source_by_lower) else None
        if cases is not None:
            derivations[col.name] = derivation(cases, where, source_by_lower)
            columns.append(col)
            source_columns.append(NULL)
        elif where in options.fill:
            columns.append(col)
            source_columns.append(NULL)
        elif col.not_null and not col.has_default:
            raise PlanError(
                f"target column {where} is not null and has no default, "
                f"but SQLite table {source.name} has no column {col.name!r} "
                f"(a different table of the same name? leave it out with --tables; "
                f"or give every row a value with --fill {where}=VALUE)"
            )
    if not columns:
        raise PlanError(f"SQLite table {source.name} shares no column with target {target.name}")
    plan = TablePlan(
        target=target,
        source=source,
        columns=columns,
        source_columns=source_columns,
        key_columns=list(source.key_columns()),
        ignored=sorted(by_lower.values()),
    )
    plan.inputs = list(dict.fromkeys(n for names, _ in derivations.values() for n in names))
    read = plan.read_columns
    names = [c.name for c in columns]
    for name, (inputs, fn) in derivations.items():
        plan.computed[names.index(name)] = ([read.index(n) for n in inputs], fn)
        plan.derived[name] = "from " + (", ".join(inputs) or "nothing (a constant)")
    return plan
