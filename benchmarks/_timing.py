"""Shared by the benchmarks: alternate two commands as fresh processes, report medians, and write
each benchmark's figures into its own section of docs/benchmarks.md (`--write`)."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def wall(argv: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - start


def alternate(first: list[str], second: list[str], runs: int, cwd: str | None = None) -> tuple[float, float]:
    """Medians of `runs` alternated runs of each (after one warm-up run of each)."""
    wall(first, cwd), wall(second, cwd)  # warm the page cache and the .pyc files
    a, b = [], []
    for _ in range(runs):
        a.append(wall(first, cwd))
        b.append(wall(second, cwd))
    return statistics.median(a), statistics.median(b)


def machine() -> str:
    """The machine, and its load: other work on the cores shows in every figure."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load}"
    )


def add_write_option(parser: argparse.ArgumentParser) -> None:
    """The `--write` flag every benchmark takes."""
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace this benchmark's section of {RESULTS.parent.name}/{RESULTS.name} with the figures measured",
    )


def section(rows: Iterable[str], *, notes: Iterable[str] = (), machine_line: str | None = None) -> str:
    """A results section: when and how it was measured, on what machine, then the figures (Markdown).

    `machine_line` is `machine()` as taken when the run began (a long run's load changes); by default
    it is taken now."""
    script = Path(sys.argv[0]).name
    command = " ".join(["python", f"benchmarks/{script}", *(a for a in sys.argv[1:] if a != "--write")])
    lines = [
        f"- measured: {datetime.date.today().isoformat()}, `{command}`",
        f"- {machine_line or machine()}",
        *(f"- {note}" for note in notes),
        "",
        *rows,
    ]
    return "\n".join(lines)


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace what lies between `<!-- begin: NAME -->` and `<!-- end: NAME -->` in `path` with `body`.

    Everything outside the markers (the benchmark's description, older notes) is left as it is."""
    begin, end = f"<!-- begin: {name} -->", f"<!-- end: {name} -->"
    text = path.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start or text.count(begin) != 1 or text.count(end) != 1:
        sys.exit(f"{path}: no single {begin} ... {end} pair; add the two markers where the figures belong")
    updated = text[: start + len(begin)] + "\n" + body.strip("\n") + "\n" + text[stop:]
    path.write_text(updated, encoding="utf-8")
    print(f"wrote section {name!r} of {path}")
