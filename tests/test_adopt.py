"""`redundo init --adopt`: a real sshd on 127.0.0.1 (this machine is the host) with a real database server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SERVICE, SSH_KEY
from tests.servers import mariadb, postgresql  # noqa: F401  (fixtures)
from tests.sshd import sshd  # noqa: F401  (fixture)


def _redundo(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "redundo"), "--project", str(project), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "key.pub").write_text(SSH_KEY + "\n")
    return tmp_path


def _init(project: Path, sshd, *extra: str) -> subprocess.CompletedProcess:
    return _redundo(
        project,
        "init",
        "shop",
        "--domain",
        "shop-example.fr",
        "--tier",
        "standard",
        "--ovh-service-name",
        SERVICE,
        "--ssh-key",
        str(project / "key.pub"),
        "--adopt",
        sshd.host,
        "--user",
        sshd.user,
        "--port",
        str(sshd.port),
        "--identity",
        str(sshd.identity),
        *extra,
    )


def test_init_adopt_inspects_the_host_over_ssh_and_writes_a_validated_stack(project, sshd, mariadb, postgresql):
    shop_db = mariadb.fresh_database("shop")
    app_db = postgresql.fresh_database("app")
    done = _init(project, sshd)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    os_release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    assert f"127.0.0.1: {os_release['PRETTY_NAME'].strip(chr(34))}" in out
    databases = next(line for line in out.splitlines() if line.strip().startswith("databases:"))
    assert shop_db in databases and app_db in databases  # found from the running servers, on their own sockets
    assert "(trusted on first use" in out and "SHA256:" in out
    config = yaml.safe_load((project / "stacks" / "Pulumi.shop.yaml").read_text())["config"]
    assert (config["redundo:primaryHost"], config["redundo:primaryUser"], config["redundo:primaryPort"]) == (
        "127.0.0.1",
        sshd.user,
        sshd.port,
    )
    assert config["redundo:database"] == "mysql"  # MariaDB holds databases, so its dump is taken
    assert config["redundo:siteProfile"] == "wordpress"  # the profile that runs MySQL: the standby gets it too
    assert config["redundo:databaseName"] in databases
    assert all(p.startswith("/") for p in config["redundo:sitePaths"]) and config["redundo:dataGb"] >= 1

    plan = _redundo(project, "plan", "--stack", "shop", "--json")
    assert plan.returncode == 0, plan.stderr
    names = {r["name"] for r in json.loads(plan.stdout)["resources"]}
    assert "shop-primary-instance" not in names and "shop-primary-agent-install" in names


def test_init_adopt_refuses_a_host_that_does_not_present_the_given_key(project, sshd):
    wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LWZvci1yZWR1bmRvLXRlc3RzLW9ubHk"
    done = _init(project, sshd, "--host-key", wrong)
    assert done.returncode == 1
    assert done.stderr.startswith("error: 127.0.0.1 did not present the SSH host key pinned")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (project / "stacks" / "Pulumi.shop.yaml").exists()


def test_init_adopt_needs_a_user(project):
    done = _redundo(
        project,
        "init",
        "shop",
        "--domain",
        "shop-example.fr",
        "--ovh-service-name",
        SERVICE,
        "--ssh-key",
        str(project / "key.pub"),
        "--adopt",
        "127.0.0.1",
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --adopt needs --user, the sudo user redundo logs in as on that server"
    assert not (project / "stacks" / "Pulumi.shop.yaml").exists()


def test_adopt_parse_backs_up_a_root_once_and_counts_its_size_once():
    from redundo.adopt import parse

    facts = parse(
        "h",
        "os=Debian GNU/Linux 13\nweb=nginx\nsite_path=/var/www/shop\nsite_bytes=3000 /var/www/shop\n"
        "site_path=/var/www\nsite_bytes=5000 /var/www\nwordpress=/var/www/shop\n"
        "mysql_db=shop\npostgresql_db=app\ndisk=10 20\n",
    )
    assert facts.site_paths == ["/var/www"] and facts.site_bytes == 5000
    assert (facts.database, facts.profile) == ("mysql", "wordpress")
    assert facts.stack_keys() == {"sitePaths": ["/var/www"], "database": "mysql", "dataGb": 1, "databaseName": "shop"}
