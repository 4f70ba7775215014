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
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)  # never on the command line, where ps shows it
    dbname = str(params.get("dbname") or env.get("PGDATABASE") or "db")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = directory / f"{dbname}-{stamp}-before-{label}.dump"
    argv = [str(pg_dump), "--format=custom", "--file", str(target)]
    try:
        proc = subprocess.run(
            [*argv, "--dbname", make_conninfo("", **params)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except OSError as exc:
        raise BackupFailed(f"--backup: cannot run {str(pg_dump)!r}: {exc.strerror}") from None
    if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise BackupFailed(
            f"--backup: pg_dump failed (exit {proc.returncode}): {redact(proc.stderr.strip())}; "
            "nothing was applied"
        )
    return target
