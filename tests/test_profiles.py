"""Site profiles: both nodes run what the site needs, and the stack's keys must agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from redundo import profiles
from redundo.agent.bundle import files_in_script
from redundo.errors import ConfigError
from redundo.settings import parse_settings
from tests.conftest import SERVICE, SSH_KEY, synth, unwrap

BASE = {"ovhServiceName": SERVICE, "sshPublicKey": SSH_KEY}


@pytest.mark.parametrize(
    ("database", "profile"),
    [("none", "static"), ("sqlite", "php"), ("mysql", "wordpress"), ("postgresql", "postgres-app")],
)
def test_profiles_default_to_the_one_that_runs_the_database(database, profile):
    assert parse_settings("c", {**BASE, "database": database}).site_profile == profile


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"siteProfile": "wordpress"},
            "redundo:siteProfile wordpress keeps its data in mysql but redundo:database is "
            "none; set redundo:database to mysql",
        ),
        (
            {"siteProfile": "postgres-app", "database": "mysql"},
            "redundo:siteProfile postgres-app keeps its data in "
            "postgresql but redundo:database is mysql; set "
            "redundo:database to postgresql",
        ),
        (
            {"siteProfile": "static", "database": "mysql"},
            "redundo:siteProfile static runs no database but "
            "redundo:database is mysql; set redundo:siteProfile to "
            "wordpress, or redundo:database to none",
        ),
        (
            {"siteProfile": "drupal"},
            "redundo:siteProfile is 'drupal'; accepted values: static, php, wordpress, postgres-app, custom",
        ),
        (
            {"siteProfile": "custom"},
            "redundo:siteProfile custom needs redundo:customPackages, the Debian packages your site runs besides nginx",
        ),
        (
            {"customPackages": ["php8.2-intl"]},
            "redundo:customPackages is only used by redundo:siteProfile custom (this "
            "stack is static); set siteProfile to custom or remove customPackages",
        ),
        (
            {"siteProfile": "custom", "customPackages": ["rm -rf"]},
            "redundo:customPackages has 'rm -rf', not a Debian package name",
        ),
        (
            {"siteProfile": "custom", "customPackages": ["gunicorn"], "customCloudConfig": "ssh_pwauth: true"},
            "redundo:customCloudConfig sets ssh_pwauth, which redundo manages; remove it from the snippet",
        ),
        (
            {"siteProfile": "custom", "customPackages": ["gunicorn"], "customCloudConfig": "[1, 2"},
            "redundo:customCloudConfig is not valid YAML",
        ),
    ],
)
def test_profiles_disagreeing_keys_are_one_line_naming_key_and_fix(raw, message):
    with pytest.raises(ConfigError) as refused:
        parse_settings("c", {**BASE, **raw})
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_profiles_bad_profile_from_the_installed_cli_is_one_line_and_writes_nothing(tmp_path):
    """As a user meets it: `redundo init` in a fresh project, exit 2, one line on stderr, no stack file."""
    (tmp_path / "Pulumi.yaml").write_text("name: redundo\nruntime: python\n")
    key = tmp_path / "key.pub"
    key.write_text(SSH_KEY + "\n")
    redundo = Path(sys.executable).parent / "redundo"
    done = subprocess.run(
        [
            str(redundo),
            "--project",
            str(tmp_path),
            "init",
            "shop",
            "--domain",
            "shop.fr",
            "--tier",
            "basic",
            "--ssh-key",
            str(key),
            "--ovh-service-name",
            SERVICE,
            "--profile",
            "static",
            "--database",
            "mysql",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (1, 2)
    assert done.stderr.strip().splitlines() == [
        "error: redundo:siteProfile static runs no database but redundo:database is mysql; set "
        "redundo:siteProfile to wordpress, or redundo:database to none"
    ]
    assert not (tmp_path / "stacks" / "Pulumi.shop.yaml").exists()


@pytest.mark.parametrize(
    ("args", "profile", "database"),
    [
        ([], "wordpress", "mysql"),
        (["--database", "none"], "static", "none"),
        (["--profile", "postgres-app"], "postgres-app", "postgresql"),
    ],
)
def test_profiles_init_writes_both_keys(tmp_path, args, profile, database):
    (tmp_path / "Pulumi.yaml").write_text("name: redundo\nruntime: python\n")
    key = tmp_path / "key.pub"
    key.write_text(SSH_KEY + "\n")
    redundo = Path(sys.executable).parent / "redundo"
    done = subprocess.run(
        [
            str(redundo),
            "--project",
            str(tmp_path),
            "init",
            "shop",
            "--domain",
            "shop.fr",
            "--tier",
            "basic",
            "--ssh-key",
            str(key),
            "--ovh-service-name",
            SERVICE,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "stacks" / "Pulumi.shop.yaml").read_text())["config"]
    assert (config["redundo:siteProfile"], config["redundo:database"]) == (profile, database)


def _node(syn, role: str):
    instance = next(r for r in syn.resources if r.name == f"small-shop-{role}-instance")
    install = next(r for r in syn.resources if r.name == f"small-shop-{role}-agent-install")
    packages = yaml.safe_load(unwrap(instance.inputs["userData"]).split("\n", 1)[1])["packages"]
    return packages, unwrap(install.inputs["stdin"])


@pytest.mark.parametrize("profile", ["static", "php", "wordpress", "postgres-app"])
def test_profiles_primary_and_standby_run_the_same_site(profile):
    database = profiles.PROFILES[profile].databases[-1]
    syn = synth(tier="premium", siteProfile=profile, database=database)
    (p_packages, p_bundle), (s_packages, s_bundle) = _node(syn, "primary"), _node(syn, "standby")
    assert p_packages == s_packages and set(profiles.PROFILES[profile].packages) <= set(p_packages)
    assert files_in_script(p_bundle) == files_in_script(s_bundle)
    site = files_in_script(p_bundle)[profiles.SITE_FILE]
    assert "server_name jeweller-example.fr www.jeweller-example.fr;" in site
    assert "root /var/www/jeweller-example.fr;" in site
    conf = files_in_script(p_bundle)["/etc/redundo/redundo.conf"]
    assert f"WEB_SERVICES='{' '.join(profiles.PROFILES[profile].web_services)}'" in conf or (
        f"WEB_SERVICES={' '.join(profiles.PROFILES[profile].web_services)}" in conf
    )
    server = profiles.PROFILES[profile].database_service
    if server:  # the database server the profile names runs on both nodes
        assert "systemctl enable --now " in p_bundle and server in p_bundle.split("systemctl enable --now ", 1)[1]


def test_profiles_custom_snippet_and_packages_reach_both_nodes():
    syn = synth(
        tier="standard",
        siteProfile="custom",
        database="none",
        customPackages=["gunicorn", "php8.2-fpm"],
        customCloudConfig="runcmd:\n- [touch, /etc/custom-done]\n",
    )
    for role in ("primary", "standby"):
        instance = next(r for r in syn.resources if r.name == f"small-shop-{role}-instance")
        document = yaml.safe_load(unwrap(instance.inputs["userData"]).split("\n", 1)[1])
        assert {"gunicorn", "php8.2-fpm", "nginx"} <= set(document["packages"])
        assert ["touch", "/etc/custom-done"] in document["runcmd"]
        assert ["systemctl", "enable", "--now", "nftables"] in document["runcmd"]  # ours kept


def test_profiles_an_adopted_primary_keeps_its_own_web_server_config():
    """The client's existing server gets the agent, not redundo's nginx file; the standby gets the profile."""
    syn = synth(tier="standard", primaryHost="198.51.100.20", primaryUser="admin")
    primary = files_in_script(
        unwrap(next(r for r in syn.resources if r.name == "small-shop-primary-agent-install").inputs["stdin"])
    )
    standby = files_in_script(
        unwrap(next(r for r in syn.resources if r.name == "small-shop-standby-agent-install").inputs["stdin"])
    )
    assert profiles.SITE_FILE not in primary and "/usr/local/sbin/redundo-backup" in primary
    assert profiles.SITE_FILE in standby
