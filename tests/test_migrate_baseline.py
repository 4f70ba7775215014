"""``baseline VERSION`` checks the database against the files; ``dump`` is stable."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from pydal_lite import migrate
from pydal_lite.migrate import cli
from pydal_lite.migrate.backup import find_pg_dump
from pydal_lite.migrate.errors import BaselineRefused
from pydal_lite.resources import schema_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def forget_the_runner(dsn: str) -> None:
    """What a restored dump or an older system leaves: the schema, no history."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "drop table schema_migrations, schema_migration_history, schema_migration_progress"
        )


@pytest.fixture
def small_schema(tmp_path: Path) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    shutil.copy(schema_dir() / "0001_bootstrap.sql", folder)
    (folder / "0002_create_items.sql").write_text(
        "-- migrate:up\n"
        "create table items (\n"
        "    id bigint generated always as identity primary key,\n"
        "    name text not null constraint items_name_check check (name <> ''),\n"
        "    updated_at timestamptz not null default now()\n"
        ");\n"
        "create index items_name_idx on items (lower(name));\n"
        "create trigger items_100_set_updated_at before update on items\n"
        "    for each row execute function set_updated_at();\n"
        "-- migrate:down\ndrop table items;\n"
    )
    (folder / "0003_create_tags.sql").write_text(
        "-- migrate:up\ncreate table tags (id int primary key);\n"
        "-- migrate:down\ndrop table tags;\n"
    )
    return folder


def test_baseline_of_a_matching_database_records_it_and_verify_passes(
    capsys: pytest.CaptureFixture[str], empty_dsn: str
) -> None:
    migrate.up(empty_dsn)
    forget_the_runner(empty_dsn)
    newest = migrate.load_dir(schema_dir())[-1].version
    code, out, err = run(capsys, "--dsn", empty_dsn, "baseline", newest)
    assert code == 0, err
    assert "catalog verified" in out
    assert run(capsys, "--dsn", empty_dsn, "verify")[0] == cli.EXIT_OK
    events = {e.direction for e in migrate.history(empty_dsn)}
    assert events == {"baseline"}
    with psycopg.connect(empty_dsn) as conn:
        leftover = conn.execute(
            "select count(*) from pg_database where datname like 'pydal_baseline_%'"
        ).fetchone()
    assert leftover == (0,)


def test_baseline_refuses_a_different_database_and_lists_the_differences(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, small_schema: Path
) -> None:
    migrate.up(empty_dsn, schema_dir=small_schema, target="0002")
    forget_the_runner(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("alter table items alter column name type varchar(50)")
        conn.execute("drop index items_name_idx")
        conn.execute("create index items_name_idx on items (name)")
        conn.execute("drop trigger items_100_set_updated_at on items")
        conn.execute("create table stray (id int)")
    base = ("--dsn", empty_dsn, "--schema-dir", str(small_schema))
    code, _, err = run(capsys, *base, "baseline", "2")
    assert code == cli.EXIT_DRIFT
    for expected in (
        "column public.items.name: database has character varying(50) not null;"
        " the files give text not null",
        "index public.items_name_idx: database has CREATE INDEX items_name_idx ON public.items"
        " USING btree (name)",
        "trigger public.items.items_100_set_updated_at: missing from the database",
        "relation public.stray: only in the database",
    ):
        assert expected in err, err
    with psycopg.connect(empty_dsn) as conn:  # nothing recorded, not even the tables
        assert conn.execute("select to_regclass('schema_migrations')").fetchone() == (None,)


def test_baseline_at_the_wrong_version_or_with_history_is_refused(
    empty_dsn: str, small_schema: Path
) -> None:
    migrate.up(empty_dsn, schema_dir=small_schema)
    with pytest.raises(BaselineRefused, match="already records applied versions"):
        migrate.baseline(empty_dsn, "0003", schema_dir=small_schema)
    forget_the_runner(empty_dsn)
    with pytest.raises(BaselineRefused) as info:
        migrate.baseline(empty_dsn, "0002", schema_dir=small_schema)
    assert any("relation public.tags: only in the database" in d for d in info.value.differences)
    adopted = migrate.baseline(empty_dsn, "0003", schema_dir=small_schema)
    assert [m.version for m in adopted] == ["0001", "0002", "0003"]
    assert {s.state for s in migrate.status(empty_dsn, schema_dir=small_schema)} == {"applied"}


def test_dump_is_stable_reviewable_and_without_the_runner(
    capsys: pytest.CaptureFixture[str], empty_dsn: str, small_schema: Path, tmp_path: Path
) -> None:
    try:
        with psycopg.connect(empty_dsn) as conn:
            find_pg_dump(conn.info.server_version // 10000)
    except Exception as exc:
        pytest.skip(f"needs a pg_dump for this server: {exc}")
    migrate.up(empty_dsn, schema_dir=small_schema)
    base = ("--dsn", empty_dsn)
    first, second = tmp_path / "a.sql", tmp_path / "b.sql"
    assert run(capsys, *base, "dump", str(first))[0] == 0
    assert run(capsys, *base, "dump", str(second))[0] == 0
    text = first.read_text()
    assert text == second.read_text()
    assert "CREATE TABLE public.items (" in text and "CREATE TABLE public.tags (" in text
    assert "items_100_set_updated_at" in text
    for volatile in ("schema_migration", "Dumped from", "Dumped by", "\\restrict", "\n\n\n"):
        assert volatile not in text
    migrate.down(empty_dsn, schema_dir=small_schema)
    code, out, _ = run(capsys, *base, "dump")
    assert code == 0 and "CREATE TABLE public.items (" in out
    assert "public.tags" not in out
