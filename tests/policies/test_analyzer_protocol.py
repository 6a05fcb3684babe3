"""The shipped pack under the real analyzer protocol gives the verdicts of `redundo check`, in both modes."""

from __future__ import annotations

import pulumi
import pytest
from google.protobuf import empty_pb2
from redundo.policies.rules import PACK_NAME, POLICIES, tier_config

from redundo.checks import evaluate
from redundo.tiers import TIERS
from tests.conftest import REPO, synth
from tests.policies.analyzer import analyze, configure, running_pack
from tests.policies.test_rules import find, set_both

PACK = REPO / "policies"


def expected(findings) -> set[tuple[str, str, str, str]]:
    """`redundo check`'s findings as the engine would print them: a violation is the policy's
    description and the message; a rule that cannot decide is an advisory "can't run"."""
    out = set()
    for f in findings:
        if f.undecided:
            reason = f.message.removeprefix("cannot decide at preview: ")
            out.add(
                (
                    f.policy,
                    "advisory",
                    f.urn,
                    f"can't run policy '{f.policy}' from policy pack '{PACK_NAME}@v0.0.1' during preview: {reason}",
                )
            )
        else:
            out.add((f.policy, f.level, f.urn, f"{f.description}\n{f.message}"))
    return out


SCENARIOS = {
    "shipped-standard": (dict(tier="standard"), None),
    "premium-ovh-vault": (dict(tier="premium", backupProvider="ovh", backupRegion=None), None),
    "basic-standby-in-primary-city": (dict(tier="basic", primaryRegion="SBG5", standbyRegion="SBG7"), None),
    "basic-vault-in-primary-city": (
        dict(tier="basic", primaryRegion="SBG5", backupProvider="ovh", backupRegion="SBG"),
        None,
    ),
    # The settings refuse this pair; the rule still catches a site registered with it.
    "wordpress-without-database": (
        dict(tier="standard", siteProfile="wordpress", database="mysql"),
        lambda syn: set_both(find(syn, "redundo:index:RedundantSite"), "database", "none"),
    ),
    "versioning-suspended": (
        dict(tier="premium"),
        lambda syn: set_both(
            find(syn, "aws:s3/bucketVersioning:BucketVersioning"), "versioningConfiguration", {"status": "Suspended"}
        ),
    ),
    "secret-in-user-data": (
        dict(tier="premium"),
        lambda syn: set_both(
            find(syn, "ovh:CloudProject/instance:Instance", "primary"),
            "userData",
            "#cloud-config\nwrite_files:\n- content: RESTIC_PASSWORD=hunter2\n",
        ),
    ),
    "user-data-unknown": (
        dict(tier="basic"),
        lambda syn: set_both(
            find(syn, "ovh:CloudProject/instance:Instance", "primary"), "userData", pulumi.output.Unknown()
        ),
    ),
}


@pytest.mark.parametrize("mode", ["preview", "deployed"])
def test_analyzer_protocol_gives_the_verdicts_of_check(mode):
    """One pack process a mode, as one engine run: GetAnalyzerInfo, Configure, Analyze, AnalyzeStack."""
    with running_pack(PACK, stack="small-shop", dry_run=mode == "preview") as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        assert info.name == PACK_NAME
        assert [p.name for p in info.policies] == [p.name for p in POLICIES]
        failing = set()
        for name, (overrides, mutate) in SCENARIOS.items():
            tier = overrides["tier"]
            config = tier_config(TIERS[tier])
            configure(stub, config)
            syn = synth(preview=mode == "preview", **overrides)
            if mutate is not None:
                mutate(syn)
            wanted = expected(evaluate(syn, POLICIES, config, mode=mode))
            got = analyze(stub, syn)
            assert len(got) == len(set(got)), name
            assert set(got) == wanted, name
            if any(level == "mandatory" for _, level, _, _ in got):
                failing.add(name)
        assert failing == set(SCENARIOS) - {"shipped-standard", "premium-ovh-vault", "user-data-unknown"}


def test_analyzer_protocol_a_mandatory_rule_that_cannot_run_is_an_advisory_for_the_engine():
    """Why `redundo check` keeps its own "undecided" outcome: the engine would let this through."""
    with running_pack(PACK, stack="small-shop", dry_run=True) as stub:
        configure(stub, tier_config(TIERS["basic"]))
        syn = synth(tier="basic", preview=True)
        set_both(find(syn, "ovh:CloudProject/instance:Instance", "primary"), "userData", pulumi.output.Unknown())
        got = analyze(stub, syn)
    assert {(policy, level) for policy, level, _, _ in got} == {("redundo-user-data-no-secrets", "advisory")}
