"""A real PostgreSQL server for the tests, from Debian's packages, on 127.0.0.1.

`PostgresServer.start()` runs initdb in a fresh temporary directory and starts the server with
trust authentication, listening on a free port and on a Unix socket in that directory.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, which owns the
directory. Each test gets its own database from `create_database()`. `halt()` and `resume()`
stop the server and start it again on the same port and data, as a database outage would.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

from .ports import free_port

SERVER_USER = "postgres"
START_SECONDS = 60


class PostgresMissing(Exception):
    "PostgreSQL's server programs are not on this machine and cannot be installed here"


def find_bin_dir() -> str | None:
    """The newest of Debian's /usr/lib/postgresql/<version>/bin that has initdb."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda path: int(path.split("/")[-3]) if path.split("/")[-3].isdigit() else 0)
    return os.path.dirname(newest)


def install_postgres() -> str:
    """Install Debian's postgresql when we are root with apt-get; the bin directory, or PostgresMissing."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresMissing(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run `apt-get install postgresql` as root, then run the tests again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise PostgresMissing(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresMissing("apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb appeared")
    return bin_dir


class PostgresServer:
    def __init__(self):
        self.bin_dir = find_bin_dir() or install_postgres()
        self.as_root = os.geteuid() == 0
        self.user = SERVER_USER if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.dir = ""
        self.port = 0
        self._names = itertools.count(1)

    def _run(self, *args: str, timeout: float = START_SECONDS) -> None:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(done.stdout + done.stderr).strip()[-2000:]}")

    @property
    def data(self) -> str:
        return os.path.join(self.dir, "data")

    def start(self) -> PostgresServer:
        self.dir = tempfile.mkdtemp(prefix="iam-bot-postgres-")
        if self.as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        self._options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
            # A throw-away server: durability buys nothing here and costs seconds.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c wal_level=minimal -c max_wal_senders=0"
        )
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server (its clients' connections break); the data stays for resume(). Not
        `immediate`: with fsync and synchronous_commit off, a crash would lose the last commits."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-o", self._options, "-l", os.path.join(self.dir, "server.log"),
                  "-w", "-t", str(START_SECONDS), "start")

    def stop(self) -> None:
        if self.dir and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            # With wal_level=minimal, copying the template's files beats WAL-logging them (15's default).
            strategy = " STRATEGY = FILE_COPY" if admin.info.server_version >= 150000 else ""
            admin.execute(f'CREATE DATABASE "{name}"{strategy}')
        return self.url(name)
