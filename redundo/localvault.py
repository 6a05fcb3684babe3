"""A real S3 server on 127.0.0.1 (moto), set up like a deployed vault: for drills and fault tests.

The bucket is versioned and encrypted, with a tier's retention and Object Lock (`LocalVault.for_tier`),
and the writer, reader and init keys carry the very policies `BackupVault` gives the hosts
(`redundo.access`), with IAM enforced. The server is started and stopped by its owner; nothing
listens beyond loopback.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redundo import access
from redundo.errors import OperationError

if TYPE_CHECKING:
    from redundo.tiers import Tier

__all__ = ["INSTALL_LOCAL", "Key", "LocalVault", "require_server"]

INSTALL_LOCAL = "pip install 'redundo[local]'"


def require_server() -> None:
    """Fail in one line, naming the install command, when the `local` extra is not installed."""
    try:
        import moto.server  # noqa: F401  flask and the S3 backend come with moto[server]
    except ImportError as exc:
        raise OperationError(
            f"the local drill needs an S3 server on 127.0.0.1 (moto[server]), which this "
            f"install lacks ({exc.name or 'moto'} is missing); install it with `{INSTALL_LOCAL}`"
        ) from None


ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
REGION = "us-east-1"


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def _with_head_bucket(policy: dict[str, Any]) -> dict[str, Any]:
    """moto authorizes HEAD on a bucket as "s3:HeadBucket", which AWS folds into s3:ListBucket."""
    statements = [dict(s) for s in policy["Statement"]]
    for statement in statements:
        if statement["Effect"] == "Allow" and "s3:ListBucket" in statement["Action"]:
            statement["Action"] = [*statement["Action"], "s3:HeadBucket"]
    return {**policy, "Statement": statements}


class LocalVault:
    """moto's S3 and IAM on a loopback port, with a bucket and the three host keys."""

    def __init__(
        self,
        bucket: str = "redundo-drill-vault",
        *,
        lock_days: int = 0,
        retention_days: int = 0,
        enforce_iam: bool = True,
        port: int = 0,
    ):
        self.bucket = bucket
        self.lock_days = lock_days
        self.retention_days = retention_days
        self.enforce_iam = enforce_iam
        self.port = port
        self._server: Any = None
        self.admin: Key | None = None
        self.writer: Key | None = None
        self.reader: Key | None = None
        self.init: Key | None = None

    @classmethod
    def for_tier(cls, tier: Tier, **kwargs: Any) -> LocalVault:
        """A vault built as `BackupVault` builds the tier's: versioned, encrypted, the tier's retention,
        and on a locking tier Object Lock in COMPLIANCE mode for the tier's days."""
        return cls(lock_days=tier.object_lock_days, retention_days=tier.retention_days, **kwargs)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def repository(self) -> str:
        return f"s3:{self.endpoint}/{self.bucket}"

    def client(self, service: str = "s3", key: Key | None = None):
        import boto3
        from botocore.config import Config

        key = key or self.admin or Key("testing", "testing")
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def start(self) -> LocalVault:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        if self.admin is None:
            self._provision()
        return self

    def stop(self) -> None:
        """Stop serving; the data stays in this process, so start() serves it again on the same port."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget everything and stop: moto keeps its state per process, and the next vault starts clean."""
        if self._server is None:
            self.start()
        self._post("/moto-api/reset-auth", b"inf")
        self._post("/moto-api/reset", b"")
        self.stop()

    def _provision(self) -> None:
        s3 = self.client()
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
        s3.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
            },
        )
        if self.retention_days:
            s3.put_bucket_lifecycle_configuration(
                Bucket=self.bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "expire-noncurrent-after-retention",
                            "Status": "Enabled",
                            "Filter": {"Prefix": ""},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": self.retention_days},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
            )
        iam = self.client("iam")
        self.admin = self._user(iam, "admin", ADMIN_POLICY)
        self.writer = self._user(iam, "writer", _with_head_bucket(access.writer_policy(self.bucket)))
        self.reader = self._user(iam, "reader", _with_head_bucket(access.reader_policy(self.bucket)))
        self.init = self._user(iam, "init", _with_head_bucket(access.init_policy(self.bucket)))
        if self.enforce_iam:
            self._post("/moto-api/reset-auth", b"0")  # from now on every request needs a key IAM allows

    @staticmethod
    def _user(iam, name: str, policy: dict[str, Any]) -> Key:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName=name)["AccessKey"]
        return Key(created["AccessKeyId"], created["SecretAccessKey"])

    def _post(self, path: str, body: bytes) -> None:
        # S310 (a URL of any scheme): self.endpoint is this server's own http://127.0.0.1 URL.
        request = urllib.request.Request(  # noqa: S310
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass
