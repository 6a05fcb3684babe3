"""The data path against a real S3 server on 127.0.0.1 (moto, IAM enforced), with faults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redundo.cli.main import app
from typer.testing import CliRunner

from redundo import agent, drill
from redundo.localvault import LocalVault
from redundo.tiers import TIERS
from redundo.vault import undelete

PASSWORD = "drill-test-password"
needs_tools = pytest.mark.skipif(
    not os.environ.get("CI") and not all(shutil.which(t) for t in ("restic", "sqlite3", "curl")),
    reason="restic, sqlite3 and curl are not installed",
)
pytestmark = needs_tools


@pytest.fixture
def vault():
    with LocalVault() as started:
        drill.provision_repository(started.repository, PASSWORD, started.init.env())
        yield started


def _settings(vault: LocalVault, root: Path, state: str) -> agent.AgentSettings:
    return agent.AgentSettings.for_tier(
        TIERS["standard"],
        vault_endpoint=vault.endpoint,
        vault_bucket=vault.bucket,
        vault_region="us-east-1",
        backup_host="test-primary",
        site_paths=(str(root / "site" / "www"),),
        db_kind="sqlite",
        db_path=str(root / "site" / "db" / "site.sqlite"),
        dump_dir=str(root / "dump"),
        state_dir=str(root / state),
    )


def _primary(vault: LocalVault, root: Path, *, size_mb: float = 1, files: int = 20) -> drill.Host:
    if not (root / "site").exists():
        drill.make_site(root / "site", size_mb=size_mb, files=files)
    return drill.Host(
        "primary",
        root / "primary",
        _settings(vault, root, "primary-state"),
        {**vault.writer.env(), "RESTIC_PASSWORD": PASSWORD},
    )


def _standby(vault: LocalVault, root: Path) -> drill.Host:
    return drill.Host(
        "standby",
        root / "standby",
        _settings(vault, root, "standby-state"),
        {**vault.reader.env(), "RESTIC_PASSWORD": PASSWORD},
    )


def _backup(host: drill.Host) -> None:
    done = host.run("redundo-backup", "backup", timeout=300)
    assert done.returncode == 0, done.stderr


def _restore(vault: LocalVault, root: Path, target: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    # restic retries a missing pack for minutes; the script bounds each attempt, here tightly.
    done = _standby(vault, root).run(
        "redundo-restore", "--target", str(target), timeout=300, extra_env={"RESTORE_ATTEMPT_TIMEOUT": "20"}
    )
    return done, (drill.parse_restored(done.stdout) if done.returncode == 0 else {})


def _restored_site(root: Path, target: Path) -> Path:
    return Path(str(target) + str(root / "site" / "www"))


def test_drill_local_restores_every_byte_and_measures_rpo_rto():
    report = drill.run_local_drill(TIERS["premium"], size_mb=2, files=30)
    assert report.passed, report.to_dict()
    assert report.files_checked == 30 and report.files_mismatched == []
    assert report.db_integrity == "ok" and report.orders_restored == report.orders_at_backup == 525
    assert 0 < report.rpo_seconds < TIERS["premium"].rpo_minutes * 60
    assert 0 < report.rto_seconds < TIERS["premium"].rto_minutes * 60
    assert report.heartbeat_snapshot and report.snapshot_id.startswith(report.heartbeat_snapshot)


def test_drill_cli_json_reports_the_measurements():
    result = CliRunner().invoke(app, ["drill", "--local", "--size", "1", "--files", "10", "--tier", "basic", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["tier"] == "basic" and report["files_checked"] == 10
    assert report["rpo_promise_minutes"] == TIERS["basic"].rpo_minutes


def test_drill_heartbeat_names_the_snapshot(vault, tmp_path):
    _backup(_primary(vault, tmp_path))
    beat = json.loads(vault.client().get_object(Bucket=vault.bucket, Key="heartbeat/test-primary.json")["Body"].read())
    assert beat["status"] == "ok" and beat["host"] == "test-primary" and beat["data_added"] > 0
    snapshots = json.loads(_primary(vault, tmp_path).restic("snapshots", "--json").stdout)
    assert snapshots[-1]["id"].startswith(beat["snapshot_id"])


def test_agent_refuses_to_create_a_missing_repository(tmp_path):
    with LocalVault() as empty:
        host = _primary(empty, tmp_path)
        done = host.run("redundo-backup", "backup", timeout=120)
        assert done.returncode == 3
        assert done.stderr.strip().endswith(
            "it is created once at provisioning, so this run stops instead of starting an empty one"
        )
        assert "Contents" not in empty.client().list_objects_v2(Bucket=empty.bucket)


def test_agent_wrong_credentials_is_one_clear_line(vault, tmp_path):
    host = _primary(vault, tmp_path)
    host.secrets = {**host.secrets, "AWS_SECRET_ACCESS_KEY": "not-the-key"}
    done = host.run("redundo-backup", "backup", timeout=300)
    assert done.returncode == 6
    assert done.stderr.strip().splitlines() == [
        f"redundo-backup: the vault refused this host's key for {vault.repository}; check the key in the local "
        "drill's environment (redundo drill --local)"
    ]
    # On a host, where no drill names its own source, the message names the file systemd reads the key from.
    done = host.run("redundo-backup", "backup", extra_env={"REDUNDO_KEY_SOURCE": ""}, timeout=300)
    assert done.returncode == 6
    assert done.stderr.strip().endswith("; check the key in /etc/redundo/restic.env")


def test_fault_server_stopped_mid_backup_next_run_completes_and_check_passes(vault, tmp_path):
    host = _primary(vault, tmp_path, size_mb=40, files=200)
    process = subprocess.Popen(
        [str(host.bin / "redundo-backup"), "backup"],
        env=host.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.8)
    vault.stop()  # the vault goes away in the middle of the upload
    time.sleep(3)
    vault.start()  # and comes back on the same port
    try:
        process.wait(timeout=300)
    finally:
        process.kill()
    _backup(host)  # whatever the interrupted run did, the next one completes
    check = host.restic("check", timeout=300)
    assert check.returncode == 0, check.stderr


def _packs(vault: LocalVault) -> list[dict]:
    return [o for o in vault.client().list_objects_v2(Bucket=vault.bucket, Prefix="data/")["Contents"]]


def test_fault_corrupted_newest_pack_falls_back_to_the_intact_snapshot(vault, tmp_path):
    host = _primary(vault, tmp_path)
    _backup(host)
    first = drill.manifest(tmp_path / "site" / "www")
    before = {p["Key"] for p in _packs(vault)}
    drill.mutate_site(tmp_path / "site", share=0.2, seed=9)
    _backup(host)
    new_pack = sorted(p["Key"] for p in _packs(vault) if p["Key"] not in before)[0]
    s3 = vault.client()
    body = bytearray(s3.get_object(Bucket=vault.bucket, Key=new_pack)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte
    s3.put_object(Bucket=vault.bucket, Key=new_pack, Body=bytes(body))

    target = tmp_path / "restored"
    done, restored = _restore(vault, tmp_path, target)
    assert done.returncode == 0, done.stderr
    assert restored["fallback"] == "1"
    assert "is damaged; restored the older" in done.stderr
    assert drill.manifest(_restored_site(tmp_path, target)) == first


def test_fault_deleted_pack_with_no_intact_snapshot_fails_clearly(vault, tmp_path):
    _backup(_primary(vault, tmp_path))
    s3 = vault.client()
    for pack in _packs(vault):
        s3.delete_object(Bucket=vault.bucket, Key=pack["Key"])
    done, _ = _restore(vault, tmp_path, tmp_path / "restored")
    assert done.returncode == 4
    assert done.stderr.strip().splitlines()[-1] == (
        "redundo-restore: no snapshot restored intact; run 'restic check --read-data' and 'redundo vault undelete'"
    )


def test_fault_stolen_primary_key_cannot_destroy_versions_or_the_repository_identity(vault, tmp_path):
    _backup(_primary(vault, tmp_path))
    thief = vault.client(key=vault.writer)
    some = _packs(vault)[0]["Key"]
    admin = vault.client()
    version = admin.list_object_versions(Bucket=vault.bucket, Prefix=some)["Versions"][0]["VersionId"]
    for attempt in (
        lambda: thief.delete_object(Bucket=vault.bucket, Key=some, VersionId=version),
        lambda: thief.put_object(Bucket=vault.bucket, Key="config", Body=b"ransom"),
        lambda: thief.delete_object(Bucket=vault.bucket, Key="config"),
        lambda: thief.put_object(Bucket=vault.bucket, Key="keys/evil", Body=b"ransom"),
        lambda: thief.put_bucket_versioning(Bucket=vault.bucket, VersioningConfiguration={"Status": "Suspended"}),
        lambda: thief.put_bucket_lifecycle_configuration(Bucket=vault.bucket, LifecycleConfiguration={"Rules": []}),
    ):
        with pytest.raises(Exception, match=r"AccessDenied|Access Denied"):
            attempt()


def test_fault_everything_the_primary_key_deletes_or_overwrites_comes_back(vault, tmp_path):
    _backup(_primary(vault, tmp_path))
    expected = drill.manifest(tmp_path / "site" / "www")
    time.sleep(1.1)
    attack = datetime.now(UTC)
    time.sleep(1.1)
    thief = vault.client(key=vault.writer)
    keys = [o["Key"] for o in thief.list_objects_v2(Bucket=vault.bucket)["Contents"]]
    for key in keys:
        if key.startswith("data/"):
            thief.put_object(Bucket=vault.bucket, Key=key, Body=b"encrypted by ransomware")
        elif key not in ("config",) and not key.startswith("keys/"):
            thief.delete_object(Bucket=vault.bucket, Key=key)
    broken, _ = _restore(vault, tmp_path, tmp_path / "broken")
    assert broken.returncode != 0

    result = undelete(vault.client(), vault.bucket, since=attack)
    assert result.versions_restored and result.markers_removed
    target = tmp_path / "restored"
    done, restored = _restore(vault, tmp_path, target)
    assert done.returncode == 0, done.stderr
    assert restored["fallback"] == "0"
    assert drill.manifest(_restored_site(tmp_path, target)) == expected


def test_vault_undelete_cli_removes_delete_markers_but_not_locks(vault, tmp_path, monkeypatch):
    _backup(_primary(vault, tmp_path))
    s3 = vault.client()
    s3.put_object(Bucket=vault.bucket, Key="locks/stale", Body=b"{}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=vault.bucket)["Contents"]]
    for key in keys:
        s3.delete_object(Bucket=vault.bucket, Key=key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", vault.admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", vault.admin.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = CliRunner().invoke(
        app, ["vault", "undelete", "--bucket", vault.bucket, "--endpoint", vault.endpoint], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    lock_keys = {v["Key"] for v in s3.list_object_versions(Bucket=vault.bucket, Prefix="locks/").get("Versions", [])}
    assert "locks/stale" in lock_keys  # the backup's own, already released locks are there too
    assert (
        f"restored {len(keys) - 1} deleted and 0 overwritten objects in {vault.bucket}; "
        f"left {len(lock_keys)} restic locks deleted"
    ) in result.stdout
    back = {o["Key"] for o in s3.list_objects_v2(Bucket=vault.bucket)["Contents"]}
    assert back == set(keys) - {"locks/stale"}
    done, _ = _restore(vault, tmp_path, tmp_path / "restored")
    assert done.returncode == 0, done.stderr


def test_provisioning_again_finds_the_repository(vault):
    """A rebuilt primary runs the one-time init step again: it must find the repository, not fail.

    The init key may write only the repository's identity, so a `restic cat config` that takes a
    lock is refused and would fall through to `restic init`, which fails on an existing repository.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_"))}
    env |= {**vault.init.env(), "RESTIC_REPOSITORY": vault.repository, "RESTIC_PASSWORD": PASSWORD}
    locked = subprocess.run(["restic", "cat", "config"], env=env, capture_output=True, text=True, timeout=120)
    assert locked.returncode != 0 and "lock" in locked.stderr.lower()  # the fault: a lock needs a write
    s3 = vault.client()
    config = s3.get_object(Bucket=vault.bucket, Key="config")["Body"].read()
    drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
    assert s3.get_object(Bucket=vault.bucket, Key="config")["Body"].read() == config
