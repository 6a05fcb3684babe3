"""`redundo check`: exit codes and the machine formats CI reads."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from redundo.cli.main import app
from redundo.policies.rules import POLICIES
from typer.testing import CliRunner

from tests.conftest import REPO, SERVICE, SSH_KEY

runner = CliRunner()
SAME_CITY = {
    "ovhServiceName": SERVICE,
    "sshPublicKey": SSH_KEY,
    "tier": "basic",
    "primaryRegion": "SBG5",
    "backupProvider": "ovh",
    "backupRegion": "SBG",
}


def test_check_shipped_stack_passes():
    result = runner.invoke(app, ["--project", str(REPO), "check", "--all"])
    assert result.exit_code == 0, result.output
    assert "ok small-shop (tier standard, preview and deployed): 0 mandatory, 0 advisory, 0 undecided" in " ".join(
        result.stdout.split()
    )


def test_check_vault_in_the_primary_city_fails_naming_the_rule(write_stack):
    project = write_stack("burnt", **SAME_CITY)
    result = runner.invoke(app, ["--project", str(project), "check", "--stack", "burnt"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "FAIL burnt (tier basic, preview and deployed): 1 mandatory" in result.stdout
    assert (
        "redundo-vault-outside-primary-blast-radius: burnt-vault-bucket: vault burnt-vault-bucket is in OVH SBG"
        in result.stdout
    )
    assert "move it to another provider or city [preview, deployed]" in result.stdout


def test_check_junit_parses_and_marks_the_failure(write_stack):
    project = write_stack("burnt", **SAME_CITY)
    write_stack("fine", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY)
    result = runner.invoke(app, ["--project", str(project), "check", "--all", "--format", "junit"])
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout.split("?>", 1)[1])
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"burnt", "fine"}
    assert suites["fine"].get("failures") == "0" and suites["burnt"].get("failures") == "1"
    failed = [c.get("name") for c in suites["burnt"].iter("testcase") if c.find("failure") is not None]
    assert failed == ["redundo-vault-outside-primary-blast-radius"]
    assert len(list(suites["fine"].iter("testcase"))) == len(POLICIES)


def test_check_sarif_is_2_1_0_with_one_result_per_finding(write_stack):
    project = write_stack("burnt", **SAME_CITY)
    result = runner.invoke(app, ["--project", str(project), "check", "--stack", "burnt", "--format", "sarif"])
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {p.name for p in POLICIES}
    [finding] = run["results"]
    assert finding["ruleId"] == "redundo-vault-outside-primary-blast-radius" and finding["level"] == "error"
    assert run["tool"]["driver"]["rules"][finding["ruleIndex"]]["id"] == finding["ruleId"]
    assert finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.burnt.yaml"


def test_check_json_reports_failed_stacks(write_stack):
    project = write_stack("burnt", **SAME_CITY)
    result = runner.invoke(app, ["--project", str(project), "check", "--format", "json"])
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["failed"] is True
    assert [f["policy"] for f in document["stacks"][0]["findings"]] == ["redundo-vault-outside-primary-blast-radius"]


@pytest.mark.parametrize("fmt", ["xml", "TEXT", ""])
def test_check_unknown_format_is_a_usage_error(fmt):
    result = runner.invoke(app, ["--project", str(REPO), "check", "--format", fmt])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --format {fmt!r} is not one of text, json, junit, sarif")


def test_check_cold_standby_planned_in_the_primary_city_fails_on_basic(write_stack):
    """Strasbourg: the basic tier's standby does not exist yet, but where it would go still counts."""
    project = write_stack(
        "sbg", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, tier="basic", primaryRegion="SBG5", standbyRegion="SBG7"
    )
    result = runner.invoke(app, ["--project", str(project), "check", "--format", "json"])
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)["stacks"][0]["findings"]
    assert finding["policy"] == "redundo-standby-outside-primary-city" and finding["resource"] == "sbg-standby"
    assert finding["modes"] == ["preview", "deployed"] and finding["outcome"] == "violation"


@pytest.mark.parametrize(("flag", "modes"), [("--preview", ["preview"]), ("--deployed", ["deployed"])])
def test_check_one_mode_on_request(write_stack, flag, modes):
    project = write_stack("burnt", **SAME_CITY)
    result = runner.invoke(app, ["--project", str(project), "check", flag, "--format", "json"])
    assert result.exit_code == 1
    [stack] = json.loads(result.stdout)["stacks"]
    assert stack["modes"] == modes and [f["modes"] for f in stack["findings"]] == [modes]


def test_check_preview_and_deployed_together_is_a_usage_error():
    result = runner.invoke(app, ["--project", str(REPO), "check", "--preview", "--deployed"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --preview and --deployed exclude each other")


def test_check_mandatory_rule_that_cannot_decide_fails_unless_allowed(mocker):
    """A stack whose user data and agent bundle are only known after creation: the rules cannot decide at preview."""
    import pulumi

    from redundo import plan

    real = plan.synthesize_stack

    def unknown_user_data(stack, raw, *, preview=False):
        syn = real(stack, raw, preview=preview)
        if preview:
            for r in syn.by_type("ovh:CloudProject/instance:Instance"):
                r.inputs["userData"] = pulumi.output.Unknown()
            for r in syn.by_type("command:remote:Command"):  # the agent bundle the backup rule reads
                if r.name.endswith("-agent-install"):
                    r.inputs["stdin"] = r.outputs["stdin"] = pulumi.output.Unknown()
        return syn

    mocker.patch.object(plan, "synthesize_stack", unknown_user_data)
    result = runner.invoke(app, ["--project", str(REPO), "check", "--format", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["stacks"][0]["findings"]
    assert {(f["policy"], f["outcome"], tuple(f["modes"]), f["blocking"]) for f in findings} == {
        ("redundo-user-data-no-secrets", "unknown", ("preview",), True),
        ("redundo-backup-interval-honours-rpo", "unknown", ("preview",), True),
    }
    allowed = runner.invoke(app, ["--project", str(REPO), "check", "--allow-unknown", "--format", "junit"])
    assert allowed.exit_code == 0, allowed.stdout
    root = ElementTree.fromstring(allowed.stdout.split("?>", 1)[1])
    assert [c.find("failure") for c in root.iter("testcase")] == [None] * len(POLICIES)
    assert "cannot decide" in "".join(c.findtext("system-out") or "" for c in root.iter("testcase"))
