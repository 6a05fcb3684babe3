"""cloud-init user data, built as data and dumped as YAML: never a YAML template filled with strings.

User data is readable from the instance's metadata service by any local process, so nothing in
here is secret: credentials reach the hosts another way (see docs/credentials.md).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

import yaml

from redundo.agent.bundle import BundleFile

__all__ = [
    "FIREWALL_FILE",
    "firewall_delivery",
    "firewall_rules",
    "host_config",
    "launch_script",
    "merge_snippet",
    "node_config",
    "render",
]

HEADER = "#cloud-config\n"
WEB_PORTS = (80, 443)
FIREWALL_FILE = "/etc/nftables.conf"
# The first boot's firewall, the same for every stack: web and key-only SSH. The site's admin
# networks (adminCidrs) arrive with the agent bundle, which rolls over SSH, whereas user data is
# held on OVH and replaces the instance on Lightsail.
FIRST_BOOT_SSH = ("0.0.0.0/0", "::/0")


def firewall_rules(admin_cidrs: Iterable[str]) -> str:
    """An nftables ruleset that lets in the web, SSH from the admin networks only, and nothing else.

    OVH Public Cloud instances have no security groups in the OVH provider, so the host enforces
    its own posture from the first boot.
    """
    v4 = [c for c in admin_cidrs if ":" not in c]
    v6 = [c for c in admin_cidrs if ":" in c]
    ssh = []
    if v4:
        ssh.append(f"    ip saddr {{ {', '.join(v4)} }} tcp dport 22 accept")
    if v6:
        ssh.append(f"    ip6 saddr {{ {', '.join(v6)} }} tcp dport 22 accept")
    ports = ", ".join(str(p) for p in WEB_PORTS)
    return "\n".join(
        [
            "#!/usr/sbin/nft -f",
            "flush ruleset",
            "table inet filter {",
            "  chain input {",
            "    type filter hook input priority 0; policy drop;",
            "    ct state established,related accept",
            "    iif lo accept",
            "    meta l4proto { icmp, ipv6-icmp } accept",
            *ssh,
            f"    tcp dport {{ {ports} }} accept",
            "  }",
            "  chain forward {",
            "    type filter hook forward priority 0; policy drop;",
            "  }",
            "}",
            "",
        ]
    )


def firewall_delivery(admin_cidrs: Iterable[str]) -> dict[str, tuple]:
    """The bundle's part for the firewall: the admin networks' ruleset, checked, then loaded and kept at boot.

    `nft -c` parses and validates the whole file first, so a ruleset it refuses is never loaded and
    the running one stays (the bundle stops there under `set -e`)."""
    return {
        "extra": (BundleFile(FIREWALL_FILE, "0644", firewall_rules(admin_cidrs)),),
        "after": (f"nft -c -f {FIREWALL_FILE}", f"nft -f {FIREWALL_FILE}", "systemctl enable nftables"),
        "packages": ("nftables",),
    }


def host_config(
    *,
    hostname: str,
    admin_cidrs: Iterable[str] = FIRST_BOOT_SSH,
    packages: Iterable[str] = (),
    write_files: Iterable[dict[str, Any]] = (),
    runcmd: Iterable[Any] = (),
) -> dict[str, Any]:
    """The cloud-config every redundo host starts from: updates, a firewall, key-only SSH."""
    return {
        "hostname": hostname,
        "package_update": True,
        "package_upgrade": True,
        "packages": ["nftables", *packages],
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": [
            {
                "path": FIREWALL_FILE,
                "permissions": "0644",
                "owner": "root:root",
                "content": firewall_rules(admin_cidrs),
            },
            *write_files,
        ],
        "runcmd": [["systemctl", "enable", "--now", "nftables"], *runcmd],
    }


def render(config: dict[str, Any]) -> str:
    """The user-data text: the #cloud-config header, then the document as YAML."""
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)


def merge_snippet(config: dict[str, Any], snippet: dict[str, Any]) -> dict[str, Any]:
    """The custom profile's cloud-config merged in: its lists appended to ours, its other keys added."""
    merged = dict(config)
    for key, value in snippet.items():
        if isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def node_config(*, hostname: str, packages: Iterable[str], snippet: dict[str, Any] | None = None) -> dict[str, Any]:
    """Either node's first boot: updates, the firewall, and the packages the agent and the site need.

    Nothing here depends on redundo's version, the tier, the vault or the admin networks: the agent's
    scripts, settings, units and the admin-only firewall (firewall_delivery) arrive over SSH as a
    versioned bundle (AgentInstall), so none of those changes touches the user data, which the
    providers can only apply by replacing the instance.
    """
    config = host_config(hostname=hostname, packages=list(packages))
    return merge_snippet(config, snippet) if snippet else config


def launch_script(*, hostname: str) -> str:
    """Lightsail's user data: one line of shell, not cloud-config.

    Lightsail runs user data as part of its own launch shell script ("Single lined launch script",
    aws_lightsail_instance `user_data`), so a #cloud-config document would never take effect there.
    This line does what the cloud-config does before the first SSH contact; the packages and the
    firewall come with the agent bundle (apt-get update, install of what is missing, nft -c then
    nft -f), the same on every provider. A custom profile's cloud-config snippet does not apply here.
    """
    return (
        f"hostnamectl set-hostname {shlex.quote(hostname)}; export DEBIAN_FRONTEND=noninteractive; "
        "apt-get -q update && apt-get -y -q -o Dpkg::Options::=--force-confold upgrade"
    )
