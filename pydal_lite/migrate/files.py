"""Parse migration files: ``schema/NNNN_name.sql`` with ``-- migrate:up`` / ``-- migrate:down``.

This module only reads files; :mod:`.plan` decides what to run and :mod:`.runner` runs it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MigrationFileError
from .errors import DuplicateVersion, SchemaDirError, UnfilledMigration, UnreadableFile
from .sqlsplit import Statement, split_statements

__all__ = [
    "Migration",
    "Part",
    "SchemaFolder",
    "Statement",
    "load_dir",
    "parse_file",
    "read_dir",
    "split_statements",
]

FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)\.sql$")
MARKER = re.compile(r"^--\s*migrate:(?P<part>up|down)\b(?P<options>.*)$")
_OPTION = re.compile(r"(\w+):(\w+)")
_BEGIN_ATOMIC = re.compile(r"\bbegin\s+atomic\b", re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    """The up or down half of a migration file."""

    sql: str
    line: int  # file line of the first line after the marker
    transaction: bool

    def statements(self) -> list[Statement]:
        return [Statement(s.sql, s.line + self.line - 1) for s in split_statements(self.sql)]


@dataclass(frozen=True)
class Migration:
    """A parsed migration file."""

    version: str
    name: str
    path: Path
    up: Part
    down: Part | None

    @property
    def checksum(self) -> str:
        """SHA-256 of the up part, line endings normalised: editing it is drift."""
        return hashlib.sha256(self.up.sql.replace("\r\n", "\n").encode()).hexdigest()


def parse_file(path: Path) -> Migration:
    """Read one migration file; raise MigrationFileError naming what is wrong."""
    m = FILENAME.match(path.name)
    if not m:
        raise MigrationFileError(
            f"{path}: file name must look like 0001_create_things.sql (digits, underscore, "
            "lowercase name)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path}: cannot read it: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read it: {exc.strerror or exc}") from None
    parts: dict[str, tuple[int, bool, list[str]]] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        marker = MARKER.match(line.strip())
        if marker:
            current = marker["part"]
            if current in parts:
                raise MigrationFileError(f"{path}:{lineno}: a second '-- migrate:{current}' marker")
            options = dict(_OPTION.findall(marker["options"]))
            unknown = set(options) - {"transaction"}
            if unknown or options.get("transaction", "true") not in ("true", "false"):
                raise MigrationFileError(
                    f"{path}:{lineno}: unknown marker option {marker['options'].strip()!r} "
                    "(only transaction:false is understood)"
                )
            parts[current] = (lineno + 1, options.get("transaction", "true") == "true", [])
        elif current is not None:
            parts[current][2].append(line)
        elif line.strip() and not line.strip().startswith("--"):
            raise MigrationFileError(f"{path}:{lineno}: SQL before the '-- migrate:up' marker")
    if "up" not in parts:
        raise MigrationFileError(f"{path}: no '-- migrate:up' marker")
    if "down" in parts and parts["down"][0] < parts["up"][0]:
        raise MigrationFileError(f"{path}: '-- migrate:down' must come after '-- migrate:up'")

    def part(key: str) -> Part | None:
        if key not in parts:
            return None
        line, transaction, lines = parts[key]
        # blank lines after the marker are stripped from the SQL: count them in its line
        lead = next((i for i, text in enumerate(lines) if text.strip()), len(lines))
        return Part("\n".join(lines).strip("\n") + "\n", line + lead, transaction)

    up = part("up")
    assert up is not None
    if _BEGIN_ATOMIC.search(text):
        raise MigrationFileError(
            f"{path}: SQL-standard 'begin atomic' function bodies are not supported by the "
            "statement splitter; write the body as a string: as $$ ... $$"
        )
    if not up.statements():
        raise UnfilledMigration(f"{path}: the up part has no SQL statement")
    down = part("down")
    if down is not None and not down.statements():
        down = None
    return Migration(m["version"], m["name"], path, up, down)


@dataclass(frozen=True)
class SchemaFolder:
    """A migrations folder read once: its migrations in apply order, and unfilled skeletons."""

    directory: Path
    migrations: list[Migration]
    unfilled: dict[str, Path]  # version -> a file whose up part has no SQL yet

    def by_version(self) -> dict[str, Migration]:
        return {m.version: m for m in self.migrations}


def _listing(directory: Path) -> list[Path]:
    where = str(directory)
    if not directory.exists():
        raise SchemaDirError(f"migrations folder {where!r} does not exist", directory=directory)
    if not directory.is_dir():
        raise SchemaDirError(f"migrations folder {where!r} is not a folder", directory=directory)
    try:
        paths = sorted(p for p in directory.iterdir() if p.name.endswith(".sql"))
    except OSError as exc:
        raise SchemaDirError(
            f"cannot read migrations folder {where!r}: {exc.strerror or exc}", directory=directory
        ) from None
    if not paths:
        raise SchemaDirError(
            f"migrations folder {where!r} holds no migration files (NNNN_name.sql)",
            directory=directory,
        )
    return paths


def read_dir(directory: Path) -> SchemaFolder:
    """Every migration in ``directory`` in numeric order of version; unfilled skeletons apart.

    A missing, unreadable or empty folder, an unreadable file and two files with the same
    version number (``001_b.sql`` beside ``0001_a.sql``) are errors.
    """
    migrations: list[Migration] = []
    unfilled: dict[str, Path] = {}
    seen: dict[int, Path] = {}
    for path in _listing(directory):
        m = FILENAME.match(path.name)
        if m and int(m["version"]) in seen:
            first = seen[int(m["version"])]
            raise DuplicateVersion(
                f"version {m['version']} is used by both {first.name} and {path.name} "
                f"(in {str(directory)!r}): versions are compared as numbers"
            )
        try:
            mig = parse_file(path)
        except UnfilledMigration:
            assert m is not None
            unfilled[m["version"]] = path
        else:
            migrations.append(mig)
        if m:
            seen[int(m["version"])] = path
    migrations.sort(key=lambda mig: int(mig.version))
    return SchemaFolder(directory, migrations, unfilled)


def load_dir(directory: Path) -> list[Migration]:
    """Every migration in ``directory``, in numeric order; an unfilled skeleton is an error."""
    folder = read_dir(directory)
    for path in folder.unfilled.values():
        raise UnfilledMigration(f"{path}: the up part has no SQL statement")
    return folder.migrations
