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
    pids = list(map_stacks(_pid, names, workers=2))
    # The first stack warms this process up before the fork; the rest go to the workers.
    assert pids[0] == os.getpid() and os.getpid() not in pids[1:]


def _pid(_: str) -> int:
    return os.getpid()


def test_fleet_plan_all_over_enough_stacks_for_the_pool(write_stack):
    tiers = ["basic", "standard", "premium"]
    project = None
    for n in range(POOL_THRESHOLD + 1):
        project = write_stack(
            f"client-{n:02d}", ovhServiceName=SERVICE, sshPublicKey=SSH_KEY, tier=tiers[n % 3], dataGb=n + 1
        )
    result = CliRunner().invoke(app, ["--project", str(project), "plan", "--all", "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)
    assert [(p["stack"], p["tier"], p["cost"]["data_gb"]) for p in plans] == [
        (f"client-{n:02d}", tiers[n % 3], n + 1) for n in range(POOL_THRESHOLD + 1)
    ]


def test_fleet_collects_cyclic_garbage_once_it_passes_the_budget():
    """With automatic collection off, as in the CLI, cycles are freed once there are enough of them."""
    import gc
    import weakref

    from redundo.fleet import _Collecting

    class Node:
        pass

    def leave_cycles(_: str) -> weakref.ref:
        first, second = Node(), Node()
        first.other, second.other = second, first
        return weakref.ref(first)

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        collecting = _Collecting(leave_cycles, budget=50)
        refs = [collecting(f"s{n}") for n in range(5)]
        assert all(r() is not None for r in refs[1:]), "collected before the budget was passed"
        for n in range(100):
            refs.append(collecting(f"t{n}"))
        assert refs[1]() is None, "garbage past the budget was never collected"
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
