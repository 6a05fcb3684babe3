"""The drill on each tier's real vault and the stack's real database engine; the agent's uploads on
object-locked vaults (moto and SeaweedFS); the live restore's exact database and service reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from redundo import agent, drill
from redundo.localvault import LocalVault
from redundo.tiers import TIERS
from tests.servers import SeaweedVault, require

REDUNDO = str(Path(sys.executable).parent / "redundo")
PASSWORD = "drill-test-password"
MD5_HEADER = '-H "Content-MD5: $(content_md5 "$2")"'


@pytest.fixture(autouse=True)
def _tools():
    require("restic", "curl", "sqlite3")


def _cli_drill(*args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    done = subprocess.run(
        [REDUNDO, "drill", "--local", "--json", "--size", "1", "--files", "20", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, (json.loads(done.stdout) if done.stdout.strip().startswith("{") else {})


@pytest.mark.parametrize("database", ["mysql", "postgresql"])
def test_drill_premium_with_a_server_database_passes_on_the_locked_vault(database):
    """`redundo drill --local --tier premium --database D`: locked vault, heartbeats written, rows equal."""
    require(
        *{"mysql": ("mariadbd", "mysqldump", "mysql"), "postgresql": ("postgres", "pg_dump", "pg_restore")}[database]
    )
    done, report = _cli_drill("--tier", "premium", "--database", database)
    assert done.returncode == 0, done.stderr + done.stdout
    assert report["passed"] and report["database"] == database
    assert report["vault_lock_days"] == TIERS["premium"].object_lock_days > 0
    assert report["heartbeat_lock"].startswith("COMPLIANCE until ")
    assert report["heartbeat_snapshot"] and report["snapshot_id"].startswith(report["heartbeat_snapshot"][:8])
    assert report["db_integrity"] == "ok" and report["orders_restored"] == report["orders_at_backup"] > 0


def test_drill_builds_each_tiers_vault():
    """basic and standard have no lock; the drill's vault says so, premium's has the tier's days."""
    for tier in TIERS.values():
        vault = LocalVault.for_tier(tier)
        assert (vault.lock_days, vault.retention_days) == (tier.object_lock_days, tier.retention_days)


def test_drill_fails_when_the_live_restore_keeps_a_standby_only_table(monkeypatch):
    """Fault: a MySQL restore without DROP DATABASE leaves the standby's own table; the drill says so."""
    require("mariadbd", "mysqldump", "mysql")
    real = agent.script

    def without_drop(name: str) -> str:
        text = real(name)
        if name == "redundo-restore":
            line = next(each for each in text.splitlines() if "DROP DATABASE IF EXISTS %s" in each)
            text = text.replace(line, '      mysql < "${dump}/site.sql"')
        return text

    monkeypatch.setattr(drill.agent, "script", without_drop)
    report = drill.run_local_drill(TIERS["standard"], size_mb=0.5, files=10, database="mysql")
    assert not report.passed
    assert "standby_only" in report.db_integrity


def _host(vault, root: Path, name: str, key, text_of=agent.script, **settings) -> drill.Host:
    host = drill.Host(
        name,
        root / name,
        agent.AgentSettings.for_tier(
            TIERS["premium"],
            vault_endpoint=vault.endpoint,
            vault_bucket=vault.bucket,
            vault_region="us-east-1",
            backup_host="locked-primary",
            site_paths=(str(root / "site" / "www"),),
            db_kind="sqlite",
            db_path=str(root / "site" / "db" / "site.sqlite"),
            dump_dir=str(root / "dump"),
            state_dir=str(root / f"{name}-state"),
            **settings,
        ),
        {**key.env(), "RESTIC_PASSWORD": PASSWORD},
    )
    for script in ("redundo-backup", "redundo-restore"):
        (host.bin / script).write_text(text_of(script))
    return host


def _without_md5(name: str) -> str:
    text = agent.script(name)
    assert name != "redundo-backup" or MD5_HEADER in text
    return text.replace(MD5_HEADER, "")


def _lock_of(vault, key: str) -> str | None:
    try:
        return vault.client().head_object(Bucket=vault.bucket, Key=key).get("ObjectLockMode")
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("404", "NoSuchKey")
        return None


def test_agent_uploads_without_content_md5_are_refused_by_an_object_locked_vault(tmp_path):
    """Fault, then recovery: the heartbeat PUT without Content-MD5 is refused; with it, it lands locked."""
    with LocalVault.for_tier(TIERS["premium"]) as vault:
        drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
        drill.make_site(tmp_path / "site", size_mb=0.2, files=5)
        broken = _host(vault, tmp_path, "broken", vault.writer, _without_md5)
        done = broken.run("redundo-backup", "backup", timeout=300)
        assert done.returncode != 0
        assert "MissingUploadObjectWithObjectLockHeaders" in done.stderr
        assert _lock_of(vault, "heartbeat/locked-primary.json") is None
        report = broken.run(
            "redundo-backup",
            "report",
            "redundo-backup.service",
            extra_env={"SERVICE_RESULT": "exit-code", "EXIT_STATUS": "1"},
        )
        assert "MissingUploadObjectWithObjectLockHeaders" in report.stderr
        assert _lock_of(vault, "heartbeat/locked-primary.failed.json") is None

        fixed = _host(vault, tmp_path, "fixed", vault.writer)
        done = fixed.run("redundo-backup", "backup", timeout=300)
        assert done.returncode == 0, done.stderr
        assert _lock_of(vault, "heartbeat/locked-primary.json") == "COMPLIANCE"
        report = fixed.run(
            "redundo-backup",
            "report",
            "redundo-backup.service",
            extra_env={"SERVICE_RESULT": "exit-code", "EXIT_STATUS": "1"},
        )
        assert report.returncode == 0, report.stderr
        assert _lock_of(vault, "heartbeat/locked-primary.failed.json") == "COMPLIANCE"


@pytest.fixture
def seaweed():
    with SeaweedVault(lock_days=TIERS["premium"].object_lock_days) as vault:
        yield vault


def test_drill_premium_passes_on_a_locked_seaweedfs_vault(seaweed):
    """A second S3 implementation, so that the agent is not tuned to moto."""
    report = drill.run_local_drill(TIERS["premium"], size_mb=0.5, files=10, vault=seaweed)
    assert report.passed, report.to_dict()
    assert report.heartbeat_lock.startswith("COMPLIANCE until ")


def test_seaweedfs_refuses_a_heartbeat_with_a_wrong_content_md5(seaweed, tmp_path):
    """SeaweedFS checks the MD5 (moto does not): the agent's own digest must be the right one."""
    drill.provision_repository(seaweed.repository, PASSWORD, seaweed.init.env())
    drill.make_site(tmp_path / "site", size_mb=0.1, files=3)
    wrong = _host(
        seaweed,
        tmp_path,
        "wrong",
        seaweed.writer,
        lambda n: agent.script(n).replace(MD5_HEADER, '-H "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA=="'),
    )
    done = wrong.run("redundo-backup", "backup", timeout=300)
    assert done.returncode != 0 and "could not upload heartbeat/locked-primary.json" in done.stderr
    right = _host(seaweed, tmp_path, "right", seaweed.writer)
    done = right.run("redundo-backup", "backup", timeout=300)
    assert done.returncode == 0, done.stderr
    assert _lock_of(seaweed, "heartbeat/locked-primary.json") == "COMPLIANCE"


def test_restore_live_reloads_the_sites_services_that_exist_and_skips_without_systemd(tmp_path):
    """WEB_SERVICES after a live restore: reload-or-restart each loaded unit; nothing on a non-systemd host."""
    with LocalVault.for_tier(TIERS["standard"]) as vault:
        drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
        drill.make_site(tmp_path / "site", size_mb=0.1, files=3)
        done = _host(vault, tmp_path, "primary", vault.writer).run("redundo-backup", "backup", timeout=300)
        assert done.returncode == 0, done.stderr
        # The services come from the settings file, as the agent bundle writes it.
        standby = _host(vault, tmp_path, "standby", vault.reader, web_services=("nginx", "php8.2-fpm"))

        # This machine runs no systemd: the restore completes and says why nothing was reloaded.
        plain = standby.run("redundo-restore", "--live", timeout=300)
        assert plain.returncode == 0, plain.stderr
        assert "systemd is not running here: not reloading nginx php8.2-fpm" in plain.stderr

        # A systemd host where php8.2-fpm is not installed: a stand-in systemctl that records calls.
        fake = tmp_path / "fakebin"
        fake.mkdir()
        calls = tmp_path / "systemctl.calls"
        (fake / "systemctl").write_text(
            "#!/bin/bash\n"
            f'echo "$*" >> {calls}\n'
            'case "$1" in\n'
            "  show-environment) exit 0 ;;\n"
            '  show) [ "${@: -1}" = nginx ] && echo loaded || echo not-found ;;\n'
            "esac\n"
        )
        (fake / "systemctl").chmod(0o755)
        env = {"PATH": f"{fake}:{os.environ['PATH']}"}
        done = standby.run("redundo-restore", "--live", extra_env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        recorded = calls.read_text().splitlines()
        assert "reload-or-restart nginx" in recorded
        assert not any(c.startswith("reload-or-restart php8.2-fpm") for c in recorded)
        assert "no unit php8.2-fpm on this host: not reloaded" in done.stderr
