"""`redundo rehearse`: each tier's whole life on booted hosts, run as the user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redundo.tiers import get_tier
from tests.conftest import CTRL_C_AS_FROM_A_TERMINAL

pytestmark = [pytest.mark.host, pytest.mark.usefixtures("host_tools")]

STEPS = ["up", "site", "backups", "orders", "fire", "standby", "take-over", "serves", "failback"]
REDUNDO = str(Path(sys.executable).parent / "redundo")


def _rehearse(tmp_path: Path, *args: str, breakage: str | None = None, timeout: float = 3600):
    """Run the installed `redundo rehearse` with its own TMPDIR; optionally break a host piece first."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    if breakage is not None:
        # sitecustomize runs before redundo: it breaks one piece of the product, as a bad change would.
        hook = tmp_path / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(breakage)
        env["PYTHONPATH"] = str(hook)
    proc = subprocess.Popen(
        [*CTRL_C_AS_FROM_A_TERMINAL, REDUNDO, "rehearse", "--stack", "small-shop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # As a user would: Ctrl-C, which cleans up; then whatever is left of this run is killed, so
        # that no guest keeps the machine's cores busy for the rest of the suite.
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        _kill_leftovers(tmp_path)
        pytest.fail(f"the rehearsal took more than {timeout:.0f} s: {err.strip().splitlines()[-3:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_leftovers(tmp_path: Path) -> None:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                continue


def _failed_at(done, step: str) -> tuple[dict, dict]:
    """The JSON report of a rehearsal that failed (exit 1) at `step`, its last step; and that step."""
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["passed"] is False
    [failed] = [s for s in report["steps"] if not s["passed"]]
    assert failed["name"] == step and report["steps"][-1] is failed
    return report, failed


def _leftovers(tmp_path: Path) -> list[str]:
    """qemu processes and temp dirs of this test's rehearsal that are still around."""
    mine = str(tmp_path)
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if mine in cmdline and any(p in cmdline for p in ("qemu-system", "socat", "weed", "ssh ")):
                procs.append(f"{pid}: {cmdline[:80]}")
    dirs = [str(p) for p in tmp_path.glob("redundo-rehearse-*")]
    return procs + dirs


# The vault runs on moto for basic and premium and on SeaweedFS for standard, so that the agent is
# not tuned to one S3 server's quirks.
@pytest.mark.parametrize(("tier", "s3"), [("basic", "moto"), ("standard", "seaweedfs"), ("premium", "moto")])
def test_rehearse_tier_lives_through_the_fire(tmp_path, tier, s3):
    """Every step passes, RTO within the tier's promise, nothing left behind."""
    done = _rehearse(tmp_path, "--tier", tier, "--s3", s3, "--json")
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    failed = [s for s in report.get("steps", []) if not s["passed"]]
    assert done.returncode == 0, f"{failed or done.stderr[-2000:]}"
    assert report["passed"] is True and report["tier"] == tier
    assert [s["name"] for s in report["steps"]] == STEPS
    assert 0 < report["rto_seconds"] <= get_tier(tier).rto_minutes * 60
    assert report["rpo_seconds"] > 0 and report["orders_lost"] >= 0
    # The fault a backup timer makes at failback happened (an order sold while a backup that had
    # already dumped the database was uploading), and the rebuilt primary still has that order.
    failback = report["steps"][-1]["detail"]
    assert "an order sold during a running backup is there too: the last backup waited" in failback, failback
    assert _leftovers(tmp_path) == []


def test_rehearse_ctrl_c_leaves_nothing_behind(tmp_path):
    """Ctrl-C while a host boots: exit 130 with one line, and no qemu, relay, S3 server or temp dir
    of the run remains."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [*CTRL_C_AS_FROM_A_TERMINAL, REDUNDO, "rehearse", "--stack", "small-shop", "--tier", "basic"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 900
        while (
            time.monotonic() < deadline
            and proc.poll() is None
            and not any("qemu-system" in p for p in _leftovers(tmp_path))
        ):
            time.sleep(1)
        assert proc.poll() is None, f"the rehearsal ended before any guest started: {proc.stderr.read()[-1000:]}"
        time.sleep(10)  # the guest is booting
        assert any("qemu-system" in p for p in _leftovers(tmp_path))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=240)
    except BaseException:
        # Whatever failed, this run must not keep a guest busy for the rest of the suite.
        proc.kill()
        proc.communicate()
        _kill_leftovers(tmp_path)
        raise
    assert proc.returncode == 130, err[-1000:]
    assert err.strip().splitlines()[-1] == ("rehearsal interrupted; its VMs, servers and temporary files were removed")
    assert _leftovers(tmp_path) == []


BREAK_UNIT_NAME = """
import redundo.agent as agent
agent.BACKUP_TIMERS = ("redundo-bakup.timer",) + tuple(agent.BACKUP_TIMERS[1:])
"""


def test_rehearse_fails_at_up_on_a_wrong_unit_name(tmp_path):
    """A timer the role switch names but no host has: the rehearsal stops at `up`, with one line."""
    done = _rehearse(tmp_path, "--tier", "basic", "--json", breakage=BREAK_UNIT_NAME, timeout=1500)
    _report, failed = _failed_at(done, "up")
    assert "redundo-bakup.timer" in failed["detail"] and "\n" not in failed["detail"]
    assert [line for line in done.stderr.splitlines() if "FAILED" in line] == [
        line for line in done.stderr.splitlines() if line.startswith("FAILED up")
    ]
    assert _leftovers(tmp_path) == []


BREAK_WRITER_POLICY = """
import redundo.access as access
_real = access.writer_policy


def writer_policy(bucket):
    policy = _real(bucket)
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and isinstance(statement["Action"], list):
            statement["Action"] = [a for a in statement["Action"] if a != "s3:PutObject"]
    return policy


access.writer_policy = writer_policy
"""


def test_rehearse_fails_at_backups_on_a_wrong_key_policy(tmp_path):
    """A writer key that may not put objects: the rehearsal stops at `backups`, with one line."""
    done = _rehearse(tmp_path, "--tier", "basic", "--json", breakage=BREAK_WRITER_POLICY, timeout=1800)
    report, failed = _failed_at(done, "backups")
    assert [s["name"] for s in report["steps"]] == STEPS[:3]
    assert ("refused" in failed["detail"] or "AccessDenied" in failed["detail"]) and "\n" not in failed["detail"]
    assert _leftovers(tmp_path) == []
