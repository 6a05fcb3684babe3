"""The S3 servers a rehearsal's vault can live on: moto (S3 and IAM, enforced) or SeaweedFS.

Both listen on 127.0.0.1 only. The cloud calls them as the AWS provider would (with an admin key
that the hosts never see); the hosts reach them with the keys the program created, through TLS
and the vault's real endpoint name (see `cloud`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from redundo.errors import OperationError
from redundo.localvault import ADMIN_POLICY, _with_head_bucket

__all__ = ["MotoS3", "SeaweedS3", "make_server"]


class MotoS3:
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
        iam = self._client("iam")
        iam.create_user(UserName="rehearsal-admin")
        iam.put_user_policy(UserName="rehearsal-admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
        key = iam.create_access_key(UserName="rehearsal-admin")["AccessKey"]
        self._admin = (key["AccessKeyId"], key["SecretAccessKey"])
        self._post("/moto-api/reset-auth", b"0")  # every request from now on needs a key IAM allows

    def _client(self, service: str, key: tuple[str, str] | None = None):
        import boto3
        from botocore.config import Config

        key = key or self._admin
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{self.port}", region_name=self.region,
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10):
            pass

    def create_bucket(self, bucket: str, *, region: str, object_lock: bool) -> None:
        args: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": object_lock}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._client("s3").create_bucket(**args)

    def admin_call(self, method: str, **kwargs: Any) -> Any:
        return getattr(self._client("s3"), method)(**kwargs)

    def put_bucket_policy(self, bucket: str, policy: str) -> None:
        self._client("s3").put_bucket_policy(Bucket=bucket, Policy=policy)

    def create_user(self, user: str, *, path: str) -> None:
        self._client("iam").create_user(UserName=user, Path=path)

    def put_user_policy(self, user: str, name: str, policy: str) -> None:
        # moto authorizes HEAD on a bucket as s3:HeadBucket, which AWS folds into s3:ListBucket.
        document = json.dumps(_with_head_bucket(json.loads(policy)))
        self._client("iam").put_user_policy(UserName=user, PolicyName=name, PolicyDocument=document)

    def create_access_key(self, user: str) -> tuple[str, str]:
        key = self._client("iam").create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        s3 = self._client("s3")
        found = {}
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    def close(self) -> None:
        try:
            self._post("/moto-api/reset-auth", b"inf")
            self._post("/moto-api/reset", b"")
        except OSError:
            pass
        self._server.stop()


def make_server(kind: str, region: str, workdir: Path):
    if kind == "moto":
        return MotoS3(region)
    if kind == "seaweedfs":
        return SeaweedS3(region, workdir)
    raise OperationError(f"unknown S3 server {kind!r}; use moto or seaweedfs")


class SeaweedS3:
    """Placeholder until SeaweedFS is wired in."""

    kind = "seaweedfs"

    def __init__(self, region: str, workdir: Path):
        raise OperationError("the SeaweedFS vault is not wired into the rehearsal yet")
