"""Find the connection string to use and print it without its password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import ConfigurationError

# libpq variables that name a server; PGPASSWORD alone does not.
_PG_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
_URL = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_KW_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***``.

    Works on URLs and key=value strings, and on text that merely contains one
    (an error message), so it is safe to call on anything about to be printed.
    """
    text = _URL_PASSWORD.sub(r"\1***@", dsn)
    return _KW_PASSWORD.sub(r"\1***", text)


def _url_credentials(dsn: str) -> tuple[str, str | None] | None:
    """(user, password) of a URL as a person reads it: everything before the LAST ``@``.

    libpq ends the user info at the first ``@`` (and the host at ``/``, ``?`` or ``:``),
    so ``postgresql://u:p@ss@host/db`` is, to libpq, password ``p`` on host ``ss@host``.
    """
    m = _URL.match(dsn)
    if m is None or "@" not in dsn[m.end() :]:
        return None
    userinfo = dsn[m.end() :].rpartition("@")[0]
    user, colon, password = userinfo.partition(":")
    return unquote(user), (unquote(password) if colon else None)


def _unambiguous(dsn: str) -> bool:
    """False for a URL that libpq reads differently from the last-``@`` reading (an
    unencoded ``@ : / ? #`` in the password): then host, port, database and libpq's
    messages may hold part of the password, and none of them is shown."""
    people = _url_credentials(dsn)
    if people is None:
        return True
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return False
    return (params.get("user") or "", params.get("password")) == (people[0], people[1])


def _secrets(dsn: str) -> list[str]:
    found = [os.environ.get("PGPASSWORD") or ""]
    try:
        found.append(str(conninfo_to_dict(dsn).get("password") or ""))
    except psycopg.Error:
        pass
    people = _url_credentials(dsn)
    if people is not None:
        found.append(people[1] or "")
    return [s for s in found if s]


def shown(dsn: str) -> str:
    """``dsn`` for a ``repr()``: the whole string with its password as ``***``, or a
    placeholder where no redaction can be trusted (see :func:`describe`)."""
    text = redact(dsn)
    if not _unambiguous(dsn) or any(secret in text for secret in _secrets(dsn)):
        short = describe(dsn)
        return short if short.startswith("<") else f"<connection string (not shown): {short}>"
    return text


def describe(dsn: str) -> str:
    """A short ``user@host:port/dbname`` for logs; a placeholder where that could show
    any part of the password (a URL whose password holds an unencoded ``@``)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparsable connection string (not shown)>"
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    user = str(params.get("user") or os.environ.get("PGUSER") or "")
    db = str(params.get("dbname") or os.environ.get("PGDATABASE") or user)
    text = f"{user + '@' if user else ''}{host}:{port}/{db}"
    if not _unambiguous(dsn) or any(secret in text for secret in _secrets(dsn)):
        return "<connection string (not shown)>"
    return text


def connect_error(dsn: str, exc: Exception) -> str:
    """The one-line reason a connection failed, never holding any of the password."""
    if not _unambiguous(dsn):
        return (
            "cannot connect: the connection URL cannot be read unambiguously (a password "
            "containing @ : / ? # must be percent-encoded, e.g. @ as %40); the server's "
            "message is not shown since it may hold part of the password"
        )
    text = redact(str(exc)).strip()
    if any(secret in text for secret in _secrets(dsn)):
        return (
            f"cannot connect to {describe(dsn)} (libpq's message is not shown: "
            "it contains the password)"
        )
    return f"cannot connect to {describe(dsn)}: {text}"


def host_count(dsn: str) -> int:
    """How many servers ``dsn`` lists (libpq's comma-separated ``host``/``hostaddr``,
    falling back to ``PGHOST``); 0 when it cannot be parsed."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return 0
    hosts = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "")
    return len(hosts.split(",")) if hosts else 1


def _session_attrs(dsn: str) -> str | None:
    try:
        value = conninfo_to_dict(dsn).get("target_session_attrs")
    except psycopg.Error:
        return None
    return str(value or os.environ.get("PGTARGETSESSIONATTRS") or "") or None


def for_primary(dsn: str) -> str:
    """``dsn`` for writes: a multi-host DSN that says nothing else gets
    ``target_session_attrs=read-write``, so after a failover libpq skips standbys and
    finds the new primary."""
    if host_count(dsn) > 1 and _session_attrs(dsn) is None:
        return make_conninfo(dsn, target_session_attrs="read-write")
    return dsn


def for_reader(dsn: str, read_dsn: str | None) -> str | None:
    """The DSN of the read pool, or None when reads share the primary's pool.

    ``read_dsn`` as given (a multi-host one without ``target_session_attrs`` gets
    ``prefer-standby``); else, when ``dsn`` lists several hosts, the same hosts with
    ``target_session_attrs=prefer-standby``: any standby, the primary if none is up.
    """
    if read_dsn:
        if host_count(read_dsn) > 1 and _session_attrs(read_dsn) is None:
            return make_conninfo(read_dsn, target_session_attrs="prefer-standby")
        return read_dsn
    if host_count(dsn) > 1:
        return make_conninfo(dsn, target_session_attrs="prefer-standby")
    return None


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials as ``dsn``, another database."""
    return make_conninfo(dsn, dbname=dbname)


@dataclass(frozen=True)
class ResolvedDsn:
    """A connection string and where it came from (for the one line we print)."""

    dsn: str
    source: str
    note: str = ""

    def __repr__(self) -> str:
        return f"ResolvedDsn(dsn={shown(self.dsn)!r}, source={self.source!r}, note={self.note!r})"


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
