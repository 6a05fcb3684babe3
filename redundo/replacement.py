"""What must never be replaced or deleted by accident, and which inputs would force it.

Two readers: the replacement guard reads the engine's step events of a preview and refuses a run
that would replace or delete a stateful resource; `redundo plan --diff` compares two offline
syntheses with the table of replace-forcing inputs below. Each entry cites the provider source it
comes from (file and attribute), so that a provider upgrade can be checked against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["FORCE_NEW", "STATEFUL_TYPES", "Hazard", "ReplacementGuard", "refusal", "replace_keys"]

# Resource types whose loss loses data, or the only way to read it.
STATEFUL_TYPES: dict[str, str] = {
    "ovh:CloudProject/instance:Instance": "an OVH instance (its disk holds the site)",
    "aws:lightsail/instance:Instance": "a Lightsail instance (its disk holds the site)",
    "aws:s3/bucket:Bucket": "the vault's bucket (the backups)",
    "aws:s3/bucketV2:BucketV2": "the vault's bucket (the backups)",
    "aws:s3/bucketVersioning:BucketVersioning": "the vault's versioning (deleting it suspends versioning)",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "the vault's object lock",
    "ovh:CloudProject/storage:Storage": "the vault's container (the backups)",
    "random:index/randomPassword:RandomPassword": "the repository's password (without it no backup can be read)",
}

# Steps that destroy what exists: a replacement (whichever of its steps) or a delete.
_DESTRUCTIVE = {"replace", "create-replacement", "delete-replaced", "delete"}


def _allowed_delete(urn: str, type_: str) -> bool:
    # A standby holds only a copy of the vault: a downgrade to a cold standby, or a failback on a
    # cold tier, removes it on purpose. Its replacement is still refused (it may be serving).
    return type_.endswith("/instance:Instance") and "redundo:index:Standby$" in urn


@dataclass(frozen=True)
class ForceNew:
    properties: tuple[str, ...]
    """Input names (as the engine spells them) whose change replaces the resource."""
    source: str
    """Where the provider says so: repository, file and attribute."""


_OVH_INSTANCE = "ovh/terraform-provider-ovh ovh/resource_cloud_project_instance.go"
_AWS_S3 = "hashicorp/terraform-provider-aws internal/service/s3"
FORCE_NEW: dict[str, ForceNew] = {
    # The resource has no Update function: every argument is ForceNew.
    "ovh:CloudProject/instance:Instance": ForceNew(
        (
            "serviceName",
            "region",
            "billingPeriod",
            "bootFrom",
            "flavor",
            "name",
            "availabilityZone",
            "sshKey",
            "sshKeyCreate",
            "userData",
            "network",
            "autoBackup",
            "bulk",
            "group",
        ),
        f"{_OVH_INSTANCE}: schema of every argument (service_name ... user_data) has ForceNew: true, "
        "and the resource has no UpdateContext",
    ),
    "ovh:CloudProject/storage:Storage": ForceNew(
        ("name", "regionName", "objectLock"),
        "ovh/terraform-provider-ovh ovh/resource_cloud_project_storage_gen.go: name and region_name have "
        "stringplanmodifier.RequiresReplace(); ovh/resource_cloud_project_storage.go ModifyPlan (v2.11.0+) "
        "adds RequiresReplace on object_lock when its status goes disabled<->enabled or the block is removed "
        "(object lock is chosen at creation); versioning, encryption and the lock's rule update in place",
    ),
    "aws:s3/bucket:Bucket": ForceNew(
        ("bucket", "bucketPrefix", "objectLockEnabled", "region"),
        f"{_AWS_S3}/bucket.go: bucket, bucket_prefix and object_lock_enabled have ForceNew: true; region "
        "(provider v6 per-resource region) forces a new resource",
    ),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ForceNew(
        ("bucket", "expectedBucketOwner", "objectLockEnabled", "region"),
        f"{_AWS_S3}/bucket_object_lock_configuration.go: bucket, expected_bucket_owner, object_lock_enabled "
        "have ForceNew: true; rule is updated in place (PutObjectLockConfiguration)",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ForceNew(
        ("bucket", "expectedBucketOwner", "region"),
        f"{_AWS_S3}/bucket_versioning.go: bucket and expected_bucket_owner have ForceNew: true",
    ),
    "aws:lightsail/instance:Instance": ForceNew(
        ("name", "availabilityZone", "blueprintId", "bundleId", "keyPairName", "userData", "region"),
        "hashicorp/terraform-provider-aws internal/service/lightsail/instance.go: availability_zone, "
        "blueprint_id, bundle_id, key_pair_name, name, user_data have ForceNew: true",
    ),
    "random:index/randomPassword:RandomPassword": ForceNew(
        (
            "length",
            "special",
            "upper",
            "lower",
            "numeric",
            "minUpper",
            "minLower",
            "minNumeric",
            "minSpecial",
            "overrideSpecial",
            "keepers",
        ),
        "hashicorp/terraform-provider-random internal/provider/resource_password.go: every attribute "
        "has a RequiresReplace plan modifier",
    ),
    "random:index/randomId:RandomId": ForceNew(
        ("byteLength", "prefix", "keepers"),
        "hashicorp/terraform-provider-random internal/provider/resource_id.go: byte_length, prefix, keepers "
        "have RequiresReplace",
    ),
    "command:remote:Command": ForceNew(
        ("triggers",),
        "pulumi/pulumi-command provider/pkg/provider/common/inputs.go: Triggers is tagged "
        'provider:"replaceOnChanges"; other changes run the update (else create) command in place',
    ),
    "command:local:Command": ForceNew(
        ("triggers",),
        'pulumi/pulumi-command provider/pkg/provider/common/inputs.go: Triggers is tagged provider:"replaceOnChanges"',
    ),
    "ovh:Domain/zoneRecord:ZoneRecord": ForceNew(
        ("zone", "fieldtype"),
        "ovh/terraform-provider-ovh ovh/resource_domain_zone_record.go: zone and fieldtype have ForceNew: true; "
        "subdomain, target, ttl are updated in place (PUT /domain/zone/{zone}/record/{id})",
    ),
}


def replace_keys(type_: str, changed: Iterable[str]) -> list[str]:
    """Which of `changed` (top-level input names) force a replacement of a `type_`."""
    entry = FORCE_NEW.get(type_)
    return [k for k in changed if entry is not None and k in entry.properties]


@dataclass(frozen=True)
class Hazard:
    """A stateful resource a run would replace or delete."""

    urn: str
    type: str
    op: str
    properties: tuple[str, ...]

    @property
    def forced_lock(self) -> bool:
        """An OVH container whose object lock would be switched on or off: --allow-replace cannot help
        (it is protected, and its replacement would have the retained old one's name)."""
        return self.type == "ovh:CloudProject/storage:Storage" and "objectLock" in self.properties

    def describe(self) -> str:
        if self.forced_lock:
            return (
                f"{self.urn} would be replaced: OVH sets a container's object lock only when it is created, "
                "so moving between premium (locked) and basic/standard (unlocked) with backupProvider ovh "
                "would need a new container of the same name while the old one (the backups) is retained; "
                "stay on the current tier, or deploy the new tier as a new stack with its own vault "
                "(or backupProvider aws)"
            )
        if self.op == "delete" and self.type.endswith("bucketObjectLockConfiguration:BucketObjectLockConfiguration"):
            return (
                f"{self.urn} would be deleted (the tier moves down: new backups would no longer be locked; "
                "versions already locked stay locked until their retain-until date, and S3 keeps object lock "
                "enabled on the bucket for good)"
            )
        if self.op == "delete":
            return f"{self.urn} would be deleted ({STATEFUL_TYPES[self.type]})"
        because = f" because {', '.join(self.properties)} changed" if self.properties else ""
        return f"{self.urn} would be replaced{because} ({STATEFUL_TYPES[self.type]})"


def _value(op: Any) -> str:
    return getattr(op, "value", str(op))


class ReplacementGuard:
    """Collects, from a preview's engine events, every stateful resource the run would destroy."""

    def __init__(self, allowed: Iterable[str] = ()):
        self.allowed = set(allowed)
        self.hazards: dict[str, Hazard] = {}
        self.accepted: set[str] = set()

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None:
            return
        meta = pre.metadata
        op = _value(meta.op)
        if op not in _DESTRUCTIVE or meta.type not in STATEFUL_TYPES:
            return
        if op == "delete" and _allowed_delete(meta.urn, meta.type):
            return
        if meta.urn in self.allowed:
            self.accepted.add(meta.urn)
            return
        known = self.hazards.get(meta.urn)
        properties = tuple(_forcing(meta))
        if known is not None and known.properties and not properties:
            return
        self.hazards[meta.urn] = Hazard(
            meta.urn,
            meta.type,
            "delete" if op == "delete" else "replace",
            properties or (known.properties if known else ()),
        )


def _forcing(meta: Any) -> list[str]:
    """The properties that force the replacement: the engine's `keys`, else the replace diffs."""
    if meta.keys:
        return list(meta.keys)
    detailed = [k for k, d in (meta.detailed_diff or {}).items() if _value(d.diff_kind).endswith("-replace")]
    return detailed or list(meta.diffs or [])


PROTECTED_STEP = (
    "it is protected, so the engine refuses to replace it whatever --allow-replace says; "
    "for a lost primary run `redundo failback --rebuild-primary`, otherwise undo the change"
)


def refusal(verb: str, hazards: Iterable[Hazard], protected: Iterable[str] = ()) -> str:
    """The one line that refuses a run, naming each resource and how to accept it. --allow-replace
    is offered only where it can work: not for a protected resource (the engine refuses its
    replacement anyway), whose real step is named instead."""
    found = list(hazards)
    locked = set(protected)
    line = (
        f"refusing to {verb}: "
        + "; ".join(
            h.describe() + (f" ({PROTECTED_STEP})" if h.urn in locked and not h.forced_lock else "") for h in found
        )
        + "; nothing was changed"
    )
    acceptable = [h for h in found if not h.forced_lock and h.urn not in locked]
    if not acceptable:
        return line
    accept = " ".join(f"--allow-replace '{h.urn}'" for h in acceptable)
    return line + f"; to accept, run again with {accept}"
