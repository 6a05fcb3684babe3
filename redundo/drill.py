"""`redundo drill`: prove that a backup comes back, byte for byte, and measure RPO and RTO.

The local drill runs the very scripts the hosts run (`redundo-backup` on the "primary",
`redundo-restore` on the "standby") against a real S3 server on 127.0.0.1 whose keys carry the
production policies, burns the primary, and checks every restored byte against a sha256 manifest
and the database's integrity.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from redundo import agent
from redundo.errors import OperationError
from redundo.tiers import Tier

__all__ = [
    "DATABASES",
    "DrillReport",
    "Host",
    "SqlShop",
    "add_orders",
    "make_site",
    "manifest",
    "mutate_site",
    "provision_repository",
    "run_local_drill",
    "run_stack_drill",
]

HOST = "drill-primary"
PASSWORD_BYTES = 24
STEP_TIMEOUT = 900  # seconds any one script may run; restic can hang on a dead server


# ---------------------------------------------------------------- the sample shop


def make_site(root: Path, *, size_mb: float, files: int, seed: int = 42) -> None:
    """A deterministic shop: `files` files of about `size_mb` MB in all (text and binary, some
    duplicates, a long tail of sizes), and a SQLite database of products and orders."""
    rng = random.Random(seed)
    www = root / "www"
    weights = [rng.paretovariate(1.3) for _ in range(files)]
    scale = size_mb * 1024 * 1024 / sum(weights)
    words = [f"w{i:05d}".encode() for i in range(5000)]
    made: list[Path] = []
    for i, weight in enumerate(weights):
        size = max(64, int(weight * scale))
        path = www / f"d{i % 40:02d}" / f"s{i % 7}" / (f"page{i:05d}.html" if i % 2 == 0 else f"img{i:05d}.bin")
        path.parent.mkdir(parents=True, exist_ok=True)
        if made and rng.random() < 0.15:
            data = made[rng.randrange(len(made))].read_bytes()
        elif i % 2 == 0:
            out = bytearray()
            while len(out) < size:
                out += b" ".join(rng.choice(words) for _ in range(64)) + b"\n"
            data = bytes(out[:size])
        else:
            data = rng.randbytes(size)
        path.write_bytes(data)
        made.append(path)
    db = root / "db"
    db.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db / "site.sqlite") as con:
        con.execute("pragma journal_mode=wal")
        con.execute("create table products(id integer primary key, name text, price_cents integer)")
        con.execute("create table orders(id integer primary key, product integer, at real)")
        con.executemany(
            "insert into products(name, price_cents) values (?, ?)",
            ((f"ring {i}", rng.randrange(1000, 200000)) for i in range(2000)),
        )
    add_orders(root, 500, seed=seed)


def add_orders(root: Path, count: int, *, seed: int = 0) -> None:
    """The shop keeps selling: `count` more orders."""
    rng = random.Random(seed)
    with sqlite3.connect(root / "db" / "site.sqlite") as con:
        con.executemany(
            "insert into orders(product, at) values (?, ?)",
            ((rng.randrange(1, 2000), time.time()) for _ in range(count)),
        )


def mutate_site(root: Path, *, share: float, seed: int = 1) -> int:
    """Rewrite `share` of the files (new content, same size), as an edited catalogue would."""
    rng = random.Random(seed)
    paths = sorted(p for p in (root / "www").rglob("*") if p.is_file())
    chosen = rng.sample(paths, max(1, int(len(paths) * share)))
    for path in chosen:
        path.write_bytes(rng.randbytes(max(64, path.stat().st_size)))
    return len(chosen)


def manifest(root: Path) -> dict[str, str]:
    """sha256 of every file below `root`, by relative path."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        out[str(path.relative_to(root))] = digest.hexdigest()
    return out


SHOP_DB = "shop"


class SqlShop:
    """The sample shop's database in a MySQL (MariaDB) or PostgreSQL server: products and orders."""

    # Its SQL is built from the drill's own names (SHOP_DB) and generated numbers, never from input:
    # hence the S608 (SQL built from strings) noqa comments below.

    def __init__(self, server, name: str = SHOP_DB):
        self.server = server
        self.name = name

    def create(self, *, seed: int = 42, account: bool = True) -> None:
        rng = random.Random(seed)
        self.server.sql(self.server.create_database_sql(self.name))
        self.server.sql(
            "create table products(id integer primary key, name varchar(64) not null, price_cents integer not null);"  # noqa: S608
            "create table orders(id integer primary key, product integer not null, at double precision not null);"
            "insert into products(id, name, price_cents) values "
            + ", ".join(f"({i + 1}, 'ring {i}', {rng.randrange(1000, 200000)})" for i in range(2000)),
            self.name,
        )
        self.add_orders(500, seed=seed)
        if account:  # the site's own database account, which must come back with the data
            self.create_account()

    def add_orders(self, count: int, *, seed: int = 0) -> None:
        rng = random.Random(seed)
        first = int(self.server.sql("select coalesce(max(id), 0) from orders", self.name).strip()) + 1
        self.server.sql(
            "insert into orders(id, product, at) values "  # noqa: S608
            + ", ".join(f"({first + i}, {rng.randrange(1, 2000)}, {time.time():.3f})" for i in range(count)),
            self.name,
        )

    @property
    def account(self) -> str:
        return f"{self.name}_app"

    def create_account(self) -> None:
        """The site's login with a password: MariaDB grants it the shop's tables; PostgreSQL makes it their owner."""
        if self.server.kind == "postgresql":
            self.server.sql(f"create role {self.account} login password 'drill-{self.name}'")
            self.server.sql(f"alter database {self.name} owner to {self.account}")
            self.server.sql(
                f"alter table products owner to {self.account}; alter table orders owner to {self.account}", self.name
            )
        else:
            self.server.sql(f"create user '{self.account}'@'localhost' identified by 'drill-{self.name}'")
            self.server.sql(f"grant select, insert, update, delete on `{self.name}`.* to '{self.account}'@'localhost'")

    def accounts(self) -> list[str]:
        """The site's account as the server knows it: its password hash and what it may do."""
        if self.server.kind == "postgresql":
            return self.server.sql(
                "select r.rolname, r.rolcanlogin, r.rolpassword, (select string_agg(tablename || ':' || "  # noqa: S608
                "tableowner, ',' order by tablename) from pg_tables where schemaname = 'public') from pg_authid r "
                f"where r.rolname = '{self.account}'",
                self.name,
            ).split()
        return self.server.sql(
            "select u.User, u.Host, u.authentication_string, d.Select_priv, d.Insert_priv from mysql.user u "  # noqa: S608
            f"join mysql.db d on d.User = u.User and d.Host = u.Host where u.User = '{self.account}'"
        ).split()

    def count_orders(self) -> int:
        return int(self.server.sql("select count(*) from orders", self.name).strip())

    def tables(self) -> list[str]:
        schema = "public" if self.server.kind == "postgresql" else self.name
        return sorted(
            self.server.sql(
                f"select table_name from information_schema.tables where table_schema = '{schema}'",  # noqa: S608
                self.name,
            ).split()
        )

    def fingerprint(self) -> dict[str, Any]:
        """What must come back exactly: the tables, the products and the orders."""
        return {
            "tables": self.tables(),
            "orders": self.count_orders(),
            "accounts": self.accounts(),
            "products": self.server.sql("select count(*), sum(price_cents) from products", self.name).split(),
        }


def count_orders(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from orders").fetchone()[0]


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as con:
        return con.execute("pragma integrity_check").fetchone()[0]


# ---------------------------------------------------------------- running the hosts' scripts


@dataclass
class Host:
    """One machine's view: its settings file, its secrets, and the shipped scripts."""

    name: str
    workdir: Path
    settings: agent.AgentSettings
    secrets: Mapping[str, str]

    def __post_init__(self) -> None:
        self.bin = self.workdir / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for script in ("redundo-backup", "redundo-restore"):
            path = self.bin / script
            path.write_text(agent.script(script))
            path.chmod(0o755)
        self.conf = self.workdir / "redundo.conf"
        self.conf.write_text(agent.settings_file(self.settings))

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_"))}
        source = {"REDUNDO_KEY_SOURCE": "the local drill's environment (redundo drill --local)"}
        return {**base, "REDUNDO_CONF": str(self.conf), **source, **self.secrets, **(extra or {})}

    def run(
        self, script: str, *args: str, extra_env: Mapping[str, str] | None = None, timeout: float = STEP_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [str(self.bin / script), *args],
                check=False,  # the caller reads the exit status
                env=self.env(extra_env),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise OperationError(f"{script} on {self.name} did not finish in {timeout:.0f} s") from None

    def restic(self, *args: str, timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        env = self.env(
            {
                "RESTIC_REPOSITORY": f"s3:{self.settings.vault_endpoint}/{self.settings.vault_bucket}",
                "RESTIC_CACHE_DIR": str(self.workdir / "cache"),
            }
        )
        # The caller reads the exit status.
        return subprocess.run(["restic", *args], check=False, env=env, capture_output=True, text=True, timeout=timeout)


def provision_repository(repository: str, password: str, init_key: Mapping[str, str]) -> None:
    """The one-time `restic init` that provisioning runs with the init key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_"))}
    env |= {**init_key, "RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD": password}
    done = subprocess.run(
        ["bash", "-c", "restic --no-lock cat config >/dev/null 2>&1 || restic init"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise OperationError(f"could not create the repository: {_last_line(done.stderr)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def parse_restored(stdout: str) -> dict[str, str]:
    """The restore script's last line: restored snapshot=ID time=T fallback=0|1 target=DIR."""
    line = _last_line(stdout)
    if not line.startswith("restored "):
        raise OperationError(f"the restore printed no result: {line}")
    return dict(part.split("=", 1) for part in line[len("restored ") :].split())


def check_tools() -> None:
    missing = [tool for tool in ("restic", "sqlite3", "curl", "python3") if shutil.which(tool) is None]
    if missing:
        raise OperationError(
            f"the drill needs {', '.join(missing)} on PATH; on Debian: apt-get install " + " ".join(missing)
        )


# ---------------------------------------------------------------- the drill


@dataclass
class DrillReport:
    """What the drill did and measured."""

    tier: str
    size_bytes: int
    files: int
    snapshot_id: str = ""
    snapshot_time: str = ""
    fallback: bool = False
    backup_seconds: float = 0.0
    incremental_seconds: float = 0.0
    rpo_seconds: float = 0.0
    rto_seconds: float = 0.0
    rpo_promise_minutes: int = 0
    rto_promise_minutes: int = 0
    files_checked: int = 0
    files_mismatched: list[str] = field(default_factory=list)
    db_integrity: str = ""
    orders_at_backup: int = 0
    orders_restored: int = 0
    orders_lost_since_backup: int = 0
    heartbeat_snapshot: str = ""
    heartbeat_lock: str = ""
    """The heartbeat object's Object Lock (mode and retain-until) on a locking tier's vault."""
    database: str = "sqlite"
    vault_lock_days: int = 0
    problems: list[str] = field(default_factory=list)
    verified_by: str = "sha256 manifest of the primary and SQLite integrity_check"

    @property
    def exact(self) -> bool:
        return (
            not self.files_mismatched
            and self.files_checked > 0
            and self.db_integrity in ("ok", "none", "dump")
            and self.orders_restored == self.orders_at_backup
        )

    @property
    def passed(self) -> bool:
        return self.exact and not self.fallback and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exact": self.exact, "passed": self.passed}


def _timed(fn) -> tuple[Any, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


DATABASES = ("sqlite", "mysql", "postgresql")


def run_local_drill(
    tier: Tier,
    *,
    size_mb: float = 20,
    files: int = 200,
    workdir: Path | None = None,
    progress=lambda message: None,
    database: str = "sqlite",
    vault=None,
) -> DrillReport:
    """Back up a sample shop to a local vault built as the tier's, burn it, restore it on a 'standby'
    and verify it. `database` is the stack's engine: sqlite, or mysql/postgresql on local servers.
    `vault`: an already started vault with the LocalVault interface (default: moto, for the tier)."""
    if database not in DATABASES:
        raise OperationError(f"unknown database {database!r}; use one of: {', '.join(DATABASES)}")
    from contextlib import ExitStack

    from redundo.localdb import local_server
    from redundo.localvault import LocalVault, require_server

    if vault is None:
        require_server()
    check_tools()

    owned = workdir is None
    root = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="redundo-drill-"))
    try:
        with ExitStack() as stack:
            servers = None
            if database != "sqlite":
                progress(f"starting a {database} server for the primary and one for the standby")
                servers = (stack.enter_context(local_server(database)), stack.enter_context(local_server(database)))
            if vault is None:
                vault = stack.enter_context(LocalVault.for_tier(tier))
            return _drill(tier, vault, root, size_mb, files, progress, database, servers)
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)


def _drill(
    tier: Tier, vault, root: Path, size_mb: float, files: int, progress, database: str = "sqlite", servers=None
) -> DrillReport:
    primary_root, standby_root = root / "primary", root / "standby"
    password = os.urandom(PASSWORD_BYTES).hex()
    settings = dict(
        vault_endpoint=vault.endpoint,
        vault_bucket=vault.bucket,
        vault_region="us-east-1",
        backup_host=HOST,
        db_kind=database,
        db_name=SHOP_DB if servers else "",
    )
    primary_db_env = servers[0].env if servers else {}
    primary = Host(
        "primary",
        primary_root / "host",
        agent.AgentSettings.for_tier(
            tier,
            site_paths=(str(primary_root / "site" / "www"),),
            db_path=str(primary_root / "site" / "db" / "site.sqlite"),
            dump_dir=str(primary_root / "dump"),
            state_dir=str(primary_root / "state"),
            **settings,
        ),
        {**vault.writer.env(), "RESTIC_PASSWORD": password, **primary_db_env},
    )
    progress(f"making a {size_mb:g} MB shop of {files} files and a {database} database")
    make_site(primary_root / "site", size_mb=size_mb, files=files)
    shop = None
    if servers:
        (primary_root / "site" / "db" / "site.sqlite").unlink()  # the shop's data lives in the server
        shop = SqlShop(servers[0])
        shop.create()
        # The standby has been serving something else (an earlier restore, a default install):
        # a table that exists only there must be gone after the take-over.
        stale = SqlShop(servers[1])
        stale.create(seed=7, account=False)  # the standby's server has never heard of the site's account
        servers[1].sql("create table standby_only(id integer primary key)", stale.name)
    report = DrillReport(
        tier.name,
        sum(p.stat().st_size for p in (primary_root / "site").rglob("*") if p.is_file()),
        files,
        rpo_promise_minutes=tier.rpo_minutes,
        rto_promise_minutes=tier.rto_minutes,
        database=database,
        vault_lock_days=getattr(vault, "lock_days", 0),
    )
    if servers:
        report.verified_by = (
            f"sha256 manifest of the primary, and the {database} tables, rows and site account "
            "loaded on the standby compared with the primary's"
        )
    provision_repository(vault.repository, password, vault.init.env())

    progress("backing up the primary (full)")
    done, report.backup_seconds = _timed(lambda: primary.run("redundo-backup", "backup"))
    _require(done, "the first backup")
    mutate_site(primary_root / "site", share=0.01)
    if shop:
        shop.add_orders(25, seed=2)
    else:
        add_orders(primary_root / "site", 25, seed=2)
    progress("backing up again after 1% of the files changed (incremental)")
    done, report.incremental_seconds = _timed(lambda: primary.run("redundo-backup", "backup"))
    _require(done, "the incremental backup")
    expected = manifest(primary_root / "site" / "www")
    expected_db = shop.fingerprint() if shop else None
    report.orders_at_backup = (
        expected_db["orders"] if expected_db else count_orders(primary_root / "site" / "db" / "site.sqlite")
    )
    _read_heartbeat(report, vault)

    # sold after the last backup: what the RPO costs
    if shop:
        shop.add_orders(7, seed=3)
    else:
        add_orders(primary_root / "site", 7, seed=3)
    report.orders_lost_since_backup = 7
    progress("burning the primary")
    burned_at = time.time()
    burn_clock = time.monotonic()
    if servers:
        servers[0].close()
    shutil.rmtree(primary_root)

    progress("restoring on the standby with its read-only key")
    standby = Host(
        "standby",
        standby_root / "host",
        agent.AgentSettings(**{**asdict(primary.settings), "state_dir": str(standby_root / "state")}),
        {**vault.reader.env(), "RESTIC_PASSWORD": password, **(servers[1].env if servers else {})},
    )
    target = standby_root / "restored"
    # A server database is loaded into the standby's own server (--live), as a take-over does; the
    # site's files then land at the site's paths too, which the burn left empty.
    live = ("--live",) if servers else ()
    restored = _take_restore(report, standby.run("redundo-restore", "--target", str(target), *live), "on the standby")
    if restored is None:
        report.rto_seconds = time.monotonic() - burn_clock
        return report

    progress("verifying every byte and the database")
    site = Path(str(target) + str(primary.settings.site_paths[0]))
    got = manifest(site) if site.is_dir() else {}
    report.files_checked = len(expected)
    report.files_mismatched = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
    if servers:
        live_site = Path(primary.settings.site_paths[0])
        if live and (manifest(live_site) if live_site.is_dir() else {}) != expected:
            report.problems.append("the live site's files differ from the primary's")
        loaded = SqlShop(servers[1]).fingerprint()
        report.orders_restored = loaded["orders"]
        report.db_integrity = (
            "ok"
            if loaded == expected_db
            else (f"the standby's database differs from the primary's: {loaded} != {expected_db}")
        )
    else:
        dump = Path(str(target) + primary.settings.dump_dir) / "site.sqlite"
        report.db_integrity = integrity(dump) if dump.is_file() else "missing"
        report.orders_restored = count_orders(dump) if dump.is_file() else 0
    report.rto_seconds = time.monotonic() - burn_clock
    report.rpo_seconds = burned_at - _epoch(report.snapshot_time)
    if (
        report.heartbeat_snapshot
        and not report.heartbeat_snapshot.startswith(report.snapshot_id[:8])
        and not report.fallback
    ):
        report.problems.append("the heartbeat names another snapshot than the newest restorable one")
    return report


def _read_heartbeat(report: DrillReport, vault) -> None:
    """The heartbeat the primary wrote; on a locking vault it must be locked like every backup object."""
    s3 = vault.client()
    key = f"heartbeat/{HOST}.json"
    report.heartbeat_snapshot = json.loads(s3.get_object(Bucket=vault.bucket, Key=key)["Body"].read())["snapshot_id"]
    head = s3.head_object(Bucket=vault.bucket, Key=key)
    if head.get("ObjectLockMode"):
        report.heartbeat_lock = f"{head['ObjectLockMode']} until {head['ObjectLockRetainUntilDate']:%Y-%m-%d}"
    if getattr(vault, "lock_days", 0) and head.get("ObjectLockMode") != "COMPLIANCE":
        report.problems.append("the heartbeat is not under the vault's compliance lock")


def _take_restore(report: DrillReport, done: subprocess.CompletedProcess[str], where: str) -> dict[str, str] | None:
    """Record the restore script's outcome in `report`; its result line, or None when it failed."""
    if done.returncode != 0:
        report.problems.append(f"restore {where} failed: {_last_line(done.stderr)}")
        return None
    restored = parse_restored(done.stdout)
    report.snapshot_id, report.snapshot_time = restored["snapshot"], restored["time"]
    report.fallback = restored["fallback"] == "1"
    if report.fallback:
        report.problems.append(_last_line(done.stderr))
    return restored


def _require(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise OperationError(f"{what} failed: {_last_line(done.stderr)}")


def _epoch(restic_time: str) -> float:
    """restic's RFC 3339 time with nanoseconds, as epoch seconds."""
    from datetime import datetime

    text = restic_time.strip()
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


SCRATCH = "/var/lib/redundo/drill"


def run_stack_drill(
    tier: Tier, outputs: Mapping[str, tuple[Any, bool]], *, progress=lambda message: None
) -> DrillReport:
    """Restore the newest snapshot into a scratch directory on the deployed standby (or, with a cold
    standby, on the primary) and verify it, without touching the live site."""
    from redundo.components.redundant_site import SSH_USERS
    from redundo.remote import ssh_run

    standby_ip = (outputs.get("standbyIpv4") or (None, False))[0]
    host, role = (standby_ip, "standby") if standby_ip else (outputs["primaryIpv4"][0], "primary")
    provider = (outputs.get("standbyProvider") or ("ovh", False))[0] if role == "standby" else "ovh"
    report = DrillReport(tier.name, 0, 0, rpo_promise_minutes=tier.rpo_minutes, rto_promise_minutes=tier.rto_minutes)
    progress(f"restoring the newest snapshot into {SCRATCH} on the {role} ({host})")
    started = time.monotonic()
    conf = agent.SETTINGS_FILE
    host_key = (outputs.get(f"{role}HostKey") or (None, False))[0]
    done = ssh_run(
        host,
        SSH_USERS.get(provider, "debian"),
        [
            "env",
            f"REDUNDO_CONF={conf}",
            "bash",
            "-c",
            f"set -a; . {agent.ENV_FILE}; set +a; exec {agent.BIN_DIR}/redundo-restore --target {SCRATCH}",
        ],
        host_key=host_key,
    )
    report.rto_seconds = time.monotonic() - started
    restored = _take_restore(report, done, f"on the {role}")
    if restored is None:
        return report
    report.rpo_seconds = time.time() - _epoch(report.snapshot_time)
    # restic's --verify compared every restored byte with the snapshot; the script checked the database.
    report.files_checked = int(restored.get("verified_files", "0"))
    report.db_integrity = restored.get("db", "none")
    report.verified_by = "restic restore --verify on the host"
    return report
