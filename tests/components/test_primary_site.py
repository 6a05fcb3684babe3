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
        "jeweller-example.fr",
        "primary",
        "A",
    )


def _installs(syn):
    return {c.name: c for c in syn.by_type("command:remote:Command") if c.name.endswith("-agent-install")}


def test_primary_site_bundle_firewall_opens_only_web_and_admin_ssh():
    """M6: the admin-only firewall rolls with the agent bundle; the user data's is generic."""
    from redundo.agent.bundle import commands_in_script, files_in_script

    syn = synth(adminCidrs=["198.51.100.7/32", "2001:db8::/48"])
    script = unwrap(_installs(syn)["small-shop-primary-agent-install"].inputs["stdin"])
    rules = files_in_script(script)["/etc/nftables.conf"]
    assert "policy drop;" in rules
    assert "ip saddr { 198.51.100.7/32 } tcp dport 22 accept" in rules
    assert "ip6 saddr { 2001:db8::/48 } tcp dport 22 accept" in rules
    accepted_ports = {
        line.split("dport")[1].split("accept")[0].strip() for line in rules.splitlines() if "dport" in line
    }
    assert accepted_ports == {"22", "{ 80, 443 }"}
    commands = commands_in_script(script)
    check, load = commands.index("nft -c -f /etc/nftables.conf"), commands.index("nft -f /etc/nftables.conf")
    assert check < load < commands.index("nginx -t -q")

    text = unwrap(_primary(syn).inputs["userData"])
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert document["ssh_pwauth"] is False
    first_boot = next(f["content"] for f in document["write_files"] if f["path"] == "/etc/nftables.conf")
    assert "policy drop;" in first_boot and "198.51.100.7" not in first_boot


@pytest.mark.parametrize(
    "standby",
    [{"standbyProvider": "ovh", "standbyRegion": "DE1"}, {"standbyProvider": "aws", "standbyRegion": "eu-central-1"}],
    ids=["ovh", "aws"],
)
def test_changing_admin_cidrs_rolls_the_bundle_not_the_user_data(standby):
    before = synth(tier="standard", adminCidrs=["198.51.100.7/32"], **standby)
    after = synth(tier="standard", adminCidrs=["198.51.100.7/32", "192.0.2.0/24"], **standby)
    nodes = ("ovh:CloudProject/instance:Instance", "aws:lightsail/instance:Instance")
    for kind in nodes:
        new_by_name = {r.name: r for r in after.by_type(kind)}
        for old in before.by_type(kind):
            assert unwrap(old.inputs["userData"]) == unwrap(new_by_name[old.name].inputs["userData"]), old.name
    old_installs, new_installs = _installs(before), _installs(after)
    assert set(old_installs) == {"small-shop-primary-agent-install", "small-shop-standby-agent-install"}
    for name, old in old_installs.items():
        new = new_installs[name]
        assert unwrap(old.inputs["triggers"]) != unwrap(new.inputs["triggers"]), name
        assert "192.0.2.0/24" in unwrap(new.inputs["stdin"]) and "192.0.2.0/24" not in unwrap(old.inputs["stdin"])


def test_bundle_firewall_passes_nft_check(tmp_path):
    """The ruleset the bundle ships passes `nft -c -f` (as the host checks it before loading it)."""
    from redundo.agent.bundle import files_in_script

    nft = shutil.which("nft") or shutil.which("nft", path="/usr/sbin")
    if nft is None:
        if os.environ.get("CI"):
            pytest.fail("nftables is not installed; .ci/apt.d must list it")
        pytest.skip("nftables is not installed")
    syn = synth(adminCidrs=["198.51.100.7/32", "2001:db8::/48"])
    script = unwrap(_installs(syn)["small-shop-primary-agent-install"].inputs["stdin"])
    path = tmp_path / "nftables.conf"
    path.write_text(files_in_script(script)["/etc/nftables.conf"])
    done = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True)
    if done.returncode != 0 and "Operation not permitted" in done.stderr and os.geteuid() != 0:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text(path.read_text().replace("policy drop;", "policy dorp;"))
    assert subprocess.run([nft, "-c", "-f", str(broken)], capture_output=True).returncode != 0


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
    config = cloud_config.host_config(hostname="h", packages=["restic"])
    text = cloud_config.render(config)
    assert text.startswith(cloud_config.HEADER) and yaml.safe_load(text) == config


def test_primary_site_instance_is_protected_and_holds_its_replace_forcing_inputs():
    """Agent fixes, image re-ids, key rotation and flavour changes never rebuild the primary."""
    syn = synth(tier="standard")
    instance = _primary(syn)
    assert instance.options["protect"] is True
    # billingPeriod follows the flavour and is ForceNew too (terraform-provider-ovh).
    assert set(instance.options["ignore_changes"]) == {
        "userData",
        "bootFrom",
        "sshKeyCreate",
        "flavor",
        "billingPeriod",
    }
    standby = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "standby" in r.name)
    assert standby.options["protect"] is False  # a downgrade to cold removes it; the guard covers replacement
    # A standby holds no unique data: its size is not held, a new size rebuilds it (with consent).
    assert set(standby.options["ignore_changes"]) == {"userData", "bootFrom", "sshKeyCreate"}


def test_primary_site_key_pair_names_are_unique_per_instance():
    """A replacement built beside the old instance never asks for the old key pair's name."""
    syn = synth(tier="standard")
    names = [unwrap(r.inputs["sshKeyCreate"]["name"]) for r in syn.by_type("ovh:CloudProject/instance:Instance")]
    ids = {r.name: r for r in syn.by_type("random:index/randomId:RandomId")}
    assert {"small-shop-primary-instance-key-id", "small-shop-standby-instance-key-id"} <= set(ids)
    assert ids["small-shop-primary-instance-key-id"].inputs["keepers"] == {"region": "GRA11"}
    assert len(set(names)) == 2 and all(
        n.startswith(("small-shop-primary-instance-key-", "small-shop-standby-instance-key-")) for n in names
    )


@pytest.mark.parametrize("flavor", ["c3-4", "b3-8", "b3-16"])
def test_primary_site_third_generation_flavours_are_billed_hourly(flavor):
    """c3/b3 flavours have no monthly plan at OVH (KB0050553): a monthly instance could never be created."""
    assert _primary(synth(primaryFlavor=flavor)).inputs["billingPeriod"] == "hourly"


def test_primary_site_billing_matches_what_the_estimate_prices():
    """Monthly only where the catalogue has a monthly plan; an hourly flavour is priced at 730 h of its rate."""
    from redundo.pricing import HOURS_PER_MONTH, catalogue, estimate
    from redundo.settings import OVH_FLAVORS, parse_settings

    for flavor in OVH_FLAVORS:
        row = catalogue().ovh_instance(flavor)
        billed = _primary(synth(primaryFlavor=flavor)).inputs["billingPeriod"]
        assert billed == ("monthly" if row["monthly_plan"] else "hourly")
        if flavor[1] == "3":  # third generation: never a monthly plan
            assert billed == "hourly"
        item = next(
            i
            for i in estimate(parse_settings("c", {"primaryFlavor": flavor}, for_deploy=False)).items
            if i.part == "primary"
        )
        if billed == "hourly":
            assert item.unit_eur == pytest.approx(row["hourly_eur"] * HOURS_PER_MONTH, abs=0.01)
            assert "billed hourly" in item.what


ADOPTED = {"primaryHost": "203.0.113.10", "primaryUser": "shopadmin", "primaryPort": "2222"}


def test_primary_site_adopted_server_gets_no_instance_and_the_agent_over_ssh():
    syn = synth(tier="standard", **ADOPTED)
    instances = syn.by_type("ovh:CloudProject/instance:Instance")
    assert [r.name for r in instances] == ["small-shop-standby-instance"]
    assert not [r for r in syn.by_type("random:index/randomId:RandomId") if "primary" in r.name]
    commands = {r.name: r for r in syn.by_type("command:remote:Command")}
    for name in (
        "small-shop-primary-agent-host-key",
        "small-shop-primary-agent-install",
        "small-shop-primary-role-env-file",
        "small-shop-primary-role-repository-init",
    ):
        connection = unwrap(commands[name].inputs["connection"])
        assert (connection["host"], connection["user"], connection["port"]) == ("203.0.113.10", "shopadmin", 2222), name
    assert "redundo-backup.timer" in unwrap(commands["small-shop-primary-agent-install"].inputs["stdin"])
    record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if "primary" in r.name)
    assert record.inputs["target"] == "203.0.113.10"
    assert syn.exports["primaryIpv4"] == ("203.0.113.10", False)


def test_plan_json_for_an_adopted_primary_lists_no_primary_instance(write_stack):
    import json

    from redundo.cli.main import app
    from typer.testing import CliRunner

    from tests.conftest import SERVICE, SSH_KEY

    project = write_stack(
        "adopted",
        ovhServiceName=SERVICE,
        sshPublicKey=SSH_KEY,
        tier="standard",
        primaryHost="shop.example.fr",
        primaryUser="debian",
    )
    result = CliRunner().invoke(app, ["--project", str(project), "plan", "--stack", "adopted", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    names = {r["name"]: r for r in plan["resources"]}
    assert "adopted-primary-instance" not in names and "adopted-standby-instance" in names
    assert "adopted-primary-agent-install" in names and plan["outputs"]["primaryIpv4"] == "shop.example.fr"
    install = names["adopted-primary-agent-install"]
    assert install["type"] == "command:remote:Command" and "redundo-backup.timer" in install["inputs"]["stdin"]


def test_primary_site_survives_a_region_that_lists_nothing(monkeypatch):
    """M2: an existing instance holds flavor and bootFrom, so an empty lookup must not stop the program
    (a failover away from a dead region); the placeholder is refused only before a create."""
    from redundo.components import _ovh

    from redundo import synthesis

    flavors, images = synthesis._ovh_flavors, synthesis._ovh_images
    monkeypatch.setattr(synthesis, "_ovh_flavors", lambda args: {**flavors(args), "flavors": []})
    monkeypatch.setattr(synthesis, "_ovh_images", lambda args: {**images(args), "images": []})
    syn = synth(tier="standard", activeSide="standby")
    instance = _primary(syn)
    flavor, image = instance.inputs["flavor"]["flavorId"], instance.inputs["bootFrom"]["imageId"]
    assert flavor.startswith(_ovh.UNRESOLVED) and image.startswith(_ovh.UNRESOLVED)
    assert {"flavor", "bootFrom"} <= set(instance.options["ignore_changes"])

    class Args:
        name = "small-shop-primary-instance"
        new_inputs = instance.inputs

    with pytest.raises(RuntimeError) as refused:
        _ovh.refuse_unresolved(Args())
    message = str(refused.value)
    assert "\n" not in message and "cannot create small-shop-primary-instance" in message
    assert "flavour d2-" in message and "lists no flavour" in message


def test_a_resolved_instance_passes_the_before_create_check():
    from redundo.components import _ovh

    class Args:
        name = "x"
        new_inputs = _primary(synth()).inputs

    _ovh.refuse_unresolved(Args())


def test_lightsail_user_data_is_a_single_line_launch_script():
    """M7: Lightsail runs user data inside its own launch shell script; cloud-config would never apply."""
    syn = synth(tier="standard", standbyProvider="aws", standbyRegion="eu-central-1")
    instance = next(iter(syn.by_type("aws:lightsail/instance:Instance")))
    text = unwrap(instance.inputs["userData"])
    assert "\n" not in text and not text.startswith("#cloud-config")
    assert "hostnamectl set-hostname small-shop-standby" in text and "apt-get -q update" in text
    done = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # what cloud-config would have installed reaches the node with the bundle instead
    install = _installs(syn)["small-shop-standby-agent-install"]
    assert "apt-get update -q" in unwrap(install.inputs["stdin"])
