"""Whole-process wall time of `redundo plan --tier premium --json` against importing the cloud SDKs.

Usage: python benchmarks/plan_startup.py [--runs N]

Both commands run as fresh processes, alternated, N times each; the script prints the median of
each and their ratio, measured in this one run. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    plan_cmd = [redundo, "plan", "--tier", "premium", "--json"]
    import_cmd = [sys.executable, "-c", "import pulumi_aws, pulumi_ovh"]
    wall(plan_cmd), wall(import_cmd)  # warm the page cache and the .pyc files
    plan_times, import_times = [], []
    for _ in range(args.runs):
        plan_times.append(wall(plan_cmd))
        import_times.append(wall(import_cmd))
    plan_median, import_median = statistics.median(plan_times), statistics.median(import_times)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"redundo plan --tier premium --json      median {plan_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"python -c 'import pulumi_aws, pulumi_ovh' median {import_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"ratio plan / import: {plan_median / import_median:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
