"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temporary folder.

The server listens on 127.0.0.1 on a free port (and on a unix socket in the same folder), trusts
local connections, runs with fsync off, and is stopped and deleted by ``stop()``. PostgreSQL refuses
to run as root, so as root the cluster belongs to the ``postgres`` system user (Debian's package
creates it) and the binaries run through ``runuser``. Binaries: ``RECNAV_RULES_PG_BIN``, else the
newest ``/usr/lib/postgresql/*/bin`` (Debian's layout), else ``initdb`` on the PATH.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "find_binaries", "unavailable_reason"]

SUPERUSER = "recnav"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    configured = os.environ.get("RECNAV_RULES_PG_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _run_as() -> list[str]:
    """The prefix that runs a command as the cluster's owner: ``runuser -u postgres --`` as root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if find_binaries() is None:
        return "no initdb/pg_ctl (Debian: apt-get install postgresql; or set RECNAV_RULES_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One cluster. ``start()``, then ``url(database)``; ``stop()`` removes everything."""

    def __init__(self) -> None:
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL binaries")
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="recnav-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str) -> None:
        command = [*_run_as(), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync", "--no-instructions")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")
        self.started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
