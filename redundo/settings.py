"""A client stack's settings: the `redundo:` keys of `stacks/Pulumi.<stack>.yaml`, validated.

The same parser serves the stack program (values from `pulumi.Config`, all strings) and the CLI
(values read straight from the YAML file), so a bad value fails the same way before a deploy and
during one. Every error names the key, what was wrong and what is accepted.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from redundo import geo, profiles
from redundo.errors import ConfigError
from redundo.tiers import TIER_NAMES, Tier, get_tier

__all__ = [
    "CONFIG_KEYS",
    "LIGHTSAIL_BUNDLES",
    "NAMESPACE",
    "OVH_FLAVORS",
    "StackSettings",
    "StandbySize",
    "parse_settings",
    "read_stack_config",
    "read_stack_file",
    "stack_file",
    "stack_names",
    "valid_stack_name",
]

NAMESPACE = "redundo"

# Flavours and bundles the price catalogue carries, smallest first.
OVH_FLAVORS = ("d2-2", "d2-4", "d2-8", "c3-4", "b3-8", "b3-16")
LIGHTSAIL_BUNDLES = ("nano_3_0", "micro_3_0", "small_3_0", "medium_3_0", "large_3_0")
# A Lightsail bundle with at least the RAM of each OVH flavour, for a standby that must serve.
_BUNDLE_FOR_FLAVOR = {
    "d2-2": "small_3_0",
    "d2-4": "medium_3_0",
    "c3-4": "medium_3_0",
    "d2-8": "large_3_0",
    "b3-8": "large_3_0",
    "b3-16": "large_3_0",
}
Database = Literal["none", "sqlite", "mysql", "postgresql"]
Side = Literal["primary", "standby"]
_DATABASES: tuple[str, ...] = get_args(Database)
_SIDES: tuple[str, ...] = get_args(Side)
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_SSH_KEY_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]{32,}( \S.*)?$")
_SERVICE_RE = re.compile(r"^[0-9a-f]{32}$")
_STACK_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Preferred homes for copies, in order: the first one in another city than the primary wins.
_OVH_STANDBY_PREFERENCE = ("DE1", "WAW1", "UK1", "SBG7", "GRA11")
_OVH_VAULT_PREFERENCE = ("DE", "WAW", "UK", "SBG", "GRA")


@dataclass(frozen=True)
class StandbySize:
    """What the standby runs on: an OVH flavour or a Lightsail bundle."""

    provider: geo.Provider
    size: str


@dataclass(frozen=True)
class StackSettings:
    """Everything the stack program needs to build one client's redundant site."""

    stack: str
    tier: Tier
    ovh_service_name: str
    ssh_public_key: str
    primary_region: str = "GRA11"
    primary_flavor: str = "d2-2"
    backup_provider: geo.Provider = "aws"
    backup_region: str = "eu-west-3"
    standby_provider: geo.Provider = "ovh"
    standby_region: str = "DE1"
    standby_flavor: str = ""
    domain: str = ""
    dns_zone: str = ""
    data_gb: float = 10.0
    change_rate_percent: float = 1.0
    site_paths: tuple[str, ...] = ("/var/www",)
    database: Database = "none"
    database_name: str = ""
    admin_cidrs: tuple[str, ...] = ("0.0.0.0/0", "::/0")
    active_side: Side = "primary"
    switched_at: str = ""
    """When the last failover or failback was asked for; the node taking over restores first."""
    site_profile: str = "static"
    """What both nodes run to serve the site (redundo.profiles); defaults to the one that runs `database`."""
    custom_packages: tuple[str, ...] = ()
    """The custom profile's Debian packages, on top of nginx."""
    custom_cloud_config: str = ""
    """The custom profile's cloud-config snippet (YAML mapping), merged into both nodes' user data."""

    @property
    def profile(self) -> profiles.SiteProfile:
        """The site profile, with a custom profile's own packages."""
        base = profiles.PROFILES[self.site_profile]
        if self.site_profile != "custom":
            return base
        packages = tuple(dict.fromkeys((*base.packages, *self.custom_packages)))
        return profiles.SiteProfile(
            base.name,
            base.description,
            packages,
            base.databases,
            php=any(p.endswith("-fpm") and p.startswith("php") for p in packages),
        )

    primary_host: str = ""
    """An existing server adopted as the primary (reached over SSH); "" when redundo creates one."""
    primary_user: str = ""
    """The sudo user redundo logs in as on an adopted primary."""
    primary_port: int = 22
    """The adopted primary's SSH port."""

    @property
    def primary_location(self) -> geo.Location:
        return geo.locate("ovh", self.primary_region)

    @property
    def vault_location(self) -> geo.Location:
        return geo.locate(self.backup_provider, self.backup_region, storage=True)

    @property
    def standby_location(self) -> geo.Location:
        return geo.locate(self.standby_provider, self.standby_region)

    @property
    def standby_size(self) -> StandbySize:
        """The standby's flavour or bundle: the smallest for a pilot light, the primary's match when warm."""
        if self.standby_flavor:
            return StandbySize(self.standby_provider, self.standby_flavor)
        if self.standby_provider == "ovh":
            size = OVH_FLAVORS[0] if self.tier.standby_mode == "pilot" else self.primary_flavor
        else:
            size = (
                LIGHTSAIL_BUNDLES[0] if self.tier.standby_mode == "pilot" else _BUNDLE_FOR_FLAVOR[self.primary_flavor]
            )
        return StandbySize(self.standby_provider, size)

    def with_tier(self, tier: Tier) -> StackSettings:
        """The same client on another tier (the standby size follows the tier unless pinned)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["tier"] = tier
        return StackSettings(**values)


# key -> (attribute, parser). Parsers take the raw value and the key and raise ConfigError.
def _str(value: Any, key: str) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{NAMESPACE}:{key} must be a single value, not {type(value).__name__}")
    return str(value).strip()


def _choice(choices: tuple[str, ...]):
    def parse(value: Any, key: str) -> str:
        text = _str(value, key)
        if text not in choices:
            raise ConfigError(f"{NAMESPACE}:{key} is {text!r}; accepted values: {', '.join(choices)}")
        return text

    return parse


def _matching(pattern: str, rule: str):
    """A value that must match `pattern` whole (or be empty); `rule` tells the user what fits."""
    compiled = re.compile(pattern)

    def parse(value: Any, key: str) -> str:
        text = _str(value, key)
        if text and not compiled.fullmatch(text):
            raise ConfigError(f"{NAMESPACE}:{key} is {text!r}; {rule}")
        return text

    return parse


# redundo writes switchedAt itself at each failover and failback; it becomes a command's trigger and
# a line the switch prints on the host, so nothing but that form is accepted.
_switched_at = _matching(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
    "redundo writes it at each failover and failback as a UTC time such as 2026-12-06T04:10:00Z: "
    "restore that value or remove the key",
)
# A database name reaches the dump and restore commands and their SQL: letters, digits, '_' and '-'
# (never first, so it is never read as an option), at most 63 (PostgreSQL's limit).
_database_name = _matching(
    r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}",
    "a database name is 1 to 63 letters, digits, '_' or '-', not starting with '-'",
)


def _positive_number(value: Any, key: str) -> float:
    try:
        number = float(_str(value, key))
    except ValueError:
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}; it must be a number greater than 0") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}; it must be a number greater than 0")
    return number


def _percent(value: Any, key: str) -> float:
    number = _positive_number(value, key)
    if number > 100:
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}; it must be a percentage from 0 to 100")
    return number


def _list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip().startswith("[") else [value]
        except json.JSONDecodeError:
            raise ConfigError(f"{NAMESPACE}:{key} is not a valid list; write it as a YAML list") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{NAMESPACE}:{key} must be a non-empty list of strings")
    return tuple(value)


def _domain(value: Any, key: str) -> str:
    text = _str(value, key).lower().rstrip(".")
    if text and not _DOMAIN_RE.match(text):
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}, not a valid domain name; write it as shop-example.fr")
    return text


def _ssh_key(value: Any, key: str) -> str:
    text = _str(value, key)
    if not _SSH_KEY_RE.match(text):
        raise ConfigError(f"{NAMESPACE}:{key} is not an OpenSSH public key; paste one line of ~/.ssh/id_ed25519.pub")
    return text


def _service_name(value: Any, key: str) -> str:
    text = _str(value, key)
    if not _SERVICE_RE.match(text):
        raise ConfigError(
            f"{NAMESPACE}:{key} is {text!r}; it must be the 32-hex-digit id of the OVH Public Cloud project"
        )
    return text


def _site_paths(value: Any, key: str) -> tuple[str, ...]:
    paths = _list(value, key)
    for path in paths:
        if not path.startswith("/") or path.rstrip("/") == "" or ".." in path.split("/"):
            raise ConfigError(f"{NAMESPACE}:{key} has {path!r}; give absolute paths below / such as /var/www")
    return paths


_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# Keys of the user data redundo itself decides (access, updates, identity): a snippet may not change them.
_OWNED_CLOUD_CONFIG = (
    "hostname",
    "ssh_pwauth",
    "disable_root",
    "users",
    "ssh_authorized_keys",
    "ssh_keys",
    "package_update",
    "package_upgrade",
    "bootcmd",
)


def _packages(value: Any, key: str) -> tuple[str, ...]:
    names = _list(value, key)
    for name in names:
        if not _PACKAGE_RE.match(name):
            raise ConfigError(
                f"{NAMESPACE}:{key} has {name!r}, not a Debian package name; write names such as php8.2-intl"
            )
    return names


def _cloud_config(value: Any, key: str) -> str:
    import yaml

    text = value if isinstance(value, str) else yaml.safe_dump(value, sort_keys=False)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(
            f"{NAMESPACE}:{key} is not valid YAML; write a cloud-config mapping such as 'runcmd: [[a2enmod, rewrite]]'"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{NAMESPACE}:{key} must be a cloud-config mapping (keys such as write_files or runcmd)")
    owned = sorted(set(document) & set(_OWNED_CLOUD_CONFIG))
    if owned:
        raise ConfigError(f"{NAMESPACE}:{key} sets {owned[0]}, which redundo manages; remove it from the snippet")
    return yaml.safe_dump(document, sort_keys=False)


def _cidrs(value: Any, key: str) -> tuple[str, ...]:
    cidrs = _list(value, key)
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise ConfigError(f"{NAMESPACE}:{key} has {cidr!r}, not a network; write it as 198.51.100.7/32") from None
    return cidrs


_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _host(value: Any, key: str) -> str:
    text = _str(value, key).strip().lower()
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if not _HOST_RE.match(text):
        raise ConfigError(
            f"{NAMESPACE}:{key} is {value!r}, not a host name or address; write it as 203.0.113.10 or shop.example.fr"
        )
    return text


def _user(value: Any, key: str) -> str:
    text = _str(value, key)
    if not _USER_RE.match(text):
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}, not a Unix user name; write it as debian or admin")
    return text


def _port(value: Any, key: str) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"{NAMESPACE}:{key} is {value!r}; it must be a TCP port from 1 to 65535")
    return port


_PARSERS = {
    "tier": ("tier", lambda v, k: get_tier(_choice(TIER_NAMES)(v, k))),
    "ovhServiceName": ("ovh_service_name", _service_name),
    "sshPublicKey": ("ssh_public_key", _ssh_key),
    "primaryRegion": ("primary_region", _choice(tuple(geo.OVH_INSTANCE_REGIONS))),
    "primaryFlavor": ("primary_flavor", _choice(OVH_FLAVORS)),
    "backupProvider": ("backup_provider", _choice(("aws", "ovh"))),
    "backupRegion": ("backup_region", _str),
    "standbyProvider": ("standby_provider", _choice(("ovh", "aws"))),
    "standbyRegion": ("standby_region", _str),
    "standbyFlavor": ("standby_flavor", _str),
    "domain": ("domain", _domain),
    "dnsZone": ("dns_zone", _domain),
    "dataGb": ("data_gb", _positive_number),
    "changeRatePercent": ("change_rate_percent", _percent),
    "sitePaths": ("site_paths", _site_paths),
    "database": ("database", _choice(_DATABASES)),
    "databaseName": ("database_name", _database_name),
    "adminCidrs": ("admin_cidrs", _cidrs),
    "activeSide": ("active_side", _choice(_SIDES)),
    "switchedAt": ("switched_at", _switched_at),
    "siteProfile": ("site_profile", _choice(profiles.PROFILE_NAMES)),
    "customPackages": ("custom_packages", _packages),
    "customCloudConfig": ("custom_cloud_config", _cloud_config),
    "primaryHost": ("primary_host", _host),
    "primaryUser": ("primary_user", _user),
    "primaryPort": ("primary_port", _port),
}
CONFIG_KEYS: tuple[str, ...] = tuple(_PARSERS)
# Keys the stack program reads itself, as Pulumi secrets: accepted here, never parsed or shown.
SECRET_KEYS: tuple[str, ...] = ("sshPrivateKey",)
_REQUIRED = ("ovhServiceName", "sshPublicKey")


def parse_settings(stack: str, raw: Mapping[str, Any], *, for_deploy: bool = True) -> StackSettings:
    """Validate the `redundo:` keys of one stack (without the namespace) into StackSettings.

    With for_deploy=False the keys only a deploy needs (the OVH project, the SSH key) may be
    missing, for pricing a client that has no stack yet.
    """
    raw = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    unknown = sorted(set(raw) - set(_PARSERS))
    if unknown:
        raise ConfigError(
            f"unknown key {NAMESPACE}:{unknown[0]}; accepted keys: {', '.join(CONFIG_KEYS + SECRET_KEYS)}"
        )
    missing = [k for k in _REQUIRED if raw.get(k) in (None, "")]
    if missing and for_deploy:
        raise ConfigError(f"{NAMESPACE}:{missing[0]} is missing; set it in stacks/Pulumi.{stack}.yaml")
    values: dict[str, Any] = {"stack": stack, "tier": get_tier("basic"), "ovh_service_name": "", "ssh_public_key": ""}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        attr, parse = _PARSERS[key]
        values[attr] = parse(value, key)
    _fill_defaults(values, raw)
    _check_regions(values)
    return StackSettings(**values)


def _fill_defaults(values: dict[str, Any], raw: Mapping[str, Any]) -> None:
    """Defaults that depend on other keys: copies go to another city than the primary."""
    primary = geo.locate("ovh", values.get("primary_region", "GRA11"))
    if "backupRegion" not in raw or not raw["backupRegion"]:
        if values.get("backup_provider", "aws") == "ovh":
            values["backup_region"] = _first_elsewhere(_OVH_VAULT_PREFERENCE, primary, storage=True)
        else:
            values["backup_region"] = _first_elsewhere(tuple(geo.AWS_REGIONS), primary, provider="aws")
    if "standbyRegion" not in raw or not raw["standbyRegion"]:
        if values.get("standby_provider", "ovh") == "ovh":
            values["standby_region"] = _first_elsewhere(_OVH_STANDBY_PREFERENCE, primary)
        else:
            values["standby_region"] = _first_elsewhere(tuple(geo.AWS_REGIONS), primary, provider="aws")
    if values.get("domain") and not values.get("dns_zone"):
        values["dns_zone"] = registered_domain(values["domain"])
    if values.get("database", "none") != "none" and not values.get("database_name"):
        values["database_name"] = "site"
    if not values.get("site_profile"):
        values["site_profile"] = profiles.default_profile(values.get("database", "none"))
    _check_profile(values)


def _check_profile(values: dict[str, Any]) -> None:
    """The profile and the database must agree: the profile installs the database server the site uses."""
    name, database = values["site_profile"], values.get("database", "none")
    profile = profiles.PROFILES[name]
    if database not in profile.databases:
        if profile.databases == ("none",):
            raise ConfigError(
                f"{NAMESPACE}:siteProfile {name} runs no database but {NAMESPACE}:database is "
                f"{database}; set {NAMESPACE}:siteProfile to {profiles.default_profile(database)}, "
                f"or {NAMESPACE}:database to none"
            )
        raise ConfigError(
            f"{NAMESPACE}:siteProfile {name} keeps its data in {profile.databases[0]} but "
            f"{NAMESPACE}:database is {database}; set {NAMESPACE}:database to {profile.databases[0]}"
        )
    for key, attr in (("customPackages", "custom_packages"), ("customCloudConfig", "custom_cloud_config")):
        if values.get(attr) and name != "custom":
            raise ConfigError(
                f"{NAMESPACE}:{key} is only used by {NAMESPACE}:siteProfile custom (this stack is "
                f"{name}); set siteProfile to custom or remove {key}"
            )
    if name == "custom" and not values.get("custom_packages"):
        raise ConfigError(
            f"{NAMESPACE}:siteProfile custom needs {NAMESPACE}:customPackages, the Debian packages "
            "your site runs besides nginx"
        )


_ICANN_BEGIN, _ICANN_END = "// ===BEGIN ICANN DOMAINS===", "// ===END ICANN DOMAINS==="


@lru_cache(maxsize=1)
def _icann_rules() -> str:
    # The list ships inside the package (a dated snapshot): no network fetch, ever. ICANN
    # suffixes only: a client's zone is a domain bought from a registrar, never a hosting
    # provider's private suffix.
    from publicsuffixlist import PSLFILE  # the snapshot PublicSuffixList() itself reads

    with open(PSLFILE, encoding="utf-8") as snapshot:
        text = snapshot.read()
    return text.split(_ICANN_BEGIN, 1)[1].split(_ICANN_END, 1)[0]


@lru_cache(maxsize=64)
def _public_suffixes(tld: str):
    """The Public Suffix List's ICANN rules that can match a domain ending in `tld`.

    A rule matches only domains that end in its own last label, so the rules under the domain's
    top-level label decide alone. Parsing those few (instead of all 7,000, each IDNA-encoded)
    spares every `plan` about 50 ms; a test holds the answers equal to the whole list's."""
    from publicsuffixlist import PublicSuffixList

    text = _icann_rules()
    if tld.isascii() and tld.isalpha():
        rules = re.findall(rf"^(?!//)(?:\S*\.)?{re.escape(tld)}(?=[ \t\r]|$)", text, re.MULTILINE | re.IGNORECASE)
    else:  # a label whose other spelling (Unicode or punycode) the filter would miss: read them all
        rules = text.splitlines()
    return PublicSuffixList(rules)


def registered_domain(domain: str) -> str:
    """The zone a client owns for `domain`: shop.example.co.uk -> example.co.uk (Public Suffix List)."""
    zone = _public_suffixes(domain.rstrip(".").rpartition(".")[2].lower()).privatesuffix(domain)
    if zone is None:
        raise ConfigError(
            f"{NAMESPACE}:domain {domain!r} is a public suffix, not a name one can register; "
            "write the site's own name, such as shop-example.co.uk"
        )
    return zone


def _first_elsewhere(
    candidates: tuple[str, ...], primary: geo.Location, *, provider: geo.Provider = "ovh", storage: bool = False
) -> str:
    for region in candidates:
        if not geo.locate(provider, region, storage=storage).same_city(primary):
            return region
    return candidates[0]


def _check_regions(values: dict[str, Any]) -> None:
    vault_provider = values.get("backup_provider", "aws")
    vault_regions = geo.AWS_REGIONS if vault_provider == "aws" else geo.OVH_STORAGE_REGIONS
    if values["backup_region"] not in vault_regions:
        raise ConfigError(
            f"{NAMESPACE}:backupRegion is {values['backup_region']!r}, not a {vault_provider} storage region "
            f"redundo knows; accepted values: {', '.join(vault_regions)}"
        )
    standby_provider = values.get("standby_provider", "ovh")
    standby_regions = geo.AWS_REGIONS if standby_provider == "aws" else geo.OVH_INSTANCE_REGIONS
    if values["standby_region"] not in standby_regions:
        raise ConfigError(
            f"{NAMESPACE}:standbyRegion is {values['standby_region']!r}, not a {standby_provider} compute region "
            f"redundo knows; accepted values: {', '.join(standby_regions)}"
        )
    flavor = values.get("standby_flavor")
    sizes = OVH_FLAVORS if standby_provider == "ovh" else LIGHTSAIL_BUNDLES
    if flavor and flavor not in sizes:
        raise ConfigError(
            f"{NAMESPACE}:standbyFlavor is {flavor!r}; "
            f"accepted values for a {standby_provider} standby: {', '.join(sizes)}"
        )
    if bool(values.get("primary_host")) != bool(values.get("primary_user")):
        given, other = ("primaryHost", "primaryUser") if values.get("primary_host") else ("primaryUser", "primaryHost")
        raise ConfigError(
            f"{NAMESPACE}:{given} is set without {NAMESPACE}:{other}; an adopted primary needs both "
            "(the server's address and the sudo user redundo logs in as)"
        )
    domain, zone = values.get("domain", ""), values.get("dns_zone", "")
    if zone and not domain:
        raise ConfigError(f"{NAMESPACE}:dnsZone is set without {NAMESPACE}:domain; set the site's domain too")
    if domain and not (domain == zone or domain.endswith("." + zone)):
        raise ConfigError(f"{NAMESPACE}:domain {domain!r} is not inside {NAMESPACE}:dnsZone {zone!r}")


def valid_stack_name(stack: str) -> bool:
    return bool(_STACK_RE.match(stack))


def stack_file(stacks_dir: Path, stack: str) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def stack_names(stacks_dir: Path) -> list[str]:
    """The stacks that have a settings file, sorted."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def read_stack_file(stacks_dir: Path, stack: str) -> StackSettings:
    """Read and validate `stacks/Pulumi.<stack>.yaml`."""
    return parse_settings(stack, read_stack_config(stacks_dir, stack))


def read_stack_config(stacks_dir: Path, stack: str) -> dict[str, Any]:
    """The raw `redundo:` keys (namespace stripped) of `stacks/Pulumi.<stack>.yaml`."""
    if not _STACK_RE.match(stack):
        raise ConfigError(
            f"invalid stack name {stack!r}; use lower-case letters, digits and dashes, such as jeweller-lyon"
        )
    path = stack_file(stacks_dir, stack)
    if not path.exists() and not path.is_symlink():
        known = stack_names(stacks_dir)
        hint = f"known stacks: {', '.join(known)}" if known else f"create it with `redundo init {stack}`"
        raise ConfigError(f"unknown stack {stack!r} (no {path.name} in {stacks_dir.name}/); {hint}")
    return parse_stack_document(path, read_text(path))


def read_text(path: Path) -> str:
    """A stack file's text: UTF-8 (a leading BOM is tolerated), else one error naming the file and the fix."""
    where = f"{path.parent.name}/{path.name}"
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{where} is a link to a missing file; point it at the stack file or remove it")
    if path.is_dir():
        raise ConfigError(f"{where} is a directory, not a stack file; remove it or move it out of {path.parent.name}/")
    if not path.is_file():
        raise ConfigError(f"{where} is not a regular file (a pipe or a device); replace it with the stack file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}; check its permissions") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{where} is UTF-16 text; save it as UTF-8 (Pulumi reads stack files as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{where} is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}, probably Latin-1); "
            f"convert it with `iconv -f latin1 -t utf-8 {where} -o {where}.utf8 && mv {where}.utf8 {where}`"
        ) from None


@cache
def _loader():
    """PyYAML's safe loader (libyaml's when PyYAML has it: a fleet reads hundreds of stack files),
    rejecting a key given twice in one mapping as Pulumi's YAML reader does."""
    import yaml  # only when a stack file is read: keeps `redundo --help` fast

    # libyaml's CSafeLoader is no subclass of SafeLoader (same constructor, C parser): hence Any.
    safe: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(safe):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key (a list as a key): construct_mapping says so
                break
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, again: int):
        super().__init__(key, first, again)
        self.key, self.first, self.again = key, first, again


def parse_stack_document(path: Path, text: str) -> dict[str, Any]:
    """The `redundo:` keys of a stack file's text, after the checks Pulumi itself would make."""
    import yaml

    where = f"{path.parent.name}/{path.name}"
    try:
        document = yaml.load(text, Loader=_loader()) or {}  # noqa: S506 - _loader() is PyYAML's safe loader
    except _DuplicateKey as dup:
        raise ConfigError(
            f"{where} sets {dup.key} twice (lines {dup.first} and {dup.again}); "
            "keep one (Pulumi rejects duplicate keys)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where_in = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        detail = f" ({problem})" if problem else ""
        raise ConfigError(f"{where} is not valid YAML{where_in}{detail}; fix the file and run again") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(
            f"{where} has no `config:` mapping; write the settings under `config:` as "
            f"`{NAMESPACE}:tier: basic` (see `redundo init --help`)"
        )
    prefix = f"{NAMESPACE}:"
    for key in config:
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where} has a config key {key!r} that is not a name; write keys as {NAMESPACE}:tier")
        if ":" not in key:
            raise ConfigError(
                f"{where} has the key {key!r} without a namespace, so it would be ignored; "
                f"write it as {NAMESPACE}:{key}"
            )
    return {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
