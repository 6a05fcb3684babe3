"""Time `redundo rehearse` per tier, split into image, boot, provisioning and scenario.

    python benchmarks/rehearse.py [basic standard premium] [--write]

image: building or finding the cached base image; boot: the slowest host's start to cloud-init's
"finished" (as the guest counts it); provisioning: the whole `up` (boot included, plus the role
commands over SSH); scenario: every step after `up`. Run on an otherwise idle machine: the guests
run under software emulation and share its cores. With --write, the figures go into the rehearse
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _timing import add_write_option, machine, section, write_section

ROOT = Path(__file__).resolve().parents[1]
NAME = "rehearse"
TIERS = ("basic", "standard", "premium")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiers", nargs="*", help="basic, standard or premium (default: all three)")
    add_write_option(parser)
    args = parser.parse_args()
    unknown = [t for t in args.tiers if t not in TIERS]
    if unknown:
        parser.error(f"unknown tier {unknown[0]!r}; choose from {', '.join(TIERS)}")
    from redundo.tiers import get_tier

    started = machine()
    print(started)
    print(f"{'tier':<9} {'image':>7} {'boot':>7} {'provisioning':>13} {'scenario':>9} {'total':>7}  RTO / promise")
    rows = [
        "| tier | image | boot | provisioning | scenario | total | RTO / promise | passed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    failed = 0
    for tier in args.tiers or TIERS:
        start = time.monotonic()
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "redundo"),
                "rehearse",
                "--stack",
                "small-shop",
                "--tier",
                tier,
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.monotonic() - start
        report: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {"passed": False, "timings": {}}
        t: dict[str, float] = report.get("timings", {})
        rto = report.get("rto_seconds")
        promise = get_tier(tier).rto_minutes * 60
        failure = next(
            (f"{s['name']}: {s['detail']}" for s in report.get("steps", []) if not s["passed"]), done.stderr[-200:]
        )
        verdict = "" if report.get("passed") else f"  FAILED: {failure}"
        print(
            f"{tier:<9} {t.get('image', 0):>6.0f}s {t.get('boot', 0):>6.0f}s {t.get('provisioning', 0):>12.0f}s "
            f"{t.get('scenario', 0):>8.0f}s {wall:>6.0f}s  {rto if rto is not None else '-'} s / "
            f"{promise} s{verdict}"
        )
        rows.append(
            f"| {tier} | {t.get('image', 0):.0f} s | {t.get('boot', 0):.0f} s | {t.get('provisioning', 0):.0f} s "
            f"| {t.get('scenario', 0):.0f} s | {wall:.0f} s | {f'{rto:.0f}' if rto is not None else '-'} s / "
            f"{promise:,} s | {'yes' if report.get('passed') else 'no: ' + failure.replace('|', '/')} |"
        )
        failed += not report.get("passed")
    if args.write:
        write_section(NAME, section(rows, machine_line=started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
