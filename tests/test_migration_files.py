"""Parsing migration files and splitting them into statements (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydal_lite.errors import MigrationFileError
from pydal_lite.migrate import load_dir, parse_file, split_statements
from pydal_lite.resources import schema_dir


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_file_parses_with_a_down_part() -> None:
    migrations = load_dir(schema_dir())
    assert migrations[0].version == "0001" and migrations[0].name == "bootstrap"
    assert all(m.down is not None for m in migrations), "every shipped migration can be rolled back"
    assert [int(m.version) for m in migrations] == sorted(int(m.version) for m in migrations)


def test_markers_lines_and_transaction_option(tmp_path: Path) -> None:
    mig = parse_file(
        write(
            tmp_path,
            "0007_add_index.sql",
            "-- why\n\n-- migrate:up transaction:false\ncreate index concurrently i on t (a);\n"
            "-- migrate:down\ndrop index i;\n",
        )
    )
    assert (mig.version, mig.name, mig.up.transaction, mig.up.line) == (
        "0007",
        "add_index",
        False,
        4,
    )
    assert mig.down is not None and mig.down.transaction and mig.down.statements()[0].line == 6


def test_checksum_covers_the_up_part_only(tmp_path: Path) -> None:
    a = parse_file(
        write(tmp_path, "0001_a.sql", "-- migrate:up\nselect 1;\n-- migrate:down\nselect 2;\n")
    )
    b = parse_file(
        write(tmp_path, "0001_a.sql", "-- migrate:up\nselect 1;\n-- migrate:down\nselect 3;\n")
    )
    c = parse_file(write(tmp_path, "0001_a.sql", "-- migrate:up\nselect 10;\n"))
    assert a.checksum == b.checksum != c.checksum


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("1_x.sql", "-- migrate:up\nselect 1;\n", None),
        ("0001-x.sql", "-- migrate:up\nselect 1;\n", "file name must look like"),
        ("0001_x.sql", "select 1;\n", "SQL before the '-- migrate:up' marker"),
        ("0001_x.sql", "-- only a comment\n", "no '-- migrate:up' marker"),
        ("0001_x.sql", "-- migrate:up\n-- nothing\n", "the up part has no SQL statement"),
        (
            "0001_x.sql",
            "-- migrate:up\nselect 1;\n-- migrate:up\n",
            "a second '-- migrate:up' marker",
        ),
        ("0001_x.sql", "-- migrate:up transaction:maybe\nselect 1;\n", "unknown marker option"),
    ],
)
def test_malformed_files_are_named(
    tmp_path: Path, name: str, text: str, message: str | None
) -> None:
    path = write(tmp_path, name, text)
    if message is None:
        assert parse_file(path).version == "1"
        return
    with pytest.raises(MigrationFileError, match=message):
        parse_file(path)


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "0002_a.sql", "-- migrate:up\nselect 1;\n")
    write(tmp_path, "0002_b.sql", "-- migrate:up\nselect 1;\n")
    with pytest.raises(
        MigrationFileError, match=r"version 0002 is used by both 0002_a\.sql and 0002_b\.sql"
    ):
        load_dir(tmp_path)


def test_split_respects_quotes_dollar_quotes_and_comments() -> None:
    sql = (
        "-- a; comment\n"
        "create function f() returns trigger language plpgsql as $fn$\n"
        "begin new.a := 'x;'; return new; end $fn$;\n"
        "/* block; /* nested; */ */ select 'it''s;', E'a\\';b', \"odd;name\";\n"
        "select $$;$$, a$b, $1 from t\n"
    )
    parts = split_statements(sql)
    assert [p.line for p in parts] == [2, 4, 5]
    assert parts[0].sql.endswith("end $fn$;")
    assert parts[1].sql.startswith("select 'it''s;'") and parts[1].sql.endswith('"odd;name";')
    assert parts[2].sql == "select $$;$$, a$b, $1 from t"


def test_error_lines_count_blank_lines_after_the_marker(tmp_path: Path) -> None:
    mig = parse_file(write(tmp_path, "0001_a.sql", "-- why\n-- migrate:up\n\n\nselect 1;\n"))
    assert mig.up.statements()[0].line == 5


def test_begin_atomic_bodies_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "0001_a.sql",
        "-- migrate:up\ncreate function f() returns int language sql\nbegin atomic\n"
        "select 1; select 2;\nend;\n",
    )
    with pytest.raises(MigrationFileError, match="begin atomic"):
        parse_file(path)


def test_a_word_ending_in_e_before_a_quote_is_not_an_escape_string() -> None:
    parts = split_statements("select 1 where x like'a\\'; select 2;")
    assert [p.sql for p in parts] == ["select 1 where x like'a\\';", "select 2;"]
