"""Many clients at once: worker processes, results in stack order."""

from __future__ import annotations

import json
import os

from redundo.cli.main import app
from typer.testing import CliRunner

from redundo.fleet import POOL_THRESHOLD, map_stacks
from tests.conftest import SERVICE, SSH_KEY


def test_fleet_keeps_the_order_and_uses_other_processes():
    names = [f"client-{n:02d}" for n in range(POOL_THRESHOLD * 3)]
    assert list(map_stacks(str.upper, names, workers=2)) == [n.upper() for n in names]
    pids = set(map_stacks(_pid, names, workers=2))
    assert os.getpid() not in pids


def _pid(_: str) -> int:
    return os.getpid()


def test_fleet_plan_all_over_enough_stacks_for_the_pool(write_stack):
    tiers = ["basic", "standard", "premium"]
    project = None
    for n in range(POOL_THRESHOLD + 1):
        project = write_stack(f"client-{n:02d}", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, tier=tiers[n % 3],
                              dataGb=n + 1)
    result = CliRunner().invoke(app, ["--project", str(project), "plan", "--all", "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)
    assert [(p["stack"], p["tier"], p["cost"]["data_gb"]) for p in plans] == [
        (f"client-{n:02d}", tiers[n % 3], n + 1) for n in range(POOL_THRESHOLD + 1)]
