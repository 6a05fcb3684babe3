"""The tier ladder, as data: every number a tier promises or configures lives here and nowhere else.

The three rungs follow AWS's Well-Architected disaster-recovery strategies, priced for a small
shop: backup & restore, pilot light and warm standby. The README justifies each number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redundo.errors import ConfigError

__all__ = ["TIERS", "TIER_NAMES", "StandbyMode", "Tier", "get_tier"]

StandbyMode = Literal["cold", "pilot", "warm"]


@dataclass(frozen=True)
class Tier:
    """What one tier promises (RPO, RTO, what it survives) and how it is built to keep the promise."""

    name: str
    strategy: str
    """The disaster-recovery strategy, in the words of AWS's DR whitepaper."""
    backup_interval_minutes: int
    """How often the primary's backup timer fires."""
    rpo_minutes: int
    """Most data a client can lose: the interval plus the timer's random delay plus a backup's run."""
    rto_minutes: int
    """Longest time from disaster to the site serving again, including a person reacting."""
    retention_days: int
    """How long snapshots and non-current object versions are kept."""
    keep_hourly: int
    """Hourly snapshots kept by `restic forget` on top of one a day for retention_days."""
    object_lock_days: int
    """Compliance-mode object lock on every backup object; 0 means no lock."""
    standby_mode: StandbyMode
    """cold: described and costed, created at failover; pilot: exists, smallest, idle; warm: running and restored."""
    dns_ttl_seconds: int
    """TTL of the record that points the site at its active node (OVH's minimum is 60)."""
    automatic_failover: bool
    """Whether the standby takes over without a person when the primary stops answering."""
    verify_subset_percent: int
    """Share of the repository's data read back and checked each week (`restic check --read-data-subset`)."""
    survives: tuple[str, ...]
    """Disasters this tier recovers from, in a client's words."""
    does_not_survive: tuple[str, ...]
    """Disasters it does not cover, said as plainly."""

    @property
    def randomized_delay_minutes(self) -> int:
        """Spread of the backup timer, so a fleet of clients does not hit the vault at once."""
        return max(1, self.backup_interval_minutes // 10)


_COMMON_SURVIVES = (
    "the primary's data centre burning or flooding",
    "the primary instance deleted or its disk lost",
    "a file deleted or overwritten by mistake (restore an older snapshot)",
)
_COMMON_GAPS = (
    "both OVHcloud and AWS losing their sites in the same hour",
    "changes made after the last backup (see RPO)",
)

TIERS: dict[str, Tier] = {
    "basic": Tier(
        name="basic",
        strategy="backup & restore",
        backup_interval_minutes=24 * 60,
        rpo_minutes=24 * 60 + 4 * 60,
        rto_minutes=8 * 60,
        retention_days=30,
        keep_hourly=0,
        object_lock_days=0,
        standby_mode="cold",
        dns_ttl_seconds=3600,
        automatic_failover=False,
        verify_subset_percent=2,
        survives=_COMMON_SURVIVES,
        does_not_survive=(*_COMMON_GAPS, "ransomware holding the primary's key longer than 30 days"),
    ),
    "standard": Tier(
        name="standard",
        strategy="pilot light",
        backup_interval_minutes=60,
        rpo_minutes=90,
        rto_minutes=2 * 60,
        retention_days=90,
        keep_hourly=48,
        object_lock_days=0,
        standby_mode="pilot",
        dns_ttl_seconds=300,
        automatic_failover=False,
        verify_subset_percent=5,
        survives=(*_COMMON_SURVIVES, "ransomware on the primary, found within 90 days"),
        does_not_survive=(*_COMMON_GAPS, "an attacker holding the vault's administrator account"),
    ),
    "premium": Tier(
        name="premium",
        strategy="warm standby",
        backup_interval_minutes=15,
        rpo_minutes=30,
        rto_minutes=20,
        retention_days=180,
        keep_hourly=72,
        object_lock_days=30,
        standby_mode="warm",
        dns_ttl_seconds=60,
        automatic_failover=True,
        verify_subset_percent=10,
        survives=(
            *_COMMON_SURVIVES,
            "ransomware on the primary, found within 180 days",
            "an attacker deleting backups with any key, for the 30-day lock",
            "the primary going dark at night with nobody awake: the standby takes over after 5 missed checks",
        ),
        does_not_survive=_COMMON_GAPS,
    ),
}

TIER_NAMES: tuple[str, ...] = tuple(TIERS)


def get_tier(name: str) -> Tier:
    """The tier called `name`, or a ConfigError that lists the tiers there are."""
    try:
        return TIERS[name]
    except KeyError:
        raise ConfigError(f"unknown tier {name!r}; choose one of: {', '.join(TIER_NAMES)}") from None
