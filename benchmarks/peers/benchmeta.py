"""One header line for every benchmark: commit, date, machine load, cores, server version."""
from __future__ import annotations

import datetime
import os
import subprocess


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def header(dsn: str | None = None) -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    server = ""
    if dsn:
        import psycopg

        with psycopg.connect(dsn) as conn:
            server = " server " + str(conn.execute("show server_version").fetchone()[0]).split()[0]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"# commit {commit}  {now}  load {loadavg()}  cores {os.cpu_count()}{server}"
