"""RedundantSite: a primary, an off-site vault, a standby and failover, composed for one tier."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import pulumi

from redundo import cloud_config
from redundo.components.backup_vault import BackupVault
from redundo.components.failover import Failover
from redundo.components.primary_site import PrimarySite
from redundo.components.standby import Standby
from redundo.tiers import Tier


class RedundantSiteArgs(TypedDict):
    tier: Tier
    """The tier whose promise the topology keeps (interval, retention, lock, standby mode, TTL)."""
    service_name: pulumi.Input[str]
    """OVH Public Cloud project id."""
    ssh_public_key: pulumi.Input[str]
    """OpenSSH public key for every host."""
    primary_region: str
    """OVH compute region of the primary."""
    primary_flavor: str
    """OVH flavour of the primary."""
    vault_backend: Literal["aws", "ovh"]
    """Where the backups live: AWS S3 or OVH Object Storage."""
    vault_region: str
    """The vault's region, in another city than the primary."""
    standby_provider: Literal["ovh", "aws"]
    """Where the standby runs: OVH Public Cloud or AWS Lightsail."""
    standby_region: str
    """The standby's region, in another city than the primary."""
    standby_size: str
    """OVH flavour or Lightsail bundle of the standby."""
    admin_cidrs: list[str]
    """Networks allowed to reach SSH on the hosts."""
    active_side: Literal["primary", "standby"]
    """Which node the site's name points at."""
    domain: NotRequired[str]
    """The site's name, such as shop-example.fr; no DNS records without it."""
    dns_zone: NotRequired[str]
    """The OVH zone that holds domain."""


class RedundantSite(pulumi.ComponentResource):
    """One client's site with its copies outside the primary's blast radius."""

    primary: PrimarySite
    vault: BackupVault
    standby: Standby
    active_ipv4: pulumi.Output[str]
    """Address the site's name points at."""

    def __init__(self, name: str, args: RedundantSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:RedundantSite", name, None, opts)
        tier = args["tier"]
        if args["active_side"] not in ("primary", "standby"):
            raise ValueError(f"RedundantSite active_side {args['active_side']!r} is not primary or standby")
        child = pulumi.ResourceOptions(parent=self)
        domain, zone = args.get("domain", ""), args.get("dns_zone", "")
        site_sub = domain[: -len(zone)].rstrip(".") if domain else ""

        def host_sub(role: str) -> str:
            return f"{role}.{site_sub}" if site_sub else role

        self.vault = BackupVault(f"{name}-vault", {
            "backend": args["vault_backend"],
            "region": args["vault_region"],
            "retention_days": tier.retention_days,
            "object_lock_days": tier.object_lock_days,
            "name_prefix": f"redundo-{name}-"[:30],
            "service_name": args["service_name"],
        }, child)
        primary_args = {
            "service_name": args["service_name"],
            "region": args["primary_region"],
            "flavor": args["primary_flavor"],
            "ssh_public_key": args["ssh_public_key"],
            "user_data": cloud_config.render(cloud_config.host_config(
                hostname=f"{name}-primary", admin_cidrs=args["admin_cidrs"], packages=["restic"])),
        }
        if zone:
            primary_args |= {"dns_zone": zone, "dns_subdomain": host_sub("primary")}
        self.primary = PrimarySite(f"{name}-primary", primary_args, child)
        standby_args = {
            "mode": tier.standby_mode,
            "activated": args["active_side"] == "standby",
            "provider": args["standby_provider"],
            "region": args["standby_region"],
            "size": args["standby_size"],
            "ssh_public_key": args["ssh_public_key"],
            "admin_cidrs": list(args["admin_cidrs"]),
            "user_data": cloud_config.render(cloud_config.host_config(
                hostname=f"{name}-standby", admin_cidrs=args["admin_cidrs"], packages=["restic"])),
            "service_name": args["service_name"],
        }
        if zone:
            standby_args |= {"dns_zone": zone, "dns_subdomain": host_sub("standby")}
        self.standby = Standby(f"{name}-standby", standby_args, child)
        on_standby = args["active_side"] == "standby" and self.standby.ipv4 is not None
        self.active_ipv4 = self.standby.ipv4 if on_standby else self.primary.ipv4
        if zone:
            Failover(f"{name}-failover", {
                "dns_zone": zone,
                "subdomain": site_sub,
                "target_ipv4": self.active_ipv4,
                "ttl": tier.dns_ttl_seconds,
            }, child)
        self.register_outputs({"active_ipv4": self.active_ipv4})
