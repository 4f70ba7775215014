"""Test harness: every test gets a migrated, isolated database on a real PostgreSQL.

The server is the first of:
1. ``PYDAL_TEST_DSN`` (tests create and drop their own databases there);
2. a Docker engine: testcontainers' PostgresContainer with ``TIMESCALE_IMAGE``;
3. the embedded server from the ``embedded`` extra, in a temporary directory.

``schema/`` is migrated once into a template database with the real runner; each
test that asks for ``dsn`` / ``conn`` / ``aconn`` gets a fresh ``CREATE DATABASE ...
TEMPLATE`` clone (about 50-100 ms), so tests may commit and open several connections.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pydal_lite import migrate
from pydal_lite.connection import AsyncConnection, Connection, aconnect, connect
from pydal_lite.dsn import describe, with_database

# Pinned: TimescaleDB 2.17.2 on PostgreSQL 16 (the harness' Docker path).
TIMESCALE_IMAGE = "timescale/timescaledb:2.17.2-pg16"
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@dataclass
class Server:
    """The server the session runs on."""

    dsn: str  # admin connection (maintenance database)
    kind: str  # "PYDAL_TEST_DSN" | "docker" | "embedded"
    version: str = ""
    version_num: int = 0
    timescale: str | None = None  # available TimescaleDB version, if loadable


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers; the reason when it does not."""
    try:
        import docker  # testcontainers depends on it

        docker.from_env(timeout=3).ping()
    except Exception as exc:
        return False, f"no Docker engine reachable ({type(exc).__name__})"
    return True, ""


def start_container() -> tuple[str, Any]:
    """Start the pinned TimescaleDB image; return a psycopg 3 URL and the container."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer
    # driver=None: a plain postgresql:// URL (the default is for psycopg2)
    container = PostgresContainer(TIMESCALE_IMAGE, driver=None)
    container.start()
    return container.get_connection_url(), container


def _probe(server: Server) -> None:
    try:
        with psycopg.connect(server.dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "select version(), current_setting('server_version_num')::int,"
                " (select default_version from pg_available_extensions where name = 'timescaledb'),"
                " current_setting('shared_preload_libraries')"
            ).fetchone()
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"cannot reach the test server ({server.kind}, {describe(server.dsn)}): {exc}",
            returncode=3,
        )
    assert row is not None
    server.version, server.version_num = row[0], row[1]
    server.timescale = row[2] if row[2] and "timescaledb" in (row[3] or "") else None


_server: Server | None = None
_cleanup: list[Any] = []


def get_server() -> Server:
    global _server
    if _server is not None:
        return _server
    explicit = os.environ.get("PYDAL_TEST_DSN")
    if explicit:
        server = Server(explicit, "PYDAL_TEST_DSN")
    elif docker_available()[0]:
        url, container = start_container()
        _cleanup.append(container.stop)
        server = Server(url, "docker")
    else:
        from pydal_lite import embedded

        datadir = Path(tempfile.mkdtemp(prefix="pydal_test_pg_")) / "data"
        server = Server(embedded.start(datadir, keep_running=False).dsn, "embedded")
    _probe(server)
    _server = server
    return server


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = get_server()
    return [
        f"pydal_lite test server: {s.kind} {describe(s.dsn)}",
        f"  {s.version}",
        f"  TimescaleDB: {s.timescale or 'not available'}",
    ]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker"):
        ok, reason = docker_available()
        if not ok:
            pytest.skip(f"needs a Docker engine for testcontainers: {reason}")
    if item.get_closest_marker("timescale") and not get_server().timescale:
        pytest.skip(
            "needs TimescaleDB: this server has no loadable timescaledb extension "
            "(run with PYDAL_TEST_DSN pointing at a TimescaleDB server, or a Docker engine)"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for stop in reversed(_cleanup):
        stop()


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(get_server().dsn, autocommit=True)


def create_database(name: str, template: str = "template0") -> str:
    with _admin() as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return with_database(get_server().dsn, name)


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def server() -> Server:
    return get_server()


@pytest.fixture(scope="session")
def template_db(server: Server) -> Iterator[str]:
    """Name of a database migrated to the newest version by the real runner."""
    name = f"pydal_tmpl_{RUN_ID}"
    dsn = create_database(name)
    try:
        migrate.up(dsn)
        # Clones need a template nobody is connected to; TimescaleDB's scheduler
        # reconnects to every database that has the extension, so lock it out.
        with _admin() as conn:
            conn.execute(
                sql.SQL("alter database {} with allow_connections false").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def new_database() -> Iterator[Any]:
    """Factory: ``new_database(template)`` returns the DSN of a new database, dropped after."""
    made: list[str] = []

    def make(template: str = "template0") -> str:
        name = f"pydal_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        return create_database(name, template)

    yield make
    for name in made:
        drop_database(name)


@pytest.fixture
def empty_dsn(new_database: Any) -> str:
    """A fresh database with nothing migrated."""
    return str(new_database())


@pytest.fixture
def dsn(new_database: Any, template_db: str) -> str:
    """A fresh clone of the migrated template database."""
    return str(new_database(template_db))


@pytest.fixture
def conn(dsn: str) -> Iterator[Connection]:
    """A dict-row connection (not autocommit) to a fresh migrated database."""
    with connect(dsn) as c:
        yield c


@pytest.fixture
async def aconn(dsn: str) -> AsyncIterator[AsyncConnection]:
    """An async dict-row connection to a fresh migrated database."""
    c = await aconnect(dsn)
    try:
        yield c
    finally:
        await c.close()
