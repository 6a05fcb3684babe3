"""The local cloud realizes the program's resources and, like the engine, leaves unchanged ones alone.

Instances and SSH are stubbed here (the host tests boot real ones); S3, IAM and the OVH stand-in
are real servers on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
from redundo.stacks.program import main

from redundo import deploy
from redundo.plan import pulumi_config
from redundo.rehearse import image as image_mod
from redundo.rehearse.cloud import LocalCloud
from redundo.rehearse.engine import RehearsalEngine
from redundo.rehearse.s3 import make_server
from redundo.settings import parse_settings


@pytest.fixture(params=["moto", "seaweedfs"])
def cloud(tmp_path, request):
    s3 = make_server(request.param, "eu-west-3", tmp_path)
    cloud = LocalCloud(
        tmp_path, image_mod.Image(tmp_path), s3, apt_cache=tmp_path / "apt", mirrors=["http://deb.debian.org/debian"]
    )
    cloud.booted, cloud.commands, cloud.scripts = [], [], []

    def boot(name, user_data, public_keys):
        cloud._tls()
        address = cloud._free_addresses.pop(0)
        cloud.booted.append((name, address, user_data))
        return address

    def ssh(address, command, **kw):
        cloud.commands.append((kw.get("name"), address, kw.get("stdin", "")))
        cloud.scripts.append((kw.get("name"), command))
        return ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvc3Qta2V5 root@h\n" if command.endswith(".pub") else ""), ""

    cloud._boot, cloud.ssh = boot, ssh
    try:
        yield cloud
    finally:
        cloud.close()
        s3.close()


def _target(tmp_path, cloud, tier: str):
    from tests.conftest import example_config

    raw = {**example_config(), "tier": tier}
    engine = RehearsalEngine(cloud, main, {k: (v, False) for k, v in pulumi_config(raw).items()})
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return engine, deploy.Target(
        project=project,
        settings=parse_settings("small-shop", raw),
        backend=(project / "state").as_uri(),
        passphrase="x",
        pulumi_command=engine,
    )


def _printer():
    return lambda event: None


def test_cloud_realizes_the_vault_exactly_as_the_program_gives_it(tmp_path, cloud):
    """Versioning, object lock, lifecycle and the key policies are on the S3 server after `up`."""
    engine, target = _target(tmp_path, cloud, "premium")
    deploy.up(target, _printer())
    bucket = engine.exports["vaultBucket"][0]
    s3 = cloud.s3
    assert s3.admin_call("get_bucket_versioning", Bucket=bucket)["Status"] == "Enabled"
    lock = s3.admin_call("get_object_lock_configuration", Bucket=bucket)["ObjectLockConfiguration"]
    assert {k: lock["Rule"]["DefaultRetention"][k] for k in ("Mode", "Days")} == {"Mode": "COMPLIANCE", "Days": 30}
    [rule] = s3.admin_call("get_bucket_lifecycle_configuration", Bucket=bucket)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 180
    # The program's TLS-only policy is not applied as such: every request reaches the server in
    # plain HTTP from the TLS relay, where its condition is false (SeaweedFS, which evaluates it,
    # refused every call after it, the admin's included; moto ignores conditions).
    policy = s3.bucket_policies[bucket]
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The reader key reads but cannot write: IAM is enforced with the program's policies.
    reader = (engine.exports["readerAccessKeyId"][0], engine.exports["readerSecretAccessKey"][0])
    client = s3._client("s3", reader)
    client.list_objects_v2(Bucket=bucket)
    with pytest.raises(Exception, match=r"AccessDenied|Forbidden"):
        client.put_object(Bucket=bucket, Key="data/x", Body=b"x")
    # Both hosts booted from user data that names the bucket, and the site record points at the primary.
    assert {name for name, _, _ in cloud.booted} == {"small-shop-primary-instance", "small-shop-standby-instance"}
    record = cloud.ovh.site_record("jeweller-example.fr", "")
    assert record["target"] == engine.exports["primaryIpv4"][0]
    # The watchdog's OAuth2 client may edit that record, as premium's take-over does, and nothing
    # outside its zone: the program's IAM policy as the OVH API takes it.
    [(client_id, client)] = [
        (i, c)
        for i, c in cloud.ovh.clients.items()
        if any(c["identity"] in p["identities"] for p in cloud.ovh.policies.values())
    ]
    token = _ovh(
        cloud,
        "POST",
        "/auth/oauth2/token",
        form={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client["secret"]},
    )[1]["access_token"]
    moved = _ovh(
        cloud,
        "PUT",
        f"/1.0/domain/zone/jeweller-example.fr/record/{record['id']}",
        token=token,
        body={"target": "198.51.100.7"},
    )
    assert moved[0] == 200 and cloud.ovh.site_record("jeweller-example.fr", "")["target"] == "198.51.100.7"
    assert _ovh(cloud, "POST", "/1.0/domain/zone/jeweller-example.fr/refresh", token=token)[0] == 200
    assert _ovh(
        cloud,
        "PUT",
        f"/1.0/domain/zone/other-shop.fr/record/{record['id']}",
        token=token,
        body={"target": "198.51.100.7"},
    )[0] in (403, 404)


def _ovh(
    cloud, method: str, path: str, *, token: str | None = None, body: dict | None = None, form: dict | None = None
) -> tuple[int, dict]:
    """One call to the OVH stand-in, as the watchdog's curl makes it."""
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(form).encode() if form else json.dumps(body).encode() if body else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    request = urllib.request.Request(cloud.ovh.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
            return answer.status, json.loads(text) if text.strip() else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_cloud_failover_reexecutes_only_what_changed(tmp_path, cloud):
    """The failover's update runs the standby's role commands and moves the record; the primary is untouched."""
    engine, target = _target(tmp_path, cloud, "standard")
    deploy.up(target, _printer())
    booted, ran = len(cloud.booted), len(cloud.commands)
    result = deploy.switch(target, "standby", "2026-11-26T10:00:00Z", _printer())
    changed = [c for c in engine.last_changes if c.op != "same"]
    assert len(cloud.booted) == booted  # no instance created or replaced
    again = [name for name, _, _ in cloud.commands[ran:]]
    assert again and all(name.startswith("small-shop-standby-role") for name in again)
    assert not any("primary-instance" in c.urn for c in changed)
    assert result.summary.resource_changes.get("same", 0) > len(changed)
    record = cloud.ovh.site_record("jeweller-example.fr", "")
    assert record["target"] == engine.exports["standbyIpv4"][0]
    # A third run with nothing changed does nothing at all.
    ran = len(cloud.commands)
    deploy.switch(target, "standby", "2026-11-26T10:00:00Z", _printer())
    assert cloud.commands[ran:] == [] and {c.op for c in engine.last_changes} == {"same"}


def test_cloud_runs_a_changed_commands_update_in_place_and_its_create_only_on_new_triggers(
    tmp_path, cloud, monkeypatch
):
    """As pulumi-command does: an upgrade of redundo that changes the text of the failover's switch
    (same token) runs its update, `true`, and never its restore again; a new token replaces it."""
    from redundo.components import host_role

    engine, target = _target(tmp_path, cloud, "standard")
    deploy.up(target, _printer())
    deploy.switch(target, "standby", "2026-11-26T10:00:00Z", _printer())
    switch = "small-shop-standby-role-switch"
    assert any("systemctl start redundo-restore.service" in c for n, c in cloud.scripts if n == switch)
    ran = len(cloud.scripts)
    monkeypatch.setattr(host_role, "_BUSY_LIMIT", host_role._BUSY_LIMIT + 1)  # a newer redundo's text
    deploy.switch(target, "standby", "2026-11-26T10:00:00Z", _printer())
    assert [(n, c) for n, c in cloud.scripts[ran:] if n == switch] == [(switch, "true")]
    assert {c.op for c in engine.last_changes if c.urn.endswith(switch)} == {"update"}
    ran = len(cloud.scripts)
    deploy.switch(target, "standby", "2026-11-27T10:00:00Z", _printer())  # a new failover: a new token
    [again] = [c for n, c in cloud.scripts[ran:] if n == switch]
    assert "systemctl start redundo-restore.service" in again
    assert {c.op for c in engine.last_changes if c.urn.endswith(switch)} == {"replace"}


def test_seaweedfs_starts_again_on_fresh_ports_when_one_was_taken(tmp_path, monkeypatch):
    """A port chosen for weed is taken before it binds (another server, a guest's forwarding): the
    fault happens (weed says so and exits), then the server comes up on fresh ports."""
    import socket

    from redundo.rehearse import s3 as s3_mod
    from redundo.rehearse import vm

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    first, real = iter([port]), vm.free_port
    monkeypatch.setattr(vm, "free_port", lambda: next(first, None) or real())
    server = s3_mod.SeaweedS3("eu-west-3", tmp_path)
    try:
        assert f"Port allocation failed: port {port} for Master" in (tmp_path / "seaweedfs" / "weed.log").read_text()
        assert port not in server.ports.values()
        server.create_bucket("redundo-after-retry", region="eu-west-3", object_lock=False)
        assert server.objects("redundo-after-retry") == {}
    finally:
        server.close()
        taken.close()


def test_seaweedfs_starts_in_a_deep_temporary_directory(tmp_path):
    """A rehearsal's temporary directory under a test's (or a user's deep TMPDIR) is long; a Unix
    socket's path may be 107 bytes at most, so weed's sockets live under relative names."""
    from redundo.rehearse import s3 as s3_mod

    deep = tmp_path / ("d" * 80) / "redundo-rehearse-abcdefgh"
    deep.mkdir(parents=True)
    assert len(str(deep / "seaweedfs" / "filer.sock")) > 107
    server = s3_mod.SeaweedS3("eu-west-3", deep)
    try:
        server.create_bucket("redundo-deep", region="eu-west-3", object_lock=False)
        assert server.objects("redundo-deep") == {}
    finally:
        server.close()
