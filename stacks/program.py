"""The stack program: read the `redundo:` config, build the providers, wire one RedundantSite, export.

`pulumi up` runs it through `stacks/__main__.py`; `redundo plan` runs the same function in-process
under mocks; `redundo up` hands it to the Automation API.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi

from redundo import _lazy_sdk

# Before the SDKs' first import: `import pulumi_ovh` and aws.s3 and their kind would import every
# resource module of the package; this program uses a few of each, so only those load (half of a
# plan's start-up).
_lazy_sdk.install()

import pulumi_aws as aws  # noqa: E402
import pulumi_ovh as ovh  # noqa: E402
from redundo.components.redundant_site import RedundantSite  # noqa: E402

from redundo.pricing import estimate  # noqa: E402
from redundo.settings import CONFIG_KEYS, NAMESPACE, StackSettings, parse_settings  # noqa: E402


def read_settings() -> StackSettings:
    """The stack's settings from Pulumi config (every value arrives as a string)."""
    config = pulumi.Config(NAMESPACE)
    raw = {key: config.get(key) for key in CONFIG_KEYS}
    return parse_settings(pulumi.get_stack(), {k: v for k, v in raw.items() if v is not None})


class SshAccess(TypedDict, total=False):
    ssh_private_key: pulumi.Output[str]


def ssh_access() -> SshAccess:
    """How credentials reach the hosts: a private key kept as a Pulumi secret, else the ssh-agent.

    The agent's socket is not passed: pulumi-command reads SSH_AUTH_SOCK from its environment when no
    key is given, and a socket path in the inputs (new with each login) would re-run every command.
    """
    key = pulumi.Config(NAMESPACE).get_secret("sshPrivateKey")
    return {"ssh_private_key": key} if key is not None else {}


def main() -> None:
    settings = read_settings()
    tier = settings.tier
    tags = {"redundo:stack": settings.stack, "redundo:tier": tier.name}
    providers: dict[str, pulumi.ProviderResource] = {
        "ovh": ovh.Provider("ovh", endpoint=pulumi.Config("ovh").get("endpoint") or "ovh-eu"),
    }
    aws_regions = [loc.region for loc in (settings.vault_location, settings.standby_location) if loc.provider == "aws"]
    if aws_regions:
        # One AWS provider serves every region: pulumi-aws 7 takes a region on each resource, so
        # the provider's own region only matters for IAM, which is global.
        providers["aws"] = aws.Provider("aws", region=aws_regions[0], default_tags={"tags": tags})
    site = RedundantSite(
        settings.stack,
        {
            "tier": tier,
            "service_name": settings.ovh_service_name,
            "ssh_public_key": settings.ssh_public_key,
            "primary_region": settings.primary_region,
            "primary_flavor": settings.primary_flavor,
            "vault_backend": settings.backup_provider,
            "vault_region": settings.backup_region,
            "standby_provider": settings.standby_provider,
            "standby_region": settings.standby_region,
            "standby_size": settings.standby_size.size,
            "admin_cidrs": list(settings.admin_cidrs),
            "active_side": settings.active_side,
            "domain": settings.domain,
            "dns_zone": settings.dns_zone,
            "site_paths": list(settings.site_paths),
            "database": settings.database,
            "database_name": settings.database_name,
            "switch_token": settings.switched_at,
            "site_profile": settings.site_profile,
            "profile": settings.profile,
            "custom_cloud_config": settings.custom_cloud_config,
            "primary_host": settings.primary_host,
            "primary_user": settings.primary_user,
            "primary_port": settings.primary_port,
            **ssh_access(),
        },
        pulumi.ResourceOptions(providers=providers),
    )

    cost = estimate(settings)
    pulumi.export("tier", tier.name)
    pulumi.export("rpoMinutes", tier.rpo_minutes)
    pulumi.export("rtoMinutes", tier.rto_minutes)
    pulumi.export("monthlyCostEur", cost.monthly_eur)
    pulumi.export("activeSide", settings.active_side)
    pulumi.export("siteName", settings.domain)
    pulumi.export("primaryIpv4", site.primary.ipv4)
    pulumi.export("standbyMode", tier.standby_mode)
    pulumi.export("standbyProvider", settings.standby_provider)
    pulumi.export("standbyIpv4", site.standby.ipv4)
    # Pinned at first contact; `redundo` refuses any other key when it connects (drills, failback).
    pulumi.export("primaryHostKey", site.primary_host_key)
    pulumi.export("standbyHostKey", site.standby_host_key)
    pulumi.export("vaultBucket", site.vault.bucket)
    pulumi.export("vaultEndpoint", site.vault.endpoint)
    pulumi.export("vaultRegion", site.vault.region)
    pulumi.export("vaultRepository", site.vault.repository)
    pulumi.export("repositoryPassword", site.vault.repository_password)
    pulumi.export("writerAccessKeyId", site.vault.writer_access_key_id)
    pulumi.export("writerSecretAccessKey", site.vault.writer_secret_access_key)
    pulumi.export("readerAccessKeyId", site.vault.reader_access_key_id)
    pulumi.export("readerSecretAccessKey", site.vault.reader_secret_access_key)
