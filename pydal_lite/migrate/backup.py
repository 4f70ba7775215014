"""``--backup DIR``: a pg_dump custom-format archive taken before anything is applied."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .. import embedded
from ..dsn import redact
from ..errors import MigrationError


class BackupFailed(MigrationError):
    """pg_dump is missing or did not produce an archive; nothing was applied."""


def find_pg_dump(server_major: int) -> Path:
    """A pg_dump able to dump a server of ``server_major`` (same or newer major)."""
    candidates: list[Path] = []
    found = shutil.which("pg_dump")
    if found:
        candidates.append(Path(found))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True))
    embedded_bin = embedded.bin_dir()
    if embedded_bin is not None:
        candidates.append(embedded_bin / "pg_dump")
    for path in candidates:
        if not path.exists():
            continue
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
        m = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
        if m and int(m.group(1)) >= server_major:
            return path
    raise BackupFailed(
        f"--backup: no pg_dump for PostgreSQL {server_major} or newer found "
        "(install the client, or put it on PATH); nothing was applied"
    )


def take_backup(dsn: str, directory: Path, *, server_major: int, label: str) -> Path:
    """Dump the database behind ``dsn`` into ``directory``; return the archive's path."""
    pg_dump = find_pg_dump(server_major)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupFailed(f"--backup: cannot create {str(directory)!r}: {exc.strerror}") from None
    dbname = str(conninfo_to_dict(dsn).get("dbname") or os.environ.get("PGDATABASE") or "db")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = directory / f"{dbname}-{stamp}-before-{label}.dump"
    proc = run_pg_dump(pg_dump, dsn, ["--format=custom", "--file", str(target)], what="--backup")
    if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise BackupFailed(
            f"--backup: pg_dump failed (exit {proc.returncode}): {redact(proc.stderr.strip())}; "
            "nothing was applied"
        )
    return target


def run_pg_dump(
    pg_dump: Path, dsn: str, args: list[str], *, what: str
) -> subprocess.CompletedProcess[str]:
    """Run ``pg_dump args`` on ``dsn``; the password goes through the environment only."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)  # never on the command line, where ps shows it
    try:
        return subprocess.run(
            [str(pg_dump), *args, "--dbname", make_conninfo("", **params)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except OSError as exc:
        raise BackupFailed(f"{what}: cannot run {str(pg_dump)!r}: {exc.strerror}") from None
