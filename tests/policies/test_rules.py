"""Each policy: the compliant baseline passes; one field changed gives the exact message."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from redundo.policies.rules import POLICIES, tier_config

from redundo.checks import evaluate
from redundo.synthesis import Registered, Synthesis
from redundo.tiers import TIERS
from tests.conftest import synth

BY_NAME = {p.name: p for p in POLICIES}


def findings(syn: Synthesis, policy: str, tier: str = "premium"):
    return [(f.level, f.resource, f.message) for f in evaluate(syn, [BY_NAME[policy]], tier_config(TIERS[tier]))]


def find(syn: Synthesis, type_: str, name_part: str = "") -> Registered:
    return next(r for r in syn.by_type(type_) if name_part in r.name)


def set_both(r: Registered, key: str, value) -> None:
    """Change one property as the engine would report it to both kinds of policy."""
    r.inputs[key] = value
    r.outputs[key] = value


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("backup", ["aws", "ovh"])
def test_rules_shipped_tiers_pass_every_policy(tier, backup):
    syn = synth(tier=tier, backupProvider=backup, backupRegion=None)
    assert evaluate(syn, POLICIES, tier_config(TIERS[tier])) == []


Mutation = Callable[[Synthesis], None]


CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "redundo-standby-outside-primary-city",
        lambda syn: set_both(find(syn, "ovh:CloudProject/instance:Instance", "standby"), "region", "GRA9"),
        "small-shop-standby-instance",
        "standby small-shop-standby-instance is in Gravelines, the primary's city; choose a standbyRegion in "
        "another city",
    ),
    (
        "redundo-vault-versioning-enabled",
        lambda syn: set_both(
            find(syn, "aws:s3/bucketVersioning:BucketVersioning"), "versioningConfiguration", {"status": "Suspended"}
        ),
        "small-shop-vault-bucket",
        "vault small-shop-vault-bucket is not versioned; enable versioning so deleted backups stay recoverable",
    ),
    (
        "redundo-vault-encryption-enabled",
        lambda syn: set_both(
            find(syn, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
            "rules",
            [],
        ),
        "small-shop-vault-bucket",
        "vault small-shop-vault-bucket has no server-side encryption; add AES256 or aws:kms",
    ),
    (
        "redundo-vault-public-access-blocked",
        lambda syn: set_both(
            find(syn, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), "restrictPublicBuckets", False
        ),
        "small-shop-vault-bucket",
        "vault small-shop-vault-bucket does not block all public access; set all four public-access-block flags",
    ),
    (
        "redundo-vault-retention-covers-tier",
        lambda syn: (
            find(syn, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
            .outputs["rules"][0]["noncurrentVersionExpiration"]
            .update({"noncurrentDays": 7})
        ),
        "small-shop-vault-bucket",
        "vault small-shop-vault-bucket expires old versions after 7 days; the tier keeps them 180 days",
    ),
    (
        "redundo-vault-object-lock-for-immutable-tiers",
        lambda syn: (
            find(syn, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
            .outputs["rule"]["defaultRetention"]
            .update({"mode": "GOVERNANCE"})
        ),
        "small-shop-vault-bucket",
        "vault small-shop-vault-bucket has no compliance-mode object lock of at least 30 days; the tier promises "
        "immutable backups",
    ),
    (
        "redundo-dns-ttl-fits-rto",
        lambda syn: set_both(find(syn, "ovh:Domain/zoneRecord:ZoneRecord", "failover"), "ttl", 3600),
        "small-shop-failover-site-record",
        "small-shop-failover-site-record has a TTL of 3600 s; the tier's RTO allows at most 300 s",
    ),
    (
        "redundo-user-data-no-secrets",
        lambda syn: set_both(
            find(syn, "ovh:CloudProject/instance:Instance", "primary"),
            "userData",
            "#cloud-config\nwrite_files:\n- content: RESTIC_PASSWORD=hunter2\n",
        ),
        "small-shop-primary-instance",
        "small-shop-primary-instance's user data holds RESTIC_PASSWORD; instance metadata is readable by any "
        "local process, deliver credentials over SSH into a root-only file",
    ),
]


@pytest.mark.parametrize(("policy", "mutate", "resource", "message"), CASES, ids=[c[0] for c in CASES])
def test_rules_one_changed_field_gives_the_exact_message(policy, mutate, resource, message):
    syn = synth(tier="premium")
    assert findings(syn, policy) == []
    mutate(syn)
    assert findings(syn, policy) == [("mandatory", resource, message)]


def _install(syn) -> Registered:
    return find(syn, "command:remote:Command", "primary-agent-install")


def _retime_backup(every: str) -> Mutation:
    def mutate(syn):
        install = _install(syn)
        set_both(install, "stdin", install.inputs["stdin"].replace("OnUnitActiveSec=15min", f"OnUnitActiveSec={every}"))

    return mutate


def test_rules_backup_timer_slower_than_the_rpo_is_refused():
    """The rule reads the timer from the bundle the primary gets over SSH."""
    syn = synth(tier="premium")
    assert findings(syn, "redundo-backup-interval-honours-rpo") == []
    _retime_backup("60min")(syn)
    assert findings(syn, "redundo-backup-interval-honours-rpo") == [
        (
            "mandatory",
            "small-shop-primary-agent-install",
            "small-shop-primary-agent-install backs up every 60 min (+1 min spread); the tier's RPO of 30 min needs a "
            "shorter interval",
        )
    ]


def test_rules_primary_without_a_backup_timer_is_refused():
    syn = synth(tier="basic")
    install = _install(syn)
    without = "\n".join(line for line in install.inputs["stdin"].splitlines() if "redundo-backup.timer" not in line)
    set_both(install, "stdin", without)
    assert findings(syn, "redundo-backup-interval-honours-rpo", "basic") == [
        (
            "mandatory",
            "small-shop-primary-agent-install",
            "small-shop-primary-agent-install installs no redundo-backup.timer; nothing backs this site up",
        )
    ]


def test_rules_primary_without_an_agent_install_is_refused():
    syn = synth(tier="basic")
    syn.resources.remove(_install(syn))
    assert findings(syn, "redundo-backup-interval-honours-rpo", "basic") == [
        (
            "mandatory",
            "small-shop-primary-instance",
            "small-shop-primary-instance gets no agent bundle over SSH; nothing backs this site up",
        )
    ]


def test_rules_another_provider_in_the_primary_city_is_outside_its_blast_radius():
    """OVH Paris and AWS Paris share a city but not a provider: the rule allows it."""
    syn = synth(tier="premium")
    set_both(find(syn, "ovh:CloudProject/instance:Instance", "primary"), "region", "EU-WEST-PAR")
    assert findings(syn, "redundo-vault-outside-primary-blast-radius") == []


def test_rules_vault_in_the_primary_city_on_the_same_provider_is_refused():
    syn = synth(tier="basic", primaryRegion="SBG5", backupProvider="ovh", backupRegion="DE")
    storage = find(syn, "ovh:CloudProject/storage:Storage")
    assert findings(syn, "redundo-vault-outside-primary-blast-radius", "basic") == []
    set_both(storage, "regionName", "SBG")
    assert findings(syn, "redundo-vault-outside-primary-blast-radius", "basic") == [
        (
            "mandatory",
            "small-shop-vault-bucket",
            "vault small-shop-vault-bucket is in OVH SBG (Strasbourg, FR), the same provider and city as the primary "
            "(OVH SBG5 (Strasbourg, FR)); move it to another provider or city",
        )
    ]


def _policy_doc(syn: Synthesis) -> Registered:
    return find(syn, "aws:iam/userPolicy:UserPolicy", "writer")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            "small-shop-vault-writer-policy allows wildcard actions s3:*; list the actions the vault needs",
        ),
        (
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
            "small-shop-vault-writer-policy allows resources *; name the vault's bucket",
        ),
        (
            {"Effect": "Allow", "Action": ["s3:DeleteObjectVersion"], "Resource": "arn:aws:s3:::b/*"},
            "small-shop-vault-writer-policy allows s3:DeleteObjectVersion; a host key must never destroy a backup or "
            "change the bucket",
        ),
        (
            {"Effect": "Allow", "Action": ["s3:PutLifecycleConfiguration"], "Resource": "arn:aws:s3:::b"},
            "small-shop-vault-writer-policy allows s3:PutLifecycleConfiguration; "
            "a host key must never destroy a backup or change the bucket",
        ),
    ],
)
def test_rules_iam_least_privilege_refuses_each_broadening(statement, message):
    syn = synth()
    record = _policy_doc(syn)
    assert findings(syn, "redundo-iam-least-privilege") == []
    document = json.loads(record.inputs["policy"])
    document["Statement"].append(statement)
    record.inputs["policy"] = json.dumps(document)
    assert findings(syn, "redundo-iam-least-privilege") == [("mandatory", "small-shop-vault-writer-policy", message)]


def test_rules_iam_refuses_an_admin_policy_attachment():
    syn = synth()
    syn.resources.append(
        Registered(
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
            "admin",
            {"user": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            True,
            "",
            "id",
            urn="urn:pulumi:small-shop::redundo::aws:iam/userPolicyAttachment:UserPolicyAttachment::admin",
        )
    )
    assert findings(syn, "redundo-iam-least-privilege") == [
        (
            "mandatory",
            "admin",
            "admin attaches arn:aws:iam::aws:policy/AdministratorAccess; grant only the vault's actions",
        )
    ]


def test_rules_enforcement_level_is_configurable_per_stack():
    syn = synth(tier="premium")
    set_both(find(syn, "ovh:Domain/zoneRecord:ZoneRecord", "failover"), "ttl", 3600)
    config = tier_config(TIERS["premium"])
    config["redundo-dns-ttl-fits-rto"]["enforcementLevel"] = "advisory"
    [finding] = evaluate(syn, [BY_NAME["redundo-dns-ttl-fits-rto"]], config)
    assert finding.level == "advisory" and not finding.mandatory


def test_rules_names_are_kebab_case_with_explicit_levels():
    for policy in POLICIES:
        assert policy.name.startswith("redundo-") and policy.name == policy.name.lower()
        assert "check" not in policy.name and " " not in policy.name
        assert policy.enforcement_level is not None
        assert policy.description.endswith(".") and policy.description[0].isupper()
