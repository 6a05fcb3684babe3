"""The vault's access policies, as plain data: used by the components, the policy pack and the drill.

The primary's key is the one ransomware would steal, so it may add and read backups and nothing
that destroys one. We chose versioned deletes over strict append-only: the primary still runs
`restic forget --prune` (so the repository stays small without a second, more powerful machine),
but in a versioned bucket a delete only lays a delete marker, and the key may not delete versions,
touch the bucket's settings, or write the repository's `config` and `keys/`. Whatever it deletes
stays recoverable for the tier's retention (`redundo vault undelete`). The repository itself is
created once, at provisioning, with a third key that may write only `config` and `keys/`; that
key is handed to the primary for that one command on stdin and never stored there.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DESTRUCTIVE_ACTIONS",
    "PROTECTED_KEYS",
    "READER_ACTIONS",
    "WRITER_ACTIONS",
    "bucket_arn",
    "init_policy",
    "reader_policy",
    "writer_policy",
]

BUCKET_READ_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
WRITER_ACTIONS = (*BUCKET_READ_ACTIONS, "s3:GetObject", "s3:PutObject", "s3:DeleteObject")
READER_ACTIONS = (*BUCKET_READ_ACTIONS, "s3:GetObject")
# Anything that removes a version for good or loosens the bucket: never granted to a host key.
DESTRUCTIVE_ACTIONS = (
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
)
# The repository's identity: written once at provisioning, never by a host afterwards.
PROTECTED_KEYS = ("config", "keys/*")


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _policy(bucket: str, *statements: dict[str, Any]) -> dict[str, Any]:
    """A policy whose first statement lets the key list the vault (every key needs that)."""
    arn = bucket_arn(bucket)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListVault", "Effect": "Allow", "Action": list(BUCKET_READ_ACTIONS), "Resource": arn},
            *statements,
        ],
    }


def writer_policy(bucket: str) -> dict[str, Any]:
    """What the primary may do: list, read, add, and delete (into a version) everything but the repo's identity."""
    arn = bucket_arn(bucket)
    return _policy(
        bucket,
        {
            "Sid": "ReadWriteBackups",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{arn}/*",
        },
        {
            "Sid": "KeepRepositoryIdentity",
            "Effect": "Deny",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": [f"{arn}/{key}" for key in PROTECTED_KEYS],
        },
    )


def reader_policy(bucket: str) -> dict[str, Any]:
    """What the standby may do: list and read (restores run with `--no-lock`)."""
    return _policy(
        bucket,
        {"Sid": "ReadBackups", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket_arn(bucket)}/*"},
    )


def init_policy(bucket: str) -> dict[str, Any]:
    """What the one-time `restic init` at provisioning may do: write the repository's identity."""
    return _policy(
        bucket,
        {
            "Sid": "CreateRepository",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{bucket_arn(bucket)}/{key}" for key in PROTECTED_KEYS],
        },
    )
