"""One Debian release on both nodes and both providers, and the profiles' packages exist in it (B3)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from redundo import debian, profiles
from redundo.agent import agent_packages
from tests.conftest import synth

COMBINATIONS = [
    {"standbyProvider": "ovh", "standbyRegion": "DE1"},
    {"standbyProvider": "aws", "standbyRegion": "eu-central-1"},
]


def _release_of(resource) -> str:
    """The Debian release a node boots, read from what the program sends the provider."""
    if resource.type == "aws:lightsail/instance:Instance":
        blueprint = resource.inputs["blueprintId"]
        assert blueprint.startswith("debian_"), blueprint
        return blueprint.removeprefix("debian_")
    image = resource.inputs["bootFrom"]["imageId"]  # the mock's ids name the release: image-debian<N>-<region>
    assert image.startswith("image-debian"), image
    return image.removeprefix("image-debian").split("-")[0]


@pytest.mark.parametrize("standby", COMBINATIONS, ids=lambda c: c["standbyProvider"])
@pytest.mark.parametrize("tier", ["standard", "premium"])
def test_primary_and_standby_boot_the_one_release(standby, tier):
    syn = synth(tier=tier, **standby)
    nodes = [*syn.by_type("ovh:CloudProject/instance:Instance"), *syn.by_type("aws:lightsail/instance:Instance")]
    assert {("primary" in n.name) for n in nodes} == {True, False}, [n.name for n in nodes]
    assert {_release_of(n) for n in nodes} == {str(debian.DEBIAN_RELEASE)}


def test_the_release_names_agree():
    assert debian.OVH_IMAGE_NAME == f"Debian {debian.DEBIAN_RELEASE}"
    assert debian.LIGHTSAIL_BLUEPRINT == f"debian_{debian.DEBIAN_RELEASE}"
    assert profiles.PHP == debian.PHP and all(
        p.startswith(debian.PHP) for prof in profiles.PROFILES.values() for p in prof.packages if p.startswith("php")
    )


def test_every_profile_package_exists_in_the_release():
    """Checked against this machine's apt lists when it runs the same release."""
    version = Path("/etc/debian_version")
    if shutil.which("apt-cache") is None or not version.exists():
        pytest.skip("not a Debian machine")
    if version.read_text().split(".")[0].strip() != str(debian.DEBIAN_RELEASE):
        pytest.skip(f"this machine is not Debian {debian.DEBIAN_RELEASE}")
    wanted = {p for prof in profiles.PROFILES.values() for p in prof.packages}
    wanted |= {p for db in ("none", "sqlite", "mysql", "postgresql") for p in agent_packages(db)}
    wanted.add("nftables")
    missing = [
        p for p in sorted(wanted) if subprocess.run(["apt-cache", "show", p], capture_output=True).returncode != 0
    ]
    assert not missing, f"not in Debian {debian.DEBIAN_RELEASE}'s lists: {missing}"
