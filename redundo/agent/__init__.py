"""The data path on the hosts: the backup agent on the primary and the restore on the standby.

The scripts are shipped files (`redundo-backup`, `redundo-restore`), checked by shellcheck and
run unchanged by `redundo drill`. Their settings files and the systemd units are built here as
data; cloud-init installs all of them. Secrets are never part of any of this: they reach
`/etc/redundo/restic.env` over SSH at provisioning (see docs/credentials.md).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redundo.tiers import Tier

__all__ = [
    "BACKUP_TIMERS",
    "BIN_DIR",
    "CONF_DIR",
    "ENV_FILE",
    "FOLLOW_TIMER",
    "SCRIPTS",
    "SETTINGS_FILE",
    "WATCHDOG_TIMER",
    "AgentSettings",
    "agent_packages",
    "all_units",
    "backup_units",
    "restore_units",
    "script",
    "settings_file",
    "timer_interval_minutes",
    "unit_file",
]

BIN_DIR = "/usr/local/sbin"
CONF_DIR = "/etc/redundo"
ENV_FILE = f"{CONF_DIR}/restic.env"
SETTINGS_FILE = f"{CONF_DIR}/redundo.conf"
BACKUP_TIMERS = ("redundo-backup.timer", "redundo-prune.timer", "redundo-verify.timer")
FOLLOW_TIMER = "redundo-restore.timer"
WATCHDOG_TIMER = "redundo-watchdog.timer"
SCRIPTS = ("redundo-backup", "redundo-restore", "redundo-watchdog", "redundo-serve-check", "redundo-last-backup")
STATE_DIR = "/var/lib/redundo"
DUMP_DIR = "/var/backups/redundo"
DB_PATH = "/var/lib/site/site.sqlite"


_DB_CLIENT = {"mysql": ("mariadb-client",), "postgresql": ("postgresql-client",), "sqlite": (), "none": ()}


def agent_packages(db_kind: str) -> tuple[str, ...]:
    """The Debian packages the agent's scripts run: restic and the database's client."""
    return ("restic", "sqlite3", "curl", "rsync", "python3", *_DB_CLIENT[db_kind])


def script(name: str) -> str:
    """The text of a shipped script: redundo-backup or redundo-restore."""
    return resources.files("redundo.agent").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class AgentSettings:
    """What the scripts read from their settings file; nothing secret."""

    vault_endpoint: str
    vault_bucket: str
    vault_region: str
    backup_host: str
    """The name snapshots are taken under: the site's, not a machine's, so either node finds them."""
    site_paths: tuple[str, ...]
    keep_daily: int
    keep_hourly: int = 0
    verify_subset_percent: int = 5
    db_kind: str = "none"
    db_name: str = ""
    db_path: str = DB_PATH
    dump_dir: str = DUMP_DIR
    state_dir: str = STATE_DIR
    backup_tag: str = "site"
    web_services: tuple[str, ...] = ()
    """Units a live restore reloads so that they serve what was restored (the site profile's)."""
    site_domain: str = ""
    """The site's name: the take-over check asks the node's web server for it."""
    web_root: str = ""
    """The directory the web server serves the site from."""

    @classmethod
    def for_tier(cls, tier: Tier, **values: Any) -> AgentSettings:
        return cls(
            keep_daily=tier.retention_days,
            keep_hourly=tier.keep_hourly,
            verify_subset_percent=tier.verify_subset_percent,
            **values,
        )


def settings_file(settings: AgentSettings) -> str:
    """A bash-sourceable settings file; every value shell-quoted, the site paths an array."""
    values: Mapping[str, Any] = {
        "VAULT_ENDPOINT": settings.vault_endpoint,
        "VAULT_BUCKET": settings.vault_bucket,
        "VAULT_REGION": settings.vault_region,
        "BACKUP_HOST": settings.backup_host,
        "BACKUP_TAG": settings.backup_tag,
        "KEEP_DAILY": settings.keep_daily,
        "KEEP_HOURLY": settings.keep_hourly,
        "VERIFY_SUBSET_PERCENT": settings.verify_subset_percent,
        "DB_KIND": settings.db_kind,
        "DB_NAME": settings.db_name,
        "DB_PATH": settings.db_path,
        "DUMP_DIR": settings.dump_dir,
        "STATE_DIR": settings.state_dir,
    }
    # Only when the site has them: an empty line would override what a caller set in the environment.
    web = {
        "WEB_SERVICES": " ".join(settings.web_services),
        "SITE_DOMAIN": settings.site_domain,
        "WEB_ROOT": settings.web_root,
    }
    values = {**values, **{k: v for k, v in web.items() if v}}
    lines = ["# Written by redundo; secrets live in " + ENV_FILE + ", not here."]
    lines += [f"{key}={shlex.quote(str(value))}" for key, value in values.items()]
    lines.append("SITE_PATHS=(" + " ".join(shlex.quote(p) for p in settings.site_paths) + ")")
    return "\n".join(lines) + "\n"


def unit_file(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """A systemd unit from {section: {key: value or [values]}}."""
    out = []
    for section, entries in sections.items():
        out.append(f"[{section}]")
        for key, value in entries.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                out.append(f"{key}={item}")
        out.append("")
    return "\n".join(out)


def _service(
    description: str, exec_start: str, timeout_seconds: int, conf: str, *, read_only_system: bool = True
) -> dict[str, dict[str, Any]]:
    hardening = {"ProtectSystem": "full"} if read_only_system else {}
    return {
        "Unit": {
            "Description": description,
            "Wants": "network-online.target",
            "After": "network-online.target",
            # Until the credentials arrive over SSH the agent cannot run; do not fail noisily.
            "ConditionPathExists": ENV_FILE,
        },
        "Service": {
            "Type": "oneshot",
            "Environment": f"REDUNDO_CONF={conf}",
            "EnvironmentFile": ENV_FILE,
            "ExecStart": exec_start,
            "ExecStopPost": f"{BIN_DIR}/redundo-backup report %n" if "redundo-backup" in exec_start else [],
            # restic can hang for ever when the vault stays unreachable: bound every run.
            "TimeoutStartSec": f"{timeout_seconds}s",
            "Nice": 10,
            "IOSchedulingClass": "idle",
            "PrivateTmp": "yes",
            "NoNewPrivileges": "yes",
            **hardening,
        },
    }


def _timer(description: str, every_minutes: int, spread_minutes: int) -> dict[str, dict[str, Any]]:
    return {
        "Unit": {"Description": description},
        "Timer": {
            "OnBootSec": "10min",
            "OnUnitActiveSec": f"{every_minutes}min",
            "RandomizedDelaySec": f"{spread_minutes}min",
            "Persistent": "true",
        },
        "Install": {"WantedBy": "timers.target"},
    }


def _timeout(every_minutes: int) -> int:
    """A run may take at most 80% of its interval, and never more than six hours."""
    return min(6 * 3600, max(300, every_minutes * 60 * 8 // 10))


def backup_timeout_seconds(tier: Tier) -> int:
    """How long one run of redundo-backup.service may take (its TimeoutStartSec)."""
    return _timeout(tier.backup_interval_minutes)


def backup_units(tier: Tier) -> dict[str, str]:
    """The primary's units: backup at the tier's interval, prune daily, verify weekly."""
    conf = SETTINGS_FILE
    every = tier.backup_interval_minutes
    return {
        "redundo-backup.service": unit_file(
            _service(
                "redundo: back up the site to the off-site vault",
                f"{BIN_DIR}/redundo-backup backup",
                backup_timeout_seconds(tier),
                conf,
            )
        ),
        "redundo-backup.timer": unit_file(
            _timer(f"redundo: back up every {every} min", every, tier.randomized_delay_minutes)
        ),
        "redundo-prune.service": unit_file(
            _service("redundo: apply the retention policy", f"{BIN_DIR}/redundo-backup prune", 6 * 3600, conf)
        ),
        "redundo-prune.timer": unit_file(_timer("redundo: prune daily", 24 * 60, 60)),
        "redundo-verify.service": unit_file(
            _service("redundo: read back part of the backups", f"{BIN_DIR}/redundo-backup verify", 6 * 3600, conf)
        ),
        "redundo-verify.timer": unit_file(_timer("redundo: verify weekly", 7 * 24 * 60, 120)),
    }


def restore_units(tier: Tier) -> dict[str, str]:
    """The units that follow the primary and watch it: installed on every node of every tier.

    Which of them runs is the node's role, switched over SSH (HostRole). systemd refuses to enable
    or disable a unit file that does not exist (systemd/systemd#9581), so a role switch on a node
    that lacked one would stop the switch half-way; every node therefore carries every unit, and
    only the tier decides which are enabled (a timer on a warm standby, a watchdog with automatic
    failover).
    """
    conf = SETTINGS_FILE
    follow_every = tier.backup_interval_minutes
    return {
        "redundo-restore.service": unit_file(
            _service(
                "redundo: restore the latest snapshot into the live site",
                f"{BIN_DIR}/redundo-restore --live",
                # --live writes the site's paths, which may lie under /etc (web server configuration).
                _timeout(max(tier.backup_interval_minutes, 60)),
                conf,
                read_only_system=False,
            )
        ),
        "redundo-restore.timer": unit_file(
            _timer(f"redundo: follow the primary every {follow_every} min", follow_every, tier.randomized_delay_minutes)
        ),
        "redundo-watchdog.service": unit_file(
            _service(
                "redundo: take over when the primary stops answering",
                f"{BIN_DIR}/redundo-watchdog",
                # the take-over may wait for a follow restore to end, then runs one of its own, then the
                # OVH API's calls
                _timeout(max(tier.backup_interval_minutes, 60)) * 2 + 600,
                conf,
                read_only_system=False,
            )
        ),
        "redundo-watchdog.timer": unit_file(
            {
                "Unit": {"Description": "redundo: check the primary every minute"},
                "Timer": {"OnBootSec": "5min", "OnUnitActiveSec": "1min", "AccuracySec": "10s"},
                "Install": {"WantedBy": "timers.target"},
            }
        ),
    }


def all_units(tier: Tier) -> dict[str, str]:
    """Every unit a node carries, whatever its role: the backup's and the standby's."""
    return {**backup_units(tier), **restore_units(tier)}


def timer_interval_minutes(unit_text: str) -> int | None:
    """The OnUnitActiveSec of a timer unit, in minutes (for the policy that checks the RPO)."""
    for line in unit_text.splitlines():
        if line.startswith("OnUnitActiveSec="):
            value = line.split("=", 1)[1].strip()
            if value.endswith("min") and value[:-3].isdigit():
                return int(value[:-3])
    return None
