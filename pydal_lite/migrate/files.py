"""Parse migration files: ``schema/NNNN_name.sql`` with ``-- migrate:up`` / ``-- migrate:down``.

This module only reads files; planning and applying live in :mod:`.runner`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MigrationFileError

FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)\.sql$")
MARKER = re.compile(r"^--\s*migrate:(?P<part>up|down)\b(?P<options>.*)$")
_OPTION = re.compile(r"(\w+):(\w+)")


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a migration part and the file line it starts on (1-based)."""

    sql: str
    line: int


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
    text = path.read_text(encoding="utf-8")
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
        raise MigrationFileError(f"{path}: the up part has no SQL statement")
    down = part("down")
    if down is not None and not down.statements():
        down = None
    return Migration(m["version"], m["name"], path, up, down)


def load_dir(directory: Path) -> list[Migration]:
    """Every migration in ``directory``, in apply order; versions must be unique."""
    migrations = [parse_file(p) for p in sorted(directory.glob("*.sql"))]
    seen: dict[str, Path] = {}
    for mig in migrations:
        if mig.version in seen:
            raise MigrationFileError(
                f"version {mig.version} is used by both {seen[mig.version].name} "
                f"and {mig.path.name}"
            )
        seen[mig.version] = mig.path
    return sorted(migrations, key=lambda mig: int(mig.version))


_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_BEGIN_ATOMIC = re.compile(r"\bbegin\s+atomic\b", re.IGNORECASE)


def split_statements(sql: str) -> list[Statement]:
    """Split SQL at top-level semicolons, respecting quotes, dollar quotes and comments.

    Lines are 1-based within ``sql``; a statement's line is where its first token is.
    SQL-standard ``BEGIN ATOMIC`` function bodies are not understood: use ``AS $$ ... $$``.
    """
    out: list[Statement] = []
    i, n = 0, len(sql)
    token_at: int | None = None
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if token_at is None:
            token_at = i
        if c == "'":
            # E'...' strings take backslash escapes; a word ending in e (like'x') does not
            escapes = i > 0 and sql[i - 1] in "eE" and not _in_word(sql, i - 1)
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif c == '"':
            j = sql.find('"', i + 1)
            while j >= 0 and sql.startswith('""', j):
                j = sql.find('"', j + 2)
            i = n if j < 0 else j + 1
        elif c == "$" and (m := _DOLLAR.match(sql, i)) and not _in_word(sql, i):
            end = sql.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
        elif c == ";":
            if token_at is not None and sql[token_at:i].strip():
                out.append(Statement(sql[token_at : i + 1], sql.count("\n", 0, token_at) + 1))
            token_at = None
            i += 1
        else:
            i += 1
    if token_at is not None and sql[token_at:].strip():
        out.append(Statement(sql[token_at:].rstrip(), sql.count("\n", 0, token_at) + 1))
    return out


def _in_word(sql: str, i: int) -> bool:
    # $1 parameters and identifiers like a$b are not dollar quotes
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")
