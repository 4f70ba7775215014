"""A run killed inside a ``transaction:false`` part is finished by running ``up`` again.

The runner is a real subprocess killed with SIGKILL (or its server session terminated)
at points inside a file of ``CREATE INDEX CONCURRENTLY`` and other statements; the
next ``up`` must complete and leave no INVALID index.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pydal_lite import migrate
from pydal_lite.resources import schema_dir

NO_TX = (
    "-- migrate:up transaction:false\n"
    "set maintenance_work_mem = '8MB';\n"
    "create index concurrently t_v_idx on t (v);\n"
    "comment on index t_v_idx is 'by v';\n"
    "create index concurrently t_lower_v_idx on t (lower(v));\n"
    "alter table t add column w int;\n"
    "create unique index concurrently t_id_v_key on t (id, v);\n"
    "insert into t_log values ('0003 ran');\n"
    "-- migrate:down transaction:false\n"
    "drop index concurrently t_id_v_key;\n"
    "alter table t drop column w;\n"
    "drop index concurrently t_lower_v_idx;\n"
    "drop index concurrently t_v_idx;\n"
)
INDEXES = {"t_pkey", "t_v_idx", "t_lower_v_idx", "t_id_v_key"}


@pytest.fixture
def crash_schema(tmp_path: Path) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "0001_bootstrap.sql").write_bytes((schema_dir() / "0001_bootstrap.sql").read_bytes())
    (folder / "0002_create_t.sql").write_text(
        "-- migrate:up\n"
        "create table t (id int primary key, v text not null);\n"
        "insert into t select g, md5(g::text) from generate_series(1, 60000) g;\n"
        "create table t_log (what text);\n"
        "-- migrate:down\ndrop table t_log;\ndrop table t;\n"
    )
    (folder / "0003_add_t_indexes.sql").write_text(NO_TX)
    (folder / "0004_create_after.sql").write_text(
        "-- migrate:up\ncreate table after_t (id int);\n-- migrate:down\ndrop table after_t;\n"
    )
    return folder


def runner_cmd(dsn: str, folder: Path) -> list[str]:
    return [sys.executable, "-m", "pydal_lite.migrate", "--dsn", dsn, "--schema-dir", str(folder)]


def start_runner(dsn: str, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        runner_cmd(dsn, folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def runner_backend(admin: psycopg.Connection[Any], dsn: str) -> tuple[int, str, str] | None:
    """(pid, query, wait_event_type) of the runner's server session, if any."""
    row = admin.execute(
        "select pid, query, coalesce(wait_event_type, '') from pg_stat_activity"
        " where application_name = 'pydal_lite.migrate' and datname = %s",
        (psycopg.conninfo.conninfo_to_dict(dsn)["dbname"],),
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def wait_for(check: Callable[[], Any], timeout: float = 30.0, step: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {check}")


def backend_gone(admin: psycopg.Connection[Any], pid: int) -> bool:
    row = admin.execute("select count(*) from pg_stat_activity where pid = %s", (pid,)).fetchone()
    return row == (0,)


def assert_complete(dsn: str, folder: Path) -> None:
    """Every file applied once, every index valid, the 0003 insert ran once."""
    states = {s.version: s.state for s in migrate.status(dsn, schema_dir=folder)}
    assert states == {v: "applied" for v in ("0001", "0002", "0003", "0004")}, states
    with psycopg.connect(dsn) as conn:
        invalid = conn.execute(
            "select indexrelid::regclass::text from pg_index where not indisvalid"
        ).fetchall()
        assert invalid == []
        names = {
            r[0] for r in conn.execute("select indexname from pg_indexes where tablename = 't'")
        }
        assert names == INDEXES
        assert conn.execute("select count(*) from t_log").fetchone() == (1,)
        assert conn.execute("select count(*) from schema_migration_progress").fetchone() == (0,)
    ups = [e.version for e in migrate.history(dsn) if e.direction == "up"]
    assert sorted(ups) == ["0001", "0002", "0003", "0004"]


@pytest.fixture
def admin(empty_dsn: str) -> Any:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        yield conn


def _blocked_build(admin: psycopg.Connection[Any], dsn: str, folder: Path) -> Any:
    """Start a runner whose first index build waits on another session's snapshot."""
    migrate.up(dsn, schema_dir=folder, target="0002")
    blocker = psycopg.connect(dsn)
    blocker.execute("set transaction isolation level repeatable read")
    blocker.execute("select count(*) from t_log")  # holds a snapshot until rollback
    proc = start_runner(dsn, folder)

    def waiting() -> Any:
        b = runner_backend(admin, dsn)
        return b if b and "create index concurrently" in b[1] and b[2] == "Lock" else None

    pid = wait_for(waiting)[0]
    return proc, pid, blocker


def test_kill_while_index_build_waits_on_a_snapshot(
    admin: psycopg.Connection[Any], empty_dsn: str, crash_schema: Path
) -> None:
    proc, pid, blocker = _blocked_build(admin, empty_dsn, crash_schema)
    proc.kill()
    proc.wait(10)
    # the server notices the dead client (client_connection_check_interval) and aborts
    wait_for(lambda: backend_gone(admin, pid), timeout=15)
    row = admin.execute("select indisvalid from pg_index where indexrelid = 't_v_idx'::regclass")
    assert row.fetchone() == (False,), "the killed build left an INVALID index"
    blocker.rollback()
    blocker.close()
    assert [m.version for m in migrate.up(empty_dsn, schema_dir=crash_schema)] == ["0003", "0004"]
    assert_complete(empty_dsn, crash_schema)


def test_terminated_session_inside_index_build_resumes(
    admin: psycopg.Connection[Any], empty_dsn: str, crash_schema: Path
) -> None:
    proc, pid, blocker = _blocked_build(admin, empty_dsn, crash_schema)
    admin.execute("select pg_terminate_backend(%s)", (pid,))
    _, err = proc.communicate(timeout=30)
    blocker.rollback()
    blocker.close()
    assert proc.returncode == 1, err
    assert "lost the server connection" in err and "resumes" in err
    lines: list[str] = []
    migrate.up(empty_dsn, schema_dir=crash_schema, out=lines.append)
    assert any("dropped the INVALID index t_v_idx" in line for line in lines), lines
    assert_complete(empty_dsn, crash_schema)


# kill points inside 0003: after the progress row (statement index, state) appears. Two
# run by default (inside an index build, after a plain statement); the other four, a
# second or two each (a runner process, index builds over 60,000 rows), in the slow line.
_SLOW = pytest.mark.slow
POINTS = [
    (1, "started"),
    pytest.param(1, "done", marks=_SLOW),
    pytest.param(2, "done", marks=_SLOW),
    pytest.param(3, "started", marks=_SLOW),
    (4, "done"),
    pytest.param(5, "started", marks=_SLOW),
]


@pytest.mark.parametrize(("index", "state"), POINTS)
def test_kill_at_a_point_inside_the_file_then_up_completes(
    admin: psycopg.Connection[Any],
    empty_dsn: str,
    crash_schema: Path,
    index: int,
    state: str,
) -> None:
    migrate.up(empty_dsn, schema_dir=crash_schema, target="0002")
    proc = start_runner(empty_dsn, crash_schema)

    def reached() -> bool:
        row = admin.execute(
            "select 1 from schema_migration_progress where version = '0003'"
            " and statement = %s and state = any(%s)",
            (index, ["done"] if state == "done" else ["started", "done"]),
        ).fetchone()
        return row is not None or proc.poll() is not None

    wait_for(reached, step=0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    states = {s.version: s.state for s in migrate.status(empty_dsn, schema_dir=crash_schema)}
    assert states["0003"] == "interrupted", "the kill landed outside the file"
    migrate.up(empty_dsn, schema_dir=crash_schema)
    assert_complete(empty_dsn, crash_schema)


@pytest.mark.slow
def test_kill_at_random_moments_of_a_whole_run(
    new_database: Any, crash_schema: Path, request: pytest.FixtureRequest
) -> None:
    """Randomized: SIGKILL after a random delay, repeatedly; every rerun completes."""
    rng = random.Random(int(os.environ.get("PYDAL_KILL_SEED", "20240611")))
    trials = int(os.environ.get("PYDAL_KILL_TRIALS", "30"))
    # how long an uninterrupted run takes, to spread the kills over it
    probe = new_database()
    started = time.monotonic()
    subprocess.run(runner_cmd(probe, crash_schema), capture_output=True, check=True)
    span = time.monotonic() - started
    recovered = inside = 0
    for _ in range(trials):
        dsn = new_database()
        proc = start_runner(dsn, crash_schema)
        time.sleep(rng.uniform(0.2, span))
        proc.kill()
        proc.wait(10)
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "select count(*) from pg_tables where tablename = 'schema_migration_progress'"
            ).fetchone()
            if row == (1,):
                left = conn.execute("select count(*) from schema_migration_progress").fetchone()
                inside += bool(left and left[0])
        migrate.up(dsn, schema_dir=crash_schema)
        assert_complete(dsn, crash_schema)
        recovered += 1
    print(f"\nkill test: {trials} trials, {inside} killed inside 0003, {recovered} recovered")
    assert recovered == trials
