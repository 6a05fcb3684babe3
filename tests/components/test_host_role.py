"""Every role switch the stack sends names only units that exist on the node it runs on.

systemd refuses to enable or disable a unit file that does not exist (systemd/systemd#9581), and a
role switch is one `&&` chain: one missing unit stops it half-way, so the backups never start and
the failover record is never created. These tests run the real stack program for every tier, on
both sides, for each switch, and check each command against what that node was given.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest
import yaml

from redundo.agent.bundle import commands_in_script, files_in_script
from redundo.tiers import TIERS
from tests.conftest import synth, unwrap

UNIT_DIR = "/etc/systemd/system/"
SYSTEMCTL_VERBS = ("start", "stop", "restart", "reload", "try-restart", "reload-or-restart", "enable", "disable")
# Units the Debian packages a node installs bring with them.
PACKAGE_UNITS = {
    "nftables": ("nftables.service",),
    "nginx": ("nginx.service",),
    "php8.2-fpm": ("php8.2-fpm.service",),
    "mariadb-server": ("mariadb.service", "mysql.service"),
    "postgresql": ("postgresql.service",),
}
# The switches a stack goes through: (activeSide, switchedAt).
SWITCHES = {
    "steady": ("primary", ""),
    "failover": ("standby", "2026-11-26T03:00:00Z"),
    "after-failover": ("standby", ""),
    "failback": ("primary", "2026-11-27T09:00:00Z"),
}


@dataclass
class Node:
    name: str
    address: str
    unit_files: dict[str, str] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)

    def units(self) -> set[str]:
        provided = {u for p in self.packages for u in PACKAGE_UNITS.get(p, ())}
        return set(self.unit_files) | provided


def _address(resource) -> str:
    if "addresses" in resource.outputs:
        return resource.outputs["addresses"][0]["ip"]
    return resource.outputs["publicIpAddress"]


def nodes(syn) -> dict[str, Node]:
    """Each instance of a synthesis by address, with the unit files its user data or agent install gives it."""
    found: dict[str, Node] = {}
    for resource in syn.resources:
        if resource.type not in ("ovh:CloudProject/instance:Instance", "aws:lightsail/instance:Instance"):
            continue
        text = unwrap(resource.inputs["userData"])
        # Lightsail's is a one-line launch script: its packages come with the bundle (below)
        document = yaml.safe_load(text.split("\n", 1)[1]) if text.startswith("#cloud-config\n") else {}
        node = Node(resource.name, _address(resource), packages=list(document.get("packages", [])))
        for item in document.get("write_files", []):
            if item["path"].startswith(UNIT_DIR):
                node.unit_files[item["path"][len(UNIT_DIR) :]] = item["content"]
        found[node.address] = node
    for command in syn.by_type("command:remote:Command"):
        node = found.get(unwrap(command.inputs["connection"])["host"])
        if node is None:
            continue
        bundle = unwrap(command.inputs.get("stdin") or "")
        wanted = re.search(r"for p in ([^;]*); do dpkg-query", bundle)
        if wanted:
            node.packages += [p for p in shlex.split(wanted.group(1)) if p not in node.packages]
        for path, body in files_in_script(bundle).items():
            if path.startswith(UNIT_DIR):
                node.unit_files[path[len(UNIT_DIR) :]] = body
    return found


def systemctl_calls(script: str) -> list[tuple[str, list[str]]]:
    """(verb, units) of every systemctl call in a shell command line."""
    calls = []
    for part in re.split(r"&&|\|\||;|\n", script):
        words = shlex.split(part)
        while words and words[0] in ("sudo", "exec", "command"):
            words = words[1:]
        if len(words) < 2 or words[0] != "systemctl":
            continue
        args = [w for w in words[1:] if not w.startswith("-")]
        if args and args[0] in SYSTEMCTL_VERBS:
            calls.append((args[0], args[1:]))
    return calls


def _cases():
    for tier in TIERS:
        for switch in SWITCHES:
            yield pytest.param(tier, switch, "ovh", id=f"{tier}-{switch}")
    yield pytest.param("premium", "failover", "aws", id="premium-failover-lightsail")
    yield pytest.param("standard", "steady", "aws", id="standard-steady-lightsail")


def _synth(tier: str, switch: str, provider: str):
    side, token = SWITCHES[switch]
    extra = {"standbyProvider": "aws", "standbyRegion": "eu-central-1"} if provider == "aws" else {}
    return synth(tier=tier, activeSide=side, switchedAt=token or None, **extra)


def missing_units(syn, by_address: dict[str, Node]) -> tuple[list[str], int]:
    """Each systemctl call naming a unit absent from its node, and how many calls were checked."""
    problems, calls = [], 0
    for command in syn.by_type("command:remote:Command"):
        node = by_address[unwrap(command.inputs["connection"])["host"]]
        script = command.inputs["create"] + "\n" + commands_in_script(unwrap(command.inputs.get("stdin") or ""))
        for verb, units in systemctl_calls(script):
            calls += 1
            # systemctl reads a name without a suffix as a .service
            named = {
                u if u.rsplit(".", 1)[-1] in ("service", "timer", "socket", "target", "path") else f"{u}.service"
                for u in units
            }
            missing = sorted(named - node.units()) if units else ["(no unit named)"]
            if missing:
                problems.append(f"{command.name} runs systemctl {verb} {' '.join(missing)}, absent from {node.name}")
    return problems, calls


@pytest.mark.parametrize(("tier", "switch", "provider"), list(_cases()))
def test_host_role_switches_only_units_that_exist_on_the_node(tier, switch, provider):
    syn = _synth(tier, switch, provider)
    problems, calls = missing_units(syn, nodes(syn))
    assert problems == []
    assert calls > 0, "no role switch found: the test would prove nothing"


def test_host_role_unit_check_catches_a_missing_unit():
    """Take away the unit a basic primary disables (as the tier-dependent units once did): the check names it."""
    syn = _synth("basic", "steady", "ovh")
    by_address = nodes(syn)
    [node] = by_address.values()
    del node.unit_files["redundo-restore.timer"]
    problems, _ = missing_units(syn, by_address)
    assert problems == [
        "small-shop-primary-role-timers runs systemctl disable redundo-restore.timer, absent from "
        "small-shop-primary-instance"
    ]


def _systemctl() -> str:
    path = shutil.which("systemctl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("systemctl is not installed; .ci/run must install systemd")
        pytest.skip("systemctl is not installed")
    return path


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_host_role_switch_commands_pass_the_real_systemctl(tier, switch, tmp_path):
    """Each node's unit files in a root of their own; each enable/disable the stack sends, run by systemctl --root.

    systemctl --root edits the unit tree offline the way the running manager does (`--now` only adds
    the start or stop), and reports a unit file that does not exist.
    """
    systemctl = _systemctl()
    syn = _synth(tier, switch, "ovh")
    by_address = nodes(syn)
    ran = 0
    for command in syn.by_type("command:remote:Command"):
        node = by_address[unwrap(command.inputs["connection"])["host"]]
        root = tmp_path / node.name
        unit_dir = root / UNIT_DIR.strip("/")
        if not unit_dir.exists():
            unit_dir.mkdir(parents=True)
            for name, text in node.unit_files.items():
                (unit_dir / name).write_text(text)
        for verb, units in systemctl_calls(command.inputs["create"]):
            if verb not in ("enable", "disable"):
                assert all((unit_dir / u).is_file() or u in node.units() for u in units), (command.name, units)
                continue
            done = subprocess.run([systemctl, f"--root={root}", verb, *units], capture_output=True, text=True)
            assert done.returncode == 0 and "does not exist" not in done.stderr, (command.name, done.stderr)
            ran += 1
            for unit in units:
                wanted = (unit_dir / "timers.target.wants" / unit).is_symlink()
                if unit.endswith(".timer"):
                    assert wanted == (verb == "enable"), (command.name, unit, verb)
    assert ran > 0


def test_host_role_systemctl_refuses_what_the_old_units_lacked(tmp_path):
    """The real systemctl reports the defect the tests guard against: a unit switched that is not installed."""
    systemctl = _systemctl()
    (tmp_path / UNIT_DIR.strip("/")).mkdir(parents=True)
    done = subprocess.run(
        [systemctl, f"--root={tmp_path}", "enable", "redundo-restore.timer"], capture_output=True, text=True
    )
    assert done.returncode != 0 and "does not exist" in done.stderr
