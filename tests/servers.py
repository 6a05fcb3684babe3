"""Private database servers for tests: MariaDB and PostgreSQL from Debian packages on 127.0.0.1.

Each server runs from its own temporary directory on a free port and is stopped at teardown.
The clients find it through the standard environment variables (`MariaDB.env`, `PostgreSQL.env`),
which is also how the agent's `mysqldump`/`mysql` and `pg_dump`/`pg_restore` reach it in tests.

Use the fixtures from a test module or a conftest:

    from tests.servers import mariadb, postgresql  # noqa: F401  (pytest fixtures)

    def test_something(mariadb):
        mariadb.sql("CREATE DATABASE shop")

Both fixtures are session-scoped (starting a server takes seconds); a test that needs a clean slate
creates its own database (`fresh_database`). Under `CI=true` a missing server binary fails the test;
elsewhere it skips.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["MariaDB", "PostgreSQL", "free_port", "mariadb", "postgresql", "require"]

START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require(*programs: str) -> dict[str, str]:
    """The full paths of PROGRAMS; skip the test when one is missing (fail under CI)."""
    found = {p: shutil.which(p) or _in_postgres_bin(p) for p in programs}
    missing = [p for p, path in found.items() if not path]
    if missing:
        message = f"{', '.join(missing)} not installed (see .ci/apt.d/databases.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {p: str(path) for p, path in found.items()}


def _in_postgres_bin(program: str) -> str | None:
    # Debian keeps the server programs (initdb, postgres) out of PATH, per major version.
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
                  key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return hits[-1] if hits else None


def _wait(ready, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {START_TIMEOUT:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class MariaDB:
    """A running private MariaDB server; root connects without a password over its socket or TCP."""

    port: int
    socket: str
    datadir: Path
    client: str = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What `mariadb`, `mysql` and `mysqldump` read to reach this server instead of the system one.

        Debian's /etc/mysql/my.cnf names the system socket, and option files win over MYSQL_UNIX_PORT;
        $MYSQL_HOME/my.cnf is read after it, so its [client] group points the clients here.
        """
        return {"MYSQL_HOME": str(self.datadir.parent)}

    def sql(self, query: str, database: str | None = None) -> str:
        """Run QUERY as root; tab-separated rows without headers."""
        args = [self.client, "--no-defaults", "--protocol=TCP", "--host=127.0.0.1", f"--port={self.port}",
                "--user=root", "--batch", "--skip-column-names", "-e", query]
        if database:
            args.append(database)
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb: {done.stderr.strip()}")
        return done.stdout

    def fresh_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.sql(f"CREATE DATABASE `{name}`")
        return name


@dataclass
class PostgreSQL:
    """A running private PostgreSQL server owned by a non-root user; its superuser is `user`."""

    port: int
    socket_dir: str
    datadir: Path
    user: str
    psql: str = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """What `psql`, `pg_dump` and `pg_restore` read to reach this server instead of the system one."""
        return {"PGHOST": self.socket_dir, "PGPORT": str(self.port), "PGUSER": self.user}

    def sql(self, query: str, database: str = "postgres") -> str:
        """Run QUERY as the superuser; unaligned rows separated by '|', without headers."""
        done = subprocess.run(
            [self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
             "-p", str(self.port), "-U", self.user, "-d", database, "-c", query],
            capture_output=True, text=True, timeout=60, env={**os.environ, **self.env})
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout

    def fresh_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A private MariaDB server (mariadb-server) on 127.0.0.1, a free port, a temp directory."""
    tools = require("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")
    base = Path(tempfile.mkdtemp(prefix="redundo-mariadb-"))
    datadir, sock, log = base / "data", str(base / "mysqld.sock"), base / "mysqld.log"
    user = ["--user=root"] if os.geteuid() == 0 else []
    install = subprocess.run(
        [tools["mariadb-install-db"], "--no-defaults", f"--datadir={datadir}", *user,
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        capture_output=True, text=True, timeout=180)
    if install.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed: {install.stderr[-2000:]}")
    port = free_port()
    (base / "my.cnf").write_text(f"[client]\nsocket={sock}\nport={port}\nuser=root\n")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [tools["mariadbd"], "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
             f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={base / 'mysqld.pid'}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--skip-log-bin", *user],
            stdout=out, stderr=subprocess.STDOUT)
    server = MariaDB(port=port, socket=sock, datadir=datadir, client=tools["mariadb"])
    try:
        def ready() -> bool:
            return subprocess.run([tools["mariadb-admin"], "--no-defaults", "--protocol=TCP", "--host=127.0.0.1",
                                   f"--port={port}", "--user=root", "ping"],
                                  capture_output=True, timeout=10).returncode == 0
        _wait(ready, "mariadbd", proc, log)
        yield server
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A private PostgreSQL server (postgresql) on 127.0.0.1, a free port, a temp directory.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (created by
    the Debian package) from a directory it owns; otherwise as the current user.
    """
    tools = require("initdb", "postgres", "psql", "pg_isready")
    base = Path(tempfile.mkdtemp(prefix="redundo-pg-"))
    datadir, log = base / "data", base / "postgres.log"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as: dict = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        user = "postgres"
    else:
        run_as, user = {}, pwd.getpwuid(os.geteuid()).pw_name
    init = subprocess.run([tools["initdb"], "-D", str(datadir), "-U", user, "-A", "trust",
                           "--no-sync", "-E", "UTF8", "--locale=C"], capture_output=True, text=True, timeout=180,
                          cwd=base, **run_as)
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [tools["postgres"], "-D", str(datadir), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={base}", "-c", "fsync=off", "-c", "shared_buffers=16MB"],
            stdout=out, stderr=subprocess.STDOUT, cwd=base, **run_as)
    server = PostgreSQL(port=port, socket_dir=str(base), datadir=datadir, user=user, psql=tools["psql"])
    try:
        def ready() -> bool:
            return subprocess.run([tools["pg_isready"], "-q", "-h", str(base), "-p", str(port)],
                                  capture_output=True, timeout=10).returncode == 0
        _wait(ready, "postgres", proc, log)
        yield server
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)
