"""The test harness itself: server choice, template cloning, the Docker path."""

from __future__ import annotations

import psycopg
import pytest
from conftest import TIMESCALE_IMAGE, Server, docker_available, start_container

from pydal_lite.connection import Connection


def test_each_test_gets_its_own_database(conn: Connection, template_db: str) -> None:
    name = conn.execute("select current_database() as db").fetchone()
    assert name is not None and name["db"] != template_db
    conn.execute("create table only_here (id int)")
    conn.commit()


def test_a_clone_does_not_see_other_tests_tables(conn: Connection) -> None:
    assert conn.execute("select to_regclass('only_here') as t").fetchone() == {"t": None}


def test_clones_are_migrated(conn: Connection) -> None:
    row = conn.execute("select count(*) as n from schema_migrations").fetchone()
    assert row is not None and row["n"] >= 1


def test_server_facts_are_known(server: Server) -> None:
    assert server.kind in ("PYDAL_TEST_DSN", "docker", "embedded")
    assert server.version_num >= 140000 and server.version.startswith("PostgreSQL")


def test_docker_probe_answers_quickly_either_way() -> None:
    ok, reason = docker_available()
    assert ok or "Docker" in reason


@pytest.mark.docker
def test_testcontainers_timescaledb_image_gives_a_psycopg3_url() -> None:
    url, container = start_container()
    try:
        assert url.startswith("postgresql://"), "driver=None must give a plain URL, not +psycopg2"
        with psycopg.connect(url) as conn:
            conn.execute("create extension if not exists timescaledb")
            row = conn.execute(
                "select extversion from pg_extension where extname = 'timescaledb'"
            ).fetchone()
        assert row is not None and TIMESCALE_IMAGE.split(":")[1].startswith(row[0])
    finally:
        container.stop()
