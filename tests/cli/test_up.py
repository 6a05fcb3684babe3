"""`redundo up`, `preview`, `destroy` and `outputs` up to the Automation API seam (a fake PulumiCommand)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo import remote
from redundo.pricing import estimate_tiers
from redundo.settings import read_stack_file
from tests.conftest import REPO, STACKS
from tests.fakes import FakePulumiCommand, resource_events, summary_event

runner = CliRunner()
CREDENTIALS = {
    "OVH_APPLICATION_KEY": "ak",
    "OVH_APPLICATION_SECRET": "as",
    "OVH_CONSUMER_KEY": "ck",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "sk",
    "PULUMI_CONFIG_PASSPHRASE": "correct horse",
    "PULUMI_BACKEND_URL": None,
    "COLUMNS": "200",
}
BUCKET_URN = (
    "urn:pulumi:small-shop::redundo::redundo:index:RedundantSite$redundo:index:BackupVault$"
    "aws:s3/bucket:Bucket::small-shop-vault-bucket"
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "stacks").mkdir()
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(STACKS / "Pulumi.small-shop.yaml", tmp_path / "stacks" / "Pulumi.small-shop.yaml")
    return tmp_path


@pytest.fixture
def fake(mocker):
    command = FakePulumiCommand(
        events=[*resource_events(BUCKET_URN, "aws:s3/bucket:Bucket"), summary_event(create=1)],
        outputs={"tier": "basic", "writerAccessKeyId": "AKIAWRITER", "writerSecretAccessKey": "plain-secret"},
        secret_outputs=("writerSecretAccessKey",),
    )
    mocker.patch("redundo.cli._common._pulumi_command", return_value=command)
    return command


def invoke(project, *args, env=None, input=None):
    return runner.invoke(app, ["--project", str(project), *args], env={**CREDENTIALS, **(env or {})}, input=input)


def call(fake, verb: str) -> tuple[list[str], dict[str, str]]:
    return next((args, env) for args, env in fake.calls if args[0] == verb)


def test_up_runs_the_stack_on_the_embedded_backend_with_the_pack(project, fake):
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 0, result.output
    assert ["stack", "select", "--stack", "small-shop"] == fake.calls[0][0]
    config_args, _ = call(fake, "config")
    assert config_args[:4] == ["config", "set", "redundo:tier", "--plaintext"] and config_args[-1] == "basic"
    up_args, env = call(fake, "up")
    assert env["PULUMI_BACKEND_URL"] == (project / ".redundo" / "state").resolve().as_uri()
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "correct horse"
    assert (project / ".redundo" / "state").is_dir()
    assert up_args[up_args.index("--stack") + 1] == "small-shop"
    assert up_args[up_args.index("--exec-kind") + 1] == "auto.inline"
    pack = Path(up_args[up_args.index("--policy-pack") + 1])
    assert (pack / "__main__.py").read_bytes() == (REPO / "policies" / "__main__.py").read_bytes()
    pack_config = json.loads(open(up_args[up_args.index("--policy-pack-config") + 1]).read())
    assert pack_config["redundo-vault-retention-covers-tier"] == {"retentionDays": 30}


def test_up_shows_tier_cost_and_plan_then_progress_and_masked_outputs(project, fake):
    result = invoke(project, "up", "--tier", "basic", "--yes")
    out = result.stdout
    assert "This will deploy stack small-shop on tier basic at €" in out
    assert "aws:Bucket  small-shop-vault-bucket" in out  # the offline plan, before anything is sent
    assert "+  create   aws:Bucket  small-shop-vault-bucket" in out and "✓  create   small-shop-vault-bucket" in out
    assert "AKIAWRITER" in out and "plain-secret" not in out and "[secret]" in out
    assert out.index("This will deploy") < out.index("+  create")


def test_up_budget_picks_the_best_tier_and_records_it(project, fake):
    settings = read_stack_file(project / "stacks", "small-shop")
    costs = {e.tier: e.monthly_eur for e in estimate_tiers(settings)}
    result = invoke(project, "up", "--budget", f"{costs['premium']:.2f}", "--yes")
    assert result.exit_code == 0, result.output
    assert call(fake, "config")[0][-1] == "premium"
    pack_config = json.loads(open(call(fake, "up")[0][call(fake, "up")[0].index("--policy-pack-config") + 1]).read())
    assert pack_config["redundo-vault-object-lock-for-immutable-tiers"] == {"objectLockDays": 30}


def test_up_refused_confirmation_sends_nothing(project, fake):
    result = invoke(project, "up", "--tier", "standard", input="n\n")
    assert result.exit_code == 1
    assert "Deploy? [y/N]" in result.stdout
    assert result.stderr.strip() == "error: aborted; nothing was changed"
    assert fake.calls == []


def test_up_team_backend_comes_from_the_option_or_the_environment(project, fake):
    assert invoke(project, "up", "--tier", "basic", "--yes", "--backend", "s3://team-state").exit_code == 0
    assert call(fake, "up")[1]["PULUMI_BACKEND_URL"] == "s3://team-state"
    fake.calls.clear()
    assert (
        invoke(
            project, "up", "--tier", "basic", "--yes", env={"PULUMI_BACKEND_URL": "https://api.pulumi.com"}
        ).exit_code
        == 0
    )
    assert call(fake, "up")[1]["PULUMI_BACKEND_URL"] == "https://api.pulumi.com"


def test_up_failed_resource_is_shown_at_once_and_fails_the_run(project, fake):
    fake.events = [
        {
            "resourcePreEvent": {
                "metadata": {"op": "create", "urn": BUCKET_URN, "type": "aws:s3/bucket:Bucket", "provider": ""}
            }
        },
        {
            "diagnosticEvent": {
                "urn": BUCKET_URN,
                "message": "BucketAlreadyExists: the name is taken\n",
                "color": "never",
                "severity": "error",
            }
        },
        summary_event(create=0),
    ]
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    assert "✗  small-shop-vault-bucket: BucketAlreadyExists: the name is taken" in result.stdout
    assert "1 failed: small-shop-vault-bucket" in result.stdout


def test_up_engine_error_is_one_line(project, fake):
    fake.fail = {"up": "update failed: provider ovh: invalid credentials"}
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: pulumi up failed: update failed: provider ovh: invalid credentials"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["up", "--tier", "basic", "--budget", "9"], {}, 2, "error: --tier and --budget exclude each other"),
        (["up", "--tier", "gold"], {}, 2, "error: unknown tier 'gold'"),
        (["up", "--budget", "0"], {}, 2, "error: budget 0 is not a positive amount of EUR a month"),
        (["up", "--budget", "0.1"], {}, 1, "error: no tier fits €0.10/month of redundancy for 8 GB"),
        (["up", "--stack", "ghost"], {}, 2, "error: unknown stack 'ghost'"),
        (
            ["up", "--tier", "basic", "--yes"],
            {"OVH_CONSUMER_KEY": None},
            1,
            "error: OVH credentials are missing: set OVH_CONSUMER_KEY (or OVH_CLIENT_ID and OVH_CLIENT_SECRET)",
        ),
        (
            ["up", "--tier", "basic", "--yes"],
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
            1,
            "error: AWS credentials are missing: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        ),
        (
            ["up", "--tier", "basic", "--yes", "--backend", "ftp://x"],
            {},
            1,
            "error: backend 'ftp://x' is not a state backend URL",
        ),
        (["destroy", "--yes", "--tier", "basic"], {}, 2, "error: No such option: --tier"),
    ],
)
def test_deploy_bad_input_fails_before_any_pulumi_call(project, fake, args, env, code, message):
    result = invoke(project, *args, env=env)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert fake.calls == []


def test_up_without_the_pulumi_cli_says_how_to_install_it(project, mocker):
    mocker.patch("redundo.deploy.shutil.which", return_value=None)
    result = invoke(project, "up", "--tier", "basic", "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: the pulumi CLI is not on PATH (install it with "
        "`curl -fsSL https://get.pulumi.com | sh` or pass --install-pulumi)"
    )


def test_up_invalid_stack_value_deploys_nothing(project, fake):
    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text().replace("primaryFlavor: d2-2", "primaryFlavor: huge"))
    result = invoke(project, "up", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: redundo:primaryFlavor is 'huge'; accepted values:")
    assert fake.calls == []


def test_preview_passes_the_pack_and_fails_on_a_policy_finding(project, fake):
    fake.events = [
        {
            "policyEvent": {
                "resourceUrn": BUCKET_URN,
                "message": "vault is in the primary's city",
                "color": "never",
                "policyName": "redundo-vault-outside-primary-blast-radius",
                "policyPackName": "redundo",
                "policyPackVersion": "0.1.0",
                "policyPackVersionTag": "0.1.0",
                "enforcementLevel": "mandatory",
            }
        },
        summary_event(same=3),
    ]
    result = invoke(project, "preview")
    assert result.exit_code == 1
    assert "policy redundo-vault-outside-primary-blast-radius: small-shop-vault-bucket" in result.stdout
    assert "--policy-pack" in call(fake, "preview")[0]


def test_destroy_asks_for_the_stack_name(project, fake):
    refused = invoke(project, "destroy", input="other\n")
    assert refused.exit_code == 1 and "Type the stack name to confirm" in refused.stdout
    assert all(args[0] != "destroy" for args, _ in fake.calls)
    accepted = invoke(project, "destroy", input="small-shop\n")
    assert accepted.exit_code == 0, accepted.output
    assert call(fake, "destroy")[0][call(fake, "destroy")[0].index("--stack") + 1] == "small-shop"


def test_outputs_json_masks_secrets_and_needs_no_cloud_credentials(project, fake):
    result = invoke(project, "outputs", "--json", env={"OVH_APPLICATION_KEY": None, "AWS_ACCESS_KEY_ID": None})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "tier": "basic",
        "writerAccessKeyId": "AKIAWRITER",
        "writerSecretAccessKey": "[secret]",
    }


def test_up_install_pulumi_failure_is_one_line(project, mocker):
    import urllib.error

    from pulumi import automation as auto

    mocker.patch("shutil.which", return_value=None)
    install = mocker.patch.object(
        auto.PulumiCommand, "install", side_effect=urllib.error.URLError("Name or service not known")
    )
    result = invoke(project, "up", "--tier", "basic", "--yes", "--install-pulumi")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Installing the pulumi CLI ...",
        (
            "error: could not install the pulumi CLI: <urlopen error Name or service not "
            "known>; install it by hand and retry"
        ),
    ]
    install.assert_called_once_with()


def test_drill_stack_restores_into_scratch_on_the_standby(project, fake, mocker):
    import subprocess

    fake.outputs = {
        "primaryIpv4": "203.0.113.1",
        "standbyIpv4": "203.0.113.2",
        "standbyProvider": "ovh",
        "primaryHostKey": "ssh-ed25519 AAAAprimary",
        "standbyHostKey": "ssh-ed25519 AAAAstandby",
    }
    ssh = mocker.patch(
        "redundo.remote.ssh_run",
        return_value=subprocess.CompletedProcess(
            [],
            0,
            stdout="restored snapshot=0123abcd time=2026-11-26T10:00:00.5Z fallback=0 "
            "target=/var/lib/redundo/drill verified_files=1234 db=dump\n",
            stderr="",
        ),
    )
    result = invoke(project, "drill", "--stack", "small-shop", "--json")
    assert result.exit_code == 0, result.output
    host, user, command = ssh.call_args.args
    assert (host, user) == ("203.0.113.2", "debian")
    assert ssh.call_args.kwargs["host_key"] == "ssh-ed25519 AAAAstandby"  # checked against the pinned key
    assert command[-1].endswith("/usr/local/sbin/redundo-restore --target /var/lib/redundo/drill")
    assert "--live" not in " ".join(command)  # the live site is never touched
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["files_checked"] == 1234 and report["db_integrity"] == "dump"
    assert report["snapshot_id"] == "0123abcd" and report["rpo_seconds"] > 0


def test_drill_stack_with_a_cold_standby_restores_on_the_primary_and_reports_failure(project, fake, mocker):
    import subprocess

    fake.outputs = {"primaryIpv4": "203.0.113.1", "standbyIpv4": None, "standbyProvider": "ovh"}
    ssh = mocker.patch(
        "redundo.remote.ssh_run",
        return_value=subprocess.CompletedProcess(
            [], 4, stdout="", stderr="redundo-restore: no snapshot restored intact; run 'restic check --read-data'\n"
        ),
    )
    result = invoke(project, "drill", "--stack", "small-shop")
    assert result.exit_code == 1
    assert ssh.call_args.args[0] == "203.0.113.1"
    assert "restore on the primary failed: redundo-restore: no snapshot restored intact" in result.stdout


def _switch_fake(fake, side_active: str = "primary") -> None:
    fake.outputs = {
        "primaryIpv4": "203.0.113.1",
        "standbyIpv4": "203.0.113.2",
        "activeSide": side_active,
        "primaryHostKey": "ssh-ed25519 AAAAprimary",
        "standbyHostKey": "ssh-ed25519 AAAAstandby",
    }


def _served(mocker, **kw):
    from redundo.remote import Served

    served = Served("/about.html", "ab" * 32, 3)
    return served, mocker.patch("redundo.remote.serve_check", return_value=served, **kw)


def test_failover_flips_the_config_then_runs_one_update_and_reports_time_to_serve(project, fake, mocker):
    _switch_fake(fake)
    serving = mocker.patch("redundo.remote.wait_until_serving", return_value=4.0)
    served, check = _served(mocker)
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 0, result.output
    # Complete only once the standby's own check passed and its known page answers from outside.
    check.assert_called_once_with("203.0.113.2", "debian", host_key="ssh-ed25519 AAAAstandby", port=22, identity=None)
    verbs = [args[:3] for args, _ in fake.calls]
    sets = [args for args, _ in fake.calls if args[:2] == ["config", "set"]]
    assert (sets[0][2], sets[0][-1]) == ("redundo:activeSide", "standby")
    assert sets[1][2] == "redundo:switchedAt" and sets[1][-1].endswith("Z")
    assert verbs.index(["up", "--yes", "--skip-preview"]) > verbs.index(sets[1][:3])
    serving.assert_called_once_with("203.0.113.2", "jeweller-example.fr", expect=served)
    assert "jeweller-example.fr is served from the standby (203.0.113.2)" in result.stdout
    assert "1. use the running pilot standby" in result.stdout


def test_failover_needs_confirmation_and_dry_run_sends_nothing(project, fake, mocker):
    _switch_fake(fake)
    mocker.patch("redundo.remote.wait_until_serving", return_value=1.0)
    _served(mocker)
    refused = invoke(project, "failover", input="n\n")
    assert refused.exit_code == 1 and fake.calls == []
    dry = invoke(project, "failover", "--dry-run")
    assert dry.exit_code == 0 and "dry run: nothing was sent" in dry.stdout
    assert "2. give the standby in DE1 (Frankfurt) the writer key, restore the newest snapshot there" in dry.stdout
    assert fake.calls == []


def test_failover_dry_run_needs_no_cli_credentials_or_passphrase(project, mocker):
    command = mocker.patch("redundo.cli._common._pulumi_command")
    result = runner.invoke(
        app,
        ["--project", str(project), "failover", "--dry-run"],
        env={
            "OVH_APPLICATION_KEY": None,
            "AWS_ACCESS_KEY_ID": None,
            "PULUMI_CONFIG_PASSPHRASE": None,
            "COLUMNS": "200",
        },
    )
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was sent" in result.stdout
    command.assert_not_called()


def test_failover_reports_a_standby_that_does_not_serve(project, fake, mocker):
    _switch_fake(fake)
    mocker.patch("redundo.remote.wait_until_serving", return_value=None)
    _served(mocker)
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: the standby at 203.0.113.2 did not serve the restored site over HTTP after the update (0 s); "
        "check the web server and firewall there"
    ]


def test_failback_refuses_a_last_backup_that_names_no_snapshot(project, fake, mocker):
    """The last backup exits 0 but prints no snapshot (an older agent, a heartbeat without one):
    the failback stops before touching the stack, since it could not say what the primary restores."""
    import subprocess

    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text() + "  redundo:activeSide: standby\n")
    _switch_fake(fake, "standby")
    mocker.patch("redundo.remote.ssh_run", return_value=subprocess.CompletedProcess([], 0, "", ""))
    result = invoke(project, "failback", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: the last backup on the standby printed no snapshot; the failback stops here"
    assert [args[0] for args, _ in fake.calls if args[0] in ("preview", "up")] == []


def test_failover_reports_a_standby_whose_own_check_fails_in_one_line(project, fake, mocker):
    from redundo.errors import OperationError

    _switch_fake(fake)
    serving = mocker.patch("redundo.remote.wait_until_serving", return_value=1.0)
    _served(
        mocker,
        side_effect=OperationError(
            "203.0.113.2 does not serve the restored site: redundo-serve-check: the mysql database site has 4 tables "
            "and no rows: the restore did not load it"
        ),
    )
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: 203.0.113.2 does not serve the restored site: redundo-serve-check: the mysql database site has 4 "
        "tables and no rows: the restore did not load it"
    ]
    serving.assert_not_called()


def test_failback_takes_a_last_backup_on_the_standby_before_the_update(project, fake, mocker):
    import subprocess

    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text() + "  redundo:activeSide: standby\n")
    _switch_fake(fake, "standby")
    order = []
    ssh = mocker.patch(
        "redundo.remote.ssh_run",
        side_effect=lambda *a, **k: order.append("backup") or subprocess.CompletedProcess([], 0, "0a1b2c3d4e5f\n", ""),
    )
    original_run = fake.run
    fake.run = lambda args, *rest, **kw: (order.append(args[0]), original_run(args, *rest, **kw))[1]
    mocker.patch("redundo.remote.wait_until_serving", return_value=2.0)
    _, check = _served(mocker)
    result = invoke(project, "failback", "--yes")
    assert result.exit_code == 0, result.output
    assert ssh.call_args.args == ("203.0.113.2", "debian", remote.LAST_BACKUP)
    assert order.index("backup") < order.index("up")
    check.assert_called_once_with("203.0.113.1", "debian", host_key="ssh-ed25519 AAAAprimary", port=22, identity=None)
    up_args = call(fake, "up")[0]
    assert "--refresh" in up_args  # a burned primary is noticed and rebuilt
    assert [a[-1] for a, _ in fake.calls if a[:3] == ["config", "set", "redundo:activeSide"]] == ["primary"]


def test_failback_stops_when_the_last_backup_fails(project, fake, mocker):
    import subprocess

    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text() + "  redundo:activeSide: standby\n")
    _switch_fake(fake, "standby")
    mocker.patch(
        "redundo.remote.ssh_run",
        return_value=subprocess.CompletedProcess([], 1, "", "Job for redundo-backup.service failed\n"),
    )
    result = invoke(project, "failback", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the last backup on the standby failed, so the primary would restore old "
        "data: Job for redundo-backup.service failed"
    )
    assert all(args[0] != "up" for args, _ in fake.calls)


def test_failover_twice_is_refused(project, fake):
    path = project / "stacks" / "Pulumi.small-shop.yaml"
    path.write_text(path.read_text() + "  redundo:activeSide: standby\n")
    result = invoke(project, "failover", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: stack 'small-shop' already serves from its standby (if that failover "
        "was interrupted, `redundo up --stack small-shop` finishes it); "
        "did you mean `redundo failback`?"
    )
    assert fake.calls == []


def test_preview_hands_the_engine_a_pack_that_runs_in_redundos_own_environment(project, fake):
    """Started as the engine starts it, from the virtualenv its PulumiPolicy.yaml names, the pack
    answers over gRPC: it does not depend on which python happens to be on PATH."""
    import sys

    from google.protobuf import empty_pb2
    from redundo.policies.rules import POLICIES

    from tests.policies.analyzer import running_pack, virtualenv_of

    fake.events = [summary_event(create=1)]
    assert invoke(project, "preview").exit_code == 0
    args, _ = call(fake, "preview")
    pack = Path(args[args.index("--policy-pack") + 1])
    assert pack.is_relative_to(project / ".redundo")
    assert virtualenv_of(pack) == Path(sys.prefix).resolve()
    with running_pack(pack, stack="small-shop", dry_run=True) as stub:
        assert [p.name for p in stub.GetAnalyzerInfo(empty_pb2.Empty()).policies] == [p.name for p in POLICIES]
