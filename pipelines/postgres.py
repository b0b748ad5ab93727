"""A throwaway or long-lived PostgreSQL from the Debian package (initdb, pg_ctl on PATH), for the
local deployment (`pipelines.deployment`) and the tests that need a real server.

Trust authentication on 127.0.0.1 only, one superuser; run as the `postgres` system user when we
are root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "vistflow"  # the one PostgreSQL superuser (trust authentication, 127.0.0.1 only)


def pg_bin(name: str) -> str | None:
    """`name` (initdb, pg_ctl) on PATH, else in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(versions[-1]) if versions else None


def postgres_available() -> bool:
    return bool(pg_bin("initdb") and pg_bin("pg_ctl"))


def _bin(name: str) -> str:
    path = pg_bin(name)
    if path is None:
        raise RuntimeError(
            f"PostgreSQL's {name} not found on PATH or in /usr/lib/postgresql/*/bin: "
            "install Debian's postgresql package (make setup does)"
        )
    return path


@dataclass
class PostgresServer:
    """A PostgreSQL server whose data dir, log and unix socket live under `root`."""

    root: str
    port: int
    run_as: str | None

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "server.log")

    def url(self, dbname: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://{USER}@127.0.0.1:{self.port}/{dbname}"

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def running(self) -> bool:
        return os.path.exists(os.path.join(self.data_dir, "postmaster.pid"))

    def stop(self, remove: bool = True) -> None:
        """`pg_ctl stop` (fast, or immediate for a throwaway server) and, if `remove`, rm -r."""
        if self.running():
            mode = "immediate" if remove else "fast"
            _run([_bin("pg_ctl"), "-D", self.data_dir, "-m", mode, "-w", "stop"], self.run_as)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> None:
        """CREATE DATABASE `name` unless it exists."""
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


def _run(cmd: list[str], user: str | None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(root: str | None = None, port: int | None = None) -> PostgresServer:
    """initdb (when `root` holds no cluster yet) + pg_ctl start; returns once it accepts
    connections. `root=None`: a throwaway temp dir (fsync off; `stop()` removes it).

    PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system
    user (which must be able to reach `root`)."""
    run_as = "postgres" if os.geteuid() == 0 else None
    throwaway = root is None
    if root is None:
        root = tempfile.mkdtemp(prefix="vistflow-pg-")
    os.makedirs(root, exist_ok=True)
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(root, port or 0, run_as)
    try:
        if not os.path.exists(os.path.join(server.data_dir, "PG_VERSION")):
            _run(
                [_bin("initdb"), "-D", server.data_dir, "-U", USER, "-A", "trust", "-E", "UTF8"]
                + ["--locale=C"]
                + (["--no-sync"] if throwaway else []),
                run_as,
            )
        for attempt in range(3):  # a free port can be taken before the server binds it
            server.port = port or _free_port()
            options = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1"
            options += " -F" if throwaway else ""
            start = [_bin("pg_ctl"), "-D", server.data_dir, "-l", server.log_path, "-o", options]
            try:
                _run([*start, "-w", "-t", "60", "start"], run_as)
                return server
            except RuntimeError:
                if port or attempt == 2 or "could not bind" not in server.log():
                    raise
    except BaseException as e:
        if throwaway:
            server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {e}\n{server.log()[-3000:]}") from e
    raise AssertionError("unreachable")


def _pg_user() -> str | None:
    return "postgres" if os.geteuid() == 0 else None
