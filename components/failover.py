"""Failover: the DNS record that sends the site's visitors to whichever node is active."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_ovh as ovh

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
    watchdog: NotRequired[bool]
    """Create the credential a warm standby's watchdog uses to repoint this record by itself."""


class Failover(pulumi.ComponentResource):
    """The site's A record, switched between primary and standby by a stack update."""

    fqdn: pulumi.Output[str]
    """The site's fully qualified name."""
    record_id: pulumi.Output[str]
    """OVH's id of the record (the standby's watchdog edits it when it takes over)."""
    watchdog_client_id: pulumi.Output[str] | None
    """The watchdog's OAuth2 client id, when there is a watchdog."""
    watchdog_client_secret: pulumi.Output[str] | None
    """Its secret (secret)."""

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
            # `redundo destroy` keeps the protected primary, which still serves the site: deleting the
            # record would take the site offline. It is left in the zone, pointing at the node that served.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        # No separate zone refresh: the provider's record resource POSTs /domain/zone/{zone}/refresh
        # itself after every create, update and delete (terraform-provider-ovh
        # ovh/resource_domain_zone_record.go, ovhDomainZoneRefresh).
        self.record_id = record.id
        self.watchdog_client_id = self.watchdog_client_secret = None
        if args.get("watchdog"):
            # Automatic failover has a price: a credential on the standby that can repoint the site.
            # An IAM policy limits it to this zone's records; it cannot touch the backups.
            client = ovh.me.APIOAuth2Client(
                f"{name}-watchdog-client",
                name=pulumi.Output.concat("redundo-", args["dns_zone"], "-watchdog"),
                flow="CLIENT_CREDENTIALS",
                description="redundo: the standby may repoint the site's record",
                opts=pulumi.ResourceOptions(parent=self),
            )
            ovh.iam.Policy(
                f"{name}-watchdog-policy",
                name=pulumi.Output.concat("redundo-", args["dns_zone"], "-watchdog"),
                description="redundo: the standby's watchdog may edit this zone's records only",
                identities=[client.identity],
                resources=[pulumi.Output.concat("urn:v1:eu:resource:dnsZone:", args["dns_zone"])],
                allows=["dnsZone:apiovh:record/get", "dnsZone:apiovh:record/edit", "dnsZone:apiovh:refresh"],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.watchdog_client_id = client.client_id
            self.watchdog_client_secret = pulumi.Output.secret(client.client_secret)
        self.fqdn = pulumi.Output.all(args["subdomain"], args["dns_zone"]).apply(
            lambda parts: ".".join(p for p in parts if p)
        )
        self.register_outputs({"fqdn": self.fqdn, "record_id": self.record_id})
