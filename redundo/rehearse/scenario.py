"""The rehearsal's scenario: a client stack's whole life, each stage a step with a verdict.

up → the site's profile serves a sample shop → backups from the hosts' own timers → new orders →
the fire (the primary's VM killed, its disk deleted) → the standby (created now on basic) →
take-over (the `redundo failover` path; premium: the watchdog alone) → the standby serves the
restored shop and DNS points at it → failback to a rebuilt primary.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from redundo.errors import OperationError
from redundo.tiers import Tier

if TYPE_CHECKING:
    from redundo.deploy import Target
    from redundo.rehearse.cloud import LocalCloud
    from redundo.rehearse.engine import RehearsalEngine
    from redundo.rehearse.s3 import MotoS3, SeaweedS3

__all__ = ["Options", "Report", "Step", "rehearse"]

# The rehearsal compresses the clock: the hosts' own timers run every minute (a drop-in under
# /run, which the user data never sees), so a backup cycle takes a minute instead of a day.
BACKUP_EVERY_SECONDS = 60


@dataclass
class Step:
    name: str
    passed: bool
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "seconds": round(self.seconds, 1), "detail": self.detail}


@dataclass
class Report:
    tier: str
    stack: str
    steps: list[Step] = field(default_factory=list)
    rpo_seconds: float | None = None
    rto_seconds: float | None = None
    orders_lost: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "tier": self.tier,
            "stack": self.stack,
            "steps": [s.to_dict() for s in self.steps],
            "rpo_seconds": None if self.rpo_seconds is None else round(self.rpo_seconds, 1),
            "rto_seconds": None if self.rto_seconds is None else round(self.rto_seconds, 1),
            "orders_lost": self.orders_lost,
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
        }


@dataclass
class Options:
    stack: str
    raw: dict[str, Any]
    """The stack's `redundo:` config as read from its file."""
    tier: Tier
    image: Path | None = None
    s3: str = "moto"
    progress: Callable[[str], None] = lambda m: None
    on_step: Callable[[Step], None] = lambda s: None


class StepFailed(Exception):
    """A step's verdict: the message is the one line the user sees."""


def _not_made(what: str) -> RuntimeError:
    """What start_cloud() makes, asked for before it ran: a bug of the scenario, said plainly."""
    return RuntimeError(f"the rehearsal's {what} is used before start_cloud() made it")


class _Scenario:
    def __init__(self, options: Options, report: Report, workdir: Path):
        self.o = options
        self.report = report
        self.workdir = workdir
        self._cloud: LocalCloud | None = None
        self._s3: MotoS3 | SeaweedS3 | None = None
        self._engine: RehearsalEngine | None = None
        self._target: Target | None = None
        self.exports: dict[str, Any] = {}
        self.orders_backed_up = 0
        self.orders_total = 0
        self.token = secrets.token_hex(8)
        self.fire_at = 0.0

    @property
    def cloud(self) -> LocalCloud:
        if self._cloud is None:
            raise _not_made("local cloud")
        return self._cloud

    @property
    def s3(self) -> MotoS3 | SeaweedS3:
        if self._s3 is None:
            raise _not_made("S3 server")
        return self._s3

    @property
    def engine(self) -> RehearsalEngine:
        if self._engine is None:
            raise _not_made("engine")
        return self._engine

    @property
    def target(self) -> Target:
        if self._target is None:
            raise _not_made("stack target")
        return self._target

    # Plumbing.
    def step(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        from redundo.deploy import Interrupted

        try:
            detail, passed = action(), True
        except StepFailed as exc:
            detail, passed = str(exc), False
        except Interrupted as stop:
            # Ctrl-C or SIGTERM during a deploy: the user stops the rehearsal, not one step of it.
            if stop.stop is None:  # deploy always says what stopped it; were it not to, stop all the same
                raise
            raise stop.stop from None
        except OperationError as exc:
            detail, passed = str(exc), False
        step = Step(name, passed, time.monotonic() - started, detail)
        self.report.steps.append(step)
        self.o.on_step(step)
        return passed

    def output(self, name: str) -> Any:
        return self.engine.exports.get(name, (None, False))[0]

    def guest(self, address: str):
        return self.cloud.guests.get(address)

    def sh(self, address: str, command: str, *, stdin: str = "", timeout: float = 300) -> str:
        from redundo.rehearse.cloud import ResourceFailed

        try:
            out, _ = self.cloud.ssh(
                address,
                f"sudo bash -c {_quote(command)}",
                user="debian",
                stdin=stdin,
                dial_limit=2,
                name="rehearsal",
                timeout=timeout,
                host_key=self.host_key(address),
            )
        except ResourceFailed as exc:
            raise StepFailed(str(exc).replace("rehearsal: ", "")) from None
        return out

    @property
    def reach(self):
        """How `redundo failover`/`failback` reach the guests: SSH and HTTP through their local
        forwards, with the deployer's key; host keys are still checked against the stack's."""
        from redundo.operations import Reach

        def ssh(address: str) -> tuple[str, int]:
            guest = self.guest(address)
            if guest is None or guest.ssh_port is None:
                raise OperationError(f"nothing answers SSH at {address}")
            return "127.0.0.1", guest.ssh_port

        def http(address: str) -> str:
            return f"127.0.0.1:{self.cloud.address_relays[address][0]}"

        return Reach(ssh=ssh, http=http, identity=str(self.workdir / "deployer"))

    def host_key(self, address: str) -> str | None:
        guest = self.guest(address)
        keys = [k for k in guest.host_keys() if k.startswith("ssh-ed25519")] if guest else []
        return keys[0] if keys else None

    def http(self, address: str, path: str, *, timeout: float = 10) -> tuple[int, str]:
        """GET http://address/path with the site's Host header, through the address's relay."""
        relay = self.cloud.address_relays[address][0]
        request = urllib.request.Request(f"http://127.0.0.1:{relay}{path}", headers={"Host": self.domain})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the http:// URL above
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(getattr(exc, "reason", exc))

    @property
    def domain(self) -> str:
        return self.settings.domain or self.o.stack

    # The run.
    def run(self) -> None:
        from redundo.settings import parse_settings

        raw = {**self.o.raw, "tier": self.o.tier.name}
        self.settings = parse_settings(self.o.stack, raw)
        clock = time.monotonic()
        self.start_cloud(raw)
        self.report.timings["image"] = time.monotonic() - clock
        ok = self.step("up", self.up)
        ok = ok and self.step("site", self.site)
        ok = ok and self.step("backups", self.backups)
        ok = ok and self.step("orders", self.orders)
        ok = ok and self.step("fire", self.fire)
        ok = ok and self.step("standby", self.standby)
        ok = ok and self.step("take-over", self.take_over)
        ok = ok and self.step("serves", self.serves)
        ok = ok and self.step("failback", self.failback)

    def start_cloud(self, raw: dict[str, Any]) -> None:
        from redundo import deploy
        from redundo.plan import pulumi_config
        from redundo.rehearse import image as image_mod
        from redundo.rehearse.cloud import LocalCloud
        from redundo.rehearse.engine import RehearsalEngine
        from redundo.rehearse.s3 import make_server
        from redundo.stacks.program import main

        public, private = _keypair(self.workdir)
        raw = {**raw, "sshPublicKey": public}
        config = {k: (v, False) for k, v in pulumi_config(raw).items()}
        config["redundo:sshPrivateKey"] = (private, True)
        packages = _user_data_packages(raw, self.o.stack)
        if self.o.image is not None:
            image = image_mod.Image(self.o.image)
            if not image.exists():
                raise OperationError(
                    f"--image {self.o.image} holds no base.qcow2, vmlinuz and initrd.img; "
                    "point it at a folder `redundo rehearse` built, or omit it"
                )
        else:
            image = image_mod.build(image_mod.Recipe(packages=tuple(packages)), progress=self.o.progress)
        recipe = image_mod.Recipe()
        region = self.settings.backup_region or "eu-west-3"
        self._s3 = make_server(self.o.s3, region, self.workdir)
        self._cloud = LocalCloud(
            self.workdir,
            image,
            self._s3,
            apt_cache=image_mod.cache_dir() / "apt",
            mirrors=[recipe.mirror, recipe.security_mirror],
            progress=self.o.progress,
        )
        self._cloud.deployer_key = private
        self._cloud.vault_expected = self.settings.backup_provider == "aws"
        self._engine = RehearsalEngine(self._cloud, main, config)
        project = self.workdir / "project"
        project.mkdir()
        self._target = deploy.Target(
            project=project,
            settings=self.settings,
            backend=(project / "state").as_uri(),
            passphrase="rehearsal",  # noqa: S106 - the throw-away passphrase of the rehearsal's own local state
            pulumi_command=self._engine,
        )

    def _printer(self):
        from rich.console import Console

        from redundo.cli.progress import EventPrinter

        return EventPrinter(Console(file=open(os.devnull, "w")))

    def up(self) -> str:
        from redundo import deploy

        clock = time.monotonic()
        try:
            deploy.up(self.target, self._printer())
        except deploy.Interrupted:
            raise  # the user stops the rehearsal (see step)
        except OperationError as exc:
            raise StepFailed(f"redundo up failed: {_after(str(exc), 'failed: ')}") from None
        self.report.timings["provisioning"] = time.monotonic() - clock
        self.primary = self.output("primaryIpv4")
        standby = self.output("standbyIpv4")
        states = []
        for role, address in (("primary", self.primary), ("standby", standby)):
            if not address:
                continue
            status = self.sh(address, "cloud-init status --long || true")
            if "status: done" not in status:
                errors = [
                    line.strip()
                    for line in status.splitlines()
                    if "error" in line.lower() or "recoverable" in line.lower()
                ]
                raise StepFailed(f"cloud-init on the {role} did not finish cleanly: {(errors or [status.strip()])[0]}")
            states.append(f"{role} {address}")
        boot = [g for g in self.cloud.guests.values()]
        self.report.timings["boot"] = max((g.booted_seconds() or 0) for g in boot) if boot else 0
        changes = len([c for c in self.engine.last_changes if c.op != "same"])
        unsupported = getattr(self.s3, "unsupported", [])
        note = f"; {self.s3.kind} does not implement {', '.join(sorted(set(unsupported)))}" if unsupported else ""
        return f"{changes} resources realized on {self.s3.kind}; cloud-init done on {', '.join(states)}{note}"

    def site(self) -> str:
        """Put a sample shop on the primary the way a client would, then ask the profile to serve it."""
        kind = self.settings.database
        shop = _shop_files(self.token)
        self.sh(self.primary, _install_shop(shop, self.settings))
        self.orders_total = self.add_orders(self.primary, 5)
        deadline = time.monotonic() + 60
        status, body = 0, ""
        while time.monotonic() < deadline:
            status, body = self.http(self.primary, "/rehearsal/token.txt")
            if status == 200 and self.token in body:
                break
            time.sleep(3)
        if status != 200 or self.token not in body:
            raise StepFailed(
                f"the primary does not serve the shop for {self.domain}: "
                f"{'HTTP ' + str(status) if status else 'no answer'} on /rehearsal/token.txt"
                f"{' (' + body.strip()[:80] + ')' if body.strip() else ''}"
            )
        front, _ = self.http(self.primary, "/")
        if not 200 <= front < 400:
            raise StepFailed(
                f"the primary serves the token but answers {self.domain}/ with "
                f"{'HTTP ' + str(front) if front else 'nothing'}; the shop's front page is missing"
            )
        rows = self.count_orders(self.primary)
        if rows != self.orders_total:
            raise StepFailed(f"the primary's {kind} database holds {rows} orders, {self.orders_total} were written")
        return (
            f"the primary serves {self.domain} (front page, token on /rehearsal/token.txt) with {rows} orders in {kind}"
        )

    def add_orders(self, address: str, count: int) -> int:
        values = ",".join(f"('order-{secrets.token_hex(4)}')" for _ in range(count))
        self.sh(address, _db_exec(self.settings, f"INSERT INTO orders (item) VALUES {values};"))  # noqa: S608 - values above
        return self.count_orders(address)

    def count_orders(self, address: str) -> int:
        out = self.sh(address, _db_exec(self.settings, "SELECT count(*) FROM orders;", tabular=True))
        try:
            return int(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise StepFailed(f"could not count the orders on {address}: {out.strip()[:80]}") from None

    def backups(self) -> str:
        """The primary's own timer takes the backups, at a compressed interval."""
        self.compress_timers(self.primary, ["redundo-backup.timer"])
        active = self.sh(self.primary, "systemctl is-active redundo-backup.timer || true").strip()
        if active != "active":
            raise StepFailed(
                f"redundo-backup.timer is {active or 'unknown'} on the primary; the role switch "
                "did not start the backups"
            )
        since = time.time()
        beat = self.wait_heartbeat(since, 4 * BACKUP_EVERY_SECONDS + 120)
        self.orders_backed_up = self.orders_total
        return f"snapshot {beat['snapshot_id'][:8]} from the primary's timer, heartbeat in the vault"

    def compress_timers(self, address: str, timers: list[str]) -> None:
        """Run the given timers every minute, on the wall clock (a drop-in under /run).

        A calendar trigger, not a shorter OnUnitActiveSec: systemd computes a restarted timer's
        OnActiveSec from its previous activation and disables one-shot triggers already past
        once a Persistent timer has a stamp, so a monotonic drop-in may never fire.
        """
        drop = (
            "[Timer]\nOnBootSec=\nOnUnitActiveSec=\nOnCalendar=*-*-* *:*:00\nRandomizedDelaySec=0\n"
            "AccuracySec=1s\nPersistent=false\n"
        )
        script = "".join(
            f"mkdir -p /run/systemd/system/{t}.d\ncat > /run/systemd/system/{t}.d/rehearse.conf <<'EOF'\n{drop}EOF\n"
            for t in timers
        )
        self.sh(
            address,
            script
            + "systemctl daemon-reload\nfor t in "
            + " ".join(timers)
            + "; do if systemctl is-enabled --quiet $t; then systemctl restart $t; fi; done",
        )

    def wait_heartbeat(self, since: float, timeout: float, *, host: str | None = None) -> dict[str, Any]:
        """The first ok heartbeat in the vault written after `since`; fails as soon as the backup
        service on `host` (default the primary) has failed, with the agent's own last line."""
        host = host or self.primary
        bucket = self.output("vaultBucket")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data in self.s3.objects(bucket, "heartbeat/").values():
                try:
                    beat = json.loads(data)
                except ValueError:
                    continue
                if beat.get("status") == "ok" and beat.get("epoch", 0) >= since:
                    return beat
            if self.sh(host, "systemctl is-failed redundo-backup.service || true").strip() == "failed":
                raise StepFailed(f"the backup failed on the host: {self.agent_line(host, 'redundo-backup')}")
            time.sleep(10)
        raise StepFailed(
            f"no backup heartbeat in the vault after {timeout:.0f} s: {self.agent_line(host, 'redundo-backup')}"
        )

    def agent_line(self, host: str, unit: str) -> str:
        """The agent's last own line in the unit's journal (what it said when it stopped)."""
        journal = self.sh(host, f"journalctl -u {unit}.service -n 300 --no-pager -o cat || true")
        lines = [
            line.strip()
            for line in journal.splitlines()
            if line.strip().startswith(f"{unit}:")
            and not any(m in line for m in ("could not report", "could not upload heartbeat/"))
        ]
        if lines:
            return lines[-1]
        other = [line.strip() for line in journal.splitlines() if line.strip()]
        return other[-1] if other else f"{unit}.service never ran"

    def orders(self) -> str:
        before = self.orders_total
        self.orders_total = self.add_orders(self.primary, 3)
        since = time.time()
        beat = self.wait_heartbeat(since, 3 * BACKUP_EVERY_SECONDS + 120)
        self.orders_backed_up = self.orders_total
        self.last_snapshot_epoch = beat["epoch"]
        # Orders sold after the last backup: what the fire takes.
        self.orders_total = self.add_orders(self.primary, 2)
        return (
            f"{self.orders_total - before} new orders; {self.orders_backed_up} covered by snapshot "
            f"{beat['snapshot_id'][:8]}, {self.orders_total - self.orders_backed_up} sold after it"
        )

    def fire(self) -> str:
        armed = ""
        if self.o.tier.standby_mode == "warm":
            # Before the fire, as on a real site: the warm standby follows every (compressed)
            # interval, and premium's watchdog has armed, or it would never take over.
            standby = self.output("standbyIpv4")
            self.compress_timers(standby, ["redundo-restore.timer"])
            if self.o.tier.automatic_failover:
                armed = f"; the standby's watchdog armed {self.wait_armed(standby)}"
        guest = self.guest(self.primary)
        disk = guest.dir / "disk.qcow2"
        self.fire_at = time.monotonic()
        self.fire_wall = time.time()
        self.cloud.kill(self.primary)
        if guest.alive() or disk.exists():
            raise StepFailed("the primary's VM or disk survived the fire")
        status, _ = self.http(self.primary, "/", timeout=5)
        if status:
            raise StepFailed(f"the burned primary still answers HTTP {status}")
        self.report.rpo_seconds = self.fire_wall - self.last_snapshot_epoch
        self.report.orders_lost = self.orders_total - self.orders_backed_up
        return f"primary {self.primary} killed, its disk deleted; it no longer answers{armed}"

    def wait_armed(self, standby: str) -> str:
        """When the standby's watchdog armed (it first runs 5 min after boot, then every minute)."""
        from redundo.agent import STATE_DIR

        deadline = time.monotonic() + 480
        while time.monotonic() < deadline:
            stamp = self.sh(standby, f"cat {STATE_DIR}/watchdog.armed 2>/dev/null || true").strip()
            if stamp:
                return f"at {stamp}"
            time.sleep(10)
        raise StepFailed(
            f"the standby's watchdog has not armed, so it would never take over: "
            f"{self.agent_line(standby, 'redundo-watchdog')}"
        )

    def standby(self) -> str:
        address = self.output("standbyIpv4")
        mode = self.o.tier.standby_mode
        if mode == "cold":
            if address:
                raise StepFailed(f"a cold standby exists before the failover ({address})")
            return "cold: no standby yet; the failover creates it"
        if not address or self.guest(address) is None or not self.guest(address).alive():
            raise StepFailed(f"the {mode} standby is not running")
        self.standby_address = address
        return f"{mode} standby running at {address}"

    def take_over(self) -> str:
        from redundo import operations

        if self.o.tier.automatic_failover:
            deadline = self.fire_at + self.o.tier.rto_minutes * 60
            zone, sub = self.site_record_key()
            while time.monotonic() < deadline:
                record = self.cloud.ovh.site_record(zone, sub)
                if record and record.get("target") == self.standby_address:
                    break
                time.sleep(10)
            else:
                raise StepFailed(
                    f"the watchdog did not take over within the RTO: "
                    f"{self.agent_line(self.standby_address, 'redundo-watchdog')}"
                )
            edits = [c for c in self.cloud.ovh.calls if c.method == "PUT" and c.who != "deployer"]
            return (
                f"the standby's watchdog restored and repointed {self.domain} by itself "
                f"({len(edits)} record edit with its own OAuth2 client), no command run"
            )
        try:
            result = operations.failover(self.target, printer=self._printer(), reach=self.reach)
        except OperationError as exc:
            raise StepFailed(f"redundo failover failed: {_after(str(exc), 'failed: ')}") from None
        if result.failed:
            raise StepFailed("redundo failover's update reported failed resources")
        self.standby_address = self.output("standbyIpv4")
        changed = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
        return f"redundo failover's update: {_counts(changed)}; {_same(self.engine.last_changes)} left alone"

    def check_dns(self, address: str, who: str) -> None:
        """The DNS stand-in's record for the site points at `address`."""
        zone, sub = self.site_record_key()
        record = self.cloud.ovh.site_record(zone, sub)
        if not record or record.get("target") != address:
            raise StepFailed(f"DNS: {self.domain} points at {record and record.get('target')}, not {who}")

    def site_record_key(self) -> tuple[str, str]:
        zone = self.settings.dns_zone
        sub = self.domain[: -len(zone)].rstrip(".") if zone and self.domain.endswith(zone) else ""
        return zone, sub

    def serves(self) -> str:
        address = self.standby_address
        # The take-over has already checked that the standby serves: a few minutes at most, never
        # the tier's whole RTO (hours on basic).
        deadline = min(self.fire_at + self.o.tier.rto_minutes * 60, time.monotonic() + 300)
        status, body = 0, ""
        while time.monotonic() < deadline:
            status, body = self.http(address, "/rehearsal/token.txt")
            if status == 200 and self.token in body:
                break
            time.sleep(3)
        if status != 200 or self.token not in body:
            raise StepFailed(
                f"the standby does not serve the restored shop for {self.domain}: "
                f"{'HTTP ' + str(status) if status else 'no answer'} on /rehearsal/token.txt"
            )
        self.report.rto_seconds = time.monotonic() - self.fire_at
        rows = self.count_orders(address)
        if rows != self.orders_backed_up:
            raise StepFailed(f"the standby's database holds {rows} orders; the last backup had {self.orders_backed_up}")
        self.check_dns(address, f"the standby {address}")
        promise = self.o.tier.rto_minutes * 60
        if self.report.rto_seconds > promise:
            raise StepFailed(
                f"the standby served after {self.report.rto_seconds:.0f} s, over the tier's RTO of {promise} s"
            )
        return (
            f"the standby {address} serves the restored shop with {rows} orders; {self.domain} points at it; "
            f"RTO {self.report.rto_seconds:.0f} s (promise {promise} s)"
        )

    def failback(self) -> str:
        from redundo import operations

        self.orders_backed_up = self.add_orders(self.standby_address, 2)
        if self.o.tier.automatic_failover:
            # The watchdog says to record its take-over with `redundo failover`. The standby has
            # taken orders since: recording must not restore the older snapshot over them.
            try:
                recorded = operations.failover(self.target, printer=self._printer(), reach=self.reach)
            except OperationError as exc:
                raise StepFailed(
                    f"redundo failover (recording the watchdog's take-over) failed: {_after(str(exc), 'failed: ')}"
                ) from None
            if recorded.failed:
                raise StepFailed("redundo failover (recording the watchdog's take-over) reported failed resources")
            rows = self.count_orders(self.standby_address)
            if rows != self.orders_backed_up:
                raise StepFailed(
                    f"recording the watchdog's take-over left {rows} orders on the standby, which had "
                    f"{self.orders_backed_up}: it restored over the live site"
                )
        # The standby's own timer may be backing up when the last orders come in: a run that
        # dumped the database before them must not pass for the last backup. Made to happen here:
        # a backup is started and one more order is sold while its restic upload runs; then
        # `redundo failback` itself runs (its last backup, the switch with a refresh, the checks).
        since = time.time()
        # The orders are counted in the same session, so that the failback's last backup asks while
        # that backup still runs (no round trip between them).
        count = _db_exec(self.settings, "SELECT count(*) FROM orders;", tabular=True)
        out = self.sh(self.standby_address, _order_during_backup(self.settings) + count + "\n", timeout=900)
        overlap = "overlap=yes" in out
        try:
            self.orders_backed_up = int(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise StepFailed(f"could not count the orders on the standby: {out.strip()[-80:]}") from None
        try:
            result = operations.failback(self.target, printer=self._printer(), reach=self.reach)
        except OperationError as exc:
            raise StepFailed(f"redundo failback failed: {_after(str(exc), 'failed: ')}") from None
        if result.failed:
            raise StepFailed("redundo failback's update reported failed resources")
        waited = bool(result.last_backup and result.last_backup.waited_for)
        self.wait_heartbeat(since, 120, host=self.standby_address)
        rebuilt = self.output("primaryIpv4")
        if rebuilt == self.primary:
            raise StepFailed("the failback did not rebuild the primary")
        status, body = self.http(rebuilt, "/rehearsal/token.txt")
        if status != 200 or self.token not in body:
            raise StepFailed(f"the rebuilt primary does not serve the shop: HTTP {status or 'no answer'}")
        rows = self.count_orders(rebuilt)
        if rows != self.orders_backed_up:
            raise StepFailed(f"the rebuilt primary holds {rows} orders; the standby had {self.orders_backed_up}")
        self.check_dns(rebuilt, "the rebuilt primary")
        during = (
            "an order sold during a running backup is there too: the last backup waited for that run to end"
            if overlap and waited
            else "an order sold during a running backup is there too"
            if overlap
            else "the backup started to overlap the last order ended before it was sold"
        )
        return f"primary rebuilt at {rebuilt} with the standby's {rows} orders; {self.domain} points at it; {during}"

    def close(self) -> None:
        for closer in (self._cloud, self._s3):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001, S110 - cleanup goes on
                    pass


def rehearse(options: Options) -> Report:
    """Run the whole scenario; every VM, server and temp file is gone when this returns or raises."""
    report = Report(options.tier.name, options.stack)
    workdir = Path(tempfile.mkdtemp(prefix="redundo-rehearse-"))
    scenario = _Scenario(options, report, workdir)
    clock = time.monotonic()
    try:
        scenario.run()
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave guests running: held back
        # until it is done (then delivered, and the CLI ends as interrupted).
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            scenario.close()
            shutil.rmtree(workdir, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    report.timings["total"] = time.monotonic() - clock
    steps = {s.name: s.seconds for s in report.steps}
    report.timings["scenario"] = sum(v for k, v in steps.items() if k != "up")
    return report


# Helpers.
def _quote(text: str) -> str:

    return shlex.quote(text)


def _after(text: str, marker: str) -> str:
    return text.split(marker, 1)[1] if marker in text else text


def _counts(changes: dict[str, int]) -> str:
    # The engine's ops (create, update, replace, delete) all end in "e".
    return ", ".join(f"{n} {op}d" for op, n in sorted(changes.items())) or "nothing changed"


def _same(changes) -> int:
    return len([c for c in changes if c.op == "same"])


def _keypair(workdir: Path) -> tuple[str, str]:
    key = workdir / "deployer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "redundo-rehearse", "-f", str(key)], check=True
    )
    return key.with_suffix(".pub").read_text().strip(), key.read_text()


def _user_data_packages(raw: dict[str, Any], stack: str) -> list[str]:
    """The packages the stack's hosts ask for in their user data (to pre-install in the image)."""
    from redundo.plan import synthesize_stack

    synthesis = synthesize_stack(stack, raw)
    packages: set[str] = set()
    for resource in synthesis.resources:
        user_data = resource.inputs.get("userData")
        if isinstance(user_data, str) and user_data.startswith("#cloud-config"):
            document = yaml.safe_load(user_data) or {}
            packages |= {p for p in document.get("packages", []) if isinstance(p, str)}
    return sorted(packages)


def _order_during_backup(settings) -> str:
    """Shell: start a backup, and sell one order once its restic upload runs (the database is
    dumped by then); prints overlap=yes when it did, overlap=no when the run ended first."""
    insert = _db_exec(settings, f"INSERT INTO orders (item) VALUES ('order-{secrets.token_hex(4)}');")  # noqa: S608 - hex
    return (
        "systemctl start --no-block redundo-backup.service\n"
        "overlap=no\n"
        "for i in $(seq 1 600); do\n"
        f"  if pgrep -f '^restic backup' >/dev/null; then {insert}; overlap=yes; break; fi\n"
        '  if [ "$i" -gt 20 ] && [ "$(systemctl show -p ActiveState --value redundo-backup.service)" != activating ]; '
        "then break; fi\n"
        "  sleep 0.1\n"
        "done\n"
        f'[ "$overlap" = yes ] || {insert}\n'
        "echo overlap=$overlap\n"
    )


def _shop_files(token: str) -> dict[str, str]:
    # A front page, as every shop has (an empty web root answers 403 on "/").
    return {
        "index.html": f"<!doctype html><title>Bijouterie</title><h1>Bijouterie</h1><!-- {token} -->\n",
        "rehearsal/token.txt": f"redundo rehearse {token}\n",
    }


def _install_shop(files: dict[str, str], settings) -> str:
    """Shell that writes the shop's files under every web root nginx serves, and its database."""
    lines = [
        "set -e",
        # The web roots the site's profile configured (the default one when nginx has no other).
        "roots=$(nginx -T 2>/dev/null | sed -n 's/^[[:space:]]*root[[:space:]]\\+\\([^;]*\\);.*/\\1/p' | sort -u)",
        '[ -n "$roots" ] || roots=/var/www/html',
    ]
    for path, text in files.items():
        lines.append(
            f'for r in $roots; do mkdir -p "$r/{os.path.dirname(path)}"; printf %s {_quote(text)} > "$r/{path}"; done'
        )
    lines.append(
        _db_exec(
            settings, "CREATE TABLE IF NOT EXISTS orders (id SERIAL PRIMARY KEY, item TEXT NOT NULL);", create=True
        )
    )
    return "\n".join(lines)


def _db_exec(settings, sql: str, *, tabular: bool = False, create: bool = False) -> str:
    # The database's name is the stack's own databaseName: quoted for SQL, then for the shell.
    kind, name = settings.database, settings.database_name or "site"
    if kind == "mysql":
        create_sql = "CREATE DATABASE IF NOT EXISTS `" + name.replace("`", "``") + "`"
        pre = f"mysql -e {_quote(create_sql)}; " if create else ""
        return pre + f"mysql -N -B {_quote(name)} -e {_quote(sql)}"
    if kind == "postgresql":
        exists_sql = "SELECT 1 FROM pg_database WHERE datname='" + name.replace("'", "''") + "'"  # noqa: S608 - the name escaped as an SQL string
        pre = (
            (
                f"runuser -u postgres -- psql -tAc {_quote(exists_sql)} | grep -q 1 "
                f"|| runuser -u postgres -- createdb {_quote(name)}; "
            )
            if create
            else ""
        )
        return pre + f"runuser -u postgres -- psql -tA -d {_quote(name)} -c {_quote(sql)}"
    from redundo.agent import DB_PATH

    sqlite_sql = sql.replace("SERIAL PRIMARY KEY", "INTEGER PRIMARY KEY")
    pre = f"mkdir -p {os.path.dirname(DB_PATH)}; " if create else ""
    return pre + f"sqlite3 {DB_PATH} {_quote(sqlite_sql)}"
