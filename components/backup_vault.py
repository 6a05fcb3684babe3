"""BackupVault: where the backups live, on another provider than the primary (or at least elsewhere)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_ovh as ovh
import pulumi_random as random

from redundo import access


class BackupVaultArgs(TypedDict):
    backend: Literal["aws", "ovh"]
    """aws: an S3 bucket; ovh: an OVH Object Storage container (for clients who want one provider)."""
    region: pulumi.Input[str]
    """The vault's region: an AWS region, or an OVH storage region such as DE."""
    retention_days: int
    """Days non-current versions (deleted or overwritten backups) are kept before they expire."""
    object_lock_days: int
    """Days of compliance-mode object lock on each new object; 0 for none."""
    name_prefix: str
    """Start of the bucket's name: lower-case, at most 30 characters."""
    service_name: NotRequired[pulumi.Input[str]]
    """OVH Public Cloud project id; required for the ovh backend."""


class BackupVault(pulumi.ComponentResource):
    """A versioned, encrypted, private bucket and three keys: the primary's (no destruction), the
    standby's (read) and the one that creates the repository at provisioning (its identity only)."""

    bucket: pulumi.Output[str]
    """The bucket's name."""
    endpoint: pulumi.Output[str]
    """The S3 endpoint URL the hosts talk to."""
    repository: pulumi.Output[str]
    """The restic repository URL (s3:ENDPOINT/BUCKET)."""
    repository_password: pulumi.Output[str]
    """The restic repository's password (secret)."""
    writer_access_key_id: pulumi.Output[str]
    """The primary's access key id."""
    writer_secret_access_key: pulumi.Output[str]
    """The primary's secret key (secret)."""
    reader_access_key_id: pulumi.Output[str]
    """The standby's access key id."""
    reader_secret_access_key: pulumi.Output[str]
    """The standby's secret key (secret)."""
    init_access_key_id: pulumi.Output[str]
    """The key that creates the repository once, at provisioning."""
    init_secret_access_key: pulumi.Output[str]
    """Its secret (secret)."""
    region: pulumi.Output[str]
    """The region to sign requests for."""

    def __init__(self, name: str, args: BackupVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:BackupVault", name, None, opts)
        if args["retention_days"] < 1:
            raise ValueError("BackupVault retention_days must be at least 1")
        if args["object_lock_days"] < 0 or args["object_lock_days"] > args["retention_days"]:
            raise ValueError("BackupVault object_lock_days must be between 0 and retention_days")
        if args["backend"] == "ovh" and not args.get("service_name"):
            raise ValueError("BackupVault with the ovh backend needs service_name (the OVH project id)")
        # Without this password no backup can be read: never replaced, never deleted with the stack.
        self.repository_password = random.RandomPassword(
            f"{name}-repository-password",
            length=48,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        ).result
        if args["backend"] == "aws":
            self._build_s3(name, args)
        else:
            self._build_ovh(name, args)
        self.repository = pulumi.Output.concat("s3:", self.endpoint, "/", self.bucket)
        self.register_outputs(
            {
                "bucket": self.bucket,
                "endpoint": self.endpoint,
                "repository": self.repository,
                "repository_password": self.repository_password,
                "writer_access_key_id": self.writer_access_key_id,
                "writer_secret_access_key": self.writer_secret_access_key,
                "reader_access_key_id": self.reader_access_key_id,
                "reader_secret_access_key": self.reader_secret_access_key,
                "init_access_key_id": self.init_access_key_id,
                "init_secret_access_key": self.init_secret_access_key,
            }
        )

    def _build_s3(self, name: str, args: BackupVaultArgs) -> None:
        region = args["region"]
        lock_days = args["object_lock_days"]
        # object_lock_enabled on the bucket forces a new bucket (terraform-provider-aws
        # internal/service/s3/bucket.go: ForceNew), which would leave the repository behind in the
        # old one. S3 enables object lock on an existing versioned bucket since late 2023, and
        # BucketObjectLockConfiguration does so (below), so the bucket never carries the flag;
        # ignore_changes keeps buckets created with it (before this) from being replaced, and
        # likewise buckets named by bucket_prefix before names were derived from the account.
        # A name known before the bucket exists (the account id is unique, the component's name
        # unique in the account), so the keys' policies and the user data name the bucket already
        # when a new stack is previewed, and the policy pack can judge them then.
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=pulumi.Output.concat(args["name_prefix"], suffix, "-", account),
            region=region,
            force_destroy=False,
            # Backups outlive the site: destroying the stack forgets the bucket but keeps its data,
            # and nothing replaces or deletes it by accident.
            opts=pulumi.ResourceOptions(
                parent=self,
                retain_on_delete=True,
                protect=True,
                ignore_changes=["objectLockEnabled", "bucket", "bucketPrefix"],
            ),
        )
        on_bucket = pulumi.ResourceOptions(parent=self, depends_on=[bucket])
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            region=region,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=on_bucket,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            region=region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_bucket,
        )
        # Deleting this resource suspends versioning, which object lock and undelete rely on.
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            region=region,
            versioning_configuration={"status": "Enabled"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket], protect=True, retain_on_delete=True),
        )
        # SSE-S3 rather than a KMS key: restic encrypts client-side already, and a KMS key would
        # add about $1 a month and a per-request charge to a small client's bill.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            region=region,
            rules=[
                {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
            ],
            opts=on_bucket,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            region=region,
            rules=[
                {
                    "id": "expire-noncurrent-after-retention",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": args["retention_days"]},
                    "expiration": {"expired_object_delete_marker": True},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        if lock_days:
            # Enables object lock on the existing versioned bucket (a tier moving up keeps its
            # bucket and repository). Removing it (a tier moving down) only drops the default
            # retention for new objects: S3 cannot disable object lock, and versions already locked
            # stay locked until their retain-until date.
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                region=region,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": "COMPLIANCE", "days": lock_days}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            region=region,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyPlainHttp",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        self.bucket = bucket.bucket
        self.endpoint = pulumi.Output.concat("https://s3.", region, ".amazonaws.com")
        self.writer_access_key_id, self.writer_secret_access_key = self._iam_key(
            f"{name}-writer", bucket.bucket, access.writer_policy
        )
        self.reader_access_key_id, self.reader_secret_access_key = self._iam_key(
            f"{name}-reader", bucket.bucket, access.reader_policy
        )
        self.init_access_key_id, self.init_secret_access_key = self._iam_key(
            f"{name}-init", bucket.bucket, access.init_policy
        )
        self.region = pulumi.Output.from_input(region)

    def _iam_key(self, name: str, bucket: pulumi.Output[str], policy) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        user = aws.iam.User(name, path="/redundo/", force_destroy=True, opts=child)
        aws.iam.UserPolicy(
            f"{name}-policy", user=user.name, policy=bucket.apply(lambda b: json.dumps(policy(b))), opts=child
        )
        key = aws.iam.AccessKey(f"{name}-key", user=user.name, opts=child)
        return key.id, pulumi.Output.secret(key.secret)

    def _build_ovh(self, name: str, args: BackupVaultArgs) -> None:
        service = args["service_name"]
        lock_days = args["object_lock_days"]
        lock = (
            {"status": "enabled", "rule": {"mode": "compliance", "period": f"P{lock_days}D"}}
            if lock_days
            else {"status": "disabled"}
        )
        # OVH Object Storage has no lifecycle rules in the provider: non-current versions are kept
        # until removed by hand, which keeps every backup at least for the retention (and costs more).
        storage = ovh.cloudproject.Storage(
            f"{name}-bucket",
            service_name=service,
            region_name=args["region"],
            # Container names are shared by every OVH customer in a region: the project id (hashed, to
            # fit 63 characters) makes this one the project's own, as the account id does on AWS.
            # Held: a container named before this keeps its name (a new name would replace it).
            name=pulumi.Output.concat(
                args["name_prefix"],
                "vault-",
                pulumi.Output.from_input(service).apply(lambda sn: hashlib.sha256(sn.encode()).hexdigest()[:12]),
            ),
            versioning={"status": "enabled"},
            encryption={"sse_algorithm": "AES256"},
            object_lock=lock,
            # Otherwise up to 1,000 object keys land in the state on each refresh: state bloat and
            # drift on every backup.
            hide_objects=True,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=True, ignore_changes=["name"]),
        )
        self.bucket = storage.name
        self.endpoint = pulumi.Output.from_input(args["region"]).apply(
            lambda r: f"https://s3.{r.lower()}.io.cloud.ovh.net"
        )
        self.writer_access_key_id, self.writer_secret_access_key = self._ovh_key(
            f"{name}-writer", service, storage.name, access.writer_policy
        )
        self.reader_access_key_id, self.reader_secret_access_key = self._ovh_key(
            f"{name}-reader", service, storage.name, access.reader_policy
        )
        self.init_access_key_id, self.init_secret_access_key = self._ovh_key(
            f"{name}-init", service, storage.name, access.init_policy
        )
        self.region = pulumi.Output.from_input(args["region"]).apply(str.lower)

    def _ovh_key(
        self, name: str, service: pulumi.Input[str], bucket: pulumi.Output[str], policy
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        user = ovh.cloudproject.User(
            name, service_name=service, description=f"redundo {name}", role_names=["objectstore_operator"], opts=child
        )
        ovh.cloudproject.S3Policy(
            f"{name}-policy",
            service_name=service,
            user_id=user.id,
            policy=bucket.apply(lambda b: json.dumps(policy(b))),
            opts=child,
        )
        credential = ovh.cloudproject.S3Credential(f"{name}-key", service_name=service, user_id=user.id, opts=child)
        return credential.access_key_id, pulumi.Output.secret(credential.secret_access_key)
