"""How the runner is built: schema/ read once, library errors free of CLI flags, small modules."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import pydal_lite.migrate as migrate_pkg
from pydal_lite import migrate
from pydal_lite.errors import MigrationError
from pydal_lite.migrate import files, runner
from pydal_lite.migrate.errors import SchemaDirError
from pydal_lite.resources import schema_dir


@pytest.fixture
def tmp_schema(tmp_path: Path) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    shutil.copy(schema_dir() / "0001_bootstrap.sql", folder)
    for n in (2, 3, 4):
        (folder / f"000{n}_create_t{n}.sql").write_text(
            f"-- migrate:up\ncreate table t{n} (id int);\n-- migrate:down\ndrop table t{n};\n"
        )
    return folder


def test_schema_dir_is_parsed_once_per_run(
    empty_dsn: str, tmp_schema: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = files.parse_file

    def counting(path: Path) -> files.Migration:
        calls.append(path.name)
        return real(path)

    monkeypatch.setattr(files, "parse_file", counting)
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    assert sorted(calls) == sorted(p.name for p in tmp_schema.glob("*.sql"))
    calls.clear()
    migrate.down(empty_dsn, schema_dir=tmp_schema, steps=2)
    assert len(calls) == 4


def test_up_and_down_share_one_path(
    empty_dsn: str, tmp_schema: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directions: list[str] = []
    real = runner.Migrator.run

    def spy(self: runner.Migrator, direction: str, *args: object) -> list[files.Migration]:
        directions.append(direction)
        return real(self, direction, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner.Migrator, "run", spy)
    migrate.up(empty_dsn, schema_dir=tmp_schema)
    migrate.down(empty_dsn, schema_dir=tmp_schema)
    assert directions == ["up", "down"]


def test_library_errors_do_not_speak_in_command_line_flags(
    empty_dsn: str, tmp_schema: Path, tmp_path: Path
) -> None:
    migrate.up(empty_dsn, schema_dir=tmp_schema, target="0003")
    errors: list[MigrationError] = []

    def expect(call: Callable[[], object]) -> None:
        with pytest.raises(MigrationError) as info:
            call()
        errors.append(info.value)

    expect(lambda: migrate.up(empty_dsn, schema_dir=tmp_schema, target="0042"))
    expect(lambda: migrate.down(empty_dsn, schema_dir=tmp_schema, steps=-1))
    early = tmp_schema / "0000_create_early.sql"
    early.write_text("-- migrate:up\ncreate table early (id int);\n")
    expect(lambda: migrate.up(empty_dsn, schema_dir=tmp_schema))
    early.unlink()
    (tmp_schema / "0002_create_t2.sql").write_text("-- migrate:up\ncreate table t2 (id bigint);\n")
    expect(lambda: migrate.up(empty_dsn, schema_dir=tmp_schema))
    (tmp_schema / "0003_create_t3.sql").unlink()
    expect(lambda: migrate.up(empty_dsn, schema_dir=tmp_schema, accept_drift=True))
    expect(lambda: migrate.status(empty_dsn, schema_dir=tmp_path / "nowhere"))
    kinds = [type(e).__name__ for e in errors]
    assert kinds == [
        "UnknownVersion",
        "UnknownVersion",
        "OutOfOrder",
        "DriftBlocked",
        "DriftBlocked",
        "SchemaDirError",
    ]
    assert isinstance(errors[-1], SchemaDirError)
    for exc in errors:
        assert "--" not in str(exc), str(exc)


def test_runner_modules_stay_small() -> None:
    folder = Path(migrate_pkg.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert max(sizes.values()) <= 300, sizes
