"""The policy rules, importable without starting a policy server.

The same objects run under `pulumi preview --policy-pack policies` and in-process under
`redundo check`. Stack policies see resource outputs, resource policies see inputs, as in the
engine. Tier-dependent limits arrive as policy configuration (see `tier_config`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError  # public name, module not in pulumi_policy's __all__

from redundo import access, geo
from redundo.tiers import Tier

__all__ = ["PACK_NAME", "POLICIES", "tier_config"]

PACK_NAME = "redundo"
OVH_MIN_TTL = 60

PRIMARY = "redundo:index:PrimarySite$"
STANDBY = "redundo:index:Standby$"
SITE = "redundo:index:RedundantSite"
OVH_INSTANCE = "ovh:CloudProject/instance:Instance"
LIGHTSAIL_INSTANCE = "aws:lightsail/instance:Instance"
S3_BUCKET = "aws:s3/bucket:Bucket"
OVH_STORAGE = "ovh:CloudProject/storage:Storage"


def tier_config(tier: Tier) -> dict[str, dict[str, Any]]:
    """Per-policy configuration that carries a tier's limits into the pack."""
    return {
        "redundo-vault-retention-covers-tier": {"retentionDays": tier.retention_days},
        "redundo-vault-object-lock-for-immutable-tiers": {"objectLockDays": tier.object_lock_days},
        "redundo-dns-ttl-fits-rto": {"maxTtlSeconds": max(OVH_MIN_TTL, tier.rto_minutes * 60 // 4)},
        "redundo-backup-interval-honours-rpo": {"rpoMinutes": tier.rpo_minutes},
    }


# ---------------------------------------------------------------- where things are


def _instances(resources: Iterable[PolicyResource], role: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in (OVH_INSTANCE, LIGHTSAIL_INSTANCE) and role in r.urn]


def _aws_region(r: PolicyResource) -> str | None:
    region = r.props.get("region")
    if not region and r.provider is not None:
        region = r.provider.props.get("region")
    return region


def _location(r: PolicyResource) -> geo.Location | None:
    """The site of an instance or a bucket; None when the region is not one redundo knows."""
    try:
        if r.resource_type == OVH_INSTANCE:
            return geo.locate("ovh", r.props.get("region", ""))
        if r.resource_type == OVH_STORAGE:
            return geo.locate("ovh", r.props.get("regionName", ""), storage=True)
        return geo.locate("aws", _aws_region(r) or "")
    except KeyError:
        return None


def _vaults(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in (S3_BUCKET, OVH_STORAGE)]


def _known(props: Any, key: str) -> Any:
    """props[key], or None while the engine cannot know it yet (a value computed at creation)."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def _attached(resources: list[PolicyResource], type_: str, bucket: PolicyResource) -> list[PolicyResource]:
    """Bucket-configuration resources of `type_` that configure `bucket`.

    Decided from what the engine knows before anything exists: the `bucket` property's
    dependency on the bucket resource. A resource with no such dependency (written by hand with a
    literal name) is matched by name, when both names are known."""
    name = _known(bucket.props, "bucket") or _known(bucket.props, "id")
    found = []
    for r in resources:
        if r.resource_type != type_:
            continue
        deps = r.property_dependencies.get("bucket", [])
        if any(d.urn == bucket.urn for d in deps):
            found.append(r)
        elif not deps and name and _known(r.props, "bucket") == name:
            found.append(r)
    return found


# ---------------------------------------------------------------- blast radius


def _vault_outside_blast_radius(args: StackValidationArgs, report: ReportViolation) -> None:
    primaries = _instances(args.resources, PRIMARY)
    for vault in _vaults(args.resources):
        where = _location(vault)
        for primary in primaries:
            home = _location(primary)
            if where is None or home is None:
                report(f"cannot tell where {vault.name} or {primary.name} is; use a region redundo knows", vault.urn)
            elif where.provider == home.provider and where.same_city(home):
                report(
                    f"vault {vault.name} is in {where}, the same provider and city as the primary "
                    f"({home}); move it to another provider or city",
                    vault.urn,
                )


def _planned_location(component: PolicyResource) -> geo.Location | None:
    """Where a Standby component says its instance lives, whether or not the instance exists yet."""
    try:
        return geo.locate(component.props.get("provider", ""), component.props.get("region", ""))
    except KeyError:
        return None


def _standbys(resources: list[PolicyResource]) -> list[tuple[PolicyResource, geo.Location | None, bool]]:
    """Each standby as (resource to blame, where it is or will be, whether it exists now).

    A cold standby has no instance until failover, but it is planned in a region: a fire that
    takes the primary's city must not take the place the site is meant to move to."""
    found = []
    instances = _instances(resources, STANDBY)
    for component in (r for r in resources if r.resource_type == STANDBY.rstrip("$")):
        mine = [i for i in instances if i.parent is not None and i.parent.urn == component.urn]
        if mine:
            found += [(i, _location(i), True) for i in mine]
        else:
            found.append((component, _planned_location(component), False))
    claimed = {id(r) for r, _, _ in found}
    found += [(i, _location(i), True) for i in instances if id(i) not in claimed]
    return found


def _standby_outside_primary_city(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    primaries = _instances(resources, PRIMARY)
    for standby, where, exists in _standbys(resources):
        for primary in primaries:
            home = _location(primary)
            if where is None or home is None:
                report(
                    f"cannot tell where {standby.name} or {primary.name} is; use a region redundo knows", standby.urn
                )
            elif where.same_city(home):
                what = (
                    f"standby {standby.name} is in"
                    if exists
                    else f"standby {standby.name} (cold, created at failover) is planned in"
                )
                report(f"{what} {where.city}, the primary's city; choose a standbyRegion in another city", standby.urn)


# ---------------------------------------------------------------- vault hygiene


def _vault_versioned(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for vault in _vaults(resources):
        if vault.resource_type == OVH_STORAGE:
            status = (vault.props.get("versioning") or {}).get("status")
            ok = status == "enabled"
        else:
            ok = any(
                (r.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
                for r in _attached(resources, "aws:s3/bucketVersioning:BucketVersioning", vault)
            )
        if not ok:
            report(
                f"vault {vault.name} is not versioned; enable versioning so deleted backups stay recoverable", vault.urn
            )


def _vault_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for vault in _vaults(resources):
        if vault.resource_type == OVH_STORAGE:
            ok = bool((vault.props.get("encryption") or {}).get("sseAlgorithm"))
        else:
            ok = any(
                rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
                in ("AES256", "aws:kms", "aws:kms:dsse")
                for r in _attached(
                    resources,
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    vault,
                )
                for rule in r.props.get("rules") or []
            )
        if not ok:
            report(f"vault {vault.name} has no server-side encryption; add AES256 or aws:kms", vault.urn)


_PUBLIC_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _vault_private(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    for vault in _vaults(resources):
        if vault.resource_type == OVH_STORAGE:
            continue  # OVH containers are private unless a public policy is added, which redundo never does
        blocks = _attached(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", vault)
        if not any(all(b.props.get(flag) is True for flag in _PUBLIC_BLOCK_FLAGS) for b in blocks):
            report(
                f"vault {vault.name} does not block all public access; set all four public-access-block flags",
                vault.urn,
            )


def _vault_retention(args: StackValidationArgs, report: ReportViolation) -> None:
    retention = args.get_config().get("retentionDays", 1)
    resources = list(args.resources)
    for vault in _vaults(resources):
        if vault.resource_type == OVH_STORAGE:
            continue  # no lifecycle: non-current versions are never expired, which keeps them long enough
        for lifecycle in _attached(
            resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", vault
        ):
            for rule in lifecycle.props.get("rules") or []:
                if rule.get("status") != "Enabled":
                    continue
                days = (rule.get("noncurrentVersionExpiration") or {}).get("noncurrentDays")
                if days is not None and days < retention:
                    report(
                        f"vault {vault.name} expires old versions after {days:g} days; the tier keeps them "
                        f"{retention:g} days",
                        vault.urn,
                    )
                current = (rule.get("expiration") or {}).get("days")
                if current:
                    report(
                        f"vault {vault.name} expires current backups after {current:g} days; let restic's "
                        "forget policy decide what current data to drop",
                        vault.urn,
                    )


def _vault_object_lock(args: StackValidationArgs, report: ReportViolation) -> None:
    wanted = args.get_config().get("objectLockDays", 0)
    if not wanted:
        return
    resources = list(args.resources)
    for vault in _vaults(resources):
        if vault.resource_type == OVH_STORAGE:
            lock = vault.props.get("objectLock") or {}
            rule = lock.get("rule") or {}
            period = re.fullmatch(r"P(\d+)D", rule.get("period", "") or "")
            ok = (
                lock.get("status") == "enabled"
                and rule.get("mode") == "compliance"
                and period is not None
                and int(period.group(1)) >= wanted
            )
        else:
            ok = any(
                (r.props.get("rule") or {}).get("defaultRetention", {}).get("mode") == "COMPLIANCE"
                and (r.props["rule"]["defaultRetention"].get("days") or 0) >= wanted
                for r in _attached(
                    resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", vault
                )
            )
        if not ok:
            report(
                f"vault {vault.name} has no compliance-mode object lock of at least {wanted:g} days; "
                "the tier promises immutable backups",
                vault.urn,
            )


# ---------------------------------------------------------------- IAM

_POLICY_TYPES = (
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "ovh:CloudProject/s3Policy:S3Policy",
)
_ADMIN_ARNS = (
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ReportViolation types its URN argument as required (the engine's callback defaults it to None):
# a resource rule reporting on the resource it validates passes None.
def _iam_least_privilege(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in (
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    ):
        if args.props.get("policyArn") in _ADMIN_ARNS:
            report(f"{args.name} attaches {args.props['policyArn']}; grant only the vault's actions", None)
        return
    if args.resource_type not in _POLICY_TYPES:
        return
    document = args.props.get("policy")
    try:
        document = json.loads(document) if isinstance(document, str) else document
    except json.JSONDecodeError:
        report(f"{args.name} has a policy that is not JSON", None)
        return
    for statement in _as_list((document or {}).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
        resources = [r for r in _as_list(statement.get("Resource", [])) if isinstance(r, str)]
        wild = [a for a in actions if "*" in a]
        if wild:
            report(f"{args.name} allows wildcard actions {', '.join(wild)}; list the actions the vault needs", None)
        broad = [r for r in resources if r == "*" or r.startswith("arn:aws:s3:::*")]
        if broad:
            report(f"{args.name} allows resources {', '.join(broad)}; name the vault's bucket", None)
        destructive = sorted(set(actions) & set(access.DESTRUCTIVE_ACTIONS))
        if destructive:
            report(
                f"{args.name} allows {', '.join(destructive)}; a host key must never destroy a backup "
                "or change the bucket",
                None,
            )
        if "NotAction" in statement:
            report(f"{args.name} uses NotAction in an Allow; list the actions the vault needs", None)


# ---------------------------------------------------------------- secrets, DNS

_SECRET_PATTERNS = (
    (re.compile(r"AKIA[0-9A-Z]{12,}"), "an AWS access key id"),
    (re.compile(r"AWS_SECRET_ACCESS_KEY\s*[=:]\s*\S"), "AWS_SECRET_ACCESS_KEY"),
    (re.compile(r"RESTIC_PASSWORD\s*[=:]\s*\S"), "RESTIC_PASSWORD"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)


def _no_secret_in_user_data(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (OVH_INSTANCE, LIGHTSAIL_INSTANCE):
        return
    user_data = args.props.get("userData") or ""
    for pattern, what in _SECRET_PATTERNS:
        if isinstance(user_data, str) and pattern.search(user_data):
            report(
                f"{args.name}'s user data holds {what}; instance metadata is readable by any local process, "
                "deliver credentials over SSH into a root-only file",
                None,
            )


def _dns_ttl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "ovh:Domain/zoneRecord:ZoneRecord":
        return
    ttl = args.props.get("ttl")
    if ttl is None:
        return
    limit = args.get_config().get("maxTtlSeconds", 3600)
    if ttl < OVH_MIN_TTL:
        report(f"{args.name} has a TTL of {ttl:g} s; OVH DNS accepts no less than {OVH_MIN_TTL} s", None)
    elif "redundo:index:Failover$" in args.urn and ttl > limit:
        report(f"{args.name} has a TTL of {ttl:g} s; the tier's RTO allows at most {limit:g} s", None)


def _minutes(value: str) -> int | None:
    match = re.fullmatch(r"(\d+)\s*(min|m|h|s)?", value.strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "s"
    return {"min": number, "m": number, "h": number * 60, "s": number // 60}[unit]


AGENT_INSTALL = "redundo:index:AgentInstall$command:remote:Command"
BACKUP_TIMER_FILE = "/etc/systemd/system/redundo-backup.timer"


def _backup_timer(bundle_script: str) -> dict[str, str] | None:
    """The [Timer] settings of redundo-backup.timer in a delivered agent bundle, or None if it has none."""
    from redundo.agent.bundle import files_in_script

    text = files_in_script(bundle_script if isinstance(bundle_script, str) else "").get(BACKUP_TIMER_FILE)
    if text is None:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _backup_interval(args: StackValidationArgs, report: ReportViolation) -> None:
    """The backup timer lives in the agent bundle the primary gets over SSH (AgentInstall), not in user data."""
    rpo = args.get_config().get("rpoMinutes", 24 * 60)
    resources = list(args.resources)
    installs = [r for r in resources if AGENT_INSTALL in r.urn and r.name.endswith("-primary-agent-install")]
    if not installs:
        for primary in _instances(resources, PRIMARY):
            report(f"{primary.name} gets no agent bundle over SSH; nothing backs this site up", primary.urn)
        return
    for install in installs:
        timer = _backup_timer(install.props.get("stdin") or "")
        if timer is None:
            report(f"{install.name} installs no redundo-backup.timer; nothing backs this site up", install.urn)
            continue
        every = _minutes(timer.get("OnUnitActiveSec", ""))
        spread = _minutes(timer.get("RandomizedDelaySec", "0")) or 0
        if every is None:
            report(f"{install.name}'s backup timer has no OnUnitActiveSec; set the tier's interval", install.urn)
        elif every + spread > rpo:
            report(
                f"{install.name} backs up every {every} min (+{spread} min spread); the tier's RPO of {rpo:g} min "
                "needs a shorter interval",
                install.urn,
            )


# Profiles whose data lives in a database, and the databases their dump must come from.
DATABASE_PROFILES = {"wordpress": ("mysql",), "postgres-app": ("postgresql",)}


def _database_backed_up(args: StackValidationArgs, report: ReportViolation) -> None:
    for site in (r for r in args.resources if r.resource_type == SITE):
        profile = site.props.get("siteProfile") or ""
        database = site.props.get("database") or "none"
        wanted = DATABASE_PROFILES.get(profile)
        if wanted is None or database in wanted:
            continue
        if database == "none":
            report(
                f"site {site.name} is a {profile} site but its database is none: its orders and accounts "
                f"would never be backed up; set redundo:database to {wanted[0]}",
                site.urn,
            )
        else:
            report(
                f"site {site.name} is a {profile} site but backs up a {database} database; "
                f"set redundo:database to {wanted[0]}",
                site.urn,
            )


POLICIES = [
    StackValidationPolicy(
        name="redundo-vault-outside-primary-blast-radius",
        description="Keep the backup vault on another provider than the primary, or at least in another city.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_outside_blast_radius,
    ),
    StackValidationPolicy(
        name="redundo-standby-outside-primary-city",
        description="Place the standby in another city than the primary.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_standby_outside_primary_city,
    ),
    StackValidationPolicy(
        name="redundo-vault-versioning-enabled",
        description="Version every object in the backup vault.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_versioned,
    ),
    StackValidationPolicy(
        name="redundo-vault-encryption-enabled",
        description="Encrypt the backup vault at rest.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_encrypted,
    ),
    StackValidationPolicy(
        name="redundo-vault-public-access-blocked",
        description="Block all public access to the backup vault.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_private,
    ),
    StackValidationPolicy(
        name="redundo-vault-retention-covers-tier",
        description="Keep old backup versions at least as long as the tier's retention.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_retention,
        config_schema=PolicyConfigSchema({"retentionDays": {"type": "integer", "minimum": 1, "default": 1}}),
    ),
    StackValidationPolicy(
        name="redundo-vault-object-lock-for-immutable-tiers",
        description="Lock backups in compliance mode on tiers that promise immutability.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_vault_object_lock,
        config_schema=PolicyConfigSchema({"objectLockDays": {"type": "integer", "minimum": 0, "default": 0}}),
    ),
    StackValidationPolicy(
        name="redundo-database-backed-up-for-profile",
        description="Back up the database of a site whose profile keeps its data in one.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_database_backed_up,
    ),
    ResourceValidationPolicy(
        name="redundo-iam-least-privilege",
        description="Grant host keys only the vault's actions on the vault's bucket, never destructive ones.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_iam_least_privilege,
    ),
    ResourceValidationPolicy(
        name="redundo-user-data-no-secrets",
        description="Keep credentials out of instance user data.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_no_secret_in_user_data,
    ),
    StackValidationPolicy(
        name="redundo-backup-interval-honours-rpo",
        description="Run the primary's backup timer often enough for the tier's RPO.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_backup_interval,
        config_schema=PolicyConfigSchema({"rpoMinutes": {"type": "integer", "minimum": 1, "default": 1440}}),
    ),
    ResourceValidationPolicy(
        name="redundo-dns-ttl-fits-rto",
        description="Set DNS TTLs of at least 60 s and small enough for the tier's RTO.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_dns_ttl,
        config_schema=PolicyConfigSchema({"maxTtlSeconds": {"type": "integer", "minimum": 60, "default": 3600}}),
    ),
]
