"""Operating many clients: init/ls round trip, and status read from a real local vault."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.localvault import LocalVault
from redundo.pricing import estimate_tiers
from redundo.settings import parse_settings
from redundo.tiers import TIERS
from tests.conftest import SERVICE, SSH_KEY
from tests.fakes import FakePulumiCommand

runner = CliRunner()
ENV = {"PULUMI_CONFIG_PASSPHRASE": "pp", "COLUMNS": "200", "OVH_CLOUD_PROJECT_SERVICE": SERVICE}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: redundo\nruntime: python\n")
    (tmp_path / "key.pub").write_text(SSH_KEY + "\n")
    return tmp_path


def invoke(project, *args):
    return runner.invoke(app, ["--project", str(project), *args], env=ENV)


def test_init_three_clients_at_different_budgets_then_ls(project):
    # --budget is what redundancy adds on top of the site's own server: €5 buys basic (it adds
    # well under a euro for 10 GB), the midpoint between standard's and premium's extra buys standard.
    extra = {e.tier: e.redundancy_eur for e in estimate_tiers(parse_settings("x", {"dataGb": 10}, for_deploy=False))}
    assert extra["basic"] < 5 < extra["standard"]
    florist = (extra["standard"] + extra["premium"]) / 2
    for name, budget in (("bakery", "5"), ("florist", f"{florist:.2f}"), ("jeweller", "40")):
        result = invoke(
            project, "init", name, "--domain", f"{name}.fr", "--budget", budget, "--ssh-key", str(project / "key.pub")
        )
        assert result.exit_code == 0, result.output
    listed = json.loads(invoke(project, "ls", "--json").stdout)
    assert [(r["stack"], r["tier"], r["domain"]) for r in listed] == [
        ("bakery", "basic", "bakery.fr"),
        ("florist", "standard", "florist.fr"),
        ("jeweller", "premium", "jeweller.fr"),
    ]
    document = yaml.safe_load((project / "stacks" / "Pulumi.florist.yaml").read_text())["config"]
    assert document["redundo:sshPublicKey"] == SSH_KEY and document["redundo:ovhServiceName"] == SERVICE
    check = invoke(project, "check", "--all")
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["init", "Jeweller_Lyon", "--domain", "j.fr", "--tier", "basic"],
            2,
            "error: invalid client name 'Jeweller_Lyon'",
        ),
        (["init", "j", "--domain", "not a domain", "--tier", "basic"], 2, "error: redundo:domain is 'not a domain'"),
        (
            ["init", "j", "--domain", "j.fr", "--tier", "basic", "--budget", "9"],
            2,
            "error: --tier and --budget exclude each other",
        ),
        (
            ["init", "j", "--domain", "j.fr", "--budget", "0.1"],
            1,
            "error: no tier fits €0.10/month of redundancy for 10 GB",
        ),
        (
            ["init", "j", "--domain", "j.fr", "--tier", "basic", "--ssh-key", "/nonexistent.pub"],
            2,
            "error: cannot read an SSH public key from /nonexistent.pub",
        ),
    ],
)
def test_init_bad_input_writes_nothing(project, args, code, message):
    if "--ssh-key" not in args:
        args = [*args, "--ssh-key", str(project / "key.pub")]
    result = invoke(project, *args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message)
    assert not (project / "stacks").exists() or not list((project / "stacks").iterdir())


def test_init_refuses_to_overwrite(project):
    args = ["init", "bakery", "--domain", "bakery.fr", "--tier", "basic", "--ssh-key", str(project / "key.pub")]
    assert invoke(project, *args).exit_code == 0
    again = invoke(project, *args)
    assert (
        again.exit_code == 1
        and again.stderr.strip() == "error: stacks/Pulumi.bakery.yaml exists; pass --force to overwrite it"
    )


def _heartbeat(vault, host: str, age_seconds: float, snapshot: str = "abcd1234") -> None:
    epoch = int(time.time() - age_seconds)
    vault.client().put_object(
        Bucket=vault.bucket,
        Key=f"heartbeat/{host}.json",
        Body=json.dumps({"status": "ok", "host": host, "epoch": epoch, "snapshot_id": snapshot}).encode(),
    )


def test_status_fresh_late_and_missing_heartbeats(project, mocker):
    for name, tier in (("fresh", "premium"), ("late", "standard"), ("missing", "basic")):
        invoke(project, "init", name, "--domain", f"{name}.fr", "--tier", tier, "--ssh-key", str(project / "key.pub"))
    with LocalVault() as vault:
        _heartbeat(vault, "fresh-site", 10 * 60)  # premium RPO 30 min
        _heartbeat(vault, "late-site", TIERS["standard"].rpo_minutes * 60 + 600)
        vault.client().put_object(Bucket=vault.bucket, Key="snapshots/1", Body=b"x")
        outputs = {
            "vaultBucket": vault.bucket,
            "vaultEndpoint": vault.endpoint,
            "vaultRegion": "us-east-1",
            "readerAccessKeyId": vault.reader.access_key_id,
            "readerSecretAccessKey": vault.reader.secret_access_key,
            "activeSide": "primary",
            "standbyMode": "warm",
            "standbyIpv4": "203.0.113.2",
            "monthlyCostEur": 13.6,
        }
        fake = FakePulumiCommand(outputs=outputs, secret_outputs=("readerSecretAccessKey",))
        mocker.patch("redundo.cli._common._pulumi_command", return_value=fake)
        result = invoke(project, "status", "--all", "--json")
    assert result.exit_code == 1, result.output
    states = {r["stack"]: r for r in json.loads(result.stdout)}
    assert {k: v["state"] for k, v in states.items()} == {"fresh": "OK", "late": "LATE", "missing": "MISSING"}
    assert 590 < states["fresh"]["last_backup_age_seconds"] < 700 and states["fresh"]["snapshot_count"] == 1
    assert states["fresh"]["standby"] == "warm (203.0.113.2)"
    listed = {r["stack"]: r["last_status"] for r in json.loads(invoke(project, "ls", "--json").stdout)}
    assert listed == {"fresh": "OK", "late": "LATE", "missing": "MISSING"}


def test_status_all_ok_exits_0(project, mocker):
    invoke(project, "init", "fresh", "--domain", "fresh.fr", "--tier", "basic", "--ssh-key", str(project / "key.pub"))
    with LocalVault() as vault:
        _heartbeat(vault, "fresh-site", 3600)
        fake = FakePulumiCommand(
            outputs={
                "vaultBucket": vault.bucket,
                "vaultEndpoint": vault.endpoint,
                "readerAccessKeyId": vault.reader.access_key_id,
                "readerSecretAccessKey": vault.reader.secret_access_key,
            }
        )
        mocker.patch("redundo.cli._common._pulumi_command", return_value=fake)
        result = invoke(project, "status", "--stack", "fresh")
    assert result.exit_code == 0, result.output
    assert "fresh" in result.stdout and "OK" in result.stdout and "1.0 h" in result.stdout


def test_status_all_a_damaged_stack_file_is_unknown_and_the_others_are_checked(project, mocker):
    """A Latin-1 byte in one client's file: that client is UNKNOWN naming the fix; the other is OK."""
    invoke(project, "init", "fresh", "--domain", "fresh.fr", "--tier", "basic", "--ssh-key", str(project / "key.pub"))
    (project / "stacks" / "Pulumi.broken.yaml").write_bytes(b"# bijouterie \xe0 Rouen\nconfig: {}\n")
    with LocalVault() as vault:
        _heartbeat(vault, "fresh-site", 3600)
        fake = FakePulumiCommand(
            outputs={
                "vaultBucket": vault.bucket,
                "vaultEndpoint": vault.endpoint,
                "readerAccessKeyId": vault.reader.access_key_id,
                "readerSecretAccessKey": vault.reader.secret_access_key,
            }
        )
        mocker.patch("redundo.cli._common._pulumi_command", return_value=fake)
        result = invoke(project, "status", "--all", "--json")
    assert result.exit_code == 1, result.output
    states = {r["stack"]: r for r in json.loads(result.stdout)}
    assert states["fresh"]["state"] == "OK"
    assert states["broken"]["state"] == "UNKNOWN"
    assert states["broken"]["error"].startswith("stacks/Pulumi.broken.yaml is not UTF-8 (byte 0xe0 on line 1")
