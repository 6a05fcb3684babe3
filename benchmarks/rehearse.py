"""Time `redundo rehearse` per tier, split into image, boot, provisioning and scenario.

    python benchmarks/rehearse.py [basic standard premium]

image: building or finding the cached base image; boot: the slowest host's start to cloud-init's
"finished" (as the guest counts it); provisioning: the whole `up` (boot included, plus the role
commands over SSH); scenario: every step after `up`. Run on an otherwise idle machine: the guests
run under software emulation and share its cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _timing import machine

ROOT = Path(__file__).resolve().parents[1]


def main(tiers: list[str]) -> int:
    print(machine())
    print(f"{'tier':<9} {'image':>7} {'boot':>7} {'provisioning':>13} {'scenario':>9} {'total':>7}  RTO / promise")
    failed = 0
    for tier in tiers:
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
        report = json.loads(done.stdout) if done.stdout.strip() else {"passed": False, "timings": {}}
        t = report.get("timings", {})
        from redundo.tiers import get_tier

        rto = report.get("rto_seconds")
        verdict = (
            ""
            if report.get("passed")
            else "  FAILED: "
            + next(
                (f"{s['name']}: {s['detail']}" for s in report.get("steps", []) if not s["passed"]), done.stderr[-200:]
            )
        )
        print(
            f"{tier:<9} {t.get('image', 0):>6.0f}s {t.get('boot', 0):>6.0f}s {t.get('provisioning', 0):>12.0f}s "
            f"{t.get('scenario', 0):>8.0f}s {wall:>6.0f}s  {rto if rto is not None else '-'} s / "
            f"{get_tier(tier).rto_minutes * 60} s{verdict}"
        )
        failed += not report.get("passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["basic", "standard", "premium"]))
