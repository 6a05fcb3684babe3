"""Backup, 1% incremental backup and full restore of a 200 MB / 2,000-file site, against `cp -r`.

Usage: python benchmarks/drill_speed.py [--size-mb 200] [--files 2000] [--write]

Runs the shipped redundo-backup and redundo-restore against a local S3 server (moto on
127.0.0.1, IAM enforced), all in one run, and prints each time divided by `cp -r` of the same tree;
with --write, also puts the figures in the drill_speed section of docs/benchmarks.md.
Targets: restore <= 2.0x cp, incremental <= 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import add_write_option, machine, section, write_section

from redundo import agent, drill
from redundo.localvault import LocalVault
from redundo.tiers import TIERS

NAME = "drill_speed"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def must(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        sys.exit(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--files", type=int, default=2000)
    add_write_option(parser)
    args = parser.parse_args()
    started = machine()
    root = Path(tempfile.mkdtemp(prefix="redundo-bench-"))
    try:
        site = root / "site"
        drill.make_site(site, size_mb=args.size_mb, files=args.files)
        subprocess.run(["sync"], check=True)
        # cp is quick and noisy: the median of three fresh copies.
        copy = statistics.median(
            timed(lambda n=n: subprocess.run(["cp", "-r", str(site / "www"), str(root / f"copy{n}")], check=True))
            for n in range(3)
        )
        copy_sync = timed(
            lambda: subprocess.run(f"cp -r '{site / 'www'}' '{root / 'copy-sync'}' && sync", shell=True, check=True)
        )
        for n in range(3):
            shutil.rmtree(root / f"copy{n}")
        shutil.rmtree(root / "copy-sync")
        password = "benchmark-password"
        with LocalVault() as vault:
            assert vault.init and vault.writer and vault.reader, "the started vault has its three keys"
            drill.provision_repository(vault.repository, password, vault.init.env())
            settings = dict(
                vault_endpoint=vault.endpoint,
                vault_bucket=vault.bucket,
                vault_region="us-east-1",
                backup_host="bench-primary",
                site_paths=(str(site / "www"),),
                db_kind="sqlite",
                db_path=str(site / "db" / "site.sqlite"),
                dump_dir=str(root / "dump"),
            )
            primary = drill.Host(
                "primary",
                root / "primary",
                agent.AgentSettings.for_tier(TIERS["premium"], state_dir=str(root / "primary-state"), **settings),
                {**vault.writer.env(), "RESTIC_PASSWORD": password},
            )
            standby = drill.Host(
                "standby",
                root / "standby",
                agent.AgentSettings.for_tier(TIERS["premium"], state_dir=str(root / "standby-state"), **settings),
                {**vault.reader.env(), "RESTIC_PASSWORD": password},
            )
            full = timed(lambda: must(primary.run("redundo-backup", "backup")))
            incrementals = []
            for seed in range(3):
                changed = drill.mutate_site(site, share=0.01, seed=seed + 1)
                incrementals.append(timed(lambda: must(primary.run("redundo-backup", "backup"))))
            incremental = statistics.median(incrementals)
            target = root / "restored"
            restore = statistics.median(
                timed(lambda: must(standby.run("redundo-restore", "--target", str(target)))) for _ in range(3)
            )
            same = drill.manifest(site / "www") == drill.manifest(Path(str(target) + str(site / "www")))
        size = sum(p.stat().st_size for p in (site / "www").rglob("*") if p.is_file())
        where = f"site {size / 1e6:.0f} MB in {args.files} files; vault: moto on 127.0.0.1"
        print(f"{started}; {where}")
        print(f"cp -r (median of 3)            {copy:6.2f} s  (cp -r && sync: {copy_sync:.2f} s)")
        print(f"full backup                    {full:6.2f} s  {full / copy:5.2f}x cp")
        print(
            f"incremental ({changed} files, 1%), median of 3 {incremental:6.2f} s  "
            f"{incremental / copy:5.2f}x cp (target <= 1 s)"
        )
        print(
            f"full restore + verify, median of 3 {restore:6.2f} s  {restore / copy:5.2f}x cp (target <= 2.0x); "
            f"{restore / copy_sync:.2f}x cp && sync"
        )
        print(f"restored tree identical: {same}")
        if args.write:
            rows = [
                "| | time | against `cp -r` |",
                "| --- | --- | --- |",
                f"| `cp -r` (median of 3) | {copy:.2f} s | (`cp -r && sync`: {copy_sync:.2f} s) |",
                f"| full backup | {full:.2f} s | {full / copy:.2f}× |",
                f"| 1% incremental ({changed} files), median of 3 | **{incremental:.2f} s** (target ≤ 1 s) | "
                f"{incremental / copy:.2f}× |",
                f"| full restore with `--verify`, median of 3 | {restore:.2f} s | **{restore / copy:.2f}×** "
                "(target ≤ 2.0×) |",
                f"| restored tree identical | {same} | |",
            ]
            write_section(NAME, section(rows, notes=[where], machine_line=started))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
