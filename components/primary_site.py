"""PrimarySite: the client's web site on one OVHcloud Public Cloud instance."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
from redundo.components import _ovh


class PrimarySiteArgs(TypedDict):
    service_name: pulumi.Input[str]
    """The OVH Public Cloud project id."""
    region: pulumi.Input[str]
    """OVH compute region, such as GRA11."""
    flavor: str
    """OVH flavour name, such as d2-2."""
    ssh_public_key: pulumi.Input[str]
    """OpenSSH public key that may log in as the image's default user."""
    user_data: pulumi.Input[str]
    """cloud-config for the first boot: firewall and backup agent."""
    dns_zone: NotRequired[pulumi.Input[str]]
    """OVH DNS zone that gets the primary's own host name; no record when absent."""
    dns_subdomain: NotRequired[pulumi.Input[str]]
    """Sub-domain of the primary's host record inside dns_zone, such as primary.www."""
    existing_host: NotRequired[str]
    """An existing server adopted as the primary: no instance is created, this is its address."""


class PrimarySite(pulumi.ComponentResource):
    """An OVH instance serving the site, firewalled to the web and SSH, with its own DNS name."""

    instance_id: pulumi.Output[str] | None
    """The OVH instance id; None for an adopted server."""
    ipv4: pulumi.Output[str]
    """The instance's public IPv4 address."""

    def __init__(self, name: str, args: PrimarySiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("redundo:index:PrimarySite", name, None, opts)
        if args.get("existing_host"):
            # The client's server already runs the site: redundo owns none of it, only reaches it over
            # SSH (the agent, the role). To let Pulumi own an OVH instance instead, import it.
            self.instance_id = None
            self.ipv4 = pulumi.Output.from_input(args["existing_host"])
            self._host_record(name, args)
            self.register_outputs({"instance_id": None, "ipv4": self.ipv4})
            return
        if not args["flavor"]:
            raise ValueError("PrimarySite needs a flavor, such as d2-2")
        instance = _ovh.instance(
            f"{name}-instance",
            service_name=args["service_name"],
            region=args["region"],
            flavor=args["flavor"],
            ssh_public_key=args["ssh_public_key"],
            user_data=args["user_data"],
            parent=self,
            # The site's own disk: `redundo destroy` keeps it, and nothing replaces it by accident.
            protect=True,
        )
        self.instance_id = instance.id
        self.ipv4 = _ovh.public_ipv4(instance)
        self._host_record(name, args)
        self.register_outputs({"instance_id": self.instance_id, "ipv4": self.ipv4})

    def _host_record(self, name: str, args: PrimarySiteArgs) -> None:
        if args.get("dns_zone"):
            # A stable name for the primary itself; the site's public name is the Failover
            # record, which may point elsewhere.
            _ovh.host_record(
                f"{name}-host-record",
                zone=args["dns_zone"],
                subdomain=args.get("dns_subdomain", "primary"),
                target=self.ipv4,
                parent=self,
            )
