"""The agent bundle delivered over SSH: a shell archive that installs atomically and idempotently,
and the user data that no longer changes with redundo's version, the tier or the vault."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from redundo import agent
from redundo.agent import bundle as bundle_mod
from redundo.agent.bundle import agent_bundle, files_in_script
from redundo.tiers import TIERS
from tests.conftest import synth, unwrap

SETTINGS = agent.AgentSettings.for_tier(
    TIERS["premium"],
    vault_endpoint="https://s3.eu-west-3.amazonaws.com",
    vault_bucket="redundo-shop-0123",
    vault_region="eu-west-3",
    backup_host="shop-site",
    site_paths=("/var/www",),
    db_kind="mysql",
    db_name="shop",
)


def _bundle():
    return agent_bundle(TIERS["premium"], SETTINGS, packages=agent.agent_packages("mysql"))


def _unpack(script: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-s"],
        input=script,
        capture_output=True,
        text=True,
        env={**os.environ, "REDUNDO_ROOT": str(root)},
        timeout=60,
    )


def _tree(root: Path) -> dict[str, tuple[str, str]]:
    return {
        str(p.relative_to(root)): (oct(p.stat().st_mode & 0o777), p.read_text())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_agent_bundle_script_passes_shellcheck(tmp_path):
    checker = shutil.which("shellcheck")
    if checker is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed; .ci/run must install it")
        pytest.skip("shellcheck is not installed")
    path = tmp_path / "install.sh"
    path.write_text("#!/bin/bash\n" + _bundle().script())
    done = subprocess.run([checker, "--severity=style", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_agent_bundle_installs_every_file_exactly_and_twice_changes_nothing(tmp_path):
    bundle = _bundle()
    done = _unpack(bundle.script(), tmp_path)
    assert done.returncode == 0, done.stderr
    tree = _tree(tmp_path)
    for f in bundle.files:
        assert tree[f.path.lstrip("/")] == (oct(int(f.mode, 8)), f.text), f.path
    assert tree["etc/redundo/agent.version"][1].split() == [bundle_mod.__version__, bundle.digest]
    assert not any(name.endswith(".redundo-new") for name in tree)
    again = _unpack(bundle.script(), tmp_path)
    assert again.returncode == 0, again.stderr
    assert _tree(tmp_path) == tree


def test_agent_bundle_cut_short_leaves_every_installed_file_as_it_was(tmp_path):
    """A failure while staging (here: one target cannot be written) must not have replaced any file."""
    old = agent_bundle(TIERS["basic"], SETTINGS)
    assert _unpack(old.script(), tmp_path).returncode == 0
    before = _tree(tmp_path)
    new = _bundle()
    blocked = tmp_path / "etc/systemd/system/redundo-restore.timer.redundo-new"
    blocked.mkdir()  # `cat >` into a directory fails half-way through the staging
    done = _unpack(new.script(), tmp_path)
    assert done.returncode != 0 and "Is a directory" in done.stderr
    blocked.rmdir()
    after = {k: v for k, v in _tree(tmp_path).items() if not k.endswith(".redundo-new")}
    assert after == before
    # The backup timer was staged before the failure and differs (premium runs it every 15 min, basic
    # daily): the change was held back, not half-applied.
    timer = "/etc/systemd/system/redundo-backup.timer"
    assert new.file(timer).text != before[timer.lstrip("/")][1]
    assert (tmp_path / (timer.lstrip("/") + ".redundo-new")).read_text() == new.file(timer).text


def test_agent_bundle_round_trips_through_the_plan_reader():
    bundle = _bundle()
    assert files_in_script(bundle.script()) == {f.path: f.text for f in bundle.files}


def _primary(syn, kind: str):
    return next(r for r in syn.resources if r.name == f"small-shop-primary-{kind}")


def test_agent_bundle_user_data_is_the_same_for_every_tier_and_names_no_vault():
    """The providers replace an instance whose user data changes: it must not move with the tier or the vault."""
    texts = set()
    for tier in TIERS:
        syn = synth(tier=tier)
        text = unwrap(_primary(syn, "instance").inputs["userData"])
        bucket = next(r for r in syn.resources if r.type == "aws:s3/bucket:Bucket").outputs["bucket"]
        assert bucket not in text and "redundo-backup" not in text and "OnUnitActiveSec" not in text
        assert set(yaml.safe_load(text.split("\n", 1)[1])["packages"]) >= {"restic", "nftables"}
        texts.add(text)
    assert len(texts) == 1


def test_agent_bundle_upgrade_rolls_the_agent_without_touching_user_data(monkeypatch):
    """A new redundo version or a changed script re-runs the install step; the instances stay as they are."""
    before = synth(tier="standard")
    monkeypatch.setattr(bundle_mod, "__version__", "0.2.0")
    monkeypatch.setattr(bundle_mod, "script", lambda name: agent.script(name) + "# fixed in 0.2.0\n")
    after = synth(tier="standard")
    for node in ("primary", "standby"):
        old_install = next(r for r in before.resources if r.name == f"small-shop-{node}-agent-install")
        new_install = next(r for r in after.resources if r.name == f"small-shop-{node}-agent-install")
        assert old_install.inputs["triggers"] != new_install.inputs["triggers"]
        delivered = files_in_script(new_install.inputs["stdin"])
        assert delivered["/usr/local/sbin/redundo-backup"].endswith("# fixed in 0.2.0\n")
        old_vm = next(r for r in before.resources if r.name == f"small-shop-{node}-instance")
        new_vm = next(r for r in after.resources if r.name == f"small-shop-{node}-instance")
        assert old_vm.inputs == new_vm.inputs


def test_agent_bundle_tier_change_rolls_the_units_not_the_instance():
    standard, premium = synth(tier="standard"), synth(tier="premium")
    timer = "/etc/systemd/system/redundo-backup.timer"
    units = [files_in_script(_primary(s, "agent-install").inputs["stdin"])[timer] for s in (standard, premium)]
    assert [agent.timer_interval_minutes(u) for u in units] == [60, 15]
    assert _primary(standard, "instance").inputs["userData"] == _primary(premium, "instance").inputs["userData"]


def _run_package_step(tmp_path, installed: set[str]) -> list[str]:
    """The bundle's package step run as on a host (root empty) against stub dpkg-query and apt-get;
    returns the apt-get calls in order."""
    import stat
    import subprocess

    from redundo.agent.bundle import AgentBundle

    script = AgentBundle((), packages=("nginx", "restic")).script()
    step = script[: script.index("# every file is staged")]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    stubs = {
        "dpkg-query": '#!/bin/sh\nfor p; do :; done\ncase " $INSTALLED " in *" $p "*) '
        "printf 'install ok installed';; *) exit 1;; esac\n",
        "apt-get": f'#!/bin/sh\necho "$*" >> {log}\n',
    }
    for name, text in stubs.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "INSTALLED": " ".join(sorted(installed))}
    done = subprocess.run(["bash", "-c", step], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_agent_bundle_updates_the_package_lists_before_installing_what_is_missing(tmp_path):
    """M7: an image whose lists are empty or stale still installs the missing packages."""
    calls = _run_package_step(tmp_path, installed={"nginx"})
    assert calls == ["update -q", "install -y -q --no-install-recommends restic"]


def test_agent_bundle_touches_apt_only_when_something_is_missing(tmp_path):
    assert _run_package_step(tmp_path, installed={"nginx", "restic"}) == []
