"""``baseline VERSION``: adopt a database built without the runner, after checking it.

Flyway's ``baseline`` and Alembic's ``stamp`` take the operator's word. Here the files
up to VERSION are applied to a scratch database on the same server, both catalogs are
compared (:mod:`.catalog`), and the versions are recorded only when nothing differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from ..dsn import with_database
from .bookkeeping import Bookkeeping, actor
from .catalog import differences, snapshot
from .connect import connect
from .errors import BaselineRefused, UnknownVersion
from .files import Migration, SchemaFolder
from .lock import advisory_lock
from .plan import version_of
from .runner import Migrator, Options


def _quiet(_: str) -> None:
    pass


def baseline(
    conn: psycopg.Connection[Any],
    dsn: str,
    folder: SchemaFolder,
    version: str,
    *,
    out: Callable[[str], None] = _quiet,
) -> list[Migration]:
    """Record every file up to ``version`` as applied if the database matches them.

    ``conn`` is an autocommit connection to the database behind ``dsn``; the scratch
    database is created on the same server (the role needs CREATEDB) and dropped.
    """
    migrator = Migrator(conn, Options(out=out), folder=folder)
    book: Bookkeeping = migrator.book
    found = version_of(version, [m.version for m in folder.migrations], option="version")
    if found is None:
        raise UnknownVersion(f"{version!r}: no migration file has that version", option="version")
    adopted = [m for m in folder.migrations if int(m.version) <= int(found)]
    with advisory_lock(conn, out):
        recorded = book.applied()
        if recorded:
            raise BaselineRefused(
                f"the database already records applied versions ({', '.join(sorted(recorded))}):"
                " baseline adopts only a database without history"
            )
        expected = _expected(conn, dsn, folder, found, out)
        found_diff = differences(snapshot(conn), expected)
        if found_diff:
            raise BaselineRefused(
                f"the database does not match the files up to {found} "
                f"({len(found_diff)} difference(s)); nothing recorded:\n  "
                + "\n  ".join(found_diff),
                differences=found_diff,
            )
        book.ensure()
        who = actor(conn)
        with conn.transaction():
            for mig in adopted:
                book.adopt(mig.version, mig.name, mig.checksum, who)
    out(f"baseline: recorded {len(adopted)} version(s) up to {found}, catalog verified")
    return adopted


def _expected(
    conn: psycopg.Connection[Any],
    dsn: str,
    folder: SchemaFolder,
    version: str,
    out: Callable[[str], None],
) -> dict[tuple[str, str], str]:
    """The catalog the files up to ``version`` build, from a scratch database."""
    name = f"pydal_baseline_{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BaselineRefused(
            f"cannot create a scratch database to compare against: {exc.diag.message_primary}"
        ) from None
    try:
        out(f"baseline: applying the files up to {version} to scratch database {name}")
        with connect(with_database(dsn, name)) as scratch:
            Migrator(scratch, Options(out=_quiet), folder=folder).up(version)
            return snapshot(scratch)
    finally:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
