"""Topology invariants of the whole stack program, for every tier."""

from __future__ import annotations

import json
import shutil

import pytest

from redundo import geo
from redundo.plan import mask_secrets
from redundo.tiers import TIERS
from tests.conftest import one, synth, unwrap

COMPONENT_TYPES = {
    "redundo:index:RedundantSite",
    "redundo:index:PrimarySite",
    "redundo:index:BackupVault",
    "redundo:index:Standby",
    "redundo:index:Failover",
    "redundo:index:HostRole",
    "redundo:index:AgentInstall",
}


@pytest.mark.parametrize("tier", list(TIERS))
def test_redundant_site_every_resource_is_parented_under_a_component(tier):
    """Every cloud resource hangs under a redundo component, and every component under RedundantSite."""
    syn = synth(tier=tier)
    by_urn = syn.by_urn()
    site = one(syn, "redundo:index:RedundantSite")
    for r in syn.resources:
        if r.type.startswith("pulumi:providers:") or r is site:
            continue
        parent = by_urn.get(r.parent)
        assert parent is not None, f"{r.name} has no recorded parent"
        if r.type in COMPONENT_TYPES:
            assert parent is site, f"component {r.name} is not under the RedundantSite"
        else:
            assert parent.type in COMPONENT_TYPES - {"redundo:index:RedundantSite"}, r.name
            assert r.name.startswith(parent.name + "-"), f"{r.name} does not derive from {parent.name}"


@pytest.mark.parametrize("tier", list(TIERS))
def test_redundant_site_routes_each_resource_to_its_providers_explicit_provider(tier):
    """AWS resources use the stack's AWS provider, OVH ones the OVH provider; none a default provider."""
    syn = synth(tier=tier)
    by_urn = syn.by_urn()
    for r in syn.resources:
        package = r.type.split(":")[0]
        if not r.custom or package in ("pulumi", "random", "command"):  # no cloud account behind these
            continue
        provider = by_urn.get(r.provider_urn)
        assert provider is not None, f"{r.name} uses a default provider"
        assert provider.type == f"pulumi:providers:{package}", f"{r.name} routed to {provider.type}"


@pytest.mark.parametrize("tier", list(TIERS))
def test_redundant_site_keeps_vault_and_standby_out_of_the_primary_city(tier):
    syn = synth(tier=tier)
    primary = (
        one(syn, "ovh:CloudProject/instance:Instance")
        if tier == "basic"
        else next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name)
    )
    primary_loc = geo.locate("ovh", primary.inputs["region"])
    bucket = one(syn, "aws:s3/bucket:Bucket")
    vault_loc = geo.locate("aws", bucket.inputs["region"])
    assert not vault_loc.same_city(primary_loc)
    for standby in (r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "standby" in r.name):
        standby_loc = geo.locate("ovh", standby.inputs["region"])
        assert standby.inputs["region"] != primary.inputs["region"]
        assert not standby_loc.same_city(primary_loc)


def test_redundant_site_cold_standby_creates_no_instance_until_failover():
    basic = synth(tier="basic")
    assert [r.name for r in basic.by_type("ovh:CloudProject/instance:Instance")] == ["small-shop-primary-instance"]
    failed_over = synth(tier="basic", activeSide="standby")
    names = sorted(r.name for r in failed_over.by_type("ovh:CloudProject/instance:Instance"))
    assert names == ["small-shop-primary-instance", "small-shop-standby-instance"]


@pytest.mark.parametrize("tier", ["standard", "premium"])
def test_redundant_site_pilot_and_warm_standbys_exist(tier):
    names = [r.name for r in synth(tier=tier).by_type("ovh:CloudProject/instance:Instance")]
    assert "small-shop-standby-instance" in names


def test_redundant_site_failover_record_points_at_the_active_node_with_the_tier_ttl():
    for tier in TIERS.values():
        syn = synth(tier=tier.name)
        record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if "failover" in r.name)
        primary = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name)
        assert record.inputs["ttl"] == tier.dns_ttl_seconds
        assert record.inputs["ttl"] >= 60
        assert record.inputs["target"] == primary.outputs["addresses"][0]["ip"]
        assert record.inputs["zone"] == "jeweller-example.fr" and record.inputs["subdomain"] == ""
    syn = synth(tier="standard", activeSide="standby")
    record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if "failover" in r.name)
    standby = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "standby" in r.name)
    assert record.inputs["target"] == standby.outputs["addresses"][0]["ip"]


def test_redundant_site_without_domain_creates_no_dns_record():
    syn = synth(domain=None)
    assert syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") == []
    assert syn.by_type("redundo:index:Failover") == []


def test_redundant_site_lightsail_standby_is_on_aws_with_a_closed_ssh_port():
    syn = synth(tier="premium", standbyProvider="aws", standbyRegion="eu-central-1", adminCidrs=["198.51.100.7/32"])
    instance = one(syn, "aws:lightsail/instance:Instance")
    assert instance.inputs["region"] == "eu-central-1"
    assert instance.inputs["bundleId"] == "small_3_0"  # the warm standby matches the primary's 2 GB
    ports = unwrap(one(syn, "aws:lightsail/instancePublicPorts:InstancePublicPorts").inputs["portInfos"])
    ssh = [p for p in ports if p["fromPort"] == 22]
    assert ssh == [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrs": ["198.51.100.7/32"], "ipv6Cidrs": []}]
    assert {p["fromPort"] for p in ports} == {22, 80, 443}


@pytest.mark.parametrize("tier", list(TIERS))
def test_redundant_site_secrets_never_appear_in_plain_inputs_or_exports(tier):
    """No secret value shows anywhere once secret-marked values are masked: not in user data,
    not in the credential commands' plain inputs, not in exports."""
    syn = synth(tier=tier)
    secret_values = set()
    for r in syn.resources:
        for key in r.options.get("additional_secret_outputs", []):
            value = unwrap(r.outputs.get(key))
            if isinstance(value, str):
                secret_values.add(value)
    assert any(v.startswith("mock-secret-of-") for v in secret_values)
    assert any(v.startswith("mock-password-of-") for v in secret_values)
    for r in syn.resources:
        plain = json.dumps(mask_secrets(r.inputs))
        leaked = [v for v in secret_values if v in plain]
        assert not leaked, f"{r.name} carries {leaked} in plain inputs"
    for name, (value, is_secret) in syn.exports.items():
        if value in secret_values:
            assert is_secret, f"export {name} carries a secret in plain text"


def _commands(syn) -> dict:
    return {r.name: r for r in syn.by_type("command:remote:Command")}


def test_redundant_site_delivers_credentials_over_ssh_not_user_data():
    syn = synth(tier="standard")
    commands = _commands(syn)
    assert set(commands) == {
        "small-shop-primary-agent-host-key",
        "small-shop-standby-agent-host-key",
        "small-shop-primary-agent-install",
        "small-shop-standby-agent-install",
        "small-shop-primary-role-env-file",
        "small-shop-primary-role-repository-init",
        "small-shop-primary-role-timers",
        "small-shop-standby-role-env-file",
        "small-shop-standby-role-timers",
    }
    primary_ip = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name).outputs[
        "addresses"
    ][0]["ip"]
    env = commands["small-shop-primary-role-env-file"]
    connection = unwrap(env.inputs["connection"])
    assert connection["host"] == primary_ip and connection["user"] == "debian"
    # Secrets only ever travel to the key read at first contact.
    assert (
        connection["hostKey"]
        == unwrap(commands["small-shop-primary-agent-host-key"].outputs["stdout"]).strip().rsplit(" ", 1)[0]
    )
    assert "install -m 0600 -o root -g root /dev/stdin /etc/redundo/restic.env" in env.inputs["create"]
    assert "delete" not in env.inputs  # never wait on SSH to a node that may have burned
    stdin = unwrap(env.inputs["stdin"])
    assert "AWS_SECRET_ACCESS_KEY=mock-secret-of-small-shop-vault-writer-key" in stdin
    assert "RESTIC_PASSWORD=mock-password-of-small-shop-vault-repository-password" in stdin
    init = unwrap(commands["small-shop-primary-role-repository-init"].inputs["stdin"])
    assert "mock-secret-of-small-shop-vault-init-key" in init and "RESTIC_REPOSITORY=s3:https://" in init
    reader = unwrap(commands["small-shop-standby-role-env-file"].inputs["stdin"])
    assert "mock-secret-of-small-shop-vault-reader-key" in reader and "writer" not in reader
    assert not any("standby" in name for name in _commands(synth(tier="basic")))


def test_redundant_site_roles_run_backups_on_the_primary_and_follow_on_a_warm_standby():
    commands = _commands(synth(tier="premium"))
    primary = commands["small-shop-primary-role-timers"].inputs["create"]
    standby = commands["small-shop-standby-role-timers"].inputs["create"]
    assert primary.endswith("sudo systemctl enable --now redundo-backup.timer redundo-prune.timer redundo-verify.timer")
    assert "redundo-restore.service" not in primary
    assert standby.endswith("sudo systemctl enable --now redundo-restore.timer redundo-watchdog.timer")
    assert "disable --now redundo-backup.timer redundo-prune.timer redundo-verify.timer" in standby
    pilot = _commands(synth(tier="standard"))["small-shop-standby-role-timers"].inputs["create"]
    assert "enable --now" not in pilot


@pytest.mark.parametrize("tier", list(TIERS))
def test_redundant_site_failover_restores_on_the_standby_before_dns_moves(tier):
    syn = synth(tier=tier, activeSide="standby", switchedAt="2026-11-26T03:00:00Z")
    commands = _commands(syn)
    on_primary = {n for n in commands if "primary" in n}
    assert on_primary == {"small-shop-primary-agent-host-key", "small-shop-primary-agent-install"}, (
        "a failover must not depend on the old primary"
    )
    # Unchanged since the primary was provisioned, so the engine does not run them again: the key
    # read has the same inputs, and the agent install holds whatever bundle it last delivered.
    steady_syn = synth(tier=tier)
    steady = _commands(steady_syn)

    def key_read(syn, command):
        # The mocks number addresses in registration order: compare with the host replaced by its role.
        primary_ip = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name).outputs[
            "addresses"
        ][0]["ip"]
        inputs = unwrap(command.inputs)
        assert inputs["connection"]["host"] == primary_ip
        return {**inputs, "connection": {**inputs["connection"], "host": "primary"}}

    assert key_read(syn, commands["small-shop-primary-agent-host-key"]) == key_read(
        steady_syn, steady["small-shop-primary-agent-host-key"]
    )
    for step in ("host-key", "install"):
        # Held: no change (a rotated key, a new port, a new bundle) re-runs either or dials the old primary.
        assert commands[f"small-shop-primary-agent-{step}"].options["ignore_changes"] == [
            "connection",
            "stdin",
            "triggers",
            "create",
        ]
        assert steady[f"small-shop-primary-agent-{step}"].options["ignore_changes"] == []
    assert not any(
        commands["small-shop-primary-agent-install"].urn in c.options["dependencies"] for c in commands.values()
    ), "nothing of the failover may wait on the old primary"
    switch = commands["small-shop-standby-role-switch"]
    steps = switch.inputs["create"].split(" && ")
    assert steps.index(_restore_step(steps)) < steps.index("sudo /usr/local/sbin/redundo-serve-check")
    assert "redundo-restore.service" not in commands["small-shop-standby-role-timers"].inputs["create"]
    assert (
        commands["small-shop-standby-role-timers"]
        .inputs["create"]
        .endswith("sudo systemctl enable --now redundo-backup.timer redundo-prune.timer redundo-verify.timer")
    )
    assert switch.urn in commands["small-shop-standby-role-timers"].options["dependencies"]
    assert "2026-11-26T03:00:00Z" in commands["small-shop-standby-role-timers"].inputs["triggers"]
    assert "mock-secret-of-small-shop-vault-writer-key" in unwrap(
        commands["small-shop-standby-role-env-file"].inputs["stdin"]
    )
    standby_ip = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "standby" in r.name).outputs[
        "addresses"
    ][0]["ip"]
    record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if "failover" in r.name)
    assert record.inputs["target"] == standby_ip
    timers_urn = commands["small-shop-standby-role-timers"].urn
    assert timers_urn in record.options["dependencies"] or any(
        timers_urn in urns for urns in record.options["property_dependencies"].values()
    )


def test_redundant_site_leaves_the_zone_refresh_to_the_record_resource():
    """The record resource refreshes the zone after each change (terraform-provider-ovh
    resource_domain_zone_record.go); a step on the deployer's machine crashed and is gone."""
    import importlib.util

    for tier in ("basic", "premium"):
        syn = synth(tier=tier, activeSide="standby")
        assert syn.by_type("command:local:Command") == []
        assert "ovh_api" not in repr([r.inputs for r in syn.resources])
    assert importlib.util.find_spec("redundo.ovh_api") is None


def test_redundant_site_failback_restores_on_the_primary_first():
    switch = _commands(synth(tier="premium", switchedAt="2026-11-27T09:00:00Z"))["small-shop-primary-role-switch"]
    assert "sudo systemctl start redundo-restore.service" in switch.inputs["create"]


def test_redundant_site_premium_watchdog_may_edit_only_the_sites_zone():
    syn = synth(tier="premium")
    [policy] = syn.by_type("ovh:Iam/policy:Policy")
    client = one(syn, "ovh:Me/aPIOAuth2Client:APIOAuth2Client")
    assert policy.inputs["resources"] == ["urn:v1:eu:resource:dnsZone:jeweller-example.fr"]
    assert sorted(policy.inputs["allows"]) == [
        "dnsZone:apiovh:record/edit",
        "dnsZone:apiovh:record/get",
        "dnsZone:apiovh:refresh",
    ]
    assert policy.inputs["identities"] == [client.outputs.get("identity", policy.inputs["identities"][0])]
    env = unwrap(_commands(syn)["small-shop-standby-role-env-file"].inputs["stdin"])
    primary_ip = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name).outputs[
        "addresses"
    ][0]["ip"]
    assert f"WATCH_URL=http://{primary_ip}/" in env and "WATCH_HOST=jeweller-example.fr" in env
    assert "DNS_RECORD_ID=small-shop-failover-site-record-id" in env and "OVH_CLIENT_SECRET=" in env
    assert "writer" not in env  # the watchdog restores; it does not get the key that writes backups


@pytest.mark.parametrize(("tier", "side"), [("standard", "primary"), ("basic", "primary"), ("premium", "standby")])
def test_redundant_site_no_watchdog_without_automatic_failover_or_once_failed_over(tier, side):
    syn = synth(tier=tier, activeSide=side)
    assert syn.by_type("ovh:Me/aPIOAuth2Client:APIOAuth2Client") == []
    enabled = [
        step
        for r in syn.by_type("command:remote:Command")
        if r.name.endswith("-timers")
        for step in r.inputs["create"].split(" && ")
        if step.startswith("sudo systemctl enable --now")
    ]
    assert not any("redundo-watchdog.timer" in step for step in enabled)


def _restore_step(steps: list[str]) -> str:
    [step] = [s for s in steps if "sudo systemctl start redundo-restore.service" in s]
    return step


def _connections(syn) -> list[dict]:
    return [unwrap(c.inputs["connection"]) for c in syn.by_type("command:remote:Command")]


@pytest.mark.parametrize(
    ("tier", "side", "token"),
    [
        ("premium", "primary", ""),
        ("premium", "standby", "2026-11-26T03:00:00Z"),
        ("standard", "primary", "2026-11-27T09:00:00Z"),
    ],
)
def test_redundant_site_agent_socket_is_no_input_and_a_new_session_changes_nothing(tier, side, token, monkeypatch):
    """SSH_AUTH_SOCK is new with each login; in any command's inputs it would re-run every command,
    the live restore included. pulumi-command reads it from its own environment."""
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/ssh-AAAA/agent.1111")
    first = synth(tier=tier, activeSide=side, switchedAt=token)
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/ssh-BBBB/agent.2222")
    second = synth(tier=tier, activeSide=side, switchedAt=token)
    for connection in _connections(first):
        assert "agentSocketPath" not in connection and "ssh-AAAA" not in json.dumps(connection)
    assert {c.name: unwrap(c.inputs) for c in first.by_type("command:remote:Command")} == {
        c.name: unwrap(c.inputs) for c in second.by_type("command:remote:Command")
    }


@pytest.mark.parametrize(("side", "node"), [("standby", "standby"), ("primary", "primary")])
def test_redundant_site_take_over_is_replaced_only_by_a_new_token(side, node):
    """The restore over the live site runs when the switch token changes, never on another change."""
    token = "2026-11-26T03:00:00Z"
    commands = _commands(synth(tier="premium", activeSide=side, switchedAt=token))
    restoring = [c for c in commands.values() if "redundo-restore.service" in c.inputs["create"]]
    assert [c.name for c in restoring] == [f"small-shop-{node}-role-switch"]
    [switch] = restoring
    assert switch.inputs["triggers"] == [token]
    assert switch.inputs["update"] == "true"  # an update (connection, env, role) never restores again


def test_redundant_site_failover_disables_and_clears_the_watchdog_and_failback_rearms_it():
    """Serving, the standby runs no watchdog (it would fail every minute without WATCH_*); back to
    standby after failback, its state is cleared so the watchdog arms afresh instead of exiting on
    the old take-over marker."""
    state = {"/var/lib/redundo/watchdog.armed", "/var/lib/redundo/watchdog.took-over"}
    over = _commands(synth(tier="premium", activeSide="standby", switchedAt="2026-11-26T03:00:00Z"))
    assert (
        "redundo-watchdog.timer"
        in over["small-shop-standby-role-timers"]
        .inputs["create"]
        .split("disable --now ", 1)[1]
        .split(" && ")[0]
        .split()
    )
    steps = over["small-shop-standby-role-switch"].inputs["create"].split(" && ")
    [rm] = [s for s in steps if s.startswith("sudo rm -f ")]
    assert state <= set(rm.split()[3:])
    assert steps.index(rm) < steps.index(_restore_step(steps))
    back = _commands(synth(tier="premium", switchedAt="2026-11-27T09:00:00Z"))
    switch = back["small-shop-standby-role-switch"]
    assert switch.inputs["triggers"] == ["2026-11-27T09:00:00Z"]
    [rm] = [s for s in switch.inputs["create"].split(" && ") if s.startswith("sudo rm -f ")]
    assert state <= set(rm.split()[3:])
    assert "redundo-restore.service" not in switch.inputs["create"]
    assert switch.urn in back["small-shop-standby-role-timers"].options["dependencies"]
    assert back["small-shop-standby-role-timers"].inputs["create"].endswith("redundo-watchdog.timer")


def test_redundant_site_host_key_is_read_again_for_a_new_host_on_the_same_address():
    syn = synth(tier="premium")
    commands = _commands(syn)
    for role in ("primary", "standby"):
        instance = next(r for r in syn.by_type("ovh:CloudProject/instance:Instance") if role in r.name)
        assert commands[f"small-shop-{role}-agent-host-key"].inputs["triggers"] == [instance.id]
    adopted = _commands(synth(tier="standard", primaryHost="203.0.113.7", primaryUser="ops", primaryPort=2222))
    assert adopted["small-shop-primary-agent-host-key"].inputs["triggers"] == ["203.0.113.7:2222"]


def test_redundant_site_switch_step_run_again_for_the_same_token_does_not_restore(tmp_path):
    """The switch command re-created for a token this host already completed leaves the live site alone."""
    import subprocess

    from redundo.agent import STATE_DIR

    token = "2026-11-26T03:00:00Z"
    switch = _commands(synth(tier="premium", activeSide="standby", switchedAt=token))["small-shop-standby-role-switch"]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    (stubs / "sudo").write_text('#!/bin/bash\n"$@"\n')
    for name in ("systemctl", "cloud-init", "redundo-serve-check"):
        (stubs / name).write_text(f'#!/bin/bash\necho "{name} $*" >> {calls}\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    # The host's paths, moved under tmp_path; the command itself is the program's.
    command = (
        switch.inputs["create"]
        .replace(STATE_DIR, str(tmp_path / "state"))
        .replace("/usr/local/sbin/redundo-serve-check", "redundo-serve-check")
    )
    env = {"PATH": f"{stubs}:/usr/bin:/bin"}

    def run() -> list[str]:
        calls.write_text("")
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines()

    first = run()
    assert "systemctl start redundo-restore.service" in first
    assert (tmp_path / "state" / "switch.token").read_text() == token + "\n"
    second = run()
    assert not any("redundo-restore" in call for call in second)


def test_redundant_site_failover_after_the_watchdog_took_over_does_not_restore(tmp_path):
    """premium: the watchdog restored and moved DNS on its own; orders taken since exist only on this
    host. `redundo failover` records it: the switch must not restore the older snapshot over them."""
    import subprocess

    from redundo.agent import STATE_DIR

    switch = _commands(synth(tier="premium", activeSide="standby", switchedAt="2026-11-26T03:00:00Z"))[
        "small-shop-standby-role-switch"
    ]
    stubs, calls, state = tmp_path / "bin", tmp_path / "calls", tmp_path / "state"
    stubs.mkdir()
    (stubs / "sudo").write_text('#!/bin/bash\n"$@"\n')
    for name in ("cloud-init", "redundo-serve-check"):
        (stubs / name).write_text(f'#!/bin/bash\necho "{name} $*" >> {calls}\n')
    # A watchdog run mid-take-over is "activating" for its first look (and, when asked, completes its
    # take-over meanwhile), a follow restore the timer began before the switch for its first two.
    (stubs / "systemctl").write_text(f"""#!/bin/bash
echo "systemctl $*" >> {calls}
if [ "$1" = show ]; then
  looks={tmp_path}/looks-$5; n=$(( $(cat $looks 2>/dev/null || echo 0) + 1 )); echo $n > $looks
  case $5 in redundo-watchdog.service) busy=1 ;; *) busy=2 ;; esac
  if [ $n -le $busy ]; then echo activating; else echo inactive; fi
  if [ $5 = redundo-watchdog.service ] && [ -e {tmp_path}/completes ]; then
    date > {state}/watchdog.took-over
  fi
fi
""")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    command = (
        switch.inputs["create"]
        .replace(STATE_DIR, str(state))
        .replace("/usr/local/sbin/redundo-serve-check", "redundo-serve-check")
    )

    def run(took_over: bool, marker: str = "took-over", shell: str = "bash") -> list[str]:
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        if took_over:
            (state / f"watchdog.{marker}").write_text("2026-11-26T02:51:00Z\n")
        calls.write_text("")
        done = subprocess.run(
            [shell, "-c", command], env={"PATH": f"{stubs}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert not (state / f"watchdog.{marker}").exists()  # cleared: back to standby, the watchdog re-arms
        return calls.read_text().splitlines()

    restored = run(took_over=False)
    start = restored.index("systemctl start redundo-restore.service")
    look = "systemctl show -p ActiveState --value redundo-restore.service"
    watchdog = "systemctl show -p ActiveState --value redundo-watchdog.service"
    # The timers were stopped first; it waited for the watchdog's run, then for the follow run to
    # end, before its own restore.
    off = restored.index("systemctl disable --now redundo-restore.timer redundo-watchdog.timer")
    assert restored[off + 1 : off + 3] == [watchdog] * 2
    assert restored[start - 3 : start] == [look] * 3
    for unit in ("redundo-watchdog.service", "redundo-restore.service"):
        (tmp_path / f"looks-{unit}").unlink()
    recorded = run(took_over=True)
    assert "systemctl start redundo-restore.service" not in recorded
    assert "redundo-serve-check " in recorded  # it still proves it serves before the record moves
    # `redundo failover` while the watchdog restores: the switch waits for it, sees its take-over,
    # and does not restore a second time over the site the watchdog has just made live.
    (tmp_path / "looks-redundo-watchdog.service").unlink()
    (tmp_path / "completes").touch()
    during = run(took_over=False)
    assert during.count(watchdog) == 2 and "systemctl start redundo-restore.service" not in during
    # That run may have turned the follow timer on again: the switch turns it off after the wait.
    off_calls = [i for i, c in enumerate(during) if c.startswith("systemctl disable --now")]
    assert len(off_calls) == 2 and during.index(watchdog) < off_calls[1] < during.index(watchdog) + 3
    (tmp_path / "completes").unlink()
    # A watchdog that restored, checked and began to move the name, then broke off: no restore either.
    for unit in ("redundo-watchdog.service",):
        (tmp_path / f"looks-{unit}").unlink()
    broke_off = run(took_over=True, marker="moving-name", shell="dash")
    assert "systemctl start redundo-restore.service" not in broke_off and "redundo-serve-check " in broke_off


def test_redundant_site_switch_stops_when_the_timers_cannot_be_stopped(tmp_path):
    """systemd refusing `disable --now` stops the switch there: no wait, no restore, a failed command."""
    import subprocess

    from redundo.agent import STATE_DIR

    switch = _commands(synth(tier="premium", activeSide="standby", switchedAt="2026-11-26T03:00:00Z"))[
        "small-shop-standby-role-switch"
    ]
    stubs, calls = tmp_path / "bin", tmp_path / "calls"
    stubs.mkdir()
    (stubs / "sudo").write_text('#!/bin/bash\n"$@"\n')
    (stubs / "cloud-init").write_text("#!/bin/bash\n")
    (stubs / "systemctl").write_text(f'#!/bin/bash\necho "systemctl $*" >> {calls}\n[ "$1" != disable ]\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    command = switch.inputs["create"].replace(STATE_DIR, str(tmp_path / "state"))
    for shell in ("bash", "dash"):
        calls.write_text("")
        done = subprocess.run(
            [shell, "-c", command], env={"PATH": f"{stubs}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
        )
        assert done.returncode != 0
        assert calls.read_text().splitlines() == [
            "systemctl daemon-reload",
            "systemctl disable --now redundo-restore.timer redundo-watchdog.timer",
        ]


@pytest.mark.parametrize("tier", list(TIERS))
def test_site_record_is_retained_on_destroy(tier):
    """destroy keeps the protected primary, which still serves: the site's record must stay in the zone."""
    syn = synth(tier=tier)
    record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if r.name.endswith("-site-record"))
    assert record.options["retain_on_delete"] is True
    hosts = [r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if not r.name.endswith("-site-record")]
    assert all(not r.options.get("retain_on_delete") for r in hosts)


@pytest.mark.parametrize("tier", ["standard", "premium"])
def test_redundant_site_failback_demotes_the_standby_only_after_dns_moved(tier):
    """Until the site's name points at the rebuilt primary the standby serves it: its key and timers
    change only after the record, so a rebuild that fails half-way leaves it backing up."""
    syn = synth(tier=tier, switchedAt="2026-11-27T09:00:00Z")
    commands = _commands(syn)
    record = next(r for r in syn.by_type("ovh:Domain/zoneRecord:ZoneRecord") if "failover" in r.name)
    env = commands["small-shop-standby-role-env-file"]
    assert record.urn in env.options["dependencies"]
