"""RedundantSite: a primary, an off-site vault, a standby and failover, composed for one tier."""

from __future__ import annotations

import shlex
from typing import Literal, NotRequired, TypedDict

import pulumi
import yaml
from redundo.components.agent_install import AgentInstall
from redundo.components.backup_vault import BackupVault
from redundo.components.failover import Failover
from redundo.components.host_role import HostRole
from redundo.components.primary_site import PrimarySite, PrimarySiteArgs
from redundo.components.standby import Standby, StandbyArgs

from redundo import cloud_config, profiles
from redundo.agent import BACKUP_TIMERS, FOLLOW_TIMER, STATE_DIR, WATCHDOG_TIMER, AgentSettings, agent_packages
from redundo.agent.bundle import BundleFile, agent_bundle
from redundo.tiers import Tier

# The watchdog's state on the standby (redundo-watchdog): cleared at each switch so that it arms afresh.
WATCHDOG_STATE = tuple(
    f"{STATE_DIR}/watchdog.{f}" for f in ("armed", "took-over", "failures", "follow-stopped", "moving-name")
)

# The default sudo user of the Debian images each provider offers.
SSH_USERS = {"ovh": "debian", "aws": "admin"}


# The parts that several hosts' AgentInstall and HostRole arguments share.
class _Login(TypedDict):
    user: str
    port: NotRequired[int]


class _Delivery(TypedDict):
    bundle: pulumi.Input[str]
    bundle_digest: pulumi.Input[str]


class _Key(TypedDict, total=False):
    private_key: pulumi.Input[str]


class RedundantSiteArgs(TypedDict):
    tier: Tier
    """The tier whose promise the topology keeps (interval, retention, lock, standby mode, TTL)."""
    service_name: pulumi.Input[str]
    """OVH Public Cloud project id."""
    ssh_public_key: pulumi.Input[str]
    """OpenSSH public key for every host."""
    primary_region: str
    """OVH compute region of the primary."""
    primary_flavor: str
    """OVH flavour of the primary."""
    vault_backend: Literal["aws", "ovh"]
    """Where the backups live: AWS S3 or OVH Object Storage."""
    vault_region: str
    """The vault's region, in another city than the primary."""
    standby_provider: Literal["ovh", "aws"]
    """Where the standby runs: OVH Public Cloud or AWS Lightsail."""
    standby_region: str
    """The standby's region, in another city than the primary."""
    standby_size: str
    """OVH flavour or Lightsail bundle of the standby."""
    admin_cidrs: list[str]
    """Networks allowed to reach SSH on the hosts."""
    active_side: Literal["primary", "standby"]
    """Which node the site's name points at."""
    domain: NotRequired[str]
    """The site's name, such as shop-example.fr; no DNS records without it."""
    dns_zone: NotRequired[str]
    """The OVH zone that holds domain."""
    site_paths: NotRequired[list[str]]
    """What the backup agent saves besides the database dump (default /var/www)."""
    database: NotRequired[Literal["none", "sqlite", "mysql", "postgresql"]]
    """The site's database, dumped before each backup."""
    database_name: NotRequired[str]
    """Database name for MySQL/MariaDB or PostgreSQL."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """Private key to deliver credentials with (secret); without it the deployer's ssh-agent
    (SSH_AUTH_SOCK, read by pulumi-command itself) is used."""
    switch_token: NotRequired[str]
    """Set by each failover or failback: the node taking over restores the newest snapshot first."""
    site_profile: NotRequired[str]
    """What the site is (static, php, wordpress, postgres-app, custom); "" when not said."""
    primary_host: NotRequired[str]
    """An existing server adopted as the primary (no instance is created); "" to create one on OVH."""
    primary_user: NotRequired[str]
    """The sudo user on the adopted primary."""
    primary_port: NotRequired[int]
    """The adopted primary's SSH port (22)."""
    profile: NotRequired[profiles.SiteProfile]
    """The resolved profile (a custom one carries its packages); from site_profile or the database when absent."""
    custom_cloud_config: NotRequired[str]
    """The custom profile's cloud-config snippet (YAML mapping), merged into both nodes' user data."""


def _web_delivery(profile: profiles.SiteProfile, domain: str, root: str) -> dict[str, tuple]:
    """The bundle's part for the web: the site's nginx file, the default site removed, the servers running."""
    units = [u for u in profile.web_services if u != "nginx"]
    after = [f"install -d -m 0755 {profiles.ACME_ROOT} {shlex.quote(root)}"]
    if units:
        after.append("systemctl enable --now " + " ".join(units))
    # A broken site file must stop the delivery, not take the running web server down.
    after += ["nginx -t -q", "systemctl enable nginx", "systemctl reload-or-restart nginx"]
    return {
        "extra": (BundleFile(profiles.SITE_FILE, "0644", profiles.nginx_site(profile, domain=domain, root=root)),),
        # Debian's default site would answer for every name the site's file does not claim.
        "remove": ("/etc/nginx/sites-enabled/default",),
        "after": tuple(after),
    }


def _env_file(values: dict[str, str]) -> str:
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


class RedundantSite(pulumi.ComponentResource):
    """One client's site with its copies outside the primary's blast radius."""

    primary: PrimarySite
    vault: BackupVault
    standby: Standby
    primary_host_key: pulumi.Output[str]
    """The primary's SSH host key, pinned at first contact."""
    standby_host_key: pulumi.Output[str] | None
    """The standby's SSH host key, when the standby exists."""
    active_ipv4: pulumi.Output[str]
    """Address the site's name points at."""

    def __init__(self, name: str, args: RedundantSiteArgs, opts: pulumi.ResourceOptions | None = None):
        tier = args["tier"]
        # What the site is and what it keeps its data in, registered so that the policy pack can
        # tell a database-backed site whose database nobody backs up.
        described = {
            "tier": tier.name,
            "siteProfile": args.get("site_profile", ""),
            "database": args.get("database", "none"),
        }
        super().__init__("redundo:index:RedundantSite", name, described, opts)
        if args["active_side"] not in ("primary", "standby"):
            raise ValueError(f"RedundantSite active_side {args['active_side']!r} is not primary or standby")
        child = pulumi.ResourceOptions(parent=self)
        domain, zone = args.get("domain", ""), args.get("dns_zone", "")
        site_sub = domain[: -len(zone)].rstrip(".") if domain else ""

        def host_sub(role: str) -> str:
            return f"{role}.{site_sub}" if site_sub else role

        self.vault = BackupVault(
            f"{name}-vault",
            {
                "backend": args["vault_backend"],
                "region": args["vault_region"],
                "retention_days": tier.retention_days,
                "object_lock_days": tier.object_lock_days,
                "name_prefix": f"redundo-{name}-"[:30],
                "service_name": args["service_name"],
            },
            child,
        )
        database = args.get("database", "none")
        profile = (
            args.get("profile") or profiles.PROFILES[args.get("site_profile") or profiles.default_profile(database)]
        )
        site_paths = tuple(args.get("site_paths") or ["/var/www"])
        root = profiles.web_root(site_paths, domain)
        agent = pulumi.Output.all(self.vault.endpoint, self.vault.bucket, self.vault.region).apply(
            lambda v: AgentSettings.for_tier(
                tier,
                vault_endpoint=v[0],
                vault_bucket=v[1],
                vault_region=v[2],
                backup_host=f"{name}-site",
                site_paths=site_paths,
                db_kind=database,
                db_name=args.get("database_name", ""),
                web_services=profile.web_services,
                site_domain=domain,
                web_root=root,
            )
        )
        admin = list(args["admin_cidrs"])
        # Both nodes run the same profile, so whichever is active serves the site.
        packages = tuple(dict.fromkeys((*agent_packages(database), *profile.packages)))
        web, firewall = _web_delivery(profile, domain, root), cloud_config.firewall_delivery(admin)
        # The firewall first: a ruleset nft refuses stops the delivery before the web server is touched.
        bundle = agent.apply(
            lambda a: agent_bundle(
                tier,
                a,
                packages=(*packages, *firewall["packages"]),
                extra=(*firewall["extra"], *web["extra"]),
                after=(*firewall["after"], *web["after"]),
                remove=web["remove"],
            )
        )
        snippet = yaml.safe_load(args["custom_cloud_config"]) if args.get("custom_cloud_config") else None

        def user_data(role: str) -> str:
            # Only the first boot: no tier, vault or agent version in it (see AgentInstall).
            return cloud_config.render(
                cloud_config.node_config(hostname=f"{name}-{role}", packages=packages, snippet=snippet)
            )

        primary_args: PrimarySiteArgs = {
            "service_name": args["service_name"],
            "region": args["primary_region"],
            "flavor": args["primary_flavor"],
            "ssh_public_key": args["ssh_public_key"],
            "user_data": user_data("primary"),
        }
        if zone:
            primary_args |= {"dns_zone": zone, "dns_subdomain": host_sub("primary")}
        adopted = bool(args.get("primary_host"))
        if adopted:
            primary_args["existing_host"] = args["primary_host"]
        primary_login: _Login = {"user": args.get("primary_user") or SSH_USERS["ovh"]}
        if adopted and args.get("primary_port", 22) != 22:
            primary_login["port"] = args["primary_port"]
        self.primary = PrimarySite(f"{name}-primary", primary_args, child)
        standby_args: StandbyArgs = {
            "mode": tier.standby_mode,
            "activated": args["active_side"] == "standby",
            "provider": args["standby_provider"],
            "region": args["standby_region"],
            "size": args["standby_size"],
            "ssh_public_key": args["ssh_public_key"],
            "admin_cidrs": admin,
            "user_data": (
                cloud_config.launch_script(hostname=f"{name}-standby")
                if args["standby_provider"] == "aws"
                else user_data("standby")
            ),
            "service_name": args["service_name"],
        }
        if zone:
            standby_args |= {"dns_zone": zone, "dns_subdomain": host_sub("standby")}
        self.standby = Standby(f"{name}-standby", standby_args, child)

        ssh: _Key = {"private_key": args["ssh_private_key"]} if args.get("ssh_private_key") else {}
        delivery: _Delivery = {
            "bundle": bundle.apply(lambda b: b.script()),
            "bundle_digest": bundle.apply(lambda b: b.digest),
        }
        primary_delivery = delivery
        if adopted:
            # The client's own server already serves the site its way: it gets the agent only, never
            # redundo's web server file or packages.
            agent_only = agent.apply(lambda a: agent_bundle(tier, a, packages=agent_packages(database)))
            primary_delivery = {
                "bundle": agent_only.apply(lambda b: b.script()),
                "bundle_digest": agent_only.apply(lambda b: b.digest),
            }
        # An adopted server is known by its address and port; a created one by its instance id.
        primary_identity = self.primary.instance_id or f"{args['primary_host']}:{args.get('primary_port', 22)}"
        primary_agent = AgentInstall(
            f"{name}-primary-agent",
            {
                "host": self.primary.ipv4,
                "identity": primary_identity,
                **primary_login,
                **primary_delivery,
                "hold": args["active_side"] == "standby",
                **ssh,
            },
            child,
        )
        self.primary_host_key = primary_agent.host_key
        self.standby_host_key = None
        # The standby's address and its agent, when an instance exists (Standby sets its address and
        # id together); None on a cold tier before failover.
        standby_node: tuple[pulumi.Output[str], AgentInstall] | None = None
        if self.standby.ipv4 is not None and self.standby.instance_id is not None:
            standby_agent = AgentInstall(
                f"{name}-standby-agent",
                {
                    "host": self.standby.ipv4,
                    "identity": self.standby.instance_id,
                    "user": SSH_USERS[args["standby_provider"]],
                    **delivery,
                    **ssh,
                },
                child,
            )
            self.standby_host_key = standby_agent.host_key
            standby_node = (self.standby.ipv4, standby_agent)
        vault = self.vault
        writer_env = self._env(vault.writer_access_key_id, vault.writer_secret_access_key)
        reader_env = self._env(vault.reader_access_key_id, vault.reader_secret_access_key)
        token = args.get("switch_token", "")
        follow = [FOLLOW_TIMER] if tier.standby_mode == "warm" else []
        serving_standby = standby_node if args["active_side"] == "standby" else None
        on_standby = serving_standby is not None
        if serving_standby is not None:
            standby_ipv4, standby_agent = serving_standby
            # The primary is not touched: it may have burned, and nothing may wait on it.
            active_role = HostRole(
                f"{name}-standby-role",
                {
                    "host": standby_ipv4,
                    "user": SSH_USERS[args["standby_provider"]],
                    "env_file": writer_env,
                    # Serving now: its watchdog must not watch (and fail on) the node it replaced, and it
                    # re-arms afresh after failback.
                    "timers_on": list(BACKUP_TIMERS),
                    "timers_off": [FOLLOW_TIMER, WATCHDOG_TIMER],
                    "take_over": True,
                    "take_over_token": token,
                    "clear_on_switch": list(WATCHDOG_STATE),
                    "host_key": standby_agent.host_key,
                    "after": [standby_agent],
                    **ssh,
                },
                child,
            )
            self.active_ipv4 = standby_ipv4
        else:
            active_role = HostRole(
                f"{name}-primary-role",
                {
                    "host": self.primary.ipv4,
                    **primary_login,
                    "env_file": writer_env,
                    "timers_on": list(BACKUP_TIMERS),
                    "timers_off": [FOLLOW_TIMER],
                    "take_over": bool(token),
                    "take_over_token": token,
                    "init_env": pulumi.Output.secret(
                        pulumi.Output.all(
                            vault.init_access_key_id,
                            vault.init_secret_access_key,
                            vault.repository_password,
                            vault.repository,
                        ).apply(
                            lambda v: _env_file(
                                {
                                    "AWS_ACCESS_KEY_ID": v[0],
                                    "AWS_SECRET_ACCESS_KEY": v[1],
                                    "RESTIC_PASSWORD": v[2],
                                    "RESTIC_REPOSITORY": v[3],
                                }
                            )
                        )
                    ),
                    "host_key": self.primary_host_key,
                    "after": [primary_agent],
                    **ssh,
                },
                child,
            )
            self.active_ipv4 = self.primary.ipv4
        failover = None
        if zone:
            failover = Failover(
                f"{name}-failover",
                {
                    "dns_zone": zone,
                    "subdomain": site_sub,
                    # Visitors move only once the new active node has restored and verified the site.
                    "target_ipv4": pulumi.Output.all(self.active_ipv4, active_role.done).apply(lambda v: v[0]),
                    "ttl": tier.dns_ttl_seconds,
                    "watchdog": tier.automatic_failover and not on_standby and standby_node is not None,
                },
                child,
            )
        if not on_standby and standby_node is not None:
            standby_ipv4, standby_agent = standby_node
            timers_on, env = list(follow), reader_env
            if tier.automatic_failover and failover is not None:
                timers_on.append(WATCHDOG_TIMER)
                env = self._watchdog_env(zone, domain, failover, reader_env)
            HostRole(
                f"{name}-standby-role",
                {
                    "host": standby_ipv4,
                    "user": SSH_USERS[args["standby_provider"]],
                    "env_file": env,
                    "timers_on": timers_on,
                    "timers_off": [t for t in (*BACKUP_TIMERS, FOLLOW_TIMER, WATCHDOG_TIMER) if t not in timers_on],
                    "take_over_token": token,
                    "clear_on_switch": list(WATCHDOG_STATE),
                    "host_key": standby_agent.host_key,
                    # After a failback the standby keeps serving, backing up, until the site's name has
                    # moved to the rebuilt primary: a rebuild that fails half-way leaves it as it was.
                    "after": [standby_agent, *([failover] if failover is not None else [])],
                    **ssh,
                },
                child,
            )
        self.register_outputs(
            {
                **described,
                "active_ipv4": self.active_ipv4,
                "primary_host_key": self.primary_host_key,
                "standby_host_key": self.standby_host_key,
            }
        )

    def _watchdog_env(
        self, zone: str, domain: str, failover: Failover, reader_env: pulumi.Output[str]
    ) -> pulumi.Output[str]:
        """The warm standby's env with what its watchdog needs to take over on its own."""
        return pulumi.Output.secret(
            pulumi.Output.all(
                reader_env,
                failover.watchdog_client_id,
                failover.watchdog_client_secret,
                failover.record_id,
                self.primary.ipv4,
                self.standby.ipv4,
            ).apply(
                lambda v: (
                    v[0]
                    + _env_file(
                        {
                            "OVH_CLIENT_ID": v[1],
                            "OVH_CLIENT_SECRET": v[2],
                            "DNS_ZONE": zone,
                            "DNS_RECORD_ID": str(v[3]),
                            "WATCH_URL": f"http://{v[4]}/",
                            "WATCH_HOST": domain,
                            "SELF_IP": v[5],
                        }
                    )
                )
            )
        )

    def _env(self, key_id: pulumi.Output[str], secret: pulumi.Output[str]) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.all(key_id, secret, self.vault.repository_password).apply(
                lambda v: _env_file({"AWS_ACCESS_KEY_ID": v[0], "AWS_SECRET_ACCESS_KEY": v[1], "RESTIC_PASSWORD": v[2]})
            )
        )
