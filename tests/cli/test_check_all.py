"""`redundo check --all` with a broken client among good ones: every client is still reported."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from redundo.cli.main import app
from redundo.policies.rules import POLICIES
from typer.testing import CliRunner

from tests.cli.test_check import SAME_CITY
from tests.conftest import SERVICE, SSH_KEY

runner = CliRunner()


def three_clients(write_stack):
    """A passing client, a failing one, and one whose file is not YAML at all."""
    project = write_stack("fine", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY)
    write_stack("burnt", **SAME_CITY)
    (project / "stacks" / "Pulumi.broken.yaml").write_text("config:\n  redundo:tier: [basic\n")
    return project


def test_check_all_junit_reports_three_clients_with_the_broken_one_as_one_failing_case(write_stack):
    project = three_clients(write_stack)
    result = runner.invoke(app, ["--project", str(project), "check", "--all", "--format", "junit"])
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout.split("?>", 1)[1])
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"fine", "burnt", "broken"}
    [broken] = list(suites["broken"].iter("testcase"))
    problem = broken.find("failure") if broken.find("failure") is not None else broken.find("error")
    assert problem is not None and "Pulumi.broken.yaml" in (problem.get("message") or "") + (problem.text or "")
    assert len(list(suites["fine"].iter("testcase"))) == len(POLICIES)
    assert [c.get("name") for c in suites["burnt"].iter("testcase") if c.find("failure") is not None] == [
        "redundo-vault-outside-primary-blast-radius"
    ]
    assert all(c.find("failure") is None for c in suites["fine"].iter("testcase"))


def test_check_all_sarif_places_the_broken_client_on_its_file(write_stack):
    project = three_clients(write_stack)
    result = runner.invoke(app, ["--project", str(project), "check", "--all", "--format", "sarif"])
    assert result.exit_code == 1
    [run] = json.loads(result.stdout)["runs"]
    where = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in run["results"]}
    assert set(where) == {"stacks/Pulumi.broken.yaml", "stacks/Pulumi.burnt.yaml"}
    assert where["stacks/Pulumi.broken.yaml"]["level"] == "error"
    assert (
        run["tool"]["driver"]["rules"][where["stacks/Pulumi.broken.yaml"]["ruleIndex"]]["id"]
        == where["stacks/Pulumi.broken.yaml"]["ruleId"]
    )


def test_check_all_as_ci_runs_it_prints_junit_on_stdout_and_one_line_on_stderr(write_stack):
    """The installed command, as a CI job runs it: a report for every client, exit 1, no traceback."""
    import subprocess
    import sys
    from pathlib import Path

    project = three_clients(write_stack)
    redundo = Path(sys.executable).parent / "redundo"
    done = subprocess.run(
        [str(redundo), "--project", str(project), "check", "--all", "--format", "junit"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    root = ElementTree.fromstring(done.stdout.split("?>", 1)[1])
    assert {s.get("name") for s in root.iter("testsuite")} == {"fine", "burnt", "broken"}
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "broken" in done.stderr
