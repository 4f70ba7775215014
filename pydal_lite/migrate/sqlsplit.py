"""Split SQL text into statements at top-level semicolons (no server needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a migration part and the file line it starts on (1-based)."""

    sql: str
    line: int


_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


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
