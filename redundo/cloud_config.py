"""cloud-init user data, built as data and dumped as YAML: never a YAML template filled with strings.

User data is readable from the instance's metadata service by any local process, so nothing in
here is secret: credentials reach the hosts another way (see docs/credentials.md).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Callable, Iterable

import yaml

if TYPE_CHECKING:
    from redundo.agent import AgentSettings
    from redundo.tiers import Tier

__all__ = ["firewall_rules", "host_config", "render", "node_config"]

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
    return HEADER + yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


# Scalars at least this long are remembered: the agent's scripts and units.
_LONG = 256
_ANALYSES: dict[tuple[str, bool], Any] = {}
_WRITES: dict[tuple[Any, ...], tuple[str, int, bool, bool, int]] = {}


class _Dumper(yaml.SafeDumper):
    """PyYAML's SafeDumper, remembering how it wrote each long scalar.

    The agent's scripts and units are most of every host's user data, the same for every stack,
    and the pure-Python emitter scans them character by character: tens of milliseconds per host
    in a plan. A scalar's analysis depends on its text alone, and its quoted form on the text and
    where the emitter stands, so both are kept and replayed: the bytes are the plain SafeDumper's.
    (libyaml's CSafeDumper folds long quoted lines differently; changed user data would replace
    the hosts.)"""

    def analyze_scalar(self, scalar: str) -> Any:
        if len(scalar) < _LONG:
            return super().analyze_scalar(scalar)
        key = (scalar, bool(self.allow_unicode))
        if key not in _ANALYSES:
            _ANALYSES[key] = super().analyze_scalar(scalar)
        return _ANALYSES[key]

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        self._replay(super().write_double_quoted, text, split)

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        self._replay(super().write_single_quoted, text, split)

    def _replay(self, write: Callable[[str, bool], None], text: str, split: bool) -> None:
        if len(text) < _LONG or self.encoding:
            write(text, split)
            return
        key = (write.__name__, text, split, self.column, self.indent, self.whitespace, self.indention,
               self.best_width, self.allow_unicode, self.best_line_break)
        if key not in _WRITES:
            stream, line, self.stream = self.stream, self.line, io.StringIO()
            try:
                write(text, split)
                _WRITES[key] = (self.stream.getvalue(), self.column, self.whitespace, self.indention,
                                self.line - line)
            finally:
                self.stream, self.line = stream, line
        written, self.column, self.whitespace, self.indention, lines = _WRITES[key]
        self.line += lines
        self.open_ended = False
        self.stream.write(written)


_DB_CLIENT = {"mysql": ["mariadb-client"], "postgresql": ["postgresql-client"], "sqlite": [], "none": []}


def _agent_files(files: dict[str, str], mode: str) -> list[dict[str, Any]]:
    return [{"path": path, "permissions": mode, "owner": "root:root", "content": text}
            for path, text in files.items()]


def node_config(*, hostname: str, admin_cidrs: Iterable[str], tier: "Tier", agent: "AgentSettings") -> dict[str, Any]:
    """Either node: firewall, restic, both scripts, one settings file and every unit, none started.

    Which timers run is the node's role (active: back up; warm standby: follow), switched over SSH
    by the stack (HostRole) so that a failover moves it without rebuilding either host.
    """
    from redundo import agent as agent_mod

    units = agent_mod.all_units(tier)
    return host_config(
        hostname=hostname,
        admin_cidrs=admin_cidrs,
        packages=["restic", "sqlite3", "curl", "rsync", "python3", *_DB_CLIENT[agent.db_kind]],
        write_files=[
            *_agent_files({f"{agent_mod.BIN_DIR}/{name}": agent_mod.script(name) for name in agent_mod.SCRIPTS},
                          "0755"),
            *_agent_files({agent_mod.SETTINGS_FILE: agent_mod.settings_file(agent)}, "0644"),
            *_agent_files({f"/etc/systemd/system/{n}": text for n, text in units.items()}, "0644"),
        ],
        runcmd=[["systemctl", "daemon-reload"]],
    )
