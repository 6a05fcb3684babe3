"""Private database servers on 127.0.0.1 (MariaDB, PostgreSQL from Debian's packages): for drills and tests.

Each server runs from its own temporary directory on a free port and is stopped by its owner. The
stock clients (`mysql`/`mysqldump`, `psql`/`pg_dump`/`pg_restore`) reach it through `env` alone,
which is how the hosts' scripts reach it in a drill: the scripts stay the production ones.
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
from pathlib import Path

from redundo.errors import OperationError

__all__ = ["SERVER_PACKAGES", "LocalMariaDB", "LocalPostgreSQL", "free_port", "local_server"]

START_TIMEOUT = 60.0
SERVER_PACKAGES = {"mysql": "mariadb-server mariadb-client", "postgresql": "postgresql postgresql-client"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_program(program: str) -> str | None:
    """PROGRAM on PATH, in /usr/sbin, or (PostgreSQL's server programs) in Debian's versioned bin dir."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return found
    hits = [p for p in glob.glob(f"/usr/lib/postgresql/*/bin/{program}") if Path(p).parts[-3].isdigit()]
    return max(hits, key=lambda p: int(Path(p).parts[-3])) if hits else None


def _programs(kind: str, *names: str) -> dict[str, str]:
    found = {name: find_program(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise OperationError(
            f"a local {kind} server needs {', '.join(missing)}; on Debian: apt-get install {SERVER_PACKAGES[kind]}"
        )
    return {name: str(path) for name, path in found.items()}


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class _Server:
    kind = ""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.port = 0
        self._proc: subprocess.Popen | None = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self):
        raise NotImplementedError

    @property
    def log(self) -> Path:
        assert self.base is not None
        return self.base / "server.log"

    def _wait(self, ready) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise OperationError(
                    f"the local {self.kind} server exited with {self._proc.returncode}: {self._log_tail()}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise OperationError(f"the local {self.kind} server did not start in {START_TIMEOUT:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no log"

    def stop(self) -> None:
        """Stop the server; its data stays until close()."""
        _stop(self._proc)
        self._proc = None

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def fresh_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.sql(self.create_database_sql(name))
        return name

    def create_database_sql(self, name: str) -> str:
        raise NotImplementedError

    def sql(self, query: str, database: str | None = None) -> str:
        raise NotImplementedError

    @property
    def env(self) -> dict[str, str]:
        raise NotImplementedError


class LocalMariaDB(_Server):
    """mariadbd from a temp directory; root connects without a password over its socket."""

    kind = "mysql"

    def __init__(self) -> None:
        super().__init__()
        self.socket = ""

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def env(self) -> dict[str, str]:
        """What `mysql` and `mysqldump` read to reach this server instead of the system one.

        Debian's /etc/mysql/my.cnf names the system socket, and option files win over MYSQL_UNIX_PORT;
        $MYSQL_HOME/my.cnf is read after it, so its [client] group points the clients here.
        """
        return {"MYSQL_HOME": str(self.base)}

    def start(self) -> LocalMariaDB:
        tools = _programs("mysql", "mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")
        self._tools = tools
        self.base = Path(tempfile.mkdtemp(prefix="redundo-mariadb-"))
        self.socket = str(self.base / "mysqld.sock")
        user = ["--user=root"] if os.geteuid() == 0 else []
        install = subprocess.run(
            [
                tools["mariadb-install-db"],
                "--no-defaults",
                f"--datadir={self.datadir}",
                *user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if install.returncode != 0:
            self.close()
            raise OperationError(f"mariadb-install-db failed: {install.stderr.strip().splitlines()[-1:]}")
        self.port = free_port()
        (self.base / "my.cnf").write_text(f"[client]\nsocket={self.socket}\nport={self.port}\nuser=root\n")
        with open(self.log, "w") as out:
            self._proc = subprocess.Popen(
                [
                    tools["mariadbd"],
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--socket={self.socket}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--pid-file={self.base / 'mysqld.pid'}",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=16M",
                    "--skip-log-bin",
                    *user,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            return (
                subprocess.run(
                    [tools["mariadb-admin"], "--no-defaults", f"--socket={self.socket}", "--user=root", "ping"],
                    check=False,
                    capture_output=True,
                    timeout=10,
                ).returncode
                == 0
            )

        try:
            self._wait(ready)
        except BaseException:
            self.close()
            raise
        return self

    def create_database_sql(self, name: str) -> str:
        return f"CREATE DATABASE `{name}`"

    def sql(self, query: str, database: str | None = None) -> str:
        """Run QUERY as root; tab-separated rows without headers."""
        args = [
            self._tools["mariadb"],
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--batch",
            "--skip-column-names",
            "-e",
            query,
            *([database] if database else []),
        ]
        done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise OperationError(f"mariadb: {done.stderr.strip()}")
        return done.stdout


class LocalPostgreSQL(_Server):
    """postgres from a temp directory, as a non-root user (PostgreSQL refuses root).

    As root the server runs as the `postgres` user the Debian package creates, from a directory it
    owns; otherwise as the current user. That user is the superuser, trusted on the socket.
    """

    kind = "postgresql"

    def __init__(self) -> None:
        super().__init__()
        self.user = ""

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def socket_dir(self) -> str:
        return str(self.base)

    @property
    def env(self) -> dict[str, str]:
        """What `psql`, `pg_dump` and `pg_restore` read to reach this server instead of the system one."""
        return {"PGHOST": self.socket_dir, "PGPORT": str(self.port), "PGUSER": self.user}

    def start(self) -> LocalPostgreSQL:
        tools = _programs("postgresql", "initdb", "postgres", "psql", "pg_isready")
        self._tools = tools
        self.base = Path(tempfile.mkdtemp(prefix="redundo-pg-"))
        run_as: dict = {}
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                self.close()
                raise OperationError(
                    "a local postgresql server needs the postgres user; on Debian: "
                    f"apt-get install {SERVER_PACKAGES['postgresql']}"
                ) from None
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            self.user = "postgres"
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        init = subprocess.run(
            [
                tools["initdb"],
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=self.base,
            **run_as,
        )
        if init.returncode != 0:
            self.close()
            raise OperationError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
        self.port = free_port()
        with open(self.log, "w") as out:
            self._proc = subprocess.Popen(
                [
                    tools["postgres"],
                    "-D",
                    str(self.datadir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.base}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "shared_buffers=16MB",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                **run_as,
            )

        def ready() -> bool:
            return (
                subprocess.run(
                    [tools["pg_isready"], "-q", "-h", self.socket_dir, "-p", str(self.port)],
                    check=False,
                    capture_output=True,
                    timeout=10,
                ).returncode
                == 0
            )

        try:
            self._wait(ready)
        except BaseException:
            self.close()
            raise
        return self

    def create_database_sql(self, name: str) -> str:
        return f'CREATE DATABASE "{name}"'

    def sql(self, query: str, database: str | None = None) -> str:
        """Run QUERY as the superuser; unaligned rows separated by '|', without headers."""
        done = subprocess.run(
            [
                self._tools["psql"],
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database or "postgres",
                "-c",
                query,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self.env},
        )
        if done.returncode != 0:
            raise OperationError(f"psql: {done.stderr.strip()}")
        return done.stdout


def local_server(kind: str) -> LocalMariaDB | LocalPostgreSQL:
    """A (not yet started) local server for a stack's DB_KIND: mysql or postgresql."""
    if kind == "mysql":
        return LocalMariaDB()
    if kind == "postgresql":
        return LocalPostgreSQL()
    raise OperationError(f"no local server for database {kind!r}; use mysql or postgresql")
