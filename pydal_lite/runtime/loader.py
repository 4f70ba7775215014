"""Read ``queries/<file>.sql`` with aiosql: each named query's SQL, suffix and line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import aiosql
from aiosql.adapters.pyformat import PyFormatAdapter
from aiosql.types import SQLOperationType

from ..errors import PydalError
from ..resources import queries_dir

_NAME_LINE = re.compile(r"^--\s*name\s*:\s*([A-Za-z_]\w*)", re.MULTILINE)
_DIRECTIVE = re.compile(r"^@(\w[\w-]*)\s*:?\s*(.*)$")


class QueryFileError(PydalError):
    """A query file is missing, malformed, or out of step with the generated code."""


@dataclass(frozen=True)
class LoadedQuery:
    """One named query as aiosql read it, ready for psycopg (``%(name)s`` parameters)."""

    file: str
    name: str
    line: int
    operation: SQLOperationType
    sql: str
    source: str  # the SQL as written in the file (``:name`` parameters)
    doc: str  # the comment lines under the name line, directives removed
    directives: tuple[tuple[str, str], ...]  # ``-- @key: value`` lines of the comment

    @property
    def where(self) -> str:
        return f"queries/{self.file}.sql:{self.line}"


def tag(file: str, name: str) -> str:
    """The comment every named query starts with, as seen in pg_stat_activity and logs."""
    return f"/* pydal_lite:{file}.{name} */"


class _Adapter(PyFormatAdapter):  # type: ignore[misc]
    """aiosql's psycopg adapter used only to turn the file's SQL into psycopg's form."""

    def __init__(self, file: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.file = file
        self.raw: dict[str, str] = {}

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        self.raw[query_name] = sql
        if op_type == SQLOperationType.SCRIPT:
            # Scripts go to the server without parameters: % stays as written.
            return f"{tag(self.file, query_name)}\n{sql}"
        # Query files are plain SQL a DBA pastes into psql: a literal % is written once
        # there, psycopg's pyformat needs it doubled before :name becomes %(name)s.
        converted: str = super().process_sql(  # type: ignore[no-untyped-call]
            query_name, op_type, sql.replace("%", "%%")
        )
        return f"{tag(self.file, query_name)}\n{converted}"


def _split_doc(doc: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    lines: list[str] = []
    directives: list[tuple[str, str]] = []
    for line in doc.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if m:
            directives.append((m.group(1).lower(), m.group(2).strip()))
        else:
            lines.append(line)
    return "\n".join(lines).strip(), tuple(directives)


def read_file(path: Path) -> dict[str, LoadedQuery]:
    """Every named query of one file, by name, in file order."""
    file = path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QueryFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = {m.group(1): text.count("\n", 0, m.start()) + 1 for m in _NAME_LINE.finditer(text)}
    adapter = _Adapter(file)
    try:
        queries = aiosql.from_str(text, lambda: adapter)
    except Exception as exc:  # aiosql's SQLParseException and friends
        raise QueryFileError(f"queries/{file}.sql: {exc}") from None
    out: dict[str, LoadedQuery] = {}
    for name in sorted(queries.available_queries, key=lambda n: lines.get(n, 0)):
        if "." in name or name.endswith("_cursor"):
            continue
        fn = getattr(queries, name)
        doc, directives = _split_doc(fn.__doc__ or "")
        out[name] = LoadedQuery(
            file=file,
            name=name,
            line=lines.get(name, 0),
            operation=fn.operation,
            sql=fn.sql,
            source=adapter.raw[name],
            doc=doc,
            directives=directives,
        )
    return out


def read_folder(folder: Path | None = None) -> dict[str, dict[str, LoadedQuery]]:
    """``read_file`` for every ``*.sql`` of the queries folder, by file stem."""
    folder = folder or queries_dir()
    if not folder.is_dir():
        raise QueryFileError(f"no query folder {str(folder)!r}")
    return {p.stem: read_file(p) for p in sorted(folder.glob("*.sql"))}


@cache
def _installed(file: str) -> dict[str, LoadedQuery]:
    return read_file(queries_dir() / f"{file}.sql")


def installed_query(file: str, name: str, operation: SQLOperationType) -> LoadedQuery:
    """The query the generated code was written for, checked against the file on disk."""
    query = _installed(file).get(name)
    if query is None:
        raise QueryFileError(
            f"queries/{file}.sql has no query {name!r}: the generated code is stale, "
            "run python -m pydal_lite.codegen"
        )
    if query.operation != operation:
        raise QueryFileError(
            f"{query.where}: {name} is a {query.operation.name} query, the generated code "
            f"expects {operation.name}: run python -m pydal_lite.codegen"
        )
    return query
