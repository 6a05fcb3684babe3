"""Whole-process wall time of `redundo plan --tier premium --json` against importing the cloud SDKs.

Usage: python benchmarks/plan_startup.py [--runs N] [--write]

Both commands run as fresh processes, alternated, N times each; the script prints the median of
each and their ratio, measured in this one run; with --write, also puts them in the plan_startup
section of docs/benchmarks.md. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _timing import add_write_option, alternate, machine, section, write_section

REPO = Path(__file__).resolve().parent.parent
NAME = "plan_startup"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    add_write_option(parser)
    args = parser.parse_args()
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    started = machine()
    plan, imports = alternate(
        [redundo, "plan", "--tier", "premium", "--json"],
        [sys.executable, "-c", "import pulumi_aws, pulumi_ovh"],
        args.runs,
        str(REPO),
    )
    print(started)
    print(f"redundo plan --tier premium --json        median {plan * 1000:7.1f} ms over {args.runs} runs")
    print(f"python -c 'import pulumi_aws, pulumi_ovh'  median {imports * 1000:7.1f} ms over {args.runs} runs")
    print(f"ratio plan / import: {plan / imports:.2f} (target <= 1.3)")
    if args.write:
        rows = [
            f"| command | median of {args.runs} alternated runs |",
            "| --- | --- |",
            f"| `redundo plan --tier premium --json` | {plan * 1000:.0f} ms |",
            f'| `python -c "import pulumi_aws, pulumi_ovh"` | {imports * 1000:.0f} ms |',
            f"| ratio | **{plan / imports:.2f}** (target ≤ 1.3) |",
        ]
        write_section(NAME, section(rows, machine_line=started))


if __name__ == "__main__":
    main()
