"""The rehearsal image's build steps: a clean environment, retries on a passing mirror error, and a
failure that names its step and package and keeps its log."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from redundo.rehearse import image as image_mod

DPKG_FAILURE = """Setting up ca-certificates (20230311+deb12u1) ...
mktemp: failed to create file via template '/tmp/deep/nowhere/tmp.XXXXXXXXXX': No such file or directory
dpkg: error processing package ca-certificates (--configure):
 installed ca-certificates package post-installation script subprocess returned error exit status 1
Errors were encountered while processing:
 ca-certificates
E: Sub-process /usr/bin/dpkg returned an error code (1)
"""


def _script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "step.sh"
    script.write_text(body)
    return ["/bin/sh", str(script)]


def test_image_step_runs_without_the_callers_tmpdir(tmp_path, monkeypatch):
    """A TMPDIR that exists only on the host never reaches a build step (inside the chroot it would
    not exist, and every mktemp in a maintainer script would fail)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "host-only"))
    log = tmp_path / "build.log"
    image_mod._run(_script(tmp_path, 'echo "TMPDIR=[${TMPDIR:-}]"; echo "LC_ALL=$LC_ALL"\n'), "testing", log)
    assert "TMPDIR=[]" in log.read_text() and "LC_ALL=C" in log.read_text()


def test_image_step_failure_names_the_step_and_the_package(tmp_path):
    log = tmp_path / "build.log"
    body = f"cat <<'OUT'\n{DPKG_FAILURE}OUT\nexit 100\n"
    with pytest.raises(image_mod.BuildFailed) as failed:
        image_mod._run(_script(tmp_path, body), "upgrading the base system", log, tries=3)
    assert str(failed.value) == (
        "building the rehearsal image failed while upgrading the base system: package "
        "ca-certificates failed (E: Sub-process /usr/bin/dpkg returned an error code (1)) "
        f"(log: {log})"
    )
    assert log.read_text().count("$ ") == 1, "a dpkg failure is not a mirror's passing error: no second try"


def test_image_step_tries_again_after_a_passing_mirror_error(tmp_path, monkeypatch):
    monkeypatch.setattr(image_mod, "_PAUSE", 0.0)
    count = tmp_path / "count"
    body = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}\n"
        'if [ "$n" -lt 2 ]; then echo "E: Failed to fetch http://deb.debian.org/x.deb  Connection failed"; '
        "exit 100; fi\n"
        "echo fetched\n"
    )
    log = tmp_path / "build.log"
    image_mod._run(_script(tmp_path, body), "installing packages in the image", log, tries=3)
    assert count.read_text().strip() == "3" and "(try 3 of 3)" in log.read_text()
    count.write_text("-5\n")
    with pytest.raises(
        image_mod.BuildFailed,
        match=r"failed while installing packages in the image: "
        r"E: Failed to fetch .* Connection failed \(log: ",
    ):
        image_mod._run(_script(tmp_path, body), "installing packages in the image", log, tries=3)


def test_image_failed_build_keeps_its_log_beside_the_cache(tmp_path, monkeypatch):
    """The work tree is removed; the log it names is still there, with the failing step's output."""
    if not all(shutil.which(t) for t in ("debootstrap", "qemu-img", "mkfs.ext4")):
        message = "the build's tools are not installed (.ci/apt.d/rehearse.txt)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(image_mod.os, "geteuid", lambda: 0)
    body = f"cat <<'OUT'\n{DPKG_FAILURE}OUT\nexit 100\n"

    def failing_build(recipe, work, progress):
        image_mod._run(_script(tmp_path, body), "upgrading the base system", work / "build.log")

    monkeypatch.setattr(image_mod, "_build_into", failing_build)
    recipe = image_mod.Recipe(mirror="http://mirror.invalid/debian", security_mirror="http://mirror.invalid/sec")
    with pytest.raises(image_mod.BuildFailed) as failed:
        image_mod.build(recipe)
    images = tmp_path / "cache/redundo/rehearse/images"
    assert failed.value.log == images / f"build-{recipe.key()}.log"
    assert str(failed.value).endswith(f"(log: {failed.value.log})") and "\n" not in str(failed.value)
    assert "dpkg: error processing package ca-certificates" in failed.value.log.read_text()
    assert [p.name for p in images.iterdir() if p.name.startswith("build-") and p.is_dir()] == []


def test_image_step_never_tries_again_once_dpkg_failed(tmp_path, monkeypatch):
    """A warning that an index fetch failed, then a real dpkg failure: one try, not three (a second
    would run on half-configured packages)."""
    monkeypatch.setattr(image_mod, "_PAUSE", 0.0)
    output = "W: Failed to fetch http://deb.debian.org/debian/dists/x  Temporary failure resolving\n" + DPKG_FAILURE
    body = f"cat <<'OUT'\n{output}OUT\nexit 100\n"
    log = tmp_path / "build.log"
    with pytest.raises(image_mod.BuildFailed, match="package ca-certificates failed"):
        image_mod._run(_script(tmp_path, body), "upgrading the base system", log, tries=3)
    assert log.read_text().count("$ ") == 1


@pytest.mark.parametrize("name", ["curl;touch${IFS}/tmp/x;#", "curl nginx", "Curl", "-oAPT::x=y", "a"])
def test_image_recipe_refuses_what_is_not_a_debian_package_name(name):
    """The user data's package names reach apt-get in a root chroot: anything else stops the build."""
    with pytest.raises(image_mod.OperationError) as refused:
        image_mod.Recipe(
            packages=("nginx", name), mirror="http://m.invalid/debian", security_mirror="http://m.invalid/s"
        )
    assert str(refused.value) == (
        f"the hosts' user data asks for {name!r}, which is not a Debian package name; "
        "fix `packages:` in the stack's customCloudConfig"
    )


def test_image_kept_log_refuses_a_planted_symlink(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (tmp_path / "build.log").write_text("the build's output\n")
    planted = tmp_path / "build-key.log"
    planted.symlink_to(target)
    with pytest.raises(OSError):
        image_mod._copy_log(tmp_path / "build.log", planted)
    assert target.read_text() == "keep me\n"
