"""Lookups shared by the OVH instances of PrimarySite and Standby."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_ovh as ovh
import pulumi_random as random

from redundo.debian import OVH_IMAGE_NAME
from redundo.pricing import billing_period

# The same release as the Lightsail standby and the profiles' package names (redundo/debian.py).
IMAGE_NAME = OVH_IMAGE_NAME
# Marks a flavour or image id the region did not list: fine for an instance that exists (both are
# held), refused by the before-create hook for a new one.
UNRESOLVED = "unresolved:"


def flavor_id(
    service_name: pulumi.Input[str], region: pulumi.Input[str], flavor: str, opts: pulumi.InvokeOutputOptions
) -> pulumi.Output[str]:
    """The id of flavour `flavor` in `region` (OVH instances take ids, which differ by region)."""
    found = ovh.cloudproject.get_flavors_output(service_name=service_name, region=region, name_filter=flavor, opts=opts)

    def pick(result: ovh.cloudproject.GetFlavorsResult) -> str:
        for item in result.flavors:
            if item.name == flavor and item.os_type == "linux":
                return item.id
        if not result.flavors:
            # The region lists nothing (an outage, a retired region): an existing instance keeps its
            # flavour (held by ignore_changes), so the program goes on; only a new one is refused.
            return f"{UNRESOLVED}flavour {flavor} is not offered in {result.region} (the region lists no flavour)"
        raise ValueError(f"flavour {flavor} is not offered in {result.region}; pick another primaryFlavor")

    return found.apply(pick)


def image_id(
    service_name: pulumi.Input[str], region: pulumi.Input[str], opts: pulumi.InvokeOutputOptions
) -> pulumi.Output[str]:
    """The id of the Debian image in `region`."""
    found = ovh.cloudproject.get_images_output(service_name=service_name, region=region, os_type="linux", opts=opts)

    def pick(result: ovh.cloudproject.GetImagesResult) -> str:
        for item in result.images:
            if item.name == IMAGE_NAME:
                return item.id
        if not result.images:
            return f"{UNRESOLVED}image {IMAGE_NAME!r} is not offered in {result.region} (the region lists no image)"
        raise ValueError(f"image {IMAGE_NAME!r} is not offered in {result.region}")

    return found.apply(pick)


def refuse_unresolved(args: pulumi.ResourceHookArgs) -> None:
    """Before the engine creates an instance (never for one that exists): stop with one line when its
    flavour or image could not be looked up, instead of sending OVH a placeholder id."""
    inputs = args.new_inputs or {}
    for value in ((inputs.get("flavor") or {}).get("flavorId"), (inputs.get("bootFrom") or {}).get("imageId")):
        if isinstance(value, str) and value.startswith(UNRESOLVED):
            raise RuntimeError(
                f"cannot create {args.name}: {value[len(UNRESOLVED) :]}; retry when the region "
                "answers, or pick another region"
            )


def _before_create(name: str) -> pulumi.ResourceHookBinding | None:
    """The engine's before-create check; not under mocks (`redundo plan`), where a hook would start a
    gRPC callback server in the planning process and the engine never creates anything anyway."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor

    if isinstance(get_monitor(), MockMonitor):
        return None
    return pulumi.ResourceHookBinding(before_create=[pulumi.ResourceHook(f"{name}-unresolved", refuse_unresolved)])


def public_ipv4(instance: ovh.cloudproject.Instance) -> pulumi.Output[str]:
    """The instance's public IPv4 address."""

    def first_ipv4(addresses: Sequence[ovh.cloudproject.outputs.InstanceAddress]) -> str:
        ip = next(a.ip for a in addresses if a.version == 4)
        if ip is None:  # the provider types it optional; an IPv4 entry without its address is no address
            raise ValueError("OVH listed an IPv4 entry without its address for this instance")
        return ip

    return instance.addresses.apply(first_ipv4)


# Every input of an OVH instance forces a new one (terraform-provider-ovh
# ovh/resource_cloud_project_instance.go: all ForceNew, no Update), and a new one starts empty.
# These change without anyone meaning to rebuild the host, so they are held at their first value:
# user data only bootstraps (the agent is rolled over SSH), the image id comes from a lookup by
# name that OVH re-ids (ovh/terraform-provider-ovh#631), the deployer's key rotates over SSH,
# and a flavour change would be a rebuild, not a resize (resize through the OVH API instead).
# billingPeriod follows the flavour (monthly where OVH sells it, else hourly) and is ForceNew too.
HELD_INSTANCE_INPUTS = ["userData", "bootFrom", "sshKeyCreate", "flavor", "billingPeriod"]
# A standby holds no unique data (a copy of the vault): a size change replaces it on purpose, with
# the guard's consent (--allow-replace), rather than leaving it at the old size while the estimate
# prices the new one.
HELD_STANDBY_INPUTS = ["userData", "bootFrom", "sshKeyCreate"]


def instance(
    name: str,
    *,
    service_name: pulumi.Input[str],
    region: pulumi.Input[str],
    flavor: str,
    ssh_public_key: pulumi.Input[str],
    user_data: pulumi.Input[str],
    parent: pulumi.Resource,
    protect: bool = False,
) -> ovh.cloudproject.Instance:
    """A Debian instance on the public network, its SSH key registered with it, billed monthly where
    OVH sells the flavour monthly and hourly otherwise (third-generation flavours have no monthly plan).

    protect=True (the primary) makes the engine itself refuse to delete or replace it, and holds its
    flavour; a standby (protect=False) is rebuilt when its size changes."""
    invoke_opts = pulumi.InvokeOutputOptions(parent=parent)
    # OpenStack key pair names are unique per region: a replacement built next to the old instance
    # (create before delete) must not ask for the old one's name.
    key_suffix = random.RandomId(
        f"{name}-key-id", byte_length=4, keepers={"region": region}, opts=pulumi.ResourceOptions(parent=parent)
    )
    return ovh.cloudproject.Instance(
        name,
        service_name=service_name,
        region=region,
        name=name,
        billing_period=billing_period(flavor),
        flavor={"flavor_id": flavor_id(service_name, region, flavor, invoke_opts)},
        boot_from={"image_id": image_id(service_name, region, invoke_opts)},
        ssh_key_create={"name": pulumi.Output.concat(name, "-key-", key_suffix.hex), "public_key": ssh_public_key},
        network={"public": True},
        user_data=user_data,
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=protect,
            ignore_changes=HELD_INSTANCE_INPUTS if protect else HELD_STANDBY_INPUTS,
            hooks=_before_create(name),
        ),
    )


def host_record(
    name: str,
    *,
    zone: pulumi.Input[str],
    subdomain: pulumi.Input[str],
    target: pulumi.Input[str],
    parent: pulumi.Resource,
) -> ovh.domain.ZoneRecord:
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
