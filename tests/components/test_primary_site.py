"""The primary's instance, its security posture and its user data."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from redundo import cloud_config
from tests.conftest import synth, unwrap


def _primary(syn):
    return next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name)


def test_primary_site_instance_uses_the_configured_region_flavour_and_key():
    syn = synth(primaryRegion="SBG7", primaryFlavor="d2-4", standbyRegion="DE1")
    instance = _primary(syn)
    assert instance.inputs["region"] == "SBG7"
    assert instance.inputs["flavor"] == {"flavorId": "flavor-d2-4-sbg7"}  # looked up by name in that region
    assert instance.inputs["billingPeriod"] == "monthly"
    assert instance.inputs["sshKeyCreate"]["publicKey"].startswith("ssh-ed25519 ")
    flavors = [args for token, args in syn.invokes if token == "ovh:CloudProject/getFlavors:getFlavors"]
    assert {"region": "SBG7", "nameFilter": "d2-4", "serviceName": "5f0c2a9d8e7b4c1a9f3e6d2b8a7c4e1f"} in flavors


def test_primary_site_host_record_is_inside_the_client_zone():
    record = next(r for r in synth().by_type("ovh:Domain/zoneRecord:ZoneRecord") if "primary" in r.name)
    assert (record.inputs["zone"], record.inputs["subdomain"], record.inputs["fieldtype"]) == (
        "jeweller-example.fr", "primary", "A")


def test_primary_site_user_data_firewall_opens_only_web_and_admin_ssh():
    syn = synth(adminCidrs=["198.51.100.7/32", "2001:db8::/48"])
    text = unwrap(_primary(syn).inputs["userData"])
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert document["ssh_pwauth"] is False
    rules = next(f["content"] for f in document["write_files"] if f["path"] == "/etc/nftables.conf")
    assert "policy drop;" in rules
    assert "ip saddr { 198.51.100.7/32 } tcp dport 22 accept" in rules
    assert "ip6 saddr { 2001:db8::/48 } tcp dport 22 accept" in rules
    accepted_ports = {line.split("dport")[1].split("accept")[0].strip() for line in rules.splitlines() if "dport" in line}
    assert accepted_ports == {"22", "{ 80, 443 }"}


def test_primary_site_user_data_passes_cloud_init_schema(tmp_path):
    if shutil.which("cloud-init") is None:
        if os.environ.get("CI"):
            pytest.fail("cloud-init is not installed; .ci/run must install it")
        pytest.skip("cloud-init is not installed")
    path = tmp_path / "user-data.yaml"
    path.write_text(unwrap(_primary(synth()).inputs["userData"]))
    done = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cloud_config_render_is_yaml_with_the_header_and_no_templating():
    config = cloud_config.host_config(hostname="h", admin_cidrs=["0.0.0.0/0"], packages=["restic"])
    text = cloud_config.render(config)
    assert text.startswith(cloud_config.HEADER) and yaml.safe_load(text) == config


def test_primary_site_instance_is_protected_and_holds_its_replace_forcing_inputs():
    """Agent fixes, image re-ids, key rotation and flavour changes never rebuild the primary."""
    syn = synth(tier="standard")
    instance = _primary(syn)
    assert instance.options["protect"] is True
    assert set(instance.options["ignore_changes"]) == {"userData", "bootFrom", "sshKeyCreate", "flavor"}
    standby = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "standby" in r.name)
    assert standby.options["protect"] is False  # a downgrade to cold removes it; the guard covers replacement
    assert set(standby.options["ignore_changes"]) == set(instance.options["ignore_changes"])


def test_primary_site_key_pair_names_are_unique_per_instance():
    """A replacement built beside the old instance never asks for the old key pair's name."""
    syn = synth(tier="standard")
    names = [unwrap(r.inputs["sshKeyCreate"]["name"]) for r in syn.by_type("ovh:CloudProject/instance:Instance")]
    ids = {r.name: r for r in syn.by_type("random:index/randomId:RandomId")}
    assert {"small-shop-primary-instance-key-id", "small-shop-standby-instance-key-id"} <= set(ids)
    assert ids["small-shop-primary-instance-key-id"].inputs["keepers"] == {"region": "GRA11"}
    assert len(set(names)) == 2 and all(n.startswith(("small-shop-primary-instance-key-",
                                                       "small-shop-standby-instance-key-")) for n in names)
