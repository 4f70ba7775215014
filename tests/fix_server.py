"""Test server: which PostgreSQL the session runs on, started if need be.

The server is the first of:
1. ``PYDAL_TEST_DSN`` (tests create and drop their own databases there);
2. a Docker engine: testcontainers' PostgresContainer with ``TIMESCALE_IMAGE``;
3. the embedded server from the ``embedded`` extra, in a temporary directory.

Under pytest-xdist the controller chooses (and starts) it and its workers share it.

An unreachable server stops the run once, with one message. Markers ``docker`` and
``timescale`` skip, with the reason, where the session's server lacks them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgcluster import scratch_dir
from psycopg import sql

from pydal_lite.dsn import describe

# Pinned: TimescaleDB 2.17.2 on PostgreSQL 16 (the harness' Docker path).
TIMESCALE_IMAGE = "timescale/timescaledb:2.17.2-pg16"


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


def _throwaway_settings(dsn: str) -> None:
    """The embedded test server lives in a temporary directory that is removed after the
    run: it need not survive a crash, so it skips fsync (creating and dropping a test
    database then costs milliseconds instead of waiting for the disk)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("alter system set {} = off").format(sql.Identifier(name)))
        conn.execute("select pg_reload_conf()")


_server: Server | None = None
_cleanup: list[Any] = []


def get_server() -> Server:
    """The session's server, chosen (and started) on first use."""
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

        # tmpfs where there is room: CREATE DATABASE writes ~1,000 files per clone, and
        # on a disk the kernel's share of that made each clone cost ~0.2 s of CPU (~0.03 s)
        root = Path(tempfile.mkdtemp(prefix="pydal_test_pg_", dir=scratch_dir()))
        server = Server(embedded.start(root / "data", keep_running=False).dsn, "embedded")
        _throwaway_settings(server.dsn)

        def remove() -> None:
            embedded.stop(root / "data")
            shutil.rmtree(root, ignore_errors=True)

        _cleanup.append(remove)
    _probe(server)
    _server = server
    return server


# pytest-xdist: the workers use the controller's server (one embedded server or container
# per run, not one per worker); each worker makes its own databases (RUN_ID has its pid).
_XDIST_KEY = "pydal_test_server"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    s = get_server()
    node.workerinput[_XDIST_KEY] = {"dsn": s.dsn, "kind": s.kind}


def pytest_configure(config: pytest.Config) -> None:
    global _server
    given = getattr(config, "workerinput", {}).get(_XDIST_KEY)
    if given and _server is None:
        server = Server(given["dsn"], given["kind"])
        _probe(server)
        _server = server


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


@pytest.fixture(scope="session")
def server() -> Server:
    return get_server()


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    """A path for a test's own embedded server, outside pytest's temporary directories:
    pytest makes ``pytest-of-<user>`` private again whenever a session or an xdist worker
    starts, and as root the server runs as another user, who then cannot reach its data."""
    root = Path(tempfile.mkdtemp(prefix="pydal_embedded_", dir=scratch_dir()))
    try:
        yield root / "embedded"
    finally:
        shutil.rmtree(root, ignore_errors=True)
