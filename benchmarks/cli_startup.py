"""Start-up of `redundo --help` against `python -c "import typer"`, as whole processes.

Usage: python benchmarks/cli_startup.py [--runs N]

Alternates N runs of each, prints both medians and their ratio, measured in this one run.
Target: ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from _timing import alternate, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    help_, typer = alternate([redundo, "--help"], [sys.executable, "-c", "import typer"], args.runs)
    print(machine())
    print(f"redundo --help             median {help_ * 1000:6.1f} ms over {args.runs} runs")
    print(f"python -c 'import typer'   median {typer * 1000:6.1f} ms over {args.runs} runs")
    print(f"ratio help / import typer: {help_ / typer:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
