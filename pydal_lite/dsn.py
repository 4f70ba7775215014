"""Find the connection string to use and print it without its password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import ConfigurationError

# libpq variables that name a server; PGPASSWORD alone does not.
_PG_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_KW_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***``.

    Works on URLs and key=value strings, and on text that merely contains one
    (an error message), so it is safe to call on anything about to be printed.
    """
    text = _URL_PASSWORD.sub(r"\1***@", dsn)
    return _KW_PASSWORD.sub(r"\1***", text)


def describe(dsn: str) -> str:
    """A short ``user@host:port/dbname`` for logs, never with the password."""
    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable connection string>"
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    user = str(params.get("user") or os.environ.get("PGUSER") or "")
    db = str(params.get("dbname") or os.environ.get("PGDATABASE") or user)
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials as ``dsn``, another database."""
    return make_conninfo(dsn, dbname=dbname)


@dataclass(frozen=True)
class ResolvedDsn:
    """A connection string and where it came from (for the one line we print)."""

    dsn: str
    source: str
    note: str = ""


def resolve(explicit: str | None = None, *, allow_embedded: bool = True) -> ResolvedDsn:
    """Pick the DSN: ``explicit``, else ``DATABASE_URL``, else libpq's PG* variables,
    else the embedded default server (started on demand)."""
    if explicit:
        return ResolvedDsn(explicit, "--dsn")
    url = os.environ.get("DATABASE_URL")
    if url:
        return ResolvedDsn(url, "DATABASE_URL")
    if any(os.environ.get(name) for name in _PG_ENV):
        return ResolvedDsn("", "PG* environment")
    if not allow_embedded:
        raise ConfigurationError(
            "no database configured: pass --dsn, or set DATABASE_URL or PGHOST/PGDATABASE"
        )
    from . import embedded

    server = embedded.start()
    verb = "reusing the running" if server.reused else "started the"
    return ResolvedDsn(
        server.dsn, "embedded", f"{verb} embedded PostgreSQL server in {server.datadir}"
    )
