"""What an EXPLAIN (VERBOSE) plan says about the nullability of a query's results."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Which child (by EXPLAIN's "Parent Relationship") an outer join may fill with NULLs;
# InitPlans and SubPlans are listed among the children too, so position is no guide.
_NULLABLE_SIDE = {"Left": ("Inner",), "Right": ("Outer",), "Full": ("Outer", "Inner")}
_WRITES = frozenset({"ModifyTable", "LockRows"})
_COLUMN_REF = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)$")
# Expressions EXPLAIN prints that can never be NULL.
_NEVER_NULL = (
    re.compile(r"^count\("),
    re.compile(r"^(row_number|rank|dense_rank|ntile|cume_dist|percent_rank)\(\)"),
    re.compile(r"^\(.* IS (NOT )?NULL\)$"),
    re.compile(r"^'.*'::\w[\w ]*$"),
    re.compile(r"^-?\d+(\.\d+)?$"),
    re.compile(r"^(true|false|now\(\)|CURRENT_TIMESTAMP|statement_timestamp\(\))$"),
)


@dataclass
class PlanFacts:
    """Relations by alias, the aliases an outer join may null, the top node's outputs."""

    relations: dict[str, str] = field(default_factory=dict)  # alias -> schema.relation
    nullable_aliases: set[str] = field(default_factory=set)
    nullable_relations: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)
    top: str = ""  # node type of the top plan node ("ModifyTable" for returning lists)
    writes: bool = False  # a ModifyTable (DML, also in a CTE) or LockRows (FOR UPDATE) node

    def column_ref(self, expression: str) -> tuple[str, str, bool] | None:
        """``(relation, column, outer-join nullable)`` when ``expression`` is ``alias.col``."""
        m = _COLUMN_REF.match(expression)
        if not m or m.group(1) not in self.relations:
            return None
        alias = m.group(1)
        return self.relations[alias], m.group(2), alias in self.nullable_aliases


def never_null(expression: str) -> bool:
    """Whether a result expression, as EXPLAIN prints it, can never be NULL."""
    text = expression.strip()
    if text.startswith("COALESCE(") and text.endswith(")"):
        last = _last_argument(text[len("COALESCE(") : -1])
        return last is not None and never_null(last)
    return any(p.match(text) for p in _NEVER_NULL)


def _last_argument(args: str) -> str | None:
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(args):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            start = i + 1
    return args[start:].strip() or None


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def plan_facts(plan: dict[str, Any]) -> PlanFacts:
    """Read one plan tree (the ``Plan`` object of EXPLAIN's JSON)."""
    facts = PlanFacts(outputs=[str(o) for o in plan.get("Output", [])], top=plan["Node Type"])
    for node in _nodes(plan):
        if node["Node Type"] in _WRITES:
            facts.writes = True
        if "Relation Name" in node and "Alias" in node:
            schema = node.get("Schema", "public")
            facts.relations[node["Alias"]] = f"{schema}.{node['Relation Name']}"
        sides = _NULLABLE_SIDE.get(node.get("Join Type", ""), ())
        for child in node.get("Plans", []):
            if child.get("Parent Relationship") in sides:
                for inner in _nodes(child):
                    if "Alias" in inner:
                        facts.nullable_aliases.add(inner["Alias"])
                    if "Relation Name" in inner:
                        schema = inner.get("Schema", "public")
                        facts.nullable_relations.add(f"{schema}.{inner['Relation Name']}")
    return facts
