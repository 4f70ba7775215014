"""The old layout as an :class:`~..context.Expansion`: plan, overlaps, copy, verify."""

from __future__ import annotations

from typing import Any

from ..source import SourceTable
from ..verify import count_problems, refuse
from .common import CONTEXT_COLUMNS, MESSAGE_COLUMNS, SESSION_COLUMNS, SWITCH_COLUMNS, require
from .contexts import run_contexts
from .sessions import run_sessions
from .state import LegacyState


class Expander(LegacyState):
    """Streams the old layout into sessions, messages, agent_contexts and agent_switches."""

    name = "the old agent-runtime layout (sessions.messages, agent_contexts.agent_history)"

    def check_target(self) -> None:
        """Plan the four outputs and count their source rows, before anything is copied."""
        if self.sessions is not None:
            require(self.sessions, ("session_id", "messages"))
            self.outs["sessions"] = self.out(
                "sessions",
                SESSION_COLUMNS,
                self.sessions.name,
                self.ctx.source.count(self.sessions),
            )
            self.outs["messages"] = self.out(
                "messages",
                MESSAGE_COLUMNS,
                f"{self.sessions.name}.messages",
                self.total_items(self.sessions, "messages"),
            )
        if self.contexts is not None:
            require(self.contexts, ("session_id", "current_agent", "agent_history"))
            self.outs["agent_contexts"] = self.out(
                "agent_contexts",
                CONTEXT_COLUMNS,
                self.contexts.name,
                self.ctx.source.count(self.contexts),
            )
            self.outs["agent_switches"] = self.out(
                "agent_switches",
                SWITCH_COLUMNS,
                f"{self.contexts.name}.agent_history",
                self.total_items(self.contexts, "agent_history"),
            )
        for name in self.outs:
            self.before[name] = self.ctx.count_target(name)

    def overlaps(self) -> list[tuple[str, str, int, Any]]:
        """Old sessions whose session_id the target has (old contexts whose session already
        has a context, when the sessions are not part of this import)."""
        found: list[tuple[str, str, int, Any]] = []
        if self.sessions is not None and self.before["sessions"]:
            count, example = 0, None
            for batch in self.rows_of(self.sessions, ("session_id",)):
                hit = sorted(self.session_ids([r["session_id"] for r in batch]))
                count += len(hit)
                example = example or (hit and {"session_id": hit[0]}) or None
            if count:
                found.append(("sessions", "session_id", count, example))
        if self.contexts is not None and self.sessions is None and self.before["agent_contexts"]:
            count, example = 0, None
            for batch in self.rows_of(self.contexts, ("session_id",)):
                ids = self.session_ids([r["session_id"] for r in batch])
                taken = self.with_context(list(ids.values()))
                hit = sorted(sid for sid, i in ids.items() if i in taken)
                count += len(hit)
                example = example or (hit and {"session_id": hit[0]}) or None
            if count:
                found.append(("agent_contexts", "session_db_id", count, example))
        return found

    def run_before(self) -> None:
        run_sessions(self)

    def run_after(self) -> None:
        run_contexts(self)

    def verify(self) -> None:
        """Per-table counts, and the length of every imported list against the target."""
        problems: list[str] = []
        for name, out in self.outs.items():
            added = self.ctx.count_target(name) - self.before[name]
            problems += count_problems(name, out.counts, added)
        if self.sessions is not None:
            problems += self._per_parent(
                self.sessions,
                "messages",
                self.existing_sessions | self.bad_sessions,
                self.messages_dropped.by_session,
                "select s.session_id, count(m.id) from sessions s"
                " left join messages m on m.session_db_id = s.id"
                " where s.session_id = any(%s) group by s.session_id",
                "messages",
            )
        if self.contexts is not None:
            problems += self._per_parent(
                self.contexts,
                "agent_history",
                self.existing_contexts | self.bad_contexts,
                self.switches_dropped.by_session,
                "select s.session_id, count(w.id) from sessions s"
                " join agent_contexts c on c.session_db_id = s.id"
                " left join agent_switches w on w.context_db_id = c.id"
                " where s.session_id = any(%s) group by s.session_id",
                "agent switches",
            )
        refuse(problems)

    def _per_parent(
        self,
        table: SourceTable,
        column: str,
        skipped: set[str],
        dropped: dict[Any, int],
        query: str,
        what: str,
    ) -> list[str]:
        problems: list[str] = []
        expected: dict[str, int] = {}

        def check() -> None:
            rows = self.ctx.conn.execute(query, (list(expected),)).fetchall()
            got = {r[0]: int(r[1]) for r in rows}
            for sid, n in expected.items():
                if got.get(sid) != n:
                    problems.append(
                        f"session {sid!r}: {n} {what} expected in the target, "
                        f"found {got.get(sid, 0)}"
                    )
            expected.clear()

        for sid, length in self.lengths(table, column):
            if sid in skipped or length is None:
                continue
            expected[sid] = length - dropped.get(sid, 0)
            if len(expected) >= self.ctx.batch_size:
                check()
        if expected:
            check()
        return problems
