"""The vault's secure defaults and the least privilege of its keys."""

from __future__ import annotations

import json

import pulumi
import pytest
from redundo.components.backup_vault import BackupVault

from redundo import access
from redundo.synthesis import synthesize
from redundo.tiers import TIERS
from tests.conftest import one, synth, unwrap


def _policies(syn) -> dict[str, dict]:
    return {r.name: json.loads(unwrap(r.inputs["policy"])) for r in syn.by_type("aws:iam/userPolicy:UserPolicy")}


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("tier", list(TIERS))
def test_backup_vault_bucket_is_versioned_encrypted_private_and_tls_only(tier):
    syn = synth(tier=tier)
    bucket = one(syn, "aws:s3/bucket:Bucket")
    assert bucket.options["retain_on_delete"] is True
    assert one(syn, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = one(syn, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in ("AES256", "aws:kms")
    block = one(syn, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert one(syn, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    deny = json.loads(one(syn, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("tier", list(TIERS))
def test_backup_vault_lifecycle_keeps_noncurrent_versions_for_the_tier_retention(tier):
    rule = one(synth(tier=tier), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == TIERS[tier].retention_days
    assert "days" not in rule.get("expiration", {}), "current backups must never expire by lifecycle"


@pytest.mark.parametrize("tier", list(TIERS))
def test_backup_vault_object_lock_follows_the_tier(tier):
    syn = synth(tier=tier)
    days = TIERS[tier].object_lock_days
    locks = syn.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    # The bucket never carries the ForceNew flag: the lock configuration enables lock on it in place.
    assert "objectLockEnabled" not in one(syn, "aws:s3/bucket:Bucket").inputs
    if days:
        assert locks[0].inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": days}
    else:
        assert locks == []


@pytest.mark.parametrize("tier", list(TIERS))
def test_backup_vault_keys_have_no_wildcard_and_cannot_destroy_backups(tier):
    syn = synth(tier=tier)
    bucket = one(syn, "aws:s3/bucket:Bucket").outputs["bucket"]
    policies = _policies(syn)
    assert set(policies) == {
        "small-shop-vault-writer-policy",
        "small-shop-vault-reader-policy",
        "small-shop-vault-init-policy",
    }
    for name, document in policies.items():
        for statement in document["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert all("*" not in a for a in _actions(statement)), f"{name} grants a wildcard action"
            assert all(r == f"arn:aws:s3:::{bucket}" or r.startswith(f"arn:aws:s3:::{bucket}/") for r in resources)
            if statement["Effect"] == "Allow":
                assert not set(_actions(statement)) & set(access.DESTRUCTIVE_ACTIONS), name
    reader_allowed = {a for s in policies["small-shop-vault-reader-policy"]["Statement"] for a in _actions(s)}
    assert reader_allowed == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"}


def test_backup_vault_init_key_writes_only_the_repository_identity():
    document = _policies(synth())["small-shop-vault-init-policy"]
    bucket_arn = document["Statement"][0]["Resource"]
    writes = [s for s in document["Statement"] if "s3:PutObject" in _actions(s)]
    assert len(writes) == 1 and writes[0]["Resource"] == [f"{bucket_arn}/config", f"{bucket_arn}/keys/*"]
    assert all("s3:DeleteObject" not in _actions(s) for s in document["Statement"])


def test_backup_vault_writer_may_not_write_the_repository_identity():
    document = _policies(synth())["small-shop-vault-writer-policy"]
    bucket_arn = document["Statement"][0]["Resource"]
    denies = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1
    assert set(_actions(denies[0])) == {"s3:PutObject", "s3:DeleteObject"}
    assert set(denies[0]["Resource"]) == {f"{bucket_arn}/config", f"{bucket_arn}/keys/*"}


@pytest.mark.parametrize("tier", list(TIERS))
def test_backup_vault_access_keys_and_password_are_exported_only_as_secrets(tier):
    exports = synth(tier=tier).exports
    for name in ("writerSecretAccessKey", "readerSecretAccessKey", "repositoryPassword"):
        value, is_secret = exports[name]
        assert is_secret and value, name
    assert exports["writerAccessKeyId"][1] is False  # ids are not secrets; keys are


def test_backup_vault_ovh_backend_uses_a_dedicated_user_with_the_same_policy():
    syn = synth(backupProvider="ovh", backupRegion="WAW")
    assert syn.by_type("aws:s3/bucket:Bucket") == []
    storage = one(syn, "ovh:CloudProject/storage:Storage")
    assert storage.inputs["regionName"] == "WAW"
    assert storage.inputs["versioning"] == {"status": "enabled"}
    assert storage.inputs["encryption"] == {"sseAlgorithm": "AES256"}
    assert storage.options["retain_on_delete"] is True
    users = syn.by_type("ovh:CloudProject/user:User")
    assert sorted(u.name for u in users) == [
        "small-shop-vault-init",
        "small-shop-vault-reader",
        "small-shop-vault-writer",
    ]
    policies = {
        r.name: json.loads(unwrap(r.inputs["policy"])) for r in syn.by_type("ovh:CloudProject/s3Policy:S3Policy")
    }
    bucket = storage.outputs["name"]
    assert policies["small-shop-vault-writer-policy"] == access.writer_policy(bucket)
    assert policies["small-shop-vault-reader-policy"] == access.reader_policy(bucket)
    assert syn.exports["writerSecretAccessKey"][1] is True


def test_backup_vault_refuses_a_lock_longer_than_the_retention():
    def program():
        BackupVault(
            "v",
            {
                "backend": "aws",
                "region": "eu-west-3",
                "retention_days": 7,
                "object_lock_days": 30,
                "name_prefix": "redundo-t-",
            },
        )

    with pytest.raises(ValueError, match="object_lock_days must be between 0 and retention_days"):
        synthesize(program, project="t", stack="t")


def test_backup_vault_ovh_backend_needs_the_project_id():
    def program():
        BackupVault(
            "v",
            {"backend": "ovh", "region": "DE", "retention_days": 7, "object_lock_days": 0, "name_prefix": "redundo-t-"},
            pulumi.ResourceOptions(),
        )

    with pytest.raises(ValueError, match="needs service_name"):
        synthesize(program, project="t", stack="t")


def test_backup_vault_ovh_object_lock_is_compliance_for_the_tier_days():
    syn = synth(tier="premium", backupProvider="ovh", backupRegion="DE")
    lock = one(syn, "ovh:CloudProject/storage:Storage").inputs["objectLock"]
    assert lock == {"status": "enabled", "rule": {"mode": "compliance", "period": "P30D"}}


@pytest.mark.parametrize("backend", ["aws", "ovh"])
def test_backup_vault_bucket_and_password_are_protected_and_the_bucket_retained(backend):
    syn = synth(tier="premium", backupProvider=backend, backupRegion="eu-west-3" if backend == "aws" else "DE")
    bucket_type = "aws:s3/bucket:Bucket" if backend == "aws" else "ovh:CloudProject/storage:Storage"
    bucket = one(syn, bucket_type)
    assert bucket.options["protect"] and bucket.options["retain_on_delete"]
    assert one(syn, "random:index/randomPassword:RandomPassword").options["protect"]
    if backend == "aws":
        assert bucket.options["ignore_changes"] == ["objectLockEnabled", "bucket", "bucketPrefix"]
        versioning = one(syn, "aws:s3/bucketVersioning:BucketVersioning")
        assert versioning.options["protect"] and versioning.options["retain_on_delete"]
    else:
        assert bucket.inputs["hideObjects"] is True, "object keys would bloat the state on every refresh"


def test_backup_vault_ovh_container_name_carries_the_project_and_is_held():
    """m4: container names are shared across OVH customers; the project id (hashed) tells two
    `shop` stacks apart, and an existing container keeps its old name (held, never replaced)."""
    import hashlib

    from tests.conftest import example_config

    first = one(synth(backupProvider="ovh", backupRegion="WAW"), "ovh:CloudProject/storage:Storage")
    other = one(
        synth(backupProvider="ovh", backupRegion="WAW", ovhServiceName="f" * 32), "ovh:CloudProject/storage:Storage"
    )
    project = example_config()["ovhServiceName"]
    assert first.inputs["name"] == f"redundo-small-shop-vault-{hashlib.sha256(project.encode()).hexdigest()[:12]}"
    assert first.inputs["name"] != other.inputs["name"]
    assert len(first.inputs["name"]) <= 63
    assert "name" in first.options["ignore_changes"]


def test_backup_vault_aws_bucket_name_is_unchanged():
    import hashlib

    from redundo.synthesis import ACCOUNT_ID

    bucket = one(synth(), "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == (
        f"redundo-small-shop-{hashlib.sha256(b'small-shop-vault').hexdigest()[:8]}-{ACCOUNT_ID}"
    )
