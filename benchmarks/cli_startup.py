"""Start-up of `redundo --help` against `python -c "import typer"`, as whole processes.

Usage: python benchmarks/cli_startup.py [--runs N] [--write]

Alternates N runs of each, prints both medians and their ratio, measured in this one run; with
--write, also puts them in the cli_startup section of docs/benchmarks.md. Target: ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from _timing import add_write_option, alternate, machine, section, write_section

NAME = "cli_startup"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    add_write_option(parser)
    args = parser.parse_args()
    redundo = shutil.which("redundo") or sys.exit("redundo is not on PATH; pip install -e . first")
    started = machine()
    help_, typer = alternate([redundo, "--help"], [sys.executable, "-c", "import typer"], args.runs)
    print(started)
    print(f"redundo --help             median {help_ * 1000:6.1f} ms over {args.runs} runs")
    print(f"python -c 'import typer'   median {typer * 1000:6.1f} ms over {args.runs} runs")
    print(f"ratio help / import typer: {help_ / typer:.2f} (target <= 1.5)")
    if args.write:
        rows = [
            f"| command | median of {args.runs} alternated runs |",
            "| --- | --- |",
            f"| `redundo --help` | {help_ * 1000:.0f} ms |",
            f'| `python -c "import typer"` | {typer * 1000:.0f} ms |',
            f"| ratio | **{help_ / typer:.2f}** (target ≤ 1.5) |",
        ]
        write_section(NAME, section(rows, machine_line=started))


if __name__ == "__main__":
    main()
