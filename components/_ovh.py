"""Lookups shared by the OVH instances of PrimarySite and Standby."""

from __future__ import annotations

import pulumi
import pulumi_ovh as ovh

# Debian's stable release: its restic (0.18) restores incrementally, which the warm standby needs.
IMAGE_NAME = "Debian 13"


def flavor_id(service_name: pulumi.Input[str], region: pulumi.Input[str], flavor: str,
              opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    """The id of flavour `flavor` in `region` (OVH instances take ids, which differ by region)."""
    found = ovh.cloudproject.get_flavors_output(service_name=service_name, region=region,
                                                name_filter=flavor, opts=opts)

    def pick(result: ovh.cloudproject.GetFlavorsResult) -> str:
        for item in result.flavors:
            if item.name == flavor and item.os_type == "linux":
                return item.id
        raise ValueError(f"flavour {flavor} is not offered in {result.region}; pick another primaryFlavor")
    return found.apply(pick)


def image_id(service_name: pulumi.Input[str], region: pulumi.Input[str],
             opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    """The id of the Debian image in `region`."""
    found = ovh.cloudproject.get_images_output(service_name=service_name, region=region, os_type="linux",
                                               opts=opts)

    def pick(result: ovh.cloudproject.GetImagesResult) -> str:
        for item in result.images:
            if item.name == IMAGE_NAME:
                return item.id
        raise ValueError(f"image {IMAGE_NAME!r} is not offered in {result.region}")
    return found.apply(pick)


def public_ipv4(instance: ovh.cloudproject.Instance) -> pulumi.Output[str]:
    """The instance's public IPv4 address."""
    return instance.addresses.apply(lambda addrs: next(a.ip for a in addrs if a.version == 4))


def instance(name: str, *, service_name: pulumi.Input[str], region: pulumi.Input[str], flavor: str,
             ssh_public_key: pulumi.Input[str], user_data: pulumi.Input[str],
             parent: pulumi.Resource) -> ovh.cloudproject.Instance:
    """A monthly-billed Debian instance on the public network, its SSH key registered with it."""
    invoke_opts = pulumi.InvokeOutputOptions(parent=parent)
    return ovh.cloudproject.Instance(
        name,
        service_name=service_name,
        region=region,
        name=name,
        billing_period="monthly",
        flavor={"flavor_id": flavor_id(service_name, region, flavor, invoke_opts)},
        boot_from={"image_id": image_id(service_name, region, invoke_opts)},
        ssh_key_create={"name": f"{name}-key", "public_key": ssh_public_key},
        network={"public": True},
        user_data=user_data,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def host_record(name: str, *, zone: pulumi.Input[str], subdomain: pulumi.Input[str],
                target: pulumi.Input[str], parent: pulumi.Resource) -> ovh.domain.ZoneRecord:
    """A host's own A record (primary.<site>, standby.<site>), for SSH and drills."""
    return ovh.domain.ZoneRecord(
        name,
        zone=zone,
        subdomain=subdomain,
        fieldtype="A",
        target=target,
        ttl=300,
        opts=pulumi.ResourceOptions(parent=parent),
    )
