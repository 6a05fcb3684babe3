"""Failover: the DNS record that sends the site's visitors to whichever node is active."""

from __future__ import annotations

from typing import TypedDict

import sys

import pulumi
import pulumi_ovh as ovh
from pulumi_command import local

OVH_MIN_TTL = 60


class FailoverArgs(TypedDict):
    dns_zone: pulumi.Input[str]
    """The OVH DNS zone that holds the site's name, such as shop-example.fr."""
    subdomain: pulumi.Input[str]
    """The site's name inside the zone: "" for the apex, or www."""
    target_ipv4: pulumi.Input[str]
    """Address of the active node (the primary, or the standby after a failover)."""
    ttl: int
    """Seconds resolvers may cache the answer; bounds how long visitors keep going to a dead node."""


class Failover(pulumi.ComponentResource):
    """The site's A record, switched between primary and standby by a stack update."""

    fqdn: pulumi.Output[str]
    """The site's fully qualified name."""

    def __init__(self, name: str, args: FailoverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:Failover", name, None, opts)
        if args["ttl"] < OVH_MIN_TTL:
            raise ValueError(f"Failover ttl is {args['ttl']} s; OVH DNS accepts no less than {OVH_MIN_TTL} s")
        record = ovh.domain.ZoneRecord(
            f"{name}-site-record",
            zone=args["dns_zone"],
            subdomain=args["subdomain"],
            fieldtype="A",
            target=args["target_ipv4"],
            ttl=args["ttl"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # OVH may keep serving the old record until the zone is refreshed (terraform-provider-ovh#1290),
        # and the provider has no resource for that: the deployer's machine calls the API.
        local.Command(
            f"{name}-zone-refresh",
            create=f'"{sys.executable}" -m redundo.ovh_api refresh "$ZONE"',
            environment={"ZONE": args["dns_zone"]},
            triggers=[args["target_ipv4"], args["ttl"]],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[record]),
        )
        self.fqdn = pulumi.Output.all(args["subdomain"], args["dns_zone"]).apply(
            lambda parts: ".".join(p for p in parts if p))
        self.register_outputs({"fqdn": self.fqdn})
