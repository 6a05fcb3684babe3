"""`redundo plan` through typer's CliRunner: the JSON contract and clean errors."""

from __future__ import annotations

import json

import pytest
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.tiers import TIERS
from tests.conftest import REPO, SERVICE, SSH_KEY

runner = CliRunner()


def invoke(*args: str, project=REPO):
    return runner.invoke(app, ["--project", str(project), *args])


@pytest.mark.parametrize("tier", list(TIERS))
def test_plan_json_states_the_tier_promise_cost_and_resources(tier):
    result = invoke("plan", "--tier", tier, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["tier"] == tier
    assert (plan["rpo_minutes"], plan["rto_minutes"]) == (TIERS[tier].rpo_minutes, TIERS[tier].rto_minutes)
    assert plan["monthly_cost_eur"] == round(sum(i["monthly_eur"] for i in plan["cost"]["items"]), 2)
    urns = {r["urn"] for r in plan["resources"]}
    for r in plan["resources"]:
        assert {
            "urn",
            "type",
            "name",
            "custom",
            "parent",
            "provider",
            "provider_urn",
            "inputs",
            "mocked_outputs",
            "dependencies",
            "property_dependencies",
            "options",
        } <= set(r)
        if not r["type"].startswith("pulumi:providers:") and r["type"] != "redundo:index:RedundantSite":
            assert r["parent"] in urns, f"{r['name']}'s parent is not in the plan"
    assert {loc["role"] for loc in plan["locations"]} == {"primary", "vault", "standby"}


def test_plan_json_masks_every_secret():
    result = invoke("plan", "--tier", "premium", "--json")
    text = result.stdout
    assert "mock-secret-of-" not in text and "mock-password-of-" not in text
    plan = json.loads(text)
    for name in ("writerSecretAccessKey", "readerSecretAccessKey", "repositoryPassword"):
        assert plan["outputs"][name] == "[secret]"


def test_plan_text_shows_tree_locations_and_cost():
    result = runner.invoke(app, ["--project", str(REPO), "plan", "--tier", "basic"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tier basic (backup & restore), RPO 28 h, RTO 8 h" in out
    assert "redundo:BackupVault  small-shop-vault" in out and "aws:Bucket  small-shop-vault-bucket" in out
    assert "Gravelines, FR" in out and "Paris, FR" in out and "Frankfurt, DE" in out
    assert "Not included: VAT" in out


def test_plan_all_plans_every_stack(write_stack):
    project = write_stack("alpha", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, tier="basic")
    write_stack("beta", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, tier="premium", dataGb=3)
    result = invoke("plan", "--all", "--json", project=project)
    assert result.exit_code == 0, result.output
    assert [(p["stack"], p["tier"]) for p in json.loads(result.stdout)] == [("alpha", "basic"), ("beta", "premium")]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plan", "--tier", "gold"], 2, "error: unknown tier 'gold'; choose one of: basic, standard, premium"),
        (
            ["plan", "--stack", "ghost"],
            2,
            "error: unknown stack 'ghost' (no Pulumi.ghost.yaml in stacks/); known stacks: small-shop",
        ),
        (["plan", "--frobnicate"], 2, "error: No such option: --frobnicate; see `redundo plan --help`"),
        (["plan", "--stack", "small-shop", "--all"], 2, "error: --stack and --all exclude each other"),
    ],
)
def test_plan_bad_input_is_one_line_without_traceback(args, code, message):
    result = invoke(*args)
    assert result.exit_code == code
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_plan_invalid_stack_value_fails_before_synthesis(write_stack, mocker):
    project = write_stack("bad", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, primaryRegion="SBG1")
    synth = mocker.patch("redundo.plan.synthesize_stack")
    result = invoke("plan", "--stack", "bad", project=project)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: redundo:primaryRegion is 'SBG1'; accepted values: GRA7")
    synth.assert_not_called()


def test_plan_several_stacks_need_a_choice(write_stack):
    project = write_stack("alpha", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY)
    write_stack("beta", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY)
    result = invoke("plan", project=project)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: there are 2 stacks (alpha, beta); pass --stack NAME or --all"


def test_plan_json_gives_each_resource_its_options():
    """protect, retainOnDelete, ignoreChanges and the explicit dependsOn, as the engine would get them."""
    result = invoke("plan", "--tier", "premium", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)["resources"]}
    assert all(set(r["options"]) == {"protect", "retainOnDelete", "ignoreChanges", "dependsOn"} for r in rows.values())
    primary = rows["small-shop-primary-instance"]["options"]
    assert primary["protect"] and "userData" in primary["ignoreChanges"] and not primary["retainOnDelete"]
    bucket = rows["small-shop-vault-bucket"]["options"]
    assert bucket["protect"] and bucket["retainOnDelete"]
    assert rows["small-shop-vault-repository-password"]["options"]["protect"]
    lock = rows["small-shop-vault-object-lock"]
    versioning = rows["small-shop-vault-versioning"]["urn"]
    assert lock["options"]["dependsOn"] == [versioning]  # lock only once versioning is on
    # destroy keeps the primary, which still serves: the site's record stays in the zone.
    assert rows["small-shop-failover-site-record"]["options"] == {
        "protect": False,
        "retainOnDelete": True,
        "ignoreChanges": [],
        "dependsOn": [],
    }


def _fed_from(plan: dict):
    """What an analyzer is given, rebuilt from `plan --json` alone."""
    from redundo.synthesis import Registered, Synthesis

    return Synthesis(
        [
            Registered(
                r["type"],
                r["name"],
                r["inputs"],
                r["custom"],
                f"{r['provider_urn']}::id" if r["provider_urn"] else "",
                "",
                outputs=r["mocked_outputs"],
                urn=r["urn"],
                parent=r["parent"],
                options={"dependencies": r["dependencies"], "property_dependencies": r["property_dependencies"]},
            )
            for r in plan["resources"]
        ],
        [],
        {},
    )


@pytest.mark.parametrize(
    "config",
    [
        {},
        {
            "tier": "basic",
            "primaryRegion": "SBG5",
            "standbyRegion": "SBG7",
            "backupProvider": "ovh",
            "backupRegion": "SBG",
        },
    ],
)
def test_plan_json_feeds_an_analyzer_the_verdicts_of_check(write_stack, config):
    """Outputs (mocked, and named so) and property dependencies make the plan enough for the pack."""
    from redundo.policies.rules import POLICIES, tier_config

    from redundo.checks import check_stack, evaluate

    project = write_stack("client", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, **config)
    result = invoke("plan", "--json", project=project)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    fed = evaluate(_fed_from(plan), POLICIES, tier_config(TIERS[plan["tier"]]))
    checked = check_stack(project / "stacks", "client", modes=("deployed",)).findings
    assert {(f.policy, f.level, f.urn, f.message) for f in fed} == {
        (f.policy, f.level, f.urn, f.message) for f in checked
    }
    assert bool(fed) == bool(config)
