"""`redundo plan --all --json` over 20 and 200 generated client stacks, in one process each.

Usage: python benchmarks/fleet_plan.py [--write]

Generates clients that differ in tier, regions, providers and data size, then times the whole
command for 20 and for 200 of them, alternated, best of two runs each; with --write, also puts the
figures in the fleet_plan section of docs/benchmarks.md. Targets: 200 stacks <= 7 s, and
time(200) / time(20) <= 11.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _timing import add_write_option, machine, section, write_section

REPO = Path(__file__).resolve().parent.parent
NAME = "fleet_plan"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJlbmNobWFyay1rZXktZm9yLXJlZHVuZG8tZmxlZXQ bench"
VARIANTS = [
    {"tier": "basic", "primaryRegion": "GRA11"},
    {"tier": "standard", "primaryRegion": "SBG5", "backupProvider": "ovh"},
    {"tier": "premium", "primaryRegion": "GRA9", "standbyProvider": "aws"},
    {"tier": "standard", "primaryRegion": "DE1", "primaryFlavor": "d2-4"},
]


def make_project(root: Path, count: int) -> Path:
    (root / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    for n in range(count):
        config = {
            "redundo:ovhServiceName": f"{n:032x}",
            "redundo:sshPublicKey": SSH_KEY,
            "redundo:domain": f"client{n}.example.fr",
            "redundo:dataGb": 1 + n % 50,
            **{f"redundo:{k}": v for k, v in VARIANTS[n % len(VARIANTS)].items()},
        }
        (root / "stacks" / f"Pulumi.client-{n:03d}.yaml").write_text(yaml.safe_dump({"config": config}))
    return root


def plan_all(project: Path) -> float:
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    start = time.perf_counter()
    subprocess.run(
        [redundo, "--project", str(project), "plan", "--all", "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_write_option(parser)
    args = parser.parse_args()
    started = machine()
    base = Path(tempfile.mkdtemp(prefix="redundo-fleet-"))
    try:
        projects = make_project(base / "p20", 20), make_project(base / "p200", 200)
        # Alternated, so that a change in the machine's load falls on both sizes alike.
        runs = [(plan_all(projects[0]), plan_all(projects[1])) for _ in range(2)]
        small, large = min(r[0] for r in runs), min(r[1] for r in runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(started)
    print(f"plan --all, 20 stacks:  {small:6.2f} s")
    print(f"plan --all, 200 stacks: {large:6.2f} s (target <= 7 s)")
    print(f"ratio 200 / 20: {large / small:.2f} (target <= 11)")
    if args.write:
        rows = [
            "| `redundo plan --all --json` | best of two, alternated |",
            "| --- | --- |",
            f"| 20 stacks | {small:.2f} s |",
            f"| 200 stacks | **{large:.2f} s** (target ≤ 7 s) |",
            f"| ratio 200 / 20 | **{large / small:.2f}** (target ≤ 11) |",
        ]
        write_section(NAME, section(rows, machine_line=started))


if __name__ == "__main__":
    main()
