"""The old two-table agent-runtime layout (seed 001), expanded into the four new tables.

The old SQLAlchemy models (``data/agent_runtime.db`` before the normalisation)::

    sessions(session_id VARCHAR PK, messages TEXT -- JSON list, last_activity DATETIME,
             created_at DATETIME)
    agent_contexts(session_id VARCHAR PK, current_agent VARCHAR, agent_history TEXT -- JSON
                   list, context_metadata TEXT -- JSON object, created_at DATETIME,
                   last_switch_at DATETIME, switch_count INTEGER)

are recognised by their columns (``sessions`` with ``session_id`` and ``messages`` and
no ``id``; ``agent_contexts`` with ``session_id`` and ``agent_history``) and become:

* ``sessions``: one row per old session (id from the target's identity sequence; a
  dry run or a rollback does not give those ids back),
  created_at and last_activity as they were, live (is_active, no deleted_at);
* ``messages``: one row per element of the JSON list, ``seq`` = its 0-based position;
  role, content, name, tool_call_id, tool_calls, token_count as in the element,
  ``metadata`` -> metadata_json, any other keys kept in metadata_json under
  ``legacy_fields``; ``timestamp`` from the element if it has one, else the session's
  last_activity (the old layout stored no per-message time). Each element goes through
  the agent runtime's own message rules (:mod:`.rules`), the ones ``save_session``
  applies: a null content without tool_calls becomes '', an empty ``name``,
  ``tool_call_id`` or ``tool_calls`` is absent -- so a list loaded and saved back writes
  nothing;
* ``agent_contexts``: current_agent, created_at, switch_count, context_metadata ->
  metadata_json ('{}' when null), updated_at = last_switch_at or created_at;
* ``agent_switches``: one row per element of agent_history: ``from``/``from_agent``,
  ``to``/``to_agent`` (default: current_agent), ``timestamp``/``switched_at`` (default:
  last_switch_at, else created_at), ``reason``, ``metadata`` (other keys under
  ``legacy_fields``).

Conflicts are judged by ``session_id``: with on_conflict ``skip`` a session the target
already has is skipped with its messages, its agent context and its switches. After
copying, the number of messages of every imported session and of switches of every
imported context is compared with the JSON lists in the file.
"""

from __future__ import annotations

from ..catalog import TargetTable
from ..context import ImportContext
from ..source import Expr, SourceTable, quote
from .common import actual
from .expander import Expander

__all__ = ["Expander", "derived_columns", "detect_legacy"]


def _lower_columns(table: SourceTable | None) -> set[str]:
    return {c.lower() for c in table.columns} if table is not None else set()


def is_legacy_sessions(table: SourceTable | None) -> bool:
    """``sessions`` holding session_id and a JSON ``messages`` list (no surrogate id)."""
    cols = _lower_columns(table)
    return {"session_id", "messages"} <= cols and "id" not in cols


def is_legacy_contexts(table: SourceTable | None) -> bool:
    """``agent_contexts`` keyed by session_id with a JSON ``agent_history`` list."""
    cols = _lower_columns(table)
    return {"session_id", "agent_history"} <= cols and "session_db_id" not in cols


# child table -> (key column it carries since 0016, parent table, column naming the parent)
_PARENT_KEYS = {
    "agent_switches": ("session_db_id", "agent_contexts", "context_db_id"),
    "poc_subtask_executions": ("task_execution_id", "poc_execution_plans", "plan_id"),
}


def derived_columns(target: TargetTable, source: SourceTable) -> dict[str, Expr]:
    """Columns of the target layout that the SQLAlchemy version did not have.

    ``agent_switches.session_db_id`` and ``poc_subtask_executions.task_execution_id``
    (the distribution keys 0016 added) come from the parent row in the same file.

    The SQLAlchemy ``messages`` table has no ``seq``; the target orders a session's
    messages by it. It is derived as the 0-based position by (timestamp, id) within the
    session, the order the old code read them in.
    """
    cols = _lower_columns(source)
    parent = _PARENT_KEYS.get(target.name)
    if parent is not None and parent[0] in target.by_name and parent[0] not in cols:
        column, parent_table, via = parent
        if via in cols:
            # 0016 put the Citus key into these children; older files have only the
            # parent's id, so the key is read from the parent row in the same file
            # identifiers only, quoted: _PARENT_KEYS and the file's own table and column
            return {
                column: Expr(
                    f"(select p.{quote(column)} from {quote(parent_table)} as p"  # noqa: S608
                    f" where p.{quote('id')} = {quote(source.name)}.{quote(actual(source, via))})"
                )
            }
    if (
        target.name == "messages"
        and "seq" in target.by_name
        and "seq" not in cols
        and {"session_db_id", "timestamp", "id"} <= cols
    ):
        return {
            "seq": Expr(
                "row_number() over (partition by "
                + quote(actual(source, "session_db_id"))
                + " order by "
                + quote(actual(source, "timestamp"))
                + ", "
                + quote(actual(source, "id"))
                + ") - 1"
            )
        }
    return {}


def detect_legacy(ctx: ImportContext, chosen: dict[str, SourceTable]) -> Expander | None:
    """The expander when the chosen SQLite tables use the old layout, else None."""
    sessions = chosen.get("sessions")
    contexts = chosen.get("agent_contexts")
    old_sessions = sessions if is_legacy_sessions(sessions) else None
    old_contexts = contexts if is_legacy_contexts(contexts) else None
    if old_sessions is None and old_contexts is None:
        return None
    ctx.report.legacy_agent_runtime = True
    return Expander(ctx, old_sessions, old_contexts)
