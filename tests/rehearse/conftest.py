"""Rehearsal tests boot real guests: they need the host tools, and never skip under CI."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import example_config

TOOLS = ("qemu-system-x86_64", "qemu-img", "cloud-localds", "debootstrap", "socat", "ssh", "ssh-keygen", "restic")


@pytest.fixture
def host_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        message = f"missing host tools {', '.join(missing)} (apt-get install the packages in .ci/apt.d/rehearse.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def small_shop_raw() -> dict:
    return example_config()
