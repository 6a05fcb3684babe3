"""Start-up of `redundo --help` against `python -c "import typer"`, as whole processes.

Usage: python benchmarks/cli_startup.py [--runs N]

Alternates N runs of each, prints both medians and their ratio, measured in this one run.
Target: ratio <= 1.5.
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


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    help_cmd = [redundo, "--help"]
    typer_cmd = [sys.executable, "-c", "import typer"]
    wall(help_cmd), wall(typer_cmd)
    help_times, typer_times = [], []
    for _ in range(args.runs):
        help_times.append(wall(help_cmd))
        typer_times.append(wall(typer_cmd))
    help_median, typer_median = statistics.median(help_times), statistics.median(typer_times)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"redundo --help               median {help_median * 1000:6.1f} ms over {args.runs} runs")
    print(f"python -c 'import typer'     median {typer_median * 1000:6.1f} ms over {args.runs} runs")
    print(f"ratio help / import typer: {help_median / typer_median:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
