"""The pack as the engine runs it on a stack being created: provider-computed values unknown."""

from __future__ import annotations

import pulumi
import pytest
from redundo.policies.rules import POLICIES, tier_config

from redundo.checks import StackCheck, check_stack, evaluate, merge_modes
from redundo.synthesis import Synthesis
from redundo.tiers import TIERS
from tests.conftest import STACKS, synth
from tests.policies.test_rules import CASES, find, set_both

BY_NAME = {p.name: p for p in POLICIES}
MANDATORY = {p.name for p in POLICIES if p.enforcement_level.value == "mandatory"}


def unknowns(syn: Synthesis) -> list[str]:
    """Which resources carry a value the engine could not know yet."""

    def has(value) -> bool:
        if isinstance(value, pulumi.output.Unknown):
            return True
        if isinstance(value, dict):
            return any(has(v) for v in value.values())
        if isinstance(value, list):
            return any(has(v) for v in value)
        return False

    return [r.name for r in syn.resources if has(r.inputs) or has(r.outputs)]


def test_preview_synthesis_leaves_computed_values_unknown():
    """Ids, addresses, ARNs and generated secrets are unknown at preview; inputs are not."""
    syn = synth(tier="premium", preview=True)
    bucket = find(syn, "aws:s3/bucket:Bucket")
    assert isinstance(bucket.outputs["arn"], pulumi.output.Unknown)
    assert bucket.id == ""
    assert bucket.outputs["region"] == "eu-west-3"
    instance = find(syn, "ovh:CloudProject/instance:Instance", "primary")
    assert isinstance(instance.outputs["addresses"], pulumi.output.Unknown)
    record = find(syn, "ovh:Domain/zoneRecord:ZoneRecord", "failover")
    assert isinstance(record.inputs["target"], pulumi.output.Unknown)
    assert not unknowns(synth(tier="premium"))


def test_preview_bucket_configuration_is_tied_to_the_bucket_by_property_dependency():
    """Whatever configures the vault names it through a dependency the engine knows at preview."""
    syn = synth(tier="premium", preview=True)
    bucket = find(syn, "aws:s3/bucket:Bucket")
    for type_ in (
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ):
        config = find(syn, type_)
        assert isinstance(config.inputs["bucket"], pulumi.output.Unknown)
        assert config.options["property_dependencies"]["bucket"] == [bucket.urn]


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("backup", ["aws", "ovh"])
def test_preview_every_mandatory_rule_decides_on_each_tier(tier, backup):
    syn = synth(tier=tier, backupProvider=backup, backupRegion=None, preview=True)
    assert unknowns(syn)
    findings = evaluate(syn, POLICIES, tier_config(TIERS[tier]), mode="preview")
    assert [f for f in findings if f.undecided] == []
    assert findings == []


def test_preview_shipped_stack_passes_in_both_modes_with_nothing_undecided():
    result = check_stack(STACKS, "small-shop")
    assert result.modes == ("preview", "deployed")
    assert result.findings == [] and not result.failed


@pytest.mark.parametrize(("policy", "mutate", "resource", "message"), CASES, ids=[c[0] for c in CASES])
def test_preview_one_bad_vault_or_host_input_fails_in_both_modes(policy, mutate, resource, message):
    """The same seeded input fails as the engine previews the stack and once it exists."""
    per_mode = []
    for mode in ("preview", "deployed"):
        syn = synth(tier="premium", preview=mode == "preview")
        mutate(syn)
        per_mode.append(evaluate(syn, [BY_NAME[policy]], tier_config(TIERS["premium"]), mode=mode))
    [finding] = merge_modes(per_mode)
    assert (finding.level, finding.resource, finding.message) == ("mandatory", resource, message)
    assert finding.modes == ("preview", "deployed") and not finding.undecided


def test_preview_a_rule_that_cannot_decide_is_its_own_outcome_and_fails_unless_allowed():
    syn = synth(tier="basic", preview=True)
    primary = find(syn, "ovh:CloudProject/instance:Instance", "primary")
    primary.inputs["userData"] = pulumi.output.Unknown()  # user data built from a value known only later
    findings = evaluate(syn, [BY_NAME["redundo-user-data-no-secrets"]], tier_config(TIERS["basic"]), mode="preview")
    [finding] = findings
    assert finding.undecided and finding.mandatory and finding.resource == "small-shop-primary-instance"
    assert finding.message == "cannot decide at preview: string value at .userData can't be known during preview"
    assert StackCheck("small-shop", "basic", findings).failed
    assert not StackCheck("small-shop", "basic", findings, allow_unknown=True).failed


@pytest.mark.parametrize("preview", [True, False])
def test_preview_cold_standby_planned_in_the_primary_city_fails_on_basic(preview):
    """Strasbourg: primary SBG5, cold standby planned in SBG7, nothing created yet, still refused."""
    syn = synth(tier="basic", primaryRegion="SBG5", standbyRegion="SBG7", preview=preview)
    assert syn.by_type("ovh:CloudProject/instance:Instance") == [
        find(syn, "ovh:CloudProject/instance:Instance", "primary")
    ]
    findings = evaluate(syn, [BY_NAME["redundo-standby-outside-primary-city"]], tier_config(TIERS["basic"]))
    assert [(f.level, f.resource, f.message) for f in findings] == [
        (
            "mandatory",
            "small-shop-standby",
            "standby small-shop-standby (cold, created at failover) is planned in Strasbourg, the primary's city; "
            "choose a standbyRegion in another city",
        )
    ]


def test_preview_cold_standby_in_another_city_passes():
    syn = synth(tier="basic", primaryRegion="SBG5", standbyRegion="DE1", preview=True)
    assert evaluate(syn, [BY_NAME["redundo-standby-outside-primary-city"]], tier_config(TIERS["basic"])) == []


@pytest.mark.parametrize(
    ("profile", "database", "message"),
    [
        (
            "wordpress",
            "none",
            "site small-shop is a wordpress site but its database is none: its orders and accounts "
            "would never be backed up; set redundo:database to mysql",
        ),
        (
            "postgres-app",
            "none",
            "site small-shop is a postgres-app site but its database is none: its orders and "
            "accounts would never be backed up; set redundo:database to postgresql",
        ),
        (
            "postgres-app",
            "mysql",
            "site small-shop is a postgres-app site but backs up a mysql database; set redundo:database to postgresql",
        ),
    ],
)
@pytest.mark.parametrize("preview", [True, False])
def test_preview_database_backed_profile_without_its_database_fails(profile, database, message, preview):
    """The stack settings refuse this pair outright; the rule still catches a site registered with it."""
    own = {"wordpress": "mysql", "postgres-app": "postgresql"}[profile]
    syn = synth(tier="standard", siteProfile=profile, database=own, preview=preview)
    site = find(syn, "redundo:index:RedundantSite")
    set_both(site, "database", database)
    findings = evaluate(syn, [BY_NAME["redundo-database-backed-up-for-profile"]], tier_config(TIERS["standard"]))
    assert [(f.level, f.resource, f.message) for f in findings] == [("mandatory", "small-shop", message)]


@pytest.mark.parametrize(
    ("profile", "database"),
    [("wordpress", "mysql"), ("postgres-app", "postgresql"), ("static", "none"), ("php", "none"), ("", "none")],
)
def test_preview_profile_with_a_fitting_database_passes(profile, database):
    syn = synth(tier="standard", siteProfile=profile or None, database=database, preview=True)
    assert evaluate(syn, [BY_NAME["redundo-database-backed-up-for-profile"]], tier_config(TIERS["standard"])) == []


def test_preview_mandatory_rules_are_the_ones_checked():
    """Guards the list above: every rule shipped is mandatory, so 'no undecided' covers them all."""
    assert MANDATORY == set(BY_NAME)
