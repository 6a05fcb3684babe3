"""`redundo plan --diff`: tier changes, agent fixes and image re-ids never replace the primary, the
standby's disk, the vault's bucket or the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from redundo.plan import synthesize_stack
from redundo.plandiff import make_diff
from redundo.settings import read_stack_config
from redundo.synthesis import map_wire
from redundo.tiers import TIERS
from tests.conftest import REPO, STACKS

STACK = "small-shop"
# What holds the site and its backups: none of these may be replaced, nor deleted (save a standby
# instance when the new tier's standby is cold).
KEPT = {
    "small-shop-primary-instance": "ovh:CloudProject/instance:Instance",
    "small-shop-standby-instance": "ovh:CloudProject/instance:Instance",
    "small-shop-vault-bucket": "aws:s3/bucket:Bucket",
    "small-shop-vault-versioning": "aws:s3/bucketVersioning:BucketVersioning",
    "small-shop-vault-repository-password": "random:index/randomPassword:RandomPassword",
    "small-shop-primary-role-repository-init": "command:remote:Command",
}


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "stacks").mkdir()
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(STACKS / f"Pulumi.{STACK}.yaml", tmp_path / "stacks" / f"Pulumi.{STACK}.yaml")
    return tmp_path


def _set_tier(project: Path, tier: str) -> None:
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["redundo:tier"] = tier
    path.write_text(yaml.safe_dump(document))


def _record_state(project: Path, tier: str, edit=None) -> Path:
    """A checkpoint as the embedded backend writes it after an `up` on `tier`: each custom
    resource's inputs, secrets encrypted (here: the engine's marker with an opaque ciphertext)."""
    raw = {**read_stack_config(project / "stacks", STACK), "tier": tier}
    syn = synthesize_stack(STACK, raw)
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:opaque"}
    resources = []
    for r in syn.resources:
        inputs = map_wire(r.inputs, secret=lambda _: secret)
        if edit:
            inputs = edit(r, inputs)
        resources.append(
            {
                "urn": r.urn,
                "custom": r.custom,
                "id": r.id,
                "type": r.type,
                "inputs": inputs,
                "outputs": {},
                "parent": r.parent,
                "protect": bool(r.options.get("protect")),
            }
        )
    path = project / ".redundo" / "state" / ".pulumi" / "stacks" / "redundo" / f"{STACK}.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"version": 3, "checkpoint": {"stack": STACK, "latest": {"manifest": {}, "resources": resources}}})
    )
    return path


def _assert_nothing_stateful_lost(report, new_tier: str, old_tier: str = "") -> None:
    by_name = {c.name: c for c in report.changes}
    for name, type_ in KEPT.items():
        change = by_name.get(name)
        if change is None:
            continue
        assert change.type == type_
        if name == "small-shop-standby-instance" and change.op == "replace":
            # A standby holds no unique data: a new size rebuilds it, on purpose (the guard asks).
            assert set(change.replaced_by) <= {"flavor", "billingPeriod"}, change
            continue
        assert change.op != "replace", f"{name} replaced because {change.replaced_by}"
        if change.op == "delete":
            assert name == "small-shop-standby-instance" and TIERS[new_tier].standby_mode == "cold", name
    # Leaving premium drops the lock's default rule for new backups: asked for, never silent.
    allowed = {"small-shop-vault-object-lock"} if old_tier == "premium" else set()
    assert {c.name for c in report.destructive} == allowed


PAIRS = [(a, b) for a in TIERS for b in TIERS if a != b]


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_plandiff_tier_change_keeps_primary_standby_disk_vault_and_repository(project, old, new):
    _set_tier(project, old)
    report = make_diff(project, STACK, tier=new)
    _assert_nothing_stateful_lost(report, new, old)
    by_name = {c.name: c for c in report.changes}
    assert by_name["small-shop-vault-bucket"].op == "same"
    lock = by_name.get("small-shop-vault-object-lock")
    if new == "premium":
        assert lock is not None and lock.op == "create"  # lock enabled on the existing bucket
    elif old == "premium":
        assert lock is not None and lock.op == "delete"  # the guard asks; the existing lock still holds
    if TIERS[old].standby_mode != "cold" and TIERS[new].standby_mode != "cold":
        standby = by_name["small-shop-standby-instance"]
        before = synthesize_stack(STACK, {**read_stack_config(project / "stacks", STACK), "tier": old})
        after = synthesize_stack(STACK, {**read_stack_config(project / "stacks", STACK), "tier": new})
        sizes = [
            next(r for r in syn.resources if r.name == "small-shop-standby-instance").inputs["flavor"]
            for syn in (before, after)
        ]
        if sizes[0] == sizes[1]:
            assert standby.op == "same", standby
        else:
            # Never left at the old size while the estimate prices the new one.
            assert standby.op == "replace" and "flavor" in standby.replaced_by, standby


def test_plandiff_agent_script_change_rolls_the_bundle_and_holds_the_user_data(project):
    """A host deployed with an older agent (in its user data, or an older bundle) is not rebuilt:
    the new bundle goes over SSH."""

    def older_agent(r, inputs):
        if r.type == "ovh:CloudProject/instance:Instance":
            inputs = {**inputs, "userData": "#cloud-config\n# the agent of redundo 0.1, inline\n"}
        if r.name.endswith("-agent-install"):
            inputs = {**inputs, "stdin": "# bundle of redundo 0.1\n", "triggers": ["0.1-digest"]}
        return inputs

    _record_state(project, "standard", older_agent)
    report = make_diff(project, STACK)
    assert report.before.startswith("the recorded state")
    by_name = {c.name: c for c in report.changes}
    assert (by_name["small-shop-primary-instance"].op, by_name["small-shop-primary-instance"].held) == (
        "same",
        ["userData"],
    )
    install = by_name["small-shop-primary-agent-install"]
    assert install.op in ("update", "replace") and "stdin" in install.changed  # the new agent is delivered
    _assert_nothing_stateful_lost(report, "standard")


def test_plandiff_image_re_id_holds_the_boot_image(project):
    """OVH gives "Debian 13" a new id: the instances keep the image they were built from."""

    def old_image(r, inputs):
        if r.type == "ovh:CloudProject/instance:Instance":
            inputs = {**inputs, "bootFrom": {"imageId": "image-debian13-before-re-id"}}
        return inputs

    _record_state(project, "standard", old_image)
    report = make_diff(project, STACK)
    for name in ("small-shop-primary-instance", "small-shop-standby-instance"):
        change = next(c for c in report.changes if c.name == name)
        assert (change.op, change.held) == ("same", ["bootFrom"]), change
    _assert_nothing_stateful_lost(report, "standard")


def test_plandiff_primary_flavour_move_to_hourly_holds_flavour_and_billing_period(project):
    """d2-2 (monthly) deployed, b3-8 (hourly only) asked: billingPeriod is ForceNew like flavor, so
    both are held on the protected primary (a resize is an OVH API step, not a rebuild)."""

    def monthly_d2(r, inputs):
        if r.name == "small-shop-primary-instance":
            inputs = {**inputs, "billingPeriod": "monthly", "flavor": {"flavorId": "flavor-d2-2-id"}}
        return inputs

    _record_state(project, "standard", monthly_d2)
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    path.write_text(path.read_text().replace("redundo:primaryFlavor: d2-2", "redundo:primaryFlavor: b3-8"))
    report = make_diff(project, STACK)
    primary = next(c for c in report.changes if c.name == "small-shop-primary-instance")
    assert primary.op == "same" and {"flavor", "billingPeriod"} <= set(primary.held), primary


def test_plandiff_standby_size_change_replaces_the_standby(project):
    """The standby's flavour is not held: a new size rebuilds it (the guard asks for consent)."""

    def other_size(r, inputs):
        if r.name == "small-shop-standby-instance":
            inputs = {**inputs, "billingPeriod": "monthly", "flavor": {"flavorId": "flavor-older-size-id"}}
        return inputs

    _record_state(project, "premium", other_size)
    report = make_diff(project, STACK, tier="premium")
    standby = next(c for c in report.changes if c.name == "small-shop-standby-instance")
    assert standby.op == "replace" and "flavor" in standby.replaced_by, standby


def test_plandiff_recorded_state_without_changes_is_all_same(project):
    _record_state(project, "standard")
    report = make_diff(project, STACK)
    assert [c for c in report.changes if c.op != "same" or c.held] == []


def _redundo(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "redundo"), "--project", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_plan_diff_cli_names_a_replacement_and_fails(project):
    """Moving the primary to another region is a rebuild: named, with the provider's source, exit 1."""
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    _record_state(project, "standard")
    path.write_text(path.read_text().replace("primaryRegion: GRA11", "primaryRegion: GRA9"))
    done = _redundo(project, "plan", "--diff", "--stack", STACK)
    assert done.returncode == 1, done.stderr
    line = next(each for each in done.stdout.splitlines() if each.split()[3:4] == ["small-shop-primary-instance"])
    assert "+- replace" in line and "replaced because region changed" in line
    assert "ovh/resource_cloud_project_instance.go" in line
    assert "REPLACES OR DELETES STATEFUL: small-shop-primary-instance (replace)" in done.stdout


def test_plan_diff_cli_json_and_bad_input(project):
    _set_tier(project, "standard")
    done = _redundo(project, "plan", "--diff", "--stack", STACK, "--tier", "premium", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["destroys"] == [] and document["after"] == "tier premium"
    assert any(c["name"] == "small-shop-vault-object-lock" and c["op"] == "create" for c in document["changes"])
    bad = _redundo(project, "plan", "--diff", "--all")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: --diff compares one stack; pass --stack NAME instead of --all"
    )
