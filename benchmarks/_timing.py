"""Shared by the start-up benchmarks: alternate two commands as fresh processes, report medians."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time


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
