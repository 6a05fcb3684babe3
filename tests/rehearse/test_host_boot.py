"""A host boots from the program's rendered user data: cloud-init done, SSH with its own host key."""

from __future__ import annotations

import subprocess

import pytest

from redundo.rehearse import image as image_mod
from redundo.rehearse.cloud import APT_ADDRESS, APT_PORT
from redundo.rehearse.net import AptProxy
from redundo.rehearse.scenario import _keypair, _user_data_packages
from redundo.rehearse.vm import Forward, Guest

pytestmark = [pytest.mark.host, pytest.mark.usefixtures("host_tools")]


def _primary_user_data(raw: dict) -> str:
    from redundo.plan import synthesize_stack

    synthesis = synthesize_stack("small-shop", raw)
    [instance] = [r for r in synthesis.by_type("ovh:CloudProject/instance:Instance") if "primary" in r.name]
    return instance.inputs["userData"]


def test_host_boots_from_rendered_user_data(tmp_path, small_shop_raw):
    """cloud-init reaches `done` with the user data byte for byte; SSH answers with the key it printed."""
    public, _private = _keypair(tmp_path)
    raw = {**small_shop_raw, "sshPublicKey": public}
    user_data = _primary_user_data(raw)
    image = image_mod.build(image_mod.Recipe(packages=tuple(_user_data_packages(raw, "small-shop"))))
    recipe = image_mod.Recipe()
    apt = AptProxy([recipe.mirror, recipe.security_mirror], image_mod.cache_dir() / "apt")
    guest = Guest(
        name="boot",
        address="203.0.113.10",
        image=image,
        user_data=user_data.encode(),
        workdir=tmp_path,
        public_keys=[public],
        forwards=[Forward(APT_ADDRESS, int(APT_PORT), apt.port)],
    )
    try:
        guest.start()
        assert guest.wait_for(r"Cloud-init v\. \S+ finished", 900), guest.console_text()[-3000:]
        keys = [k for k in guest.host_keys() if k.startswith("ssh-ed25519")]
        assert keys, "cloud-init printed no host key on the console"
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{guest.ssh_port} {keys[0]}\n")
        key_file = tmp_path / "deployer"
        ssh = [
            "ssh",
            "-p",
            str(guest.ssh_port),
            "-i",
            str(key_file),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "debian@127.0.0.1",
        ]
        done = subprocess.run(
            [*ssh, "cloud-init status; sudo cat /var/lib/cloud/instance/user-data.txt"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        status, _, seen = done.stdout.partition("\n")
        assert status.strip() == "status: done"
        assert seen == user_data  # the seed carried the program's user data byte for byte
        # apt went through the proxy, to the configured mirror only.
        assert apt.requests and all(status in (200, 304, 404) for _, status in apt.requests)
        # A host key other than the one printed is refused.
        known.write_text(f"[127.0.0.1]:{guest.ssh_port} {public}\n")
        refused = subprocess.run([*ssh, "true"], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 255 and "Host key verification failed" in refused.stderr
    finally:
        guest.destroy()
        apt.close()
    assert not guest.alive() and not (guest.dir / "disk.qcow2").exists()
