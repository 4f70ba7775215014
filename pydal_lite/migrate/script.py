"""``--dry-run``: the run as a script psql can execute as it is.

The script takes the same advisory lock, sets the same timeouts, wraps each
transactional part with its version-table writes in ``BEGIN``/``COMMIT`` and writes
the version rows of a ``transaction:false`` part after its statements, so a DBA can
review it, or run it with ``psql -f`` and get what the runner would have done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from .bookkeeping import Bookkeeping
from .files import Migration, Part, SchemaFolder
from .lock import LOCK_KEY
from .plan import VersionStatus

ACTOR = "current_user || ' (psql script)'"


def _part_sql(part: Part) -> str:
    text = part.sql.rstrip()
    statements = part.statements()
    if statements and not statements[-1].sql.rstrip().endswith(";"):
        text += "\n;"
    return text


def render(
    conn: psycopg.Connection[Any],
    book: Bookkeeping,
    folder: SchemaFolder,
    plan: list[Migration],
    direction: str,
    accepted: list[VersionStatus],
    session_settings: Callable[..., dict[str, str]],
) -> list[str]:
    """The lines of the script for ``plan`` (``direction`` is up or down)."""
    if not plan:
        what = "nothing to apply" if direction == "up" else "nothing to roll back"
        return [f"-- dry run: {what}"]

    def lit(value: object) -> str:
        return sql.Literal(value).as_string(conn)

    def text(template: str, **values: object) -> str:
        literals: dict[str, sql.Composable] = {k: sql.Literal(v) for k, v in values.items()}
        return book.q(template, actor=sql.SQL(ACTOR), **literals).as_string(conn) + ";"

    def settings(*, lock_timeout: float | None = None) -> list[str]:
        return [
            f"set {name} = {lit(value)};"
            for name, value in session_settings(lock_timeout=lock_timeout).items()
        ]

    def event(mig: Migration | VersionStatus, kind: str, checksum: str) -> str:
        return text(
            "insert into {history} (version, name, direction, checksum, actor, execution_ms)"
            " values ({v}, {n}, {d}, {c}, {actor}, 0)",
            v=mig.version,
            n=mig.name,
            d=kind,
            c=checksum,
        )

    def record(mig: Migration) -> list[str]:
        if direction == "up":
            row = text(
                "insert into {versions} (version, name, checksum, applied_by, execution_ms)"
                " values ({v}, {n}, {c}, {actor}, 0)",
                v=mig.version,
                n=mig.name,
                c=mig.checksum,
            )
        else:
            row = text("delete from {versions} where version = {v}", v=mig.version)
        return [row, event(mig, direction, mig.checksum)]

    key = lit(LOCK_KEY)
    lines = [
        f"-- pydal_lite migration script: {direction}, {len(plan)} file(s), written by --dry-run",
        '-- run it with: psql -X -f THIS_FILE "$DATABASE_URL"',
        "\\set ON_ERROR_STOP on",
        f"select pg_advisory_lock({key});",
        *settings(),
    ]
    create = book.create_statements()
    if create:
        lines += ["", "-- the runner's own tables", "begin;"]
        lines += [f"{s.as_string(conn)};" for s in create]
        lines.append("commit;")
    if accepted:
        lines += ["", "-- drift accepted: record the files' current checksums", "begin;"]
        for s in accepted:
            checksum = folder.by_version()[s.version].checksum
            lines.append(
                text(
                    "update {versions} set checksum = {c} where version = {v}",
                    c=checksum,
                    v=s.version,
                )
            )
            lines.append(event(s, "accept", checksum))
        lines.append("commit;")
    for mig in plan:
        part = mig.up if direction == "up" else mig.down
        assert part is not None
        lines.append("")
        if part.transaction:
            lines += [f"-- dry run: {direction} {mig.path.name}", "begin;", _part_sql(part)]
            lines += [*record(mig), "commit;"]
        else:
            lines += [
                f"-- dry run: {direction} {mig.path.name}"
                " (transaction:false, statement by statement)",
                *settings(lock_timeout=0),
                _part_sql(part),
                "begin;",
                *record(mig),
                "commit;",
            ]
        lines += ["reset all;", *settings()]
    lines += ["", f"select pg_advisory_unlock({key});"]
    return lines
