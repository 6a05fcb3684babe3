"""Standby: the instance that takes over the site, on another site than the primary."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
from redundo.components import _ovh

from redundo.cloud_config import WEB_PORTS
from redundo.debian import LIGHTSAIL_BLUEPRINT

StandbyMode = Literal["cold", "pilot", "warm"]


class StandbyArgs(TypedDict):
    mode: StandbyMode
    """cold: nothing runs until a failover; pilot: smallest instance, idle; warm: running and kept restored."""
    activated: bool
    """True during a failover: the standby exists and serves whatever its mode."""
    provider: Literal["ovh", "aws"]
    """ovh: a Public Cloud instance in another region; aws: a Lightsail instance."""
    region: pulumi.Input[str]
    """OVH compute region or AWS region."""
    size: str
    """OVH flavour or Lightsail bundle id."""
    ssh_public_key: pulumi.Input[str]
    """OpenSSH public key for the image's default user."""
    user_data: pulumi.Input[str]
    """cloud-config for the first boot: firewall and restore tooling."""
    admin_cidrs: list[str]
    """Networks allowed to reach SSH (Lightsail's firewall; OVH hosts enforce it themselves)."""
    service_name: NotRequired[pulumi.Input[str]]
    """OVH Public Cloud project id; required for an OVH standby."""
    dns_zone: NotRequired[pulumi.Input[str]]
    """OVH DNS zone that gets the standby's own host name; no record when absent."""
    dns_subdomain: NotRequired[pulumi.Input[str]]
    """Sub-domain of the standby's host record, such as standby.www."""


class Standby(pulumi.ComponentResource):
    """A standby instance, or (cold) the description of one to be created at failover."""

    exists: bool
    """Whether an instance is created now (pilot, warm, or any mode once activated)."""
    ipv4: pulumi.Output[str] | None
    """The standby's public IPv4 address, when it exists."""
    instance_id: pulumi.Output[str] | None
    """The standby instance's id, when it exists (a new instance on the same address is a new host)."""

    def __init__(self, name: str, args: StandbyArgs, opts: pulumi.ResourceOptions | None = None):
        # Where the standby lives is registered even when nothing is created yet (cold): the
        # policy pack holds a planned standby to the same blast-radius rule as a running one.
        planned = {"mode": args["mode"], "provider": args["provider"], "region": args["region"]}
        super().__init__("redundo:index:Standby", name, planned, opts)
        if args["mode"] not in ("cold", "pilot", "warm"):
            raise ValueError(f"Standby mode {args['mode']!r} is not one of cold, pilot, warm")
        if args["provider"] == "ovh" and not args.get("service_name"):
            raise ValueError("an OVH Standby needs service_name (the OVH project id)")
        self.exists = args["mode"] != "cold" or args["activated"]
        self.ipv4 = self.instance_id = None
        if self.exists:
            build = self._build_ovh if args["provider"] == "ovh" else self._build_lightsail
            self.ipv4, self.instance_id = build(name, args)
            if args.get("dns_zone"):
                _ovh.host_record(
                    f"{name}-host-record",
                    zone=args["dns_zone"],
                    subdomain=args.get("dns_subdomain", "standby"),
                    target=self.ipv4,
                    parent=self,
                )
        self.register_outputs({**planned, "exists": self.exists, "ipv4": self.ipv4})

    def _build_ovh(self, name: str, args: StandbyArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        instance = _ovh.instance(
            f"{name}-instance",
            service_name=args["service_name"],
            region=args["region"],
            flavor=args["size"],
            ssh_public_key=args["ssh_public_key"],
            user_data=args["user_data"],
            parent=self,
        )
        return _ovh.public_ipv4(instance), instance.id

    def _build_lightsail(self, name: str, args: StandbyArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        key = aws.lightsail.KeyPair(f"{name}-key", public_key=args["ssh_public_key"], region=args["region"], opts=child)
        instance = aws.lightsail.Instance(
            f"{name}-instance",
            region=args["region"],
            availability_zone=pulumi.Output.concat(args["region"], "a"),
            blueprint_id=LIGHTSAIL_BLUEPRINT,
            bundle_id=args["size"],
            key_pair_name=key.name,
            user_data=args["user_data"],
            opts=child,
        )
        # Lightsail opens 22 to the world by default; this replaces its rules with the site's needs.
        ports: list[aws.lightsail.InstancePublicPortsPortInfoArgsDict] = [
            {"protocol": "tcp", "from_port": p, "to_port": p, "cidrs": ["0.0.0.0/0"], "ipv6_cidrs": ["::/0"]}
            for p in WEB_PORTS
        ]
        v4 = [c for c in args["admin_cidrs"] if ":" not in c]
        v6 = [c for c in args["admin_cidrs"] if ":" in c]
        ports.append({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": v4, "ipv6_cidrs": v6})
        aws.lightsail.InstancePublicPorts(
            f"{name}-ports", instance_name=instance.name, region=args["region"], port_infos=ports, opts=child
        )
        return instance.public_ip_address, instance.id
