"""cloud-init user data, built as data and dumped as YAML: never a YAML template filled with strings.

User data is readable from the instance's metadata service by any local process, so nothing in
here is secret: credentials reach the hosts another way (see docs/credentials.md).
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml

__all__ = ["firewall_rules", "host_config", "render", "node_config", "merge_snippet"]

HEADER = "#cloud-config\n"
WEB_PORTS = (80, 443)


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
    return "\n".join([
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
    ])


def host_config(*, hostname: str, admin_cidrs: Iterable[str], packages: Iterable[str] = (),
                write_files: Iterable[dict[str, Any]] = (), runcmd: Iterable[Any] = ()) -> dict[str, Any]:
    """The cloud-config every redundo host starts from: updates, a firewall, key-only SSH."""
    return {
        "hostname": hostname,
        "package_update": True,
        "package_upgrade": True,
        "packages": ["nftables", *packages],
        "ssh_pwauth": False,
        "disable_root": True,
        "write_files": [
            {"path": "/etc/nftables.conf", "permissions": "0644", "owner": "root:root",
             "content": firewall_rules(admin_cidrs)},
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


def node_config(*, hostname: str, admin_cidrs: Iterable[str], packages: Iterable[str],
                snippet: dict[str, Any] | None = None) -> dict[str, Any]:
    """Either node's first boot: updates, the firewall, and the packages the agent and the site need.

    Nothing here depends on redundo's version, the tier or the vault: the agent's scripts, settings
    and units arrive over SSH as a versioned bundle (AgentInstall), so none of those changes touches
    the user data, which the providers can only apply by replacing the instance.
    """
    config = host_config(hostname=hostname, admin_cidrs=admin_cidrs, packages=list(packages))
    return merge_snippet(config, snippet) if snippet else config
