"""The replacement guard: a preview's replace or delete steps on stateful resources stop `up`,
`preview`, `failover` and `failback` before anything changes, unless accepted by URN."""

from __future__ import annotations

import pytest

from tests.cli.test_up import BUCKET_URN, call, fake, invoke, project  # noqa: F401  (fixtures)
from tests.fakes import replace_events, resource_events, summary_event

PRIMARY_URN = (
    "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:PrimarySite$"
    "ovh:CloudProject/instance:Instance::small-shop-primary-instance"
)
STANDBY_URN = (
    "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:Standby$"
    "ovh:CloudProject/instance:Instance::small-shop-standby-instance"
)
RECORD_URN = (
    "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:Failover$"
    "ovh:Domain/zoneRecord:ZoneRecord::small-shop-failover-site-record"
)


def _verbs(fake) -> list[str]:
    return [args[0] for args, _ in fake.calls if args[0] in ("preview", "up", "destroy")]


def test_up_refuses_a_preview_that_replaces_the_primary_and_sends_no_up(project, fake):
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["userData"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: refusing to deploy: {PRIMARY_URN} would be replaced because userData "
        "changed (an OVH instance (its disk holds the site)); nothing was changed"
    )
    assert lines[0].endswith(f"run again with --allow-replace '{PRIMARY_URN}'")
    assert _verbs(fake) == ["preview"]
    assert "--policy-pack" in call(fake, "preview")[0]


def test_up_allow_replace_accepts_exactly_the_named_urn(project, fake):
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["bootFrom"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes", "--allow-replace", PRIMARY_URN)
    assert result.exit_code == 0, result.output
    assert _verbs(fake) == ["preview", "up"]


def test_up_allowing_another_urn_still_refuses(project, fake):
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["bootFrom"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes", "--allow-replace", STANDBY_URN)
    assert result.exit_code == 1
    assert "because bootFrom changed" in result.stderr
    assert _verbs(fake) == ["preview"]


def test_up_refuses_deleting_the_vault_bucket_but_not_a_stateless_resource(project, fake):
    fake.verb_events = {
        "preview": [
            *resource_events(BUCKET_URN, "aws:s3/bucket:Bucket", "delete"),
            *replace_events(RECORD_URN, "ovh:Domain/zoneRecord:ZoneRecord", ["zone"]),
            summary_event(delete=1, replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    assert f"{BUCKET_URN} would be deleted (the vault's bucket (the backups))" in result.stderr
    assert RECORD_URN not in result.stderr
    assert _verbs(fake) == ["preview"]


def test_up_lets_a_downgrade_remove_the_standby_instance(project, fake):
    fake.verb_events = {
        "preview": [
            *resource_events(STANDBY_URN, "ovh:CloudProject/instance:Instance", "delete"),
            summary_event(delete=1),
        ]
    }
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 0, result.output
    assert _verbs(fake) == ["preview", "up"]


def test_preview_shows_the_steps_then_refuses(project, fake):
    fake.verb_events = {
        "preview": [
            *replace_events(PRIMARY_URN, "ovh:CloudProject/instance:Instance", ["flavor"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "preview")
    assert result.exit_code == 1
    assert "+- create-replacement ovh:Instance  small-shop-primary-instance" in result.stdout
    assert result.stderr.strip().startswith(
        f"error: refusing to deploy: {PRIMARY_URN} would be replaced because flavor changed"
    )


def test_failover_refused_restores_the_recorded_side_and_sends_no_up(project, fake):
    fake.outputs = {"primaryIpv4": "203.0.113.1", "standbyIpv4": "203.0.113.2", "activeSide": "primary"}
    fake.verb_events = {
        "preview": [
            *replace_events(STANDBY_URN, "ovh:CloudProject/instance:Instance", ["userData"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: refusing to fail over: {STANDBY_URN} would be replaced")
    assert _verbs(fake) == ["preview"]
    sides = [a[-1] for a, _ in fake.calls if a[:3] == ["config", "set", "redundo:activeSide"]]
    assert sides == ["standby", "primary"]
    assert any(a[:3] == ["config", "rm", "redundo:switchedAt"] for a, _ in fake.calls)


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"keys": ["userData"]}, "userData"),
        ({"detailedDiff": {"bootFrom": {"diffKind": "update-replace"}, "name": {"diffKind": "update"}}}, "bootFrom"),
        ({"diffs": ["objectLockEnabled"]}, "objectLockEnabled"),
    ],
)
def test_guard_names_the_forcing_property_from_keys_else_the_diff(metadata, named):
    from pulumi.automation import events

    from redundo.replacement import ReplacementGuard

    guard = ReplacementGuard()
    meta = {"op": "replace", "urn": BUCKET_URN, "type": "aws:s3/bucket:Bucket", "provider": "", **metadata}
    guard(events.EngineEvent.from_json({"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": meta}}))
    assert [h.properties for h in guard.hazards.values()] == [(named,)]


def test_destroy_excludes_protected_resources_and_says_what_it_kept(project, fake):
    fake.state = [
        {"urn": PRIMARY_URN, "type": "ovh:CloudProject/instance:Instance", "protect": True},
        {"urn": BUCKET_URN, "type": "aws:s3/bucket:Bucket", "protect": True, "retainOnDelete": True},
        {"urn": RECORD_URN, "type": "ovh:Domain/zoneRecord:ZoneRecord"},
    ]
    result = invoke(project, "destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "--exclude-protected" in call(fake, "destroy")[0]
    out = " ".join(result.stdout.split())
    assert "kept (protected), still in stack small-shop: small-shop-primary-instance, small-shop-vault-bucket" in out
    assert "small-shop-failover-site-record" not in out.split("kept (protected)")[1]
    assert "pulumi state unprotect --stack small-shop --all" in out
    assert "site's DNS record was left in the zone" in out
    assert "systemctl disable --now redundo-backup.timer redundo-prune.timer redundo-verify.timer" in out


def test_up_premium_to_standard_says_what_the_existing_lock_still_holds(project, fake):
    lock_urn = BUCKET_URN.replace(
        "aws:s3/bucket:Bucket::small-shop-vault-bucket",
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration::small-shop-vault-object-lock",
    )
    fake.verb_events = {
        "preview": [
            *resource_events(lock_urn, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "delete"),
            summary_event(delete=1),
        ]
    }
    result = invoke(project, "up", "--tier", "standard", "--yes")
    assert result.exit_code == 1
    assert (
        "new backups would no longer be locked; versions already locked stay locked until their "
        "retain-until date, and S3 keeps object lock enabled on the bucket for good"
    ) in result.stderr
    assert _verbs(fake) == ["preview"]
    accepted = invoke(project, "up", "--tier", "standard", "--yes", "--allow-replace", lock_urn)
    assert accepted.exit_code == 0, accepted.output


OVH_VAULT_URN = (
    "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:BackupVault$"
    "ovh:CloudProject/storage:Storage::small-shop-vault-bucket"
)


def test_up_across_premium_on_an_ovh_vault_refuses_with_the_reason_and_no_allow_replace(project, fake):
    """object_lock disabled<->enabled forces a new OVH container (ModifyPlan RequiresReplace): the
    guard names why and what to do, and does not offer --allow-replace (the container is protected)."""
    fake.verb_events = {
        "preview": [
            *replace_events(OVH_VAULT_URN, "ovh:CloudProject/storage:Storage", ["objectLock"]),
            summary_event(replace=1),
        ]
    }
    result = invoke(project, "up", "--tier", "standard", "--yes")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OVH sets a container's object lock only when it is created" in lines[0]
    assert "stay on the current tier, or deploy the new tier as a new stack" in lines[0]
    assert "--allow-replace" not in lines[0]
    assert _verbs(fake) == ["preview"]


def test_force_new_table_knows_object_lock_replaces_an_ovh_container():
    from redundo.replacement import replace_keys

    assert replace_keys("ovh:CloudProject/storage:Storage", ["objectLock", "versioning", "encryption"]) == [
        "objectLock"
    ]
