"""The cost model: an itemized monthly EUR estimate of a client's topology, from the catalogue.

Every line names its price's source and date. What the model leaves out is said in the estimate
itself, with a figure where one can be given (a full restore's download), so that a client is
never surprised by a bill we could have foreseen.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from redundo.errors import OperationError, UsageError
from redundo.settings import StackSettings
from redundo.tiers import TIERS

__all__ = [
    "WORKLOAD",
    "Catalogue",
    "CostEstimate",
    "LineItem",
    "best_tier",
    "billing_period",
    "catalogue",
    "estimate",
    "estimate_tiers",
]

HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4


@dataclass(frozen=True)
class Workload:
    """The request and traffic pattern of the backup agent, used to price what S3 bills per call."""

    pack_mib: int = 16
    """restic's target pack size: one PUT per pack of new data."""
    puts_per_backup: int = 10
    """Snapshot, index, lock create/refresh/delete and the heartbeat, per backup run."""
    lists_per_backup: int = 10
    """LIST calls of a backup run (S3 bills LIST at the PUT rate)."""
    gets_per_backup: int = 20
    """Config, key, index and snapshot reads of a backup run."""
    lists_per_prune: int = 200
    """LIST calls of the daily `forget --prune` on a small repository."""
    verify_runs_per_month: float = DAYS_PER_MONTH / 7
    """The weekly `check --read-data-subset`."""


WORKLOAD = Workload()


@dataclass(frozen=True)
class LineItem:
    """One priced part of the topology."""

    part: str
    what: str
    quantity: float
    unit: str
    unit_eur: float
    source: str
    date: str
    status: str = "V"

    @property
    def monthly_eur(self) -> float:
        return self.quantity * self.unit_eur


@dataclass(frozen=True)
class CostEstimate:
    """What one client's topology costs a month, item by item, and what the figure does not include."""

    tier: str
    data_gb: float
    items: tuple[LineItem, ...]
    assumptions: tuple[str, ...]
    exclusions: tuple[str, ...]

    @property
    def monthly_eur(self) -> float:
        return round(sum(i.monthly_eur for i in self.items), 2)

    @property
    def redundancy_eur(self) -> float:
        """The part redundo adds on top of the primary site itself."""
        return round(sum(i.monthly_eur for i in self.items if i.part != "primary"), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "data_gb": self.data_gb,
            "monthly_eur": self.monthly_eur,
            "redundancy_eur": self.redundancy_eur,
            "items": [
                {
                    "part": i.part,
                    "what": i.what,
                    "quantity": round(i.quantity, 4),
                    "unit": i.unit,
                    "unit_eur": round(i.unit_eur, 6),
                    "monthly_eur": round(i.monthly_eur, 4),
                    "source": i.source,
                    "date": i.date,
                    "status": i.status,
                }
                for i in self.items
            ],
            "assumptions": list(self.assumptions),
            "exclusions": list(self.exclusions),
        }


class Catalogue:
    """The price catalogue file, with USD converted to EUR at its stated rate."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.usd_per_eur: float = data["fx"]["usd_per_eur"]

    def eur(self, usd: float) -> float:
        return usd / self.usd_per_eur

    @property
    def fx_note(self) -> str:
        fx = self.data["fx"]
        return f"USD converted at 1 EUR = {self.usd_per_eur} USD ({fx['source']}, {fx['date']})"

    def ovh_instance(self, flavor: str) -> dict[str, Any]:
        return self.data["ovh"]["instance"][flavor]

    def lightsail(self, bundle: str) -> dict[str, Any]:
        return self.data["aws"]["lightsail"][bundle]

    def aws_region(self, region: str) -> dict[str, Any]:
        return self.data["aws"]["region"][region]

    @property
    def ovh_storage(self) -> dict[str, Any]:
        return self.data["ovh"]["object_storage"]


def billing_period(flavor: str, cat: Catalogue | None = None) -> str:
    """How an OVH instance of `flavor` is billed: "monthly" only where OVH sells a monthly plan for it
    (third-generation b3/c3/r3 flavours have none, OVH KB0050553), else "hourly", which every
    flavour has. The estimate prices it the same way, so the bill and the estimate agree."""
    cat = cat or catalogue()
    try:
        row = cat.ovh_instance(flavor)
    except KeyError:
        raise ValueError(
            f"flavour {flavor} is not in redundo's price catalogue; use one of: "
            f"{', '.join(cat.data['ovh']['instance'])}"
        ) from None
    return "monthly" if row["monthly_plan"] else "hourly"


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    text = resources.files("redundo").joinpath("prices.toml").read_text(encoding="utf-8")
    return Catalogue(tomllib.loads(text))


def _instance_item(
    cat: Catalogue, part: str, provider: str, size: str, region: str, *, quantity: float = 1.0, note: str = ""
) -> LineItem:
    if provider == "ovh":
        row = cat.ovh_instance(size)
        billing = (
            "monthly plan"
            if row["monthly_plan"]
            else f"billed hourly (no monthly plan), {HOURS_PER_MONTH} h at €{row['hourly_eur']}/h"
        )
        return LineItem(
            part,
            f"OVH {size} instance in {region}, {billing}{note}",
            quantity,
            "month",
            row["monthly_eur"],
            row["source"],
            row["date"],
            row["status"],
        )
    row = cat.lightsail(size)
    return LineItem(
        part,
        f"AWS Lightsail {size} in {region}{note}",
        quantity,
        "month",
        cat.eur(row["usd_per_month"]),
        row["source"],
        row["date"],
        row["status"],
    )


def estimate(settings: StackSettings, cat: Catalogue | None = None) -> CostEstimate:
    """Itemize the monthly cost of `settings`' topology for its data size."""
    cat = cat or catalogue()
    tier, wl = settings.tier, WORKLOAD
    data_gb, churn = settings.data_gb, settings.change_rate_percent / 100
    stored_gb = data_gb * (1 + churn * tier.retention_days)
    new_gb_month = data_gb * churn * DAYS_PER_MONTH
    runs = DAYS_PER_MONTH * 24 * 60 / tier.backup_interval_minutes
    packs = new_gb_month * 1024 / wl.pack_mib
    verify_gb = stored_gb * tier.verify_subset_percent / 100 * wl.verify_runs_per_month
    warm = tier.standby_mode == "warm"
    sync_runs = runs if warm else 0.0
    sync_gb = new_gb_month if warm else 0.0
    write_calls = runs * (wl.puts_per_backup + wl.lists_per_backup) + packs + DAYS_PER_MONTH * wl.lists_per_prune
    read_calls = (runs + sync_runs) * wl.gets_per_backup + (verify_gb + sync_gb) * 1024 / wl.pack_mib
    egress_gb = verify_gb + sync_gb

    items = [_instance_item(cat, "primary", "ovh", settings.primary_flavor, settings.primary_region)]
    vault = settings.vault_location
    if vault.provider == "aws":
        row = cat.aws_region(vault.region)
        src, date = row["source"], row["date"]
        items += [
            LineItem(
                "vault",
                f"S3 Standard in {vault.region}: {stored_gb:.1f} GB stored",
                stored_gb,
                "GB-month",
                cat.eur(row["s3_usd_per_gb_month"]),
                src,
                date,
            ),
            LineItem(
                "vault",
                f"S3 PUT/LIST requests: {runs:.0f} backups, {packs:.0f} packs, daily prune",
                write_calls / 1000,
                "1k requests",
                cat.eur(row["s3_put_usd_per_1k"]),
                src,
                date,
            ),
            LineItem(
                "vault",
                "S3 GET requests: weekly verification" + (", warm-standby sync" if warm else ""),
                read_calls / 1000,
                "1k requests",
                cat.eur(row["s3_get_usd_per_1k"]),
                src,
                date,
            ),
            LineItem(
                "vault",
                "transfer out of AWS: weekly verification read" + (", standby sync" if warm else ""),
                egress_gb,
                "GB",
                cat.eur(row["egress_usd_per_gb"]),
                src,
                date,
            ),
        ]
        restore_eur = data_gb * cat.eur(row["egress_usd_per_gb"])
    else:
        row = cat.ovh_storage
        items += [
            LineItem(
                "vault",
                f"OVH Object Storage Standard in {vault.region}: {stored_gb:.1f} GB stored",
                stored_gb,
                "GB-month",
                row["storage_eur_per_gb_month"],
                row["storage_source"],
                row["storage_date"],
                row["storage_status"],
            ),
            LineItem(
                "vault",
                "Object Storage requests",
                (write_calls + read_calls) / 1000,
                "1k requests",
                row["request_eur_per_1k"],
                row["request_source"],
                row["request_date"],
                row["request_status"],
            ),
            LineItem(
                "vault",
                "Object Storage transfer out: weekly verification read" + (", standby sync" if warm else ""),
                egress_gb,
                "GB",
                row["egress_eur_per_gb"],
                row["egress_source"],
                row["egress_date"],
                row["egress_status"],
            ),
        ]
        restore_eur = data_gb * row["egress_eur_per_gb"]

    standby = settings.standby_size
    at_failover = _instance_item(cat, "standby", standby.provider, standby.size, settings.standby_region)
    if tier.standby_mode == "cold":
        items.append(
            _instance_item(
                cat,
                "standby",
                standby.provider,
                standby.size,
                settings.standby_region,
                quantity=0.0,
                note=" (cold: created only at failover)",
            )
        )
    else:
        items.append(
            _instance_item(
                cat, "standby", standby.provider, standby.size, settings.standby_region, note=f" ({tier.standby_mode})"
            )
        )

    assumptions = (
        f"{data_gb:g} GB of site data changing {settings.change_rate_percent:g}% a day, "
        f"kept {tier.retention_days} days ({stored_gb:.1f} GB in the vault, "
        "before restic's compression and deduplication)",
        f"a backup every {tier.backup_interval_minutes} min, a prune a day, a {tier.verify_subset_percent}% "
        "read-back check a week",
        cat.fx_note,
        "no free tier is applied (AWS's first 100 GB of transfer a month are free per account)",
    )
    exclusions = (
        "VAT (20% in France, 19% in Germany)",
        f"a full restore downloads about {data_gb:g} GB from the vault: about €{restore_eur:.2f} each time",
        (
            f"a cold standby costs about €{at_failover.monthly_eur:.2f}/month while it runs after a failover"
            if tier.standby_mode == "cold"
            else "the standby's extra traffic while it serves after a failover"
        ),
        "the domain name and its DNS zone (included with a domain registered at OVHcloud)",
    )
    return CostEstimate(tier.name, data_gb, tuple(items), assumptions, exclusions)


def estimate_tiers(settings: StackSettings) -> list[CostEstimate]:
    """The estimate of every tier for this client's sites and data, cheapest promise first."""
    return [estimate(settings.with_tier(tier)) for tier in TIERS.values()]


def best_tier(settings: StackSettings, budget_eur: float) -> CostEstimate:
    """The tier with the strongest promise whose redundancy fits `budget_eur`.

    The budget is what the client pays for redundancy on top of the site's own server (the
    primary, which the client pays for anyway): a freelancer quotes "€5 a month more"."""
    if not budget_eur > 0 or budget_eur == float("inf"):
        raise UsageError(f"budget {budget_eur:g} is not a positive amount of EUR a month; pass one such as --budget 15")
    estimates = estimate_tiers(settings)
    fitting = [e for e in estimates if e.redundancy_eur <= budget_eur]
    if not fitting:
        cheapest = min(estimates, key=lambda e: e.redundancy_eur)
        raise OperationError(
            f"no tier fits €{budget_eur:.2f}/month of redundancy for {settings.data_gb:g} GB; the cheapest, "
            f"{cheapest.tier}, adds €{cheapest.redundancy_eur:.2f}/month "
            f"(€{cheapest.monthly_eur:.2f}/month with the primary's server)"
        )
    return fitting[-1]
